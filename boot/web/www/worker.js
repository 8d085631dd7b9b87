// The kernel's Web Worker: instantiates kernel.wasm, provides its devices (the wasm import
// module `hal`, see hal/web/src/glue.rs) and drives it from this worker's event loop.
//
// The kernel never blocks here. `zb_turn(budget)` runs it for up to `budget` ms and says
// when to call again: 0 = more to do (yield to the event loop first, so typed input gets
// in), > 0 = ms until its next deadline (a timer), -1 = nothing until input arrives.
// An idle kernel therefore costs no CPU at all.

const TURN_BUDGET_MS = 20;
// Console bytes posted to the page but not yet acknowledged as shown: the kernel holds output
// back beyond this (hal/web/src/terminal.rs), so a flood cannot swamp the page.
const CONSOLE_WINDOW = 64 * 1024;
// /data and the journal (file index 0 and 1 of the glue's store_* imports).
const STORE_FILES = ["data.img", "journal.img"];

const handles = [null, null];
let storeProblem = "";
let kernel = null;
let memory = null;
let halted = false;
// Typed bytes the kernel has not taken yet (its input ring is small, as a UART's is; the
// page's input waits here instead of being dropped), up to INPUT_LIMIT.
let input = new Uint8Array(0);
const INPUT_LIMIT = 1 << 20;
let pending = [];
let pendingBytes = 0;
let unacked = 0;
let timer = null;
const stats = { turns: 0, busyMs: 0, wakeups: 0, since: performance.now() };

const bytes = (ptr, len) => new Uint8Array(memory.buffer, ptr, len);

function flushOutput() {
  if (pending.length === 0) return;
  let total = 0;
  for (const p of pending) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of pending) { out.set(p, at); at += p.length; }
  pending = [];
  pendingBytes = 0;
  unacked += total;
  postMessage({ out }, [out.buffer]);
}

function putString(text, ptr, cap) {
  const b = new TextEncoder().encode(text).subarray(0, cap);
  bytes(ptr, b.length).set(b);
  return b.length;
}

const hal = {
  console_write(ptr, len) { pending.push(bytes(ptr, len).slice()); pendingBytes += len; },
  console_room() { return Math.max(0, CONSOLE_WINDOW - unacked - pendingBytes); },
  now_ms() { return performance.now(); },
  wall_ms() { return Date.now(); },
  store_size(file) {
    const h = handles[file];
    return h ? h.getSize() : -1;
  },
  store_read(file, offset, ptr, len) {
    try {
      const buf = bytes(ptr, len);
      const n = handles[file].read(buf, { at: offset });
      buf.fill(0, n); // past the file's end: a blank device reads as zeros
      return 0;
    } catch (e) { return -1; }
  },
  store_write(file, offset, ptr, len) {
    try {
      const n = handles[file].write(bytes(ptr, len), { at: offset });
      return n === len ? 0 : -1;
    } catch (e) { return -1; }
  },
  store_flush(file) {
    try { handles[file].flush(); return 0; } catch (e) { return -1; }
  },
  store_problem(ptr, cap) { return putString(storeProblem, ptr, cap); },
  user_agent(ptr, cap) {
    const m = navigator.userAgent.match(/(HeadlessChrome|Chrome|Firefox|Safari)\/(\d+)/);
    const name = m ? `${m[1] === "HeadlessChrome" ? "Chromium (headless)" : m[1]} ${m[2]}` : "";
    return putString(name, ptr, cap);
  },
  boot_args(ptr, cap) {
    // The page's query, as key=value words (only the arguments the OS reads).
    const q = new URLSearchParams(location.search);
    const words = ["node", "nats"].filter((k) => q.get(k)).map((k) => `${k}=${q.get(k)}`);
    return putString(words.join(" "), ptr, cap);
  },
  ws_open(ptr, len) { return link.open(new TextDecoder().decode(bytes(ptr, len))); },
  ws_send(ptr, len) { return link.send(bytes(ptr, len)); },
  ws_recv(ptr, cap) { return link.recv(bytes(ptr, cap)); },
  ws_pending() { return link.pendingBytes; },
  ws_close() { link.close(); },
  power(action) {
    halted = true;
    flushOutput();
    // Give the files back before the page starts another worker on them.
    for (const h of handles) { try { if (h) { h.flush(); h.close(); } } catch (e) {} }
    postMessage({ power: action });
  },
};

