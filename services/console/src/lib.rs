//! The console service: owns the serial line and routes it to its foreground client.
//!
//! Job: take raw bytes from the console device and hand them to the foreground client (the
//! shell); take the client's output and the output of runs and apply the output line
//! discipline (`\n` → `\r\n`, as a terminal's ONLCR does) before it reaches the wire; keep run
//! output from garbling a line the user is typing, from driving the terminal, and from
//! holding up the kernel.
//!
//! Run output ([`NativeService::run_output`]) is written between [`ConsoleClient::hide_line`]
//! and [`ConsoleClient::show_line`]: if the client is showing a partly typed line, it erases it
//! first and redraws it after, so the run's bytes land on clean lines above the prompt.
//!
//! A run's bytes are escaped ([`escape`]): control characters other than newline and tab
//! (ESC, a bare CR, BEL, backspace, DEL, C1 controls) are shown as `^[`, `^M`, `\x9b`, … and
//! never reach the terminal as controls, so a run cannot move the cursor, clear the screen or
//! rewrite a line. The client's own output (the shell's prompt and line editing) is not
//! escaped.
//!
//! Output waits in a bounded queue ([`queue`]) that [`NativeService::tick`] writes out a
//! little at a time, so the kernel loop never waits long on the UART. While the queue holds
//! [`queue::QUEUE_BYTES`] (4 KiB) the console takes no more run output
//! ([`NativeService::output_room`] is 0): the kernel keeps it, charged to the runs, whose
//! writes wait until it drains. A `console://stdout` write that fills the queue is answered
//! once it drains. Ctrl-C that ends the foreground run drops its queued output, and what it
//! wrote but the console has not taken yet.
//!
//! Invariants:
//! - The client only ever sees the host through [`TerminalHost`], so every byte it writes
//!   passes the line discipline and reaches the wire in order with run output.
//! - Client output always starts on a fresh line after run output: when a run's bytes end in
//!   the middle of a line, the next client write is preceded by `\r\n` (so a status line or a
//!   redrawn prompt is never glued to a run's partial line, and a run that prints `zb:/> `
//!   leaves no fake prompt for the operator to type after). Client writes themselves never
//!   trigger this (the client owns the line it is drawing, e.g. the prompt).
//! - `show_line` is called only after `hide_line` returned true for the same output.
//! - The service holds no state that input can corrupt, and what it holds is bounded: the
//!   queue (see [`queue`]), a few held bytes of a split character ([`escape`]), and the
//!   bounded stdin line of [`stdin::Stdin`].
//!
//! Stdin: the console serves the `console://` scheme (`stdin`, `stdout`, `stderr`). While its
//! client has a foreground run ([`ConsoleClient::foreground_run`]), typed bytes are that run's
//! stdin, edited a line at a time (echo, Backspace, Enter sends the line, Ctrl-D sends end of
//! input); Ctrl-C still goes to the client, which stops the run (and drops what was typed).
//! What the run leaves unread when it ends goes to the client as if typed then (type-ahead).
//! A read of stdin by any other run sees end of input at once (background runs do not steal
//! the terminal).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod escape;
pub mod queue;
pub mod stdin;

use alloc::vec::Vec;

use zb_abi::kind::kinds;
use zb_abi::scheme::{
    Answer, FileKind, Op, Reply, Request, RequestId, STDERR, STDIN, STDOUT, Stat,
};
use zb_abi::{
    Admin, Console, ConsoleClient, Error, Host, NativeService, Pid, PowerAction, RunInfo, StateName,
};

use escape::Escaper;
use queue::Queue;
use stdin::{Stdin, Typed};

/// Ctrl-C: always the client's (it stops the foreground run).
const INTERRUPT: u8 = 0x03;

/// The console's output side: the queue for the wire and what it remembers about the wire.
#[derive(Default)]
pub struct Terminal {
    /// The last bytes queued were run output that did not end with a newline.
    run_mid_line: bool,
    queue: Queue,
    escaper: Escaper,
    /// A run Ctrl-C ended: its output is dropped until its end is reported.
    dropping: Option<Pid>,
}

