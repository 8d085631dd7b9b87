//! Host tests of the run kernel: wasm runs (written in WAT) driven by [`Kernel::step`] against
//! a clock the test moves.

extern crate std;

use std::boxed::Box;
use std::format;
use std::string::String;
use std::sync::atomic::{AtomicU64, Ordering};
use std::vec::Vec;

use zb_abi::{Error, Pid, RunKind, StateName, WaitOn};
use zb_hal::Clock;

use crate::run::ExitStatus;
use crate::{Event, Kernel, KernelConfig};

struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_us(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn cycles(&self) -> u64 {
        0
    }
    fn tick_hz(&self) -> u32 {
        1000
    }
}

/// The import declarations every test module starts with.
pub(super) const IMPORTS: &str = r#"
  (import "zb" "exit" (func $exit (param i32)))
  (import "zb" "yield" (func $yield))
  (import "zb" "getpid" (func $getpid (result i64)))
  (import "zb" "clock" (func $clock (result i64)))
  (import "zb" "sleep" (func $sleep (param i64) (result i64)))
  (import "zb" "write" (func $write (param i32 i32 i32) (result i64)))
  (import "zb" "args" (func $args (param i32 i32) (result i64)))
  (import "zb" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "wait" (func $wait (param i64) (result i64)))
  (import "zb" "channel_create" (func $cc (param i32) (result i64)))
  (import "zb" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "recv" (func $recv (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "close" (func $close (param i32) (result i64)))
  (import "zb" "grants" (func $grants (param i32 i32) (result i64)))
  (import "zb" "open" (func $open (param i32 i32 i32) (result i64)))
  (import "zb" "read" (func $read (param i32 i32 i32) (result i64)))
  (import "zb" "stat" (func $stat (param i32 i32 i32) (result i64)))
  (import "zb" "mkdir" (func $mkdir (param i32 i32) (result i64)))
  (import "zb" "emit" (func $emit (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "scan" (func $scan (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "subscribe" (func $subscribe (param i32 i32 i32 i32) (result i64)))
  (import "zb" "next" (func $next (param i32 i32 i32 i32) (result i64)))
  (import "zb" "last_error" (func $last_error (param i32 i32) (result i64)))
"#;

pub(super) struct Sim {
    clock: &'static TestClock,
    pub(super) k: Kernel,
    pub(super) out: String,
    exited: Vec<Pid>,
    /// Native-service watches told of commits (service, watch), in order.
    pub(super) committed: Vec<(Pid, u32)>,
}

const SHELL: Pid = 1;

impl Sim {
    pub(super) fn new() -> Sim {
        let mut config = KernelConfig::large(&[]);
        config.fuel_slice = 2_000;
        config.channel_capacity = 2;
        Sim::with(config)
    }

    pub(super) fn with(config: KernelConfig) -> Sim {
        let clock: &'static TestClock = Box::leak(Box::new(TestClock(AtomicU64::new(0))));
        let mut k = Kernel::new(clock, config);
        assert_eq!(k.add_service("console"), SHELL);
        Sim {
            clock,
            k,
            out: String::new(),
            exited: Vec::new(),
            committed: Vec::new(),
        }
    }

    /// Installs `/bin/<name>`: a module with the imports and `body` (memory, data, `_start`).
    pub(super) fn program(&mut self, name: &str, body: &str) {
        let wasm = wat::parse_str(format!("(module {IMPORTS} {body})")).expect("valid WAT");
        self.raw(name, wasm);
    }

    pub(super) fn raw(&mut self, name: &str, bytes: Vec<u8>) {
        let path: &'static str = Box::leak(format!("/bin/{name}").into_boxed_str());
        self.k.install(path, Box::leak(bytes.into_boxed_slice()));
    }

    pub(super) fn spawn(&mut self, name: &str, args: &[&str]) -> Pid {
        let mut packed = Vec::new();
        for a in args {
            packed.extend_from_slice(a.as_bytes());
            packed.push(0);
        }
        self.k
            .spawn(SHELL, name, packed, Vec::new())
            .map_err(|(e, _)| e)
            .expect("spawn")
    }

    /// Runs until nothing is ready, moving the clock to each sleeper's deadline; at most
    /// `slices` slices.
    pub(super) fn run(&mut self, slices: usize) {
        for _ in 0..slices {
            self.drain();
            if self.k.step() {
                continue;
            }
            match self.k.next_deadline() {
                Some(d) => self.clock.0.store(d, Ordering::Relaxed),
                None => break,
            }
        }
        self.drain();
    }

    pub(super) fn drain(&mut self) {
        while let Some(e) = self.k.take_event() {
            match e {
                Event::Output { bytes, .. } => self.out.push_str(&String::from_utf8_lossy(&bytes)),
                Event::Exited(e) => self.exited.push(e.pid),
                Event::Committed { service, watch } => self.committed.push((service, watch)),
            }
        }
    }

    pub(super) fn status(&self, pid: Pid) -> Option<ExitStatus> {
        self.k.runs().get(pid)?.state.status().cloned()
    }

    pub(super) fn state(&self, pid: Pid) -> (StateName, Option<WaitOn>) {
        let info = self.k.runs().get(pid).expect("run exists").info();
        (info.state, info.wait)
    }
}

const HELLO: &str = r#"
  (memory (export "memory") 1)
  (data (i32.const 0) "hello, world\n")
  (func (export "_start") (drop (call $write (i32.const 1) (i32.const 0) (i32.const 13))))"#;

/// Echoes its arguments (NUL-separated) to stdout, then exits with their byte count.
const ECHO_ARGS: &str = r#"
  (memory (export "memory") 1)
  (func (export "_start") (local $n i64)
    (local.set $n (call $args (i32.const 0) (i32.const 1000)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.wrap_i64 (local.get $n))))
    (call $exit (i32.wrap_i64 (local.get $n))))"#;

const SPIN: &str = r#"(func (export "_start") (loop (br 0)))"#;

#[test]
fn a_run_prints_and_ends_ok() {
    let mut s = Sim::new();
    s.program("hello", HELLO);
    let pid = s.spawn("hello", &[]);
    assert!(pid > SHELL);
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Ready)));
    s.run(10);
    assert_eq!(s.out, "hello, world\n");
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    assert_eq!(s.exited, [pid]);
    let info = s.k.runs().get(pid).unwrap().info();
    assert_eq!(
        (info.parent, info.kind, info.memory),
        (SHELL, RunKind::Wasm, 0)
    );
    assert!(info.fuel > 0);
}

#[test]
fn arguments_reach_the_run() {
    let mut s = Sim::new();
    s.program("echo", ECHO_ARGS);
    let pid = s.spawn("echo", &["a", "bc"]);
    s.run(10);
    assert_eq!(s.out, "a\0bc\0");
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(5)));
}

#[test]
fn unknown_programs_and_bad_names_are_refused_without_a_run() {
    let mut s = Sim::new();
    let before = s.k.runs().iter().count();
    for (name, err) in [
        ("nope", Error::NotFound),
        ("", Error::InvalidArgument),
        ("../etc", Error::InvalidArgument),
        ("a/b", Error::InvalidArgument),
    ] {
        let e =
            s.k.spawn(SHELL, name, Vec::new(), Vec::new())
                .map_err(|(e, _)| e);
        assert_eq!(e, Err(err), "{name:?}");
    }
    assert_eq!(s.k.runs().iter().count(), before);
}

