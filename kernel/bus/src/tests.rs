//! Tests of the bus's policy on a RAM journal, with a reducer written here: retention,
//! durable consumers and their dead letters, views and their snapshots across a reboot,
//! paging, watches and timers.

extern crate std;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

use zb_abi::Error;
use zb_abi::bus::{EventView, SubscribeOptions, TimerSpec};
use zb_journal::{Envelope, Geometry, JournalConfig, RamMedium};

use crate::envelope::system;
use crate::view::{Fold, Reducer};
use crate::{Bus, SYSTEM, Start, TIMER_STARTER};

/// A reducer that counts the events it folds (its state is the count), answers any key but
/// `none` with the count, and fails on an event named `boom`. `starts` counts its starts.
#[derive(Default)]
struct Counter {
    starts: Rc<Cell<u32>>,
}

struct Count(u32);

impl Reducer for Counter {
    type Fold = Count;
    fn start(&self) -> Result<Count, String> {
        self.starts.set(self.starts.get() + 1);
        Ok(Count(0))
    }
}

impl Fold for Count {
    fn fold(&mut self, event: &EventView<'_>) -> Result<(), String> {
        if event.name == "boom" {
            return Err(String::from("unreachable"));
        }
        self.0 += 1;
        Ok(())
    }

    fn scan(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok((key != "none").then(|| format!("{}", self.0).into_bytes()))
    }

    fn image(&self) -> Vec<u8> {
        self.0.to_le_bytes().to_vec()
    }

    fn restore(&mut self, image: &[u8]) -> Result<(), String> {
        let bytes = <[u8; 4]>::try_from(image).map_err(|_| String::from("not 4 bytes"))?;
        self.0 = u32::from_le_bytes(bytes);
        Ok(())
    }
}

type TestBus = Bus<RamMedium, Counter>;

/// A RAM journal of two 4 KiB segments (about 60 small events).
fn medium() -> RamMedium {
    medium_of(4096)
}

fn medium_of(segment_bytes: u32) -> RamMedium {
    RamMedium::new(Geometry {
        segment_bytes,
        segments: 2,
        write_unit: 4,
    })
}

fn open(medium: RamMedium) -> TestBus {
    let config = JournalConfig {
        max_record: 1024,
        dedupe_window: 8,
        dedupe_secret: 0,
    };
    Bus::open(medium, "ram", config).expect("opens").0
}

/// The bus after a reboot: opened again on what its journal wrote.
fn reboot(bus: &mut TestBus) -> TestBus {
    open(bus.journal.medium().clone())
}

fn event(subject: &str, i: usize) -> Envelope {
    let payload = format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(60));
    system(subject.into(), payload, i as u64)
}

/// Emits `n` events on `subject` as run 7 (one commit each); the answers.
fn emit_n(bus: &mut TestBus, subject: &str, n: usize) -> Vec<Result<u64, Error>> {
    (0..n)
        .map(|i| {
            bus.queue(7, event(subject, i));
            bus.commit(0);
            bus.take_answer(7).expect("answered").map(|(seq, _)| seq)
        })
        .collect()
}

fn options(text: &str) -> SubscribeOptions<'_> {
    SubscribeOptions::parse(text).expect("options")
}

/// Reads and takes everything subscription `sub` has now: (seq, subject, attempt).
fn drain(bus: &mut TestBus, sub: u32, now: u64) -> Vec<(u64, String, u32)> {
    let mut got = Vec::new();
    while let Some(f) = bus.peek(sub, now).expect("peek") {
        bus.take(sub, f.seq, now);
        got.push((f.seq, f.event.name, f.attempt));
    }
    got
}

#[test]
fn with_nothing_behind_the_journal_keeps_the_newest_events_that_fit() {
    let mut bus = open(medium());
    let answers = emit_n(&mut bus, "orders.new", 500);
    assert!(answers.iter().all(Result::is_ok), "{:?}", answers.last());
    assert_eq!(answers.last(), Some(&Ok(500)));
    assert!(
        bus.first_seq() > 400,
        "old events were dropped: {}",
        bus.first_seq()
    );
}

