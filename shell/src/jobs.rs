//! Job control: the runs the shell is waiting for, and how their ends are announced.
//!
//! Job: remember the *foreground* job (a run started with `run`, or one awaited with `wait`)
//! and the *background* jobs (runs started with `run … &`), so that when the kernel reports a
//! run's end ([`zb_abi::ConsoleClient::run_exited`]) the shell knows whether to print its
//! status and whether to give the prompt back.
//!
//! The kernel may finish a run before the shell starts tracking it (a module that fails to load
//! is DONE as soon as `spawn` returns, and a kill may end a run at once), and its exit report
//! then arrives after the shell already looked. So every place that starts tracking a pid first
//! asks [`Runs::runs`] whether it is DONE and, if so, announces it at once and does not track
//! it; a later report for an untracked pid is ignored. This makes every job's end announced
//! exactly once, whatever the order.
//!
//! A foreground job may be *timed* (`time run …`, `time wait …`): it carries the [`Timing`]
//! taken just before the command ran, and whatever ends it — its exit report, a kill seen at
//! once, Ctrl-C — writes the `time:` line right after the job's status line (or after `^C` when
//! it only stops waiting).
//!
//! Invariants:
//! - At most one foreground job. While there is one, the shell shows no prompt and edits no
//!   line.
//! - A pid is in the background list at most once. A foreground [`Mode::Run`] job is never in
//!   it; a background job being awaited with `wait` is in both, and its end is announced once,
//!   as the foreground's.
//! - [`Jobs::ended`] forgets the pid it reports, so no end is announced twice; runs the shell
//!   neither started nor waited for are never announced.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use zb_abi::fmt::Millis;
use zb_abi::{ExitView, Host, Pid, RunKind, Runs, StateName, System};

use crate::term::{Printable, PrintableText};

/// What Ctrl-C does to the foreground job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Started by `run`: Ctrl-C kills it.
    Run,
    /// Awaited by `wait`: Ctrl-C stops waiting and leaves it running.
    Wait,
    /// A program behind a shell command (`emit`, `sub`, `log`, `req` run the programs of those names): Ctrl-C kills
    /// it, and its end is announced only if it did not exit by itself (a program that exits
    /// has printed what the user needs).
    Command,
}

/// A run the shell tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub pid: Pid,
    /// Its name as the kernel reports it (or as typed, if the kernel did not list it).
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreground {
    pub job: Job,
    pub mode: Mode,
    /// Set by `time`: when the command that started the job began.
    pub timing: Option<Timing>,
}

impl Foreground {
    /// Writes the `time:` line if the job is timed.
    pub fn write_timing(&self, host: &dyn System, out: &mut String) {
        if let Some(timing) = &self.timing {
            timing.write(host, out);
        }
    }
}

/// The clocks when a `time`d command started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub start_us: u64,
    pub start_cycles: u64,
}

impl Timing {
    /// Reads both clocks now.
    pub fn start(host: &dyn System) -> Self {
        Timing {
            start_us: host.clock_us(),
            start_cycles: host.cycles(),
        }
    }

    /// Writes the time since [`Timing::start`]: `time: <ms> ms (<n> cycles)`, e.g.
    /// `time: 1.234 ms (2468013 cycles)`, on a line of its own.
    pub fn write(&self, host: &dyn System, out: &mut String) {
        let us = host.clock_us().saturating_sub(self.start_us);
        let cycles = host.cycles().wrapping_sub(self.start_cycles);
        let _ = writeln!(out, "time: {} ({cycles} cycles)", Millis(us));
    }
}

/// Which of the shell's jobs a finished pid was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The foreground job: announce it (and its time, if timed) and give the prompt back.
    Foreground(Foreground),
    /// A background job: announce it above the prompt.
    Background(Job),
    /// Not a job of the shell's: say nothing.
    Untracked,
}

/// The shell's jobs. See the module documentation for the invariants.
#[derive(Debug, Default)]
pub struct Jobs {
    foreground: Option<Foreground>,
    background: Vec<Job>,
}

impl Jobs {
    pub fn foreground(&self) -> Option<&Foreground> {
        self.foreground.as_ref()
    }

    /// The background jobs, oldest first.
    pub fn background(&self) -> &[Job] {
        &self.background
    }

    /// Makes `job` the foreground job, unless it has already ended: then its status line is
    /// written to `out` at once. Returns whether it became the foreground job.
    pub fn start_foreground(
        &mut self,
        host: &dyn Runs,
        job: Job,
        mode: Mode,
        out: &mut String,
    ) -> bool {
        if let Some(Snapshot {
            exit: Some(status), ..
        }) = lookup(host, job.pid)
        {
            self.forget_background(job.pid);
            write_status(out, job.pid, &job.name, &status);
            return false;
        }
        if mode != Mode::Wait {
            self.forget_background(job.pid);
        }
        self.foreground = Some(Foreground {
            job,
            mode,
            timing: None,
        });
        true
    }