#[test]
fn traps_invalid_modules_and_memory_limits_end_only_that_run() {
    let mut config = KernelConfig::large(&[]);
    config.limits.memory_bytes = 2 * 65536;
    let mut s = Sim::with(config);
    s.program("spin", SPIN);
    s.program("trap", r#"(func (export "_start") unreachable)"#);
    s.raw("notwasm", b"this is not wasm\n".to_vec());
    s.program(
        "big",
        r#"(memory (export "memory") 3) (func (export "_start"))"#,
    );
    s.program(
        "memhog",
        r#"(memory (export "memory") 1)
           (func (export "_start") (loop (drop (memory.grow (i32.const 1))) (br 0)))"#,
    );
    let spin = s.spawn("spin", &[]);
    let trap = s.spawn("trap", &[]);
    let invalid = s.spawn("notwasm", &[]);
    let big = s.spawn("big", &[]);
    let hog = s.spawn("memhog", &[]);
    s.run(50);
    assert!(matches!(s.status(trap), Some(ExitStatus::Panic(m)) if m.contains("unreachable")));
    match s.status(invalid) {
        Some(ExitStatus::Invalid(m)) => {
            assert!(m.starts_with("not a valid module: "), "{m}");
            assert!(!m.contains('\n') && m.len() < 160, "one short line: {m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.status(big), Some(ExitStatus::Rejected(_))));
    assert!(matches!(s.status(hog), Some(ExitStatus::Rejected(_))));
    assert_eq!(s.status(spin), None, "the spinning run is untouched");
    assert_eq!(s.state(spin), (StateName::Wait, Some(WaitOn::Ready)));
}

#[test]
fn spinning_runs_share_the_cpu_fairly_and_can_be_killed() {
    let mut s = Sim::new();
    s.program("spin", SPIN);
    let a = s.spawn("spin", &[]);
    let b = s.spawn("spin", &[]);
    s.run(40);
    let fuel = |s: &Sim, p| s.k.runs().get(p).unwrap().info().fuel;
    let (fa, fb) = (fuel(&s, a), fuel(&s, b));
    assert!(fa >= 20 * 1_900 / 2 && fb >= 20 * 1_900 / 2, "{fa} {fb}");
    assert!(fa.abs_diff(fb) <= 2_000, "round robin: {fa} vs {fb}");
    assert_eq!(s.k.kill(a), Ok(()));
    assert_eq!(s.status(a), Some(ExitStatus::Rejected("killed".into())));
    assert_eq!(s.k.kill(a), Err(Error::NotFound), "already dead");
    assert_eq!(s.k.kill(SHELL), Err(Error::PermissionDenied));
    assert_eq!(s.k.kill(999), Err(Error::NotFound));
    s.run(5);
    assert!(fuel(&s, b) > fb, "the other keeps running");
    assert_eq!(fuel(&s, a), fa, "the killed one does not");
}

#[test]
fn sleep_blocks_until_the_deadline() {
    let mut s = Sim::new();
    s.program(
        "sleeper",
        r#"(memory (export "memory") 1)
           (data (i32.const 0) "woke\n")
           (func (export "_start")
             (drop (call $sleep (i64.const 5000)))
             (drop (call $write (i32.const 1) (i32.const 0) (i32.const 5)))
             (call $exit (i32.wrap_i64 (call $clock))))"#,
    );
    let pid = s.spawn("sleeper", &[]);
    assert!(s.k.step());
    assert_eq!(
        s.state(pid),
        (StateName::Wait, Some(WaitOn::Sleep { until_us: 5000 }))
    );
    assert!(!s.k.step(), "nothing is ready while it sleeps");
    s.clock.0.store(4999, Ordering::Relaxed);
    assert!(!s.k.step());
    s.clock.0.store(5000, Ordering::Relaxed);
    s.run(5);
    assert_eq!(s.out, "woke\n");
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(5000)));
}

/// Spawns the child named at 0 (length 5), waits for it and exits with the wait result's low
/// 32 bits, or 100 + the status kind.
const PARENT: &str = r#"
  (memory (export "memory") 1)
  (data (i32.const 0) "child")
  (func (export "_start") (local $pid i64) (local $st i64)
    (local.set $pid (call $spawn (i32.const 0) (i32.const 5) (i32.const 0) (i32.const 0)
                                 (i32.const 0) (i32.const 0)))
    (if (i64.lt_s (local.get $pid) (i64.const 0)) (then (call $exit (i32.const 99))))
    (local.set $st (call $wait (local.get $pid)))
    (if (i64.ge_u (local.get $st) (i64.const 0x100000000))
      (then (call $exit (i32.add (i32.const 100) (i32.wrap_i64 (i64.shr_u (local.get $st) (i64.const 32)))))))
    (call $exit (i32.wrap_i64 (local.get $st))))"#;

#[test]
fn a_parent_waits_for_its_child_and_gets_its_status() {
    let mut s = Sim::new();
    s.program("parent", PARENT);
    s.program(
        "child",
        r#"(func (export "_start") (drop (call $sleep (i64.const 10))) (call $exit (i32.const 7)))"#,
    );
    let p = s.spawn("parent", &[]);
    s.run(3);
    let child = p + 1;
    assert_eq!(
        s.state(p),
        (StateName::Wait, Some(WaitOn::Child { pid: child }))
    );
    assert_eq!(s.k.runs().get(child).unwrap().parent, p);
    s.run(20);
    assert_eq!(s.status(p), Some(ExitStatus::Ok(7)));
    assert!(s.k.runs().get(child).is_none(), "waiting reaped the child");

    // A child that traps reports `panic` (kind 1).
    s.program("child", r#"(func (export "_start") unreachable)"#);
    let p = s.spawn("parent", &[]);
    s.run(20);
    assert_eq!(s.status(p), Some(ExitStatus::Ok(101)));
}

#[test]
fn orphans_are_given_to_the_console_and_keep_running() {
    let mut s = Sim::new();
    s.program(
        "parent",
        r#"(memory (export "memory") 1) (data (i32.const 0) "spin")
           (func (export "_start")
             (drop (call $spawn (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0)
                                (i32.const 0) (i32.const 0))))"#,
    );
    s.program("spin", SPIN);
    let p = s.spawn("parent", &[]);
    s.run(10);
    assert_eq!(s.status(p), Some(ExitStatus::Ok(0)));
    let orphan = p + 1;
    assert_eq!(s.k.runs().get(orphan).unwrap().parent, SHELL);
    assert_eq!(s.status(orphan), None);
}

#[test]
fn finished_runs_are_kept_for_ps_up_to_a_limit() {
    let mut s = Sim::new();
    s.program("hello", HELLO);
    let first = s.spawn("hello", &[]);
    s.run(5);
    for _ in 0..crate::kernel::KEEP_DONE + 3 {
        s.spawn("hello", &[]);
        s.run(5);
    }
    assert!(s.k.runs().get(first).is_none(), "the oldest was forgotten");
    let done = s.k.runs().iter().filter(|r| !r.is_live()).count();
    assert_eq!(done, crate::kernel::KEEP_DONE);
}

/// Ping: creates a channel, spawns `pong` granting it end B, bounces N (first arg byte - '0',
/// times 10) messages and checks each reply; exits with the number of good replies.
const PING: &str = r#"
  (memory (export "memory") 1)
  (data (i32.const 0) "pong")
  (func (export "_start") (local $i i32) (local $good i32) (local $r i64) (local $child i64)
    (drop (call $cc (i32.const 16)))
    ;; grant entry at 32: handle = end B (at 20), rights 0 = same
    (i32.store (i32.const 32) (i32.load (i32.const 20)))
    (i32.store (i32.const 36) (i32.const 0))
    (local.set $child (call $spawn (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0)
                                   (i32.const 32) (i32.const 1)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const 30)))
      (i32.store (i32.const 64) (local.get $i))
      (drop (call $send (i32.load (i32.const 16)) (i32.const 64) (i32.const 4)
                        (i32.const 0) (i32.const 0) (i32.const 0)))
      (local.set $r (call $recv (i32.load (i32.const 16)) (i32.const 128) (i32.const 64)
                                (i32.const 0) (i32.const 0) (i32.const 0)))
      (if (i32.and (i64.eq (local.get $r) (i64.const 4))
                   (i32.eq (i32.load (i32.const 128)) (i32.add (local.get $i) (i32.const 1000))))
        (then (local.set $good (i32.add (local.get $good) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (drop (call $close (i32.load (i32.const 16))))
    (if (i64.ne (call $wait (local.get $child)) (i64.const 0)) (then (call $exit (i32.const -1))))
    (call $exit (local.get $good)))"#;

/// Pong: replies `x + 1000` to every 4-byte message on its granted handle until the channel
/// closes, then exits 0.
const PONG: &str = r#"
  (memory (export "memory") 1)
  (func (export "_start") (local $h i32) (local $r i64)
    (if (i64.ne (call $grants (i32.const 0) (i32.const 4)) (i64.const 1))
      (then (call $exit (i32.const 50))))
    (local.set $h (i32.load (i32.const 0)))
    (loop $next
      (local.set $r (call $recv (local.get $h) (i32.const 64) (i32.const 64)
                                (i32.const 0) (i32.const 0) (i32.const 0)))
      (if (i64.eq (local.get $r) (i64.const -9)) (then (call $exit (i32.const 0))))
      (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1000)))
      (drop (call $send (local.get $h) (i32.const 64) (i32.const 4)
                        (i32.const 0) (i32.const 0) (i32.const 0)))
      (br $next)))"#;

#[test]
fn two_runs_bounce_messages_over_a_granted_channel() {
    let mut s = Sim::new();
    s.program("ping", PING);
    s.program("pong", PONG);
    let ping = s.spawn("ping", &[]);
    s.run(1000);
    assert_eq!(s.status(ping), Some(ExitStatus::Ok(30)));
    assert_eq!(s.status(ping + 1), None, "pong was reaped by ping's wait");
    assert!(
        s.k.channels().is_empty(),
        "the channel is freed with its last end"
    );
}

#[test]
fn closing_an_end_wakes_a_blocked_receiver_with_an_error() {
    let mut s = Sim::new();
    // Creates a channel, grants end B to `pong`, then exits: pong's recv must see Closed.
    s.program(
        "quitter",
        r#"(memory (export "memory") 1) (data (i32.const 0) "pong")
           (func (export "_start")
             (drop (call $cc (i32.const 16)))
             (i32.store (i32.const 32) (i32.load (i32.const 20)))
             (drop (call $spawn (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0)
                                (i32.const 32) (i32.const 1)))
             (drop (call $sleep (i64.const 100))))"#,
    );
    s.program("pong", PONG);
    let q = s.spawn("quitter", &[]);
    assert!(s.k.step() && s.k.step(), "quitter, then pong");
    let pong = q + 1;
    assert_eq!(s.state(pong), (StateName::Wait, Some(WaitOn::Channel)));
    s.run(20);
    assert_eq!(s.status(q), Some(ExitStatus::Ok(0)));
    assert_eq!(
        s.status(pong),
        Some(ExitStatus::Ok(0)),
        "woken with Closed, not hung"
    );
}

#[test]
fn a_full_channel_blocks_the_sender_until_the_peer_reads() {
    let mut s = Sim::new(); // channel capacity 2
    // Sends 5 messages on end A to itself-held end B without reading: blocks on the third.
    s.program(
        "stuffer",
        r#"(memory (export "memory") 1)
           (func (export "_start") (local $i i32)
             (drop (call $cc (i32.const 16)))
             (loop $l
               (drop (call $send (i32.load (i32.const 16)) (i32.const 0) (i32.const 1)
                                 (i32.const 0) (i32.const 0) (i32.const 0)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 5)))))"#,
    );
    let pid = s.spawn("stuffer", &[]);
    s.run(10);
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Channel)));
    // Killing it releases both ends; nothing is left behind.
    s.k.kill(pid).unwrap();
    assert!(s.k.channels().is_empty());
}

