//! Durable consumers: at-least-once delivery with acknowledgement, redelivery with backoff, and
//! a dead-letter subject.
//!
//! A [`Consumer`] does not hold events; it tracks sequence numbers in the journal. The kernel
//! asks it what to do ([`Consumer::poll`]): redeliver an event whose acknowledgement is
//! overdue or whose failure's backoff has passed, give one up (dead-letter it) after
//! `max_deliver` deliveries, or read the journal from [`Poll::ReadFrom`] for the next new
//! event. It tells the consumer what it delivered and what the subscriber answered.
//!
//! Invariants:
//! - An event that matched is delivered until it is acknowledged or dead-lettered: never
//!   skipped, never dropped silently.
//! - The ack floor (every sequence number below it is done) only moves forward; it is what
//!   survives a reboot ([`Consumer::state`]), so after one, events above it are delivered again
//!   (at least once).
//! - An ack or nak of a sequence number that is not in flight is an error value
//!   ([`AckError`]), never a panic; the number of events in flight is bounded.

use alloc::string::String;
use alloc::vec::Vec;

/// Settings of a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// A delivery not acknowledged within this is redelivered.
    pub ack_wait_us: u64,
    /// After a failure (nak), the first redelivery waits this long; each further one twice as
    /// long, up to `backoff_max_us`.
    pub backoff_base_us: u64,
    pub backoff_max_us: u64,
    /// Deliveries before an event is given up to the dead-letter subject.
    pub max_deliver: u32,
    /// Most events in flight (delivered, not yet acknowledged).
    pub max_pending: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            ack_wait_us: 30_000_000,
            backoff_base_us: 100_000,
            backoff_max_us: 10_000_000,
            max_deliver: 5,
            max_pending: 16,
        }
    }
}

/// An event in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    seq: u64,
    /// Deliveries so far.
    attempts: u32,
    /// When it is due again (its ack is overdue, or its backoff has passed).
    due_us: u64,
    /// Failed and waiting out its backoff (not with the subscriber).
    waiting: bool,
}

/// What the kernel should do for a consumer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Deliver event `seq` again (delivery number `attempt`).
    Redeliver { seq: u64, attempt: u32 },
    /// Give event `seq` up: publish it to the dead-letter subject; it is done.
    DeadLetter { seq: u64, attempts: u32 },
    /// Read the journal from `seq` for the next event matching the pattern and deliver it
    /// ([`Consumer::delivered`]), or report there is none ([`Consumer::caught_up`]).
    ReadFrom(u64),
    /// Nothing to do before [`Consumer::next_deadline`].
    Idle,
}

/// Why an ack or nak was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// That event is not in flight (never delivered, already acknowledged, or given up).
    NotInFlight,
}

/// What a consumer keeps across reboots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerState {
    /// Every event below this is done.
    pub ack_floor: u64,
}

/// A durable consumer. See the module documentation.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub name: String,
    pub pattern: String,
    config: ConsumerConfig,
    /// The next journal sequence number not yet looked at for new events.
    next_seq: u64,
    in_flight: Vec<InFlight>,
    /// Events were finished (acknowledged or given up) since [`Consumer::clear_settled`].
    settled: bool,
}

impl Consumer {
    /// A consumer that starts at `state`'s floor (a new one: at the sequence number it should
    /// first deliver).
    pub fn new(name: &str, pattern: &str, config: ConsumerConfig, state: ConsumerState) -> Self {
        Consumer {
            name: String::from(name),
            pattern: String::from(pattern),
            config,
            next_seq: state.ack_floor.max(1),
            in_flight: Vec::new(),
            settled: false,
        }
    }

    /// What to do now (see [`Poll`]). Due redeliveries and dead letters come first, oldest
    /// event first.
    pub fn poll(&mut self, now_us: u64) -> Poll {
        let due = self
            .in_flight
            .iter_mut()
            .filter(|f| f.due_us <= now_us)
            .min_by_key(|f| f.seq);
        if let Some(f) = due {
            if f.attempts >= self.config.max_deliver {
                let (seq, attempts) = (f.seq, f.attempts);
                self.in_flight.retain(|g| g.seq != seq);
                self.settled = true;
                return Poll::DeadLetter { seq, attempts };
            }
            f.attempts += 1;
            f.waiting = false;
            f.due_us = now_us.saturating_add(self.config.ack_wait_us);
            return Poll::Redeliver {
                seq: f.seq,
                attempt: f.attempts,
            };
        }
        if self.in_flight.len() < self.config.max_pending {
            Poll::ReadFrom(self.next_seq)
        } else {
            Poll::Idle
        }
    }

