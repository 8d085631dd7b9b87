//! Subscriptions of the [`Bus`]: a pattern and where its events come from.
//!
//! - A plain subscription is a cursor into the journal: [`Bus::peek`] reads forward from it to
//!   the next event whose subject matches, [`Bus::take`] moves past it.
//! - A member of a queue group instead receives the sequence numbers the router assigns to it
//!   (one member per event), up to [`QUEUE_BACKLOG`].
//! - A durable subscription (`durable=NAME`) is a [`Consumer`]: at least once, with `ack`; a
//!   failed or unacknowledged event comes again after a backoff, and after `max_deliver`
//!   deliveries it is published to `dlq.<NAME>.<subject>` instead. The consumer's ack floor is
//!   itself an event (`_consumer.<NAME>`, written with the next commit after it moved), so a
//!   durable subscription resumes where it was after a reboot, and retention keeps what it has
//!   yet to see — subscribed or not, until the consumer is deleted.
//!
//! Invariants:
//! - A subscription's cursor only moves forward: no event is delivered twice to it, and none
//!   that matches and is still in the journal is skipped.
//! - One subscription at a time reads as a given durable consumer.
//! - Subscription numbers are slots: a closed one's number names nothing until it is reused,
//!   and the kernel holds it only in its owner's handle, which goes with the subscription.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::bus::{DeliverFrom, SubscribeOptions};
use zb_abi::{Error, Pid};
use zb_journal::{Envelope, JournalError, Medium};

use crate::bus::{
    Bus, CONSUMER_SHARE, MAX_CONSUMERS, MAX_SUBSCRIPTIONS, QUEUE_BACKLOG, Recorded,
    SUBSCRIPTION_SHARE, SYSTEM,
};
use crate::consumer::{Consumer, ConsumerConfig, ConsumerState, Poll};
use crate::envelope::{dead_letter, system};
use crate::router::SubId;
use crate::subject::{check_pattern, matches};
use crate::view::Reducer;

/// Who attaches or deletes a durable consumer: whose it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attacher<'a> {
    /// A run of program `path` (`/bin/ledger`): it may attach or delete a consumer that is its
    /// program's or nobody's yet (then it becomes its program's).
    Program(&'a str),
    /// The operator (a command typed at the console, a service): any consumer; one it creates
    /// belongs to nobody until a program attaches it.
    Operator,
}

impl Attacher<'_> {
    /// Whether it may use a consumer owned by `owner` (`None`: nobody yet).
    fn may_use(&self, owner: Option<&str>) -> bool {
        match (self, owner) {
            (Attacher::Operator, _) | (_, None) => true,
            (Attacher::Program(p), Some(o)) => *p == o,
        }
    }
}

