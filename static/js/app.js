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

  // Filter a long checklist by typing into the box linked to it; ticked boxes stay visible.
  document.querySelectorAll("[data-filter-for]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("data-filter-for"));
    if (!list) { return; }
    input.hidden = false;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      list.querySelectorAll("label").forEach(function (label) {
        var box = label.querySelector("input");
        var match = !needle || (box && box.checked) ||
          label.textContent.toLowerCase().indexOf(needle) !== -1;
        label.hidden = !match;
      });
    });
  });
})();
