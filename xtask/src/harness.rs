//! The integration-test harness: boot QEMU headless, talk to the shell over the serial line.
//!
//! [`Machine`] types input character by character, waits for output with a per-step timeout,
//! and keeps the full console transcript; any failed step returns an error that carries the
//! transcript, so a failing test always shows what the OS printed.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::qemu::{Boot, Outcome};

/// The prompt ends every command's output (DESIGN.md §7: `zb…> `).
pub const PROMPT_END: &str = "> ";
pub const PROMPT_START: &str = "zb:";

struct Transcript {
    bytes: Vec<u8>,
    closed: bool,
}

pub struct Machine {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<Transcript>, Condvar)>,
    /// Transcript offset up to which output has been consumed by `expect`.
    cursor: usize,
    platform: crate::cli::Platform,
    pub started: Instant,
}

pub type StepResult<T = ()> = Result<T, String>;

impl Machine {
    pub fn boot(name: &str, boot: &Boot) -> StepResult<Machine> {
        let mut child = boot
            .headless_command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{name}: cannot start QEMU: {e}"))?;
        let started = Instant::now();
        let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let out = Arc::new((
            Mutex::new(Transcript {
                bytes: Vec::new(),
                closed: false,
            }),
            Condvar::new(),
        ));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*sink;
                let mut t = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    t.closed = true;
                    cv.notify_all();
                    return;
                }
                t.bytes.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
        let stdin = child.stdin.take();
        Ok(Machine {
            name: name.into(),
            child,
            stdin,
            out,
            cursor: 0,
            platform: boot.platform,
            started,
        })
    }

    /// Everything the machine printed so far, lossily decoded.
    pub fn transcript(&self) -> String {
        let t = self.out.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&t.bytes).into_owned()
    }

    pub fn fail<T>(&self, msg: impl std::fmt::Display) -> StepResult<T> {
        Err(format!(
            "{}: {msg}\n----- console transcript -----\n{}\n----- end of transcript -----",
            self.name,
            self.transcript()
        ))
    }

    /// Waits until `pred` finds something in the unconsumed output; consumes up to the end of
    /// the match and returns the text from the cursor to the end of the match.
    fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[u8]) -> Option<usize>,
    ) -> StepResult<String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut t = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(end) = pred(&t.bytes[self.cursor..]) {
                let text =
                    String::from_utf8_lossy(&t.bytes[self.cursor..self.cursor + end]).into_owned();
                self.cursor += end;
                return Ok(text);
            }
            let now = Instant::now();
            if t.closed || now >= deadline {
                let why = if t.closed {
                    "the machine (QEMU or the browser) exited"
                } else {
                    "timed out"
                };
                drop(t);
                return self.fail(format!("{why} after {timeout:?} waiting for {what}"));
            }
            t = cv
                .wait_timeout(t, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for `needle`; returns the output before it (and consumes through it).
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> StepResult<String> {
        let n = needle.as_bytes().to_vec();
        let text = self.wait_for(&format!("{needle:?}"), timeout, |hay| {
            find(hay, &n).map(|i| i + n.len())
        })?;
        Ok(text[..text.len() - needle.len()].to_string())
    }

    /// Waits for a shell prompt; returns the output before it.
    pub fn expect_prompt(&mut self, timeout: Duration) -> StepResult<String> {
        let text = self.wait_for("the shell prompt", timeout, |hay| {
            // A prompt is `> ` on a line that starts with `zb:` (after any terminal control
            // sequences, e.g. from `clear`). Other `> ` (in command output) do not count.
            let mut from = 0;
            while let Some(i) = find(&hay[from..], PROMPT_END.as_bytes()) {
                let end = from + i + PROMPT_END.len();
                let line_start = hay[..end]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                if strip_csi(&hay[line_start..end]).starts_with(PROMPT_START.as_bytes()) {
                    return Some(end);
                }
                from = end;
            }
            None
        })?;
        let start = text.rfind(PROMPT_START).unwrap_or(text.len());
        Ok(text[..start].to_string())
    }

    /// Sends bytes one at a time, as a person typing (fast) would. (To the browser's driver in
    /// one write: it types them key by key itself, and a flood read in many small pieces would
    /// go key by key too, seconds per thousand bytes on a loaded machine.)
    pub fn type_bytes(&mut self, bytes: &[u8]) -> StepResult {
        let Some(stdin) = self.stdin.as_mut() else {
            return self.fail("stdin already closed");
        };
        if self.platform == crate::cli::Platform::Web {
            if let Err(e) = stdin.write_all(bytes).and_then(|_| stdin.flush()) {
                return self.fail(format!("writing to the browser's driver: {e}"));
            }
            return Ok(());
        }
        for b in bytes {
            if let Err(e) = stdin
                .write_all(std::slice::from_ref(b))
                .and_then(|_| stdin.flush())
            {
                return self.fail(format!("writing to QEMU: {e}"));
            }
        }
        Ok(())
    }

    /// Types `line` and Enter, waits for the next prompt, and returns the command's output
    /// (without the echoed line), with `\r\n` turned into `\n`.
    pub fn command(&mut self, line: &str, timeout: Duration) -> StepResult<String> {
        self.type_bytes(line.as_bytes())?;
        self.type_bytes(b"\r")?;
        // The echo of this very line ends with the line discipline's "\r\n"; the output
        // follows it. (Not just any "\r\n": a background run's output may come first. If it
        // arrives while the line is typed, the console draws the line again whole, so the echo
        // still ends with the complete line.)
        // (A line with control characters — backspace, arrows — is edited on screen, so its
        // echo is not the line: then the first "\r\n" it is.)
        if line.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            self.expect(&format!("{line}\r\n"), timeout)?;
        } else {
            self.expect("\r\n", timeout)?;
        }
        let out = self.expect_prompt(timeout)?;
        Ok(out.replace("\r\n", "\n"))
    }

    /// After input whose effects are unpredictable (random bytes), proves the shell still works
    /// and re-synchronises the transcript cursor: runs `echo <marker>` and waits for the
    /// marker on a line of its own, which only the command's output (not its echo) produces.
    pub fn resync(&mut self, marker: &str, timeout: Duration) -> StepResult {
        self.type_bytes(format!("echo {marker}\r").as_bytes())?;
        self.expect(&format!("\r\n{marker}\r\n"), timeout)?;
        self.expect_prompt(timeout)?;
        Ok(())
    }

    /// Like [`Machine::command`], and checks the output contains every one of `wanted`.
    pub fn check(&mut self, line: &str, wanted: &[&str], timeout: Duration) -> StepResult<String> {
        let out = self.command(line, timeout)?;
        for w in wanted {
            if !out.contains(w) {
                return self.fail(format!(
                    "`{line}`: expected {w:?} in the output, got {out:?}"
                ));
            }
        }
        Ok(out)
    }

    /// Waits for QEMU to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> StepResult<Outcome> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.wait_output_closed(Duration::from_secs(2));
                    return Ok(Outcome::from_status(self.platform, status));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    return self.fail(format!(
                        "QEMU still running {timeout:?} after it should have exited"
                    ));
                }
                Err(e) => return self.fail(format!("waiting for QEMU: {e}")),
            }
        }
    }
}