/// The channel leak the isolation issue names: `send` of end B through end A (with large
/// messages), then `close(A)`, in a loop. Each such send is refused, and a cycle across two
/// channels (each one's B end queued in the other) is collected when the run closes the A
/// ends: nothing is left behind while the run is still alive.
#[test]
fn channel_ends_cannot_strand_their_channels() {
    let mut s = Sim::new();
    s.program(
        "looper",
        r#"(memory (export "memory") 2)
           (func (export "_start") (local $i i32)
             (loop $l
               (drop (call $cc (i32.const 16)))
               ;; a big message, then end B through end A: refused (-1, InvalidArgument)
               (drop (call $send (i32.load (i32.const 16)) (i32.const 1024) (i32.const 60000)
                                 (i32.const 0) (i32.const 0) (i32.const 1)))
               (if (i64.ne (call $send (i32.load (i32.const 16)) (i32.const 0) (i32.const 0)
                                       (i32.const 20) (i32.const 1) (i32.const 1))
                           (i64.const -1))
                 (then (call $exit (i32.const 1))))
               (drop (call $close (i32.load (i32.const 16))))
               (drop (call $close (i32.load (i32.const 20))))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))
             ;; two channels (16/20 and 24/28), each B end sent through the other's A end
             (drop (call $cc (i32.const 16)))
             (drop (call $cc (i32.const 24)))
             (if (i64.ne (call $send (i32.load (i32.const 24)) (i32.const 1024) (i32.const 60000)
                                     (i32.const 20) (i32.const 1) (i32.const 1))
                         (i64.const 0))
               (then (call $exit (i32.const 2))))
             (if (i64.ne (call $send (i32.load (i32.const 16)) (i32.const 1024) (i32.const 60000)
                                     (i32.const 28) (i32.const 1) (i32.const 1))
                         (i64.const 0))
               (then (call $exit (i32.const 3))))
             (drop (call $close (i32.load (i32.const 16))))
             (drop (call $close (i32.load (i32.const 24))))
             (drop (call $sleep (i64.const 1000000))))"#,
    );
    let pid = s.spawn("looper", &[]);
    // Slices until it sleeps (the clock does not move: it stays alive).
    for _ in 0..500 {
        if !s.k.step() {
            break;
        }
    }
    assert!(matches!(
        s.state(pid),
        (StateName::Wait, Some(WaitOn::Sleep { .. }))
    ));
    assert!(
        s.k.channels().is_empty(),
        "the cycle was collected while its run is alive"
    );
    s.k.kill(pid).unwrap();
    assert!(s.k.channels().is_empty());
}

