//! What the kernel tells services about runs: the rows of `ps` and how a run ended.
//!
//! These are borrowed views (no allocation), handed to a visitor by [`crate::Runs::runs`] and
//! to [`crate::NativeService::run_exited`].

use core::fmt;

use crate::syscall::StatusKind;

/// A run's id. Pids are never reused while the system is up.
pub type Pid = u32;

/// The pid of the console service (the shell's runs are its children, and orphans are
/// re-parented to it).
pub const CONSOLE_PID: Pid = 1;

/// A run's lifecycle state (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateName {
    Init,
    Wait,
    Exec,
    Done,
}

impl StateName {
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Init => "INIT",
            StateName::Wait => "WAIT",
            StateName::Exec => "EXEC",
            StateName::Done => "DONE",
        }
    }
}

/// What a run in WAIT is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOn {
    /// Runnable: waiting for the CPU (in the ready queue).
    Ready,
    /// Sleeping until this time (microseconds since boot).
    Sleep { until_us: u64 },
    /// Blocked sending to or receiving from a channel.
    Channel,
    /// Waiting for a child to end.
    Child { pid: Pid },
    /// A native service waiting for input.
    Input,
    /// Waiting for a scheme's handler to answer (a file read, a console read).
    Reply,
    /// An `emit` waiting until its event is durable.
    Commit,
    /// Waiting for the next event of a subscription.
    Event,
    /// Writing output faster than the console shows it: waiting for it to catch up.
    Output,
}

impl WaitOn {
    /// The short form `ps` and `proc://<pid>/status` show.
    pub fn write(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            WaitOn::Ready => out.write_str("ready"),
            WaitOn::Sleep { .. } => out.write_str("sleep"),
            WaitOn::Channel => out.write_str("chan"),
            WaitOn::Child { pid } => write!(out, "child {pid}"),
            WaitOn::Input => out.write_str("input"),
            WaitOn::Reply => out.write_str("io"),
            WaitOn::Commit => out.write_str("emit"),
            WaitOn::Event => out.write_str("event"),
            WaitOn::Output => out.write_str("output"),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitView<'a> {
    pub kind: StatusKind,
    /// The exit code (`ok` only; 0 otherwise).
    pub code: i32,
    /// The trap message or the reason (empty for `ok`).
    pub message: &'a str,
}

impl fmt::Display for ExitView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StatusKind::Ok => write!(f, "ok({})", self.code),
            StatusKind::Panic => write!(f, "panic: {}", self.message),
            StatusKind::Invalid => write!(f, "invalid: {}", self.message),
            StatusKind::Rejected => write!(f, "rejected: {}", self.message),
        }
    }
}

/// Whether an entry is a wasm run or a native service compiled into the kernel image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Wasm,
    Service,
}

/// One row of `ps`.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo<'a> {
    pub pid: Pid,
    pub parent: Pid,
    pub kind: RunKind,
    pub name: &'a str,
    pub state: StateName,
    /// Set when `state` is WAIT.
    pub wait: Option<WaitOn>,
    /// Linear memory in bytes (0 once DONE).
    pub memory: usize,
    /// CPU use in fuel units (about one per wasm instruction).
    pub fuel: u64,
    /// Set when `state` is DONE.
    pub exit: Option<ExitView<'a>>,
}

impl RunInfo<'_> {
    /// Writes the run as `proc://<pid>/status` shows it: one `key: value` per line, keys
    /// `pid ppid name kind state memory fuel`, then `wait` (in WAIT) or `exit` (DONE). Values
    /// never contain a newline (control characters become `?`).
    pub fn write_status(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "pid: {}", self.pid)?;
        writeln!(out, "ppid: {}", self.parent)?;
        write!(out, "name: ")?;
        one_line(out, self.name)?;
        let kind = match self.kind {
            RunKind::Wasm => "wasm",
            RunKind::Service => "service",
        };
        writeln!(out, "\nkind: {kind}")?;
        writeln!(out, "state: {}", self.state.as_str())?;
        writeln!(out, "memory: {}", self.memory)?;
        writeln!(out, "fuel: {}", self.fuel)?;
        if let Some(w) = self.wait {
            write!(out, "wait: ")?;
            w.write(out)?;
            writeln!(out)?;
        }
        if let Some(e) = &self.exit {
            let mut text = crate::fmt::FixedBuf::<160>::new();
            let _ = fmt::write(&mut text, format_args!("{e}"));
            write!(out, "exit: ")?;
            one_line(out, text.as_str())?;
            writeln!(out)?;
        }
        Ok(())
    }
}

/// Writes `s` with control characters replaced by `?`.
fn one_line(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    for c in s.chars() {
        out.write_char(if c.is_control() { '?' } else { c })?;
    }
    Ok(())
}

/// The value of `key` in `key: value` lines (as `proc://` and `mem://` files hold them).
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(": ")?;
        (k == key).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Buf([u8; 64], usize);
    impl fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    fn show(v: ExitView<'_>) -> ([u8; 64], usize) {
        let mut b = Buf([0; 64], 0);
        fmt::write(&mut b, format_args!("{v}")).unwrap();
        (b.0, b.1)
    }

    #[test]
    fn exit_views_display_as_ps_shows_them() {
        let (b, n) = show(ExitView {
            kind: StatusKind::Ok,
            code: 3,
            message: "",
        });
        assert_eq!(&b[..n], b"ok(3)");
        let (b, n) = show(ExitView {
            kind: StatusKind::Panic,
            code: 0,
            message: "unreachable",
        });
        assert_eq!(&b[..n], b"panic: unreachable");
        let (b, n) = show(ExitView {
            kind: StatusKind::Rejected,
            code: 0,
            message: "killed",
        });
        assert_eq!(&b[..n], b"rejected: killed");
    }
}
