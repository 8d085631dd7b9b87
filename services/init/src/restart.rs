//! Restart decisions: a pure state machine, one per supervised run.
//!
//! init feeds a [`RestartState`] the run's life: [`RestartState::started`] when the run was
//! started, [`RestartState::exited`] when it ended, each with the current time in microseconds
//! (init's clock; nothing here reads one). `exited` answers with a [`Decision`]:
//!
//! - [`Decision::Done`] — the policy does not restart this exit: `never`, or `on-failure` and
//!   the run exited cleanly. The run is finished.
//! - [`Decision::Restart`] — start the run again after `after_us` microseconds.
//! - [`Decision::GiveUp`] — the policy would restart, but the rate limit is exhausted; init logs
//!   the [`GiveUpReason`] (its `Display` is the log text) and leaves the run stopped.
//!
//! Like Hubris's supervisor and systemd's `Restart=` with `StartLimitBurst`/`IntervalSec`:
//!
//! - **Backoff.** The first restart waits `backoff.initial_us`; each further restart doubles the
//!   wait, capped at `backoff.max_us`.
//! - **Reset.** A run that stayed up at least [`Backoff::stable_us`] (= [`STABLE_FACTOR`] × the
//!   initial backoff) before exiting counts as having been healthy: the wait goes back to the
//!   initial backoff. A run that crashes soon after every start keeps climbing to the cap.
//! - **Rate limit.** At most `limit.restarts` restarts within any `limit.window_us`: when an exit
//!   would need one more restart while that many happened within the last window, init gives
//!   up. The limit counts every restart, whether or not the run was stable in between, so a
//!   run that reliably dies after a while still trips it if it does so often enough.
//! - `always` restarts a clean exit too, with the same backoff and limit as a failure, so a
//!   short-lived program under `always` cannot spin.
//!
//! Once `Done` or `GiveUp` was returned the state is finished: further events are ignored and
//! `exited` answers `Done`, until [`RestartState::reset`] (e.g. a user restarting the run by
//! hand). A clock that goes backwards is treated as no time passing.

use alloc::collections::VecDeque;
use core::fmt;

/// A run that stays up this many times its initial backoff before exiting has its backoff
/// reset to the initial value.
pub const STABLE_FACTOR: u64 = 10;

/// When a run is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// Never: whatever the exit, the run stays stopped.
    Never,
    /// After a failure (trap, kill, nonzero exit); a clean exit ends the run.
    OnFailure,
    /// After any exit, clean or not.
    Always,
}

impl RestartMode {
    /// The manifest spelling: `never`, `on-failure`, `always`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartMode::Never => "never",
            RestartMode::OnFailure => "on-failure",
            RestartMode::Always => "always",
        }
    }

    /// Parses the manifest spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "never" => Some(RestartMode::Never),
            "on-failure" => Some(RestartMode::OnFailure),
            "always" => Some(RestartMode::Always),
            _ => None,
        }
    }
}

impl fmt::Display for RestartMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exponential backoff between restarts: `initial_us`, doubling, capped at `max_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial_us: u64,
    pub max_us: u64,
}

impl Backoff {
    /// The default: 100 ms doubling up to 5 s.
    pub const DEFAULT: Backoff = Backoff {
        initial_us: 100_000,
        max_us: 5_000_000,
    };

    /// How long a run must stay up for its backoff to reset: [`STABLE_FACTOR`] × initial.
    pub fn stable_us(&self) -> u64 {
        self.initial_us.saturating_mul(STABLE_FACTOR)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::DEFAULT
    }
}

/// At most `restarts` restarts within any `window_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub restarts: u32,
    pub window_us: u64,
}

impl RateLimit {
    /// The default: 5 restarts per 60 s.
    pub const DEFAULT: RateLimit = RateLimit {
        restarts: 5,
        window_us: 60_000_000,
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::DEFAULT
    }
}

impl fmt::Display for RateLimit {
    /// The manifest spelling, e.g. `5 per 1m` (durations in the largest exact unit).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.restarts, Micros(self.window_us))
    }
}

/// A run's whole restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    pub backoff: Backoff,
    pub limit: RateLimit,
}

impl RestartPolicy {
    /// `mode` with the default backoff and rate limit.
    pub const fn new(mode: RestartMode) -> Self {
        RestartPolicy {
            mode,
            backoff: Backoff::DEFAULT,
            limit: RateLimit::DEFAULT,
        }
    }
}