#[test]
fn a_subscription_far_behind_catches_up_within_a_budget_per_call() {
    use crate::Peeked;
    let mut bus = open(medium());
    emit_n(&mut bus, "filler.x", 5);
    emit_n(&mut bus, "wanted.x", 1);
    for opts in ["from=all", "from=all\ndurable=d1"] {
        let sub = bus.subscribe(9, "wanted.>", &options(opts)).expect(opts);
        let mut calls = Vec::new();
        loop {
            match bus.peek_within(sub, 0, 2).expect("peek") {
                Peeked::More => calls.push(0),
                Peeked::Found(found) => {
                    calls.push(found.seq);
                    bus.take(sub, found.seq, 0);
                }
                Peeked::Nothing => break,
            }
        }
        // Two events read per call: 1-2, 3-4, then 5-6 finds 6; nothing was read twice.
        assert_eq!(calls, [0, 0, 6], "{opts}");
        bus.unsubscribe(sub, 0);
    }
}

#[test]
fn a_durable_consumer_belongs_to_the_program_that_first_attached_it() {
    use crate::Attacher::{Operator, Program};
    let mut bus = open(medium());
    emit_n(&mut bus, "cmd.x", 2);
    let opts = options("durable=handler\nfrom=1");
    let sub = bus
        .subscribe_as(9, Program("/bin/ledger"), "cmd.>", &opts)
        .expect("claims it");
    // Its owner is recorded with its position (written as it finishes an event): after a
    // reboot it is still the ledger's.
    let f = bus.peek(sub, 0).expect("peek").expect("an event");
    bus.take(sub, f.seq, 0);
    bus.ack(sub, f.seq, false, 0).expect("ack");
    bus.unsubscribe(sub, 0);
    bus.commit(0);
    let mut bus = reboot(&mut bus);
    let other = Program("/bin/sub");
    assert_eq!(
        bus.subscribe_as(10, other, "cmd.>", &opts),
        Err(Error::PermissionDenied),
        "another program cannot attach it"
    );
    assert_eq!(
        bus.delete_consumer_as("handler", other, 0),
        Err(Error::PermissionDenied),
        "nor delete it"
    );
    let sub = bus
        .subscribe_as(11, Program("/bin/ledger"), "cmd.>", &opts)
        .expect("its own program attaches it");
    let got: Vec<u64> = drain(&mut bus, sub, 0).iter().map(|g| g.0).collect();
    assert_eq!(got, [2]);
    bus.unsubscribe(sub, 0);
    // The operator may delete it; then the name is free for anyone.
    assert_eq!(bus.delete_consumer_as("handler", Operator, 0), Ok(()));
    bus.commit(0);
    let mut bus = reboot(&mut bus);
    assert!(bus.subscribe_as(12, other, "cmd.>", &opts).is_ok());
}

#[test]
fn a_subscriber_holds_at_most_its_share_of_the_table() {
    use crate::{MAX_SUBSCRIPTIONS, SUBSCRIPTION_SHARE};
    let mut bus = open(medium());
    let plain = options("");
    let mut held = Vec::new();
    for _ in 0..SUBSCRIPTION_SHARE {
        held.push(bus.subscribe(9, ">", &plain).expect("within its share"));
    }
    assert_eq!(bus.subscribe(9, ">", &plain), Err(Error::OutOfMemory));
    // The others still subscribe, up to the table's size.
    let others = (10..).take(MAX_SUBSCRIPTIONS / SUBSCRIPTION_SHARE - 1);
    for pid in others {
        for _ in 0..SUBSCRIPTION_SHARE {
            bus.subscribe(pid, ">", &plain)
                .expect("another subscriber's share");
        }
    }
    assert_eq!(
        bus.subscribe(99, ">", &plain),
        Err(Error::OutOfMemory),
        "table full"
    );
    bus.unsubscribe(held[0], 0);
    assert!(bus.subscribe(9, ">", &plain).is_ok(), "its share back");
}

