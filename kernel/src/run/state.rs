//! The run lifecycle: `INIT → WAIT ⇄ EXEC → DONE`, with illegal transitions unrepresentable.
//!
//! Each state is its own type and each transition is a method that consumes the old state and
//! returns the new one, so code that holds a [`Done`] cannot make it run again, and nothing but
//! an [`Exec`] can finish with `ok` or `panic`. The one edge outside the loop is INIT → DONE, for
//! a run whose module never loaded: its type, [`LoadFailure`], only admits `invalid` and
//! `rejected`.

use alloc::string::String;

/// Why a run in WAIT is not executing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Runnable, in the ready queue.
    Ready,
    /// Blocked until a deadline (microseconds since boot).
    Sleep { until_us: u64 },
    /// Blocked on a channel (by its kernel object index).
    Channel { channel: u32 },
    /// Blocked until a child run ends.
    Child { pid: u32 },
    /// A native service with nothing to do until input arrives.
    Input,
    /// Waiting for a scheme handler's reply to request `request`.
    Reply { request: u32 },
    /// An `emit` waiting for the group commit that makes its event durable.
    Commit,
    /// A `next` waiting for an event on subscription `sub`.
    Event { sub: u32 },
    /// A `write` to stdout/stderr waiting for the console to take the run's earlier output.
    Output,
}

/// How a run ended: exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The run returned or called `exit(code)`.
    Ok(i32),
    /// The wasm code trapped; the trap message is kept.
    Panic(String),
    /// The module, or the run's use of the ABI, is malformed.
    Invalid(String),
    /// A capability or a limit said no (this includes being killed).
    Rejected(String),
}

impl core::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExitStatus::Ok(code) => write!(f, "ok({code})"),
            ExitStatus::Panic(msg) => write!(f, "panic: {msg}"),
            ExitStatus::Invalid(msg) => write!(f, "invalid: {msg}"),
            ExitStatus::Rejected(msg) => write!(f, "rejected: {msg}"),
        }
    }
}

/// Why a run never started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadFailure {
    Invalid(String),
    Rejected(String),
}

// The fields are private so that a state value can only be made by a transition from the
// state before it (or `Init::new` for a fresh run): holding an `Exec` proves the run was
// dispatched, holding a `Done` proves it went through a finishing edge.

/// Created, module not yet admitted.
#[derive(Debug, PartialEq, Eq)]
pub struct Init(());

/// Not executing (runnable or blocked).
#[derive(Debug, PartialEq, Eq)]
pub struct Wait {
    reason: WaitReason,
}

/// Executing on the CPU.
#[derive(Debug, PartialEq, Eq)]
pub struct Exec(());

/// Finished; the status is final.
#[derive(Debug, PartialEq, Eq)]
pub struct Done {
    status: ExitStatus,
}

impl Wait {
    pub fn reason(&self) -> &WaitReason {
        &self.reason
    }
}

impl Done {
    pub fn status(&self) -> &ExitStatus {
        &self.status
    }
}

impl Init {
    /// A new run, before its module is loaded.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Init {
        Init(())
    }

    /// The module loaded and the run may be scheduled.
    pub fn admit(self) -> Wait {
        Wait {
            reason: WaitReason::Ready,
        }
    }

    /// The module did not load (or a limit refused it).
    pub fn fail(self, why: LoadFailure) -> Done {
        let status = match why {
            LoadFailure::Invalid(m) => ExitStatus::Invalid(m),
            LoadFailure::Rejected(m) => ExitStatus::Rejected(m),
        };
        Done { status }
    }
}

impl Wait {
    /// The scheduler picks this run.
    pub fn dispatch(self) -> Exec {
        Exec(())
    }

    /// The run is stopped from outside (killed) while not executing.
    pub fn kill(self, status: ExitStatus) -> Done {
        Done { status }
    }

    /// The awaited event happened: back to the ready queue.
    pub fn wake(self) -> Wait {
        Wait {
            reason: WaitReason::Ready,
        }
    }
}

impl Exec {
    /// The run used up its fuel slice or yielded.
    pub fn preempt(self) -> Wait {
        Wait {
            reason: WaitReason::Ready,
        }
    }

    /// The run made a blocking host call.
    pub fn block(self, reason: WaitReason) -> Wait {
        Wait { reason }
    }

    pub fn finish(self, status: ExitStatus) -> Done {
        Done { status }
    }
}

/// A run's state as stored in the run table.
#[derive(Debug, PartialEq, Eq)]
pub enum RunState {
    Init(Init),
    Wait(Wait),
    Exec(Exec),
    Done(Done),
}

impl RunState {
    /// The name `ps` shows.
    pub fn name(&self) -> &'static str {
        match self {
            RunState::Init(_) => "INIT",
            RunState::Wait(_) => "WAIT",
            RunState::Exec(_) => "EXEC",
            RunState::Done(_) => "DONE",
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, RunState::Done(_))
    }

    /// Moves the state out, leaving a placeholder the caller must overwrite (used to apply a
    /// consuming transition to a state stored in a table).
    pub fn take(&mut self) -> RunState {
        core::mem::replace(self, RunState::Init(Init(())))
    }

    pub fn status(&self) -> Option<&ExitStatus> {
        match self {
            RunState::Done(d) => Some(&d.status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn the_normal_life_of_a_run() {
        let wait = Init::new().admit();
        assert_eq!(wait.reason, WaitReason::Ready);
        let exec = wait.dispatch();
        let wait = exec.block(WaitReason::Sleep { until_us: 5 });
        assert_eq!(wait.reason, WaitReason::Sleep { until_us: 5 });
        let exec = wait.wake().dispatch();
        let exec = exec.preempt().dispatch();
        let done = exec.finish(ExitStatus::Ok(0));
        assert_eq!(RunState::Done(done).name(), "DONE");
    }

    #[test]
    fn a_module_that_never_loads_can_only_be_invalid_or_rejected() {
        let d = Init::new().fail(LoadFailure::Invalid("bad magic".into()));
        assert_eq!(d.status.to_string(), "invalid: bad magic");
        let d = Init::new().fail(LoadFailure::Rejected("memory limit".into()));
        assert_eq!(d.status.to_string(), "rejected: memory limit");
    }

    #[test]
    fn status_display() {
        assert_eq!(ExitStatus::Ok(3).to_string(), "ok(3)");
        assert_eq!(
            ExitStatus::Panic("unreachable".into()).to_string(),
            "panic: unreachable"
        );
        let s = RunState::Done(Done {
            status: ExitStatus::Ok(1),
        });
        assert_eq!(s.status(), Some(&ExitStatus::Ok(1)));
        assert!(s.is_done());
        assert_eq!(RunState::Init(Init::new()).status(), None);
    }
}