impl Default for RestartPolicy {
    /// `never` (with the default backoff and limit, unused).
    fn default() -> Self {
        RestartPolicy::new(RestartMode::Never)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A clean exit (status 0).
    Ok,
    /// A failure: nonzero status, trap, kill, resource limit.
    Failure,
}

/// What init does after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the run again after this many microseconds.
    Restart { after_us: u64 },
    /// The rate limit is exhausted: leave the run stopped and log the reason.
    GiveUp { reason: GiveUpReason },
    /// The policy does not restart this exit; the run is finished.
    Done,
}

/// Why init gave up on a run: it was restarted `restarts` times within `within_us` (the time
/// from the oldest of those restarts to the exit that would have needed one more), which
/// exhausts `limit`.
///
/// Its `Display` is the log text, e.g. `restarted 5 times in 2300ms (limit 5 per 1m)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GiveUpReason {
    pub restarts: u32,
    pub within_us: u64,
    pub limit: RateLimit,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let times = if self.restarts == 1 { "time" } else { "times" };
        write!(
            f,
            "restarted {} {} in {} (limit {})",
            self.restarts,
            times,
            Micros(self.within_us),
            self.limit
        )
    }
}

/// A duration in microseconds, displayed exactly in the largest unit that divides it, as the
/// manifest spells durations: `1h`, `2m`, `5s`, `100ms`, `250us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Micros(pub u64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us == 0 {
            return f.write_str("0s");
        }
        for (unit, scale) in [
            ("h", 3_600_000_000),
            ("m", 60_000_000),
            ("s", 1_000_000),
            ("ms", 1_000),
        ] {
            if us.is_multiple_of(scale) {
                return write!(f, "{}{}", us / scale, unit);
            }
        }
        write!(f, "{us}us")
    }
}

/// The restart bookkeeping for one run.
#[derive(Debug, Clone)]
pub struct RestartState {
    policy: RestartPolicy,
    /// The wait before the next restart.
    next_backoff_us: u64,
    /// When the current incarnation started, if it did.
    started_at: Option<u64>,
    /// Times of the restarts decided within the last window (oldest first); never more than
    /// `limit.restarts` entries.
    recent: VecDeque<u64>,
    finished: bool,
}

impl RestartState {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartState {
            policy,
            next_backoff_us: policy.backoff.initial_us,
            started_at: None,
            recent: VecDeque::new(),
            finished: false,
        }
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// The wait the next restart would get (before any stability reset).
    pub fn next_backoff_us(&self) -> u64 {
        self.next_backoff_us
    }

    /// Whether `Done` or `GiveUp` was returned (and no `reset` since).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Forgets the history: backoff back to initial, rate-limit window empty, not finished.
    pub fn reset(&mut self) {
        *self = RestartState::new(self.policy);
    }

    /// The run was started (first start or a restart) at `now_us`.
    pub fn started(&mut self, now_us: u64) {
        if !self.finished {
            self.started_at = Some(now_us);
        }
    }