#[test]
fn a_lagging_durable_consumer_keeps_its_events_until_it_acknowledges_them() {
    let mut bus = open(medium());
    let options = options("durable=billing\nfrom=1");
    let sub = bus.subscribe(9, "orders.>", &options).expect("subscribes");
    let answers = emit_n(&mut bus, "orders.new", 200);
    let refused = answers
        .iter()
        .position(Result::is_err)
        .expect("the journal fills");
    assert_eq!(answers[refused], Err(Error::NoSpace));
    assert!(refused > 20, "{refused} events fitted");
    // The consumer still gets its first event.
    let first = bus.peek(sub, 0).expect("peek").expect("an event");
    assert_eq!(first.seq, 1);
    // Once it has read and acknowledged everything, that room is reused.
    let mut read = 0;
    while let Some(found) = bus.peek(sub, 0).expect("peek") {
        bus.take(sub, found.seq, 0);
        bus.ack(sub, found.seq, false, 0).expect("ack");
        read += 1;
    }
    assert_eq!(read, refused, "every accepted event, once");
    // (It is behind again after as many as fit; fewer than that.)
    let more = emit_n(&mut bus, "orders.new", 20);
    assert!(
        more.iter().all(Result::is_ok),
        "{:?}",
        more.iter().find(|r| r.is_err())
    );
    // Its floor, recorded in the journal, is kept too: the consumer resumes after it.
    bus.unsubscribe(sub, 0);
    let again = bus
        .subscribe(9, "orders.>", &options)
        .expect("subscribes again");
    let next = bus.peek(again, 0).expect("peek").expect("an event");
    assert!(next.seq > refused as u64, "{} after {refused}", next.seq);
}

#[test]
fn a_deleted_durable_consumer_no_longer_holds_the_journal() {
    let mut bus = open(medium());
    let options = options("durable=billing\nfrom=1");
    let sub = bus.subscribe(9, "orders.>", &options).expect("subscribes");
    let answers = emit_n(&mut bus, "orders.new", 200);
    assert!(
        answers.contains(&Err(Error::NoSpace)),
        "it held the journal"
    );
    // It acknowledges its first event: its position is recorded (as it unsubscribes).
    let first = bus.peek(sub, 0).expect("peek").expect("an event");
    bus.take(sub, first.seq, 0);
    bus.ack(sub, first.seq, false, 0).expect("ack");
    // Not while a subscription uses it; not one that does not exist.
    assert_eq!(bus.delete_consumer("billing", 0), Err(Error::Busy));
    assert_eq!(bus.delete_consumer("nobody", 0), Err(Error::NotFound));
    bus.unsubscribe(sub, 0);
    assert_eq!(bus.delete_consumer("billing", 0), Ok(()));
    assert_eq!(bus.delete_consumer("billing", 0), Err(Error::NotFound));
    // The journal takes events again, dropping what only the consumer needed.
    let more = emit_n(&mut bus, "orders.new", 200);
    assert!(
        more.iter().all(Result::is_ok),
        "{:?}",
        more.iter().find(|r| r.is_err())
    );
    // The name starts afresh: from the oldest event kept, not from its old position.
    let again = bus.subscribe(9, "orders.>", &options).expect("subscribes");
    let first = bus.peek(again, 0).expect("peek").expect("an event");
    assert_eq!(first.seq, bus.first_seq());
    assert!(first.seq > 1);
}

#[test]
fn delete_needs_a_durable_name() {
    assert_eq!(
        SubscribeOptions::parse("delete=1"),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        SubscribeOptions::parse("durable=x\ndelete=yes"),
        Err(Error::InvalidArgument)
    );
    assert!(options("durable=x\ndelete=1").delete);
}

#[test]
fn a_durable_consumer_resumes_after_a_reboot_where_it_acknowledged() {
    let mut bus = open(medium());
    let options = options("durable=w");
    let sub = bus.subscribe(9, "jobs.>", &options).expect("subscribes");
    // Its starting point is recorded with the next commit, though it acknowledged nothing.
    assert_eq!(bus.has_pending(), (true, false));
    emit_n(&mut bus, "jobs.a", 3);
    let f = bus.peek(sub, 0).expect("peek").expect("an event");
    bus.take(sub, f.seq, 0);
    bus.ack(sub, f.seq, false, 0).expect("ack");
    bus.commit(0);
    let mut bus = reboot(&mut bus);
    let sub = bus.subscribe(9, "jobs.>", &options).expect("subscribes");
    let got = drain(&mut bus, sub, 0);
    assert_eq!(got.len(), 2, "the rest, at least once: {got:?}");
    assert!(got.iter().all(|g| g.0 > f.seq && g.2 == 1), "{got:?}");
    // One subscriber at a time per consumer.
    assert_eq!(bus.subscribe(8, "jobs.>", &options), Err(Error::Busy));
}