/// A run writing 64 KiB to stdout in a loop (the isolation issue's flood) waits for the console
/// once its output window is full, instead of filling the kernel heap; it goes on as the
/// console takes its output; killing it gives back everything it was charged.
#[test]
fn a_stdout_flood_waits_for_the_console() {
    let mut s = Sim::new();
    s.program(
        "flood",
        r#"(memory (export "memory") 2)
           (func (export "_start")
             (loop $l
               (drop (call $write (i32.const 1) (i32.const 0) (i32.const 65536)))
               (br $l)))"#,
    );
    let pid = s.spawn("flood", &[]);
    // Without a console taking output, the run waits after one window's worth.
    for _ in 0..50 {
        s.k.step();
    }
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Output)));
    let window = KernelConfig::large(&[]).limits.output_bytes;
    let account =
        s.k.runs()
            .get(pid)
            .unwrap()
            .task
            .as_ref()
            .unwrap()
            .data()
            .sys
            .account
            .clone();
    assert_eq!(account.output(), window, "one window waits, no more");
    // The console takes it: the run writes again.
    s.drain();
    assert_eq!(s.out.len(), window - crate::sys::OUTPUT_OVERHEAD);
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Ready)));
    for _ in 0..50 {
        s.k.step();
        s.drain();
    }
    assert!(
        s.out.len() > 10 * window,
        "it keeps going at the console's pace"
    );
    s.k.kill(pid).unwrap();
    s.drain();
    assert_eq!(account.used(), 0, "nothing stays charged");
}

/// One-byte writes fill the output window as fast as their bookkeeping does: each waiting
/// write is charged its queue entry too, so a run cannot park thousands of tiny writes.
#[test]
fn tiny_writes_are_charged_their_bookkeeping() {
    use crate::sys::OUTPUT_OVERHEAD;
    let mut s = Sim::new();
    s.program(
        "dribble",
        r#"(memory (export "memory") 1)
           (func (export "_start")
             (loop $l
               (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1)))
               (br $l)))"#,
    );
    let pid = s.spawn("dribble", &[]);
    for _ in 0..50 {
        s.k.step();
    }
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Output)));
    let window = KernelConfig::large(&[]).limits.output_bytes;
    s.drain();
    assert_eq!(
        s.out.len(),
        window / (1 + OUTPUT_OVERHEAD),
        "writes held at once"
    );
    s.k.kill(pid).unwrap();
}

/// A call pays fuel in proportion to the data it moves, as wasm's bulk memory instructions do:
/// ten 8 KiB writes cost at least 8192 / BYTES_PER_FUEL each beyond the flat price.
#[test]
fn calls_that_move_data_pay_fuel_for_it() {
    use crate::gate::{BYTES_PER_FUEL, SYSCALL_FUEL};
    let mut s = Sim::new();
    s.program(
        "writer",
        r#"(memory (export "memory") 1)
           (func (export "_start") (local $i i32)
             (loop $l
               (drop (call $write (i32.const 1) (i32.const 0) (i32.const 8192)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))"#,
    );
    let pid = s.spawn("writer", &[]);
    s.run(100);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    let fuel = s.k.runs().get(pid).unwrap().info().fuel;
    assert!(
        fuel >= 10 * (SYSCALL_FUEL + 8192 / BYTES_PER_FUEL),
        "{fuel}"
    );
}

/// Messages are charged to their sender until received: past its kernel-memory quota a send
/// fails with OutOfMemory and says why; receiving them gives the charge back.
#[test]
fn messages_in_flight_count_against_the_senders_quota() {
    let mut config = KernelConfig::large(&[]);
    config.channel_capacity = 8;
    // Not recorded: its recording (the 30000 bytes it receives) would be charged to it too.
    config.replay.tape_bytes = 0;
    let mut s = Sim::with(config);
    s.program(
        "sender",
        r#"(memory (export "memory") 2)
           (func (export "_start") (local $r i64)
             (drop (call $cc (i32.const 65500)))
             ;; two 30000-byte messages fit a 64 KiB quota, the third does not
             (drop (call $send (i32.load (i32.const 65500)) (i32.const 0) (i32.const 30000)
                               (i32.const 0) (i32.const 0) (i32.const 1)))
             (drop (call $send (i32.load (i32.const 65500)) (i32.const 0) (i32.const 30000)
                               (i32.const 0) (i32.const 0) (i32.const 1)))
             (local.set $r (call $send (i32.load (i32.const 65500)) (i32.const 0) (i32.const 30000)
                               (i32.const 0) (i32.const 0) (i32.const 1)))
             (if (i64.ne (local.get $r) (i64.const -5)) (then (call $exit (i32.const 1))))
             (drop (call $write (i32.const 1) (i32.const 60000)
                                (i32.wrap_i64 (call $last_error (i32.const 60000) (i32.const 200)))))
             ;; receive one: the third fits now
             (drop (call $recv (i32.load (i32.const 65504)) (i32.const 0) (i32.const 30000)
                               (i32.const 0) (i32.const 0) (i32.const 1)))
             (call $exit (i32.wrap_i64 (call $send (i32.load (i32.const 65500)) (i32.const 0)
                               (i32.const 30000) (i32.const 0) (i32.const 0) (i32.const 1)))))"#,
    );
    let options = crate::RunOptions {
        kmem: Some(64 << 10),
        ..crate::RunOptions::default()
    };
    let pid =
        s.k.spawn_with(SHELL, "sender", Vec::new(), Vec::new(), options)
            .map_err(|(e, _)| e)
            .expect("spawn");
    s.run(100);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)), "{}", s.out);
    assert!(s.out.contains("kernel memory quota reached"), "{}", s.out);
    assert!(s.k.channels().is_empty());
}

/// What loading a run takes is charged to it and added to its quota: its instance, and its
/// program's code when compiled for it (a second run of a program kept compiled pays only its
/// instance). The allowance (`--kmem`) stays whole for its calls; it all goes when the run
/// ends.
#[test]
fn a_runs_load_is_charged_to_it_beside_its_allowance() {
    // Not recorded, so its account holds its load alone.
    let mut config = KernelConfig::large(&[]);
    config.replay.tape_bytes = 0;
    assert!(config.keep_compiled);
    let mut s = Sim::with(config);
    s.program(
        "idle",
        r#"(memory (export "memory") 1)
           (func (export "_start") (drop (call $sleep (i64.const 1000000))))"#,
    );
    let options = || crate::RunOptions {
        kmem: Some(8 << 10),
        ..crate::RunOptions::default()
    };
    let spawn = |s: &mut Sim| {
        s.k.spawn_with(SHELL, "idle", Vec::new(), Vec::new(), options())
            .map_err(|(e, _)| e)
            .expect("spawn")
    };
    let (first, second) = (spawn(&mut s), spawn(&mut s));
    // Both asleep (not `run`, which would move the clock past their sleep).
    while s.k.step() {}
    let account = |s: &Sim, pid: Pid| {
        let run = s.k.runs().get(pid).expect("live");
        run.task.as_ref().expect("live").data().sys.account.clone()
    };
    let (a, b) = (account(&s, first), account(&s, second));
    assert!(
        a.loaded() > b.loaded() && b.loaded() > 0,
        "compiled for the first: {} and {} bytes",
        a.loaded(),
        b.loaded()
    );
    for acc in [&a, &b] {
        assert_eq!(
            acc.quota(),
            (8 << 10) + acc.loaded(),
            "the allowance stays whole"
        );
        assert_eq!(acc.used(), acc.loaded(), "nothing else held");
    }
    s.k.kill(first).expect("kill");
    s.k.kill(second).expect("kill");
    s.run(4);
    assert_eq!((a.used(), b.used()), (0, 0), "given back when the runs end");
}

