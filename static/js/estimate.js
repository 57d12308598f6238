/* The request form's cost estimate follows the chosen flavor; the figures are the server's
   (rendered per flavor in #flavor-estimates), this only shows the right one. */
(function () {
  "use strict";
  function ready() {
    var data = document.getElementById("flavor-estimates");
    var box = document.getElementById("cost-estimate");
    var select = document.getElementById("id_flavor");
    if (!data || !box || !select) { return; }
    var estimates = JSON.parse(data.textContent);
    function show() {
      var e = estimates[select.value];
      box.querySelector('[data-when="chosen"]').hidden = !e;
      box.querySelector('[data-when="none"]').hidden = !!e;
      if (e) {
        box.querySelector('[data-cost="hour"]').textContent = e.hour;
        box.querySelector('[data-cost="month"]').textContent = e.month;
      }
    }
    select.addEventListener("change", show);
    show();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
