// Progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Confirm destructive buttons that ask for it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // A form that failed comes back with its error summary focused, so it is read out first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) { summary.focus(); }

  // Filter a long checklist by typing into the box linked to it; ticked boxes stay visible.
  // Enter filters rather than submitting the form, and how many are shown is announced.
  document.querySelectorAll("[data-filter-for]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("data-filter-for"));
    if (!list) { return; }
    input.hidden = false;
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", status);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      var shown = 0;
      list.querySelectorAll("label").forEach(function (label) {
        var box = label.querySelector("input");
        var match = !needle || (box && box.checked) ||
          label.textContent.toLowerCase().indexOf(needle) !== -1;
        label.hidden = !match;
        if (match) { shown += 1; }
      });
      status.textContent = shown === 1 ? "1 person shown" : shown + " people shown";
    });
  });
})();
