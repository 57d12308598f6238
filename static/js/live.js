/* Live regions: an element with data-live-url is re-rendered from that server partial
   every data-live-interval milliseconds, while the tab is visible. No page reload. */
(function () {
  "use strict";

  // Every render carries a freshly masked CSRF token; ignore it when deciding whether
  // anything changed, or the region would be rebuilt (and lose focus) on every tick.
  // Both sides go through the browser's own serialiser so that markup written differently
  // but meaning the same compares equal.
  var TOKEN = /name="csrfmiddlewaretoken" value="[^"]*"/g;
  function meaning(html) {
    var scratch = document.createElement("div");
    scratch.innerHTML = html;
    return scratch.innerHTML.trim().replace(TOKEN, "");
  }

  function sayStopped() {
    var text = document.body.getAttribute("data-live-stopped-text");
    var list = document.querySelector(".messages");
    if (!text) { return; }
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      document.querySelector("main").prepend(list);
    }
    var item = document.createElement("li");
    item.className = "msg error";
    item.textContent = text;
    list.appendChild(item);
  }

  // Someone typing inside the region (a rejection reason) must not lose what they typed.
  function typingIn(el) {
    var a = document.activeElement;
    return !!a && el.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA") && a.value !== "";
  }

  // Flash messages describe the action that led to this page; once the region shows a
  // newer state they are history, so they fade out rather than contradict it.
  function retireMessages() {
    document.querySelectorAll(".messages .msg:not(.error)").forEach(function (m) {
      m.classList.add("retired");
      setTimeout(function () { m.remove(); }, 400);
    });
  }

  function watch(el) {
    var url = el.getAttribute("data-live-url");
    var every = parseInt(el.getAttribute("data-live-interval") || "2000", 10);
    var last = meaning(el.innerHTML);
    var busy = false;
    var timer = null;
    function tick() {
      if (busy || document.hidden || typingIn(el)) { return; }
      busy = true;
      fetch(url, { headers: { "X-Requested-With": "live" }, credentials: "same-origin" })
        .then(function (r) {
          // A redirect means the session ended (the login page answered): stop, and say so.
          if (r.redirected) {
            clearInterval(timer);
            el.setAttribute("data-live-stopped", "session");
            sayStopped();
            return null;
          }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          var now = meaning(html);
          if (now !== last) {
            el.innerHTML = html;
            last = now;
            retireMessages();
          }
        })
        .catch(function () { /* the next tick retries */ })
        .finally(function () { busy = false; });
    }
    timer = setInterval(tick, every);
  }

  // A button with data-copy="#id" copies that element's text (an ssh command); where the
  // clipboard is not available, the text is selected for the user to copy.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) { return; }
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = button.getAttribute("data-copied") || button.textContent;
      }, select);
    } else {
      select();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(watch);
  });
})();
