//! The console service: owns the serial line and routes it to its foreground client.
//!
//! Job: take raw bytes from the console device and hand them to the foreground client (the
//! shell); take the client's output and the output of runs and apply the output line
//! discipline (`\n` → `\r\n`, as a terminal's ONLCR does) before it reaches the wire; keep run
//! output from garbling a line the user is typing.
//!
//! Run output ([`NativeService::run_output`]) is written between [`ConsoleClient::hide_line`]
//! and [`ConsoleClient::show_line`]: if the client is showing a partly typed line, it erases it
//! first and redraws it after, so the run's bytes land on clean lines above the prompt.
//!
//! Invariants:
//! - The client only ever sees the host through [`TerminalHost`], so every byte it writes
//!   passes the line discipline.
//! - Client output always starts on a fresh line after run output: when a run's bytes end in
//!   the middle of a line, the next client write is preceded by `\r\n` (so a status line or a
//!   redrawn prompt is never glued to a run's partial line). Client writes themselves never
//!   trigger this (the client owns the line it is drawing, e.g. the prompt).
//! - `show_line` is called only after `hide_line` returned true for the same output.
//! - The service holds no state that input can corrupt (one flag about the wire).
#![no_std]
#![forbid(unsafe_code)]

use zb_abi::{
    ConsoleClient, Error, Host, MemInfo, NativeService, Pid, PowerAction, RunInfo, SysInfo,
};

/// What the console remembers about the wire.
#[derive(Debug, Default, Clone, Copy)]
pub struct LineState {
    /// The last bytes on the wire were run output that did not end with a newline.
    run_mid_line: bool,
}

/// The console service with its foreground client `C`.
pub struct ConsoleService<C: ConsoleClient> {
    client: C,
    line: LineState,
}

impl<C: ConsoleClient> ConsoleService<C> {
    pub fn new(client: C) -> Self {
        ConsoleService {
            client,
            line: LineState::default(),
        }
    }
}

impl<C: ConsoleClient> NativeService for ConsoleService<C> {
    fn name(&self) -> &'static str {
        "console"
    }

    fn start(&mut self, host: &mut dyn Host) {
        self.client
            .attach(&mut TerminalHost::new(host, &mut self.line));
    }

    fn console_input(&mut self, bytes: &[u8], host: &mut dyn Host) {
        self.client
            .input(bytes, &mut TerminalHost::new(host, &mut self.line));
    }

    fn run_output(&mut self, pid: Pid, stream: i32, bytes: &[u8], host: &mut dyn Host) {
        // Both streams go to the terminal; which run wrote them does not change how.
        let _ = (pid, stream);
        if bytes.is_empty() {
            return;
        }
        let mut term = TerminalHost::new(host, &mut self.line);
        let hidden = self.client.hide_line(&mut term);
        term.write_run_output(bytes);
        if hidden {
            self.client.show_line(&mut term);
        }
    }

    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        self.client
            .run_exited(run, &mut TerminalHost::new(host, &mut self.line));
    }
}

/// The host as a console client sees it: identical, except that console output passes the
/// output line discipline and starts on a fresh line after a run's partial line.
pub struct TerminalHost<'a> {
    inner: &'a mut dyn Host,
    line: &'a mut LineState,
}

impl<'a> TerminalHost<'a> {
    pub fn new(inner: &'a mut dyn Host, line: &'a mut LineState) -> Self {
        TerminalHost { inner, line }
    }

    /// Writes `bytes` with `\n` → `\r\n`.
    fn write_translated(&mut self, bytes: &[u8]) {
        // Write maximal runs without '\n' in one call, then "\r\n" for each '\n'.
        for (i, chunk) in bytes.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.inner.console_write(b"\r\n");
            }
            if !chunk.is_empty() {
                self.inner.console_write(chunk);
            }
        }
    }

    /// Writes a run's bytes and remembers whether they left the cursor mid-line.
    fn write_run_output(&mut self, bytes: &[u8]) {
        self.write_translated(bytes);
        if let Some(&last) = bytes.last() {
            self.line.run_mid_line = last != b'\n';
        }
    }
}

