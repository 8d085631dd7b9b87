//! [`Bus`]: the event bus's policy over the journal (DESIGN.md §6) — what is committed, who is
//! told, what must be kept.
//!
//! - **Emit.** Events are queued ([`Bus::queue`]) and committed together (group commit: one
//!   journal append, one flush; [`Bus::commit`]). The kernel decides when to commit and wakes
//!   whom the commit names ([`Committed`]): the emitters, whose answers wait here
//!   ([`Bus::take_answer`]), the subscribers with something new to read, and the native
//!   services whose watches matched.
//! - **Subscriptions and durable consumers**: `crate::subs` (the same type, another file).
//! - **Views** are folded at every commit, sealed into snapshots and restored from them:
//!   `crate::view` and `crate::views` (the same type).
//! - **Timers** fire `timer.<name>` events and name the programs to start ([`Bus::fire_timers`]).
//! - **Retention**: before each commit the journal may drop events below the oldest one
//!   anything still needs ([`Bus::retention_floor`]).
//!
//! Time comes in as arguments (`now_us`, the kernel's clock); the bus has no clock, no platform
//! and runs no code of its own: the journal is any [`Medium`], a view's reducer any
//! [`Reducer`].
//!
//! Invariants:
//! - An emitter's answer follows the durable append of its event (or is the append's error);
//!   nothing half-committed is ever delivered (events are routed only after the append).
//! - Everything is bounded: subscriptions ([`MAX_SUBSCRIPTIONS`]), a queue member's backlog
//!   ([`QUEUE_BACKLOG`]; past it the oldest is dropped and counted), a commit ([`MAX_BATCH`]
//!   events, [`COMMIT_RECORDS`] records' bytes), timers ([`MAX_TIMERS`]), watches
//!   ([`MAX_WATCHES`]).
//! - The events the system writes (`_consumer.*`, `_snapshot.*`, `dlq.*`, `timer.*`) are made
//!   here and queued by [`SYSTEM`], which no answer is kept for and nobody is woken for.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::bus::{TimerSpec, TimerWhen};
use zb_abi::{Error, Pid};
use zb_journal::{Appended, Envelope, Journal, JournalConfig, JournalError, Medium, Recovery};

use crate::envelope::system;
use crate::router::Router;
use crate::subject::{check_pattern, matches};
use crate::subs::{Attacher, Subscription};
use crate::timer::{CronExpr, Schedule, Timers};
use crate::view::{Reducer, View};

/// Most subscriptions at once, all runs together.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// Most subscriptions one subscriber holds at once (its share of [`MAX_SUBSCRIPTIONS`]): one
/// run cannot take the table from the shell's `sub` and the other runs.
pub const SUBSCRIPTION_SHARE: usize = 8;
/// Most durable consumers the bus knows of (each a record kept in memory until deleted), all
/// programs together; and most one program may own. A loop attaching fresh names cannot grow
/// the kernel's memory, nor take every name from other programs.
pub const MAX_CONSUMERS: usize = 32;
pub const CONSUMER_SHARE: usize = 8;
/// Most events committed in one append.
pub const MAX_BATCH: usize = 64;
/// Most bytes of events committed in one append, in records of the journal's largest size.
pub const COMMIT_RECORDS: usize = 4;
/// Most timers at once.
pub const MAX_TIMERS: usize = 16;
/// Most event watches of native services (init watches one per event-started run).
pub const MAX_WATCHES: usize = 32;
/// Most undelivered events a queue-group member holds.
pub const QUEUE_BACKLOG: usize = 64;

/// Who queues the events the system writes; nobody is told of their commit.
pub const SYSTEM: Pid = 0;

/// Who a timer's program is started by: the console, which adopts orphans — a timer outlives
/// the run that set it (usually the `timer` program, ended long before it fires).
pub const TIMER_STARTER: Pid = zb_abi::runs::CONSOLE_PID;