#[test]
fn a_failed_event_comes_again_then_goes_to_its_dead_letter_subject() {
    let mut bus = open(medium());
    let sub = bus
        .subscribe(9, "orders.>", &options("durable=billing\nmax_deliver=2"))
        .expect("subscribes");
    bus.queue(7, {
        let mut e = event("orders.new", 0);
        e.headers.push(("idempotency_key".into(), "k".into()));
        e
    });
    bus.commit(0);
    let got = drain(&mut bus, sub, 0);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].1.as_str(), got[0].2), ("orders.new", 1));
    let seq = got[0].0;
    assert_eq!(bus.ack(sub, 99, false, 0), Err(Error::NotFound));
    bus.ack(sub, seq, true, 0).expect("nak");
    // Due again after the backoff: the waiting subscriber must be woken.
    let due = bus.next_deadline().expect("a redelivery is due");
    assert_eq!(bus.due(due - 1), []);
    assert_eq!(bus.due(due), [(9, sub)]);
    assert_eq!(
        drain(&mut bus, sub, due),
        [(seq, String::from("orders.new"), 2)]
    );
    bus.ack(sub, seq, true, due).expect("nak");
    // Given up: a dead letter is queued, the consumer moves on.
    let later = bus.next_deadline().expect("due");
    assert_eq!(drain(&mut bus, sub, later), []);
    bus.commit(later);
    let all = bus
        .subscribe(8, "dlq.>", &options("from=all"))
        .expect("subscribes");
    let dead = bus.peek(all, later).expect("peek").expect("a dead letter");
    assert_eq!(dead.event.name, "dlq.billing.orders.new");
    assert_eq!(dead.event.causation_id, seq);
    assert_eq!(dead.event.header_lines(), "dlq_attempts=2");
    // A plain subscription cannot ack.
    assert_eq!(bus.ack(all, dead.seq, false, 0), Err(Error::Unsupported));
}

#[test]
fn a_queue_group_shares_events_and_a_member_holds_a_bounded_backlog() {
    let mut bus = open(medium_of(64 << 10));
    let a = bus
        .subscribe(9, "jobs.>", &options("queue=w"))
        .expect("subscribes");
    let b = bus
        .subscribe(8, "jobs.>", &options("queue=w"))
        .expect("subscribes");
    let mut woken = Vec::new();
    for i in 0..4 {
        bus.queue(7, event("jobs.x", i));
        woken.extend(bus.commit(0).subscribers);
        bus.take_answer(7);
    }
    assert_eq!(woken, [(9, a), (8, b), (9, a), (8, b)], "round robin");
    let seqs = |got: Vec<(u64, String, u32)>| got.iter().map(|g| g.0).collect::<Vec<_>>();
    assert_eq!(seqs(drain(&mut bus, a, 0)), [1, 3]);
    assert_eq!(seqs(drain(&mut bus, b, 0)), [2, 4]);
    // Past QUEUE_BACKLOG, the oldest are dropped.
    emit_n(&mut bus, "jobs.y", 2 * crate::QUEUE_BACKLOG + 10);
    let got = seqs(drain(&mut bus, a, 0));
    assert_eq!(got.len(), crate::QUEUE_BACKLOG);
}

#[test]
fn a_next_with_wait_ms_times_out_once_its_time_has_passed() {
    let mut bus = open(medium());
    let sub = bus
        .subscribe(9, "x", &options("wait_ms=5"))
        .expect("subscribes");
    assert_eq!(bus.wait_or_time_out(sub, 1_000), Ok(true));
    assert_eq!(bus.next_deadline(), Some(6_000));
    assert_eq!(bus.due(5_999), []);
    assert_eq!(bus.due(6_000), [(9, sub)]);
    assert_eq!(bus.wait_or_time_out(sub, 6_000), Ok(false));
    assert_eq!(bus.owner(sub), Some(9));
    bus.forget(9, 6_000);
    assert_eq!(bus.owner(sub), None);
    assert_eq!(bus.wait_or_time_out(sub, 0), Err(Error::BadHandle));
}