impl Host for TerminalHost<'_> {
    fn console_write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // TODO(stdin routing): once input is routed to a foreground run, the echo of that
        // input continues the run's partial line and must bypass this rule.
        if core::mem::take(&mut self.line.run_mid_line) {
            self.inner.console_write(b"\r\n");
        }
        self.write_translated(bytes);
    }

    fn clock_us(&self) -> u64 {
        self.inner.clock_us()
    }

    fn cycles(&self) -> u64 {
        self.inner.cycles()
    }

    fn sysinfo(&self) -> SysInfo {
        self.inner.sysinfo()
    }

    fn meminfo(&self) -> MemInfo {
        self.inner.meminfo()
    }

    fn power(&mut self, action: PowerAction) -> Error {
        self.inner.power(action)
    }

    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error> {
        self.inner.spawn(name, args)
    }

    fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        self.inner.kill(pid)
    }

    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        self.inner.runs(visit)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;
    use zb_abi::syscall::StatusKind;
    use zb_abi::{ExitView, RunKind, StateName};

    /// The wire, and a host with no runs.
    #[derive(Default)]
    struct Wire(Vec<u8>);
    impl Wire {
        fn text(&mut self) -> String {
            String::from_utf8(core::mem::take(&mut self.0)).unwrap()
        }
    }
    impl Host for Wire {
        fn console_write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        fn clock_us(&self) -> u64 {
            7
        }
        fn cycles(&self) -> u64 {
            42
        }
        fn sysinfo(&self) -> SysInfo {
            SysInfo {
                version: "0",
                platform: "test",
                machine: "wire",
                profile: "debug",
                boot_us: 0,
            }
        }
        fn meminfo(&self) -> MemInfo {
            MemInfo::default()
        }
        fn power(&mut self, _: PowerAction) -> Error {
            Error::Unsupported
        }
        fn spawn(&mut self, _: &str, _: &[&str]) -> Result<Pid, Error> {
            Err(Error::NotFound)
        }
        fn kill(&mut self, _: Pid) -> Result<(), Error> {
            Err(Error::NotFound)
        }
        fn runs(&self, _: &mut dyn FnMut(&RunInfo<'_>)) {}
    }

    /// Echoes input back and greets on attach.
    struct Echo;
    impl ConsoleClient for Echo {
        fn attach(&mut self, host: &mut dyn Host) {
            host.console_write(b"hi\n> ");
        }
        fn input(&mut self, bytes: &[u8], host: &mut dyn Host) {
            host.console_write(bytes);
        }
    }

    /// A client with a prompt and a typed line, like the shell: `busy` means no line is shown.
    #[derive(Default)]
    struct Prompt {
        typed: String,
        busy: bool,
        exited: Vec<(Pid, String)>,
    }
    impl ConsoleClient for Prompt {
        fn attach(&mut self, host: &mut dyn Host) {
            host.console_write(b"> ");
        }
        fn input(&mut self, bytes: &[u8], host: &mut dyn Host) {
            self.typed.push_str(core::str::from_utf8(bytes).unwrap());
            host.console_write(bytes);
        }
        fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
            let status = std::format!("{}", run.exit.unwrap());
            host.console_write(std::format!("[{}] {status}\n", run.pid).as_bytes());
            self.exited.push((run.pid, status));
        }
        fn hide_line(&mut self, host: &mut dyn Host) -> bool {
            if self.busy {
                return false;
            }
            host.console_write(b"<hide>");
            true
        }
        fn show_line(&mut self, host: &mut dyn Host) {
            host.console_write(std::format!("> {}", self.typed).as_bytes());
        }
    }

    #[test]
    fn the_clocks_pass_through_unchanged() {
        let mut wire = Wire::default();
        let mut line = LineState::default();
        let term = TerminalHost::new(&mut wire, &mut line);
        assert_eq!((term.clock_us(), term.cycles()), (7, 42));
    }

    #[test]
    fn newlines_become_crlf_on_the_wire() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.start(&mut wire);
        console.console_input(b"a\nb\n\nc", &mut wire);
        assert_eq!(wire.0, b"hi\r\n> a\r\nb\r\n\r\nc");
    }

    #[test]
    fn other_bytes_pass_unchanged() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        let all: Vec<u8> = (0u8..=255).filter(|&b| b != b'\n').collect();
        console.console_input(&all, &mut wire);
        assert_eq!(wire.0, all);
    }

    #[test]
    fn run_output_goes_through_the_line_discipline() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.run_output(3, 1, b"one\ntwo\n", &mut wire);
        console.run_output(3, 2, b"err\n", &mut wire);
        console.run_output(3, 1, b"", &mut wire);
        assert_eq!(wire.text(), "one\r\ntwo\r\nerr\r\n");
    }

    #[test]
    fn run_output_hides_and_redraws_a_typed_line() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt::default());
        console.start(&mut wire);
        console.console_input(b"ech", &mut wire);
        console.run_output(3, 1, b"tick\n", &mut wire);
        assert_eq!(wire.text(), "> ech<hide>tick\r\n> ech");
    }

    #[test]
    fn output_ending_mid_line_puts_the_redrawn_line_on_its_own_line() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt::default());
        console.console_input(b"ls", &mut wire);
        console.run_output(3, 1, b"50%", &mut wire);
        assert_eq!(wire.text(), "ls<hide>50%\r\n> ls");
        // The redraw closed the partial line: the next output does not add another newline.
        console.run_output(3, 1, b"done\n", &mut wire);
        assert_eq!(wire.text(), "<hide>done\r\n> ls");
    }

    #[test]
    fn a_busy_client_is_not_redrawn_and_its_next_line_starts_fresh() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            ..Default::default()
        });
        console.run_output(4, 1, b"a", &mut wire);
        console.run_output(4, 1, b"b", &mut wire);
        assert_eq!(
            wire.text(),
            "ab",
            "a foreground run's partial lines are not broken"
        );
        let exit = ExitView {
            kind: StatusKind::Ok,
            code: 0,
            message: "",
        };
        let run = RunInfo {
            pid: 4,
            parent: 1,
            kind: RunKind::Wasm,
            name: "ab",
            state: StateName::Done,
            wait: None,
            memory: 0,
            fuel: 10,
            exit: Some(exit),
        };
        console.run_exited(&run, &mut wire);
        assert_eq!(wire.text(), "\r\n[4] ok(0)\r\n");
        assert_eq!(console.client.exited, [(4, String::from("ok(0)"))]);
        // After a complete line, client output is not preceded by an extra newline.
        console.run_output(4, 1, b"x\n", &mut wire);
        console.console_input(b"y", &mut wire);
        assert_eq!(wire.text(), "x\r\ny");
    }
}
