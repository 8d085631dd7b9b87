//! Host tests of the kernel's side of the bus: wasm runs (WAT) emitting into a RAM journal and
//! subscribing through the syscall gate, views reduced by wasm, paged by the kernel's heap,
//! and what a commit and a timer make the kernel do. The bus's policy itself (retention,
//! durable consumers, dead letters, snapshots, timers) is tested in `zb-bus`.

extern crate std;

use std::format;
use std::string::String;

use zb_abi::{Error, StateName, WaitOn};

use super::runs::Sim;
use crate::run::ExitStatus;

/// Data at fixed places: the subject at 0, the payload at 64, the headers at 160.
fn data(subject: &str, payload: &str, headers: &str) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\0a")
    };
    format!(
        r#"(data (i32.const 0) "{}") (data (i32.const 64) "{}") (data (i32.const 160) "{}")"#,
        esc(subject),
        esc(payload),
        esc(headers)
    )
}

/// A run that emits one event and exits with: the error (negative), or
/// `1000 * duplicate + seq`.
fn emitter(subject: &str, payload: &str, headers: &str) -> String {
    format!(
        r#"(memory (export "memory") 1) {}
  (func (export "_start") (local $r i64)
    (local.set $r (call $emit (i32.const 0) (i32.const {}) (i32.const 64) (i32.const {})
                              (i32.const 160) (i32.const {})))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (call $exit (i32.wrap_i64 (local.get $r)))))
    (call $exit (i32.wrap_i64 (i64.add
      (i64.mul (i64.shr_u (local.get $r) (i64.const 62)) (i64.const 1000))
      (i64.and (local.get $r) (i64.const 0xffff))))))"#,
        data(subject, payload, headers),
        subject.len(),
        payload.len(),
        headers.len()
    )
}

/// A run that asks view `view` about `key`, prints the answer and exits 0 (or with the error).
/// Its memory is 1 KiB (small runs are admitted where a view's reducer would not be).
fn scanner(view: &str, key: &str) -> String {
    format!(
        r#"(memory (export "memory") 1024 (pagesize 1)) {}
  (func (export "_start") (local $r i64)
    (local.set $r (call $scan (i32.const 0) (i32.const {}) (i32.const 64) (i32.const {})
                              (i32.const 512) (i32.const 256)))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (call $exit (i32.wrap_i64 (local.get $r)))))
    (drop (call $write (i32.const 1) (i32.const 512) (i32.wrap_i64 (local.get $r))))
    (call $exit (i32.const 0)))"#,
        data(view, key, ""),
        view.len(),
        key.len()
    )
}

/// A run that subscribes to `pattern` with `options`, then prints `<subject> <payload>\n` for
/// each of `count` events and exits 0 (or with the first error).
fn subscriber(pattern: &str, options: &str, count: u32) -> String {
    format!(
        r#"(memory (export "memory") 1) {}
  (data (i32.const 200) " \n")
  (func (export "_start") (local $h i64) (local $n i64) (local $left i32) (local $off i32)
    (local.set $left (i32.const {count}))
    (local.set $h (call $subscribe (i32.const 0) (i32.const {}) (i32.const 64) (i32.const {})))
    (if (i64.lt_s (local.get $h) (i64.const 0))
      (then (call $exit (i32.wrap_i64 (local.get $h)))))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $left)))
      (local.set $n (call $next (i32.wrap_i64 (local.get $h)) (i32.const 256) (i32.const 1024)
                                (i32.const 0)))
      (if (i64.lt_s (local.get $n) (i64.const 0))
        (then (call $exit (i32.wrap_i64 (local.get $n)))))
      (drop (call $write (i32.const 1) (i32.const 304) (i32.load16_u (i32.const 292))))
      (drop (call $write (i32.const 1) (i32.const 200) (i32.const 1)))
      (local.set $off (i32.add (i32.const 304)
        (i32.add (i32.load16_u (i32.const 292))
          (i32.add (i32.load16_u (i32.const 294))
            (i32.add (i32.load16_u (i32.const 296)) (i32.load16_u (i32.const 298)))))))
      (drop (call $write (i32.const 1) (local.get $off) (i32.load (i32.const 300))))
      (drop (call $write (i32.const 1) (i32.const 201) (i32.const 1)))
      (local.set $left (i32.sub (local.get $left) (i32.const 1)))
      (br $l)))
    (call $exit (i32.const 0)))"#,
        data(pattern, options, ""),
        pattern.len(),
        options.len()
    )
}

fn sim() -> Sim {
    let mut s = Sim::new();
    let line = s.k.open_journal(None);
    assert!(line.contains("in RAM"), "{line}");
    s
}