/// While the console takes no output, a run's end and other events go past the output that
/// waits — except its own: a run's end is told after what it wrote.
#[test]
fn events_go_past_output_the_console_cannot_take_yet() {
    let mut s = Sim::new();
    s.program("hello", HELLO);
    s.program(
        "quiet",
        r#"(memory (export "memory") 1) (func (export "_start") (call $exit (i32.const 3)))"#,
    );
    let (talker, quiet) = (s.spawn("hello", &[]), s.spawn("quiet", &[]));
    // Stepped without handing events out: all of them wait, in order.
    while s.k.step() {}
    let ended = |e: Option<Event>| match e {
        Some(Event::Exited(e)) => Some(e.pid),
        _ => None,
    };
    assert_eq!(
        ended(s.k.take_event_past_output()),
        Some(quiet),
        "past the output"
    );
    assert_eq!(
        ended(s.k.take_event_past_output()),
        None,
        "hello's end waits behind its own output"
    );
    // The console has room again: the output, then the end.
    s.drain();
    assert_eq!(s.out, "hello, world\n");
    assert_eq!(s.exited, [talker]);
}

/// Every call with hostile arguments: each check stores its index at 0 before the call and
/// exits with that index if the result is not the expected error; exits 0 when all pass.
#[test]
fn hostile_arguments_are_errors_to_the_run_and_nothing_else() {
    let mut s = Sim::new();
    let e = |err: Error| -i64::from(err as i32);
    let (inv, bad, big, handle, nf) = (
        e(Error::InvalidArgument),
        e(Error::BadAddress),
        e(Error::TooLarge),
        e(Error::BadHandle),
        e(Error::NotFound),
    );
    let checks: Vec<(String, i64)> = std::vec![
        ("(call $write (i32.const 1) (i32.const -1) (i32.const 4))".into(), inv),
        ("(call $write (i32.const 1) (i32.const 0) (i32.const -4))".into(), inv),
        ("(call $write (i32.const 1) (i32.const 65530) (i32.const 10))".into(), bad),
        ("(call $write (i32.const 1) (i32.const 0) (i32.const 0x7fffffff))".into(), big),
        ("(call $write (i32.const 7) (i32.const 0) (i32.const 1))".into(), handle),
        ("(call $args (i32.const 65536) (i32.const 1))".into(), 0), // no args: nothing copied
        ("(call $args (i32.const 0) (i32.const -1))".into(), inv),
        ("(call $sleep (i64.const -1))".into(), inv),
        ("(call $wait (i64.const 1))".into(), nf),
        ("(call $wait (i64.const -5))".into(), nf),
        ("(call $wait (i64.const 0x7fffffffffff))".into(), nf),
        ("(call $cc (i32.const 65533))".into(), bad),
        ("(call $cc (i32.const -8))".into(), inv),
        ("(call $close (i32.const 0))".into(), handle),
        ("(call $close (i32.const -1))".into(), handle),
        ("(call $send (i32.const 0x10000) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))".into(), handle),
        ("(call $recv (i32.const 0x10000) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))".into(), handle),
        ("(call $spawn (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))".into(), nf),
        ("(call $spawn (i32.const -1) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))".into(), inv),
        ("(call $spawn (i32.const 0) (i32.const 0x7fffffff) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))".into(), big),
        ("(call $spawn (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 99))".into(), big),
        ("(call $spawn (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1))".into(), inv),
        ("(call $grants (i32.const -4) (i32.const 1))".into(), inv),
    ];
    let mut body = String::from(
        r#"(memory (export "memory") 1) (data (i32.const 0) "none")
           (func (export "_start")"#,
    );
    for (i, (call, want)) in checks.iter().enumerate() {
        body.push_str(&format!(
            "(if (i64.ne {call} (i64.const {want})) (then (call $exit (i32.const {}))))",
            i + 1
        ));
    }
    // Stale handle: create a channel, close end A, then use it; send on B sees Closed.
    body.push_str(&format!(
        r#"(drop (call $cc (i32.const 16)))
           (drop (call $close (i32.load (i32.const 16))))
           (if (i64.ne (call $close (i32.load (i32.const 16))) (i64.const {handle}))
             (then (call $exit (i32.const 200))))
           (if (i64.ne (call $send (i32.load (i32.const 20)) (i32.const 0) (i32.const 1)
                                   (i32.const 0) (i32.const 0) (i32.const 0))
                       (i64.const {closed}))
             (then (call $exit (i32.const 201))))
           (if (i64.ne (call $send (i32.load (i32.const 20)) (i32.const 0) (i32.const 1)
                                   (i32.const 0) (i32.const 0) (i32.const 6))
                       (i64.const {inv}))
             (then (call $exit (i32.const 202))))
           ;; sending a handle over itself is refused
           (i32.store (i32.const 24) (i32.load (i32.const 20)))
           (if (i64.ne (call $send (i32.load (i32.const 20)) (i32.const 0) (i32.const 1)
                                   (i32.const 24) (i32.const 1) (i32.const 0))
                       (i64.const {inv}))
             (then (call $exit (i32.const 203))))
           ;; a too-small receive buffer leaves the message queued
           (drop (call $cc (i32.const 40)))
           (drop (call $send (i32.load (i32.const 40)) (i32.const 0) (i32.const 4)
                             (i32.const 0) (i32.const 0) (i32.const 0)))
           (if (i64.ne (call $recv (i32.load (i32.const 44)) (i32.const 100) (i32.const 2)
                                   (i32.const 0) (i32.const 0) (i32.const 0))
                       (i64.const {big}))
             (then (call $exit (i32.const 204))))
           (if (i64.ne (call $recv (i32.load (i32.const 44)) (i32.const 100) (i32.const 4)
                                   (i32.const 0) (i32.const 0) (i32.const 1))
                       (i64.const 4))
             (then (call $exit (i32.const 205))))
           (if (i64.ne (call $recv (i32.load (i32.const 44)) (i32.const 100) (i32.const 4)
                                   (i32.const 0) (i32.const 0) (i32.const 1))
                       (i64.const {wb}))
             (then (call $exit (i32.const 206))))
        )"#,
        closed = e(Error::Closed),
        wb = e(Error::WouldBlock),
    ));
    s.program("hostile", &body);
    s.program("spin", SPIN);
    let spin = s.spawn("spin", &[]);
    let pid = s.spawn("hostile", &[]);
    s.run(200);
    assert_eq!(
        s.status(pid),
        Some(ExitStatus::Ok(0)),
        "failed check = exit code"
    );
    assert_eq!(s.status(spin), None);
    assert!(s.k.channels().is_empty());
}

/// Calls `getpid` forever, counting the calls at address 0 (they are served without leaving
/// the interpreter).
const GETPID_LOOP: &str = r#"
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $l
      (drop (call $getpid))
      (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
      (br $l)))"#;