/// The browser transport's controls (xtask/web/drive.mjs), by signal to the driver.
impl Machine {
    fn signal(&self, name: &str) -> StepResult {
        let ok = std::process::Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            self.fail(format!("cannot send SIG{name} to the browser driver"))
        }
    }

    /// Reloads the page: the kernel's worker dies with it, and the page boots a new one.
    /// Waits for the new boot's banner line; the prompt is the caller's to wait for.
    pub fn reload_page(&mut self) -> StepResult {
        self.signal("USR1")?;
        self.expect("boot: kernel entry to prompt", Duration::from_secs(90))?;
        Ok(())
    }

    /// Kills the browser outright (SIGKILL to every Chromium process) and waits for the
    /// driver to exit.
    pub fn kill_browser(&mut self) -> StepResult {
        self.signal("USR2")?;
        match self.wait_exit(Duration::from_secs(20))? {
            Outcome::Failure(Some(3)) => Ok(()),
            other => self.fail(format!("the browser driver ended with {other}, not 3")),
        }
    }

    /// The worker's counters (turns into the kernel, ms spent in it, timer wake-ups, and the
    /// page's clock), as `drive.mjs` reports them on SIGHUP.
    pub fn web_stats(&mut self) -> StepResult<String> {
        self.signal("HUP")?;
        self.expect("\x1b]zb-stats;", Duration::from_secs(10))?;
        self.expect("\x07", Duration::from_secs(10))
    }
}

impl Machine {
    /// Waits for what the boot image's init does at boot to be over: `flaky` given up on, and
    /// the ledger's command handler (started at boot for commands that came while it was down)
    /// ended, as it does when idle. Checks and measurements that need the heap to themselves
    /// start after it (on the STM32F4 the handler takes a third of the heap).
    pub fn settle(&mut self) -> StepResult {
        const STEP: Duration = Duration::from_secs(20);
        for _ in 0..50 {
            let log = self.command("dmesg", STEP)?;
            if log.contains("init: flaky: giving up")
                && log.contains("ended: ok(0); starts again on ledger.transfer.requested events")
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.fail("init did not finish with its boot runs")
    }

    /// Lets the reader thread collect QEMU's last output after it exited.
    fn wait_output_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut t = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !t.closed && Instant::now() < deadline {
            t = cv
                .wait_timeout(t, deadline - Instant::now())
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `"name":` in flat JSON text (runbench's figures, the browser worker's
/// statistics), if there is one.
pub fn json_number(text: &str, name: &str) -> Option<f64> {
    text.split(&format!("\"{name}\":"))
        .nth(1)?
        .split([',', '}'])
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Removes VT100 CSI sequences (`ESC [ params final`).
pub fn strip_csi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn json_numbers() {
        let text = r#"{"round_trip_ns": 1171, "turns":9,"busyMs":18.5}"#;
        assert_eq!(super::json_number(text, "round_trip_ns"), Some(1171.0));
        assert_eq!(super::json_number(text, "turns"), Some(9.0));
        assert_eq!(super::json_number(text, "busyMs"), Some(18.5));
        assert_eq!(super::json_number(text, "nope"), None);
    }

    #[test]
    fn find_bytes() {
        assert_eq!(find(b"abc zb:/> ", b"> "), Some(8));
        assert_eq!(find(b"abc", b"x"), None);
        assert_eq!(find(b"", b"x"), None);
    }

    #[test]
    fn strips_control_sequences() {
        assert_eq!(super::strip_csi(b"\x1b[2J\x1b[Hzb:/> "), b"zb:/> ");
        assert_eq!(super::strip_csi(b"a\x1b[12Db"), b"ab");
        assert_eq!(super::strip_csi(b"x\x1b["), b"x");
    }
}