/// An event waiting for the next commit, and who emitted it.
pub(crate) struct Pending {
    pub(crate) from: Pid,
    pub(crate) event: Envelope,
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

/// What is known of a durable consumer beyond its subscription ([`Bus::consumers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) name: String,
    /// Its last recorded ack floor (`None`: claimed, no position recorded yet).
    pub(crate) floor: Option<u64>,
    /// The program it belongs to (`None`: nobody yet).
    pub(crate) owner: Option<String>,
    /// When its recorded floor last moved (kernel microseconds; 0: before this boot).
    pub(crate) since_us: u64,
}

/// A program a timer starts, and who starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub program: String,
    /// The run (or service) that starts it: its parent.
    pub parent: Pid,
    /// The URL grants of the run that set the timer (`None`: unrestricted): the program gets
    /// these, never more.
    pub allow: Option<Vec<String>>,
}

/// Who set a timer: the program that owns it (`None`: the operator's), and the grants its
/// program is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TimerOwner {
    name: String,
    owner: Option<String>,
    /// The program it starts, if any.
    program: Option<String>,
    allow: Option<Vec<String>>,
}

/// The event bus over a journal on medium `M`, with views reduced by `R`. See the module
/// documentation.
pub struct Bus<M: Medium, R: Reducer> {
    pub(crate) journal: Journal<M>,
    /// Views folded from the journal (`crate::views`).
    pub(crate) views: Vec<View<R>>,
    /// Timers (`timer.<name>` events), and the program each starts when it fires, if any.
    timers: Timers,
    timer_owners: Vec<TimerOwner>,
    /// Native services' event watches (owner, pattern); a watch's number is its index.
    watches: Vec<(Pid, String)>,
    pub(crate) router: Router,
    pub(crate) subs: Vec<Option<Subscription>>,
    pending: Vec<Pending>,
    /// Answers for emitters, until they pick them up: the sequence number and whether it was
    /// a duplicate.
    answers: BTreeMap<Pid, Result<(u64, bool), Error>>,
    pub(crate) stats: BusStats,
    /// What the journal is stored on, for the boot log and `proc://bus`.
    pub medium: &'static str,
    /// Most bytes of one encoded event (the journal's limit).
    pub(crate) max_record: usize,
    /// Every durable consumer known, subscribed or not: its last recorded ack floor (from
    /// its `_consumer.<name>` events: what it has yet to see must be kept), and the program
    /// it belongs to. A short list, searched by name (few consumers; a map's node would cost
    /// a small board more heap than the list).
    pub(crate) consumers: Vec<Recorded>,
    /// The last commit refused events to keep the system's reserve: views holding the floor
    /// are sealed at the next ([`Bus::seal_holders`]).
    short: bool,
    /// The kernel time of the last commit: when things happen between commits, about.
    pub(crate) clock_us: u64,
}

