// The page: an xterm.js terminal as the machine's serial console, and the Web Worker the
// kernel runs in. Bytes go both ways as messages; the worker is restarted on `reboot`.
//
// Hooks for a test driver (set before the page loads, e.g. by Playwright's exposeFunction):
// `window.zbTap(latin1)` receives every byte the console prints, `window.zbPower(action)`
// hears the machine stop (0 failure, 1 shutdown, 2 reboot); `zb.stats()` (below).
import { Terminal } from "./node_modules/@xterm/xterm/lib/xterm.mjs";

const term = new Terminal({
  cols: 100,
  rows: 32,
  scrollback: 5000,
  cursorBlink: true,
  fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
  theme: { background: "#101418" },
});
term.open(document.getElementById("terminal"));
term.focus();
// For tests and benchmarks: `zb.stats()` resolves to the worker's counters (turns run, ms
// spent in the kernel, timer wake-ups, since when).
let statsWaiters = [];
window.zb = {
  term,
  stats: () => new Promise((resolve) => {
    statsWaiters.push(resolve);
    if (worker) worker.postMessage({ stats: true });
  }),
};

const state = document.getElementById("state");
const encoder = new TextEncoder();
let worker = null;

function latin1(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  }
  return s;
}

function start() {
  state.textContent = "booting…";
  // The page's query goes to the worker: `?storage=ram` boots without OPFS.
  worker = new Worker("worker.js" + location.search);
  worker.onmessage = ({ data }) => {
    if (data.out) {
      // Acknowledged once xterm has taken it in: the worker sends more as the page keeps up.
      const shown = data.out.length;
      const from = worker;
      term.write(data.out, () => from.postMessage({ shown }));
      if (window.zbTap) window.zbTap(latin1(data.out));
    } else if (data.stats) {
      for (const resolve of statsWaiters) resolve(data.stats);
      statsWaiters = [];
    } else if (data.state) {
      state.textContent = data.state;
    } else if ("power" in data) {
      if (window.zbPower) window.zbPower(data.power);
      if (data.power === 2) {
        worker.terminate();
        start();
      } else {
        state.textContent = data.power === 1 ? "halted (shutdown)" : "halted (failure)";
        term.write("\r\n[the machine has stopped; reload the page to boot it again]\r\n");
        worker = null;
      }
    }
  };
  worker.onerror = (e) => {
    state.textContent = "worker failed";
    term.write(`\r\n[the kernel's worker failed: ${e.message}]\r\n`);
  };
}

term.onData((text) => {
  if (worker) worker.postMessage({ input: encoder.encode(text) });
});
start();
