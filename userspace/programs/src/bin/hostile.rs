//! `hostile`: calls every HOST import with hostile arguments and checks that each comes back
//! with the documented error code (`zb_abi::syscall`), and that the kernel and this run
//! survive. Prints one line per check, then `hostile: all N checks passed` (exit 0), or the
//! failures and exit 1.
//!
//! The checks are rows of a script ([`ROWS`]) run by a tiny interpreter ([`Vm`]): an import
//! (or a helper such as [`Call::Same`]), its arguments — literals, or symbols such as [`END`]
//! (the first address past linear memory) and registers `R + k` resolved when the row runs —
//! the result it must give, and optionally a register to keep the result in (a pid, a handle).
//! Data rather than code because code is what costs kernel memory: a run's compiled code takes
//! several times its wasm size, and the STM32F4 has ~100 KiB for everything.
//!
//! Where the ABI documentation does not pin one code down (an unknown stream number, a cap
//! larger than any limit where either the limit or the bounds could be checked first), a row
//! accepts the plausible set. Memory safety: the last [`GUARD`] bytes of memory belong to no
//! Rust object (the programs link with `--initial-heap=64` and have no allocator; checked at
//! start against `__heap_base`), and before every call that lets the kernel write (`args`,
//! `grants`, `channel_create`, `recv`) the interpreter checks that each range is inside its
//! scratch buffer, or starts in the guard zone, past the end of memory, or at a negative
//! address — so a kernel that wrongly accepted a bad range could not corrupt this program.
//! Calls with bad buffers use `NONBLOCK` where a kernel could otherwise wait forever.
//!
//! `hostile probe abc` (started by hostile with one grant) runs [`PROBE_ROWS`]: `args` and
//! `grants` with something to copy. Exit codes are checked with the `status` program.
#![no_std]
#![no_main]

use core::arch::wasm32::memory_size;

use zb_abi::syscall::{MAX_ARGS, MAX_GRANTS, MAX_NAME, NONBLOCK};
use zb_sdk::io::{BufWriter, Stream, print_str};
use zb_sdk::{Error, Rights, raw_error, sys};

zb_sdk::entry!(main);

/// Bytes at the end of memory that belong to no Rust object (see the module docs).
const GUARD: usize = 64;

unsafe extern "C" {
    /// Where wasm-ld ends the static data (and a heap would start): the guard zone begins here.
    static __heap_base: u8;
}
/// The scratch buffer the kernel may write into (its `u32` words are [`W`]`+ k`).
const BUF_LEN: usize = 32;
/// Room for this many `spawn` grant entries, built by [`Call::Grant`].
const GRANTS: usize = 4;

// Arguments are `i16`s (rows are data in linear memory: keep them small). Symbolic arguments
// are resolved when a row runs; real arguments never fall in `SYM ..= SYM_LAST`.
const SYM: i16 = i16::MIN + 1;
const SYM_LAST: i16 = SYM + 127;
/// The first address past linear memory; `END_1`/`END_4` straddle the end.
const END: i16 = SYM;
const END_1: i16 = SYM + 1;
const END_4: i16 = SYM + 2;
/// The scratch buffer, and its second half.
const BUF: i16 = SYM + 3;
const BUF16: i16 = SYM + 4;
/// The grant entries built by [`Call::Grant`].
const GR: i16 = SYM + 5;
/// `i64::MIN` / `i64::MAX` (for the `i64` arguments of `sleep` and `wait`).
const MIN64: i16 = SYM + 6;
const MAX64: i16 = SYM + 7;
/// This run's pid.
const OWN_PID: i16 = SYM + 8;
/// `i32::MAX`.
const MAX32: i16 = SYM + 9;
/// `R + k`: register `k` (rows keep results there).
const R: i16 = SYM + 16;
/// `NAME + k` / `LEN + k`: pointer to / length of `DATA[k]`.
const NAME: i16 = SYM + 32;
const LEN: i16 = SYM + 80;

/// Byte strings rows point at.
const DATA: [&[u8]; 20] = [
    b"hello",
    &[b'a'; MAX_NAME + 1],
    &[b'a'; MAX_NAME],
    b"no-such-program",
    b"",
    b"../bin/hello",
    b"/bin/hello",
    b"hel\0lo",
    b"\xff\xfe",
    b"no-final-nul",
    b"echo",
    b"hostile: stderr\n",
    b"trap",
    b"hostile",
    b"status",
    b"7\0",
    b"-3\0",
    b"notwasm",
    b"probe\0abc\0",
    b"prob\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee",
];
const HELLO: i16 = 0;
const LONG: i16 = 1;
const LONGEST: i16 = 2;
const NOSUCH: i16 = 3;
const EMPTY: i16 = 4;
const DOTDOT: i16 = 5;
const ABSOLUTE: i16 = 6;
const NUL: i16 = 7;
const NOT_UTF8: i16 = 8;
const NO_FINAL_NUL: i16 = 9;
const ECHO: i16 = 10;
/// A readable 16-byte message.
const MSG: i16 = 11;
const TRAP: i16 = 12;
const HOSTILE: i16 = 13;
const STATUS: i16 = 14;
const EXIT7: i16 = 15;
const EXIT_3: i16 = 16;
const NOTWASM: i16 = 17;
const PROBE_ARGS: i16 = 18;
const PROBE_HEAD: i16 = 19;