#[test]
fn a_run_looping_on_a_cheap_call_is_still_preempted() {
    let mut s = Sim::new(); // fuel slice 2 000
    s.program("getpids", GETPID_LOOP);
    s.program("hello", HELLO);
    let looper = s.spawn("getpids", &[]);
    let hello = s.spawn("hello", &[]);
    assert!(s.k.step(), "the looper's first slice");
    assert_eq!(s.state(looper), (StateName::Wait, Some(WaitOn::Ready)));
    let calls = |s: &Sim| {
        let task = s.k.runs().get(looper).unwrap().task.as_ref().unwrap();
        u64::from_le_bytes(task.memory()[..8].try_into().unwrap())
    };
    // Each call costs its fuel: a slice holds at most slice / SYSCALL_FUEL of them.
    let first = calls(&s);
    assert!(first > 0, "the looper ran");
    assert!(
        first <= 2_000 / crate::gate::SYSCALL_FUEL,
        "{first} calls in one slice"
    );
    s.run(3);
    assert_eq!(s.out, "hello, world\n");
    assert_eq!(
        s.status(hello),
        Some(ExitStatus::Ok(0)),
        "the other run got the CPU"
    );
    assert_eq!(s.status(looper), None);
    let fuel = s.k.runs().get(looper).unwrap().info().fuel;
    assert!(
        calls(&s) * crate::gate::SYSCALL_FUEL <= fuel,
        "every call was charged: {} calls, {fuel} fuel",
        calls(&s)
    );
    s.k.kill(looper).unwrap();
}