fn err(e: Error) -> ExitStatus {
    ExitStatus::Ok(-(e as i32))
}

#[test]
fn an_emit_waits_for_the_commit_and_gets_its_sequence_number() {
    let mut s = sim();
    s.program(
        "e",
        &emitter("ledger.transfer.requested", r#"{"amount":5}"#, ""),
    );
    let a = s.spawn("e", &[]);
    let b = s.spawn("e", &[]);
    // One slice each: both are parked until the group commit.
    assert!(s.k.step());
    assert!(s.k.step());
    assert_eq!(s.state(a), (StateName::Wait, Some(WaitOn::Commit)));
    assert_eq!(s.state(b), (StateName::Wait, Some(WaitOn::Commit)));
    s.run(50);
    assert_eq!(s.status(a), Some(ExitStatus::Ok(1)));
    assert_eq!(s.status(b), Some(ExitStatus::Ok(2)));
    let stats = s.k.bus_stats().expect("a journal");
    assert_eq!(
        (stats.emitted, stats.commits),
        (2, 1),
        "one commit for both"
    );
}

#[test]
fn a_repeated_idempotency_key_returns_the_first_sequence_number() {
    let mut s = sim();
    s.program(
        "e",
        &emitter("a.b", "{}", "idempotency_key=k1\ntenant=acme"),
    );
    s.program("other", &emitter("a.c", "[]", ""));
    let first = s.spawn("e", &[]);
    s.run(50);
    let other = s.spawn("other", &[]);
    s.run(50);
    let again = s.spawn("e", &[]);
    s.run(50);
    assert_eq!(s.status(first), Some(ExitStatus::Ok(1)));
    assert_eq!(s.status(other), Some(ExitStatus::Ok(2)));
    assert_eq!(
        s.status(again),
        Some(ExitStatus::Ok(1001)),
        "duplicate of 1"
    );
    assert_eq!(s.k.bus_stats().map(|s| s.last_seq), Some(2));
}

#[test]
fn bad_events_are_refused_with_a_reason_and_append_nothing() {
    let mut s = sim();
    for (name, subject, payload, headers) in [
        ("notjson", "a.b", "{nope}", ""),
        ("wildcard", "a.*", "{}", ""),
        ("empty-token", "a..b", "{}", ""),
        ("bad-header", "a.b", "{}", "no equals sign"),
        ("bad-version", "a.b", "{}", "version=x"),
        // The system's own subjects: boot recovery trusts what is written there.
        (
            "snapshot",
            "_snapshot.ledger.balances",
            r#"{"height":999999999,"part":0,"parts":1,"data":"00"}"#,
            "",
        ),
        ("consumer", "_consumer.ledger-cmd", r#"{"floor":1}"#, ""),
        ("dead-letter", "dlq.billing.orders.new", "{}", ""),
        ("timer", "timer.tick", "{}", ""),
    ] {
        s.program(name, &emitter(subject, payload, headers));
        let pid = s.spawn(name, &[]);
        s.run(50);
        assert_eq!(s.status(pid), Some(err(Error::InvalidArgument)), "{name}");
    }
    // Past the end of memory.
    s.program(
        "oob",
        r#"(memory (export "memory") 1)
  (func (export "_start")
    (call $exit (i32.wrap_i64 (call $emit (i32.const 65530) (i32.const 20) (i32.const 0)
                                          (i32.const 2) (i32.const 0) (i32.const 0)))))"#,
    );
    let pid = s.spawn("oob", &[]);
    s.run(50);
    assert_eq!(s.status(pid), Some(err(Error::BadAddress)));
    assert_eq!(s.k.bus_stats().map(|s| s.last_seq), Some(0));
}

#[test]
fn last_error_says_why_an_emit_was_refused() {
    let mut s = sim();
    s.program(
        "why",
        &format!(
            r#"(memory (export "memory") 1) {}
  (func (export "_start") (local $n i64)
    (drop (call $emit (i32.const 0) (i32.const 3) (i32.const 64) (i32.const 6)
                      (i32.const 160) (i32.const 0)))
    (local.set $n (call $last_error (i32.const 300) (i32.const 200)))
    (drop (call $write (i32.const 1) (i32.const 300) (i32.wrap_i64 (local.get $n)))))"#,
            data("a.b", "{nope}", "")
        ),
    );
    s.spawn("why", &[]);
    s.run(50);
    assert!(
        s.out.starts_with("the payload is not JSON: at byte 1"),
        "{}",
        s.out
    );
}

#[test]
fn subscribers_get_matching_events_after_they_subscribed() {
    let mut s = sim();
    s.program("early", &emitter("ledger.old", "1", ""));
    s.spawn("early", &[]);
    s.run(50);
    s.program("sub", &subscriber("ledger.>", "", 2));
    let sub = s.spawn("sub", &[]);
    s.run(50);
    assert_eq!(s.state(sub), (StateName::Wait, Some(WaitOn::Event)));
    s.program("x", &emitter("sensors.temp", "21", ""));
    s.program(
        "y",
        &emitter("ledger.transfer.requested", r#"{"amount":5}"#, ""),
    );
    s.program("z", &emitter("ledger.balance.changed", "[5]", ""));
    for p in ["x", "y", "z"] {
        s.spawn(p, &[]);
        s.run(50);
    }
    assert_eq!(s.status(sub), Some(ExitStatus::Ok(0)));
    assert_eq!(
        s.out,
        "ledger.transfer.requested {\"amount\":5}\nledger.balance.changed [5]\n"
    );
}

#[test]
fn a_subscription_from_the_start_reads_the_journal_and_ends_with_its_run() {
    let mut s = sim();
    for (i, subject) in ["a.x", "b.x", "a.y"].iter().enumerate() {
        let name = format!("e{i}");
        s.program(&name, &emitter(subject, &format!("{i}"), ""));
        s.spawn(&name, &[]);
        s.run(50);
    }
    s.program("sub", &subscriber("a.*", "from=all", 2));
    let sub = s.spawn("sub", &[]);
    s.run(50);
    assert_eq!(s.status(sub), Some(ExitStatus::Ok(0)));
    assert_eq!(s.out, "a.x 0\na.y 2\n");
    assert_eq!(s.k.bus_stats().map(|s| s.subscriptions), Some(0));
    // A bad pattern or option is refused.
    s.program("bad", &subscriber("a.>.b", "", 1));
    s.program("badopt", &subscriber("a.>", "frm=1", 1));
    let bad = s.spawn("bad", &[]);
    let badopt = s.spawn("badopt", &[]);
    s.run(50);
    assert_eq!(s.status(bad), Some(err(Error::InvalidArgument)));
    assert_eq!(s.status(badopt), Some(err(Error::InvalidArgument)));
}

#[test]
fn a_queue_group_gives_each_event_to_one_member() {
    let mut s = sim();
    s.program("w", &subscriber("jobs.>", "queue=workers", 1));
    let w1 = s.spawn("w", &[]);
    let w2 = s.spawn("w", &[]);
    s.run(50);
    s.program("j1", &emitter("jobs.a", "1", ""));
    s.program("j2", &emitter("jobs.b", "2", ""));
    s.spawn("j1", &[]);
    s.run(50);
    s.spawn("j2", &[]);
    s.run(50);
    assert_eq!(s.status(w1), Some(ExitStatus::Ok(0)));
    assert_eq!(s.status(w2), Some(ExitStatus::Ok(0)));
    assert!(
        s.out.contains("jobs.a 1\n") && s.out.contains("jobs.b 2\n"),
        "{}",
        s.out
    );
    assert_eq!(
        s.out.len(),
        "jobs.a 1\njobs.b 2\n".len(),
        "each once: {}",
        s.out
    );
}

/// A reducer that counts the events it folds (the count is in memory, so snapshots hold it),
/// answers `scan` with the count as one digit, and traps on an event named `boom`.
const COUNTER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "input") (result i32) (i32.const 1024))
  (func (export "reduce") (param $len i32) (result i32)
    ;; the subject starts at 1024 + 48; trap on "boom"
    (if (i32.eq (i32.load (i32.const 1072)) (i32.const 0x6d6f6f62)) (then unreachable))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.const 0))
  (func (export "scan") (param $len i32) (result i32)
    (i32.store8 (i32.const 1024) (i32.add (i32.const 48) (i32.load (i32.const 0))))
    (i32.const 1)))"#;

