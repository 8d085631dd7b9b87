//! The run table: every run and native service by pid, with its parent, name, state and task
//! (which holds the run's capability table, arguments and grants: what its calls see), and the
//! finished runs kept for `ps` and `wait`.
//!
//! Invariants:
//! - Pids are handed out in increasing order and never reused while the system is up.
//! - A run's `task` is `Some` exactly while it is a live wasm run (not DONE); a finished run
//!   keeps only what `ps` and `wait` need (name, status, CPU use).
//! - At most `max_done` finished runs are kept; beyond that the oldest are forgotten (reaped),
//!   so a program that spawns children and never waits cannot fill memory.
//! - Every run's parent is a pid in the table or [`CONSOLE_PID`]: orphans are re-parented.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;

use zb_abi::runs::CONSOLE_PID;
use zb_abi::syscall::StatusKind;
use zb_abi::{Error, ExitView, Pid, RunInfo, RunKind, StateName, WaitOn};

use crate::run::{ExitStatus, RunState, WaitReason};
use crate::task::{Syscall, Task};

/// One run (or native service).
pub struct Run {
    pub pid: Pid,
    pub parent: Pid,
    pub name: String,
    pub kind: RunKind,
    pub state: RunState,
    /// The boot-image path of its program while the run is live (its compiled code is kept
    /// at least that long).
    pub program: Option<&'static str>,
    /// The executing code, with the run's handles, arguments and grants
    /// ([`crate::task::RunData`]); `Some` while a wasm run is live.
    pub task: Option<Task>,
    /// The blocking call the run is parked in; retried when the run is woken.
    pub parked: Option<Syscall>,
    /// The result the run's pending host call resumes with.
    pub reply: i64,
    /// CPU use in fuel units (kept after the task is gone).
    pub fuel: u64,
}

impl Run {
    pub fn is_live(&self) -> bool {
        !self.state.is_done()
    }

    /// The `ps` row for this run.
    pub fn info(&self) -> RunInfo<'_> {
        let (state, wait) = match &self.state {
            RunState::Init(_) => (StateName::Init, None),
            RunState::Exec(_) => (StateName::Exec, None),
            RunState::Done(_) => (StateName::Done, None),
            RunState::Wait(w) => (
                StateName::Wait,
                Some(match *w.reason() {
                    WaitReason::Ready => WaitOn::Ready,
                    WaitReason::Sleep { until_us } => WaitOn::Sleep { until_us },
                    WaitReason::Channel { .. } => WaitOn::Channel,
                    WaitReason::Child { pid } => WaitOn::Child { pid },
                    WaitReason::Input => WaitOn::Input,
                    WaitReason::Reply { .. } => WaitOn::Reply,
                    WaitReason::Commit => WaitOn::Commit,
                    WaitReason::Event { .. } => WaitOn::Event,
                    WaitReason::Output => WaitOn::Output,
                }),
            ),
        };
        RunInfo {
            pid: self.pid,
            parent: self.parent,
            kind: self.kind,
            name: &self.name,
            state,
            wait,
            memory: self.task.as_ref().map_or(0, |t| t.memory().len()),
            fuel: self.task.as_ref().map_or(self.fuel, Task::fuel_used),
            exit: self.state.status().map(exit_view),
        }
    }
}

/// The ABI view of an exit status.
pub fn exit_view(status: &ExitStatus) -> ExitView<'_> {
    let (kind, code, message) = match status {
        ExitStatus::Ok(code) => (StatusKind::Ok, *code, ""),
        ExitStatus::Panic(m) => (StatusKind::Panic, 0, m.as_str()),
        ExitStatus::Invalid(m) => (StatusKind::Invalid, 0, m.as_str()),
        ExitStatus::Rejected(m) => (StatusKind::Rejected, 0, m.as_str()),
    };
    ExitView {
        kind,
        code,
        message,
    }
}

pub struct RunTable {
    /// Boxed, so that the map's nodes stay small and inserting or removing moves pointers.
    runs: BTreeMap<Pid, Box<Run>>,
    next_pid: Pid,
    /// Finished runs, oldest first.
    done: VecDeque<Pid>,
    max_done: usize,
}

impl RunTable {
    pub fn new(max_done: usize) -> Self {
        RunTable {
            runs: BTreeMap::new(),
            next_pid: CONSOLE_PID,
            done: VecDeque::new(),
            max_done,
        }
    }

    /// Adds a run in `state` and returns its pid.
    pub fn insert(&mut self, mut run: Run) -> Pid {
        let pid = self.next_pid;
        // u32 pids last 136 years at one spawn per millisecond; wrapping would only skip
        // pids still in use.
        self.next_pid = self.next_pid.wrapping_add(1).max(CONSOLE_PID + 1);
        run.pid = pid;
        if run.state.is_done() {
            self.done.push_back(pid);
        }
        self.runs.insert(pid, Box::new(run));
        self.evict();
        pid
    }

    pub fn get(&self, pid: Pid) -> Option<&Run> {
        self.runs.get(&pid).map(|r| &**r)
    }

    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Run> {
        self.runs.get_mut(&pid).map(|r| &mut **r)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Run> {
        self.runs.values().map(|r| &**r)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Run> {
        self.runs.values_mut().map(|r| &mut **r)
    }

    /// Live (not DONE) runs.
    pub fn live(&self) -> usize {
        self.runs.len() - self.done.len()
    }

    /// Live wasm runs (what `KernelConfig::max_runs` limits; native services do not count).
    pub fn live_runs(&self) -> usize {
        self.runs
            .values()
            .filter(|r| r.kind == zb_abi::RunKind::Wasm && r.is_live())
            .count()
    }

    /// Records that `pid` has just finished.
    pub fn mark_done(&mut self, pid: Pid) {
        if !self.done.contains(&pid) {
            self.done.push_back(pid);
        }
        self.evict();
    }

    /// Removes a finished run (its parent has collected the status).
    pub fn reap(&mut self, pid: Pid) -> Option<Run> {
        if !self.runs.get(&pid)?.state.is_done() {
            return None;
        }
        self.done.retain(|&p| p != pid);
        self.runs.remove(&pid).map(|r| *r)
    }

    /// Gives every child of `pid` to [`CONSOLE_PID`].
    pub fn reparent_children(&mut self, pid: Pid) {
        for run in self.runs.values_mut() {
            if run.parent == pid && run.pid != CONSOLE_PID {
                run.parent = CONSOLE_PID;
            }
        }
    }

    /// Forgets the oldest finished runs beyond `max_done` — except those whose parent is a
    /// live run that may still `wait` for them (its share of children bounds how many).
    fn evict(&mut self) {
        while self.done.len() > self.max_done {
            let awaited = |pid: &Pid| {
                let parent = self.runs.get(pid).map(|r| r.parent);
                parent
                    .and_then(|p| self.runs.get(&p))
                    .is_some_and(|p| p.kind == zb_abi::RunKind::Wasm && p.is_live())
            };
            let Some(i) = self.done.iter().position(|pid| !awaited(pid)) else {
                return;
            };
            if let Some(old) = self.done.remove(i) {
                self.runs.remove(&old);
            }
        }
    }
}

/// The task of run `pid`, if it is a live wasm run.
pub(crate) fn live(runs: &mut RunTable, pid: Pid) -> Result<&mut Task, Error> {
    runs.get_mut(pid)
        .and_then(|r| r.task.as_mut())
        .ok_or(Error::BadHandle)
}
