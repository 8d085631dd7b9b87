//! `sysfuzz <seed> <calls> [scratch-KiB] [stdout-bytes]`: the syscall fuzzer (issue 15). Makes
//! `calls` HOST calls chosen by a PRNG seeded with `seed` (the same seed makes the same
//! choices), with random and adversarial arguments, then cleans up what it made and prints one
//! line, `sysfuzz: seed S: C calls, K ok, V violations; errors by code: 1=N 6=N …` (the
//! codes of `zb_abi::Error`), and exits 0. The host harness (`kernel/examples/sysfuzz.rs`)
//! runs it seed after seed.
//!
//! Each step is a random call or an adversarial sequence:
//! - a random import (all but `exit`, [`ROWS`]) with arguments mixed from valid values, every
//!   limit of `zb_abi` (`MAX_WRITE`, `MAX_MESSAGE`, `MAX_MESSAGE_HANDLES`, `MAX_GRANTS`,
//!   `MAX_URL_LEN`, `MAX_SUBJECT`, `MAX_PAYLOAD`, `INPUT_BYTES`, `STAT_SIZE`, …) and its ±1,
//!   negative and huge numbers, pointers at and around the end of memory, the handles it holds
//!   (channel ends, files, `proc://` snapshots, subscriptions), handles it closed, and random
//!   numbers; text arguments (URLs, subjects, payloads, headers, options, timer specs, view
//!   names, program names) come from tables of good and bad values ([`TABS`]);
//! - either end of a channel sent through that channel (must be refused: a success counts as
//!   a *violation*, as does a second `close` of a handle that does not fail `BadHandle`);
//! - cycles of channel ends across 2–3 channels whose outside ends are then closed;
//! - floods until refused: sends (small and `MAX_MESSAGE`), `proc://` opens, file opens,
//!   subscriptions, channels, stdout writes, emits, timers, spawns, cheap calls;
//! - spawns moving handles into children, receives that bring handles back, closes.
//!
//! It never blocks for long: `send`/`recv`/`next` on a handle it holds use `NONBLOCK` (a
//! subscription made with `wait_ms=` may wait that long), `sleep`s are at most 2 ms, `wait` is
//! only ever for its own children (which end by themselves), and stdin is never read. At the
//! end it closes every handle, reaps its children, cancels its timers (`sfz0`…`sfz3`), deletes
//! its durable consumers (`sfd0`…`sfd3`) and removes what it made under `/tmp` (every name
//! there starting with `s`, and what is in it), so the kernel heap can return to where it was.
//! `sysfuzz <seed> 0` does only that.
//!
//! Memory safety: the program has no allocator. At start it grows linear memory by the
//! scratch zone (default 80 KiB, at least 4 KiB): every address from `__heap_base` to the end
//! belongs to no Rust object. Every range the kernel may write (`recv`, `read`, `stat`, …) is
//! made to start in that zone, past the end, or at a negative address, and [`Fz::exec`]
//! checks it again before the call — so a kernel that wrongly accepted a range could not
//! corrupt this program. Ranges the kernel only reads may point anywhere. No panic path is
//! linked (no indexing, no division by a variable): the wasm stays small.
//!
//! `stdout-bytes`: at most that many bytes of stdout/stderr, all printable (for a serial
//! console); without it any bytes and as many as the calls make.
//!
//! The isolation tests' other pressures (hoarding every pool, flooding stdout, the
//! channel-end loop) are the small program `pressure`.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;

// `pressure` uses the rest of it.
#[allow(dead_code)]
#[path = "../scratch.rs"]
mod scratch;

use scratch::Scratch;

use zb_abi::bus::{MAX_HEADERS, MAX_OPTIONS, MAX_PAYLOAD, MAX_SUBJECT, MAX_TIMER_SPEC};
use zb_abi::scheme::{MAX_IO, STAT_SIZE};
use zb_abi::syscall::{
    MAX_ARGS, MAX_GRANTS, MAX_MESSAGE, MAX_MESSAGE_HANDLES, MAX_NAME, MAX_WRITE, NONBLOCK, nr,
};
use zb_abi::url::MAX_URL_LEN;
use zb_abi::view::{INPUT_BYTES, MAX_VIEW_NAME};
use zb_sdk::io::{BufWriter, Stream};
use zb_sdk::{Error, raw_error, sys};

zb_sdk::entry!(main);

/// Handles held at once (a PC run's whole handle table).
const POOL: usize = 256;
/// Closed handles remembered, to use again.
const DEAD: usize = 16;
/// Children not yet reaped.
const KIDS: usize = 64;
// Places in the scratch zone: the handle array or grant entries of a `send` or `spawn` (and
// the two ends `channel_create` writes, at `HSLOT + 160`), then three text slots (a URL; an
// options text or a second URL; a payload or spawn arguments).
const HSLOT: i64 = 0;
const T0: i64 = 256;
const T1: i64 = 1536;
const T2: i64 = 2816;

// What a held handle is.
const CHAN: u8 = 1;
const OBJ: u8 = 2;
const SUB: u8 = 3;
/// A subscription made with `wait_ms=`: a blocking `next` on it ends by itself.
const SUBW: u8 = 4;

/// A table of texts for one kind of argument: `items`, separated by `|`; `#` becomes a digit
/// 0–3, and `~` alone a text of `prefix`, `fill` bytes and `suffix`, `limit - 1`, `limit`,
/// `limit + 1` or fewer bytes long.
struct Tab {
    /// Where in the scratch zone the text is written.
    slot: i64,
    items: &'static [u8],
    limit: usize,
    prefix: &'static [u8],
    suffix: &'static [u8],
    fill: u8,
}

