//! The scheduler's queues: who runs next, who sleeps until when.
//!
//! Cooperative and fair: runs are dispatched round-robin from one FIFO ready queue, each for
//! one fuel slice; a run that used its slice goes to the back. Sleepers wait in deadline order
//! and are moved to the ready queue by [`Scheduler::wake_expired`]. When nothing is ready, the
//! kernel idles the CPU until [`Scheduler::next_deadline`] (or any interrupt).
//!
//! Invariants: a pid is in at most one place (ready queue or sleepers); `ready` has no
//! duplicates; sleepers are ordered by (deadline, pid), so equal deadlines wake in pid order.

use alloc::collections::{BTreeSet, VecDeque};

pub type Pid = u32;

#[derive(Default)]
pub struct Scheduler {
    ready: VecDeque<Pid>,
    sleepers: BTreeSet<(u64, Pid)>,
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `pid` at the back of the ready queue (no-op if it is already queued).
    pub fn make_ready(&mut self, pid: Pid) {
        self.cancel_sleep(pid);
        if !self.ready.contains(&pid) {
            self.ready.push_back(pid);
        }
    }

    /// The next run to dispatch.
    pub fn dispatch_next(&mut self) -> Option<Pid> {
        self.ready.pop_front()
    }

    pub fn sleep_until(&mut self, pid: Pid, deadline_us: u64) {
        self.ready.retain(|&p| p != pid);
        self.cancel_sleep(pid);
        self.sleepers.insert((deadline_us, pid));
    }

    fn cancel_sleep(&mut self, pid: Pid) {
        if !self.sleepers.is_empty() {
            self.sleepers.retain(|&(_, p)| p != pid);
        }
    }

    /// Moves every sleeper whose deadline has passed to the ready queue.
    pub fn wake_expired(&mut self, now_us: u64) -> usize {
        let mut woken = 0;
        while let Some(&(deadline, pid)) = self.sleepers.first() {
            if deadline > now_us {
                break;
            }
            self.sleepers.pop_first();
            self.ready.push_back(pid);
            woken += 1;
        }
        woken
    }

    /// The earliest sleeper's deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.sleepers.first().map(|&(d, _)| d)
    }

    /// Forgets `pid` entirely (it ended or was killed).
    pub fn remove(&mut self, pid: Pid) {
        self.ready.retain(|&p| p != pid);
        self.cancel_sleep(pid);
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub fn is_queued(&self, pid: Pid) -> bool {
        self.ready.contains(&pid) || self.sleepers.iter().any(|&(_, p)| p == pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn round_robin_is_fair() {
        let mut s = Scheduler::new();
        for pid in 1..=3 {
            s.make_ready(pid);
        }
        let mut order = Vec::new();
        for _ in 0..9 {
            let pid = s.dispatch_next().unwrap();
            order.push(pid);
            s.make_ready(pid); // used its slice: back of the queue
        }
        assert_eq!(order, [1, 2, 3, 1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn no_duplicates_in_the_ready_queue() {
        let mut s = Scheduler::new();
        s.make_ready(1);
        s.make_ready(1);
        assert_eq!(s.dispatch_next(), Some(1));
        assert_eq!(s.dispatch_next(), None);
    }

    #[test]
    fn sleepers_wake_in_deadline_order_and_not_before() {
        let mut s = Scheduler::new();
        s.sleep_until(1, 300);
        s.sleep_until(2, 100);
        s.sleep_until(3, 100);
        assert_eq!(s.next_deadline(), Some(100));
        assert_eq!(s.wake_expired(99), 0);
        assert!(!s.has_ready());
        assert_eq!(s.wake_expired(100), 2);
        assert_eq!(
            (s.dispatch_next(), s.dispatch_next(), s.dispatch_next()),
            (Some(2), Some(3), None)
        );
        assert_eq!(s.wake_expired(1000), 1);
        assert_eq!(s.dispatch_next(), Some(1));
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_pid_is_in_one_place_only() {
        let mut s = Scheduler::new();
        s.make_ready(7);
        s.sleep_until(7, 50);
        assert_eq!(
            s.dispatch_next(),
            None,
            "sleeping removed it from the ready queue"
        );
        s.make_ready(7);
        assert_eq!(s.wake_expired(1000), 0, "waking early cancelled the sleep");
        assert_eq!(s.dispatch_next(), Some(7));
        s.sleep_until(7, 10);
        s.remove(7);
        assert!(!s.is_queued(7));
        assert_eq!(s.wake_expired(1000), 0);
    }
}