/// What a row accepts.
#[derive(Clone, Copy)]
enum Want {
    /// Exactly this error.
    Err(Error),
    /// Any of these errors (the ABI leaves the choice open).
    OneOf(&'static [Error]),
    /// Success with exactly this value.
    Eq(i64),
    /// Success, at least this value.
    AtLeast(i64),
}

const STREAMS: &[Error] = &[Error::InvalidArgument, Error::BadHandle];
const TOO_BIG: &[Error] = &[Error::TooLarge, Error::BadAddress];
const BAD_NAME: &[Error] = &[Error::InvalidArgument, Error::NotFound];
const NOT_CHILD: &[Error] = &[Error::NotFound, Error::InvalidArgument];
const SELF: &[Error] = &[
    Error::InvalidArgument,
    Error::BadHandle,
    Error::PermissionDenied,
];
const DUP: &[Error] = &[Error::InvalidArgument, Error::BadHandle];

/// What a row does: a HOST import, or a helper.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Sleep,
    Wait,
    Close,
    Write,
    Args,
    Grants,
    Spawn,
    Create,
    Send,
    Recv,
    Getpid,
    Yield,
    /// `[r]`: microseconds since the clock reading `r`; `[]` reads the clock.
    Clock,
    /// `[a, b]`: 1 if the two values are equal, else 0.
    Same,
    /// `[k]`: word `k` of the scratch buffer (a handle the kernel wrote there).
    Word,
    /// `[k, v]`: sets word `k` of the scratch buffer to `v`.
    Put,
    /// `[byte]`: fills the scratch buffer with `byte`.
    Fill,
    /// `[offset, NAME + k]`: 0 if the scratch buffer at `offset` holds `DATA[k]`, else 1.
    Cmp,
    /// `[k, handle, rights]`: sets grant entry `k` (at [`GR`]).
    Grant,
    /// `[h]`: sends 1-byte messages without blocking until refused; how many went, or the
    /// error if it was not `WouldBlock` or none went.
    Flood,
    /// `[h]`: receives without blocking until refused; how many came, or the error if it was
    /// not `WouldBlock`.
    Drain,
}

/// One row: `call(args…)` must give `want`; the result is kept in register `keep` (if >= 0).
struct Row {
    what: &'static str,
    call: Call,
    args: [i16; 6],
    want: Want,
    keep: i8,
}

const fn row(what: &'static str, call: Call, a: &[i16], want: Want) -> Row {
    let mut args = [0; 6];
    let mut i = 0;
    while i < a.len() {
        args[i] = a[i];
        i += 1;
    }
    Row {
        what,
        call,
        args,
        want,
        keep: -1,
    }
}

impl Row {
    /// Keeps the result in register `r`.
    const fn keep(self, r: i8) -> Row {
        Row { keep: r, ..self }
    }
}

use Call::*;
use Error::{
    BadAddress, BadHandle, Closed, InvalidArgument, NotFound, PermissionDenied, TooLarge,
    WouldBlock,
};
use Want::{AtLeast, Eq, OneOf};

const fn err(e: Error) -> Want {
    Want::Err(e)
}

const OK: Want = AtLeast(0);
const NB: i16 = NONBLOCK as i16;
const MAX_ARGS_1: i16 = MAX_ARGS as i16 + 1;
const MAX_GRANTS_1: i16 = MAX_GRANTS as i16 + 1;
const KILL: i16 = Rights::KILL.bits() as i16;
const STDOUT: i16 = zb_abi::syscall::STDOUT as i16;
const STDERR: i16 = zb_abi::syscall::STDERR as i16;
/// `wait` results: `ok(code)` is the code as `u32`; `panic` and `invalid` (zb_abi::syscall).
const PANIC: i64 = 1 << 32;
const INVALID: i64 = 2 << 32;
/// `recv` results: bytes in the low 32 bits, handles above.
const fn recvd(bytes: i64, handles: i64) -> i64 {
    bytes | handles << 32
}

