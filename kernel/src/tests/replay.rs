//! Host tests of recording and replay (`crate::replay`): a replay of an untouched recording is
//! identical, and every way a replay can differ from its recording is found and named.

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use zb_abi::syscall::nr;
use zb_abi::{Error, Pid};

use super::runs::Sim;
use crate::KernelConfig;
use crate::kernel::RunOptions;
use crate::run::ExitStatus;

const SHELL: Pid = 1;

/// Takes input from every kind of source: arguments, the clock (around a sleep), a message
/// through its own channel, its pid, and a memory growth; writes what it got and exits with
/// pages + pid.
const CHATTY: &str = r#"
  (memory (export "memory") 1)
  (data (i32.const 0) "ping")
  (func (export "_start") (local $n i64)
    (local.set $n (call $args (i32.const 100) (i32.const 64)))
    (drop (call $write (i32.const 1) (i32.const 100) (i32.wrap_i64 (local.get $n))))
    (i64.store (i32.const 200) (call $clock))
    (drop (call $sleep (i64.const 1000)))
    (i64.store (i32.const 208) (call $clock))
    (drop (call $write (i32.const 1) (i32.const 200) (i32.const 16)))
    (drop (call $cc (i32.const 300)))
    (drop (call $send (i32.load (i32.const 300)) (i32.const 0) (i32.const 4)
                      (i32.const 0) (i32.const 0) (i32.const 0)))
    (local.set $n (call $recv (i32.load (i32.const 304)) (i32.const 400) (i32.const 16)
                              (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $write (i32.const 1) (i32.const 400)
                       (i32.wrap_i64 (i64.and (local.get $n) (i64.const 0xffff)))))
    (drop (memory.grow (i32.const 1)))
    (call $exit (i32.add (memory.size) (i32.wrap_i64 (call $getpid)))))"#;

const ONE_WRITE: &str = r#"
  (memory (export "memory") 1)
  (data (i32.const 0) "out\n")
  (func (export "_start") (drop (call $write (i32.const 1) (i32.const 0) (i32.const 4))))"#;

const TWO_WRITES: &str = r#"
  (memory (export "memory") 1)
  (data (i32.const 0) "out\n")
  (func (export "_start")
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 4)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 4))))"#;

/// Runs `pid`'s replay to its end; its verdict line.
fn replay(s: &mut Sim, pid: Pid) -> (Pid, String) {
    s.out.clear();
    let replay = s.k.replay(SHELL, pid).expect("replay starts");
    s.run(10_000);
    assert!(s.status(replay).is_some(), "the replay ended");
    let line = core::mem::take(&mut s.out);
    assert_eq!(line.matches('\n').count(), 1, "one verdict line: {line:?}");
    (replay, String::from(line.trim_end()))
}

fn recorded(s: &mut Sim, name: &str, args: &[&str]) -> Pid {
    let pid = s.spawn(name, args);
    s.run(10_000);
    assert!(s.status(pid).is_some(), "{name} ended");
    pid
}

#[test]
fn an_untouched_recording_replays_identically_with_the_same_hash() {
    let mut s = Sim::new();
    s.program("chatty", CHATTY);
    let pid = recorded(&mut s, "chatty", &["a", "bc"]);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(2 + pid as i32)));
    assert!(s.out.starts_with("a\0bc\0"), "{:?}", s.out);
    assert!(s.out.ends_with("ping"), "{:?}", s.out);

    let (r, first) = replay(&mut s, pid);
    let ending = format!("(11 calls, ended ok({}))", 2 + pid);
    assert!(first.starts_with("identical "), "{first}");
    assert!(first.ends_with(&ending), "{first}");
    assert_eq!(s.status(r), Some(ExitStatus::Ok(0)));
    // Nothing was done for real: no output but the verdict, no run spawned.
    let (_, second) = replay(&mut s, pid);
    assert_eq!(first, second, "the hash of the outputs is stable");

    // Another run of the same program with other inputs hashes differently.
    let other = recorded(&mut s, "chatty", &["x"]);
    let (_, third) = replay(&mut s, other);
    assert!(third.starts_with("identical "), "{third}");
    assert_ne!(first[..26], third[..26], "other inputs, other outputs");
}

#[test]
fn a_changed_input_is_found_at_the_first_output_it_changes() {
    let mut s = Sim::new();
    s.program("chatty", CHATTY);
    let pid = recorded(&mut s, "chatty", &["a"]);
    let calls = {
        let rec = s.k.recordings.get(pid).expect("recorded");
        rec.calls_made()
    };
    assert_eq!(
        calls[..6],
        [
            nr::ARGS,
            nr::WRITE,
            nr::CLOCK,
            nr::SLEEP,
            nr::CLOCK,
            nr::WRITE
        ]
    );
    // The first clock reading (call 3) is what the write at call 6 prints.
    s.k.recordings.edit(pid, |r| r.set_result(2, 12_345));
    let (r, verdict) = replay(&mut s, pid);
    assert_eq!(
        verdict,
        "diverged at call 6: `write` with other arguments or data than recorded"
    );
    assert_eq!(s.status(r), Some(ExitStatus::Ok(1)));
}