#[test]
fn events_carry_the_date_once_it_is_known() {
    let mut bus = open(medium());
    let sub = bus
        .subscribe(9, ">", &options("from=all"))
        .expect("subscribes");
    // Before the date is known: microseconds since boot.
    bus.queue(7, system("a.b".into(), "{}".into(), 5));
    bus.commit(5);
    // 2026-12-06 10:00:00 UTC was 100 s after boot.
    let wall_at_boot = 1_796_551_200 - 100;
    bus.set_wall_clock(wall_at_boot, 100_000_000);
    bus.queue(7, system("a.c".into(), "{}".into(), 100_000_000));
    bus.commit(100_000_000);
    let mut ts = Vec::new();
    while let Some(found) = bus.peek(sub, 0).expect("peek") {
        ts.push(found.event.ts_us);
        bus.take(sub, found.seq, 0);
    }
    assert_eq!(ts, [5, 1_796_551_200 * 1_000_000]);
}

#[test]
fn a_watch_names_its_service_once_per_commit_with_matching_events() {
    let mut bus = open(medium());
    assert_eq!(bus.watch(3, "orders.>"), Ok(0));
    assert_eq!(
        bus.watch(3, "bad..pattern").map_err(|e| e.0),
        Err(Error::InvalidArgument)
    );
    bus.queue(7, event("orders.a", 0));
    bus.queue(SYSTEM, event("orders.b", 1));
    bus.queue(SYSTEM, event("other", 2));
    let done = bus.commit(0);
    assert_eq!(done.watches, [(3, 0)]);
    assert_eq!(done.emitters, [7], "the system's events answer nobody");
    bus.queue(7, event("other", 3));
    assert_eq!(bus.commit(0).watches, []);
    for _ in 1..crate::MAX_WATCHES {
        bus.watch(4, ">").expect("watches");
    }
    assert_eq!(bus.watch(4, ">").map_err(|e| e.0), Err(Error::OutOfMemory));
}

#[test]
fn timers_fire_events_and_say_which_program_starts_and_by_whom() {
    let mut bus = open(medium());
    let spec = |text: &'static str| TimerSpec::parse(text).expect("a spec");
    bus.set_timer(&spec("tick every 1s run hello"), 0, 1)
        .expect("set");
    bus.set_timer(&spec("once after 500ms"), 0, 1).expect("set");
    assert_eq!(
        bus.set_timer(&spec("c cron 0 * * * *"), 0, 1),
        Err((
            Error::InvalidArgument,
            String::from("no wall clock for cron: set the time with date -s")
        ))
    );
    assert_eq!(bus.next_deadline(), Some(500_000));
    assert_eq!(bus.fire_timers(500_000), []);
    let starts = bus.fire_timers(1_000_000);
    assert_eq!(
        starts,
        [Start {
            program: String::from("hello"),
            parent: TIMER_STARTER,
            allow: None,
        }]
    );
    assert_eq!(TIMER_STARTER, zb_abi::runs::CONSOLE_PID);
    bus.commit(1_000_000);
    let all = bus
        .subscribe(9, "timer.>", &options("from=all"))
        .expect("subscribes");
    let names: Vec<String> = drain(&mut bus, all, 0).into_iter().map(|g| g.1).collect();
    assert_eq!(names, ["timer.once", "timer.tick"]);
    bus.set_timer(&spec("tick off"), 0, 1).expect("off");
    assert!(bus.set_timer(&spec("tick off"), 0, 1).is_err());
    assert_eq!(bus.fire_timers(2_000_000), []);
}

#[test]
fn a_timer_is_its_programs_and_starts_its_program_with_the_setters_grants() {
    use crate::Attacher::{Operator, Program};
    let mut bus = open(medium());
    let spec = |text: &'static str| TimerSpec::parse(text).expect("a spec");
    let grants = Some(alloc::vec![String::from("file:///data/app")]);
    let app = Program("/bin/app");
    bus.set_timer_as(&spec("esc after 1s run fileio"), 0, 5, app, grants.clone())
        .expect("set");
    // Another program can neither replace nor cancel it; its own program and the operator
    // can.
    let other = Program("/bin/timer");
    for text in ["esc off", "esc after 5s run fileio"] {
        let refused = bus.set_timer_as(&spec(text), 0, 6, other, None);
        assert_eq!(
            refused.map_err(|e| e.0),
            Err(Error::PermissionDenied),
            "{text}"
        );
    }
    assert_eq!(
        bus.fire_timers(1_000_000),
        [Start {
            program: String::from("fileio"),
            parent: TIMER_STARTER,
            allow: grants.clone(),
        }],
        "its program gets the setter's grants, never more"
    );
    bus.set_timer_as(&spec("beat every 1s"), 0, 5, app, None)
        .expect("set");
    bus.set_timer_as(&spec("beat off"), 0, 7, app, None)
        .expect("its program's other run cancels it");
    bus.set_timer_as(&spec("beat every 1s"), 0, 5, app, None)
        .expect("set");
    bus.set_timer_as(&spec("beat off"), 0, 1, Operator, None)
        .expect("the operator cancels any");
    // The operator's timers are the operator's alone.
    bus.set_timer_as(&spec("ops every 1s"), 0, 1, Operator, None)
        .expect("set");
    let refused = bus.set_timer_as(&spec("ops off"), 0, 5, app, None);
    assert_eq!(refused.map_err(|e| e.0), Err(Error::PermissionDenied));
}