// Registers.
const HA: i16 = R; // the test channel's ends
const HB: i16 = R + 1;
const X: i16 = R + 2; // scratch handles
const Y: i16 = R + 3;
const PID: i16 = R + 4;
const N1: i16 = R + 5;
const N2: i16 = R + 6;
const T0: i16 = R + 7;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    row("getpid is positive", Getpid, &[], AtLeast(1)),
    row("clock", Clock, &[], OK).keep(7),
    row("yield", Yield, &[], Eq(0)),
    row("clock is monotonic", Clock, &[T0], OK),
    row("clock", Clock, &[], OK).keep(7),
    row("sleep(1000 us)", Sleep, &[1000], Eq(0)),
    row("sleep(1000 us) lasted 1000 us", Clock, &[T0], AtLeast(1000)),
    // The probe child first, while this program is the only one loaded (a second instance
    // of it needs room on a small board).
    row("(a channel for the probe)", Create, &[BUF], Eq(0)),
    row("(its end A)", Word, &[0], OK).keep(2),
    row("(its end B)", Word, &[1], OK).keep(3),
    row("(grant of end B)", Grant, &[0, Y, 0], Eq(0)),
    row("spawn: hostile probe abc, one grant", Spawn, &[NAME + HOSTILE, LEN + HOSTILE, NAME + PROBE_ARGS, LEN + PROBE_ARGS, GR, 1], OK).keep(4),
    row("wait: the probe passed", Wait, &[PID], Eq(0)),
    row("close: the probe's channel", Close, &[X], Eq(0)),

    row("sleep(-1)", Sleep, &[-1], err(InvalidArgument)),
    row("sleep(i64::MIN)", Sleep, &[MIN64], err(InvalidArgument)),
    row("sleep(0)", Sleep, &[0], Eq(0)),

    row("write: negative pointer", Write, &[STDOUT, -1, 1], err(InvalidArgument)),
    row("write: negative length", Write, &[STDOUT, NAME + MSG, -1], err(InvalidArgument)),
    row("write: pointer at end of memory", Write, &[STDOUT, END, 1], err(BadAddress)),
    row("write: range across end of memory", Write, &[STDOUT, END_1, 2], err(BadAddress)),
    row("write: pointer i32::MAX", Write, &[STDOUT, MAX32, 1], err(BadAddress)),
    row("write: length i32::MAX", Write, &[STDOUT, 0, MAX32], err(TooLarge)),
    row("write: stream 0", Write, &[0, NAME + MSG, 1], OneOf(STREAMS)),
    row("write: stream 3", Write, &[3, NAME + MSG, 1], OneOf(STREAMS)),
    row("write: stream -1", Write, &[-1, NAME + MSG, 1], OneOf(STREAMS)),
    row("write: zero bytes", Write, &[STDOUT, NAME + MSG, 0], Eq(0)),
    row("write: to stderr", Write, &[STDERR, NAME + MSG, 16], Eq(16)),

    // This run has no arguments and no grants: only what must be checked whatever is copied
    // is checked here (the probe child checks the rest).
    row("args: negative pointer", Args, &[-1, 4], err(InvalidArgument)),
    row("args: negative capacity", Args, &[BUF, -1], err(InvalidArgument)),
    row("args: pointer i32::MAX", Args, &[MAX32, 1], err(BadAddress)),
    row("args: none", Args, &[BUF, 16], Eq(0)),
    row("grants: negative pointer", Grants, &[-1, 1], err(InvalidArgument)),
    row("grants: negative capacity", Grants, &[BUF, -1], err(InvalidArgument)),
    row("grants: pointer i32::MAX", Grants, &[MAX32, 1], err(BadAddress)),
    row("grants: none granted", Grants, &[BUF, 4], Eq(0)),

    row("spawn: negative name pointer", Spawn, &[-1, 5], err(InvalidArgument)),
    row("spawn: negative name length", Spawn, &[NAME + HELLO, -1], err(InvalidArgument)),
    row("spawn: name past end of memory", Spawn, &[END, 4], err(BadAddress)),
    row("spawn: name length i32::MAX", Spawn, &[NAME + HELLO, MAX32], err(TooLarge)),
    row("spawn: name over MAX_NAME", Spawn, &[NAME + LONG, LEN + LONG], err(TooLarge)),
    row("spawn: name of MAX_NAME, no such program", Spawn, &[NAME + LONGEST, LEN + LONGEST], err(NotFound)),
    row("spawn: nonexistent program", Spawn, &[NAME + NOSUCH, LEN + NOSUCH], err(NotFound)),
    row("spawn: empty name", Spawn, &[NAME + EMPTY, 0], OneOf(BAD_NAME)),
    row("spawn: name ../bin/hello", Spawn, &[NAME + DOTDOT, LEN + DOTDOT], OneOf(BAD_NAME)),
    row("spawn: name /bin/hello", Spawn, &[NAME + ABSOLUTE, LEN + ABSOLUTE], OneOf(BAD_NAME)),
    row("spawn: name with NUL", Spawn, &[NAME + NUL, LEN + NUL], OneOf(BAD_NAME)),
    row("spawn: name not UTF-8", Spawn, &[NAME + NOT_UTF8, LEN + NOT_UTF8], OneOf(BAD_NAME)),
    row("spawn: negative args pointer", Spawn, &[NAME + HELLO, 5, -1, 4], err(InvalidArgument)),
    row("spawn: args over MAX_ARGS", Spawn, &[NAME + HELLO, 5, 0, MAX_ARGS_1], err(TooLarge)),
    row("spawn: args past end of memory", Spawn, &[NAME + HELLO, 5, END, 8], err(BadAddress)),
    row("spawn: args without the final NUL", Spawn, &[NAME + ECHO, 4, NAME + NO_FINAL_NUL, LEN + NO_FINAL_NUL], err(InvalidArgument)),
    row("spawn: negative grant count", Spawn, &[NAME + HELLO, 5, 0, 0, 0, -1], err(InvalidArgument)),
    row("spawn: grants over MAX_GRANTS", Spawn, &[NAME + HELLO, 5, 0, 0, 0, MAX_GRANTS_1], err(TooLarge)),
    row("spawn: grants past end of memory", Spawn, &[NAME + HELLO, 5, 0, 0, END, 1], err(BadAddress)),

    row("wait: pid -1", Wait, &[-1], OneOf(NOT_CHILD)),
    row("wait: pid 0", Wait, &[0], err(NotFound)),
    row("wait: own pid", Wait, &[OWN_PID], err(NotFound)),
    row("wait: pid 1 (not a child)", Wait, &[1], err(NotFound)),
    row("wait: pid i64::MAX", Wait, &[MAX64], OneOf(NOT_CHILD)),

    row("channel_create: negative pointer", Create, &[-1], err(InvalidArgument)),
    row("channel_create: past end of memory", Create, &[END], err(BadAddress)),
    row("channel_create: 4 of 8 bytes inside", Create, &[END_4], err(BadAddress)),
    row("channel_create: pointer i32::MAX", Create, &[MAX32], err(BadAddress)),
    row("channel_create", Create, &[BUF], Eq(0)),
    row("channel_create: end A", Word, &[0], OK).keep(0),
    row("channel_create: end B", Word, &[1], OK).keep(1),
    row("channel_create: two distinct handles", Same, &[HA, HB], Eq(0)),

    row("send: handle 0", Send, &[0, NAME + MSG, 1, 0, 0, NB], err(BadHandle)),
    row("send: handle 0xFFFFFFFF", Send, &[-1, NAME + MSG, 1, 0, 0, NB], err(BadHandle)),
    row("send: negative pointer", Send, &[HA, -1, 1, 0, 0, NB], err(InvalidArgument)),
    row("send: negative length", Send, &[HA, NAME + MSG, -1, 0, 0, NB], err(InvalidArgument)),
    row("send: past end of memory", Send, &[HA, END, 1, 0, 0, NB], err(BadAddress)),
    row("send: length i32::MAX", Send, &[HA, 0, MAX32, 0, 0, NB], err(TooLarge)),
    row("send: negative handles pointer", Send, &[HA, NAME + MSG, 1, -1, 1, NB], err(InvalidArgument)),
    row("send: negative handle count", Send, &[HA, NAME + MSG, 1, 0, -1, NB], err(InvalidArgument)),
    row("send: handle count over MAX_GRANTS", Send, &[HA, NAME + MSG, 1, 0, MAX_GRANTS_1, NB], err(TooLarge)),
    row("send: handles past end of memory", Send, &[HA, NAME + MSG, 1, END, 1, NB], err(BadAddress)),
    row("send: unknown flag bits", Send, &[HA, NAME + MSG, 1, 0, 0, 0x100], err(InvalidArgument)),
    row("(a bad handle to carry)", Put, &[0, -1], Eq(0)),
    row("send: carrying handle 0xFFFFFFFF", Send, &[HA, NAME + MSG, 1, BUF, 1, NB], err(BadHandle)),
    row("(the sending end to carry)", Put, &[0, HA], Eq(0)),
    row("send: carrying its own handle", Send, &[HA, NAME + MSG, 1, BUF, 1, NB], OneOf(SELF)),
    row("(the peer end to carry)", Put, &[0, HB], Eq(0)),
    row("send: carrying its channel's peer end", Send, &[HA, NAME + MSG, 1, BUF, 1, NB], err(InvalidArgument)),

    // Buffers are checked even when nothing is queued (NONBLOCK: never waits).
    row("recv: handle 0", Recv, &[0, BUF, 4, BUF, 0, NB], err(BadHandle)),
    row("recv: negative pointer", Recv, &[HB, -1, 4, BUF, 0, NB], err(InvalidArgument)),
    row("recv: negative capacity", Recv, &[HB, BUF, -1, BUF, 0, NB], err(InvalidArgument)),
    row("recv: buffer past end of memory", Recv, &[HB, END, 4, BUF, 0, NB], err(BadAddress)),
    row("recv: capacity i32::MAX", Recv, &[HB, END_4, MAX32, BUF, 0, NB], OneOf(TOO_BIG)),
    row("recv: handles past end of memory", Recv, &[HB, BUF, 4, END, 1, NB], err(BadAddress)),
    row("recv: nothing queued (NONBLOCK)", Recv, &[HB, BUF, 16, BUF, 4, NB], err(WouldBlock)),

    // A message too big for the buffer stays queued.
    row("send: ten bytes", Send, &[HA, NAME + MSG, 10, 0, 0, 0], Eq(0)),
    row("recv: 4-byte buffer for 10 bytes", Recv, &[HB, BUF, 4, BUF, 0, 0], err(TooLarge)),
    row("recv: the message is still there", Recv, &[HB, BUF, 16, BUF, 0, 0], Eq(recvd(10, 0))),
    row("recv: contents intact", Cmp, &[0, NAME + MSG, 10], Eq(0)),

    // A full channel pushes back.
    row("send: until full (NONBLOCK)", Flood, &[HA], AtLeast(1)).keep(5),
    row("recv: until empty (NONBLOCK)", Drain, &[HB], OK).keep(6),
    row("recv: drained every queued message", Same, &[N1, N2], Eq(1)),

    // Spawn grants: every handle is checked before any moves.
    row("(grant of handle 0)", Grant, &[0, 0, 0], Eq(0)),
    row("spawn: grant of handle 0", Spawn, &[NAME + HELLO, 5, 0, 0, GR, 1], err(BadHandle)),
    row("(grant of 0xFFFFFFFF)", Grant, &[0, -1, 0], Eq(0)),
    row("spawn: grant of handle 0xFFFFFFFF", Spawn, &[NAME + HELLO, 5, 0, 0, GR, 1], err(BadHandle)),
    row("(a channel to close)", Create, &[BUF], Eq(0)),
    row("(its end A)", Word, &[0], OK).keep(2),
    row("(its end B)", Word, &[1], OK).keep(3),
    row("close: a channel end", Close, &[X], Eq(0)),
    row("close: its peer", Close, &[Y], Eq(0)),
    row("(grant of the closed handle)", Grant, &[0, X, 0], Eq(0)),
    row("spawn: grant of a closed handle", Spawn, &[NAME + HELLO, 5, 0, 0, GR, 1], err(BadHandle)),
    row("(grant of end B with KILL)", Grant, &[0, HB, KILL], Eq(0)),
    row("spawn: grant with rights the handle lacks", Spawn, &[NAME + HELLO, 5, 0, 0, GR, 1], err(PermissionDenied)),
    row("(grant of end B)", Grant, &[0, HB, 0], Eq(0)),
    row("(then a bad grant)", Grant, &[1, -1, 0], Eq(0)),
    row("spawn: good grant then bad grant", Spawn, &[NAME + HELLO, 5, 0, 0, GR, 2], err(BadHandle)),
    row("(end B twice)", Grant, &[1, HB, 0], Eq(0)),
    row("spawn: the same handle granted twice", Spawn, &[NAME + HELLO, 5, 0, 0, GR, 2], OneOf(DUP)),
    row("spawn: good grant, nonexistent program", Spawn, &[NAME + NOSUCH, LEN + NOSUCH, 0, 0, GR, 1], err(NotFound)),
    row("spawn: failed spawns moved no handle", Recv, &[HB, BUF, 16, BUF, 0, NB], err(WouldBlock)),

    // Children end as they should, and `wait` says how.
    row("spawn: hello", Spawn, &[NAME + HELLO, LEN + HELLO], OK).keep(4),
    row("wait: hello ends ok(0)", Wait, &[PID], Eq(0)),
    row("spawn: trap", Spawn, &[NAME + TRAP, LEN + TRAP], OK).keep(4),
    row("wait: trap ends panic", Wait, &[PID], Eq(PANIC)),
    row("spawn: status 7", Spawn, &[NAME + STATUS, LEN + STATUS, NAME + EXIT7, LEN + EXIT7], OK).keep(4),
    row("wait: it ends ok(7)", Wait, &[PID], Eq(7)),
    row("spawn: status -3", Spawn, &[NAME + STATUS, LEN + STATUS, NAME + EXIT_3, LEN + EXIT_3], OK).keep(4),
    row("wait: it ends ok(-3)", Wait, &[PID], Eq(0xFFFF_FFFD)),
    row("wait: a reaped child", Wait, &[PID], err(NotFound)),
    row("spawn: notwasm (not a wasm module)", Spawn, &[NAME + NOTWASM, LEN + NOTWASM], OK).keep(4),
    row("wait: notwasm ends invalid", Wait, &[PID], Eq(INVALID)),

    // Handle transfer: an end of a second channel travels over the first.
    row("(a channel to send an end of)", Create, &[BUF], Eq(0)),
    row("(its end A)", Word, &[0], OK).keep(2),
    row("(its end B)", Word, &[1], OK).keep(3),
    row("(end B to carry)", Put, &[0, Y], Eq(0)),
    row("send: carrying a handle", Send, &[HA, NAME + MSG, 1, BUF, 1, 0], Eq(0)),
    row("recv: no room for the handle", Recv, &[HB, BUF16, 16, BUF, 0, 0], err(TooLarge)),
    row("recv: message with one handle", Recv, &[HB, BUF16, 16, BUF, 2, 0], Eq(recvd(1, 1))),
    row("(the received handle)", Word, &[0], OK).keep(4),
    row("send: on the sent end's peer", Send, &[X, NAME + MSG, 3, 0, 0, 0], Eq(0)),
    row("recv: on the received handle", Recv, &[PID, BUF16, 16, BUF, 0, 0], Eq(recvd(3, 0))),
    row("close: the handle that was sent away", Close, &[Y], err(BadHandle)),
    row("close: the received handle", Close, &[PID], Eq(0)),
    row("send: peer closed", Send, &[X, NAME + MSG, 1, 0, 0, 0], err(Closed)),
    row("recv: peer closed (NONBLOCK)", Recv, &[X, BUF, 16, BUF, 0, NB], err(Closed)),
    row("recv: peer closed (blocking)", Recv, &[X, BUF, 16, BUF, 0, 0], err(Closed)),
    row("close: the other end", Close, &[X], Eq(0)),

    // Stale handles.
    row("close: channel end A", Close, &[HA], Eq(0)),
    row("send: closed handle", Send, &[HA, NAME + MSG, 1, 0, 0, NB], err(BadHandle)),
    row("recv: closed handle", Recv, &[HA, BUF, 16, BUF, 0, NB], err(BadHandle)),
    row("close: closed handle", Close, &[HA], err(BadHandle)),
    row("close: handle 0", Close, &[0], err(BadHandle)),
    row("close: handle 0xFFFFFFFF", Close, &[-1], err(BadHandle)),
    row("send: to a closed peer", Send, &[HB, NAME + MSG, 1, 0, 0, NB], err(Closed)),
    row("close: channel end B", Close, &[HB], Eq(0)),
];