#[test]
fn other_code_more_calls_or_fewer_calls_diverge() {
    let mut s = Sim::new();
    s.program("chatty", CHATTY);
    s.program("one", ONE_WRITE);
    s.program("two", TWO_WRITES);
    let swap = |s: &mut Sim, pid: Pid, to: &'static str| {
        let wasm = s.k.programs_get(to).expect("installed");
        s.k.recordings.edit(pid, |r| {
            r.ending.path = to;
            r.ending.wasm = wasm;
        });
    };

    let chatty = recorded(&mut s, "chatty", &[]);
    swap(&mut s, chatty, "/bin/one");
    let (_, verdict) = replay(&mut s, chatty);
    assert_eq!(
        verdict,
        "diverged at call 1: the recorded run made `args`; the replay made `write`"
    );

    let one = recorded(&mut s, "one", &[]);
    swap(&mut s, one, "/bin/two");
    let (_, verdict) = replay(&mut s, one);
    assert_eq!(
        verdict,
        "diverged at call 2: the replay made `write`; the recorded run had ended"
    );

    let two = recorded(&mut s, "two", &[]);
    swap(&mut s, two, "/bin/one");
    let (_, verdict) = replay(&mut s, two);
    assert_eq!(
        verdict,
        "diverged at call 2: the replay ended (ok(0)) after 1 calls; the recorded run made 2"
    );
}

#[test]
fn killed_runs_replay_up_to_where_they_were_stopped() {
    let mut s = Sim::new();
    // Blocked in `recv` on a channel nobody writes to.
    s.program(
        "stuck",
        r#"(memory (export "memory") 1)
           (func (export "_start")
             (drop (call $cc (i32.const 0)))
             (drop (call $recv (i32.load (i32.const 4)) (i32.const 8) (i32.const 8)
                               (i32.const 0) (i32.const 0) (i32.const 0))))"#,
    );
    // Computing after a write.
    s.program(
        "busy",
        r#"(memory (export "memory") 1)
           (func (export "_start")
             (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1)))
             (loop (br 0)))"#,
    );
    for name in ["stuck", "busy"] {
        let pid = s.spawn(name, &[]);
        s.run(20);
        assert_eq!(s.k.kill(pid), Ok(()));
        let (r, verdict) = replay(&mut s, pid);
        assert!(verdict.starts_with("identical "), "{name}: {verdict}");
        assert!(
            verdict.ends_with("calls, replayed up to where it was stopped: rejected: killed)"),
            "{name}: {verdict}"
        );
        assert_eq!(s.status(r), Some(ExitStatus::Ok(0)));
    }
}

