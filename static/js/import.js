// Import: show that a large import is running while the server works (a few seconds).
(function () {
  "use strict";
  document.querySelectorAll("form.import-run").forEach(function (form) {
    form.addEventListener("submit", function () {
      var progress = form.querySelector(".import-progress");
      var button = form.querySelector("button[type=submit]");
      if (progress) { progress.hidden = false; }
      if (button) {
        button.disabled = true;
        button.textContent = form.getAttribute("data-importing") || "Importing…";
      }
    });
  });
})();
