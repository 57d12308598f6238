// The VM request form: says before submission that the chosen flavor would not fit the
// environment's quota, and marks the flavors that would not. The server checks again.
(function () {
  "use strict";
  function init() {
    var data = document.getElementById("quota-fit");
    var note = document.getElementById("quota-fit-note");
    var env = document.getElementById("id_environment");
    var flavor = document.getElementById("id_flavor");
    if (!data || !note || !env || !flavor) { return; }
    var fit = JSON.parse(data.textContent);
    function problem(envId, flavorId) {
      var e = fit.environments[envId], f = fit.flavors[flavorId];
      if (!e || !f) { return null; }
      for (var r in f) {
        if (f[r] > 0 && f[r] > e.left[r]) {
          return { env: e.name, resource: fit.labels[r] || r, asked: f[r], left: e.left[r], limit: e.limit[r] };
        }
      }
      return null;
    }
    function update() {
      for (var i = 0; i < flavor.options.length; i++) {
        var opt = flavor.options[i];
        if (!opt.value) { continue; }
        if (!opt.dataset.label) { opt.dataset.label = opt.textContent; }
        var p = problem(env.value, opt.value);
        opt.textContent = opt.dataset.label + (p ? " — " + note.dataset.over : "");
        opt.classList.toggle("over-quota", !!p);
      }
      var p = problem(env.value, flavor.value);
      if (p) {
        note.textContent = note.dataset.template
          .replace("%(env)s", p.env).replace("%(resource)s", p.resource)
          .replace("%(asked)s", p.asked).replace("%(left)s", p.left).replace("%(limit)s", p.limit);
        note.hidden = false;
      } else {
        note.hidden = true;
      }
    }
    env.addEventListener("change", update);
    flavor.addEventListener("change", update);
    update();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