fn with_view(bus: &mut TestBus, pattern: &str) -> Rc<Cell<u32>> {
    let counter = Counter::default();
    let starts = counter.starts.clone();
    let line = bus.add_view("count", pattern, counter).expect("loads");
    assert!(line.starts_with("view count: height "), "{line}");
    starts
}

#[test]
fn a_view_folds_matching_events_and_is_restored_from_its_snapshot_after_a_reboot() {
    let mut bus = open(medium());
    with_view(&mut bus, "orders.>");
    assert_eq!(
        bus.add_view("count", ">", Counter::default()),
        Err(String::from("declared twice"))
    );
    for subject in ["orders.a", "other.x", "orders.b", "orders.c"] {
        emit_n(&mut bus, subject, 1);
    }
    assert_eq!(bus.scan("count", "k"), Ok(b"3".to_vec()));
    assert_eq!(
        bus.scan("count", "none").map_err(|e| e.0),
        Err(Error::NotFound)
    );
    assert_eq!(bus.scan("nope", "k").map_err(|e| e.0), Err(Error::NotFound));
    let long = "k".repeat(zb_abi::view::INPUT_BYTES + 1);
    assert_eq!(
        bus.scan("count", &long).map_err(|e| e.0),
        Err(Error::TooLarge)
    );
    // Sealed at its height: the snapshot goes in with the next commit.
    assert_eq!(bus.seal("count", 0), Ok(4));
    bus.commit(0);
    emit_n(&mut bus, "orders.d", 1);
    let mut again = reboot(&mut bus);
    let line = again
        .add_view("count", "orders.>", Counter::default())
        .expect("loads");
    assert_eq!(line, "view count: height 6, from its snapshot at 4");
    assert_eq!(again.scan("count", "k"), Ok(b"4".to_vec()));
    let v = again.view("count").expect("a view");
    assert_eq!((v.height, v.sealed, v.state_name()), (6, 4, "resident"));
}