/// The console service with its foreground client `C`.
pub struct ConsoleService<C: ConsoleClient> {
    client: C,
    term: Terminal,
    stdin: Stdin,
    /// `console://` writes answered once the queue has room: request and bytes taken.
    waiting_writes: Vec<(RequestId, u64)>,
    /// The wire had no room at the last tick: the next is not before this (µs).
    wire_retry_us: Option<u64>,
}

/// How long the queue waits before trying a wire that had no room again (a browser page
/// catching up with what it was sent): the kernel loop is not held spinning on it.
const WIRE_RETRY_US: u64 = 2_000;

impl<C: ConsoleClient> ConsoleService<C> {
    pub fn new(client: C) -> Self {
        ConsoleService {
            client,
            term: Terminal::default(),
            stdin: Stdin::default(),
            waiting_writes: Vec::new(),
            wire_retry_us: None,
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
                    // The echo continues the run's line: no fresh line before it; a line
                    // left partly typed is the run's, so the client's next words start below.
                    TerminalHost::new(host, &mut self.term).write_translated(echo);
                    self.term.run_mid_line = !echo.ends_with(b"\n");
                }
                Typed::Nothing => {}
            }
        }
        self.serve_waiting_read(host);
    }

    /// Ctrl-C was typed while `pid` had the foreground: if that ended it, its queued output
    /// and what it still has in the kernel are dropped.
    fn interrupted(&mut self, pid: Pid, host: &mut dyn Host) {
        if self.client.foreground_run() == Some(pid) {
            return;
        }
        let mut live = false;
        host.runs(&mut |r| live |= r.pid == pid && r.state != StateName::Done);
        if !live {
            self.term.queue.drop_run(pid);
            self.term.escaper.forget(pid);
            self.term.dropping = Some(pid);
        }
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
            .attach(&mut TerminalHost::new(host, &mut self.term));
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
                            .input(&[ctrl_c], &mut TerminalHost::new(host, &mut self.term));
                        self.interrupted(pid, host);
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
                        .input(line, &mut TerminalHost::new(host, &mut self.term));
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
                let n = data.len() as u64;
                if self.term.queue.room() == 0 {
                    // The writer waits for its answer until the queue drains.
                    self.waiting_writes.push((req.id, n));
                    return Answer::Later;
                }
                Reply::Done(n)
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
        if bytes.is_empty() || self.term.dropping == Some(pid) {
            return;
        }
        let mut term = TerminalHost::new(host, &mut self.term);
        let hidden = self.client.hide_line(&mut term);
        term.write_run_output(pid, stream, bytes);
        if hidden {
            self.client.show_line(&mut term);
        }
    }

    fn output_room(&self) -> usize {
        self.term.queue.room()
    }

    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        // Type-ahead: what was typed while the run had the terminal and it did not read goes
        // to whoever has the terminal next, as after a Unix command that left its input
        // unread (the next command, typed before the prompt came back, is not lost).
        let unread = if self.stdin.owner() == Some(run.pid) {
            self.stdin.take_unread()
        } else {
            Vec::new()
        };
        if self.term.dropping == Some(run.pid) {
            self.term.dropping = None;
        }
        let mut term = TerminalHost::new(host, &mut self.term);
        term.end_run(run.pid);
        self.client.run_exited(run, &mut term);
        if !unread.is_empty() {
            self.console_input(&unread, host);
        }
    }

    fn next_tick(&self) -> Option<u64> {
        // At once: each tick is short, and the line gets the loop's spare time — unless the
        // wire had no room, then after a short wait.
        (!self.term.queue.is_empty() || !self.waiting_writes.is_empty())
            .then_some(self.wire_retry_us.unwrap_or(0))
    }

    fn tick(&mut self, host: &mut dyn Host) {
        let full = self.term.queue.drain(host, true);
        self.wire_retry_us = full.then(|| host.clock_us() + WIRE_RETRY_US);
        if self.term.queue.room() > 0 {
            for (id, n) in self.waiting_writes.drain(..) {
                host.reply(id, Reply::Done(n));
            }
        }
    }
}

/// The host as a console client sees it: identical, except that console output passes the
/// output line discipline, waits in the console's queue behind run output, and starts on a
/// fresh line after a run's partial line; and a power action first writes the queue out.
pub struct TerminalHost<'a> {
    inner: &'a mut dyn Host,
    term: &'a mut Terminal,
}

