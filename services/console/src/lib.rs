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
//! - The service holds no state that input can corrupt (one flag about the wire, and the
//!   bounded stdin line of [`stdin::Stdin`]).
//!
//! Stdin: the console serves the `console://` scheme (`stdin`, `stdout`, `stderr`). While its
//! client has a foreground run ([`ConsoleClient::foreground_run`]), typed bytes are that run's
//! stdin, edited a line at a time (echo, Backspace, Enter sends the line, Ctrl-D sends end of
//! input); Ctrl-C still goes to the client, which stops the run. A read of stdin by any other
//! run sees end of input at once (background runs do not steal the terminal).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod stdin;

use zb_abi::kind::kinds;
use zb_abi::scheme::{Answer, FileKind, Op, Reply, Request, STDERR, STDIN, STDOUT, Stat};
use zb_abi::{Console, ConsoleClient, Error, Host, NativeService, Pid, RunInfo};

use stdin::{Stdin, Typed};

/// Ctrl-C: always the client's (it stops the foreground run).
const INTERRUPT: u8 = 0x03;

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
    stdin: Stdin,
}

impl<C: ConsoleClient> ConsoleService<C> {
    pub fn new(client: C) -> Self {
        ConsoleService {
            client,
            line: LineState::default(),
            stdin: Stdin::default(),
        }
    }

    /// The client, for tests.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// Answers the foreground run's waiting read, if input for it is there.
    fn serve_waiting_read(&mut self, host: &mut dyn Host) {
        if let Some((id, data)) = self.stdin.fill_waiting() {
            host.reply(id, Reply::Data(data));
        }
    }

    /// Bytes typed while run `pid` has the foreground.
    fn stdin_input(&mut self, pid: Pid, bytes: &[u8], host: &mut dyn Host) {
        self.stdin.attach(pid);
        for &b in bytes {
            match self.stdin.feed(b) {
                Typed::Echo(echo) => {
                    let mut term = TerminalHost::new(host, &mut self.line);
                    term.write_translated(echo);
                    if echo.contains(&b'\n') {
                        self.line.run_mid_line = false;
                    }
                }
                Typed::Nothing => {}
            }
        }
        self.serve_waiting_read(host);
    }
}

impl<C: ConsoleClient> NativeService for ConsoleService<C> {
    fn name(&self) -> &'static str {
        "console"
    }

    fn start(&mut self, host: &mut dyn Host) {
        host.register_kind(kinds::CONSOLE, "console");
        if let Err(e) = host.register_scheme("console", kinds::SCHEME_CONSOLE) {
            // The terminal still works for the client; runs just have no console:// streams.
            let mut msg = zb_abi::fmt::FixedBuf::<96>::new();
            let _ = core::fmt::write(&mut msg, format_args!("console: no console:// ({e})"));
            host.log(msg.as_str());
        }
        self.client
            .attach(&mut TerminalHost::new(host, &mut self.line));
    }

    fn console_input(&mut self, mut bytes: &[u8], host: &mut dyn Host) {
        while !bytes.is_empty() {
            match self.client.foreground_run() {
                Some(pid) => {
                    // Up to the next Ctrl-C: the run's stdin; Ctrl-C itself: the client's.
                    let end = bytes.iter().position(|&b| b == INTERRUPT);
                    let (typed, rest) = bytes.split_at(end.unwrap_or(bytes.len()));
                    self.stdin_input(pid, typed, host);
                    bytes = rest;
                    if let Some((&ctrl_c, rest)) = bytes.split_first() {
                        self.stdin.detach();
                        self.client
                            .input(&[ctrl_c], &mut TerminalHost::new(host, &mut self.line));
                        bytes = rest;
                    }
                }
                None => {
                    // Up to and including a line end: that line may start a foreground run,
                    // which then gets what follows.
                    let end = bytes
                        .iter()
                        .position(|&b| b == b'\r' || b == b'\n')
                        .map_or(bytes.len(), |i| i + 1);
                    let (line, rest) = bytes.split_at(end);
                    self.client
                        .input(line, &mut TerminalHost::new(host, &mut self.line));
                    bytes = rest;
                }
            }
        }
    }

    fn request<'s>(&'s mut self, req: Request<'_>, host: &mut dyn Host) -> Answer<'s> {
        let reply = match req.op {
            Op::Open { path, .. } => match path {
                "stdin" => Reply::Done(u64::from(STDIN)),
                "stdout" => Reply::Done(u64::from(STDOUT)),
                "stderr" => Reply::Done(u64::from(STDERR)),
                _ => Reply::Err(Error::NotFound),
            },
            Op::Read { handle: STDIN, len } => {
                if self.client.foreground_run() != Some(req.from) {
                    // Not the foreground run: end of input.
                    return Answer::Now(Reply::Data(&[]));
                }
                self.stdin.attach(req.from);
                return match self.stdin.read(req.id, len as usize) {
                    Some(data) => Answer::Now(Reply::Data(data)),
                    None => Answer::Later,
                };
            }
            Op::Write { handle, data } if handle == STDOUT || handle == STDERR => {
                self.run_output(req.from, handle as i32, data, host);
                Reply::Done(data.len() as u64)
            }
            Op::Read { .. } | Op::Write { .. } => Reply::Err(Error::PermissionDenied),
            Op::Close { .. } => Reply::Done(0),
            Op::StatHandle { .. } | Op::Stat { .. } => Reply::Stat(Stat {
                kind: FileKind::Special,
                size: 0,
                read_only: false,
                mtime: 0,
            }),
            _ => Reply::Err(Error::Unsupported),
        };
        Answer::Now(reply)
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
        if self.stdin.owner() == Some(run.pid) {
            self.stdin.detach();
        }
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

impl Console for TerminalHost<'_> {
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
}

// Everything else passes through unchanged.
zb_abi::forward!(TerminalHost<'_> => inner: System, Files, Runs, Bus, Admin, Schemes);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;
    use zb_abi::syscall::StatusKind;
    use zb_abi::{
        Admin, Bus, ExitView, Files, MemInfo, RunKind, Runs, Schemes, StateName, SysInfo, System,
    };

    /// The wire, and a host with no runs.
    #[derive(Default)]
    struct Wire(Vec<u8>);
    impl Wire {
        fn text(&mut self) -> String {
            String::from_utf8(core::mem::take(&mut self.0)).unwrap()
        }
    }
    impl Console for Wire {
        fn console_write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }
    impl System for Wire {
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
    }
    impl Schemes for Wire {
        fn register_scheme(
            &mut self,
            _: &'static str,
            _: zb_abi::kind::KindId,
        ) -> Result<(), Error> {
            Ok(())
        }
    }
    // The console's own paths use no files, runs, bus or machine control.
    impl Files for Wire {}
    impl Runs for Wire {}
    impl Bus for Wire {}
    impl Admin for Wire {}

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
