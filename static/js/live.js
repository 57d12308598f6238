/* Live regions: an element with data-live-url is re-rendered from that server partial
   every data-live-interval milliseconds, while the tab is visible. No page reload. */
(function () {
  "use strict";
  function watch(el) {
    var url = el.getAttribute("data-live-url");
    var every = parseInt(el.getAttribute("data-live-interval") || "2000", 10);
    var busy = false;
    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { headers: { "X-Requested-With": "live" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== el.dataset.lastHtml) {
            el.innerHTML = html;
            el.dataset.lastHtml = html;
          }
        })
        .catch(function () { /* the next tick retries */ })
        .finally(function () { busy = false; });
    }
    setInterval(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(watch);
  });
})();
