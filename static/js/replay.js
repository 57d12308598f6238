/* After a form was sent with an ended session and the user logged in again, the page it was on
   gets its fields back (portal/session_replay.py puts them in <script id="nuage-replay"
   type="application/json">): the form posting to the same address is filled in, marked and
   brought into view. Nothing is submitted: the user checks and sends it again. */
(function () {
  "use strict";
  function fill(form, fields) {
    Object.keys(fields).forEach(function (name) {
      var values = fields[name];
      var found = form.elements.namedItem(name);
      if (!found) { return; }
      var elements = (found instanceof RadioNodeList) ? Array.prototype.slice.call(found) : [found];
      elements.forEach(function (el) {
        if (el.type === "hidden" || el.type === "file" || el.type === "submit") { return; }
        if (el.type === "checkbox" || el.type === "radio") {
          el.checked = values.indexOf(el.value) !== -1;
        } else if (el instanceof HTMLSelectElement && el.multiple) {
          Array.prototype.forEach.call(el.options, function (o) {
            o.selected = values.indexOf(o.value) !== -1;
          });
        } else if (values.length) {
          el.value = values[0];
        }
      });
    });
  }
  function run() {
    var data = document.getElementById("nuage-replay");
    if (!data) { return; }
    var stash;
    try { stash = JSON.parse(data.textContent); } catch (e) { return; }
    var target = null;
    Array.prototype.forEach.call(document.forms, function (form) {
      if (target) { return; }
      var path = new URL(form.action, document.baseURI).pathname;
      if (path === stash.action && form.method.toLowerCase() === "post") { target = form; }
    });
    if (!target) { return; }
    fill(target, stash.fields || {});
    target.classList.add("replayed");
    target.setAttribute("data-replayed", "");
    target.scrollIntoView({block: "center"});
    var button = target.querySelector("button[type=submit], button:not([type]), input[type=submit]");
    if (button) { button.focus(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