    /// Times the foreground job (for `time`): its end will print the time since `timing`.
    /// Returns false, changing nothing, if there is no foreground job.
    pub fn time_foreground(&mut self, timing: Timing) -> bool {
        match &mut self.foreground {
            Some(fg) => {
                fg.timing = Some(timing);
                true
            }
            None => false,
        }
    }

    /// Stops treating the foreground job as such and returns it (a background job being
    /// awaited stays a background job).
    pub fn release_foreground(&mut self) -> Option<Foreground> {
        self.foreground.take()
    }

    /// Re-checks the foreground job after a kill: if it has ended (or is gone from the run
    /// table), writes its status line (and its time, if timed) and forgets it. Returns whether
    /// it is still running.
    pub fn recheck_foreground(&mut self, host: &dyn Host, out: &mut String) -> bool {
        let Some(fg) = &self.foreground else {
            return false;
        };
        let pid = fg.job.pid;
        let status = match lookup(host, pid) {
            Some(Snapshot { exit: None, .. }) => return true,
            Some(Snapshot {
                exit: Some(status), ..
            }) => status,
            None => String::from(GONE),
        };
        if let Some(fg) = self.foreground.take() {
            self.forget_background(pid);
            write_status(out, pid, &fg.job.name, &status);
            fg.write_timing(host, out);
        }
        false
    }

    /// Tracks `job` as a background job, writing `[<pid>] <name>`; if it has already ended,
    /// its status line follows at once and it is not tracked.
    pub fn start_background(&mut self, host: &dyn Runs, job: Job, out: &mut String) {
        let _ = writeln!(out, "[{}] {}", job.pid, Printable(&job.name));
        self.recheck_background(host, job, out);
    }

    /// Tracks `job` as a background job unless it has ended, in which case its status line is
    /// written now (and it is forgotten, if it was tracked).
    pub fn recheck_background(&mut self, host: &dyn Runs, job: Job, out: &mut String) {
        match lookup(host, job.pid) {
            Some(Snapshot {
                exit: Some(status), ..
            }) => {
                self.forget_background(job.pid);
                write_status(out, job.pid, &job.name, &status);
            }
            _ if self.background.iter().any(|j| j.pid == job.pid) => {}
            _ => self.background.push(job),
        }
    }

    /// The kernel reported that `pid` ended: which job it was. Forgets it.
    pub fn ended(&mut self, pid: Pid) -> Ended {
        let bg = self.forget_background(pid);
        match self.foreground.take() {
            Some(fg) if fg.job.pid == pid => Ended::Foreground(fg),
            other => {
                self.foreground = other;
                bg.map_or(Ended::Untracked, Ended::Background)
            }
        }
    }

    fn forget_background(&mut self, pid: Pid) -> Option<Job> {
        let i = self.background.iter().position(|j| j.pid == pid)?;
        Some(self.background.remove(i))
    }
}

/// The status shown for a tracked run that vanished from the run table without a report.
pub const GONE: &str = "status unknown (no longer listed)";

/// A run as the shell copies it out of [`Runs::runs`] (the kernel's view is only borrowed
/// during the visit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub pid: Pid,
    pub kind: RunKind,
    pub name: String,
    pub state: StateName,
    /// How it ended, as shown to the user (`ok(0)`, `panic: …`), once DONE.
    pub exit: Option<String>,
}

/// Looks `pid` up in the kernel's run table.
pub fn lookup(host: &dyn Runs, pid: Pid) -> Option<Snapshot> {
    let mut found = None;
    host.runs(&mut |r| {
        if r.pid == pid {
            found = Some(Snapshot {
                pid: r.pid,
                kind: r.kind,
                name: String::from(r.name),
                state: r.state,
                exit: (r.state == StateName::Done).then(|| exit_text(r.exit.as_ref())),
            });
        }
    });
    found
}

/// How a run ended, as shown to the user: [`ExitView`]'s `Display`, with control characters
/// escaped (a trap message must not be able to drive the terminal or break the line).
pub fn exit_text(exit: Option<&ExitView<'_>>) -> String {
    match exit {
        Some(e) => format!("{}", PrintableText(&format!("{e}"))),
        None => String::from("ended"),
    }
}

/// Writes a status line: `[<pid>] <name>: <status>`.
pub fn write_status(out: &mut String, pid: Pid, name: &str, status: &str) {
    let _ = writeln!(out, "[{pid}] {}: {status}", Printable(name));
}