/// wasmi cannot suspend a host call that replaced `_start`'s own frame (a tail call): a call
/// that must leave the interpreter there ends the run, with a reason; one served on the spot
/// works.
#[test]
fn a_waiting_host_call_in_tail_position_of_start_is_refused_clearly() {
    let mut s = Sim::new();
    s.program("tail", r#"(func (export "_start") (return_call $yield))"#);
    s.program(
        "fast",
        r#"(func $f (result i64) (return_call $getpid))
           (func (export "_start") (call $exit (i32.wrap_i64 (call $f))))"#,
    );
    let tail = s.spawn("tail", &[]);
    let fast = s.spawn("fast", &[]);
    s.run(10);
    match s.status(tail) {
        Some(ExitStatus::Invalid(m)) => assert!(m.contains("tail call"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.status(fast), Some(ExitStatus::Ok(fast as i32)));
}

/// Output written on the fast path reaches services in order with what the kernel reports
/// itself (here: a child that fails to load ends between the parent's two writes).
#[test]
fn events_keep_their_order_across_fast_and_kernel_calls() {
    let mut s = Sim::new();
    s.raw("notwasm", b"not wasm".to_vec());
    s.program(
        "parent",
        r#"(memory (export "memory") 1) (data (i32.const 0) "12notwasm")
           (func (export "_start")
             (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1)))
             (drop (call $spawn (i32.const 2) (i32.const 7) (i32.const 0) (i32.const 0)
                                (i32.const 0) (i32.const 0)))
             (drop (call $write (i32.const 1) (i32.const 1) (i32.const 1))))"#,
    );
    let parent = s.spawn("parent", &[]);
    while s.k.step() {}
    let mut seen = Vec::new();
    while let Some(e) = s.k.take_event() {
        seen.push(match e {
            Event::Output { pid, bytes, .. } => {
                format!("{pid}:{}", String::from_utf8_lossy(&bytes))
            }
            Event::Exited(e) => format!("{}:end", e.pid),
            Event::Committed { service, watch } => format!("{service}:watch {watch}"),
        });
    }
    assert_eq!(
        seen,
        [
            format!("{parent}:1"),
            format!("{}:end", parent + 1),
            format!("{parent}:2"),
            format!("{parent}:end"),
        ]
    );
}

#[test]
fn runs_work_alike_when_compiled_code_is_not_kept() {
    let mut config = KernelConfig::large(&[]);
    config.keep_compiled = false;
    config.fuel_slice = 2_000;
    let mut s = Sim::with(config);
    s.program("ping", PING);
    s.program("pong", PONG);
    s.program("hello", HELLO);
    let ping = s.spawn("ping", &[]);
    let hello = s.spawn("hello", &[]);
    s.run(1000);
    assert_eq!(s.status(ping), Some(ExitStatus::Ok(30)));
    assert_eq!(s.status(hello), Some(ExitStatus::Ok(0)));
    assert_eq!(s.out, "hello, world\n");
    assert_eq!(s.k.compiled_programs(), 0, "no run left, no code kept");
    s.program("spin", SPIN);
    let a = s.spawn("spin", &[]);
    let b = s.spawn("spin", &[]);
    assert_eq!(
        s.k.compiled_programs(),
        1,
        "two runs of one program share its code"
    );
    s.k.kill(a).unwrap();
    assert_eq!(s.k.compiled_programs(), 1);
    s.k.kill(b).unwrap();
    assert_eq!(s.k.compiled_programs(), 0);
}

#[test]
fn a_module_the_heap_cannot_hold_is_rejected_not_a_kernel_panic() {
    let mut s = Sim::new();
    s.program("hello", HELLO);
    s.program(
        "small",
        r#"(memory (export "memory") 100 (pagesize 1)) (func (export "_start"))"#,
    );
    static FREE: AtomicU64 = AtomicU64::new(1_000);
    fn free() -> usize {
        FREE.load(Ordering::Relaxed) as usize
    }
    s.k.set_heap_probe(&free);
    let pid = s.spawn("hello", &[]);
    match s.status(pid) {
        Some(ExitStatus::Rejected(m)) => assert!(m.contains("not enough kernel memory"), "{m}"),
        other => panic!("{other:?}"),
    }
    FREE.store(1 << 30, Ordering::Relaxed);
    let pid = s.spawn("hello", &[]);
    let small = s.spawn("small", &[]);
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    assert_eq!(s.status(small), Some(ExitStatus::Ok(0)));
}

#[test]
fn compiling_is_admitted_only_with_room_to_translate_the_largest_function() {
    // The STM32F4's `memory allocation of 10787 bytes failed`: the copy of the syscall
    // fuzzer's largest function, made while the encoder's buffer still held it, in a heap that
    // had the code, memory and flat reserve admission asked for, but not that.
    let nops = "nop ".repeat(20_000);
    let mut s = Sim::new();
    s.program(
        "big",
        &format!(r#"(memory (export "memory") 1 (pagesize 1)) (func (export "_start") {nops})"#),
    );
    let wasm = wat::parse_str(format!("(module (func {nops}) (func))")).unwrap();
    assert_eq!(crate::module_size::largest_function(&wasm), 20_002);
    // Enough for the code, the memory and the reserve, not for the translation of a 20 KB
    // function beside the code.
    static FREE: AtomicU64 = AtomicU64::new(150_000);
    fn free() -> usize {
        FREE.load(Ordering::Relaxed) as usize
    }
    s.k.set_heap_probe(&free);
    let pid = s.spawn("big", &[]);
    match s.status(pid) {
        Some(ExitStatus::Rejected(m)) => assert!(m.contains("not enough kernel memory"), "{m}"),
        other => panic!("{other:?}"),
    }
    FREE.store(1 << 30, Ordering::Relaxed);
    let pid = s.spawn("big", &[]);
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
}

/// Free bytes in pieces smaller than the compiler's largest block: refused with a reason, not
/// a kernel panic inside the compiler; started once a block that large is free.
#[test]
fn a_module_the_heap_cannot_give_a_block_for_is_rejected() {
    let mut s = Sim::new();
    s.program("hello", HELLO);
    static LARGEST: AtomicU64 = AtomicU64::new(1_000);
    fn fits(sizes: &[usize]) -> bool {
        sizes
            .iter()
            .all(|&b| b as u64 <= LARGEST.load(Ordering::Relaxed))
    }
    s.k.set_block_probe(&fits);
    let pid = s.spawn("hello", &[]);
    match s.status(pid) {
        Some(ExitStatus::Rejected(m)) => assert!(m.contains("too fragmented"), "{m}"),
        other => panic!("{other:?}"),
    }
    LARGEST.store(1 << 20, Ordering::Relaxed);
    let pid = s.spawn("hello", &[]);
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
}

/// The largest function body is read from the code section, as the compiler will see it.
#[test]
fn largest_block_reads_the_code_section() {
    use crate::module_size::{compile_blocks, largest_function};
    let wasm = wat::parse_str(
        r#"(module (memory 1 (pagesize 1))
            (func (drop (i32.add (i32.const 1) (i32.const 2))))
            (func (nop)))"#,
    )
    .unwrap();
    // The first body: no locals (1 byte), 4 instructions (6 bytes), `end`.
    assert_eq!(largest_function(&wasm), 8);
    assert_eq!(compile_blocks(&wasm), [16, 16]);
    assert_eq!(largest_function(b""), 0);
    assert_eq!(largest_function(b"\0asm\x01\0\0\0\x0a\xff"), 0);
}

#[test]
fn declared_memory_reads_the_memory_section() {
    use crate::module_size::declared_memory;
    let wasm = wat::parse_str(r#"(module (memory 3))"#).unwrap();
    assert_eq!(declared_memory(&wasm), 3 * 65536);
    let wasm = wat::parse_str(r#"(module (memory 100 (pagesize 1)))"#).unwrap();
    assert_eq!(declared_memory(&wasm), 100);
    assert_eq!(declared_memory(b""), 0);
    assert_eq!(
        declared_memory(b"\0asm\x01\0\0\0\x05\xff\xff\xff\xff\xff\xff"),
        0
    );
    let wasm = wat::parse_str(r#"(module (func))"#).unwrap();
    assert_eq!(declared_memory(&wasm), 0);
}

#[test]
fn a_grow_that_needs_more_fuel_than_a_slice_completes_after_preemption() {
    // 1 MiB costs 16384 fuel (wasmi charges one per 64 bytes); the slice is 2000.
    let mut s = Sim::new();
    s.program(
        "grower",
        r#"(memory (export "memory") 1)
           (func (export "_start")
             (call $exit (memory.grow (i32.const 16))))"#,
    );
    // Beyond the limit (4 MiB) it is still `rejected`, not preempted forever.
    s.program(
        "toobig",
        r#"(memory (export "memory") 1)
           (func (export "_start") (drop (memory.grow (i32.const 100))))"#,
    );
    let grower = s.spawn("grower", &[]);
    let toobig = s.spawn("toobig", &[]);
    s.run(50);
    assert_eq!(
        s.status(grower),
        Some(ExitStatus::Ok(1)),
        "memory.grow returns the old size"
    );
    assert!(matches!(s.status(toobig), Some(ExitStatus::Rejected(_))));
}

// --- URL calls: routed to a service's requests, or served by the kernel.

/// Opens the URL at offset 0 (length from `len`), reads up to 50 bytes, writes them to stdout,
/// closes; exit code 10 + n if call n failed, with the error code in memory at 200.
fn url_reader(url: &str) -> String {
    format!(
        r#"(memory (export "memory") 1)
           (data (i32.const 0) "{url}")
           (func (export "_start") (local $h i64) (local $n i64)
             (local.set $h (call $open (i32.const 0) (i32.const {len}) (i32.const 1)))
             (if (i64.lt_s (local.get $h) (i64.const 0))
               (then (i64.store (i32.const 200) (local.get $h)) (call $exit (i32.const 10))))
             (local.set $n (call $read (i32.wrap_i64 (local.get $h)) (i32.const 100) (i32.const 50)))
             (if (i64.lt_s (local.get $n) (i64.const 0)) (then (call $exit (i32.const 11))))
             (drop (call $write (i32.const 1) (i32.const 100) (i32.wrap_i64 (local.get $n))))
             (drop (call $close (i32.wrap_i64 (local.get $h)))))"#,
        len = url.len()
    )
}

#[test]
fn file_calls_go_to_the_service_that_registered_the_scheme() {
    use crate::request::{OwnedOp, OwnedReply};
    use zb_abi::scheme::OpenFlags;
    // Not recorded, so that its account holds only its request (a recording is charged too).
    let mut config = KernelConfig::large(&[]);
    config.replay.tape_bytes = 0;
    let mut s = Sim::with(config);
    s.k.register_scheme(SHELL, "file", zb_abi::kind::kinds::SCHEME_FILE)
        .unwrap();
    s.program("reader", &url_reader("/data/../etc/motd"));
    let pid = s.spawn("reader", &[]);
    s.run(10);
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Reply)));
    let open = s.k.take_request().expect("an open request");
    assert_eq!(open.from, pid);
    assert_eq!(open.service, SHELL);
    assert_eq!(
        open.op,
        OwnedOp::Open {
            scheme: "file",
            path: "/etc/motd".into(),
            flags: OpenFlags::READ
        }
    );
    // A spurious wake-up does not send the request again.
    s.run(10);
    assert!(s.k.take_request().is_none());
    // A reply from another service is ignored.
    s.k.complete(99, open.id, OwnedReply::Done(1));
    s.run(10);
    assert_eq!(s.state(pid), (StateName::Wait, Some(WaitOn::Reply)));
    s.k.complete(SHELL, open.id, OwnedReply::Done(7));
    s.run(10);
    let read = s.k.take_request().expect("a read request");
    assert_eq!(read.op, OwnedOp::Read { handle: 7, len: 50 });
    // The run pays for its request (and the reply it may get) while it is in flight.
    let account =
        s.k.runs()
            .get(pid)
            .unwrap()
            .task
            .as_ref()
            .unwrap()
            .data()
            .sys
            .account
            .clone();
    // (Beside what its load took: its instance and, compiled for it, its code.)
    let loaded = account.loaded();
    assert!(loaded > 0, "the load is charged");
    assert_eq!(account.used(), loaded + read.op.cost());
    s.k.complete(SHELL, read.id, OwnedReply::Data(b"welcome\n".to_vec()));
    s.run(10);
    assert_eq!(
        account.used(),
        0,
        "given back with the reply, and the rest as the run ended"
    );
    let close = s.k.take_request().expect("a close request");
    assert_eq!(close.op, OwnedOp::Close { handle: 7 });
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    assert_eq!(s.out, "welcome\n");
}

#[test]
fn a_run_ended_while_waiting_has_its_late_open_closed() {
    use crate::request::{OwnedOp, OwnedReply};
    let mut s = Sim::new();
    s.k.register_scheme(SHELL, "file", zb_abi::kind::kinds::SCHEME_FILE)
        .unwrap();
    s.program("reader", &url_reader("/x"));
    let pid = s.spawn("reader", &[]);
    s.run(10);
    let open = s.k.take_request().expect("an open request");
    s.k.kill(pid).unwrap();
    s.k.complete(SHELL, open.id, OwnedReply::Done(9));
    let close = s.k.take_request().expect("the late handle is closed");
    assert_eq!(close.op, OwnedOp::Close { handle: 9 });
    assert!(s.k.inflight.is_empty());
}

#[test]
fn urls_outside_a_runs_grants_are_denied_and_logged() {
    let mut s = Sim::new();
    s.k.register_scheme(SHELL, "file", zb_abi::kind::kinds::SCHEME_FILE)
        .unwrap();
    s.program("reader", &url_reader("/etc/motd"));
    let options = crate::RunOptions {
        allow: Some(std::vec!["file:///data/app".into()]),
        ..crate::RunOptions::default()
    };
    let pid =
        s.k.spawn_with(SHELL, "reader", Vec::new(), Vec::new(), options)
            .map_err(|(e, _)| e)
            .unwrap();
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(10)));
    assert!(s.k.take_request().is_none(), "nothing reaches the service");
    let log: String = s.k.log.iter().cloned().collect();
    assert!(
        log.contains("denied open file:///etc/motd to pid 2 (reader)"),
        "{log}"
    );
}

