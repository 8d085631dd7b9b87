//! The event bus (DESIGN.md §6): EMIT into the durable journal, and subscriptions reading it.
//!
//! - **Emit.** A run's event is checked ([`EventBus::check`]), queued, and committed together
//!   with every other event queued while runs were ready (group commit: one journal append,
//!   one flush). Its emitter is answered only after the journal said the batch is durable.
//! - **Subscriptions** are a pattern and a cursor into the journal. `next` reads forward from
//!   the cursor to the next event whose subject matches; a subscriber waiting in `next` is
//!   woken when a matching event is committed. A member of a queue group instead receives the
//!   sequence numbers the router assigns to it (one member per event).
//! - **Durable subscriptions** (`durable=NAME`) are a [`Consumer`]: at least once, with `ack`;
//!   a failed or unacknowledged event comes again after a backoff, and after `max_deliver`
//!   deliveries it is published to `dlq.<NAME>.<subject>` instead. The consumer's ack floor is
//!   itself an event (`_consumer.<NAME>`, written with the next commit after it moved), so a
//!   durable subscription resumes where it was after a reboot.
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
use zb_bus::consumer::{Consumer, ConsumerConfig, ConsumerState, Poll};
use zb_bus::router::{Router, SubId};
use zb_hal::log::LogStorage;
use zb_journal::{Appended, Envelope, Geometry, Journal, JournalConfig, Medium, MediumError};

use crate::views::{View, ViewLimits};

/// Most subscriptions at once, all runs together.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// Most events committed in one append.
pub const MAX_BATCH: usize = 64;
/// Most bytes of events committed in one append, in records of the journal's largest size.
const COMMIT_RECORDS: usize = 4;
/// Most timers at once.
pub const MAX_TIMERS: usize = 16;
/// Most event watches of native services (init watches one per event-started run).
const MAX_WATCHES: usize = 32;
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
    /// A durable consumer; `offered`: the event `peek` last returned and its delivery number.
    Durable {
        consumer: Consumer,
        offered: Option<(u64, u32)>,
        /// The ack floor last written to the journal.
        saved: u64,
    },
}

/// One subscription.
struct Subscription {
    owner: Pid,
    pattern: String,
    route: SubId,
    feed: Feed,
    delivered: u64,
    /// `wait_ms`: how long one `next` waits before it fails with `TimedOut`.
    wait_us: Option<u64>,
    /// When the `next` waiting now times out.
    deadline: Option<u64>,
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
    /// Watches a committed event matched (owner, watch), each once.
    pub watches: Vec<(Pid, u32)>,
    /// Queued events were taken (appended, or refused with the emitters told).
    pub committed: bool,
}

/// An event `next` found, not yet taken.
pub struct Found {
    pub seq: u64,
    pub event: Envelope,
    /// Its delivery number (more than 1: a durable subscription's redelivery).
    pub attempt: u32,
}

/// An event the kernel itself emits (consumer positions, snapshots, timers) at `now_us`.
pub(crate) fn kernel_event(name: String, payload: String, now_us: u64) -> Envelope {
    Envelope {
        name,
        version: 1,
        ts_us: now_us,
        source: String::from("kernel"),
        correlation_id: 0,
        causation_id: 0,
        tenant: String::new(),
        headers: Vec::new(),
        payload: payload.into_bytes(),
    }
}

/// A snapshot being gathered from its parts: its height, how many parts it has, and the parts
/// seen so far.
type PartialSnapshot = (u64, usize, Vec<Option<Vec<u8>>>);

/// Where a view's snapshots are recorded: `_snapshot.<name>`.
pub fn snapshot_subject(name: &str) -> String {
    alloc::format!("_snapshot.{name}")
}

/// One snapshot part's payload: `{"height":H,"part":I,"parts":N,"data":"<hex>"}`.
fn snapshot_part(payload: &[u8]) -> Option<(u64, usize, usize, Vec<u8>)> {
    let text = core::str::from_utf8(payload).ok()?;
    let number = |key: &str| zb_json::get(text, key).ok().flatten()?.as_u64();
    let (height, part, parts) = (number("height")?, number("part")?, number("parts")?);
    let data = zb_json::get(text, "data").ok().flatten()?;
    let hex = data.as_plain_str()?;
    if hex.len() % 2 != 0 || part >= parts || parts > 4096 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    let bytes: Option<Vec<u8>> = hex
        .as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect();
    Some((height, part as usize, parts as usize, bytes?))
}