#[test]
fn a_killed_replay_gives_no_verdict() {
    let mut s = Sim::new();
    s.program("busy", r#"(func (export "_start") (loop (br 0)))"#);
    let pid = s.spawn("busy", &[]);
    s.run(50);
    assert_eq!(s.k.kill(pid), Ok(()));
    s.out.clear();
    let r = s.k.replay(SHELL, pid).expect("replay starts");
    s.run(3);
    assert_eq!(s.k.kill(r), Ok(()));
    s.run(3);
    assert_eq!(s.out, "stopped after 0 calls, no verdict\n");
    assert_eq!(s.status(r), Some(ExitStatus::Rejected("killed".into())));
}

#[test]
fn growth_decisions_are_recorded_once_even_when_retried_for_fuel() {
    let mut s = Sim::new();
    // 16 pages is more than a slice's fuel: wasmi asks the limiter, runs out of fuel, and asks
    // again when resumed.
    s.program(
        "grower",
        r#"(memory (export "memory") 1)
           (func (export "_start")
             (drop (memory.grow (i32.const 16)))
             (call $exit (memory.size)))"#,
    );
    let pid = recorded(&mut s, "grower", &[]);
    assert_eq!(s.status(pid), Some(ExitStatus::Ok(17)));
    let calls = s.k.recordings.get(pid).expect("recorded").calls_made();
    assert_eq!(calls, [u32::MAX], "one growth, no calls");
    let (_, verdict) = replay(&mut s, pid);
    assert!(verdict.starts_with("identical "), "{verdict}");
    assert!(verdict.ends_with("(0 calls, ended ok(17))"), "{verdict}");

    // Over the run's own limit, growing traps; the replay traps the same way.
    let options = RunOptions {
        memory: Some(64 << 10),
        ..RunOptions::default()
    };
    let limited =
        s.k.spawn_with(SHELL, "grower", Vec::new(), Vec::new(), options)
            .map_err(|(e, _)| e)
            .expect("spawn");
    s.run(100);
    let status = s.status(limited).expect("ended");
    assert!(matches!(status, ExitStatus::Rejected(_)), "{status:?}");
    let (_, verdict) = replay(&mut s, limited);
    assert!(verdict.starts_with("identical "), "{verdict}");
    assert!(verdict.contains("ended rejected"), "{verdict}");
}

#[test]
fn replay_refuses_live_unknown_and_unrecorded_runs() {
    let mut config = KernelConfig::large(&[]);
    config.fuel_slice = 2_000;
    config.replay.tape_bytes = 40;
    let mut s = Sim::with(config);
    s.program("one", ONE_WRITE);
    s.program("spin", r#"(func (export "_start") (loop (br 0)))"#);
    s.program(
        "many",
        r#"(memory (export "memory") 1)
           (func (export "_start") (local $i i32)
             (loop
               (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if 0 (i32.lt_u (local.get $i) (i32.const 20)))))"#,
    );
    let live = s.spawn("spin", &[]);
    s.run(3);
    assert_eq!(s.k.replay(SHELL, live), Err(Error::Busy));
    assert_eq!(s.k.replay(SHELL, 999), Err(Error::NotFound));
    assert_eq!(
        s.k.replay(SHELL, SHELL),
        Err(Error::NotFound),
        "services are not recorded"
    );
    let many = recorded(&mut s, "many", &[]);
    assert_eq!(s.k.replay(SHELL, many), Err(Error::TooLarge));
    // A short run still fits.
    let one = recorded(&mut s, "one", &[]);
    let (_, verdict) = replay(&mut s, one);
    assert!(verdict.starts_with("identical "), "{verdict}");
}

#[test]
fn corrupt_tapes_give_a_verdict_never_a_panic() {
    let mut s = Sim::new();
    s.program("chatty", CHATTY);
    let pid = recorded(&mut s, "chatty", &["a"]);
    let tape =
        s.k.recordings
            .get(pid)
            .expect("recorded")
            .tape
            .clone()
            .expect("tape");
    let mut diverged = 0;
    let mut edits: Vec<Vec<u8>> = Vec::new();
    for at in 0..tape.len() {
        let mut flipped = tape.clone();
        flipped[at] ^= 0x41;
        edits.push(flipped);
        edits.push(tape[..at].to_vec());
    }
    for edited in edits {
        s.k.recordings.edit(pid, |r| r.tape = Some(edited));
        let (_, verdict) = replay(&mut s, pid);
        assert!(
            verdict.starts_with("identical ") || verdict.starts_with("diverged at call "),
            "{verdict}"
        );
        if verdict.starts_with("diverged") {
            diverged += 1;
        }
    }
    // Every truncation is caught; most flips are (a flipped byte of received data that the
    // run only passes on is caught at the call that passes it on).
    assert!(diverged >= tape.len(), "{diverged} of {}", 2 * tape.len());
}

/// The digest tells apart what differs in a byte, in length, or only in trailing zeros.
#[test]
fn digest_tells_inputs_apart() {
    use crate::replay::Digest;
    let of = |b: &[u8]| {
        let mut d = Digest::default();
        d.bytes(b);
        d.value()
    };
    let inputs: [&[u8]; 7] = [
        b"",
        b"\0",
        b"\0\0\0\0\0\0\0\0",
        b"\0\0\0\0\0\0\0\0\0",
        b"abcdefgh",
        b"abcdefgi",
        b"bbcdefgh",
    ];
    for (i, a) in inputs.iter().enumerate() {
        for b in &inputs[i + 1..] {
            assert_ne!(of(a), of(b), "{a:?} {b:?}");
        }
    }
    // Two calls of four bytes are not one of eight.
    let mut split = Digest::default();
    split.bytes(b"abcd");
    split.bytes(b"efgh");
    assert_ne!(split.value(), of(b"abcdefgh"));
}

/// A run's recording is charged to it: with a quota too small for its tape, the run still ends
/// as it would have, just not replayable; with room, the same run is.
#[test]
fn a_recording_is_charged_to_its_run() {
    let mut s = Sim::new();
    s.program(
        "calls",
        r#"(memory (export "memory") 1)
           (func (export "_start") (local $i i32)
             (loop
               (drop (call $getpid))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if 0 (i32.lt_u (local.get $i) (i32.const 200)))))"#,
    );
    let run = |s: &mut Sim, kmem: usize| {
        let options = RunOptions {
            kmem: Some(kmem),
            ..RunOptions::default()
        };
        let pid =
            s.k.spawn_with(SHELL, "calls", Vec::new(), Vec::new(), options)
                .map_err(|(e, _)| e)
                .expect("spawn");
        s.run(100);
        assert_eq!(s.status(pid), Some(ExitStatus::Ok(0)));
        pid
    };
    // 200 calls take about 1.4 KiB of tape.
    let small = run(&mut s, 256);
    assert_eq!(s.k.replay(SHELL, small), Err(Error::TooLarge));
    let roomy = run(&mut s, 64 << 10);
    let (_, verdict) = replay(&mut s, roomy);
    assert!(verdict.starts_with("identical "), "{verdict}");
}