/// Runs hold at most their share of the kernel's `proc`/`mem` snapshots, and all runs together
/// leave the system its reserve: opening `proc://log` over and over from many runs cannot stop
/// the shell from reading `proc://` (the isolation issue's `ps`/`dmesg` failing with Busy).
#[test]
fn snapshot_hoarders_get_their_share_and_the_system_keeps_its_reserve() {
    use crate::kfiles::{MAX_OPEN, RUN_SHARE, SYSTEM_RESERVE};
    use crate::request::OwnedOp;
    use zb_abi::scheme::OpenFlags;
    let mut s = Sim::new();
    s.program(
        "hoarder",
        r#"(memory (export "memory") 1)
           (data (i32.const 0) "proc://log")
           (func (export "_start") (local $i i32) (local $n i32)
             (loop $l
               (if (i64.ge_s (call $open (i32.const 0) (i32.const 10) (i32.const 1)) (i64.const 0))
                 (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 64))))
             (i32.store8 (i32.const 32) (i32.add (i32.const 65) (local.get $n)))
             (drop (call $write (i32.const 1) (i32.const 32) (i32.const 1)))
             (drop (call $sleep (i64.const 1000000000))))"#,
    );
    let hoarders = (MAX_OPEN - SYSTEM_RESERVE) / RUN_SHARE + 1;
    let pids: Vec<Pid> = (0..hoarders).map(|_| s.spawn("hoarder", &[])).collect();
    for _ in 0..200 {
        if !s.k.step() {
            break;
        }
        s.drain();
    }
    let share = char::from(b'A' + RUN_SHARE as u8);
    let expected: String = core::iter::repeat_n(share, hoarders - 1)
        .chain(['A'])
        .collect();
    assert_eq!(s.out, expected, "each got its share, the last none");
    assert_eq!(s.k.kfiles.open_count(), MAX_OPEN - SYSTEM_RESERVE);
    // The shell (a native service) still opens proc files.
    let scheme = s.k.router.index("proc").expect("proc is routed");
    let open = OwnedOp::Open {
        scheme: "proc",
        path: "log".into(),
        flags: OpenFlags::READ,
    };
    let crate::scheme::Route::Kernel(k) = s.k.router.route(scheme).expect("route") else {
        panic!("proc is the kernel's");
    };
    let reply = s.k.serve_kernel_scheme(k, SHELL, &open);
    assert!(
        matches!(reply, crate::request::OwnedReply::Done(_)),
        "{reply:?}"
    );
    for pid in pids {
        s.k.kill(pid).unwrap();
    }
    assert_eq!(
        s.k.kfiles.open_count(),
        1,
        "the hoarders' snapshots went with them"
    );
}

#[test]
fn runs_read_proc_and_mem_from_the_kernel() {
    let mut s = Sim::new();
    s.program("reader", &url_reader("proc://self/status"));
    let pid = s.spawn("reader", &[]);
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
    assert!(
        s.out
            .starts_with(&format!("pid: {pid}\nppid: 1\nname: reader\n")),
        "{}",
        s.out
    );
    assert_eq!(s.k.kfiles.open_count(), 0, "closed with the handle");
    // No memory probe in this kernel: mem:// says so.
    s.out.clear();
    s.program("memreader", &url_reader("mem://heap"));
    let pid = s.spawn("memreader", &[]);
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(10)));
    // A scheme nobody serves.
    s.program("nobody", &url_reader("tcp://1.2.3.4:5"));
    let pid = s.spawn("nobody", &[]);
    s.run(10);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(10)));
}

#[test]
fn hostile_url_calls_are_errors_and_reach_no_handler() {
    let mut s = Sim::new();
    s.k.register_scheme(SHELL, "file", zb_abi::kind::kinds::SCHEME_FILE)
        .unwrap();
    let e = |err: Error| -(err as i64);
    let (inv, bad, big, handle) = (
        e(Error::InvalidArgument),
        e(Error::BadAddress),
        e(Error::TooLarge),
        e(Error::BadHandle),
    );
    // Memory: "/etc/motd" at 0, invalid UTF-8 at 16, a channel pair's handles at 32.
    let checks: Vec<(&str, i64)> = std::vec![
        (
            "(call $open (i32.const -1) (i32.const 9) (i32.const 1))",
            inv
        ),
        (
            "(call $open (i32.const 0) (i32.const -9) (i32.const 1))",
            inv
        ),
        (
            "(call $open (i32.const 65530) (i32.const 9) (i32.const 1))",
            bad
        ),
        (
            "(call $open (i32.const 0) (i32.const 5000) (i32.const 1))",
            big
        ),
        (
            "(call $open (i32.const 0) (i32.const 9) (i32.const 0))",
            inv
        ),
        (
            "(call $open (i32.const 0) (i32.const 9) (i32.const 0x100))",
            inv
        ),
        (
            "(call $open (i32.const 0) (i32.const 9) (i32.const -1))",
            inv
        ),
        (
            "(call $open (i32.const 0) (i32.const 9) (i32.const 5))",
            inv
        ), // READ|CREATE
        (
            "(call $open (i32.const 16) (i32.const 2) (i32.const 1))",
            inv
        ),
        (
            "(call $open (i32.const 0) (i32.const 0) (i32.const 1))",
            inv
        ),
        (
            "(call $read (i32.const 12345) (i32.const 0) (i32.const 4))",
            handle
        ),
        (
            "(call $read (i32.load (i32.const 32)) (i32.const 0) (i32.const 4))",
            handle
        ),
        (
            "(call $read (i32.const 0) (i32.const 65530) (i32.const 100))",
            bad
        ),
        (
            "(call $stat (i32.const 0) (i32.const 9) (i32.const 65530))",
            bad
        ),
        ("(call $mkdir (i32.const 0) (i32.const -1))", inv),
    ];
    let mut body = String::from(
        r#"(memory (export "memory") 1)
           (data (i32.const 0) "/etc/motd")
           (data (i32.const 16) "\ff\fe")
           (func (export "_start")
             (drop (call $cc (i32.const 32)))"#,
    );
    for (i, (call, want)) in checks.iter().enumerate() {
        body.push_str(&format!(
            "(if (i64.ne {call} (i64.const {want})) (then (call $exit (i32.const {}))))",
            i + 1
        ));
    }
    body.push(')');
    s.program("hostile-url", &body);
    let pid = s.spawn("hostile-url", &[]);
    s.run(50);
    assert_eq!(
        s.status(pid),
        Some(ExitStatus::Ok(0)),
        "failed check = exit code"
    );
    assert!(
        s.k.take_request().is_none(),
        "no bad call reached the handler"
    );
}