// The federation link's WebSocket to nats-server's websocket listener: bytes both ways, as a
// TCP socket would carry them (NATS frames its own messages). What arrives wakes the kernel.
// A server that sends faster than the kernel reads is cut off past LINK_BACKLOG (the link
// connects again), so the worker's memory stays bounded.
const LINK_BACKLOG = 4 << 20;
const link = {
  socket: null,
  queue: [],
  pendingBytes: 0,
  closed: false,
  open(url) {
    this.close();
    this.queue = [];
    this.pendingBytes = 0;
    this.closed = false;
    try {
      const s = new WebSocket(url);
      s.binaryType = "arraybuffer";
      s.onmessage = (e) => {
        const b = new Uint8Array(e.data instanceof ArrayBuffer ? e.data : new TextEncoder().encode(e.data));
        if (this.pendingBytes + b.length > LINK_BACKLOG) {
          this.closed = true;
          this.close();
          wake(0);
          return;
        }
        this.queue.push(b);
        this.pendingBytes += b.length;
        wake(0);
      };
      s.onclose = () => { if (this.socket === s) { this.closed = true; wake(0); } };
      s.onerror = () => {};
      this.socket = s;
      return 0;
    } catch (e) {
      this.closed = true;
      return -1;
    }
  },
  send(buf) {
    const s = this.socket;
    if (!s || this.closed || s.readyState > WebSocket.OPEN) return -1;
    if (s.readyState === WebSocket.CONNECTING) return 0;
    s.send(buf.slice());
    return buf.length;
  },
  recv(buf) {
    if (this.queue.length === 0) return this.closed ? -1 : 0;
    let n = 0;
    while (this.queue.length > 0 && n < buf.length) {
      const head = this.queue[0];
      const take = Math.min(head.length, buf.length - n);
      buf.set(head.subarray(0, take), n);
      n += take;
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
    }
    this.pendingBytes -= n;
    return n;
  },
  close() {
    if (this.socket) { const s = this.socket; this.socket = null; try { s.close(); } catch (e) {} }
  },
};

// Opens the OPFS files with sync access handles. The previous worker of a reloaded page may
// still hold them for a moment: retry for a few seconds before settling for RAM. The page's
// `?storage=ram` asks for RAM (a machine that keeps nothing).
async function openStorage() {
  if (new URLSearchParams(location.search).get("storage") === "ram") {
    storeProblem = "the page asked for RAM (?storage=ram)";
    return;
  }
  if (!navigator.storage || !navigator.storage.getDirectory) {
    storeProblem = "this browser has no Origin Private File System";
    return;
  }
  let lastError = null;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      const root = await navigator.storage.getDirectory();
      for (let i = 0; i < STORE_FILES.length; i++) {
        if (handles[i]) continue;
        const file = await root.getFileHandle(STORE_FILES[i], { create: true });
        handles[i] = await file.createSyncAccessHandle();
      }
      return;
    } catch (e) {
      lastError = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (let i = 0; i < handles.length; i++) {
    try { if (handles[i]) handles[i].close(); } catch (e) {}
    handles[i] = null;
  }
  storeProblem = `OPFS unavailable (${lastError.name}: ${lastError.message})`;
}

// A channel that runs `pump` after the event loop has handled what is queued (a zero-delay
// setTimeout would be clamped to 4 ms after a few rounds).
const soon = new MessageChannel();
soon.port1.onmessage = () => pump();
let soonQueued = false;

function wake(ms) {
  if (halted) return;
  if (ms === 0) {
    if (!soonQueued) { soonQueued = true; soon.port2.postMessage(null); }
    return;
  }
  if (timer !== null) clearTimeout(timer);
  timer = ms > 0 ? setTimeout(() => { timer = null; stats.wakeups++; pump(); }, Math.ceil(ms)) : null;
}

function trap(e) {
  flushOutput();
  if (!halted) {
    halted = true;
    // The innermost frames name where (the module keeps its function names).
    const frames = String(e.stack || "").split("\n").slice(1, 9).map((l) => l.trim()).join("\r\n    ");
    postMessage({ out: new TextEncoder().encode(`\r\n!!! the kernel trapped: ${e}\r\n    ${frames}\r\n`) });
    postMessage({ power: 0 });
  }
}

// Hands the kernel as much waiting input as its ring takes.
function feed() {
  const cap = kernel.zb_input_capacity();
  while (input.length > 0) {
    const chunk = input.subarray(0, cap);
    bytes(kernel.zb_input_buffer(), chunk.length).set(chunk);
    const taken = kernel.zb_input(chunk.length);
    input = input.subarray(taken);
    if (taken < chunk.length) break;
  }
}

function pump() {
  soonQueued = false;
  if (halted) return;
  const t0 = performance.now();
  let next;
  try {
    feed();
    next = kernel.zb_turn(TURN_BUDGET_MS);
  } catch (e) {
    return trap(e);
  }
  stats.turns++;
  stats.busyMs += performance.now() - t0;
  flushOutput();
  wake(input.length > 0 ? 0 : next);
}

onmessage = ({ data }) => {
  if (data.input && kernel && !halted) {
    // Beyond INPUT_LIMIT waiting, new input is dropped (a paste of megabytes).
    const room = Math.max(0, INPUT_LIMIT - input.length);
    const add = data.input.subarray(0, room);
    const joined = new Uint8Array(input.length + add.length);
    joined.set(input);
    joined.set(add, input.length);
    input = joined;
    wake(0);
  } else if (data.shown) {
    unacked = Math.max(0, unacked - data.shown);
  } else if (data.stats) {
    postMessage({ stats: { ...stats, now: performance.now() } });
  }
};

(async () => {
  await openStorage();
  const { instance } = await WebAssembly.instantiateStreaming(fetch("kernel.wasm"), { hal });
  kernel = instance.exports;
  memory = kernel.memory;
  postMessage({ state: handles[0] ? "running (storage: OPFS)" : "running (storage: RAM, not durable)" });
  try {
    kernel.zb_boot();
  } catch (e) {
    return trap(e);
  }
  flushOutput();
  wake(0);
})();