fn with_view(pattern: &str) -> Sim {
    let mut s = sim();
    let wasm = wat::parse_str(COUNTER).expect("valid WAT");
    s.raw("counter", wasm);
    let decl = format!("program counter\npattern {pattern}\n");
    s.k.install(
        "/etc/views/count.view",
        std::boxed::Box::leak(decl.into_bytes().into_boxed_slice()),
    );
    let lines = s.k.open_views("x86_64");
    assert_eq!(lines, ["view count: height 0"]);
    s
}

#[test]
fn a_view_folds_matching_events_and_answers_scan() {
    let mut s = with_view("orders.>");
    for (i, subject) in ["orders.a", "other.x", "orders.b", "orders.c"]
        .iter()
        .enumerate()
    {
        let name = format!("e{i}");
        s.program(&name, &emitter(subject, "{}", ""));
        s.spawn(&name, &[]);
        s.run(50);
    }
    let bus = s.k.bus.as_mut().expect("a journal");
    assert_eq!(bus.scan("count", "anything"), Ok(b"3".to_vec()));
    assert_eq!(
        bus.scan("nope", "x").map_err(|(e, _)| e),
        Err(Error::NotFound)
    );
    // Sealing records the height; the snapshot goes into the journal with the next commit.
    assert_eq!(bus.seal("count", 0), Ok(4));
    s.run(50);
    let last = s.k.bus_stats().map(|b| b.last_seq).unwrap_or(0);
    assert!(last > 4, "snapshot events were committed");
}