impl<M: Medium, R: Reducer> Bus<M, R> {
    /// Opens the journal on `store` (called `medium` in the boot log), and reads back every
    /// durable consumer's position; with what recovery found.
    pub fn open(
        store: M,
        medium: &'static str,
        config: JournalConfig,
    ) -> Result<(Bus<M, R>, Recovery), JournalError> {
        let (journal, recovery) = Journal::open(store, config)?;
        let mut bus = Bus {
            journal,
            views: Vec::new(),
            // No real-time clock is read yet: cron waits for the wall clock.
            timers: Timers::new(MAX_TIMERS),
            timer_owners: Vec::new(),
            watches: Vec::new(),
            router: Router::new(MAX_SUBSCRIPTIONS),
            subs: Vec::new(),
            pending: Vec::new(),
            answers: BTreeMap::new(),
            stats: BusStats::default(),
            medium,
            max_record: config.max_record,
            consumers: Vec::new(),
            short: false,
            clock_us: 0,
        };
        bus.load_floors()?;
        Ok((bus, recovery))
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
        (
            !self.pending.is_empty() || self.floors_moved() || self.short,
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

    /// Commits queued events in one durable append — at most [`MAX_BATCH`] of them and
    /// [`COMMIT_RECORDS`] records' worth of bytes (at least one event) — then folds them into
    /// the views and routes them. The rest waits for the next commit.
    pub fn commit(&mut self, now_us: u64) -> Committed {
        let mut done = Committed::default();
        self.clock_us = now_us;
        self.save_floors(now_us);
        if self.short {
            self.short = false;
            self.seal_holders(now_us);
        }
        if self.pending.is_empty() {
            return done;
        }
        self.journal.release_before(self.retention_floor());
        // The commit's buffer is one allocation, which a fragmented microcontroller heap must
        // be able to give: bounded in bytes as well as in events.
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
        let mut batch: Vec<Pending> = self.pending.drain(..take).collect();
        done.committed = !batch.is_empty();
        self.keep_reserve(&mut batch, &mut done);
        if batch.is_empty() {
            return done;
        }
        let events: Vec<&Envelope> = batch.iter().map(|p| &p.event).collect();
        let appended = self.journal.append(&events);
        self.settle_seals(appended.is_ok(), now_us);
        match appended {
            Ok(outcomes) => {
                self.stats.commits += 1;
                for (p, outcome) in batch.iter().zip(outcomes) {
                    let answer = match outcome {
                        Appended::New(seq) => {
                            self.stats.emitted += 1;
                            self.committed(seq, &p.event, &mut done);
                            (seq, false)
                        }
                        Appended::Duplicate(seq) => {
                            self.stats.duplicates += 1;
                            (seq, true)
                        }
                    };
                    if p.from != SYSTEM {
                        self.answers.insert(p.from, Ok(answer));
                        done.emitters.push(p.from);
                    }
                }
            }
            Err(e) => {
                let error = match e {
                    JournalError::Full | JournalError::TooManyOrigins => Error::NoSpace,
                    JournalError::TooLarge => Error::TooLarge,
                    _ => Error::Corrupt,
                };
                for p in batch.iter().filter(|p| p.from != SYSTEM) {
                    self.answers.insert(p.from, Err(error));
                    done.emitters.push(p.from);
                }
            }
        }
        done
    }

    /// Journal bytes kept for the system's bookkeeping: a snapshot of every view and a
    /// consumer position. Other events (runs', timers', dead letters) are refused with
    /// `NoSpace` rather than take it, so a journal that filled up can always still be sealed,
    /// and then release what the snapshot covers.
    pub fn system_reserve(&self) -> usize {
        let snapshots: usize = self
            .views
            .iter()
            .map(|v| crate::snapshot::journal_bytes(v.image_len(), self.max_record))
            .sum();
        snapshots + self.max_record + zb_journal::record::RECORD_OVERHEAD
    }

    /// Refuses (`NoSpace`) the events in `batch` other than the system's bookkeeping (`_…`
    /// subjects) if appending them would leave less than [`Bus::system_reserve`].
    fn keep_reserve(&mut self, batch: &mut Vec<Pending>, done: &mut Committed) {
        let bookkeeping = |p: &Pending| p.from == SYSTEM && p.event.name.starts_with('_');
        let bytes = |p: &Pending| p.event.encoded_len() + zb_journal::record::RECORD_OVERHEAD;
        let others: usize = batch.iter().filter(|p| !bookkeeping(p)).map(bytes).sum();
        if others == 0 {
            return;
        }
        let all: usize = batch.iter().map(bytes).sum();
        if all.saturating_add(self.system_reserve()) <= self.journal.room() {
            return;
        }
        for p in batch.iter().filter(|p| !bookkeeping(p) && p.from != SYSTEM) {
            self.answers.insert(p.from, Err(Error::NoSpace));
            done.emitters.push(p.from);
        }
        batch.retain(bookkeeping);
        // Views holding the floor are sealed with the next commit, from the room kept for it,
        // so what they hold can go.
        self.short = true;
    }

    /// Seals (from their state as it is, without paging them in) the views whose unsealed
    /// height holds the retention floor: the journal ran short, and a snapshot lets the events
    /// below it go. A stopped view, or one already being sealed, is left.
    fn seal_holders(&mut self, now_us: u64) {
        let floor = self.retention_floor();
        let max_record = self.max_record;
        let mut parts = Vec::new();
        for view in &mut self.views {
            let holds = view.sealed.saturating_add(1) == floor && view.height > view.sealed;
            if !holds || view.failed.is_some() || view.sealing.is_some() {
                continue;
            }
            view.sealing = Some(view.height);
            let image = view.image();
            parts.extend(crate::snapshot::parts(
                &view.name,
                view.height,
                &image,
                max_record,
                now_us,
            ));
        }
        for event in parts {
            self.queue(SYSTEM, event);
        }
    }

    /// After a commit (`ok`: it was appended): a view whose snapshot has no part left to commit
    /// is sealed at its height if the commit went in, and not sealed if it failed (its seal is
    /// lost; the events it would have covered stay).
    fn settle_seals(&mut self, ok: bool, now_us: u64) {
        for view in &mut self.views {
            let Some(height) = view.sealing else {
                continue;
            };
            let subject = crate::snapshot::subject(&view.name);
            if self.pending.iter().any(|p| p.event.name == subject) {
                continue;
            }
            view.sealing = None;
            if ok && height > view.sealed {
                view.sealed = height;
                view.sealed_us = now_us;
            }
        }
    }

    /// New event `seq` is in the journal: the views fold it, the subscriptions and the
    /// watches it matches are told.
    fn committed(&mut self, seq: u64, event: &Envelope, done: &mut Committed) {
        if !self.views.is_empty() {
            let headers = event.header_lines();
            for view in &mut self.views {
                view.apply(seq, event, &headers);
            }
        }
        self.route(seq, &event.name, &mut done.subscribers);
        for (i, (owner, pattern)) in self.watches.iter().enumerate() {
            let watch = (*owner, i as u32);
            if matches(pattern, &event.name) && !done.watches.contains(&watch) {
                done.watches.push(watch);
            }
        }
    }

    /// The earliest time something is due: a durable subscription's redelivery or dead
    /// letter, a `wait_ms` running out, a timer.
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.subs_deadline(), self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The oldest event anything still needs: a durable consumer that has not acknowledged
    /// it, a view whose newest snapshot is older, a subscriber reading from before it. Events
    /// before it may go when the journal needs room (retention): with no views and no durable
    /// consumers, the journal keeps the newest events that fit.
    pub fn retention_floor(&self) -> u64 {
        let next = self.journal.last_seq() + 1;
        let consumers = self.consumers.iter().filter_map(|r| r.floor);
        let views = self.views.iter().map(|v| v.sealed.saturating_add(1));
        consumers
            .chain(views)
            .chain(self.reader_floors(next))
            .fold(next, u64::min)
    }

    /// Cron timers read the wall clock as `wall_at_boot_secs` plus the time since boot (set
    /// at boot from the platform's real-time clock, or later by `date -s`); the ones set are
    /// scheduled again.
    pub fn set_wall_clock(&mut self, wall_at_boot_secs: u64, now_us: u64) {
        self.timers.set_wall_clock(wall_at_boot_secs, now_us);
    }

    /// Sets (or with `off` cancels) a timer from its spec, for the operator. `Err`: why not.
    pub fn set_timer(
        &mut self,
        spec: &TimerSpec<'_>,
        now_us: u64,
        owner: u32,
    ) -> Result<(), (Error, String)> {
        self.set_timer_as(spec, now_us, owner, Attacher::Operator, None)
    }

    /// [`Bus::set_timer`] by run `owner`, a run of `by`, whose grants are `allow`: a timer is
    /// its program's (or the operator's), so only it (or the operator) replaces or cancels
    /// it (`PermissionDenied`), and the program a timer starts gets `allow`.
    pub fn set_timer_as(
        &mut self,
        spec: &TimerSpec<'_>,
        now_us: u64,
        owner: u32,
        by: Attacher<'_>,
        allow: Option<Vec<String>>,
    ) -> Result<(), (Error, String)> {
        let invalid = |why: String| (Error::InvalidArgument, why);
        // The operator's timers (`owner` None) are the operator's alone.
        let may = |owner: Option<&str>| match (by, owner) {
            (Attacher::Operator, _) => true,
            (Attacher::Program(p), Some(o)) => p == o,
            (Attacher::Program(_), None) => false,
        };
        if let Some(t) = self.timer_owners.iter().find(|t| t.name == spec.name)
            && !may(t.owner.as_deref())
        {
            return Err((
                Error::PermissionDenied,
                format!("timer {} belongs to another program", spec.name),
            ));
        }
        let schedule = match spec.when {
            TimerWhen::Off => {
                self.timer_owners.retain(|t| t.name != spec.name);
                return if self.timers.remove(spec.name) {
                    Ok(())
                } else {
                    Err((Error::NotFound, format!("no timer named {:?}", spec.name)))
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
                let cron =
                    CronExpr::parse(&fields.join(" ")).map_err(|e| invalid(format!("{e}")))?;
                if self.timers.wall_at_boot_secs().is_none() {
                    return Err(invalid(String::from(
                        "no wall clock for cron: set the time with date -s",
                    )));
                }
                Schedule::Cron(cron)
            }
        };
        // Setting a timer again replaces it.
        self.timers.remove(spec.name);
        self.timer_owners.retain(|t| t.name != spec.name);
        self.timers
            .add(spec.name, schedule, now_us, owner)
            .map_err(|why| invalid(String::from(why)))?;
        self.timer_owners.push(TimerOwner {
            name: String::from(spec.name),
            owner: match by {
                Attacher::Program(p) => Some(String::from(p)),
                Attacher::Operator => None,
            },
            program: spec.run.map(String::from),
            allow,
        });
        Ok(())
    }

    /// Fires the timers due at `now_us`: a `timer.<name>` event each (with the next commit);
    /// the programs to start.
    pub fn fire_timers(&mut self, now_us: u64) -> Vec<Start> {
        let mut fired = Vec::new();
        if self.timers.next_deadline().is_some_and(|d| d <= now_us) {
            self.timers.due(now_us, &mut fired);
        }
        let mut starts = Vec::new();
        for f in fired {
            let payload = format!(
                "{{\"timer\":\"{}\",\"count\":{},\"due_us\":{}}}",
                f.name, f.count, f.due_us
            );
            self.queue(SYSTEM, system(format!("timer.{}", f.name), payload, now_us));
            let set = self.timer_owners.iter().find(|t| t.name == f.name);
            if let Some(t) = set
                && let Some(program) = &t.program
            {
                starts.push(Start {
                    program: program.clone(),
                    parent: TIMER_STARTER,
                    allow: t.allow.clone(),
                });
            }
        }
        // Once timers that fired are gone: so are their owners' records.
        let timers = &self.timers;
        self.timer_owners
            .retain(|t| timers.list().any(|(n, _)| n == t.name));
        starts
    }

    /// Native service `owner` is told of every commit holding events that match `pattern`
    /// (`zb_abi::NativeService::events_committed`); the watch's number. A service's watches
    /// last as long as the kernel (services do not end).
    pub fn watch(&mut self, owner: Pid, pattern: &str) -> Result<u32, (Error, String)> {
        check_pattern(pattern)
            .map_err(|e| (Error::InvalidArgument, format!("pattern {pattern:?}: {e}")))?;
        if self.watches.len() >= MAX_WATCHES {
            return Err((Error::OutOfMemory, String::from("too many event watches")));
        }
        self.watches.push((owner, String::from(pattern)));
        Ok((self.watches.len() - 1) as u32)
    }

    /// Bytes the bus has read back from its journal so far (see `Journal::bytes_read`): what
    /// a subscription or view caught up through.
    pub fn journal_bytes_read(&self) -> u64 {
        self.journal.bytes_read()
    }

    /// Records reads skipped because their envelope did not decode (see
    /// `Journal::undecodable`): nonzero means the journal holds what this build cannot read.
    pub fn journal_undecodable(&self) -> u64 {
        self.journal.undecodable()
    }

    /// Visits committed events from `from` on, oldest first, until `visit` returns false (the
    /// federation link's export reads its node's events with it).
    pub fn read_committed(
        &mut self,
        from: u64,
        visit: &mut dyn FnMut(u64, &Envelope) -> bool,
    ) -> Result<(), JournalError> {
        self.journal
            .read_from(from.max(self.journal.first_seq()), visit)
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