/// The probe child: arguments `probe abc` (10 bytes) and one granted channel end, so `args`
/// and `grants` have something to copy and must check the whole range.
#[rustfmt::skip]
const PROBE_ROWS: &[Row] = &[
    row("(scratch = 0xEE)", Fill, &[0xEE], Eq(0)),
    row("probe: args into 4 bytes", Args, &[BUF, 4], Eq(10)),
    row("probe: args copied 4 bytes only", Cmp, &[0, NAME + PROBE_HEAD, 16], Eq(0)),
    row("probe: args in full", Args, &[BUF, 16], Eq(10)),
    row("probe: args content", Cmp, &[0, NAME + PROBE_ARGS, 10], Eq(0)),
    row("probe: args past end of memory", Args, &[END, 16], err(BadAddress)),
    row("probe: args across end of memory", Args, &[END_4, 16], err(BadAddress)),
    row("probe: args at i32::MAX", Args, &[MAX32, 16], err(BadAddress)),
    row("probe: args capacity i32::MAX", Args, &[END_4, MAX32], OneOf(TOO_BIG)),
    row("probe: grants past end of memory", Grants, &[END, 4], err(BadAddress)),
    row("probe: grants across end of memory", Grants, &[END_1, 4], err(BadAddress)),
    row("probe: grants capacity i32::MAX", Grants, &[END_1, MAX32], OneOf(TOO_BIG)),
    row("(scratch = 0xFF)", Fill, &[0xFF], Eq(0)),
    row("probe: grants count only", Grants, &[BUF, 0], Eq(1)),
    row("probe: grants wrote nothing", Word, &[0], Eq(0xFFFF_FFFF)),
    row("probe: grants", Grants, &[BUF, 2], Eq(1)),
    row("probe: one handle written", Word, &[1], Eq(0xFFFF_FFFF)),
    row("(the granted handle)", Word, &[0], OK).keep(0),
    row("probe: the granted handle works", Recv, &[R, BUF16, 16, BUF, 0, NB], err(WouldBlock)),
];

