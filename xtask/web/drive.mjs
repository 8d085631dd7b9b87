// The web platform's "serial line" for xtask's test harness: boots the page in headless
// Chromium and bridges it to this process's stdin/stdout, as QEMU's `-serial stdio` does.
//
//   node drive.mjs --url URL --profile DIR [--screenshot FILE [--type LINES]]
//
// stdout: every byte the machine's console prints (the page's `zbTap` hook).
// stdin:  bytes typed into the terminal — through the keyboard (xterm's textarea), as a
//         person types: printable text, Enter, Backspace, Tab, Ctrl-C/U/D, arrows; any other
//         byte, and text longer than 256 bytes, goes through xterm's own input path
//         (`term.input`, as a paste would).
// Signals: SIGUSR1 reloads the page (the kernel's worker dies with it); SIGUSR2 kills the
//         browser outright (SIGKILL: nothing gets to flush) and exits 3; SIGHUP writes the
//         worker's idle statistics to stdout as `ESC ] zb-stats;{json} BEL`.
// Exit:   0 when the OS shuts down, 1 when it stops with a failure (panic, trap), 2 when
//         the browser or the page fails, 3 after SIGUSR2.
// --screenshot: waits for the first prompt, types the lines of --type (each waits for the
//         next prompt), saves a screenshot of the page, and exits 0.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
if (!opt.url || !opt.profile) {
  console.error("usage: node drive.mjs --url URL --profile DIR [--screenshot FILE [--type LINES]]");
  process.exit(2);
}

const context = await chromium.launchPersistentContext(opt.profile, {
  executablePath: process.env.ZB_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1000, height: 640 },
  // SIGHUP is this driver's (statistics), not a reason to close the browser.
  handleSIGHUP: false,
  // Root in a container has no user namespace for Chromium's sandbox; the rest keeps a
  // closed network quiet (no update, sync or metrics traffic).
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] || await context.newPage();

let sawPrompt = false;
let tail = "";
await page.exposeFunction("zbTap", (s) => {
  process.stdout.write(Buffer.from(s, "latin1"));
  tail = (tail + s).slice(-200);
  if (/(^|\n)zb:[^\n]*> $/.test(tail)) sawPrompt = true;
});
await page.exposeFunction("zbPower", (action) => {
  if (action === 2) return; // reboot: the page starts a new worker
  finish(action === 1 ? 0 : 1);
});
page.on("pageerror", (e) => process.stderr.write(`drive: page error: ${e}\n`));
page.on("crash", () => { process.stderr.write("drive: the page crashed\n"); finish(2); });
context.on("close", () => finish(2));

let finished = false;
async function finish(code) {
  if (finished) return;
  finished = true;
  // Let stdout drain before exiting.
  process.stdout.write("", () => process.exit(code));
  setTimeout(() => process.exit(code), 500);
}

try {
  await page.goto(opt.url);
  await page.waitForSelector(".xterm-helper-textarea");
} catch (e) {
  process.stderr.write(`drive: cannot open ${opt.url}: ${e.message}\n`);
  process.exit(2);
}

if (opt.screenshot) {
  const prompt = async () => {
    const t0 = Date.now();
    while (!sawPrompt && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 50));
  };
  await prompt();
  await page.focus(".xterm-helper-textarea");
  for (const line of (opt.type || "").split("\n").filter((l) => l)) {
    sawPrompt = false;
    await page.keyboard.type(line);
    await page.keyboard.press("Enter");
    await prompt();
  }
  await new Promise((r) => setTimeout(r, 300));
  await page.screenshot({ path: opt.screenshot });
  finished = true;
  await context.close().catch(() => {});
  process.exit(sawPrompt ? 0 : 2);
}

// Typing, one chunk after another in arrival order.
const KEYS = { 0x0d: "Enter", 0x7f: "Backspace", 0x08: "Backspace", 0x09: "Tab",
               0x03: "Control+C", 0x15: "Control+U", 0x04: "Control+D", 0x0c: "Control+L" };
const ARROWS = { A: "ArrowUp", B: "ArrowDown", C: "ArrowRight", D: "ArrowLeft" };
let typing = Promise.resolve();
async function type(buf) {
  let text = "";
  // Bytes no key stands for (random input, escape sequences other than arrows), gathered
  // and given to xterm's input path in one go.
  let raw = "";
  const flushRaw = async () => {
    if (raw) await page.evaluate((t) => window.zb.term.input(t, true), raw);
    raw = "";
  };
  // Key by key, as typed; a long run of text (a paste, a flood) through xterm's input path
  // in one go, since a key event per byte would take seconds.
  const flush = async () => {
    if (text.length > 256) await page.evaluate((t) => window.zb.term.input(t, true), text);
    else if (text) await page.keyboard.type(text);
    text = "";
  };
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b >= 0x20 && b < 0x7f) {
      await flushRaw();
      text += String.fromCharCode(b);
      continue;
    }
    await flush();
    if (b === 0x1b && buf[i + 1] === 0x5b && ARROWS[String.fromCharCode(buf[i + 2])]) {
      await flushRaw();
      await page.keyboard.press(ARROWS[String.fromCharCode(buf[i + 2])]);
      i += 2;
    } else if (KEYS[b]) {
      await flushRaw();
      await page.keyboard.press(KEYS[b]);
    } else {
      raw += String.fromCharCode(b);
    }
  }
  await flush();
  await flushRaw();
}
await page.focus(".xterm-helper-textarea");
// Bytes that arrived while earlier ones were still being typed are typed together: the
// harness writes byte by byte, and a flood read in small pieces would otherwise go key by key
// (seconds per thousand bytes on a loaded machine) instead of through xterm's input path.
let pending = [];
process.stdin.on("data", (buf) => {
  pending.push(buf);
  typing = typing.then(() => {
    if (pending.length === 0) return;
    const all = Buffer.concat(pending);
    pending = [];
    return type(all);
  }).catch((e) => {
    process.stderr.write(`drive: typing failed: ${e.message}\n`);
  });
});
process.stdin.on("end", async () => {
  await typing;
  await context.close().catch(() => {});
  process.exit(0);
});

process.on("SIGUSR1", () => {
  typing = typing.then(async () => {
    sawPrompt = false;
    await page.reload();
    await page.waitForSelector(".xterm-helper-textarea");
    await page.focus(".xterm-helper-textarea");
  }).catch((e) => process.stderr.write(`drive: reload failed: ${e.message}\n`));
});
process.on("SIGUSR2", () => {
  // The browser's processes are this process's children: kill them all, now.
  try {
    const pids = execFileSync("pgrep", ["-P", String(process.pid)]).toString().trim().split(/\s+/);
    for (const pid of pids) { try { process.kill(Number(pid), "SIGKILL"); } catch (e) {} }
  } catch (e) {}
  finished = true;
  process.exit(3);
});
process.on("SIGHUP", async () => {
  const stats = await page.evaluate(() => window.zb.stats());
  process.stdout.write(`\x1b]zb-stats;${JSON.stringify(stats)}\x07`);
});