/// Where a durable consumer's ack floor is recorded: `_consumer.<name>`.
pub fn consumer_subject(name: &str) -> String {
    format!("_consumer.{name}")
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
pub(crate) struct Subscription {
    pub(crate) owner: Pid,
    pattern: String,
    route: SubId,
    feed: Feed,
    delivered: u64,
    /// `wait_ms`: how long one `next` waits before it fails with `TimedOut`.
    wait_us: Option<u64>,
    /// When the `next` waiting now times out.
    deadline: Option<u64>,
    /// When it was made (kernel microseconds).
    since_us: u64,
}

impl Subscription {
    /// When something is due for it: a redelivery or dead letter, or its `wait_ms` ending.
    fn deadline(&self) -> Option<u64> {
        let redelivery = match &self.feed {
            Feed::Durable { consumer, .. } => consumer.next_deadline(),
            _ => None,
        };
        match (redelivery, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first sequence number it still needs (`next`: the journal's next one): what
    /// retention must keep for it.
    fn floor(&self, next: u64) -> u64 {
        match &self.feed {
            Feed::Cursor { cursor } => *cursor,
            Feed::Queue { backlog, .. } => backlog.front().copied().unwrap_or(next),
            Feed::Durable { consumer, .. } => consumer.state().ack_floor,
        }
    }
}

/// What [`Bus::peek_within`] found.
pub enum Peeked {
    Found(Found),
    /// Nothing yet: the subscription has seen everything the journal holds.
    Nothing,
    /// Its budget of events was read without a match: ask again (the place reached is kept,
    /// so nothing is read twice).
    More,
}

/// `saved` of a durable consumer whose record must be written with the next commit whatever
/// its floor (a new one starting at "new events": where that was must survive a reboot).
const UNSAVED: u64 = u64::MAX;

/// Events one [`Bus::peek_within`] call of the kernel reads past, at most: a subscription far
/// behind a long journal catches up over several calls, so no call holds the kernel loop for
/// long (the run pays for what it reads).
pub const PEEK_BUDGET: usize = 256;

/// An event `next` found, not yet taken.
pub struct Found {
    pub seq: u64,
    pub event: Envelope,
    /// Its delivery number (more than 1: a durable subscription's redelivery).
    pub attempt: u32,
}

impl<M: Medium, R: Reducer> Bus<M, R> {
    /// A new subscription of `owner` to `pattern`; its number. `OutOfMemory` when the table
    /// is full or `owner` holds its share ([`SUBSCRIPTION_SHARE`]), `Busy` when the durable
    /// consumer named is in use.
    pub fn subscribe(
        &mut self,
        owner: Pid,
        pattern: &str,
        options: &SubscribeOptions<'_>,
    ) -> Result<u32, Error> {
        self.subscribe_as(owner, Attacher::Operator, pattern, options)
    }

    /// [`Bus::subscribe`] by `by`: a durable consumer that belongs to another program is
    /// `PermissionDenied`.
    pub fn subscribe_as(
        &mut self,
        owner: Pid,
        by: Attacher<'_>,
        pattern: &str,
        options: &SubscribeOptions<'_>,
    ) -> Result<u32, Error> {
        let (queue, from) = (options.queue, options.from);
        check_pattern(pattern).map_err(|_| Error::InvalidArgument)?;
        let live = self.subs.iter().flatten();
        let held = live.clone().filter(|s| s.owner == owner).count();
        if live.count() >= MAX_SUBSCRIPTIONS || held >= SUBSCRIPTION_SHARE {
            return Err(Error::OutOfMemory);
        }
        let route = self
            .router
            .subscribe(pattern, queue, owner)
            .map_err(|_| Error::OutOfMemory)?;
        let feed = match (options.durable, queue, from) {
            (Some(name), _, _) => match self.durable_feed(name, by, pattern, options) {
                Ok(feed) => feed,
                Err(e) => {
                    let _ = self.router.unsubscribe(route);
                    return Err(e);
                }
            },
            (None, Some(_), _) => Feed::Queue {
                backlog: VecDeque::new(),
                dropped: 0,
            },
            (None, None, DeliverFrom::New) => Feed::Cursor {
                cursor: self.journal.last_seq() + 1,
            },
            (None, None, DeliverFrom::Seq(n)) => Feed::Cursor {
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
            since_us: self.clock_us,
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

    /// The feed of a subscription reading as durable consumer `name`.
    fn durable_feed(
        &mut self,
        name: &str,
        by: Attacher<'_>,
        pattern: &str,
        options: &SubscribeOptions<'_>,
    ) -> Result<Feed, Error> {
        let owner = self.owner_of(name);
        if !by.may_use(owner) {
            return Err(Error::PermissionDenied);
        }
        if self.consumer_attached(name) {
            return Err(Error::Busy);
        }
        // A name not known yet is a new record: within the bounds ([`MAX_CONSUMERS`], and a
        // program's share).
        if self.recorded(name).is_none() {
            let owned = |p: &str| {
                let mine = |r: &&Recorded| r.owner.as_deref() == Some(p);
                self.consumers.iter().filter(mine).count()
            };
            let full = self.consumers.len() >= MAX_CONSUMERS;
            if full || matches!(by, Attacher::Program(p) if owned(p) >= CONSUMER_SHARE) {
                return Err(Error::OutOfMemory);
            }
        }
        // A program attaching a consumer nobody owns makes it its own: recorded with its
        // position, when that is next written (a consumer that never finishes an event and
        // never moves is claimed again after a reboot, by the first to attach it).
        if let (Attacher::Program(p), None) = (by, owner) {
            self.recorded_mut(name).owner = Some(String::from(p));
        }
        // A new consumer starting at "new events" has its starting point recorded with the
        // next commit (`saved` is [`UNSAVED`]), so that after a reboot it resumes
        // there even if it never acknowledged anything; one starting at a sequence number
        // would start there again anyway.
        let recorded_floor = self.recorded(name).and_then(|r| r.floor);
        let (floor, saved) = match recorded_floor {
            Some(floor) => (floor, floor),
            None => match options.from {
                DeliverFrom::New => (self.journal.last_seq() + 1, UNSAVED),
                DeliverFrom::Seq(n) => {
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
        Ok(Feed::Durable {
            consumer: Consumer::new(name, pattern, config, state),
            offered: None,
            saved,
        })
    }

    /// Ends subscription `ix` (its handle was closed, or its owner ended).
    pub fn unsubscribe(&mut self, ix: u32, now_us: u64) {
        // A durable consumer's position is saved as it goes.
        self.save_floors_detaching(now_us, Some(ix));
        if let Some(slot) = self.subs.get_mut(ix as usize)
            && let Some(sub) = slot.take()
        {
            let _ = self.router.unsubscribe(sub.route);
        }
    }

    /// The owner of subscription `ix`.
    pub fn owner(&self, ix: u32) -> Option<Pid> {
        self.subs.get(ix as usize)?.as_ref().map(|s| s.owner)
    }

    /// Tells the subscriptions `subject`'s event `seq` is in the journal; those with something
    /// new to read go into `woken` (owner, subscription).
    pub(crate) fn route(&mut self, seq: u64, subject: &str, woken: &mut Vec<(Pid, u32)>) {
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

    /// The next event subscription `ix` has not seen, without taking it; `None` if there is
    /// none yet.
    pub fn peek(&mut self, ix: u32, now_us: u64) -> Result<Option<Found>, Error> {
        match self.peek_within(ix, now_us, usize::MAX)? {
            Peeked::Found(found) => Ok(Some(found)),
            Peeked::Nothing | Peeked::More => Ok(None),
        }
    }

    /// [`Bus::peek`], reading past at most `budget` journal events that do not match.
    pub fn peek_within(&mut self, ix: u32, now_us: u64, budget: usize) -> Result<Peeked, Error> {
        let sub = self
            .subs
            .get_mut(ix as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        match &mut sub.feed {
            Feed::Durable { .. } => self.peek_durable(ix, now_us, budget),
            Feed::Queue { backlog, .. } => {
                while let Some(&seq) = backlog.front() {
                    match self.journal.get(seq).map_err(|_| Error::Corrupt)? {
                        Some(event) => {
                            return Ok(Peeked::Found(Found {
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
                Ok(Peeked::Nothing)
            }
            Feed::Cursor { cursor } => {
                let from = (*cursor).max(self.journal.first_seq());
                let pattern = &sub.pattern;
                let mut found = None;
                let mut last_seen = None;
                let (mut read, mut more) = (0, false);
                self.journal
                    .read_from(from, &mut |seq, event| {
                        if read == budget {
                            more = true;
                            return false;
                        }
                        read += 1;
                        last_seen = Some(seq);
                        if matches(pattern, &event.name) {
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
                Ok(match found {
                    Some(found) => Peeked::Found(found),
                    None if more => Peeked::More,
                    None => Peeked::Nothing,
                })
            }
        }
    }

    /// Takes the event [`Bus::peek`] returned (it was delivered).
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
    fn peek_durable(&mut self, ix: u32, now_us: u64, budget: usize) -> Result<Peeked, Error> {
        loop {
            let (consumer, offered) = self.durable_mut(ix).ok_or(Error::BadHandle)?;
            if let Some((seq, attempt)) = *offered {
                // Offered and not taken yet (a buffer was too small, or it is being read):
                // the same one again.
                match self.journal.get(seq).map_err(|_| Error::Corrupt)? {
                    Some(event) => {
                        return Ok(Peeked::Found(Found {
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
                    if let Some(event) = self.journal.get(seq).map_err(|_| Error::Corrupt)? {
                        self.queue(SYSTEM, dead_letter(event, &name, seq, attempts));
                    }
                }
                Poll::Idle => return Ok(Peeked::Nothing),
                Poll::ReadFrom(from) => {
                    let pattern = consumer.pattern.clone();
                    let from = from.max(self.journal.first_seq());
                    let mut found = None;
                    let (mut read, mut reached) = (0, None);
                    self.journal
                        .read_from(from, &mut |seq, event| {
                            if read == budget {
                                reached = Some(seq);
                                return false;
                            }
                            read += 1;
                            if matches(&pattern, &event.name) {
                                found = Some(seq);
                                false
                            } else {
                                true
                            }
                        })
                        .map_err(|_| Error::Corrupt)?;
                    let last = self.journal.last_seq();
                    let (consumer, offered) = self.durable_mut(ix).ok_or(Error::BadHandle)?;
                    match (found, reached) {
                        (Some(seq), _) => *offered = Some((seq, 1)),
                        // Its budget read without a match: on from there next time.
                        (None, Some(next)) => {
                            consumer.caught_up(next);
                            return Ok(Peeked::More);
                        }
                        (None, None) => {
                            consumer.caught_up(last + 1);
                            return Ok(Peeked::Nothing);
                        }
                    }
                }
            }
        }
    }

    /// Durable subscription `ix`'s subscriber finished event `seq` (`failed`: it failed).
    /// `Unsupported`: not a durable subscription; `NotFound`: that event is not waiting for
    /// an answer.
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

    /// Subscriptions with something due at `now_us` (owner, number): a durable one's
    /// redelivery or dead letter, a `wait_ms` running out. Their waiting subscribers must be
    /// woken.
    pub fn due(&self, now_us: u64) -> Vec<(Pid, u32)> {
        self.subs
            .iter()
            .enumerate()
            .filter_map(|(ix, s)| {
                let s = s.as_ref()?;
                s.deadline()
                    .is_some_and(|d| d <= now_us)
                    .then_some((s.owner, ix as u32))
            })
            .collect()
    }

    /// The earliest of [`Bus::due`]'s times.
    pub(crate) fn subs_deadline(&self) -> Option<u64> {
        self.subs
            .iter()
            .flatten()
            .filter_map(Subscription::deadline)
            .min()
    }

    /// What keeps events in the journal, each with the first sequence number it keeps and
    /// since when it has (kernel microseconds; 0: since before this boot), oldest first: views
    /// not sealed past it, durable consumers, and live subscriptions — for `proc://bus`, so an
    /// abandoned consumer or an unsealed view is visible.
    pub fn floor_holders(&self) -> Vec<(String, u64, u64)> {
        let next = self.journal.last_seq() + 1;
        let mut holders = Vec::new();
        for v in &self.views {
            holders.push((format!("view {}", v.name), v.sealed + 1, v.sealed_us));
        }
        // A durable consumer: where its subscriber is, if attached; else where it was left.
        let mut consumers: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for r in &self.consumers {
            if let Some(floor) = r.floor {
                consumers.insert(&r.name, (floor, r.since_us));
            }
        }
        for s in self.subs.iter().flatten() {
            if let Feed::Durable { consumer, .. } = &s.feed {
                let since = self.recorded(&consumer.name).map(|r| r.since_us);
                let since = since.filter(|&t| t > 0).unwrap_or(s.since_us);
                consumers.insert(&consumer.name, (s.floor(next), since));
            } else {
                let what = format!("subscription of pid {}", s.owner);
                holders.push((what, s.floor(next), s.since_us));
            }
        }
        for (name, (floor, since)) in consumers {
            holders.push((format!("durable consumer {name}"), floor, since));
        }
        holders.retain(|h| h.1 < next);
        holders.sort_by_key(|h| h.1);
        holders
    }

    /// Where each subscription still reads from (`next`: the next sequence number), for
    /// retention.
    pub(crate) fn reader_floors(&self, next: u64) -> impl Iterator<Item = u64> + '_ {
        self.subs.iter().flatten().map(move |s| s.floor(next))
    }

    /// Reads every durable consumer's newest ack floor (and owner) from the journal.
    pub(crate) fn load_floors(&mut self) -> Result<(), JournalError> {
        let first = self.journal.first_seq();
        let consumers = &mut self.consumers;
        self.journal.read_from(first, &mut |_, event| {
            // Only the system's own records count (see `snapshot::Newest::see`).
            if event.source != crate::envelope::SYSTEM_SOURCE {
                return true;
            }
            if let Some(name) = event.name.strip_prefix("_consumer.")
                && let Ok(text) = core::str::from_utf8(&event.payload)
            {
                if let Ok(Some(raw)) = zb_json::get(text, "floor")
                    && let Some(n) = raw.as_u64()
                {
                    let owner = match zb_json::get(text, "owner") {
                        Ok(Some(owner)) => owner.as_string(),
                        _ => None,
                    };
                    consumers.retain(|r| r.name != name);
                    let _ = consumers.try_reserve_exact(1);
                    consumers.push(Recorded {
                        name: String::from(name),
                        floor: Some(n),
                        owner,
                        since_us: 0,
                    });
                } else if let Ok(Some(_)) = zb_json::get(text, "deleted") {
                    consumers.retain(|r| r.name != name);
                }
            }
            true
        })
    }

    /// What is recorded of durable consumer `name`.
    fn recorded(&self, name: &str) -> Option<&Recorded> {
        self.consumers.iter().find(|r| r.name == name)
    }

    /// What is recorded of durable consumer `name`, made if there is nothing yet.
    fn recorded_mut(&mut self, name: &str) -> &mut Recorded {
        let at = match self.consumers.iter().position(|r| r.name == name) {
            Some(at) => at,
            None => {
                // One at a time: a board holds one or two consumers, not a doubled buffer.
                let _ = self.consumers.try_reserve_exact(1);
                self.consumers.push(Recorded {
                    name: String::from(name),
                    floor: None,
                    owner: None,
                    since_us: 0,
                });
                self.consumers.len() - 1
            }
        };
        // In bounds: found there, or just pushed.
        &mut self.consumers[at]
    }

    /// The program durable consumer `name` belongs to (`None`: nobody yet).
    fn owner_of(&self, name: &str) -> Option<&str> {
        self.recorded(name).and_then(|r| r.owner.as_deref())
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
        self.delete_consumer_as(name, Attacher::Operator, now_us)
    }

    /// [`Bus::delete_consumer`] by `by`: another program's consumer is `PermissionDenied`.
    pub fn delete_consumer_as(
        &mut self,
        name: &str,
        by: Attacher<'_>,
        now_us: u64,
    ) -> Result<(), Error> {
        if !by.may_use(self.owner_of(name)) {
            return Err(Error::PermissionDenied);
        }
        if self.consumer_attached(name) {
            return Err(Error::Busy);
        }
        let Some(recorded) = self.recorded(name) else {
            return Err(Error::NotFound);
        };
        // A claimed consumer whose position was never written leaves nothing in the journal
        // to undo; one that was gets a record saying it is gone.
        let in_journal = recorded.floor.is_some();
        self.consumers.retain(|r| r.name != name);
        if in_journal {
            let deleted = String::from("{\"deleted\":true}");
            self.queue(SYSTEM, system(consumer_subject(name), deleted, now_us));
        }
        Ok(())
    }

    /// Whether a durable consumer's position must be written: its floor moved because events
    /// were finished (acknowledged or given up), or it is new and starts at "new events". A floor that moved
    /// only because the consumer read past events that do not match — the journal's own
    /// `_consumer.*` records among them — is written when its subscriber detaches, not at every
    /// commit (else each record would move the floor past itself, and write the next).
    fn must_save(consumer: &Consumer, saved: u64) -> bool {
        let floor = consumer.state().ack_floor;
        floor != saved && (saved == UNSAVED || consumer.settled())
    }

    /// Whether a durable consumer's position must be written ([`Bus::must_save`]).
    pub(crate) fn floors_moved(&self) -> bool {
        self.subs.iter().flatten().any(|s| {
            matches!(&s.feed, Feed::Durable { consumer, saved, .. }
                if Self::must_save(consumer, *saved))
        })
    }

    /// Queues a `_consumer.<name>` event for every durable consumer whose position must be
    /// written ([`Bus::must_save`]), and for subscription `detaching`'s if its floor moved at
    /// all.
    pub(crate) fn save_floors(&mut self, now_us: u64) {
        self.save_floors_detaching(now_us, None);
    }

    fn save_floors_detaching(&mut self, now_us: u64, detaching: Option<u32>) {
        let mut moved = Vec::new();
        for (ix, sub) in self.subs.iter_mut().enumerate() {
            let Some(sub) = sub else {
                continue;
            };
            if let Feed::Durable {
                consumer, saved, ..
            } = &mut sub.feed
            {
                let floor = consumer.state().ack_floor;
                let leaving = detaching == Some(ix as u32) && floor != *saved;
                if leaving || Self::must_save(consumer, *saved) {
                    *saved = floor;
                    consumer.clear_settled();
                    moved.push((consumer.name.clone(), floor));
                }
            }
        }
        for (name, floor) in moved {
            let record = self.recorded_mut(&name);
            record.floor = Some(floor);
            record.since_us = now_us;
            let payload = match &record.owner {
                Some(owner) => {
                    let mut owner_json = String::new();
                    // Cannot fail: writing to a String.
                    let _ = zb_json::write_escaped(&mut owner_json, owner);
                    format!("{{\"floor\":{floor},\"owner\":{owner_json}}}")
                }
                None => format!("{{\"floor\":{floor}}}"),
            };
            self.queue(SYSTEM, system(consumer_subject(&name), payload, now_us));
        }
    }
}