impl<'a> TerminalHost<'a> {
    pub fn new(inner: &'a mut dyn Host, term: &'a mut Terminal) -> Self {
        TerminalHost { inner, term }
    }

    /// Client bytes for the wire: written at once if nothing waits, else queued behind what
    /// does (or, past [`queue::QUEUE_BYTES`] of them or without heap, the queue is written out
    /// first).
    fn emit(&mut self, bytes: &[u8]) {
        let queue = &mut self.term.queue;
        if !queue.is_empty() {
            if queue.client_fits(bytes.len())
                && queue.push_with(None, bytes.len(), &mut |q| q.extend_from_slice(bytes))
            {
                return;
            }
            queue.drain(self.inner, false);
        }
        self.inner.console_write(bytes);
    }

    /// Writes client bytes with `\n` → `\r\n`.
    fn write_translated(&mut self, bytes: &[u8]) {
        // Maximal runs without '\n' in one write, then "\r\n" for each '\n'.
        for (i, chunk) in bytes.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.emit(b"\r\n");
            }
            if !chunk.is_empty() {
                self.emit(chunk);
            }
        }
    }

    /// Queues a run's bytes, escaped, and remembers whether they left the line unfinished.
    /// Without heap for them they are dropped (the kernel must not stop for a run's output).
    fn write_run_output(&mut self, pid: Pid, stream: i32, bytes: &[u8]) {
        let Terminal { queue, escaper, .. } = &mut *self.term;
        let before = queue.len();
        queue.push_with(Some(pid), escape::max_escaped(bytes.len()), &mut |q| {
            escaper.feed((pid, stream), bytes, q)
        });
        if queue.len() != before {
            self.term.run_mid_line = queue.last() != Some(b'\n');
        }
    }

    /// Run `pid` ended: what it left unfinished is shown.
    fn end_run(&mut self, pid: Pid) {
        let Terminal { queue, escaper, .. } = &mut *self.term;
        let before = queue.len();
        queue.push_with(Some(pid), escape::max_escaped(0), &mut |q| {
            escaper.end(pid, q)
        });
        if queue.len() != before {
            self.term.run_mid_line = true;
        }
    }
}

impl Console for TerminalHost<'_> {
    fn console_write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if core::mem::take(&mut self.term.run_mid_line) {
            self.emit(b"\r\n");
        }
        self.write_translated(bytes);
    }

    fn console_room(&self) -> usize {
        self.inner.console_room()
    }
}

impl Admin for TerminalHost<'_> {
    fn power(&mut self, action: PowerAction) -> Error {
        // What the operator was told (and the runs wrote) is on the wire before the machine
        // stops.
        self.term.queue.drain(self.inner, false);
        self.inner.power(action)
    }

    fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), Error> {
        self.inner.set_wall_clock(unix_secs)
    }
}