/// Whether view `count` is paged out.
fn paged_out(bus: &crate::bus::EventBus) -> bool {
    bus.view("count").is_some_and(|v| !v.is_resident())
}

fn emit_as_run(s: &mut Sim, subject: &str) {
    let name = format!("emit-{subject}");
    s.program(&name, &emitter(subject, "{}", ""));
    s.spawn(&name, &[]);
    s.run(50);
}

#[test]
fn a_paged_out_view_folds_what_it_missed_when_next_asked() {
    let mut s = with_view("orders.>");
    emit_as_run(&mut s, "orders.a");
    let bus = s.k.bus.as_mut().expect("a journal");
    assert_eq!(bus.views().next().map(|v| v.3), Some("resident"));
    assert_eq!(bus.page_out_views(), 1);
    assert_eq!(bus.page_out_views(), 0, "already out");
    assert!(paged_out(bus));
    assert_eq!(bus.views().next(), Some(("count", 1, 0, "paged out")));
    // Events committed while it is out stay in the journal only.
    for subject in ["orders.b", "other.x", "orders.c"] {
        emit_as_run(&mut s, subject);
    }
    let bus = s.k.bus.as_mut().expect("a journal");
    assert_eq!(bus.scan("count", "x"), Ok(b"3".to_vec()));
    assert!(!paged_out(bus), "paged in by scan");
    // Sealing a paged-out view pages it in and seals its caught-up height.
    assert_eq!(bus.page_out_views(), 1);
    emit_as_run(&mut s, "orders.d");
    let bus = s.k.bus.as_mut().expect("a journal");
    assert_eq!(bus.seal("count", 0), Ok(5));
    assert_eq!(bus.scan("count", "x"), Ok(b"4".to_vec()));
}

#[test]
fn on_a_small_heap_a_view_is_resident_only_while_it_answers() {
    let mut config = crate::config::KernelConfig::large(&[]);
    config.keep_compiled = false;
    let mut s = Sim::with(config);
    s.k.open_journal(None);
    s.raw("counter", wat::parse_str(COUNTER).expect("valid WAT"));
    s.k.install(
        "/etc/views/count.view",
        b"program counter\npattern orders.>\n",
    );
    assert_eq!(s.k.open_views("x86_64"), ["view count: height 0"]);
    let out = |s: &mut Sim| paged_out(s.k.bus.as_ref().expect("a journal"));
    assert!(out(&mut s), "paged out after the boot build");
    emit_as_run(&mut s, "orders.a");
    emit_as_run(&mut s, "orders.b");
    assert_eq!(s.k.scan_view("count", "x"), Ok(b"2".to_vec()));
    assert!(out(&mut s), "paged out again after answering");
    assert_eq!(s.k.seal_view("count"), Ok(2));
    assert!(out(&mut s));
    assert_eq!(s.k.scan_view("count", "x"), Ok(b"2".to_vec()));
}

#[test]
fn a_short_heap_pages_views_out_for_a_run_and_a_scan_pages_them_back_in() {
    use core::sync::atomic::{AtomicUsize, Ordering};
    let mut s = with_view("orders.>");
    static FREE: AtomicUsize = AtomicUsize::new(usize::MAX);
    fn free() -> usize {
        FREE.load(Ordering::Relaxed)
    }
    s.k.set_heap_probe(&free);
    emit_as_run(&mut s, "orders.a");
    // Too little heap for the next run (whose memory is 64 KiB): the kernel pages the view
    // out, and still refuses.
    FREE.store(40_000, Ordering::Relaxed);
    s.program("more", &emitter("orders.b", "{}", ""));
    let pid = s.spawn("more", &[]);
    match s.status(pid) {
        Some(ExitStatus::Rejected(m)) => assert!(m.contains("not enough kernel memory"), "{m}"),
        other => panic!("{other:?}"),
    }
    let bus = s.k.bus.as_mut().expect("a journal");
    assert!(paged_out(bus), "paged out");
    // A run's scan while the heap is still short: a clear error, nothing else changes.
    s.program("asker", &scanner("count", "k"));
    let pid = s.spawn("asker", &[]);
    s.run(50);
    assert_eq!(s.status(pid), Some(err(Error::OutOfMemory)));
    // With room again, the event goes in while the view is out, and a scan catches it up.
    FREE.store(usize::MAX, Ordering::Relaxed);
    let pid = s.spawn("more", &[]);
    s.run(50);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(2)));
    let pid = s.spawn("asker", &[]);
    s.run(50);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    assert!(s.out.ends_with('2'), "{}", s.out);
}

