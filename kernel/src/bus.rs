//! The event bus (DESIGN.md §6): EMIT into the durable journal, and subscriptions reading it.
//!
//! - **Emit.** A run's event is checked ([`EventBus::check`]), queued, and committed together
//!   with every other event queued while runs were ready (group commit: one journal append,
//!   one flush). Its emitter is answered only after the journal said the batch is durable.
//! - **Subscriptions** are a pattern and a cursor into the journal. `next` reads forward from
//!   the cursor to the next event whose subject matches; a subscriber waiting in `next` is
//!   woken when a matching event is committed. A member of a queue group instead receives the
//!   sequence numbers the router assigns to it (one member per event).
//!
//! Invariants:
//! - An emitter's answer follows the durable append of its event (or is the append's error);
//!   nothing half-committed is ever delivered (events are routed only after the append).
//! - A subscription's cursor only moves forward: no event is delivered twice to it, and none
//!   that matches and is still in the journal is skipped.
//! - Everything is bounded: subscriptions ([`MAX_SUBSCRIPTIONS`]), a queue member's backlog
//!   ([`QUEUE_BACKLOG`]; past it the oldest is dropped and counted), the batch
//!   ([`MAX_BATCH`]).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::{Error, Pid};
use zb_bus::router::{Router, SubId};
use zb_hal::log::LogStorage;
use zb_journal::{Appended, Envelope, Geometry, Journal, JournalConfig, Medium, MediumError};

/// Most subscriptions at once, all runs together.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// Most events committed in one append.
pub const MAX_BATCH: usize = 64;
/// Most undelivered events a queue-group member holds.
pub const QUEUE_BACKLOG: usize = 64;

/// The platform's journal region as the journal's medium, or RAM when there is none.
pub enum Store {
    Region(&'static dyn LogStorage),
    Ram(zb_journal::RamMedium),
}

fn medium_error(_: zb_hal::BlockError) -> MediumError {
    MediumError::Io
}

impl Medium for Store {
    fn geometry(&self) -> Geometry {
        match self {
            Store::Region(r) => {
                let g = r.geometry();
                Geometry {
                    segment_bytes: g.segment_bytes,
                    segments: g.segments,
                    write_unit: g.write_unit,
                }
            }
            Store::Ram(m) => m.geometry(),
        }
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.read(offset, buf).map_err(medium_error),
            Store::Ram(m) => m.read(offset, buf),
        }
    }

    fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.program(offset, data).map_err(medium_error),
            Store::Ram(m) => m.program(offset, data),
        }
    }

    fn erase(&mut self, segment: u32) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.erase(segment).map_err(medium_error),
            Store::Ram(m) => m.erase(segment),
        }
    }

    fn sync(&mut self) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.sync().map_err(medium_error),
            Store::Ram(m) => m.sync(),
        }
    }
}

/// Where a subscription takes its events from.
enum Feed {
    /// Reads the journal forward from `cursor` (the next sequence number to look at).
    Cursor { cursor: u64 },
    /// A queue-group member: the sequence numbers the router gave it.
    Queue {
        backlog: VecDeque<u64>,
        dropped: u64,
    },
}

/// One subscription.
struct Subscription {
    owner: Pid,
    pattern: String,
    route: SubId,
    feed: Feed,
    delivered: u64,
}

/// An event waiting for the next commit, and who emitted it.
struct Pending {
    from: Pid,
    event: Envelope,
}

/// Counters for `varz` and `bus` statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusStats {
    pub emitted: u64,
    pub duplicates: u64,
    pub commits: u64,
    pub delivered: u64,
    pub subscriptions: usize,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// What a commit did: who to wake.
#[derive(Debug, Default)]
pub struct Committed {
    /// Emitters whose answer is ready.
    pub emitters: Vec<Pid>,
    /// Subscribers with something new to read (owner, subscription).
    pub subscribers: Vec<(Pid, u32)>,
}

/// An event `next` found, not yet taken.
pub struct Found {
    pub seq: u64,
    pub event: Envelope,
}

pub struct EventBus {
    journal: Journal<Store>,
    router: Router,
    subs: Vec<Option<Subscription>>,
    pending: Vec<Pending>,
    /// Answers for emitters, until they pick them up: the sequence number and whether it was
    /// a duplicate.
    answers: BTreeMap<Pid, Result<(u64, bool), Error>>,
    stats: BusStats,
    /// What the store is, for the boot log and `varz`.
    pub medium: &'static str,
}

