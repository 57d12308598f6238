/* The collapsible top menu: under 900 px (static/css/nuage.css) the links fold behind a "Menu"
   button. Without this script the button stays hidden and the menu stays open, so every page
   remains reachable. Escape closes the menu and gives the focus back to the button. */
(function () {
  "use strict";
  var header = document.querySelector("[data-nav]");
  var button = header && header.querySelector(".menu-toggle");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) { return; }
  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("menu-open", open);
  }
  header.classList.add("collapsible");
  button.hidden = false;
  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  header.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
})();