#[test]
fn a_watch_tells_its_service_of_each_commit_with_matching_events() {
    let mut s = sim();
    assert_eq!(s.k.watch_events(3, "orders.>"), Ok(0));
    assert_eq!(
        s.k.watch_events(3, "bad..pattern"),
        Err(Error::InvalidArgument)
    );
    emit_as_run(&mut s, "orders.new");
    assert_eq!(s.committed, [(3, 0)]);
    emit_as_run(&mut s, "other.thing");
    assert_eq!(s.committed, [(3, 0)], "no match, no word");
    emit_as_run(&mut s, "orders.more");
    assert_eq!(s.committed, [(3, 0), (3, 0)]);
}

#[test]
fn a_reducer_that_traps_stops_its_view_and_nothing_else() {
    let mut s = with_view(">");
    s.program("ok", &emitter("a.b", "{}", ""));
    s.program("boom", &emitter("boom", "{}", ""));
    s.spawn("ok", &[]);
    s.run(50);
    let b = s.spawn("boom", &[]);
    s.run(50);
    // The emit itself succeeded: the event is in the journal.
    assert_eq!(s.status(b), Some(ExitStatus::Ok(2)));
    let bus = s.k.bus.as_mut().expect("a journal");
    let (e, why) = bus.scan("count", "x").unwrap_err();
    assert_eq!(e, Error::Corrupt);
    assert!(why.contains("stopped"), "{why}");
    // The kernel goes on.
    s.spawn("ok", &[]);
    s.run(50);
    assert_eq!(s.k.bus_stats().map(|b| b.last_seq), Some(3));
}

#[test]
fn a_timer_fires_its_event_and_the_console_starts_its_program() {
    let mut s = sim();
    let spec = "tick after 1s run hello";
    s.program(
        "settimer",
        &format!(
            r#"(import "zb" "timer" (func $timer (param i32 i32) (result i64)))
  (memory (export "memory") 1) {}
  (func (export "_start")
    (call $exit (i32.wrap_i64 (call $timer (i32.const 0) (i32.const {})))))"#,
            data(spec, "", ""),
            spec.len()
        ),
    );
    s.program(
        "hello",
        r#"(memory (export "memory") 1) (data (i32.const 0) "hi\n")
  (func (export "_start") (drop (call $write (i32.const 1) (i32.const 0) (i32.const 3))))"#,
    );
    s.program("sub", &subscriber("timer.>", "", 1));
    let sub = s.spawn("sub", &[]);
    let setter = s.spawn("settimer", &[]);
    s.run(200);
    assert_eq!(s.status(setter), Some(ExitStatus::Ok(0)));
    assert_eq!(s.status(sub), Some(ExitStatus::Ok(0)));
    assert!(
        s.out.contains("timer.tick {\"timer\":\"tick\",\"count\":1"),
        "{}",
        s.out
    );
    assert!(s.out.contains("hi\n"), "{}", s.out);
    // Started by the console (the setter had long ended), like an orphan.
    let started =
        s.k.runs()
            .iter()
            .find(|r| r.name == "hello")
            .map(|r| r.info().parent);
    assert_eq!(started, Some(zb_abi::runs::CONSOLE_PID));
}

/// A run that, `rounds` times, subscribes to `pattern` from the start of the journal, asks
/// for the next event without waiting (nothing matches: `WouldBlock`) and closes the
/// subscription; exits 0, or with the first unexpected result.
fn rereader(pattern: &str, rounds: u32) -> String {
    format!(
        r#"(memory (export "memory") 1) {}
  (func (export "_start") (local $h i64) (local $n i64) (local $left i32)
    (local.set $left (i32.const {rounds}))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $left)))
      (local.set $h (call $subscribe (i32.const 0) (i32.const {}) (i32.const 64) (i32.const 8)))
      (if (i64.lt_s (local.get $h) (i64.const 0))
        (then (call $exit (i32.wrap_i64 (local.get $h)))))
      (local.set $n (call $next (i32.wrap_i64 (local.get $h)) (i32.const 256) (i32.const 1024)
                                (i32.const {nonblock})))
      (if (i64.ne (local.get $n) (i64.const {would_block}))
        (then (call $exit (i32.const 99))))
      (drop (call $close (i32.wrap_i64 (local.get $h))))
      (local.set $left (i32.sub (local.get $left) (i32.const 1)))
      (br $l)))
    (call $exit (i32.const 0)))"#,
        data(pattern, "from=all", ""),
        pattern.len(),
        nonblock = zb_abi::syscall::NONBLOCK,
        would_block = -(Error::WouldBlock as i64),
    )
}