/// URLs and paths. Everything they can create under `/tmp` starts with `s` (see `cleanup`).
const URL_ITEMS: &[u8] = b"/tmp/sf#|file:///tmp/sf#|/tmp/sfd#|/tmp/sfd#/f#|/tmp/sf#/../sf#|\
//tmp//sfd#//f#|/tmp/sf#%2e|/tmp/sf\0#|/tmp/\xff|/tmp|/|/etc/motd|/bin/hello|/data|\
proc://self/status|proc://log|proc://bus|proc://|proc://#/status|mem://heap|mem://|nope://x||\
file://|udp://x|net://if|relative|~|~";

const URLS: Tab = Tab {
    slot: T0,
    items: URL_ITEMS,
    limit: MAX_URL_LEN,
    prefix: b"/tmp/",
    suffix: b"",
    fill: b's',
};

/// The second URL of `rename`.
const URLS2: Tab = Tab { slot: T1, ..URLS };

const SUBJECTS: Tab = Tab {
    slot: T0,
    items: b"sf.a|sf.b.c|sf.#|sf.*|sf.>|>|sf..x||.sf|sf.\xff|dlq.sf.#|~",
    limit: MAX_SUBJECT,
    prefix: b"sf.",
    suffix: b"",
    fill: b's',
};

const PAYLOADS: Tab = Tab {
    slot: T2,
    items: b"{}|[1,2]|{\"n\":#}|null|{nope||~",
    limit: MAX_PAYLOAD,
    prefix: b"{\"x\":\"",
    suffix: b"\"}",
    fill: b's',
};

const HEADERS: Tab = Tab {
    slot: T1,
    items: b"||idempotency_key=k#|a=b\nc=d|version=#|version=x|tenant=t#|noeq|=v|~",
    limit: MAX_HEADERS,
    prefix: b"h=",
    suffix: b"",
    fill: b'v',
};

/// Subscription options that make a `next` wait at most a few milliseconds.
const WAIT_OPTIONS: Tab = Tab {
    slot: T1,
    items: b"wait_ms=#|from=all\nwait_ms=#|queue=q#\nwait_ms=#|durable=sfd#\nwait_ms=#|\
durable=sfd#\nmax_deliver=2\nack_wait_ms=5\nwait_ms=#",
    limit: MAX_OPTIONS,
    prefix: b"",
    suffix: b"",
    fill: b'q',
};

const OPTIONS: Tab = Tab {
    slot: T1,
    items: b"|from=all|max_deliver=x|delete=1|durable=sfd#\ndelete=1|wait_ms=-1|bogus=1|~",
    limit: MAX_OPTIONS,
    prefix: b"queue=",
    suffix: b"",
    fill: b'q',
};

/// Timer specs: only names `sfz0`…`sfz3` can be set (cancelled at the end).
const TIMERS: Tab = Tab {
    slot: T0,
    items: b"sfz# after 5ms|sfz# every 20ms|sfz# every 200ms run hello|sfz# every 20ms run nosuch|\
sfz# cron */5 * * * *|sfz# off|sfz# every 0ms|sfz# after|sfz#||a.b after 1s|~",
    limit: MAX_TIMER_SPEC,
    prefix: b"sfz",
    suffix: b" off",
    fill: b's',
};

const VIEWS: Tab = Tab {
    slot: T0,
    items: b"ledger|nosuch||~",
    limit: MAX_VIEW_NAME,
    prefix: b"",
    suffix: b"",
    fill: b'v',
};

const KEYS: Tab = Tab {
    slot: T1,
    items: b"alice||bob#|~",
    limit: INPUT_BYTES,
    prefix: b"",
    suffix: b"",
    fill: b'k',
};

/// Programs to spawn: all end by themselves.
const NAMES: Tab = Tab {
    slot: T0,
    items: b"hello|hello|trap|status|notwasm|nosuch||../bin/hello|hel\0lo|~",
    limit: MAX_NAME,
    prefix: b"",
    suffix: b"",
    fill: b's',
};

const ARGS: Tab = Tab {
    slot: T2,
    items: b"|7\0|-3\0|x|~",
    limit: MAX_ARGS,
    prefix: b"",
    suffix: b"\0",
    fill: b'a',
};

/// Every table, by the index the argument kinds use ([`TX`]).
static TABS: [Tab; 12] = [
    URLS,
    URLS2,
    SUBJECTS,
    PAYLOADS,
    HEADERS,
    OPTIONS,
    TIMERS,
    VIEWS,
    KEYS,
    NAMES,
    ARGS,
    WAIT_OPTIONS,
];
const URL: u8 = 0;
const URL2: u8 = 1;
const SUBJ: u8 = 2;
const PAYL: u8 = 3;
const HEAD: u8 = 4;
/// Options: [`WAIT_OPTIONS`] two times in three, else [`OPTIONS`].
const OPTS: u8 = 5;
const TIMR: u8 = 6;
const VIEW: u8 = 7;
const KEY: u8 = 8;
const NAME: u8 = 9;
const ARGV: u8 = 10;
const WOPTS: u8 = 11;