impl EventBus {
    /// Opens the journal on `store`; the line for the boot log says what recovery found.
    pub fn open(
        store: Store,
        medium: &'static str,
        config: JournalConfig,
    ) -> Result<(EventBus, String), Error> {
        let (journal, recovery) = Journal::open(store, config).map_err(|_| Error::Corrupt)?;
        let line = if recovery.formatted {
            alloc::format!("journal: formatted ({medium})")
        } else if recovery.torn_bytes > 0 {
            alloc::format!(
                "journal: {} events (last seq {}) on {medium}; cut a torn tail of {} bytes",
                recovery.records,
                recovery.last_seq,
                recovery.torn_bytes
            )
        } else {
            alloc::format!(
                "journal: {} events (last seq {}) on {medium}",
                recovery.records,
                recovery.last_seq
            )
        };
        let bus = EventBus {
            journal,
            router: Router::new(MAX_SUBSCRIPTIONS),
            subs: Vec::new(),
            pending: Vec::new(),
            answers: BTreeMap::new(),
            stats: BusStats::default(),
            medium,
        };
        Ok((bus, line))
    }

    /// Queues `event` from `from` for the next commit.
    pub fn queue(&mut self, from: Pid, event: Envelope) {
        self.pending.push(Pending { from, event });
    }

    /// Whether events wait for a commit; `full`: as many as one commit takes.
    pub fn has_pending(&self) -> (bool, bool) {
        (!self.pending.is_empty(), self.pending.len() >= MAX_BATCH)
    }

    /// `from`'s answer, once its event was committed (or refused).
    pub fn take_answer(&mut self, from: Pid) -> Option<Result<(u64, bool), Error>> {
        self.answers.remove(&from)
    }

    /// A run ended: its subscriptions and any answer waiting for it go.
    pub fn forget(&mut self, pid: Pid) {
        self.answers.remove(&pid);
        self.pending.retain(|p| p.from != pid);
        for ix in 0..self.subs.len() {
            if self.subs[ix].as_ref().is_some_and(|s| s.owner == pid) {
                self.unsubscribe(ix as u32);
            }
        }
    }

    /// Commits up to [`MAX_BATCH`] queued events in one durable append, then routes them.
    pub fn commit(&mut self) -> Committed {
        let mut done = Committed::default();
        if self.pending.is_empty() {
            return done;
        }
        let take = self.pending.len().min(MAX_BATCH);
        let batch: Vec<Pending> = self.pending.drain(..take).collect();
        let events: Vec<Envelope> = batch.iter().map(|p| p.event.clone()).collect();
        match self.journal.append(&events) {
            Ok(outcomes) => {
                self.stats.commits += 1;
                for (p, outcome) in batch.iter().zip(outcomes) {
                    let answer = match outcome {
                        Appended::New(seq) => {
                            self.stats.emitted += 1;
                            self.route(seq, &p.event.name, &mut done.subscribers);
                            (seq, false)
                        }
                        Appended::Duplicate(seq) => {
                            self.stats.duplicates += 1;
                            (seq, true)
                        }
                    };
                    self.answers.insert(p.from, Ok(answer));
                    done.emitters.push(p.from);
                }
            }
            Err(e) => {
                let error = match e {
                    zb_journal::JournalError::Full => Error::NoSpace,
                    zb_journal::JournalError::TooLarge => Error::TooLarge,
                    _ => Error::Corrupt,
                };
                for p in &batch {
                    self.answers.insert(p.from, Err(error));
                    done.emitters.push(p.from);
                }
            }
        }
        done
    }

    /// Tells the subscriptions `subject`'s event `seq` is in the journal.
    fn route(&mut self, seq: u64, subject: &str, woken: &mut Vec<(Pid, u32)>) {
        let mut ids = Vec::new();
        self.router.route(subject, &mut ids);
        for id in ids {
            let Some((ix, sub)) = self
                .subs
                .iter_mut()
                .enumerate()
                .find_map(|(ix, s)| s.as_mut().filter(|s| s.route == id).map(|s| (ix, s)))
            else {
                continue;
            };
            if let Feed::Queue { backlog, dropped } = &mut sub.feed {
                if backlog.len() >= QUEUE_BACKLOG {
                    backlog.pop_front();
                    *dropped += 1;
                }
                backlog.push_back(seq);
            }
            woken.push((sub.owner, ix as u32));
        }
    }