/// Where a durable consumer's ack floor is recorded: `_consumer.<name>`.
pub fn consumer_subject(name: &str) -> String {
    alloc::format!("_consumer.{name}")
}

pub struct EventBus {
    journal: Journal<Store>,
    /// Views folded from the journal (`crate::views`).
    views: Vec<View>,
    /// Timers (`timer.<name>` events), and the program each starts when it fires, if any.
    timers: zb_bus::timer::Timers,
    timer_runs: Vec<(String, String)>,
    /// Native services' event watches (owner, pattern); a watch's number is its index.
    watches: Vec<(Pid, String)>,
    router: Router,
    subs: Vec<Option<Subscription>>,
    pending: Vec<Pending>,
    /// Answers for emitters, until they pick them up: the sequence number and whether it was
    /// a duplicate.
    answers: BTreeMap<Pid, Result<(u64, bool), Error>>,
    stats: BusStats,
    /// What the store is, for the boot log and `varz`.
    pub medium: &'static str,
    /// Most bytes of one encoded event (the journal's limit).
    max_record: usize,
    /// Every durable consumer's last recorded ack floor, subscribed or not (from its
    /// `_consumer.<name>` events): what it has yet to see must be kept.
    floors: BTreeMap<String, u64>,
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
        let mut bus = EventBus {
            journal,
            views: Vec::new(),
            // No real-time clock is read yet: cron counts from 1970-01-01 at boot.
            timers: zb_bus::timer::Timers::new(MAX_TIMERS),
            timer_runs: Vec::new(),
            watches: Vec::new(),
            router: Router::new(MAX_SUBSCRIPTIONS),
            subs: Vec::new(),
            pending: Vec::new(),
            answers: BTreeMap::new(),
            stats: BusStats::default(),
            medium,
            max_record: config.max_record,
            floors: BTreeMap::new(),
        };
        bus.load_floors()?;
        Ok((bus, line))
    }

    /// The oldest event the journal still holds.
    pub fn first_seq(&self) -> u64 {
        self.journal.first_seq()
    }

    /// Queues `event` from `from` for the next commit.
    /// Events are stamped in kernel time (microseconds since boot); once the date is known
    /// their `ts_us` is turned into microseconds since 1970-01-01 UTC here, so that events
    /// of different boots order by time.
    pub fn queue(&mut self, from: Pid, mut event: Envelope) {
        if let Some(at_boot) = self.timers.wall_at_boot_secs() {
            event.ts_us = event
                .ts_us
                .saturating_add(at_boot.saturating_mul(1_000_000));
        }
        self.pending.push(Pending { from, event });
    }

    /// Whether events wait for a commit; `full`: as many as one commit takes.
    pub fn has_pending(&self) -> (bool, bool) {
        let floors_moved = self.subs.iter().flatten().any(|s| {
            matches!(&s.feed, Feed::Durable { consumer, saved, .. }
                if consumer.state().ack_floor != *saved)
        });
        (
            !self.pending.is_empty() || floors_moved,
            self.pending.len() >= MAX_BATCH,
        )
    }

    /// `from`'s answer, once its event was committed (or refused).
    pub fn take_answer(&mut self, from: Pid) -> Option<Result<(u64, bool), Error>> {
        self.answers.remove(&from)
    }

    /// A run ended: its subscriptions and any answer waiting for it go.
    pub fn forget(&mut self, pid: Pid, now_us: u64) {
        self.answers.remove(&pid);
        self.pending.retain(|p| p.from != pid);
        for ix in 0..self.subs.len() {
            if self.subs[ix].as_ref().is_some_and(|s| s.owner == pid) {
                self.unsubscribe(ix as u32, now_us);
            }
        }
    }

    /// Commits up to [`MAX_BATCH`] queued events in one durable append, then routes them.
    pub fn commit(&mut self, now_us: u64) -> Committed {
        let mut done = Committed::default();
        self.save_floors(now_us);
        if self.pending.is_empty() {
            return done;
        }
        self.journal.release_before(self.retention_floor());
        // At most MAX_BATCH events and COMMIT_RECORDS records' worth of bytes (at least one
        // event): the commit's buffer is one allocation, which a fragmented microcontroller
        // heap must be able to give. The rest goes in the next commit.
        let budget = self.max_record.saturating_mul(COMMIT_RECORDS);
        let mut take = 0;
        let mut bytes = 0usize;
        for p in self.pending.iter().take(MAX_BATCH) {
            bytes = bytes.saturating_add(p.event.encoded_len());
            if take > 0 && bytes > budget {
                break;
            }
            take += 1;
        }
        let batch: Vec<Pending> = self.pending.drain(..take).collect();
        done.committed = !batch.is_empty();
        let events: Vec<&Envelope> = batch.iter().map(|p| &p.event).collect();
        match self.journal.append(&events) {
            Ok(outcomes) => {
                self.stats.commits += 1;
                for (p, outcome) in batch.iter().zip(outcomes) {
                    let answer = match outcome {
                        Appended::New(seq) => {
                            self.stats.emitted += 1;
                            if !self.views.is_empty() {
                                let headers = p.event.header_lines();
                                for view in &mut self.views {
                                    view.apply(seq, &p.event, &headers);
                                }
                            }
                            self.route(seq, &p.event.name, &mut done.subscribers);
                            for (i, (owner, pattern)) in self.watches.iter().enumerate() {
                                let watch = (*owner, i as u32);
                                if zb_bus::subject::matches(pattern, &p.event.name)
                                    && !done.watches.contains(&watch)
                                {
                                    done.watches.push(watch);
                                }
                            }
                            (seq, false)
                        }
                        Appended::Duplicate(seq) => {
                            self.stats.duplicates += 1;
                            (seq, true)
                        }
                    };
                    if p.from != 0 {
                        self.answers.insert(p.from, Ok(answer));
                        done.emitters.push(p.from);
                    }
                }
            }
            Err(e) => {
                let error = match e {
                    zb_journal::JournalError::Full => Error::NoSpace,
                    zb_journal::JournalError::TooLarge => Error::TooLarge,
                    _ => Error::Corrupt,
                };
                for p in batch.iter().filter(|p| p.from != 0) {
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
        options: &zb_abi::bus::SubscribeOptions<'_>,
    ) -> Result<u32, Error> {
        let (queue, from) = (options.queue, options.from);
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
            _ if options.durable.is_some() => {
                let name = options.durable.unwrap_or("");
                if self.consumer_attached(name) {
                    let _ = self.router.unsubscribe(route);
                    return Err(Error::Busy);
                }
                // A new consumer starting at "new events" has its starting point recorded with
                // the next commit (`saved` 0 differs from any floor), so that after a reboot it
                // resumes there even if it never acknowledged anything; one starting at a
                // sequence number would start there again anyway.
                let (floor, saved) = match self.saved_floor(name)? {
                    Some(floor) => (floor, floor),
                    None => match from {
                        zb_abi::bus::DeliverFrom::New => (self.journal.last_seq() + 1, 0),
                        zb_abi::bus::DeliverFrom::Seq(n) => {
                            let floor = n.max(self.journal.first_seq());
                            (floor, floor)
                        }
                    },
                };
                let mut config = ConsumerConfig::default();
                if let Some(n) = options.max_deliver {
                    config.max_deliver = n.max(1);
                }
                if let Some(ms) = options.ack_wait_ms {
                    config.ack_wait_us = u64::from(ms.max(1)) * 1000;
                }
                let state = ConsumerState { ack_floor: floor };
                Feed::Durable {
                    consumer: Consumer::new(name, pattern, config, state),
                    offered: None,
                    saved,
                }
            }
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
            wait_us: options.wait_ms.map(|ms| u64::from(ms) * 1000),
            deadline: None,
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
    pub fn unsubscribe(&mut self, ix: u32, now_us: u64) {
        // A durable consumer's last acknowledgements are saved even though it goes now.
        self.save_floors(now_us);
        if let Some(slot) = self.subs.get_mut(ix as usize)
            && let Some(sub) = slot.take()
        {
            let _ = self.router.unsubscribe(sub.route);
        }
    }

    /// The next event subscription `ix` has not seen, without taking it; `None` if there is
    /// none yet.
    pub fn peek(&mut self, ix: u32, now_us: u64) -> Result<Option<Found>, Error> {
        if self.is_durable(ix) {
            return self.peek_durable(ix, now_us);
        }
        let sub = self
            .subs
            .get_mut(ix as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        match &mut sub.feed {
            Feed::Queue { backlog, .. } => {
                while let Some(&seq) = backlog.front() {
                    match self.journal.get(seq).map_err(|_| Error::Corrupt)? {
                        Some(event) => {
                            return Ok(Some(Found {
                                seq,
                                event,
                                attempt: 1,
                            }));
                        }
                        // Retention removed it meanwhile.
                        None => {
                            backlog.pop_front();
                        }
                    }
                }
                Ok(None)
            }
            Feed::Durable { .. } => Ok(None),
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
                                attempt: 1,
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
    pub fn take(&mut self, ix: u32, seq: u64, now_us: u64) {
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
            Feed::Durable {
                consumer, offered, ..
            } => {
                if let Some((s, attempt)) = offered.take()
                    && s == seq
                    && attempt == 1
                {
                    consumer.delivered(seq, now_us);
                }
            }
        }
        sub.delivered += 1;
        sub.deadline = None;
        self.stats.delivered += 1;
    }

    fn is_durable(&self, ix: u32) -> bool {
        self.subs
            .get(ix as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| matches!(s.feed, Feed::Durable { .. }))
    }

    /// The durable consumer of subscription `ix`, and what it last offered.
    fn durable_mut(&mut self, ix: u32) -> Option<(&mut Consumer, &mut Option<(u64, u32)>)> {
        match &mut self.subs.get_mut(ix as usize)?.as_mut()?.feed {
            Feed::Durable {
                consumer, offered, ..
            } => Some((consumer, offered)),
            _ => None,
        }
    }

    /// The next event for durable subscription `ix`: a redelivery that is due, else the next
    /// new matching event; dead letters found on the way are queued for the next commit.
    fn peek_durable(&mut self, ix: u32, now_us: u64) -> Result<Option<Found>, Error> {
        loop {
            let (consumer, offered) = self.durable_mut(ix).ok_or(Error::BadHandle)?;
            if let Some((seq, attempt)) = *offered {
                // Offered and not taken yet (a buffer was too small, or it is being read):
                // the same one again.
                match self.journal.get(seq).map_err(|_| Error::Corrupt)? {
                    Some(event) => {
                        return Ok(Some(Found {
                            seq,
                            event,
                            attempt,
                        }));
                    }
                    None => {
                        if let Some((_, offered)) = self.durable_mut(ix) {
                            *offered = None;
                        }
                        continue;
                    }
                }
            }
            match consumer.poll(now_us) {
                Poll::Redeliver { seq, attempt } => *offered = Some((seq, attempt)),
                Poll::DeadLetter { seq, attempts } => {
                    let name = consumer.name.clone();
                    self.dead_letter(&name, seq, attempts)?;
                }
                Poll::Idle => return Ok(None),
                Poll::ReadFrom(from) => {
                    let pattern = consumer.pattern.clone();
                    let from = from.max(self.journal.first_seq());
                    let mut found = None;
                    self.journal
                        .read_from(from, &mut |seq, event| {
                            if zb_bus::subject::matches(&pattern, &event.name) {
                                found = Some(seq);
                                false
                            } else {
                                true
                            }
                        })
                        .map_err(|_| Error::Corrupt)?;
                    let last = self.journal.last_seq();
                    let (consumer, offered) = self.durable_mut(ix).ok_or(Error::BadHandle)?;
                    match found {
                        Some(seq) => *offered = Some((seq, 1)),
                        None => {
                            consumer.caught_up(last + 1);
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    /// Queues event `seq`, given up by consumer `name` after `attempts` deliveries, on its
    /// dead-letter subject (with the original payload, and `dlq_attempts` as a header).
    fn dead_letter(&mut self, name: &str, seq: u64, attempts: u32) -> Result<(), Error> {
        let Some(mut event) = self.journal.get(seq).map_err(|_| Error::Corrupt)? else {
            return Ok(());
        };
        event.name = zb_bus::consumer::dead_letter_subject(name, &event.name);
        event.source = String::from("kernel");
        event.causation_id = seq;
        event
            .headers
            .retain(|(k, _)| k != zb_journal::IDEMPOTENCY_KEY);
        event
            .headers
            .push((String::from("dlq_attempts"), alloc::format!("{attempts}")));
        self.queue(0, event);
        Ok(())
    }

    /// Durable subscription `ix`'s subscriber finished event `seq` (`failed`: it failed).
    pub fn ack(&mut self, ix: u32, seq: u64, failed: bool, now_us: u64) -> Result<(), Error> {
        let sub = self
            .subs
            .get_mut(ix as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        let Feed::Durable { consumer, .. } = &mut sub.feed else {
            return Err(Error::Unsupported);
        };
        let done = if failed {
            consumer.nak(seq, now_us)
        } else {
            consumer.ack(seq)
        };
        done.map_err(|_| Error::NotFound)
    }

    /// Reads every durable consumer's newest ack floor from the journal.
    fn load_floors(&mut self) -> Result<(), Error> {
        let first = self.journal.first_seq();
        let floors = &mut self.floors;
        self.journal
            .read_from(first, &mut |_, event| {
                if let Some(name) = event.name.strip_prefix("_consumer.")
                    && let Ok(text) = core::str::from_utf8(&event.payload)
                {
                    if let Ok(Some(raw)) = zb_json::get(text, "floor")
                        && let Some(n) = raw.as_u64()
                    {
                        floors.insert(String::from(name), n);
                    } else if let Ok(Some(_)) = zb_json::get(text, "deleted") {
                        floors.remove(name);
                    }
                }
                true
            })
            .map_err(|_| Error::Corrupt)
    }

    /// Whether a live subscription reads as durable consumer `name` (one at a time may).
    fn consumer_attached(&self, name: &str) -> bool {
        self.subs
            .iter()
            .flatten()
            .any(|s| matches!(&s.feed, Feed::Durable { consumer, .. } if consumer.name == name))
    }

    /// Forgets durable consumer `name`: its position goes (a `_consumer.<name>` event saying
    /// so is written with the next commit), so retention no longer keeps events for it, and a
    /// later `durable=<name>` starts afresh. `Busy` while a subscription uses it, `NotFound`
    /// if there is no such consumer.
    pub fn delete_consumer(&mut self, name: &str, now_us: u64) -> Result<(), Error> {
        if self.consumer_attached(name) {
            return Err(Error::Busy);
        }
        if self.floors.remove(name).is_none() {
            return Err(Error::NotFound);
        }
        let event = kernel_event(
            consumer_subject(name),
            String::from("{\"deleted\":true}"),
            now_us,
        );
        self.queue(0, event);
        Ok(())
    }

    /// The ack floor consumer `name` last recorded in the journal.
    fn saved_floor(&mut self, name: &str) -> Result<Option<u64>, Error> {
        Ok(self.floors.get(name).copied())
    }

    /// The oldest event anything still needs: a durable consumer that has not acknowledged
    /// it, a view whose newest snapshot is older, a subscriber reading from before it. Events
    /// before it may go when the journal needs room (retention): with no views and no durable
    /// consumers, the journal keeps the newest events that fit.
    fn retention_floor(&self) -> u64 {
        let next = self.journal.last_seq() + 1;
        let consumers = self.floors.values().copied();
        let views = self.views.iter().map(|v| v.sealed.saturating_add(1));
        let readers = self.subs.iter().flatten().map(|s| match &s.feed {
            Feed::Cursor { cursor } => *cursor,
            Feed::Queue { backlog, .. } => backlog.front().copied().unwrap_or(next),
            Feed::Durable { consumer, .. } => consumer.state().ack_floor,
        });
        consumers.chain(views).chain(readers).fold(next, u64::min)
    }

    /// Queues a `_consumer.<name>` event for every durable consumer whose floor moved.
    fn save_floors(&mut self, now_us: u64) {
        let mut moved = Vec::new();
        for sub in self.subs.iter_mut().flatten() {
            if let Feed::Durable {
                consumer, saved, ..
            } = &mut sub.feed
            {
                let floor = consumer.state().ack_floor;
                if floor != *saved {
                    *saved = floor;
                    moved.push((consumer.name.clone(), floor));
                }
            }
        }
        for (name, floor) in moved {
            self.floors.insert(name.clone(), floor);
            let payload = alloc::format!("{{\"floor\":{floor}}}");
            let event = kernel_event(consumer_subject(&name), payload, now_us);
            self.queue(0, event);
        }
    }

    /// The earliest time a durable subscription has a redelivery or dead letter due.
    pub fn next_deadline(&self) -> Option<u64> {
        let subs = self.subs_deadline();
        match (subs, self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn subs_deadline(&self) -> Option<u64> {
        self.subs
            .iter()
            .flatten()
            .filter_map(|s| {
                let redelivery = match &s.feed {
                    Feed::Durable { consumer, .. } => consumer.next_deadline(),
                    _ => None,
                };
                match (redelivery, s.deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// A `next` on subscription `ix` found nothing at `now_us`: `Ok(true)` to wait, `Ok(false)`
    /// to fail with `TimedOut` (its `wait_ms` has passed since it began waiting).
    pub fn wait_or_time_out(&mut self, ix: u32, now_us: u64) -> Result<bool, Error> {
        let sub = self
            .subs
            .get_mut(ix as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        let Some(wait) = sub.wait_us else {
            return Ok(true);
        };
        match sub.deadline {
            None => {
                sub.deadline = Some(now_us.saturating_add(wait));
                Ok(true)
            }
            Some(d) if now_us < d => Ok(true),
            Some(_) => {
                sub.deadline = None;
                Ok(false)
            }
        }
    }

    /// Durable subscriptions with something due at `now_us` (owner, index): their waiting
    /// subscribers must be woken.
    pub fn due(&self, now_us: u64) -> Vec<(Pid, u32)> {
        self.subs
            .iter()
            .enumerate()
            .filter_map(|(ix, s)| {
                let s = s.as_ref()?;
                let redelivery = match &s.feed {
                    Feed::Durable { consumer, .. } => consumer.next_deadline(),
                    _ => None,
                };
                let timed_out = s.deadline.is_some_and(|d| d <= now_us);
                (timed_out || redelivery.is_some_and(|d| d <= now_us))
                    .then_some((s.owner, ix as u32))
            })
            .collect()
    }

    /// Loads view `name` (reducer `wasm` folding `pattern`): from its newest snapshot, then
    /// every event after it. The line for the boot log.
    pub fn add_view(
        &mut self,
        name: &str,
        pattern: &str,
        wasm: &'static [u8],
        limits: ViewLimits,
        shared: alloc::rc::Rc<crate::sys::Shared>,
    ) -> Result<String, String> {
        zb_bus::subject::check_pattern(pattern)
            .map_err(|e| alloc::format!("pattern {pattern:?}: {e}"))?;
        if self.views.iter().any(|v| v.name == name) {
            return Err(String::from("declared twice"));
        }
        let mut view = View::load(name, pattern, wasm, limits, shared)?;
        let restored = match self.newest_snapshot(name) {
            Ok(Some((height, image))) => match view.restore(height, &image) {
                Ok(()) => alloc::format!(", from its snapshot at {height}"),
                Err(e) => alloc::format!(" (snapshot at {height} unusable: {e})"),
            },
            Ok(None) => String::new(),
            Err(e) => alloc::format!(" (snapshots unreadable: {e})"),
        };
        Self::catch_up(&mut self.journal, &mut view)?;
        let line = match &view.failed {
            Some(why) => alloc::format!("view {name}: stopped: {why}"),
            None => alloc::format!("view {name}: height {}{restored}", view.height),
        };
        self.views.push(view);
        Ok(line)
    }

    /// Folds into `view` what the journal holds above its height.
    fn catch_up(journal: &mut Journal<Store>, view: &mut View) -> Result<(), String> {
        let from = (view.height + 1).max(journal.first_seq());
        journal
            .read_from(from, &mut |seq, event| {
                let headers = event.header_lines();
                view.apply(seq, event, &headers);
                true
            })
            .map_err(|e| alloc::format!("the journal cannot be read: {e}"))?;
        view.height = view.height.max(journal.last_seq());
        Ok(())
    }

    /// Pages out every resident view (`View::page_out`) to give the kernel heap back; how
    /// many were.
    pub fn page_out_views(&mut self) -> usize {
        self.views
            .iter_mut()
            .map(View::page_out)
            .filter(|&out| out)
            .count()
    }

    /// The reducer program of view `name`, and whether the view is resident.
    pub fn view_program(&self, name: &str) -> Option<(&'static [u8], bool)> {
        self.views
            .iter()
            .find(|v| v.name == name)
            .map(|v| (v.program(), v.is_resident()))
    }

    /// The reducer program of view `name`, if the view is paged out (what paging it in
    /// compiles).
    pub fn paged_out_program(&self, name: &str) -> Option<&'static [u8]> {
        self.view_program(name)
            .and_then(|(wasm, resident)| (!resident).then_some(wasm))
    }

    /// Makes view `name` resident and current: paged in if it was out, and caught up with the
    /// journal.
    pub(crate) fn current_view(&mut self, name: &str) -> Result<usize, (Error, String)> {
        let i = self
            .views
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| (Error::NotFound, alloc::format!("no view named {name:?}")))?;
        let view = &mut self.views[i];
        if !view.is_resident() {
            view.page_in().map_err(|why| {
                (
                    Error::OutOfMemory,
                    alloc::format!("view {name} was paged out and cannot be loaded: {why}"),
                )
            })?;
            Self::catch_up(&mut self.journal, view).map_err(|why| (Error::Corrupt, why))?;
        }
        Ok(i)
    }

    /// Asks view `name` about `key`.
    pub fn scan(&mut self, name: &str, key: &str) -> Result<Vec<u8>, (Error, String)> {
        let i = self.current_view(name)?;
        self.views[i].scan(key)
    }

    /// Snapshots view `name` at its height: its memory goes into the journal, in parts, as
    /// `_snapshot.<name>` events (with the next commit). Returns the height. Events below every
    /// view's newest snapshot may then be dropped when the journal needs room.
    pub fn seal(&mut self, name: &str, now_us: u64) -> Result<u64, (Error, String)> {
        let max_record = self.journal_max_record();
        let i = self.current_view(name)?;
        let view = &mut self.views[i];
        if let Some(why) = &view.failed {
            return Err((Error::Corrupt, alloc::format!("view {name} stopped: {why}")));
        }
        let image = view.memory_image();
        let height = view.height;
        view.sealed = height;
        // Hex, in parts that fit a record with room for the envelope.
        let chunk = (max_record.saturating_sub(256) / 2).max(64);
        let parts = image.len().div_ceil(chunk).max(1);
        let subject = snapshot_subject(name);
        for (i, piece) in image.chunks(chunk).enumerate() {
            let mut payload =
                alloc::format!("{{\"height\":{height},\"part\":{i},\"parts\":{parts},\"data\":\"");
            for b in piece {
                payload.push_str(&alloc::format!("{b:02x}"));
            }
            payload.push_str("\"}");
            let mut event = kernel_event(subject.clone(), payload, now_us);
            event.correlation_id = height;
            self.queue(0, event);
        }
        self.journal.release_before(self.retention_floor());
        Ok(height)
    }

    fn journal_max_record(&self) -> usize {
        self.max_record
    }

    /// The newest complete snapshot of view `name` in the journal: its height and memory.
    fn newest_snapshot(&mut self, name: &str) -> Result<Option<(u64, Vec<u8>)>, String> {
        let subject = snapshot_subject(name);
        let mut best: Option<(u64, Vec<u8>)> = None;
        let mut current: Option<PartialSnapshot> = None;
        let first = self.journal.first_seq();
        self.journal
            .read_from(first, &mut |_, event| {
                if event.name != subject {
                    return true;
                }
                let Some((height, part, parts, data)) = snapshot_part(&event.payload) else {
                    return true;
                };
                let fresh = !matches!(&current, Some((h, n, _)) if *h == height && *n == parts);
                if fresh {
                    current = Some((height, parts, alloc::vec![None; parts]));
                }
                if let Some((h, _, got)) = &mut current {
                    if let Some(slot) = got.get_mut(part) {
                        *slot = Some(data);
                    }
                    if got.iter().all(Option::is_some) {
                        let image: Vec<u8> = got.iter().flatten().flatten().copied().collect();
                        best = Some((*h, image));
                    }
                }
                true
            })
            .map_err(|e| alloc::format!("{e}"))?;
        Ok(best)
    }

    /// Views, for `proc://bus`: (name, height, sealed height, `resident`, `paged out` or
    /// `stopped`).
    pub fn views(&self) -> impl Iterator<Item = (&str, u64, u64, &'static str)> {
        self.views.iter().map(|v| {
            let state = match (&v.failed, v.is_resident()) {
                (Some(_), _) => "stopped",
                (None, true) => "resident",
                (None, false) => "paged out",
            };
            (v.name.as_str(), v.height, v.sealed, state)
        })
    }

    /// Cron timers read the wall clock as `wall_at_boot_secs` plus the time since boot (set
    /// at boot from the platform's real-time clock, or later by `date -s`); the ones set are
    /// scheduled again.
    pub fn set_wall_clock(&mut self, wall_at_boot_secs: u64, now_us: u64) {
        self.timers.set_wall_clock(wall_at_boot_secs, now_us);
    }

    /// Sets (or with `off` cancels) a timer from its spec ([`zb_abi::bus::TimerSpec`]).
    pub fn set_timer(
        &mut self,
        spec: &zb_abi::bus::TimerSpec<'_>,
        now_us: u64,
    ) -> Result<(), String> {
        use zb_abi::bus::TimerWhen;
        use zb_bus::timer::{CronExpr, Schedule};
        let schedule = match spec.when {
            TimerWhen::Off => {
                self.timer_runs.retain(|(n, _)| n != spec.name);
                return if self.timers.remove(spec.name) {
                    Ok(())
                } else {
                    Err(alloc::format!("no timer named {:?}", spec.name))
                };
            }
            TimerWhen::Every { us } => Schedule::Every {
                period_us: us,
                first_us: now_us.saturating_add(us),
            },
            TimerWhen::After { us } => Schedule::Once {
                at_us: now_us.saturating_add(us),
            },
            TimerWhen::Cron(fields) => {
                let cron = CronExpr::parse(&fields.join(" ")).map_err(|e| alloc::format!("{e}"))?;
                if self.timers.wall_at_boot_secs().is_none() {
                    return Err(String::from(
                        "no wall clock for cron: set the time with date -s",
                    ));
                }
                Schedule::Cron(cron)
            }
        };
        // Setting a timer again replaces it.
        self.timers.remove(spec.name);
        self.timer_runs.retain(|(n, _)| n != spec.name);
        self.timers
            .add(spec.name, schedule, now_us)
            .map_err(String::from)?;
        if let Some(program) = spec.run {
            self.timer_runs
                .push((String::from(spec.name), String::from(program)));
        }
        Ok(())
    }

    /// Fires the timers due at `now_us`: a `timer.<name>` event each (with the next commit);
    /// the programs to start.
    pub fn fire_timers(&mut self, now_us: u64) -> Vec<String> {
        let mut fired = Vec::new();
        if self.timers.next_deadline().is_some_and(|d| d <= now_us) {
            self.timers.due(now_us, &mut fired);
        }
        let mut runs = Vec::new();
        for f in fired {
            let payload = alloc::format!(
                "{{\"timer\":\"{}\",\"count\":{},\"due_us\":{}}}",
                f.name,
                f.count,
                f.due_us
            );
            let event = kernel_event(alloc::format!("timer.{}", f.name), payload, now_us);
            self.queue(0, event);
            if let Some((_, program)) = self.timer_runs.iter().find(|(n, _)| *n == f.name) {
                runs.push(program.clone());
            }
        }
        // Once timers that fired are gone: so are their programs.
        let timers = &self.timers;
        self.timer_runs
            .retain(|(n, _)| timers.list().any(|(t, _)| t == n));
        runs
    }

    /// Native service `owner` is told of every commit holding events that match `pattern`
    /// (`zb_abi::NativeService::events_committed`); the watch's number. A service's watches
    /// last as long as the kernel (services do not end).
    pub fn watch(&mut self, owner: Pid, pattern: &str) -> Result<u32, (Error, String)> {
        zb_bus::subject::check_pattern(pattern).map_err(|e| {
            (
                Error::InvalidArgument,
                alloc::format!("pattern {pattern:?}: {e}"),
            )
        })?;
        if self.watches.len() >= MAX_WATCHES {
            return Err((Error::OutOfMemory, String::from("too many event watches")));
        }
        self.watches.push((owner, String::from(pattern)));
        Ok((self.watches.len() - 1) as u32)
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