// Argument kinds: the high nibble says what, the low one which limit, table or size. Spans,
// texts and arrays are two arguments (pointer, length or count); the rest one.
/// A range the kernel reads, with limit `LIMITS[k]`.
const RS: u8 = 0x10;
/// A range the kernel writes, with limit `LIMITS[k]`.
const WS: u8 = 0x20;
/// A text of `TABS[k]`.
const TX: u8 = 0x30;
/// A handle.
const H: u8 = 0x40;
/// A stream (stdout, stderr) or a handle.
const HS: u8 = 0x41;
/// `send`/`recv` flags.
const FL: u8 = 0x50;
/// `next` flags.
const FN: u8 = 0x51;
/// `open` flags.
const FO: u8 = 0x52;
/// A number from `SCALARS[k]`.
const SC: u8 = 0x60;
/// A pointer to `SIZES[k]` bytes of output.
const OP: u8 = 0x70;
/// `spawn` grant entries.
const GR: u8 = 0x80;
/// A `send` handle array.
const HA: u8 = 0x81;

const LIMITS: [i64; 8] = [
    64,
    MAX_GRANTS as i64,
    MAX_WRITE as i64,
    MAX_MESSAGE as i64,
    MAX_MESSAGE_HANDLES as i64,
    MAX_IO as i64,
    4096,
    1024,
];
const SIZES: [i64; 2] = [8, STAT_SIZE as i64];
/// In [`SCALARS`]: the oldest child, this run's pid.
const KID: i64 = i64::MIN + 1;
const OWN: i64 = i64::MIN + 2;
static SCALARS: [&[i64]; 6] = [
    // sleep (microseconds; never long)
    &[0, 1, 500, 2000, -1, i64::MIN],
    // wait
    &[KID, KID, -1, 0, OWN, 1, i64::MAX, 1 << 40],
    // seek offset, whence
    &[0, 1, -1, i64::MIN, i64::MAX, 70_000],
    &[0, 1, 2, 3, -1],
    // ack sequence, failed
    &[0, 1, 7, -1, i64::MAX],
    &[0, 1, 2, -1],
];
static OPEN_FLAGS: [i64; 12] = [1, 3, 7, 0x0F, 0x13, 0x27, 0x41, 0x81, 0, 4, 0x100, -1];
static SEND_FLAGS: [i64; 8] = [1, 1, 1, 0, 2, 3, -1, 0x100];

/// The arguments of each import, by number (`exit`, 0, is never called).
static ROWS: [[u8; 4]; 32] = [
    [0; 4],
    [0; 4],                               // yield
    [0; 4],                               // getpid
    [0; 4],                               // clock
    [SC, 0, 0, 0],                        // sleep
    [HS, RS + 2, 0, 0],                   // write
    [WS, 0, 0, 0],                        // args
    [TX + NAME, TX + ARGV, GR, 0],        // spawn
    [SC + 1, 0, 0, 0],                    // wait
    [OP, 0, 0, 0],                        // channel_create
    [H, RS + 3, HA, FL],                  // send
    [H, WS + 3, WS + 4, FL],              // recv
    [H, 0, 0, 0],                         // close
    [WS + 1, 0, 0, 0],                    // grants
    [TX + URL, FO, 0, 0],                 // open
    [H, WS + 5, 0, 0],                    // read
    [H, SC + 2, SC + 3, 0],               // seek
    [TX + URL, OP + 1, 0, 0],             // stat
    [H, WS + 5, 0, 0],                    // readdir
    [TX + URL, 0, 0, 0],                  // unlink
    [TX + URL, 0, 0, 0],                  // mkdir
    [TX + URL, 0, 0, 0],                  // rmdir
    [TX + URL, TX + URL2, 0, 0],          // rename
    [TX + URL, OP + 1, 0, 0],             // statfs
    [TX + SUBJ, TX + PAYL, TX + HEAD, 0], // emit
    [TX + SUBJ, TX + OPTS, 0, 0],         // subscribe
    [H, WS + 6, FN, 0],                   // next
    [H, SC + 4, SC + 5, 0],               // ack
    [WS, 0, 0, 0],                        // last_error
    [TX + VIEW, TX + KEY, WS + 7, 0],     // scan
    [TX + VIEW, 0, 0, 0],                 // seal
    [TX + TIMR, 0, 0, 0],                 // timer
];

/// What stdout gets when output must stay printable.
const PATTERN: &[u8] = b"sysfuzz: ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n";

/// The fuzzer's state (in static memory: the stack is 2 KiB).
struct Fz {
    /// xorshift64* state.
    x: u64,
    /// The scratch zone.
    s: Scratch,
    calls: u32,
    limit: u32,
    ok: u32,
    violations: u32,
    /// Failures by error code (index = code; 0: a code this program does not know).
    errs: [u32; 24],
    pool: [u32; POOL],
    kind: [u8; POOL],
    held: usize,
    dead: [u32; DEAD],
    dead_at: usize,
    kids: [i64; KIDS],
    nkids: usize,
    /// Bytes of stdout/stderr still allowed, and whether they must be printable.
    out_left: i64,
    tame: bool,
    /// The kind a successful `subscribe` of the current call makes.
    sub_kind: u8,
}

impl Fz {
    const ZERO: Fz = Fz {
        x: 0,
        s: Scratch::ZERO,
        calls: 0,
        limit: 0,
        ok: 0,
        violations: 0,
        errs: [0; 24],
        pool: [0; POOL],
        kind: [0; POOL],
        held: 0,
        dead: [0; DEAD],
        dead_at: 0,
        kids: [0; KIDS],
        nkids: 0,
        out_left: 0,
        tame: false,
        sub_kind: 0,
    };
}