    /// A new subscription of `owner` to `pattern`; its index.
    pub fn subscribe(
        &mut self,
        owner: Pid,
        pattern: &str,
        queue: Option<&str>,
        from: zb_abi::bus::DeliverFrom,
    ) -> Result<u32, Error> {
        zb_bus::subject::check_pattern(pattern).map_err(|_| Error::InvalidArgument)?;
        let live = self.subs.iter().filter(|s| s.is_some()).count();
        if live >= MAX_SUBSCRIPTIONS {
            return Err(Error::OutOfMemory);
        }
        let route = self
            .router
            .subscribe(pattern, queue, owner)
            .map_err(|_| Error::OutOfMemory)?;
        let feed = match (queue, from) {
            (Some(_), _) => Feed::Queue {
                backlog: VecDeque::new(),
                dropped: 0,
            },
            (None, zb_abi::bus::DeliverFrom::New) => Feed::Cursor {
                cursor: self.journal.last_seq() + 1,
            },
            (None, zb_abi::bus::DeliverFrom::Seq(n)) => Feed::Cursor {
                cursor: n.max(self.journal.first_seq()),
            },
        };
        let sub = Subscription {
            owner,
            pattern: String::from(pattern),
            route,
            feed,
            delivered: 0,
        };
        let ix = match self.subs.iter().position(Option::is_none) {
            Some(ix) => {
                self.subs[ix] = Some(sub);
                ix
            }
            None => {
                self.subs.push(Some(sub));
                self.subs.len() - 1
            }
        };
        Ok(ix as u32)
    }

    /// Ends subscription `ix` (its handle was closed, or its owner ended).
    pub fn unsubscribe(&mut self, ix: u32) {
        if let Some(slot) = self.subs.get_mut(ix as usize)
            && let Some(sub) = slot.take()
        {
            let _ = self.router.unsubscribe(sub.route);
        }
    }

    /// The next event subscription `ix` has not seen, without taking it; `None` if there is
    /// none yet.
    pub fn peek(&mut self, ix: u32) -> Result<Option<Found>, Error> {
        let sub = self
            .subs
            .get_mut(ix as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        match &mut sub.feed {
            Feed::Queue { backlog, .. } => {
                while let Some(&seq) = backlog.front() {
                    match self.journal.get(seq).map_err(|_| Error::Corrupt)? {
                        Some(event) => return Ok(Some(Found { seq, event })),
                        // Retention removed it meanwhile.
                        None => {
                            backlog.pop_front();
                        }
                    }
                }
                Ok(None)
            }
            Feed::Cursor { cursor } => {
                let from = (*cursor).max(self.journal.first_seq());
                let pattern = &sub.pattern;
                let mut found = None;
                let mut last_seen = None;
                self.journal
                    .read_from(from, &mut |seq, event| {
                        last_seen = Some(seq);
                        if zb_bus::subject::matches(pattern, &event.name) {
                            found = Some(Found {
                                seq,
                                event: event.clone(),
                            });
                            false
                        } else {
                            true
                        }
                    })
                    .map_err(|_| Error::Corrupt)?;
                // Non-matching events read past need not be read again.
                *cursor = match (&found, last_seen) {
                    (Some(f), _) => f.seq,
                    (None, Some(seq)) => seq + 1,
                    (None, None) => from,
                };
                Ok(found)
            }
        }
    }

    /// Takes the event [`EventBus::peek`] returned (it was delivered).
    pub fn take(&mut self, ix: u32, seq: u64) {
        let Some(sub) = self.subs.get_mut(ix as usize).and_then(Option::as_mut) else {
            return;
        };
        match &mut sub.feed {
            Feed::Queue { backlog, .. } => {
                if backlog.front() == Some(&seq) {
                    backlog.pop_front();
                }
            }
            Feed::Cursor { cursor } => *cursor = (*cursor).max(seq + 1),
        }
        sub.delivered += 1;
        self.stats.delivered += 1;
    }

    /// The owner of subscription `ix`.
    pub fn owner(&self, ix: u32) -> Option<Pid> {
        self.subs.get(ix as usize)?.as_ref().map(|s| s.owner)
    }

    pub fn stats(&self) -> BusStats {
        BusStats {
            subscriptions: self.subs.iter().filter(|s| s.is_some()).count(),
            first_seq: self.journal.first_seq(),
            last_seq: self.journal.last_seq(),
            ..self.stats
        }
    }
}