// Everything else passes through unchanged.
zb_abi::forward!(TerminalHost<'_> => inner: System, Files, Runs, Bus, Schemes);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use queue::{DRAIN_MAX, QUEUE_BYTES};
    use std::string::String;
    use std::vec::Vec;
    use zb_abi::syscall::StatusKind;
    use zb_abi::{
        Bus, ExitView, Files, MemInfo, RunKind, Runs, Schemes, StateName, SysInfo, System,
    };

    /// The wire, and a host whose runs are `live` (until killed).
    #[derive(Default)]
    struct Wire {
        out: Vec<u8>,
        live: Vec<Pid>,
        replies: Vec<(RequestId, u64)>,
        powered_off_after: Option<usize>,
    }
    impl Wire {
        fn text(&mut self) -> String {
            String::from_utf8(core::mem::take(&mut self.out)).unwrap()
        }
    }
    impl Console for Wire {
        fn console_write(&mut self, bytes: &[u8]) {
            self.out.extend_from_slice(bytes);
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
        fn reply(&mut self, id: RequestId, reply: Reply<'_>) {
            if let Reply::Done(n) = reply {
                self.replies.push((id, n));
            }
        }
    }
    impl Runs for Wire {
        fn kill(&mut self, pid: Pid) -> Result<(), Error> {
            self.live.retain(|&p| p != pid);
            Ok(())
        }
        fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
            for pid in 2..20 {
                visit(&info(pid, self.live.contains(&pid)));
            }
        }
    }
    impl Admin for Wire {
        fn power(&mut self, _: PowerAction) -> Error {
            self.powered_off_after = Some(self.out.len());
            Error::Unsupported
        }
    }
    // The console's own paths use no files or bus.
    impl Files for Wire {}
    impl Bus for Wire {}

    fn info(pid: Pid, live: bool) -> RunInfo<'static> {
        RunInfo {
            pid,
            parent: 1,
            kind: RunKind::Wasm,
            name: "ab",
            state: if live {
                StateName::Exec
            } else {
                StateName::Done
            },
            wait: None,
            memory: 0,
            fuel: 10,
            exit: (!live).then_some(ExitView {
                kind: StatusKind::Ok,
                code: 0,
                message: "",
            }),
        }
    }

    /// Ticks until the queue is written out.
    fn drain<C: ConsoleClient>(console: &mut ConsoleService<C>, wire: &mut Wire) -> String {
        while console.next_tick().is_some() {
            console.tick(wire);
        }
        wire.text()
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

    /// A client with a prompt and a typed line, like the shell: `busy` means no line is shown;
    /// `fg` is its foreground run, which Ctrl-C kills (or only stops waiting for, `wait`).
    #[derive(Default)]
    struct Prompt {
        typed: String,
        busy: bool,
        fg: Option<Pid>,
        wait: bool,
        exited: Vec<(Pid, String)>,
    }
    impl ConsoleClient for Prompt {
        fn attach(&mut self, host: &mut dyn Host) {
            host.console_write(b"> ");
        }
        fn input(&mut self, bytes: &[u8], host: &mut dyn Host) {
            if let (Some(pid), [INTERRUPT]) = (self.fg, bytes) {
                if !self.wait {
                    host.kill(pid).unwrap();
                }
                host.console_write(b"^C\n> ");
                (self.fg, self.busy) = (None, false);
                return;
            }
            self.typed.push_str(core::str::from_utf8(bytes).unwrap());
            host.console_write(bytes);
        }
        fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
            let status = std::format!("{}", run.exit.unwrap());
            host.console_write(std::format!("[{}] {status}\n", run.pid).as_bytes());
            self.exited.push((run.pid, status));
            if self.fg == Some(run.pid) {
                (self.fg, self.busy) = (None, false);
            }
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
        fn foreground_run(&self) -> Option<Pid> {
            self.fg
        }
    }

    #[test]
    fn the_clocks_pass_through_unchanged() {
        let mut wire = Wire::default();
        let mut term = Terminal::default();
        let term = TerminalHost::new(&mut wire, &mut term);
        assert_eq!((term.clock_us(), term.cycles()), (7, 42));
    }

    #[test]
    fn newlines_become_crlf_on_the_wire() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.start(&mut wire);
        console.console_input(b"a\nb\n\nc", &mut wire);
        assert_eq!(wire.out, b"hi\r\n> a\r\nb\r\n\r\nc");
    }

    #[test]
    fn the_clients_bytes_pass_unchanged() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        let all: Vec<u8> = (0u8..=255).filter(|&b| b != b'\n').collect();
        console.console_input(&all, &mut wire);
        assert_eq!(wire.out, all, "the shell's own sequences are not escaped");
    }

    #[test]
    fn run_output_goes_through_the_line_discipline() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.run_output(3, 1, b"one\ntwo\n", &mut wire);
        console.run_output(3, 2, b"err\n", &mut wire);
        console.run_output(3, 1, b"", &mut wire);
        assert_eq!(wire.text(), "", "it waits for the console's tick");
        assert_eq!(drain(&mut console, &mut wire), "one\r\ntwo\r\nerr\r\n");
    }

    #[test]
    fn run_output_cannot_drive_the_terminal() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.run_output(3, 1, b"\x1b[2J\x1b[H\x07x\x08\x7f\r\x9b", &mut wire);
        console.run_output(3, 1, b"\xc3\xa9\xc2", &mut wire);
        console.run_output(3, 1, b"\xa9\r", &mut wire);
        console.run_output(3, 1, b"\n", &mut wire);
        assert_eq!(
            drain(&mut console, &mut wire),
            "^[[2J^[[H^Gx^H^?^M\\x9bé©\r\n"
        );
        // What a run left unfinished is shown when it ends.
        console.run_output(4, 1, b"\xe2\x82", &mut wire);
        console.run_exited(&info(4, false), &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "\\xe2\\x82");
    }

    #[test]
    fn run_output_hides_and_redraws_a_typed_line() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt::default());
        console.start(&mut wire);
        console.console_input(b"ech", &mut wire);
        console.run_output(3, 1, b"tick\n", &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "> ech<hide>tick\r\n> ech");
    }

    #[test]
    fn output_ending_mid_line_puts_the_redrawn_line_on_its_own_line() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt::default());
        console.console_input(b"ls", &mut wire);
        console.run_output(3, 1, b"50%", &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "ls<hide>50%\r\n> ls");
        // The redraw closed the partial line: the next output does not add another newline.
        console.run_output(3, 1, b"done\n", &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "<hide>done\r\n> ls");
    }

    #[test]
    fn a_run_cannot_leave_a_fake_prompt_to_type_after() {
        // In the background: the real prompt is redrawn on a line of its own.
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt::default());
        console.start(&mut wire);
        console.run_output(3, 1, b"zb:/> ", &mut wire);
        console.run_output(3, 1, b"\rzb:/> ", &mut wire);
        assert_eq!(
            drain(&mut console, &mut wire),
            "> <hide>zb:/> \r\n> <hide>^Mzb:/> \r\n> "
        );
        // In the foreground: its end is reported on a line of its own, then the prompt.
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            fg: Some(4),
            ..Default::default()
        });
        console.run_output(4, 1, b"zb:/> ", &mut wire);
        console.client.fg = None;
        console.run_exited(&info(4, false), &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "zb:/> \r\n[4] ok(0)\r\n");
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
            drain(&mut console, &mut wire),
            "ab",
            "a foreground run's partial lines are not broken"
        );
        console.run_exited(&info(4, false), &mut wire);
        assert_eq!(wire.text(), "\r\n[4] ok(0)\r\n");
        assert_eq!(console.client.exited, [(4, String::from("ok(0)"))]);
        // After a complete line, client output is not preceded by an extra newline.
        console.run_output(4, 1, b"x\n", &mut wire);
        console.console_input(b"y", &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "x\r\ny");
    }

    #[test]
    fn the_queue_is_bounded_drained_in_ticks_and_keeps_the_order() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            ..Default::default()
        });
        assert_eq!(console.output_room(), QUEUE_BYTES);
        assert_eq!(console.next_tick(), None, "nothing to write: no tick");
        console.run_output(5, 1, &[b'x'; 3000], &mut wire);
        assert_eq!(console.output_room(), QUEUE_BYTES - 3000);
        // The kernel hands over a whole write while there is room: the queue may pass its
        // size by one write, then takes nothing more.
        console.run_output(5, 1, &[b'y'; 3000], &mut wire);
        assert_eq!(console.output_room(), 0);
        assert_eq!(console.next_tick(), Some(0));
        console.tick(&mut wire);
        assert_eq!(wire.out.len(), DRAIN_MAX, "one tick writes its budget");
        assert_eq!(console.output_room(), 0);
        console.tick(&mut wire);
        console.tick(&mut wire);
        assert_eq!(console.output_room(), QUEUE_BYTES - (6000 - 3 * DRAIN_MAX));
        // The client's output waits behind the run's.
        console.run_exited(&info(5, false), &mut wire);
        let text = drain(&mut console, &mut wire);
        assert!(text.ends_with("yyy\r\n[5] ok(0)\r\n"), "{text:?}");
        assert_eq!(text.len(), 6000 + 13);
        // With the queue empty, the client writes at once.
        console.console_input(b"z", &mut wire);
        assert_eq!(wire.text(), "z");
    }

    #[test]
    fn ctrl_c_ends_a_flooding_run_and_drops_its_output() {
        let mut wire = Wire {
            live: std::vec![6, 7],
            ..Default::default()
        };
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            fg: Some(6),
            ..Default::default()
        });
        console.run_output(6, 1, &[b'f'; 6000], &mut wire);
        console.run_output(7, 1, b"background\n", &mut wire);
        console.tick(&mut wire);
        assert_eq!(wire.text().len(), DRAIN_MAX);
        assert_eq!(console.output_room(), 0);
        console.console_input(b"\x03", &mut wire);
        assert!(!wire.live.contains(&6), "the client killed it");
        assert_eq!(console.output_room(), QUEUE_BYTES - 12 - 6);
        // What it wrote before it ended, still in the kernel, is dropped too.
        console.run_output(6, 1, b"more", &mut wire);
        assert_eq!(drain(&mut console, &mut wire), "background\r\n^C\r\n> ");
        console.run_exited(&info(6, false), &mut wire);
        assert_eq!(wire.text(), "[6] ok(0)\r\n");
        // Stopping to wait for a run that goes on drops nothing.
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            fg: Some(7),
            wait: true,
            ..Default::default()
        });
        console.run_output(7, 1, b"kept\n", &mut wire);
        console.console_input(b"\x03", &mut wire);
        assert!(wire.live.contains(&7));
        console.run_output(7, 1, b"still\n", &mut wire);
        assert_eq!(
            drain(&mut console, &mut wire),
            "kept\r\n^C\r\n> <hide>still\r\n> "
        );
    }

    #[test]
    fn what_a_run_left_unread_goes_to_the_client_when_it_ends() {
        let mut wire = Wire {
            live: std::vec![6],
            ..Default::default()
        };
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            fg: Some(6),
            ..Default::default()
        });
        let read = |console: &mut ConsoleService<Prompt>, wire: &mut Wire| {
            let req = Request {
                id: 1,
                from: 6,
                op: Op::Read {
                    handle: STDIN,
                    len: 64,
                },
            };
            match console.request(req, wire) {
                Answer::Now(Reply::Data(d)) => String::from_utf8(d.to_vec()).unwrap(),
                _ => panic!("the read waits"),
            }
        };
        console.console_input(b"for the run\r", &mut wire);
        assert_eq!(read(&mut console, &mut wire), "for the run\n");
        // Typed ahead, never read: a whole line and a partial one.
        console.console_input(b"ls -l\rech\x7fho", &mut wire);
        assert_eq!(console.client.typed, "", "the run has the terminal");
        console.run_exited(&info(6, false), &mut wire);
        assert_eq!(console.client.typed, "ls -l\necho");
        assert_eq!(
            drain(&mut console, &mut wire),
            "for the run\r\nls -l\r\nech\x08 \x08ho\r\n[6] ok(0)\r\nls -l\r\necho"
        );
        // Ctrl-C drops what was typed ahead.
        let mut console = ConsoleService::new(Prompt {
            busy: true,
            fg: Some(7),
            wait: true,
            ..Default::default()
        });
        console.console_input(b"rm x\r\x03", &mut wire);
        console.run_exited(&info(7, false), &mut wire);
        assert_eq!(console.client.typed, "");
    }

    #[test]
    fn console_stdout_writes_wait_while_the_queue_is_full() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        let write = |console: &mut ConsoleService<Echo>, wire: &mut Wire, id, data| {
            let req = Request {
                id,
                from: 8,
                op: Op::Write {
                    handle: STDOUT,
                    data,
                },
            };
            matches!(console.request(req, wire), Answer::Now(Reply::Done(_)))
        };
        assert!(write(&mut console, &mut wire, 1, &[b'a'; 100]));
        assert!(!write(&mut console, &mut wire, 2, &[b'b'; QUEUE_BYTES]));
        assert_eq!(wire.replies, []);
        console.tick(&mut wire);
        assert_eq!(wire.replies, [(2, QUEUE_BYTES as u64)]);
        assert_eq!(drain(&mut console, &mut wire).len(), 100 + QUEUE_BYTES);
    }

    #[test]
    fn the_queue_is_written_out_before_the_machine_stops() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.run_output(3, 1, b"last words\n", &mut wire);
        let mut host = TerminalHost::new(&mut wire, &mut console.term);
        host.console_write(b"bye\n");
        host.power(PowerAction::Shutdown);
        assert_eq!(wire.powered_off_after, Some(17));
        assert_eq!(wire.text(), "last words\r\nbye\r\n");
    }
}