struct Global(UnsafeCell<Fz>);
// SAFETY: a wasm run has one thread; `main` takes the only reference.
unsafe impl Sync for Global {}
static FZ: Global = Global(UnsafeCell::new(Fz::ZERO));

/// A pointer as the ABI's i32.
fn p<T>(x: *const T) -> i64 {
    i64::from(x.expose_provenance() as i32)
}

/// Prints `text` then `n` (a line is built of these).
fn out(line: &mut BufWriter<160>, text: &str, n: u64) {
    line.push_str(text).push_u64(n);
}

fn main() -> i32 {
    let mut buf = [0u8; 64];
    let args = zb_sdk::args(&mut buf).unwrap_or_default();
    let num = |i: usize| args.get_u64(i).and_then(Result::ok);
    // SAFETY: the one reference to the state, taken once (see `Global`).
    let f = unsafe { &mut *FZ.0.get() };
    let (Some(seed), Some(calls)) = (num(0), num(1)) else {
        zb_sdk::io::eprint_str("usage: sysfuzz <seed> <calls> [scratch-KiB] [stdout-bytes]\n");
        return 2;
    };
    if !f.s.grow((num(2).unwrap_or(80) as i64).saturating_mul(1024)) {
        zb_sdk::io::eprint_str("sysfuzz: no room in the kernel heap for the scratch zone\n");
        return 3;
    }
    f.tame = num(3).is_some();
    f.out_left = num(3).map_or(i64::MAX, |n| n as i64);
    // splitmix64 of the seed: nearby seeds start far apart.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    f.x = (z ^ (z >> 31)) | 1;
    f.limit = calls.min(u32::MAX.into()) as u32;
    while f.calls < f.limit {
        f.step();
    }
    f.cleanup();
    let mut line = BufWriter::<160>::new(Stream::Stdout);
    out(&mut line, "\nsysfuzz: seed ", seed);
    out(&mut line, ": ", f.calls.into());
    out(&mut line, " calls, ", f.ok.into());
    out(&mut line, " ok, ", f.violations.into());
    line.push_str(" violations; errors by code:");
    for (code, &n) in f.errs.iter().enumerate() {
        if n > 0 {
            out(&mut line, " ", code as u64);
            out(&mut line, "=", n.into());
        }
    }
    line.push_str("\n");
    0
}

impl Fz {
    fn next(&mut self) -> u64 {
        let mut x = self.x;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.x = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 if `n <= 0`).
    fn r(&mut self, n: i64) -> i64 {
        let v = (self.next() >> 1) as i64;
        if n <= 0 {
            0
        } else {
            v.checked_rem(n).unwrap_or(0)
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T], default: T) -> T {
        let i = self.r(items.len() as i64) as usize;
        items.get(i).copied().unwrap_or(default)
    }

    // Scratch memory. Only the zone is ever written; reads of it are volatile (the kernel
    // writes it behind the compiler's back).

    /// Writes `bytes` at `at` (`#` becomes a digit 0–3); their length.
    fn put(&mut self, at: i64, bytes: &[u8]) -> i64 {
        let mut n = 0;
        for &b in bytes {
            let b = if b == b'#' { b'0' + self.r(4) as u8 } else { b };
            self.s.poke(at + n, b);
            n += 1;
        }
        n
    }

    fn put_text(&mut self, slot: i64, text: &[u8]) -> (i64, i64) {
        let at = self.s.base + slot;
        (at, self.put(at, text))
    }

    /// A text of table `t` in its slot: (pointer, length).
    fn text(&mut self, t: u8) -> (i64, i64) {
        let Some(tab) = TABS.get(usize::from(t)) else {
            return (0, 0);
        };
        let at = self.s.base + tab.slot;
        let count = tab.items.iter().filter(|&&b| b == b'|').count() + 1;
        let n = self.r(count as i64) as usize;
        let item = tab.items.split(|&b| b == b'|').nth(n).unwrap_or_default();
        if item != b"~" {
            return (at, self.put(at, item));
        }
        let limit = tab.limit as i64;
        let shorter = self.r(limit);
        let len = self.pick(&[limit - 1, limit, limit + 1, shorter], limit);
        let mut n = self.put(at, tab.prefix);
        let body = len - tab.prefix.len() as i64 - tab.suffix.len() as i64;
        for _ in 0..body.max(0) {
            self.s.poke(at + n, tab.fill);
            n += 1;
        }
        n += self.put(at + n, tab.suffix);
        (at, n)
    }

    /// A `(pointer, length)` pair for a call whose limit is `limit`; `write`: the kernel may
    /// write there, so it starts in the scratch zone, past the end, or below 0.
    fn span(&mut self, limit: i64, write: bool) -> (i64, i64) {
        let room = self.s.end - self.s.base;
        let len = match self.r(10) {
            0 => 0,
            1 | 2 => self.r(64),
            3 => limit - 1,
            4 => limit,
            5 => limit + 1,
            6 => self.pick(&[-1, i32::MIN as i64, -4096], -1),
            7 => i32::MAX as i64,
            _ => self.r(room.min(limit + 2)),
        };
        let fits = room - len.max(0).min(room);
        let ptr = match self.r(10) {
            0..=4 => self.s.base + self.r(fits + 1),
            5 => self.s.end - len.max(0),
            6 => self.s.end - len.max(0) + 1,
            7 => self.s.end - 1 + self.r(3),
            8 => self.pick(&[-1, i32::MIN as i64, i32::MAX as i64, 0, 1], 0),
            _ => self.next() as i32 as i64,
        };
        if write && ptr >= 0 && ptr < self.s.base {
            // Out of Rust's memory.
            return (self.s.base + (ptr & 0xFFF), len);
        }
        (ptr, len)
    }

