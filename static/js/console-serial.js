/* The serial console: xterm.js on a websocket to the VM's serial port (bytes both ways). */
(function () {
  "use strict";
  var screen = document.getElementById("console");
  var status = document.getElementById("console-status");
  if (!screen || !window.Terminal) { return; }

  function say(state, text) {
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  var term = new window.Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
  var fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  window.addEventListener("resize", function () { fit.fit(); });

  var base = screen.getAttribute("data-ws-base") ||
    (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  var ws = new WebSocket(base + screen.getAttribute("data-ws-path"));
  ws.binaryType = "arraybuffer";
  var opened = false;
  var encoder = new TextEncoder();

  function send(text) {
    if (ws.readyState === WebSocket.OPEN && text) { ws.send(encoder.encode(text)); }
  }

  ws.onopen = function () {
    opened = true;
    say("connected", status.getAttribute("data-text-connected"));
    term.focus();
  };
  ws.onmessage = function (event) { term.write(new Uint8Array(event.data)); };
  ws.onclose = function (event) {
    if (!opened) {
      say("refused", status.getAttribute("data-text-refused"));
    } else {
      say("closed", status.getAttribute("data-text-closed") + (event.reason ? ": " + event.reason : "."));
    }
    term.options.disableStdin = true;
  };
  // Typing and pasting (Ctrl+Shift+V, the context menu) both arrive here.
  term.onData(send);

  // Pasting from the form (phones have no terminal paste shortcut): lines end with CR.
  var form = document.getElementById("console-paste");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("console-paste-text");
    send(box.value.replace(/\r?\n/g, "\r"));
    box.value = "";
    term.focus();
  });
  window.nuageConsole = { term: term, socket: ws };
})();