#[test]
fn a_run_pays_fuel_for_the_journal_its_calls_make_the_kernel_read() {
    // The same loop over a short and a long journal: the kernel reads the whole journal each
    // round, and the run is charged for it (its `ps` fuel), not ~60 fuel a round.
    let rounds = 20;
    let fuel_over = |events: usize| {
        let mut s = sim();
        for i in 0..events {
            let event = zb_bus::envelope::system(format!("filler.e{i}"), String::from("{}"), 0);
            s.k.bus.as_mut().expect("a journal").queue(0, event);
            if i % 50 == 49 {
                s.run(5);
            }
        }
        s.run(5);
        let last = s.k.bus_stats().map_or(0, |b| b.last_seq);
        assert_eq!(last, events as u64, "the journal holds the events");
        s.program("reread", &rereader("nothing.matches", rounds));
        let pid = s.spawn("reread", &[]);
        s.run(10_000);
        assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)), "{}", s.out);
        s.k.runs().get(pid).expect("kept").info().fuel
    };
    let (short, long) = (fuel_over(5), fuel_over(400));
    // Each event is at least 24 bytes read back: at 16 bytes a unit, ≥ 1.5 fuel per event.
    let least = u64::from(rounds) * 395 * 3 / 2;
    assert!(
        long >= short + least,
        "400 events: {long} fuel; 5 events: {short} fuel (expected {least} more)"
    );
}

#[test]
fn a_scan_that_recompiles_a_view_pays_for_the_compile() {
    let mut config = crate::config::KernelConfig::large(&[]);
    config.keep_compiled = false;
    let mut s = Sim::with(config);
    s.k.open_journal(None);
    let wasm = wat::parse_str(COUNTER).expect("valid WAT");
    let module_bytes = wasm.len() as u64;
    s.raw("counter", wasm);
    s.k.install(
        "/etc/views/count.view",
        b"program counter\npattern orders.>\n",
    );
    assert_eq!(s.k.open_views("x86_64"), ["view count: height 0"]);
    emit_as_run(&mut s, "orders.a");
    // Paged out after every answer on such a system: each scan compiles the reducer again.
    s.program("asker", &scanner("count", "k"));
    let pid = s.spawn("asker", &[]);
    s.run(50);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    let fuel = s.k.runs().get(pid).expect("kept").info().fuel;
    assert!(
        fuel >= module_bytes * 4,
        "the scan cost {fuel} fuel; compiling the {module_bytes}-byte reducer costs more"
    );
}

/// A run that takes the first event on `pattern` (from the start), then publishes `{}` to
/// `inbox`; exits 0, or with the first error.
fn replier(pattern: &str, inbox: &str) -> String {
    format!(
        r#"(memory (export "memory") 1) {}
  (data (i32.const 400) "{inbox}") (data (i32.const 480) "{{}}")
  (func (export "_start") (local $h i64) (local $r i64)
    (local.set $h (call $subscribe (i32.const 0) (i32.const {}) (i32.const 64) (i32.const 8)))
    (if (i64.lt_s (local.get $h) (i64.const 0))
      (then (call $exit (i32.wrap_i64 (local.get $h)))))
    (local.set $r (call $next (i32.wrap_i64 (local.get $h)) (i32.const 1024) (i32.const 2048)
                              (i32.const 0)))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (call $exit (i32.wrap_i64 (local.get $r)))))
    (local.set $r (call $emit (i32.const 400) (i32.const {}) (i32.const 480) (i32.const 2)
                              (i32.const 0) (i32.const 0)))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (call $exit (i32.wrap_i64 (local.get $r)))))
    (call $exit (i32.const 0)))"#,
        data(pattern, "from=all", ""),
        pattern.len(),
        inbox.len(),
    )
}