    // Handles.

    fn held_at(&self, h: u32) -> Option<usize> {
        self.pool.iter().take(self.held).position(|&x| x == h)
    }

    fn any_held(&mut self, kinds: &[u8]) -> Option<u32> {
        let start = self.r(self.held as i64) as usize;
        (0..self.held)
            .map(|i| (start + i).checked_rem(self.held).unwrap_or(0))
            .find(|&i| self.kind.get(i).is_some_and(|k| kinds.contains(k)))
            .and_then(|i| self.pool.get(i).copied())
    }

    fn hold(&mut self, h: u32, kind: u8) {
        if h == 0 || self.held_at(h).is_some() {
            return;
        }
        if let (Some(slot), Some(k)) = (self.pool.get_mut(self.held), self.kind.get_mut(self.held))
        {
            *slot = h;
            *k = kind;
            self.held += 1;
        } else {
            // Nowhere to remember it: let it go.
            self.calls += 1;
            sys::close(h as i32);
        }
    }

    /// `h` is no longer this run's (closed or moved away).
    fn forget(&mut self, h: u32) {
        let Some(i) = self.held_at(h) else {
            return;
        };
        self.held -= 1;
        let last = (
            self.pool.get(self.held).copied().unwrap_or(0),
            self.kind.get(self.held).copied().unwrap_or(0),
        );
        if let (Some(slot), Some(k)) = (self.pool.get_mut(i), self.kind.get_mut(i)) {
            (*slot, *k) = last;
        }
        if let Some(d) = self.dead.get_mut(self.dead_at % DEAD) {
            *d = h;
        }
        self.dead_at += 1;
    }

    /// A handle argument: held, closed, a stream, a variation of a held one, or noise.
    fn handle(&mut self) -> i64 {
        let held = self.any_held(&[CHAN, OBJ, SUB, SUBW]);
        let h = match (self.r(20), held) {
            (0..=10, Some(h)) => h,
            (11..=13, _) => {
                let i = self.r(self.dead_at.min(DEAD) as i64) as usize;
                self.dead.get(i).copied().unwrap_or(0)
            }
            (14, _) => 0,
            (15, _) => 1 + self.r(2) as u32,
            (16, Some(h)) => h ^ 1u32.wrapping_shl(self.r(32) as u32),
            (17, _) => u32::MAX,
            _ => self.next() as u32,
        };
        i64::from(h as i32)
    }

    /// `send`/`recv`/`next` flags; never blocking on a handle this run holds, unless it is a
    /// subscription with a wait (`next`).
    fn flags(&mut self, h: i64, next: bool) -> i64 {
        let f = self.pick(&SEND_FLAGS, 1);
        let held = self.held_at(h as u32);
        let waits = next && held.and_then(|i| self.kind.get(i)) == Some(&SUBW);
        if f == 0 && held.is_some() && !waits {
            NONBLOCK.into()
        } else {
            f
        }
    }

    // Calls.

    /// Makes call `n`: counts it, and keeps track of what it made, closed or moved.
    fn call(&mut self, n: u32, a: [i64; 6]) -> i64 {
        let r = self.exec(n, &a);
        self.calls += 1;
        if r < 0 {
            let code = r.checked_neg().unwrap_or(0);
            let i = if code < 24 { code as usize } else { 0 };
            if let Some(e) = self.errs.get_mut(i) {
                *e += 1;
            }
            return r;
        }
        self.ok += 1;
        let h = r as u32;
        match n {
            nr::CHANNEL_CREATE => {
                self.hold(self.s.peek32(a[0]), CHAN);
                self.hold(self.s.peek32(a[0] + 4), CHAN);
            }
            nr::OPEN => self.hold(h, OBJ),
            nr::SUBSCRIBE => self.hold(h, self.sub_kind),
            nr::CLOSE => self.forget(a[0] as u32),
            nr::SEND => {
                for i in 0..a[4].clamp(0, 32) {
                    self.forget(self.s.peek32(a[3] + 4 * i));
                }
            }
            nr::SPAWN => {
                for i in 0..a[5].clamp(0, 32) {
                    self.forget(self.s.peek32(a[4] + 8 * i));
                }
                self.kid(r);
            }
            nr::RECV => {
                for i in 0..(r >> 32 & 0xFFFF).min(32) {
                    self.hold(self.s.peek32(a[3] + 4 * i), OBJ);
                }
            }
            nr::WAIT => {
                if let Some(i) = self.kids.iter().take(self.nkids).position(|&k| k == a[0]) {
                    self.nkids -= 1;
                    let last = self.kids.get(self.nkids).copied().unwrap_or(0);
                    if let Some(k) = self.kids.get_mut(i) {
                        *k = last;
                    }
                }
            }
            nr::WRITE if a[0] == 1 || a[0] == 2 => self.out_left -= r,
            _ => {}
        }
        r
    }

    /// Whether every range call `n` may write starts where no Rust object is.
    fn safe(&self, n: u32, a: &[i64; 6]) -> bool {
        let ok = |ptr: i64| {
            let ptr = ptr as i32 as i64;
            ptr < 0 || ptr >= self.s.base
        };
        match n {
            nr::ARGS | nr::GRANTS | nr::CHANNEL_CREATE | nr::LAST_ERROR => ok(a[0]),
            nr::RECV => ok(a[1]) && ok(a[3]),
            nr::READ | nr::READDIR | nr::NEXT => ok(a[1]),
            nr::STAT | nr::STATFS => ok(a[2]),
            nr::SCAN => ok(a[4]),
            _ => true,
        }
    }

