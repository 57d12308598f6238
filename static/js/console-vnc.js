/* The graphical console: noVNC on a websocket to the VM's display (the proxy authenticates). */
const screen = document.getElementById("console");
const status = document.getElementById("console-status");

function say(state, text) {
  status.setAttribute("data-state", state);
  status.textContent = text;
}

// X keysyms: Latin-1 characters are their own code; others are 0x01000000 + code point.
function keysym(ch) {
  if (ch === "\n") { return 0xff0d; } // Return
  if (ch === "\t") { return 0xff09; } // Tab
  const code = ch.codePointAt(0);
  return code < 0x100 ? code : 0x01000000 + code;
}

async function start() {
  const { default: RFB } = await import(screen.dataset.rfb);
  const base = screen.dataset.wsBase ||
    (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  const rfb = new RFB(screen, base + screen.dataset.wsPath, { shared: true });
  rfb.scaleViewport = true;
  rfb.background = "#000";
  let connected = false;
  rfb.addEventListener("connect", () => {
    connected = true;
    say("connected", status.dataset.textConnected);
    rfb.focus();
  });
  rfb.addEventListener("disconnect", () => {
    say(connected ? "closed" : "refused",
        connected ? status.dataset.textClosed + "." : status.dataset.textRefused);
  });
  // Pasting types the text as key presses: a display has no shared clipboard by default.
  document.getElementById("console-paste").addEventListener("submit", (event) => {
    event.preventDefault();
    const box = document.getElementById("console-paste-text");
    for (const ch of box.value.replace(/\r\n/g, "\n")) {
      const sym = keysym(ch);
      rfb.sendKey(sym, null, true);
      rfb.sendKey(sym, null, false);
    }
    box.value = "";
    rfb.focus();
  });
  window.nuageConsole = { rfb };
}

start();