    /// New event `seq` (found reading from [`Poll::ReadFrom`]) was delivered.
    pub fn delivered(&mut self, seq: u64, now_us: u64) {
        if seq < self.next_seq || self.in_flight.iter().any(|f| f.seq == seq) {
            return;
        }
        self.next_seq = seq + 1;
        self.in_flight.push(InFlight {
            seq,
            attempts: 1,
            due_us: now_us.saturating_add(self.config.ack_wait_us),
            waiting: false,
        });
    }

    /// Reading from [`Poll::ReadFrom`] found nothing matching before `next`: look from there
    /// next time.
    pub fn caught_up(&mut self, next: u64) {
        self.next_seq = self.next_seq.max(next);
    }

    /// The subscriber finished event `seq`.
    pub fn ack(&mut self, seq: u64) -> Result<(), AckError> {
        let before = self.in_flight.len();
        self.in_flight.retain(|f| f.seq != seq || f.waiting);
        if self.in_flight.len() == before {
            return Err(AckError::NotInFlight);
        }
        self.settled = true;
        Ok(())
    }

    /// The subscriber failed event `seq`: it is redelivered after a backoff (or given up if it
    /// has had `max_deliver` deliveries).
    pub fn nak(&mut self, seq: u64, now_us: u64) -> Result<(), AckError> {
        let backoff = |attempts: u32| {
            let shift = attempts.saturating_sub(1).min(32);
            self.config
                .backoff_base_us
                .saturating_mul(1u64 << shift)
                .min(self.config.backoff_max_us)
        };
        let f = self
            .in_flight
            .iter_mut()
            .find(|f| f.seq == seq && !f.waiting)
            .ok_or(AckError::NotInFlight)?;
        f.waiting = true;
        f.due_us = now_us.saturating_add(backoff(f.attempts));
        Ok(())
    }

    /// When [`Consumer::poll`] next has something to do because of time (`None`: only a new
    /// event or an answer can change anything).
    pub fn next_deadline(&self) -> Option<u64> {
        self.in_flight.iter().map(|f| f.due_us).min()
    }

    /// Whether events were finished (acknowledged or given up) since the position was last
    /// recorded: a floor that moved for that is worth recording at once.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// The position was recorded.
    pub fn clear_settled(&mut self) {
        self.settled = false;
    }

    /// Events in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// What survives a reboot: everything below the oldest event in flight (or below the next
    /// one to read) is done.
    pub fn state(&self) -> ConsumerState {
        let floor = self
            .in_flight
            .iter()
            .map(|f| f.seq)
            .min()
            .unwrap_or(self.next_seq);
        ConsumerState { ack_floor: floor }
    }
}