    fn exec(&mut self, n: u32, a: &[i64; 6]) -> i64 {
        if !self.safe(n, a) {
            self.violations += 1;
            return raw_error(Error::Corrupt);
        }
        // SAFETY: the calls that only read memory harm nothing whatever the range; for those
        // that write, `safe` checked that every range starts in the scratch zone, past the
        // end of memory, or below 0 — never where a Rust object is.
        unsafe { scratch::raw_call(n, a) }
    }

    /// Remembers child `pid` (reaping them all first when full).
    fn kid(&mut self, pid: i64) {
        if self.nkids == KIDS {
            self.reap();
        }
        if let Some(k) = self.kids.get_mut(self.nkids) {
            *k = pid;
            self.nkids += 1;
        }
    }

    /// Waits for every child (they all end by themselves).
    fn reap(&mut self) {
        while let Some(&pid) = self.kids.get(self.nkids.wrapping_sub(1)) {
            if self.call(nr::WAIT, [pid, 0, 0, 0, 0, 0]) < 0 {
                // It cannot be waited for: forget it.
                self.nkids -= 1;
            }
        }
    }

    // Steps.

    fn step(&mut self) {
        match self.r(100) {
            0..=59 => self.random_call(),
            60..=66 => self.self_send(),
            67..=72 => self.cycle(),
            73..=81 => self.flood(),
            82..=86 => self.drain(),
            87..=90 => self.spawn_grants(),
            91..=94 => self.close_some(),
            _ => self.carry(),
        }
    }

    /// One import (all but `exit`) with random arguments ([`ROWS`]).
    fn random_call(&mut self) {
        let n = 1 + self.r(31) as u32;
        let mut a = [0i64; 6];
        let mut at = 0;
        self.sub_kind = SUB;
        for kind in ROWS.get(n as usize).copied().unwrap_or_default() {
            let k = usize::from(kind & 15);
            let (x, y) = match kind {
                0 => break,
                H => (self.handle(), 0),
                HS if self.r(2) == 0 => (1 + self.r(2), 0),
                HS => (self.handle(), 0),
                FL | FN => {
                    let h = a[0];
                    (self.flags(h, kind == FN), 0)
                }
                FO if self.r(4) == 0 => (i64::from(self.next() as u8), 0),
                FO => (self.pick(&OPEN_FLAGS, 1), 0),
                GR => self.grants(),
                HA => self.handles_arg(),
                _ => match kind & 0xF0 {
                    RS | WS => self.span(LIMITS.get(k).copied().unwrap_or(0), kind >= WS),
                    // Any range, or text.
                    TX if self.r(5) == 0 => {
                        let limit = TABS.get(k).map_or(0, |t| t.limit as i64);
                        self.span(limit + 1, false)
                    }
                    TX if kind == TX + OPTS && self.r(3) != 0 => {
                        self.sub_kind = SUBW;
                        self.text(WOPTS)
                    }
                    TX => self.text(kind & 15),
                    SC => {
                        let v = self.pick(SCALARS.get(k).copied().unwrap_or(&[]), 0);
                        let kid = self.kids.first().copied().unwrap_or(0);
                        (
                            if v == KID {
                                kid
                            } else if v == OWN {
                                sys::getpid()
                            } else {
                                v
                            },
                            0,
                        )
                    }
                    // A fixed-size output: in the scratch zone, or anywhere a range may be.
                    _ if self.r(2) == 0 => (self.s.base + HSLOT + self.r(64), 0),
                    _ => (self.span(SIZES.get(k).copied().unwrap_or(8), true).0, 0),
                },
            };
            let pair = matches!(kind & 0xF0, RS | WS | TX) || kind == GR || kind == HA;
            if let Some(slot) = a.get_mut(at) {
                *slot = x;
            }
            if pair && let Some(slot) = a.get_mut(at + 1) {
                *slot = y;
            }
            at += if pair { 2 } else { 1 };
        }
        if n == nr::WRITE && (a[0] == 1 || a[0] == 2) && self.tame {
            // Printable output, within the budget.
            if self.r(3) != 0 {
                (a[1], a[2]) = (p(PATTERN.as_ptr()), self.r(PATTERN.len() as i64 + 1));
            }
            if a[2] > 0 && a[2] > self.out_left {
                a[1] = -1;
            }
        }
        if n == nr::READ && a[0] == 0 {
            // Never stdin: a foreground run would wait for a line.
            a[1] = -1;
        }
        self.call(n, a);
    }

    /// A handle array for `send` at [`HSLOT`] (or any range): (pointer, count).
    fn handles_arg(&mut self) -> (i64, i64) {
        if self.r(4) == 0 {
            return self.span(MAX_MESSAGE_HANDLES as i64, false);
        }
        let n = self.pick(&[0, 0, 1, 1, 2, 3, MAX_MESSAGE_HANDLES as i64, 17], 0);
        for i in 0..n {
            let h = self.handle() as u32;
            self.s.poke32(self.s.base + HSLOT + 4 * i, h);
        }
        (self.s.base + HSLOT, n)
    }