#[test]
fn only_the_run_a_request_named_its_inbox_to_may_reply_there() {
    let mut s = sim();
    let inbox = "_INBOX.1.77";
    s.program(
        "ask",
        &emitter("svc.echo", "{}", &format!("reply_to={inbox}")),
    );
    let ask = s.spawn("ask", &[]);
    s.run(50);
    assert_eq!(s.status(ask), Some(ExitStatus::Ok(1)));
    // The run that took the request replies; one that did not (on another subject) cannot.
    s.program("server", &replier("svc.echo", inbox));
    s.program("stranger", &replier("svc.>", "_INBOX.1.78"));
    let server = s.spawn("server", &[]);
    s.run(50);
    assert_eq!(s.status(server), Some(ExitStatus::Ok(0)), "{}", s.out);
    let stranger = s.spawn("stranger", &[]);
    s.run(50);
    assert_eq!(s.status(stranger), Some(err(Error::InvalidArgument)));
    // A plain emit to an inbox is refused too.
    s.program("forger", &emitter(inbox, "{}", ""));
    let forger = s.spawn("forger", &[]);
    s.run(50);
    assert_eq!(s.status(forger), Some(err(Error::InvalidArgument)));
    assert_eq!(
        s.k.bus_stats().map(|b| b.last_seq),
        Some(2),
        "the request and its reply"
    );
}

/// A program that sets timer `spec` and exits with the call's result.
fn timer_setter(spec: &str) -> String {
    format!(
        r#"(import "zb" "timer" (func $timer (param i32 i32) (result i64)))
  (memory (export "memory") 1) {}
  (func (export "_start")
    (call $exit (i32.wrap_i64 (call $timer (i32.const 0) (i32.const {})))))"#,
        data(spec, "", ""),
        spec.len()
    )
}

#[test]
fn a_timer_set_by_a_restricted_run_starts_its_program_as_restricted() {
    let mut s = sim();
    s.program("settimer", &timer_setter("esc after 1s run peek"));
    // Exits with what opening its own status gives: a handle, or PermissionDenied.
    s.program(
        "peek",
        r#"(memory (export "memory") 1) (data (i32.const 0) "proc://self/status")
  (func (export "_start") (local $r i64)
    (local.set $r (call $open (i32.const 0) (i32.const 18) (i32.const 1)))
    (call $exit (select (i32.const 0) (i32.wrap_i64 (local.get $r))
                        (i64.ge_s (local.get $r) (i64.const 0)))))"#,
    );
    // Restricted: to /data/app, and to setting timer `esc` (without which it could not).
    let options = crate::RunOptions {
        allow: Some(std::vec![
            String::from("file:///data/app"),
            String::from("bus://timer/esc"),
        ]),
        ..crate::RunOptions::default()
    };
    let setter =
        s.k.spawn_with(
            1,
            "settimer",
            std::vec::Vec::new(),
            std::vec::Vec::new(),
            options,
        )
        .map_err(|(e, _)| e)
        .expect("spawn");
    s.run(200);
    assert_eq!(s.status(setter), Some(ExitStatus::Ok(0)));
    let peek = s.k.runs().iter().find(|r| r.name == "peek").map(|r| r.pid);
    let peek = peek.expect("the timer started its program");
    assert_eq!(
        s.status(peek),
        Some(err(Error::PermissionDenied)),
        "started with the setter's grants, not the console's"
    );
    // Another program cannot cancel the setter's timer; an unrestricted setter's program
    // opens its status.
    s.program("canceller", &timer_setter("esc2 off"));
    s.program("settimer2", &timer_setter("esc2 after 1s run peek"));
    let set2 = s.spawn("settimer2", &[]);
    let cancel = s.spawn("canceller", &[]);
    s.run(200);
    assert_eq!(s.status(set2), Some(ExitStatus::Ok(0)));
    assert_eq!(s.status(cancel), Some(err(Error::PermissionDenied)));
    let opened =
        s.k.runs()
            .iter()
            .filter(|r| r.name == "peek")
            .any(|r| r.state.status() == Some(&ExitStatus::Ok(0)));
    assert!(opened, "the unrestricted setter's program opened it");
}

#[test]
fn an_emit_to_a_journal_in_ram_says_it_is_not_durable() {
    let mut s = sim();
    // Exits with the EMIT_NOT_DURABLE bit of its emit's result.
    s.program(
        "volatile",
        &format!(
            r#"(memory (export "memory") 1) {}
  (func (export "_start")
    (call $exit (i32.wrap_i64 (i64.and (i64.shr_u
      (call $emit (i32.const 0) (i32.const 3) (i32.const 64) (i32.const 2)
                  (i32.const 160) (i32.const 0))
      (i64.const 61)) (i64.const 1)))))"#,
            data("a.b", "{}", "")
        ),
    );
    assert_eq!(zb_abi::bus::EMIT_NOT_DURABLE, 1 << 61);
    let pid = s.spawn("volatile", &[]);
    s.run(50);
    assert_eq!(
        s.status(pid),
        Some(ExitStatus::Ok(1)),
        "the journal is in RAM here"
    );
}