/// Failures remembered for the summary.
const MAX_FAILURES: usize = 16;

/// The interpreter's state.
struct Vm {
    end: i64,
    regs: [i64; 8],
    buf: [u8; BUF_LEN],
    grants: [u8; GRANTS * 8],
    run: u32,
    failed: u32,
    failures: [&'static str; MAX_FAILURES],
}

/// A pointer as the ABI's i32.
fn p<T>(x: *const T) -> i64 {
    i64::from(x.expose_provenance() as i32)
}

impl Vm {
    fn resolve(&mut self, v: i16) -> i64 {
        let data = |k: i16| DATA.get(k as usize).copied().unwrap_or(&[]);
        match v {
            END => self.end,
            END_1 => self.end - 1,
            END_4 => self.end - 4,
            BUF => p(self.buf.as_mut_ptr()),
            BUF16 => p(self.buf.as_mut_ptr()) + 16,
            GR => p(self.grants.as_ptr()),
            MIN64 => i64::MIN,
            MAX64 => i64::MAX,
            OWN_PID => sys::getpid(),
            MAX32 => i32::MAX.into(),
            R..NAME => self.regs.get((v - R) as usize).copied().unwrap_or(0),
            NAME..LEN => p(data(v - NAME).as_ptr()),
            LEN..=SYM_LAST => data(v - LEN).len() as i64,
            v => v.into(),
        }
    }