    /// Grant entries for `spawn` at [`HSLOT`]: (pointer, count).
    fn grants(&mut self) -> (i64, i64) {
        let n = self.pick(
            &[0, 0, 0, 1, 2, MAX_GRANTS as i64, MAX_GRANTS as i64 + 1, -1],
            0,
        );
        for i in 0..n {
            let h = self.handle() as u32;
            let rights = self.pick(&[0, 0, 1, 4, 0xFFFF_FFFF], 0);
            self.s.poke32(self.s.base + HSLOT + 8 * i, h);
            self.s.poke32(self.s.base + HSLOT + 8 * i + 4, rights);
        }
        (self.s.base + HSLOT, n)
    }

    /// A new channel: its two ends (0s if refused).
    fn channel(&mut self) -> (u32, u32) {
        let out = self.s.base + HSLOT + 160;
        if self.call(nr::CHANNEL_CREATE, [out, 0, 0, 0, 0, 0]) < 0 {
            return (0, 0);
        }
        (self.s.peek32(out), self.s.peek32(out + 4))
    }

    /// A channel end this run holds, made if there is none.
    fn chan_end(&mut self) -> u32 {
        match self.any_held(&[CHAN]) {
            Some(h) => h,
            None => self.channel().0,
        }
    }

    /// Sends `len` bytes of the scratch zone on `via`, carrying `handles`, without blocking.
    fn send(&mut self, via: u32, len: i64, handles: &[u32]) -> i64 {
        for (i, &h) in handles.iter().enumerate() {
            self.s.poke32(self.s.base + HSLOT + 4 * i as i64, h);
        }
        let len = len.min(self.s.end - self.s.base);
        let a = [
            i64::from(via as i32),
            self.s.base,
            len,
            self.s.base + HSLOT,
            handles.len() as i64,
            NONBLOCK.into(),
        ];
        self.call(nr::SEND, a)
    }

    fn close(&mut self, h: u32) -> i64 {
        self.call(nr::CLOSE, [i64::from(h as i32), 0, 0, 0, 0, 0])
    }

    fn msg_len(&mut self) -> i64 {
        self.pick(&[0, 1, 100, 4096, MAX_MESSAGE as i64], 1)
    }

    /// Either end of a channel sent through that channel: always refused.
    fn self_send(&mut self) {
        let (a, b) = self.channel();
        if a == 0 {
            return;
        }
        for (via, carry) in [(a, a), (a, b), (b, b), (b, a)] {
            let len = self.msg_len();
            let other = self.handle() as u32;
            let r = if self.r(2) == 0 {
                self.send(via, len, &[carry])
            } else {
                self.send(via, len, &[other, carry])
            };
            if r >= 0 {
                self.violation();
            }
        }
        // The loop: end B stays, end A goes.
        if self.r(2) == 0 {
            self.close(a);
        }
    }

    /// A cycle of ends over 2–3 channels (each carries the next one's end B), then the outside
    /// ends closed: nothing can reach the cycle, the kernel must collect it.
    fn cycle(&mut self) {
        let n = 2 + self.r(2) as usize;
        let mut ends = [(0u32, 0u32); 3];
        for e in ends.iter_mut().take(n) {
            *e = self.channel();
        }
        for i in 0..n {
            let (via, _) = ends.get(i).copied().unwrap_or_default();
            let (_, carry) = ends
                .get(if i + 1 == n { 0 } else { i + 1 })
                .copied()
                .unwrap_or_default();
            let len = self.msg_len();
            if self.r(3) == 0 {
                let other = self.any_held(&[OBJ, SUB, SUBW]).unwrap_or(0);
                self.send(via, len, &[carry, other]);
            } else {
                self.send(via, len, &[carry]);
            }
        }
        for &(a, _) in ends.iter().take(n) {
            if self.r(5) != 0 {
                self.close(a);
            }
        }
    }

    /// Handles (any kind) carried through a channel end.
    fn carry(&mut self) {
        let via = self.chan_end();
        let mut hs = [0u32; MAX_MESSAGE_HANDLES + 1];
        let n = self.r(hs.len() as i64 + 1) as usize;
        for h in hs.iter_mut().take(n) {
            *h = self.handle() as u32;
        }
        let len = self.msg_len();
        self.send(via, len, hs.get(..n).unwrap_or(&[]));
    }

    /// Receives everything waiting on a few held ends (keeping the handles that come).
    fn drain(&mut self) {
        for _ in 0..4 {
            let Some(h) = self.any_held(&[CHAN, OBJ]) else {
                return;
            };
            for _ in 0..24 {
                let room = (self.s.end - self.s.base - T0).min(MAX_MESSAGE as i64);
                let a = [
                    i64::from(h as i32),
                    self.s.base + T0,
                    room,
                    self.s.base + HSLOT,
                    MAX_MESSAGE_HANDLES as i64,
                    NONBLOCK.into(),
                ];
                if self.call(nr::RECV, a) < 0 {
                    break;
                }
            }
        }
    }

    /// Spawns a child that ends by itself, moving handles into it.
    fn spawn_grants(&mut self) {
        let (name, name_len) = self.text(NAME);
        let (g, n) = self.grants();
        self.call(nr::SPAWN, [name, name_len, 0, 0, g, n]);
        if self.r(3) == 0 {
            self.reap();
        }
    }

    /// Closes a held handle, then again (must be `BadHandle`).
    fn close_some(&mut self) {
        if let Some(h) = self.any_held(&[CHAN, OBJ, SUB, SUBW]) {
            self.close(h);
            if self.close(h) != raw_error(Error::BadHandle) {
                self.violation();
            }
        }
    }