/// Spawns `name` restricted to `grants`.
fn spawn_restricted(s: &mut Sim, name: &str, grants: &[&str]) -> zb_abi::Pid {
    let options = crate::RunOptions {
        allow: Some(grants.iter().map(|g| String::from(*g)).collect()),
        ..crate::RunOptions::default()
    };
    s.k.spawn_with(1, name, std::vec::Vec::new(), std::vec::Vec::new(), options)
        .map_err(|(e, _)| e)
        .expect("spawn")
}

#[test]
fn a_restricted_run_uses_the_bus_only_within_its_bus_grants_and_denials_are_logged() {
    let mut s = with_view("orders.>");
    let grants = [
        "file:///data/app",
        "bus://publish/orders.>",
        "bus://subscribe/orders.*",
        "bus://scan/count",
    ];
    s.program("in", &emitter("orders.new", "{}", ""));
    s.program("out", &emitter("payments.new", "{}", ""));
    s.program("sub-in", &subscriber("orders.*", "", 1));
    s.program("sub-out", &subscriber("orders.>", "", 1));
    s.program("scan-in", &scanner("count", "k"));
    s.program("seal-out", &timer_setter("nope after 1s"));
    let ok = spawn_restricted(&mut s, "in", &grants);
    let denied = spawn_restricted(&mut s, "out", &grants);
    let narrower = spawn_restricted(&mut s, "sub-in", &grants);
    let wider = spawn_restricted(&mut s, "sub-out", &grants);
    let scan = spawn_restricted(&mut s, "scan-in", &grants);
    let timer = spawn_restricted(&mut s, "seal-out", &grants);
    s.run(200);
    assert_eq!(
        s.status(ok),
        Some(ExitStatus::Ok(1)),
        "orders.new is within orders.>"
    );
    assert_eq!(s.status(denied), Some(err(Error::PermissionDenied)));
    assert_eq!(
        s.status(wider),
        Some(err(Error::PermissionDenied)),
        "orders.> is wider"
    );
    assert_eq!(s.status(scan), Some(ExitStatus::Ok(0)));
    assert_eq!(
        s.status(timer),
        Some(err(Error::PermissionDenied)),
        "no timer grant"
    );
    // The narrower subscriber was let in: it got the orders event.
    assert_eq!(s.status(narrower), Some(ExitStatus::Ok(0)));
    assert!(s.out.contains("orders.new {}"), "{}", s.out);
    let log: String = s.k.log.iter().cloned().collect();
    for line in [
        "denied publish bus://publish/payments.new to pid",
        "denied subscribe bus://subscribe/orders.> to pid",
        "denied timer bus://timer/nope to pid",
    ] {
        assert!(log.contains(line), "{line}: {log}");
    }
    // An unrestricted run (the shell's, without --allow) may do all of it.
    let free = s.spawn("out", &[]);
    s.run(50);
    assert_eq!(s.status(free), Some(ExitStatus::Ok(2)), "the second event");
}

/// A run that emits `{}` on `subject` `n` times; exits with the number that went in before
/// the first refusal (and prints the refusal's reason).
fn looper(subject: &str, n: u32) -> String {
    format!(
        r#"(memory (export "memory") 1) {}
  (func (export "_start") (local $i i32) (local $r i64)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const {n})))
      (local.set $r (call $emit (i32.const 0) (i32.const {}) (i32.const 64) (i32.const 2)
                                (i32.const 160) (i32.const 0)))
      (if (i64.lt_s (local.get $r) (i64.const 0)) (then
        (drop (call $write (i32.const 1) (i32.const 300)
          (i32.wrap_i64 (call $last_error (i32.const 300) (i32.const 200)))))
        (br $done)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (call $exit (local.get $i)))"#,
        data(subject, "{}", ""),
        subject.len()
    )
}

#[test]
fn a_run_over_its_journal_quota_gets_no_space_and_others_still_emit() {
    let mut config = crate::config::KernelConfig::large(&[]);
    config.journal.run_events = 3;
    let mut s = Sim::with(config);
    s.k.open_journal(None);
    s.program("flood", &looper("flood.x", 10));
    s.program("calm", &emitter("calm.x", "{}", ""));
    let flood = s.spawn("flood", &[]);
    s.run(100);
    assert_eq!(s.status(flood), Some(ExitStatus::Ok(3)), "{}", s.out);
    assert!(s.out.contains("journal quota: 3 events"), "{}", s.out);
    let calm = s.spawn("calm", &[]);
    s.run(100);
    assert_eq!(
        s.status(calm),
        Some(ExitStatus::Ok(4)),
        "another run still emits"
    );
}