/// The subject a consumer's given-up events are published to: `dlq.<consumer>.<subject>`.
pub fn dead_letter_subject(consumer: &str, subject: &str) -> String {
    let mut s = String::with_capacity(5 + consumer.len() + subject.len());
    s.push_str("dlq.");
    s.push_str(consumer);
    s.push('.');
    s.push_str(subject);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Property: whatever the subscriber and the clock do (deliveries, acks, naks, overdue
    /// redeliveries, dead letters, reboots from the recorded state), the ack floor never
    /// passes a matching event that was not acknowledged or given up, and never moves back.
    #[test]
    fn the_ack_floor_never_passes_an_unfinished_matching_event() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n.max(1)
        };
        for _round in 0..200 {
            // The journal: whether event `i + 1` matches the consumer's pattern.
            let mut journal: Vec<bool> = Vec::new();
            let mut done: Vec<u64> = Vec::new();
            let mut c = Consumer::new("p", ">", config(), ConsumerState { ack_floor: 1 });
            let mut now = 0u64;
            let mut floor = c.state().ack_floor;
            for _step in 0..300 {
                match next(7) {
                    0 => journal.push(next(3) != 0),
                    1 => match c.poll(now) {
                        Poll::ReadFrom(from) => {
                            let last = journal.len() as u64;
                            let found = (from..=last).find(|&s| journal[s as usize - 1]);
                            match found {
                                Some(seq) => c.delivered(seq, now),
                                None => c.caught_up(last + 1),
                            }
                        }
                        Poll::DeadLetter { seq, .. } => done.push(seq),
                        Poll::Redeliver { .. } | Poll::Idle => {}
                    },
                    2 | 3 => {
                        let seq = next(journal.len() as u64 + 2);
                        if c.ack(seq).is_ok() {
                            done.push(seq);
                        }
                    }
                    4 => {
                        let _ = c.nak(next(journal.len() as u64 + 2), now);
                    }
                    5 => now += next(1_500),
                    _ => {
                        // A reboot: only the recorded state survives.
                        c = Consumer::new("p", ">", config(), c.state());
                    }
                }
                let state = c.state().ack_floor;
                assert!(state >= floor, "the floor moved back: {floor} -> {state}");
                floor = state;
                for seq in 1..floor {
                    let matching = journal.get(seq as usize - 1).copied().unwrap_or(false);
                    assert!(
                        !matching || done.contains(&seq),
                        "floor {floor} passed unfinished event {seq}"
                    );
                }
            }
        }
    }

    fn config() -> ConsumerConfig {
        ConsumerConfig {
            ack_wait_us: 1_000,
            backoff_base_us: 100,
            backoff_max_us: 400,
            max_deliver: 3,
            max_pending: 2,
        }
    }

    fn fresh() -> Consumer {
        Consumer::new("w", "orders.>", config(), ConsumerState { ack_floor: 1 })
    }

    #[test]
    fn acked_events_are_done_and_the_floor_moves_forward() {
        let mut c = fresh();
        assert_eq!(c.poll(0), Poll::ReadFrom(1));
        c.delivered(3, 0);
        assert_eq!(c.state().ack_floor, 3);
        assert_eq!(c.poll(0), Poll::ReadFrom(4));
        c.delivered(5, 0);
        // Two in flight: the limit.
        assert_eq!(c.poll(0), Poll::Idle);
        c.ack(5).unwrap();
        assert_eq!(c.state().ack_floor, 3, "3 is still in flight");
        c.ack(3).unwrap();
        assert_eq!(c.state().ack_floor, 6);
        assert_eq!(c.ack(3), Err(AckError::NotInFlight));
        assert_eq!(c.ack(99), Err(AckError::NotInFlight));
        // Acknowledged events are never delivered again.
        assert_eq!(c.poll(10_000), Poll::ReadFrom(6));
        c.caught_up(9);
        assert_eq!(c.poll(10_000), Poll::ReadFrom(9));
        assert_eq!(c.state().ack_floor, 9);
    }

    #[test]
    fn failures_are_redelivered_with_growing_backoff_then_dead_lettered_once() {
        let mut c = fresh();
        c.delivered(1, 0);
        c.nak(1, 0).unwrap();
        assert_eq!(c.next_deadline(), Some(100));
        assert_eq!(c.poll(99), Poll::ReadFrom(2));
        assert_eq!(c.poll(100), Poll::Redeliver { seq: 1, attempt: 2 });
        c.nak(1, 100).unwrap();
        assert_eq!(c.next_deadline(), Some(300), "twice the wait");
        assert_eq!(c.poll(300), Poll::Redeliver { seq: 1, attempt: 3 });
        // A nak of an event that is waiting out its backoff, or twice, is refused.
        c.nak(1, 300).unwrap();
        assert_eq!(c.nak(1, 300), Err(AckError::NotInFlight));
        assert_eq!(c.ack(1), Err(AckError::NotInFlight));
        assert_eq!(
            c.poll(10_000),
            Poll::DeadLetter {
                seq: 1,
                attempts: 3
            }
        );
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.poll(10_000), Poll::ReadFrom(2), "given up exactly once");
        assert_eq!(c.state().ack_floor, 2);
    }

    #[test]
    fn an_unacknowledged_delivery_is_redelivered_after_the_ack_wait() {
        let mut c = fresh();
        c.delivered(4, 0);
        assert_eq!(c.poll(999), Poll::ReadFrom(5));
        assert_eq!(c.poll(1_000), Poll::Redeliver { seq: 4, attempt: 2 });
        c.ack(4).unwrap();
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn the_state_restores_a_consumer_where_it_was_done() {
        let mut c = fresh();
        c.delivered(2, 0);
        c.delivered(3, 0);
        c.ack(3).unwrap();
        let state = c.state();
        assert_eq!(state.ack_floor, 2);
        // After a reboot, 2 (unacknowledged) comes again: at least once.
        let mut again = Consumer::new("w", "orders.>", config(), state);
        assert_eq!(again.poll(0), Poll::ReadFrom(2));
        assert_eq!(dead_letter_subject("w", "orders.new"), "dlq.w.orders.new");
    }
}