    /// One call repeated until refused (or up to 128 times, or the run's calls are used up).
    fn flood(&mut self) {
        let cap = 8 + self.r(120);
        let kind = self.r(12);
        let big = (MAX_MESSAGE as i64).min(self.s.end - self.s.base);
        let (n, a) = match kind {
            0 | 1 => {
                let h = i64::from(self.chan_end() as i32);
                let len = if kind == 0 { 8 } else { big };
                (nr::SEND, [h, self.s.base, len, 0, 0, NONBLOCK.into()])
            }
            2 | 3 => {
                let url: &[u8] = if kind == 2 {
                    b"proc://self/status"
                } else {
                    b"/tmp/sf#"
                };
                let (u, l) = self.put_text(T0, url);
                (nr::OPEN, [u, l, self.pick(&[1, 3, 7], 1), 0, 0, 0])
            }
            4 => {
                self.sub_kind = SUBW;
                let (s, sl) = self.put_text(T0, b"sf.>");
                let (o, ol) = self.put_text(T1, b"wait_ms=1");
                (nr::SUBSCRIBE, [s, sl, o, ol, 0, 0])
            }
            5 => (
                nr::CHANNEL_CREATE,
                [self.s.base + HSLOT + 160, 0, 0, 0, 0, 0],
            ),
            6 if self.tame => (
                nr::WRITE,
                [1, p(PATTERN.as_ptr()), PATTERN.len() as i64, 0, 0, 0],
            ),
            6 => (nr::WRITE, [1, self.s.base, self.r(big + 1), 0, 0, 0]),
            7 => {
                let (s, sl) = self.put_text(T0, b"sf.flood");
                let (d, dl) = self.put_text(T2, b"{\"n\":#}");
                (nr::EMIT, [s, sl, d, dl, 0, 0])
            }
            8 => {
                let (t, l) = self.put_text(T0, b"sfz# every 20ms");
                (nr::TIMER, [t, l, 0, 0, 0, 0])
            }
            9 => {
                let (s, sl) = self.put_text(T0, b"hello");
                (nr::SPAWN, [s, sl, 0, 0, 0, 0])
            }
            10 => (self.pick(&[nr::YIELD, nr::GETPID, nr::CLOCK], 1), [0; 6]),
            _ => {
                let h = i64::from(self.any_held(&[OBJ]).unwrap_or(0) as i32);
                (nr::WRITE, [h, self.s.base, big, 0, 0, 0])
            }
        };
        for _ in 0..cap {
            let over = n == nr::WRITE && a[0] == 1 && a[2] > self.out_left;
            if self.calls >= self.limit || over || (n == nr::SPAWN && self.nkids == KIDS) {
                break;
            }
            if self.call(n, a) < 0 {
                break;
            }
        }
        if n == nr::SPAWN {
            self.reap();
        }
    }

    fn violation(&mut self) {
        self.violations += 1;
    }

    // The end.

    /// Gives back everything this run made beyond its own handles.
    fn cleanup(&mut self) {
        while let Some(&h) = self.pool.get(self.held.wrapping_sub(1)) {
            if self.close(h) < 0 {
                self.forget(h);
            }
        }
        self.reap();
        for d in b'0'..b'4' {
            let (s, l) = self.put_text(T0, b"sfz0 off");
            self.s.poke(s + 3, d);
            self.call(nr::TIMER, [s, l, 0, 0, 0, 0]);
            let (pat, pl) = self.put_text(T0, b"sf.>");
            let (o, ol) = self.put_text(T1, b"durable=sfd0\ndelete=1");
            self.s.poke(o + 11, d);
            self.call(nr::SUBSCRIBE, [pat, pl, o, ol, 0, 0]);
        }
        let (at, len) = self.put_text(T0, b"/tmp");
        self.remove_tree(at, len, 0);
    }

    /// Removes the entries starting with `s` of the directory whose path is at `at` (in
    /// [`T0`], `len` bytes; `depth` 0), and everything in them, down to a few levels.
    fn remove_tree(&mut self, at: i64, len: i64, depth: i64) {
        // Each level lists into a buffer of its own.
        let list = self.s.base + T1 + depth * 320;
        for _pass in 0..8 {
            let h = self.call(nr::OPEN, [at, len, 0x41, 0, 0, 0]);
            if h < 0 {
                return;
            }
            let mut removed = false;
            for _ in 0..64 {
                let n = self.call(nr::READDIR, [h, list, 320, 0, 0, 0]);
                if n <= 0 {
                    break;
                }
                let mut e = 0;
                while e + 2 <= n {
                    let name_len = i64::from(self.s.peek(list + e + 1));
                    // In /tmp only what this program makes; below, everything.
                    let ours = depth > 0 || self.s.peek(list + e + 2) == b's';
                    if ours && depth < 4 {
                        // The path becomes `path/name`.
                        self.s.poke(at + len, b'/');
                        for i in 0..name_len {
                            self.s.poke(at + len + 1 + i, self.s.peek(list + e + 2 + i));
                        }
                        let child = len + 1 + name_len;
                        if self.call(nr::UNLINK, [at, child, 0, 0, 0, 0]) < 0 {
                            self.remove_tree(at, child, depth + 1);
                            self.call(nr::RMDIR, [at, child, 0, 0, 0, 0]);
                        }
                        removed = true;
                    }
                    e += 2 + name_len;
                }
            }
            self.close(h as u32);
            if !removed {
                return;
            }
        }
    }
}