    /// Whether the kernel may write `len` bytes at `ptr` without touching a Rust object: the
    /// scratch buffer, or anything starting in the guard zone, past the end, or negative.
    fn writable(&mut self, ptr: i64, len: i64) -> bool {
        let buf = p(self.buf.as_mut_ptr());
        let in_buf = ptr >= buf && ptr.saturating_add(len) <= buf + BUF_LEN as i64;
        ptr < 0 || ptr >= self.end - GUARD as i64 || in_buf
    }

    fn word(&self, k: i64) -> i64 {
        let at = (k as usize).saturating_mul(4);
        match self.buf.get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]).into(),
            _ => raw_error(Error::InvalidArgument),
        }
    }

    /// Runs `rows` in order.
    fn run(&mut self, rows: &[Row]) {
        for r in rows {
            let mut a = [0i64; 6];
            for (slot, &v) in a.iter_mut().zip(&r.args) {
                *slot = self.resolve(v);
            }
            let got = self.call(r.call, a);
            if r.call == Spawn && got > 0 && matches!(r.want, Want::Err(_) | Want::OneOf(_)) {
                // A child this row should not have started: reap it, leave no zombie.
                let _ = sys::wait(got);
            }
            if let Some(reg) = usize::try_from(r.keep)
                .ok()
                .and_then(|k| self.regs.get_mut(k))
            {
                *reg = got;
            }
            self.check(r.what, got, r.want);
        }
    }

    fn call(&mut self, call: Call, a: [i64; 6]) -> i64 {
        let i = |k: usize| a[k] as i32;
        let safe = match call {
            Args => self.writable(a[0], a[1]),
            Grants => self.writable(a[0], a[1].saturating_mul(4)),
            Create => self.writable(a[0], 8),
            Recv => self.writable(a[1], a[2]) && self.writable(a[3], a[4].saturating_mul(4)),
            _ => true,
        };
        if !safe {
            print_str("hostile: (row not run: the kernel could write Rust's memory)\n");
            return raw_error(Error::Corrupt);
        }
        // SAFETY: the calls that only read (`write`, `spawn`, `send`) harm nothing whatever
        // the range; for the calls that write, `safe` above checked that every range is the
        // scratch buffer or starts where no Rust object is (guard zone, past the end,
        // negative).
        let raw = unsafe {
            match call {
                Sleep => sys::sleep(a[0]),
                Wait => sys::wait(a[0]),
                Close => sys::close(i(0)),
                Write => sys::write(i(0), i(1), i(2)),
                Args => sys::args(i(0), i(1)),
                Grants => sys::grants(i(0), i(1)),
                Spawn => sys::spawn(i(0), i(1), i(2), i(3), i(4), i(5)),
                Create => sys::channel_create(i(0)),
                Send => sys::send(i(0), i(1), i(2), i(3), i(4), i(5)),
                Recv => sys::recv(i(0), i(1), i(2), i(3), i(4), i(5)),
                _ => 0,
            }
        };
        match call {
            Getpid => sys::getpid(),
            Yield => {
                sys::yield_now();
                0
            }
            Clock if a[0] == 0 => sys::clock(),
            Clock => sys::clock() - a[0],
            Same => (a[0] == a[1]).into(),
            Word => self.word(a[0]),
            Put => {
                let at = (a[0] as usize).saturating_mul(4);
                let word = (a[1] as u32).to_le_bytes();
                let slot = self.buf.iter_mut().skip(at).take(4);
                slot.zip(word).for_each(|(d, s)| *d = s);
                0
            }
            Fill => {
                self.buf = [a[0] as u8; BUF_LEN];
                0
            }
            Cmp => {
                let at = a[0] as usize;
                let data = self.data_at(a[1]);
                let n = (a[2] as usize).min(data.len());
                (self.buf.get(at..at + n) != data.get(..n)).into()
            }
            Grant => {
                // The wire form of `zb_abi::syscall::Grant`: handle, rights, both u32 LE.
                let at = (a[0] as usize).saturating_mul(8);
                let entry = (a[1] as u32).to_le_bytes().into_iter();
                let entry = entry.chain((a[2] as u32).to_le_bytes());
                let slot = self.grants.iter_mut().skip(at).take(8);
                slot.zip(entry).for_each(|(d, s)| *d = s);
                0
            }
            Flood => self.repeat(|| send1(i(0))),
            Drain => {
                let h = i(0);
                let mut byte = [0u8; 1];
                self.repeat(|| {
                    // SAFETY: the kernel writes at most one byte into `byte` and no handles.
                    unsafe { sys::recv(h, p(byte.as_mut_ptr()) as i32, 1, 0, 0, NONBLOCK) }
                })
            }
            _ => raw,
        }
    }

    /// Which `DATA` entry `ptr` points at (rows name data by pointer).
    fn data_at(&self, ptr: i64) -> &'static [u8] {
        DATA.iter()
            .copied()
            .find(|d| p(d.as_ptr()) == ptr)
            .unwrap_or(&[])
    }

    /// Calls `f` until it fails; the number of successes if it failed with `WouldBlock`,
    /// else the failure.
    fn repeat(&mut self, mut f: impl FnMut() -> i64) -> i64 {
        let mut n = 0;
        loop {
            let r = f();
            if r < 0 {
                return if r == raw_error(WouldBlock) { n } else { r };
            }
            n += 1;
            if n > 10_000 {
                return raw_error(Error::TooLarge);
            }
        }
    }

    /// Checks a result against `want`; prints one line; returns whether it passed.
    fn check(&mut self, what: &'static str, got: i64, want: Want) -> bool {
        let pass = match want {
            Want::Err(e) => got == raw_error(e),
            Want::OneOf(es) => es.iter().any(|&e| got == raw_error(e)),
            Want::Eq(v) => got == v,
            Want::AtLeast(v) => got >= v,
        };
        self.run += 1;
        if !pass {
            if let Some(slot) = self.failures.get_mut(self.failed as usize) {
                *slot = what;
            }
            self.failed += 1;
        }
        let mut line = BufWriter::<128>::new(Stream::Stdout);
        line.push_str(if pass {
            "hostile: ok   "
        } else {
            "hostile: FAIL "
        })
        .push_str(what)
        .push_str(": ");
        match zb_sdk::decode(got) {
            Ok(v) => line.push_u64(v),
            Err(e) => line.push_str(e.message()),
        };
        if !pass {
            line.push_str(" (want ");
            match want {
                Want::Err(e) => {
                    line.push_str(e.message());
                }
                Want::OneOf(es) => {
                    for (i, e) in es.iter().enumerate() {
                        line.push_str(if i == 0 { "" } else { " or " });
                        line.push_str(e.message());
                    }
                }
                Want::Eq(v) => {
                    line.push_i64(v);
                }
                Want::AtLeast(v) => {
                    line.push_str(">= ").push_i64(v);
                }
            }
            line.push_str(")");
        }
        line.push_str("\n");
        pass
    }
}

