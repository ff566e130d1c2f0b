// Progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Confirm destructive buttons that ask for it. A form that writes is sent once: a
  // second click or Enter while the first is on its way is ignored (a double-click on
  // "Log interaction" logged it twice). Back on the page (the back button), it can be
  // sent again.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method !== "post") { return; }  // a search may be sent again at once
    if (form.hasAttribute("data-sending")) {
      event.preventDefault();
      return;
    }
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      return;
    }
    if (!event.defaultPrevented) { form.setAttribute("data-sending", ""); }
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sending]").forEach(function (form) {
      form.removeAttribute("data-sending");
    });
  });

  // A form that failed comes back with its error summary focused, so it is read out first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) { summary.focus(); }

  // People pickers (crm/contacts/picker.py): typing asks the server for the people the
  // term finds and lists them under those already ticked, which stay. Enter searches at
  // once rather than submitting the form; what was found is announced (in the server's
  // words, crm.contacts.picker.status_text). Without this
  // script, the picker's "Find" button sends the form back to search.
  document.querySelectorAll("[data-picker]").forEach(function (picker) {
    var input = picker.querySelector("[data-picker-term]");
    var list = picker.querySelector("[data-picker-list]");
    var status = picker.querySelector("[data-picker-status]");
    var shown = picker.querySelector("[data-picker-shown]");
    var find = picker.querySelector("[data-picker-find]");
    if (!input || !list || !status) { return; }
    var name = picker.getAttribute("data-picker-name");
    var kind = picker.getAttribute("data-picker-kind");
    var exclude = picker.getAttribute("data-picker-exclude");
    var asked = 0;
    var timer = null;
    if (find) { find.hidden = true; }

    function show(data, term) {
      var present = {};
      list.querySelectorAll("label").forEach(function (label) {
        var box = label.querySelector("input");
        if (box && (box.checked || box.value === "" || label.hasAttribute("data-keep"))) {
          // Ticked, the "nobody" choice, or the record's own (an archived participant,
          // whom no search finds): they stay.
          present[box.value] = true;
        } else {
          label.remove();
        }
      });
      data.choices.forEach(function (choice) {
        var value = String(choice.id);
        if (present[value]) { return; }
        var label = document.createElement("label");
        var box = document.createElement("input");
        box.type = kind;
        box.name = name;
        box.value = value;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + choice.label));
        list.appendChild(label);
      });
      status.textContent = data.status;  // worded by the server, as on the page
      // The list is this term's now: Enter in another field saves rather than finds.
      if (shown) { shown.value = term; }
    }

    function search() {
      clearTimeout(timer);
      var term = input.value.trim();
      var url = picker.getAttribute("data-picker") + "?q=" + encodeURIComponent(term) +
        (exclude ? "&exclude=" + encodeURIComponent(exclude) : "");
      var mine = ++asked;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(response.status); }
          return response.json();
        })
        .then(function (data) { if (mine === asked) { show(data, term); } })
        .catch(function () {
          if (mine !== asked) { return; }
          status.textContent = "Could not search just now. Use Find to try again.";
          if (find) { find.hidden = false; }
        });
    }

    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); search(); }
    });
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
  });
})();