#[test]
fn recovery_trusts_only_the_systems_own_snapshot_and_consumer_records() {
    let mut bus = open(medium());
    with_view(&mut bus, "orders.>");
    emit_n(&mut bus, "orders.a", 2);
    // Records on the system's subjects that the system did not write (an older build's, or
    // forged past the emit check): a snapshot claiming a huge height, and a consumer position
    // past everything.
    let forge = |mut e: Envelope| {
        e.source = String::from("run:5 forger");
        e
    };
    for part in crate::snapshot::parts("count", 999_999_999, &9u32.to_le_bytes(), 1024, 0) {
        bus.queue(7, forge(part));
    }
    let floor = system(
        String::from("_consumer.billing"),
        String::from(r#"{"floor":18446744073709551615}"#),
        0,
    );
    bus.queue(7, forge(floor));
    bus.commit(0);
    emit_n(&mut bus, "orders.b", 1);
    let mut again = reboot(&mut bus);
    let line = again
        .add_view("count", "orders.>", Counter::default())
        .expect("loads");
    assert_eq!(
        line, "view count: height 5",
        "the forged snapshot is not used"
    );
    assert_eq!(again.scan("count", "k"), Ok(b"3".to_vec()));
    // The durable consumer starts where no forged floor put it: it gets the orders.
    let billing = again
        .subscribe(9, "orders.>", &options("durable=billing\nfrom=1"))
        .expect("subscribes");
    let got: Vec<u64> = drain(&mut again, billing, 0).iter().map(|g| g.0).collect();
    assert_eq!(got, [1, 2, 5]);
}

#[test]
fn a_view_whose_events_are_gone_stops_and_says_so() {
    // No view held the journal: the oldest events went to make room.
    let mut bus = open(medium());
    emit_n(&mut bus, "orders.new", 200);
    let first = bus.first_seq();
    assert!(first > 1, "the journal wrapped");
    let mut again = reboot(&mut bus);
    let line = again
        .add_view("count", "orders.>", Counter::default())
        .expect("loads");
    assert_eq!(
        line,
        format!(
            "view count: stopped: events 1..{} it has not folded are gone from the journal \
             (no snapshot covers them)",
            first - 1
        )
    );
    assert_eq!(
        again.scan("count", "k").map_err(|e| e.0),
        Err(Error::Corrupt)
    );
}

#[test]
fn a_view_holds_the_journal_until_it_is_sealed() {
    let mut bus = open(medium());
    with_view(&mut bus, "orders.>");
    let answers = emit_n(&mut bus, "orders.new", 30);
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(bus.retention_floor(), 1);
    // Sealed at its height; only once the snapshot is committed may what it covers go.
    bus.seal("count", 0).expect("seals");
    assert_eq!(
        bus.retention_floor(),
        1,
        "not before the snapshot is durable"
    );
    bus.commit(0);
    assert_eq!(bus.retention_floor(), 31);
}

#[test]
fn a_full_journal_seals_the_views_holding_it_from_the_room_kept_and_takes_events_again() {
    let mut bus = open(medium());
    with_view(&mut bus, "orders.>");
    let answers = emit_n(&mut bus, "orders.new", 200);
    let refused = answers.iter().position(Result::is_err).expect("it fills");
    assert_eq!(
        answers[refused],
        Err(Error::NoSpace),
        "room is kept for the system"
    );
    // The view was sealed from that room, its events released, and emits go in again: one
    // emit loop does not leave the journal full for everyone.
    let v = bus.view("count").expect("a view");
    assert!(v.sealed >= refused as u64, "sealed at {}", v.sealed);
    let later = answers[refused..].iter().filter(|a| a.is_ok()).count();
    assert!(later > 100, "{answers:?}");
    // And the snapshot is a real one: after a reboot the view starts from it.
    let mut again = reboot(&mut bus);
    let line = again
        .add_view("count", "orders.>", Counter::default())
        .expect("loads");
    assert!(line.contains("from its snapshot at"), "{line}");
    let count = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(
        again.scan("count", "k"),
        Ok(format!("{count}").into_bytes())
    );
}

#[test]
fn a_paged_out_view_folds_nothing_until_it_is_asked_then_catches_up() {
    let mut bus = open(medium());
    let starts = with_view(&mut bus, "orders.>");
    emit_n(&mut bus, "orders.a", 1);
    assert_eq!(bus.page_out_views(), 1);
    assert_eq!(bus.page_out_views(), 0, "already out");
    let v = bus.view("count").expect("a view");
    assert_eq!((v.height, v.state_name()), (1, "paged out"));
    for subject in ["orders.b", "other.x", "orders.c"] {
        emit_n(&mut bus, subject, 1);
    }
    assert_eq!(
        bus.view("count").map(|v| v.height),
        Some(1),
        "out: no folds"
    );
    assert_eq!(bus.scan("count", "k"), Ok(b"3".to_vec()));
    assert_eq!(starts.get(), 2, "started again with its state");
    // Sealing a paged-out view pages it in and seals its caught-up height.
    bus.page_out_views();
    emit_n(&mut bus, "orders.d", 1);
    assert_eq!(bus.seal("count", 0), Ok(5));
    assert_eq!(bus.scan("count", "k"), Ok(b"4".to_vec()));
}

#[test]
fn a_failing_reducer_stops_its_view_and_nothing_else() {
    let mut bus = open(medium());
    with_view(&mut bus, ">");
    emit_n(&mut bus, "a.b", 1);
    let answers = emit_n(&mut bus, "boom", 1);
    assert_eq!(answers, [Ok(2)], "the event itself is in the journal");
    let (e, why) = bus.scan("count", "x").unwrap_err();
    assert_eq!(e, Error::Corrupt);
    assert_eq!(
        why,
        "view count stopped: reduce of event 2 failed: unreachable"
    );
    assert_eq!(bus.seal("count", 0).map_err(|e| e.0), Err(Error::Corrupt));
    assert_eq!(bus.page_out_views(), 0, "a stopped view stays as it is");
    assert_eq!(bus.view("count").map(|v| v.state_name()), Some("stopped"));
    assert_eq!(emit_n(&mut bus, "a.c", 1), [Ok(3)]);
}

#[test]
fn what_holds_the_retention_floor_is_listed_oldest_first() {
    let mut bus = open(medium());
    with_view(&mut bus, "orders.>");
    emit_n(&mut bus, "orders.new", 3);
    let billing = bus
        .subscribe(9, "orders.>", &options("durable=billing\nfrom=2"))
        .expect("subscribes");
    bus.commit(7_000_000);
    let holders = bus.floor_holders();
    let names: Vec<(&str, u64)> = holders.iter().map(|h| (h.0.as_str(), h.1)).collect();
    assert_eq!(names, [("view count", 1), ("durable consumer billing", 2)]);
    assert_eq!(bus.retention_floor(), 1);
    // Sealed, the view no longer holds anything: the consumer is what holds the floor now.
    bus.seal("count", 8_000_000).expect("seals");
    bus.commit(8_000_000);
    let holders = bus.floor_holders();
    assert_eq!(
        holders.first().map(|h| (h.0.as_str(), h.1)),
        Some(("durable consumer billing", 2))
    );
    assert_eq!(bus.retention_floor(), 2);
    bus.unsubscribe(billing, 9_000_000);
}

#[test]
fn a_consumer_reading_past_its_own_records_does_not_write_record_after_record() {
    use crate::Attacher::Program;
    let mut bus = open(medium());
    emit_n(&mut bus, "other.x", 2);
    let opts = options("durable=handler\nfrom=1");
    let sub = bus
        .subscribe_as(9, Program("/bin/ledger"), "cmd.>", &opts)
        .expect("claims it");
    // Reading past events it does not match writes nothing while it stays attached (its
    // position is in memory, and what retention sees).
    for _ in 0..5 {
        assert!(bus.peek(sub, 0).expect("peek").is_none());
        bus.commit(0);
    }
    assert_eq!(bus.stats().last_seq, 2, "no record per commit");
    // Detaching records where it got to, once.
    bus.unsubscribe(sub, 0);
    bus.commit(0);
    assert_eq!(bus.stats().last_seq, 3);
    let mut bus = reboot(&mut bus);
    let sub = bus
        .subscribe_as(9, Program("/bin/ledger"), "cmd.>", &opts)
        .expect("again");
    assert!(bus.peek(sub, 0).expect("peek").is_none());
    bus.commit(0);
    assert_eq!(bus.stats().last_seq, 3, "nothing new to record");
}

#[test]
fn durable_consumer_names_are_bounded_per_program_and_in_all() {
    use crate::Attacher::{Operator, Program};
    use crate::{CONSUMER_SHARE, MAX_CONSUMERS};
    let mut bus = open(medium());
    fn attach(bus: &mut TestBus, by: crate::Attacher<'_>, name: &str) -> Result<(), Error> {
        let opts = format!("durable={name}\nfrom=1");
        let sub = bus.subscribe_as(9, by, ">", &options(&opts))?;
        bus.unsubscribe(sub, 0);
        Ok(())
    }
    for i in 0..CONSUMER_SHARE {
        attach(&mut bus, Program("/bin/loop"), &format!("n{i}")).expect("within its share");
    }
    assert_eq!(
        attach(&mut bus, Program("/bin/loop"), "one-more"),
        Err(Error::OutOfMemory),
        "a loop of fresh names stops at the program's share"
    );
    attach(&mut bus, Program("/bin/loop"), "n0").expect("its own names still attach");
    // Others still create theirs, up to the bound for all.
    let mut i = 0;
    loop {
        let program = format!("/bin/p{}", i / CONSUMER_SHARE);
        if attach(&mut bus, Program(&program), &format!("o{i}")).is_err() {
            break;
        }
        i += 1;
    }
    assert_eq!(bus.consumers.len(), MAX_CONSUMERS);
    assert_eq!(attach(&mut bus, Operator, "fresh"), Err(Error::OutOfMemory));
    // Deleting one makes room.
    assert_eq!(bus.delete_consumer_as("n1", Operator, 0), Ok(()));
    attach(&mut bus, Operator, "fresh").expect("room again");
}
