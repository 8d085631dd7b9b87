//! The subscription table: which subscriptions an event's subject goes to.
//!
//! Plain subscriptions get every event whose subject matches their pattern; a queue group
//! (subscriptions sharing a queue name and pattern) gets each matching event once, at one member
//! chosen round robin.
//!
//! Invariants: a [`SubId`] is a slot index plus the slot's generation, so an id that outlived
//! its subscription is an error, never another subscription; the table never grows past the
//! limit it was made with.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::subject::{SubjectError, check_pattern, matches};

/// A subscription's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubId {
    pub index: u32,
    pub generation: u32,
}

/// Why the router said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusError {
    /// The table is full.
    Full,
    /// The id names no live subscription.
    Stale,
    Subject(SubjectError),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::Full => f.write_str("too many subscriptions"),
            BusError::Stale => f.write_str("no such subscription"),
            BusError::Subject(e) => write!(f, "{e}"),
        }
    }
}

struct Entry {
    pattern: String,
    queue: Option<String>,
    owner: u32,
}

struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// The subscription table.
pub struct Router {
    slots: Vec<Slot>,
    max: usize,
    /// Round-robin position of each queue group, by (pattern, queue): the member index to
    /// start the next search at.
    cursors: Vec<(String, String, u32)>,
}

impl Router {
    /// A table of at most `max` subscriptions.
    pub fn new(max: usize) -> Router {
        Router {
            slots: Vec::new(),
            max,
            cursors: Vec::new(),
        }
    }

    /// Subscribes `owner` to `pattern`, in queue group `queue` if given.
    pub fn subscribe(
        &mut self,
        pattern: &str,
        queue: Option<&str>,
        owner: u32,
    ) -> Result<SubId, BusError> {
        check_pattern(pattern).map_err(BusError::Subject)?;
        let entry = Entry {
            pattern: String::from(pattern),
            queue: queue.map(String::from),
            owner,
        };
        if let Some(index) = self.slots.iter().position(|s| s.entry.is_none()) {
            let slot = &mut self.slots[index];
            slot.generation = slot.generation.wrapping_add(1);
            slot.entry = Some(entry);
            return Ok(SubId {
                index: index as u32,
                generation: slot.generation,
            });
        }
        if self.slots.len() >= self.max {
            return Err(BusError::Full);
        }
        self.slots.push(Slot {
            generation: 0,
            entry: Some(entry),
        });
        Ok(SubId {
            index: (self.slots.len() - 1) as u32,
            generation: 0,
        })
    }

    /// Ends subscription `id`.
    pub fn unsubscribe(&mut self, id: SubId) -> Result<(), BusError> {
        match self.slots.get_mut(id.index as usize) {
            Some(slot) if slot.generation == id.generation && slot.entry.is_some() => {
                slot.entry = None;
                Ok(())
            }
            _ => Err(BusError::Stale),
        }
    }