    /// The run ended at `now_us` with `exit`: what now.
    pub fn exited(&mut self, now_us: u64, exit: Exit) -> Decision {
        if self.finished {
            return Decision::Done;
        }
        let started_at = self.started_at.take();
        let wants_restart = match self.policy.mode {
            RestartMode::Never => false,
            RestartMode::OnFailure => exit == Exit::Failure,
            RestartMode::Always => true,
        };
        if !wants_restart {
            self.finished = true;
            return Decision::Done;
        }

        // A run that stayed up long enough was healthy: start the backoff over.
        let backoff = self.policy.backoff;
        if let Some(start) = started_at
            && now_us.saturating_sub(start) >= backoff.stable_us()
        {
            self.next_backoff_us = backoff.initial_us;
        }

        // The rate limit: drop restarts that left the window, then check what remains.
        let limit = self.policy.limit;
        while let Some(&oldest) = self.recent.front() {
            if now_us.saturating_sub(oldest) >= limit.window_us {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= limit.restarts as usize {
            let oldest = self.recent.front().copied().unwrap_or(now_us);
            self.finished = true;
            return Decision::GiveUp {
                reason: GiveUpReason {
                    restarts: self.recent.len() as u32,
                    within_us: now_us.saturating_sub(oldest),
                    limit,
                },
            };
        }
        self.recent.push_back(now_us);

        let after_us = self.next_backoff_us;
        self.next_backoff_us = after_us.saturating_mul(2).min(backoff.max_us);
        Decision::Restart { after_us }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    const MS: u64 = 1_000;
    const S: u64 = 1_000_000;

    fn policy(mode: RestartMode) -> RestartPolicy {
        RestartPolicy {
            mode,
            backoff: Backoff {
                initial_us: 100 * MS,
                max_us: 5 * S,
            },
            limit: RateLimit {
                restarts: 5,
                window_us: 60 * S,
            },
        }
    }

    /// Starts at `t`, exits `up` later with `exit`; returns the decision and the exit time.
    fn cycle(st: &mut RestartState, t: u64, up: u64, exit: Exit) -> (Decision, u64) {
        st.started(t);
        (st.exited(t + up, exit), t + up)
    }

    #[test]
    fn never_is_done_on_any_exit() {
        for exit in [Exit::Ok, Exit::Failure] {
            let mut st = RestartState::new(policy(RestartMode::Never));
            st.started(0);
            assert_eq!(st.exited(10, exit), Decision::Done);
            assert!(st.is_finished());
        }
    }

    #[test]
    fn on_failure_restarts_failures_only() {
        let mut st = RestartState::new(policy(RestartMode::OnFailure));
        st.started(0);
        assert_eq!(
            st.exited(MS, Exit::Failure),
            Decision::Restart { after_us: 100 * MS }
        );
        st.started(200 * MS);
        assert_eq!(st.exited(300 * MS, Exit::Ok), Decision::Done);
        assert!(st.is_finished());
    }

    #[test]
    fn always_restarts_clean_exits_too() {
        let mut st = RestartState::new(policy(RestartMode::Always));
        let (d, _) = cycle(&mut st, 0, MS, Exit::Ok);
        assert_eq!(d, Decision::Restart { after_us: 100 * MS });
        let (d, _) = cycle(&mut st, S, MS, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 200 * MS });
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut p = policy(RestartMode::Always);
        p.limit.restarts = 100;
        let mut st = RestartState::new(p);
        let mut t = 0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            let (d, end) = cycle(&mut st, t, MS, Exit::Failure);
            let Decision::Restart { after_us } = d else {
                panic!("{d:?}")
            };
            waits.push(after_us / MS);
            t = end + after_us;
        }
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn backoff_cap_below_double_and_equal_bounds() {
        let mut p = policy(RestartMode::Always);
        p.backoff = Backoff {
            initial_us: 300 * MS,
            max_us: 300 * MS,
        };
        let mut st = RestartState::new(p);
        for i in 0..3 {
            let (d, _) = cycle(&mut st, i * 10 * MS, MS, Exit::Failure);
            assert_eq!(d, Decision::Restart { after_us: 300 * MS });
        }
    }

    #[test]
    fn backoff_resets_after_a_stable_run() {
        let mut st = RestartState::new(policy(RestartMode::OnFailure));
        assert_eq!(st.policy().backoff.stable_us(), S);
        let (d, t) = cycle(&mut st, 0, MS, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 100 * MS });
        let (d, t) = cycle(&mut st, t + 100 * MS, MS, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 200 * MS });
        // Up just short of 10 × initial: not stable, keeps growing.
        let (d, t) = cycle(&mut st, t + 200 * MS, S - 1, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 400 * MS });
        // Up exactly 10 × initial: stable, back to the initial wait, then growing again.
        let (d, t) = cycle(&mut st, t + 400 * MS, S, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 100 * MS });
        let (d, _) = cycle(&mut st, t + 100 * MS, MS, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 200 * MS });
    }

    #[test]
    fn rate_limit_gives_up_with_reason() {
        let mut st = RestartState::new(policy(RestartMode::OnFailure));
        let mut t = 0;
        for _ in 0..5 {
            let (d, end) = cycle(&mut st, t, 10 * MS, Exit::Failure);
            let Decision::Restart { after_us } = d else {
                panic!("{d:?}")
            };
            t = end + after_us;
        }
        // Exits at 10, 120, 330, 740, 1550 ms; the sixth failure comes at 3160 ms.
        let (d, end) = cycle(&mut st, t, 10 * MS, Exit::Failure);
        assert_eq!(end, 3160 * MS);
        let Decision::GiveUp { reason } = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            reason,
            GiveUpReason {
                restarts: 5,
                within_us: 3150 * MS,
                limit: RateLimit {
                    restarts: 5,
                    window_us: 60 * S
                },
            }
        );
        assert_eq!(
            format!("{reason}"),
            "restarted 5 times in 3150ms (limit 5 per 1m)"
        );
        assert!(st.is_finished());
        // Finished: further events change nothing.
        st.started(end + S);
        assert_eq!(st.exited(end + 2 * S, Exit::Failure), Decision::Done);
        // A manual reset starts over.
        st.reset();
        assert!(!st.is_finished());
        let (d, _) = cycle(&mut st, end + 3 * S, MS, Exit::Failure);
        assert_eq!(d, Decision::Restart { after_us: 100 * MS });
    }

    #[test]
    fn rate_limit_window_slides() {
        let mut p = policy(RestartMode::Always);
        p.limit = RateLimit {
            restarts: 2,
            window_us: 10 * S,
        };
        let mut st = RestartState::new(p);
        // Restarts at 0 s and 4 s; a third exit at 9 s is within 10 s of both: give up...
        let mut probe = st.clone();
        assert!(matches!(
            cycle(&mut st, 0, 0, Exit::Failure).0,
            Decision::Restart { .. }
        ));
        assert!(matches!(
            cycle(&mut st, 3 * S, S, Exit::Failure).0,
            Decision::Restart { .. }
        ));
        let mut st2 = st.clone();
        let Decision::GiveUp { reason } = cycle(&mut st, 8 * S, S, Exit::Failure).0 else {
            panic!()
        };
        assert_eq!(
            format!("{reason}"),
            "restarted 2 times in 9s (limit 2 per 10s)"
        );
        // ...but at 10 s the first restart has left the window: restart.
        assert!(matches!(
            cycle(&mut st2, 9 * S, S, Exit::Failure).0,
            Decision::Restart { .. }
        ));
        // A limit of one restart, said in the singular.
        probe.policy.limit.restarts = 1;
        cycle(&mut probe, 0, 0, Exit::Failure);
        let Decision::GiveUp { reason } = cycle(&mut probe, 0, 2 * S, Exit::Failure).0 else {
            panic!()
        };
        assert_eq!(
            format!("{reason}"),
            "restarted 1 time in 2s (limit 1 per 10s)"
        );
    }

    #[test]
    fn stable_runs_still_count_toward_the_limit() {
        let mut p = policy(RestartMode::OnFailure);
        p.limit = RateLimit {
            restarts: 3,
            window_us: 60 * S,
        };
        let mut st = RestartState::new(p);
        let mut t = 0;
        for _ in 0..3 {
            let (d, end) = cycle(&mut st, t, 5 * S, Exit::Failure);
            assert_eq!(d, Decision::Restart { after_us: 100 * MS });
            t = end + 100 * MS;
        }
        assert!(matches!(
            cycle(&mut st, t, 5 * S, Exit::Failure).0,
            Decision::GiveUp { .. }
        ));
    }

    #[test]
    fn odd_clocks_and_missing_starts_do_not_panic() {
        let mut p = policy(RestartMode::Always);
        p.backoff = Backoff {
            initial_us: u64::MAX / 2 + 1,
            max_us: u64::MAX,
        };
        p.limit.restarts = u32::MAX;
        let mut st = RestartState::new(p);
        // Exit without a start, a clock going backwards, times at the extremes.
        assert!(matches!(
            st.exited(u64::MAX, Exit::Failure),
            Decision::Restart { .. }
        ));
        st.started(u64::MAX);
        assert!(matches!(
            st.exited(0, Exit::Failure),
            Decision::Restart { .. }
        ));
        assert_eq!(st.next_backoff_us(), u64::MAX);
        assert!(matches!(
            st.exited(1, Exit::Ok),
            Decision::Restart { after_us: u64::MAX }
        ));
    }

    #[test]
    fn micros_display() {
        for (us, s) in [
            (0, "0s"),
            (7, "7us"),
            (1_500, "1500us"),
            (100 * MS, "100ms"),
            (1_500 * MS, "1500ms"),
            (5 * S, "5s"),
            (90 * S, "90s"),
            (120 * S, "2m"),
            (7200 * S, "2h"),
        ] {
            assert_eq!(format!("{}", Micros(us)), s);
        }
    }
}