/// Sends one byte on `h` without blocking.
fn send1(h: i32) -> i64 {
    let byte = *b"x";
    // SAFETY: `send` only reads the one byte of `byte`.
    unsafe { sys::send(h, p(byte.as_ptr()) as i32, 1, 0, 0, NONBLOCK) }
}

fn main() -> i32 {
    let heap_base = (&raw const __heap_base).addr();
    if memory_size::<0>().saturating_sub(heap_base) < GUARD {
        zb_sdk::io::eprint_str("hostile: no guard zone (link with --initial-heap=64)\n");
        return 2;
    }
    let mut vm = Vm {
        end: memory_size::<0>() as i64,
        regs: [0; 8],
        buf: [0; BUF_LEN],
        grants: [0; GRANTS * 8],
        run: 0,
        failed: 0,
        failures: [""; MAX_FAILURES],
    };
    let mut argbuf = [0u8; 32];
    let args = zb_sdk::args(&mut argbuf).unwrap_or_default();
    match args.get(0) {
        Some(b"probe") => {
            vm.run(PROBE_ROWS);
            return vm.failed as i32;
        }
        _ => vm.run(ROWS),
    }

    let mut line = BufWriter::<64>::new(Stream::Stdout);
    if vm.failed == 0 {
        line.push_str("hostile: all ")
            .push_u64(vm.run.into())
            .push_str(" checks passed\n");
        return 0;
    }
    line.push_str("hostile: ")
        .push_u64(vm.failed.into())
        .push_str(" of ")
        .push_u64(vm.run.into())
        .push_str(" checks FAILED:\n");
    drop(line);
    for what in vm.failures.iter().take(vm.failed as usize) {
        print_str("hostile:   ");
        print_str(what);
        print_str("\n");
    }
    1
}