    /// Ends every subscription of `owner`.
    pub fn unsubscribe_owner(&mut self, owner: u32) {
        for slot in &mut self.slots {
            if slot.entry.as_ref().is_some_and(|e| e.owner == owner) {
                slot.entry = None;
            }
        }
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.entry.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends to `out` the subscriptions an event on `subject` goes to: every matching plain
    /// subscription, and one member of every matching queue group.
    pub fn route(&mut self, subject: &str, out: &mut Vec<SubId>) {
        // Groups already served for this event: (pattern, queue).
        let mut served: Vec<(&str, &str)> = Vec::new();
        let mut picks: Vec<(String, String, u32)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(e) = &slot.entry else { continue };
            if !matches(&e.pattern, subject) {
                continue;
            }
            let id = SubId {
                index: i as u32,
                generation: slot.generation,
            };
            let Some(queue) = e.queue.as_deref() else {
                out.push(id);
                continue;
            };
            if served.contains(&(e.pattern.as_str(), queue)) {
                continue;
            }
            served.push((e.pattern.as_str(), queue));
            // The group's members, in slot order; the next one after the last pick.
            let members: Vec<u32> = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.entry.as_ref().is_some_and(|m| {
                        m.pattern == e.pattern && m.queue.as_deref() == Some(queue)
                    })
                })
                .map(|(j, _)| j as u32)
                .collect();
            let last = self
                .cursors
                .iter()
                .find(|(p, q, _)| *p == e.pattern && q == queue)
                .map(|c| c.2);
            let pick = match last {
                Some(last) => members
                    .iter()
                    .copied()
                    .find(|&j| j > last)
                    .or_else(|| members.first().copied()),
                None => members.first().copied(),
            };
            if let Some(j) = pick {
                out.push(SubId {
                    index: j,
                    generation: self.slots[j as usize].generation,
                });
                picks.push((e.pattern.clone(), String::from(queue), j));
            }
        }
        for (pattern, queue, j) in picks {
            match self
                .cursors
                .iter_mut()
                .find(|(p, q, _)| *p == pattern && *q == queue)
            {
                Some(c) => c.2 = j,
                None => self.cursors.push((pattern, queue, j)),
            }
        }
        // Groups with no members left need no position.
        let slots = &self.slots;
        self.cursors.retain(|(p, q, _)| {
            slots.iter().any(|s| {
                s.entry
                    .as_ref()
                    .is_some_and(|e| e.pattern == *p && e.queue.as_deref() == Some(q.as_str()))
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(r: &mut Router, subject: &str) -> Vec<SubId> {
        let mut out = Vec::new();
        r.route(subject, &mut out);
        out
    }

    #[test]
    fn plain_subscribers_all_get_matching_events() {
        let mut r = Router::new(8);
        let a = r.subscribe("ledger.>", None, 1).unwrap();
        let b = r.subscribe("ledger.*.changed", None, 2).unwrap();
        let _c = r.subscribe("sensors.>", None, 3).unwrap();
        assert_eq!(routed(&mut r, "ledger.balance.changed"), [a, b]);
        assert_eq!(routed(&mut r, "ledger.transfer.requested"), [a]);
        assert_eq!(routed(&mut r, "other"), []);
    }

    #[test]
    fn a_queue_group_spreads_events_round_robin_one_member_each() {
        let mut r = Router::new(8);
        let w1 = r.subscribe("jobs.>", Some("workers"), 1).unwrap();
        let w2 = r.subscribe("jobs.>", Some("workers"), 2).unwrap();
        let w3 = r.subscribe("jobs.>", Some("workers"), 3).unwrap();
        let watcher = r.subscribe("jobs.>", None, 4).unwrap();
        let other = r.subscribe("jobs.>", Some("auditors"), 5).unwrap();
        let mut counts = [0; 3];
        for _ in 0..9 {
            let got = routed(&mut r, "jobs.x");
            assert!(got.contains(&watcher) && got.contains(&other));
            let members: Vec<_> = got.iter().filter(|id| [w1, w2, w3].contains(id)).collect();
            assert_eq!(members.len(), 1, "exactly one worker: {got:?}");
            counts[[w1, w2, w3].iter().position(|w| w == members[0]).unwrap()] += 1;
        }
        assert_eq!(counts, [3, 3, 3]);
        // A member leaving: the others share the work.
        r.unsubscribe(w2).unwrap();
        for _ in 0..4 {
            let got = routed(&mut r, "jobs.y");
            assert!(!got.contains(&w2));
        }
    }

    #[test]
    fn ids_are_generation_checked_and_the_table_is_bounded() {
        let mut r = Router::new(2);
        let a = r.subscribe("a", None, 1).unwrap();
        let _b = r.subscribe("b", None, 1).unwrap();
        assert_eq!(r.subscribe("c", None, 1), Err(BusError::Full));
        r.unsubscribe(a).unwrap();
        assert_eq!(r.unsubscribe(a), Err(BusError::Stale));
        let c = r.subscribe("c", None, 2).unwrap();
        assert_eq!(c.index, a.index);
        assert_ne!(c, a, "a reused slot has a new generation");
        assert_eq!(r.unsubscribe(a), Err(BusError::Stale));
        r.unsubscribe_owner(1);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.subscribe("a.>.b", None, 1),
            Err(BusError::Subject(SubjectError::MisplacedWildcard))
        );
    }
}
