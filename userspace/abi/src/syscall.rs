//! The HOST ABI: the one import module (`zb`) through which a run reaches the kernel.
//!
//! Conventions, for every function:
//! - Integers are wasm `i32`/`i64`. Pointers and lengths are `i32` offsets into the run's own
//!   linear memory; the kernel checks every `(ptr, len)` pair lies inside it.
//! - A result `>= 0` is success; a negative result is `-(Error code)` (see [`crate::Error`]).
//! - A negative pointer or length is [`crate::Error::InvalidArgument`]; a range outside the
//!   run's memory is [`crate::Error::BadAddress`]; a length over the call's limit is
//!   [`crate::Error::TooLarge`]. A bad argument never stops the kernel or another run.
//!
//! | import | signature | does |
//! |---|---|---|
//! | `exit` | `(code: i32)` | ends the run with `ok(code)`; never returns |
//! | `yield` | `()` | lets other runs go first |
//! | `getpid` | `() -> i64` | this run's id |
//! | `clock` | `() -> i64` | microseconds since boot |
//! | `sleep` | `(us: i64) -> i64` | blocks at least `us` microseconds (`us >= 0`); 0 |
//! | `write` | `(h: i32, ptr: i32, len: i32) -> i64` | writes to an open handle, or to the pseudo-handles 1 = stdout, 2 = stderr; bytes written (at most [`MAX_WRITE`] per call) |
//! | `args` | `(ptr: i32, cap: i32) -> i64` | copies up to `cap` bytes of the run's arguments (not including the program name; each ends with NUL); their total length |
//! | `spawn` | `(name: i32, name_len: i32, args: i32, args_len: i32, grants: i32, ngrants: i32) -> i64` | starts `/bin/<name>` as a child with the NUL-separated `args` and the handles in `grants` ([`GRANT_SIZE`]-byte entries, see [`Grant`]); the child's pid |
//! | `grants` | `(out: i32, cap: i32) -> i64` | writes up to `cap` handles (`u32` LE) the parent granted this run, in grant order; their count |
//! | `wait` | `(pid: i64) -> i64` | blocks until child `pid` ends and reaps it; its status ([`encode_status`]) |
//! | `channel_create` | `(out: i32) -> i64` | writes two handles (`u32` LE: end A, end B) at `out`; 0 |
//! | `send` | `(h: i32, ptr: i32, len: i32, handles: i32, nhandles: i32, flags: i32) -> i64` | sends `len` bytes and moves `nhandles` handles (`u32` LE each, needing [`crate::Rights::TRANSFER`]); 0 |
//! | `recv` | `(h: i32, ptr: i32, cap: i32, handles: i32, hcap: i32, flags: i32) -> i64` | receives one message: bytes into `ptr`, handles into `handles`; [`recv_result`] of both counts |
//! | `close` | `(h: i32) -> i64` | closes a handle (for a channel end: the peer sees [`crate::Error::Closed`]); 0 |
//! | `open` | `(url: i32, url_len: i32, flags: i32) -> i64` | opens a URL ([`crate::scheme::OpenFlags`]); a handle |
//! | `read` | `(h: i32, ptr: i32, len: i32) -> i64` | reads from an open handle, or 0 = stdin; bytes read, 0 at the end |
//! | `seek` | `(h: i32, offset: i64, whence: i32) -> i64` | moves an open file's position ([`crate::scheme::Whence`]); the new position |
//! | `stat` | `(url: i32, url_len: i32, out: i32) -> i64` | writes a [`crate::scheme::Stat`] ([`crate::scheme::STAT_SIZE`] bytes) at `out`; 0 |
//! | `readdir` | `(h: i32, ptr: i32, cap: i32) -> i64` | next entries of a directory opened with `DIRECTORY` ([`crate::scheme::dirents`]); bytes, 0 at the end |
//! | `unlink` | `(url: i32, url_len: i32) -> i64` | removes a file; 0 |
//! | `mkdir` | `(url: i32, url_len: i32) -> i64` | creates a directory; 0 |
//! | `rmdir` | `(url: i32, url_len: i32) -> i64` | removes an empty directory; 0 |
//! | `rename` | `(from: i32, from_len: i32, to: i32, to_len: i32) -> i64` | renames within one scheme; 0 |
//! | `statfs` | `(url: i32, url_len: i32, out: i32) -> i64` | writes a [`crate::scheme::FsInfo`] for the file system holding `url`; 0 |
//! | `emit` | `(name: i32, name_len: i32, payload: i32, payload_len: i32, headers: i32, headers_len: i32) -> i64` | appends an event to the journal and blocks until it is durable; its sequence number (with [`crate::bus::EMIT_DUPLICATE`] set for a repeated `idempotency_key`, and [`crate::bus::EMIT_NOT_DURABLE`] when the journal is in RAM) |
//! | `subscribe` | `(pattern: i32, len: i32, opts: i32, opts_len: i32) -> i64` | subscribes to a subject pattern ([`crate::bus::SubscribeOptions`]); a handle |
//! | `next` | `(h: i32, buf: i32, cap: i32, flags: i32) -> i64` | blocks until the subscription's next event and writes it ([`crate::bus::EventView`]); its length |
//! | `ack` | `(h: i32, seq: i64, failed: i32) -> i64` | a durable subscription's event is done (`failed` = 0) or failed (1: redelivered after a backoff); 0 |
//! | `scan` | `(view: i32, view_len: i32, key: i32, key_len: i32, out: i32, cap: i32) -> i64` | asks view `view` ([`crate::view`]) about `key`; writes its answer (JSON text) at `out`; its length (`NotFound`: no such view or key) |
//! | `seal` | `(view: i32, view_len: i32) -> i64` | snapshots the view at the current height; the height |
//! | `timer` | `(spec: i32, len: i32) -> i64` | sets or cancels a timer ([`crate::bus::TimerSpec`]): at each firing the kernel emits `timer.<name>` and, if asked, starts a program; 0 |
//! | `last_error` | `(buf: i32, cap: i32) -> i64` | the reason for this run's last failed call, when the kernel has more to say than the code (an invalid event payload, a bad subject); its length, 0 if none |
//!
//! URLs: `scheme://authority/path`, or an absolute path meaning `file://` ([`crate::url`]). A
//! run opens only what its URL grants allow (`run --allow file:///data/app prog`): anything else
//! is `PermissionDenied`, and the kernel logs the denial. Calls on URLs block the run (WAIT)
//! until the scheme's handler answers.
//!
//! Blocking: `sleep`, `wait`, and `send`/`recv` without [`NONBLOCK`] put the run in WAIT; it is
//! resumed when the call can complete. A blocking call that fails has changed nothing. `recv`
//! into a buffer too small for the next message fails with [`crate::Error::TooLarge`] and leaves
//! the message queued. `send` on a full channel blocks (or fails with `WouldBlock`); on a
//! channel whose peer is closed it fails with `Closed`.
//!
//! Channel ends travel in messages (`send` moves them; the receiver gets them). Neither end of a
//! channel can be sent through that channel itself (`InvalidArgument`), and ends that nothing
//! can receive any more — a cycle of ends queued in each other's channels after their last
//! holders closed — are closed by the kernel, so no cycle of channels outlives its holders.
//!
//! Per-call errors beyond the common ones: `spawn` → `NotFound` (no such program),
//! `InvalidArgument` (bad name or args); `wait` → `NotFound` (not a child of the caller);
//! `send`/`recv`/`close` → `BadHandle`, `PermissionDenied` (the handle lacks the right).

/// The import module name.
pub const MODULE: &str = "zb";

/// The wasm signature of an import (parameters, and the `i64` result all but two return).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// `(code: i32)`, no result (`exit`).
    Exit,
    /// `()`, no result (`yield`).
    Nothing,
    /// `() -> i64`.
    Returns,
    /// `(i64) -> i64`.
    I64,
    /// `(i32) -> i64`.
    I32x1,
    /// `(i32, i32) -> i64`.
    I32x2,
    /// `(i32, i32, i32) -> i64`.
    I32x3,
    /// `(i32, i32, i32, i32) -> i64`.
    I32x4,
    /// `(i32, i32, i32, i32, i32, i32) -> i64`.
    I32x6,
    /// `(handle: i32, i64, i32) -> i64` (`seek`, `ack`).
    HandleI64I32,
}

/// Declares the syscall table once: the [`Sysnum`] enum (numbers are stable: replay logs keep
/// them), each import's name, and the plain `nr::` constants derived from it.
macro_rules! syscalls {
    ($($variant:ident = $number:literal, $name:literal, $konst:ident, $sig:ident;)*) => {
        /// A HOST call's number, decoded once from the raw `u32` ([`Sysnum::try_from`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Sysnum {
            $($variant = $number,)*
        }

        impl Sysnum {
            /// Every call, in number order (what the kernel links).
            pub const ALL: [Sysnum; 0 $(+ { let _ = $number; 1 })*] = [$(Sysnum::$variant,)*];

            /// The import's name in the [`MODULE`] module.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Sysnum::$variant => $name,)*
                }
            }

            /// The import's wasm signature.
            pub const fn signature(self) -> Signature {
                match self {
                    $(Sysnum::$variant => Signature::$sig,)*
                }
            }
        }

        impl TryFrom<u32> for Sysnum {
            type Error = crate::Error;

            /// `Unsupported` for a number no call has.
            fn try_from(number: u32) -> Result<Sysnum, crate::Error> {
                match number {
                    $($number => Ok(Sysnum::$variant),)*
                    _ => Err(crate::Error::Unsupported),
                }
            }
        }

        /// Syscall numbers as plain constants (the [`Sysnum`] values).
        pub mod nr {
            $(pub const $konst: u32 = $number;)*
        }
    };
}

syscalls! {
    Exit = 0, "exit", EXIT, Exit;
    Yield = 1, "yield", YIELD, Nothing;
    GetPid = 2, "getpid", GETPID, Returns;
    Clock = 3, "clock", CLOCK, Returns;
    Sleep = 4, "sleep", SLEEP, I64;
    Write = 5, "write", WRITE, I32x3;
    Args = 6, "args", ARGS, I32x2;
    Spawn = 7, "spawn", SPAWN, I32x6;
    Wait = 8, "wait", WAIT, I64;
    ChannelCreate = 9, "channel_create", CHANNEL_CREATE, I32x1;
    Send = 10, "send", SEND, I32x6;
    Recv = 11, "recv", RECV, I32x6;
    Close = 12, "close", CLOSE, I32x1;
    Grants = 13, "grants", GRANTS, I32x2;
    Open = 14, "open", OPEN, I32x3;
    Read = 15, "read", READ, I32x3;
    Seek = 16, "seek", SEEK, HandleI64I32;
    Stat = 17, "stat", STAT, I32x3;
    ReadDir = 18, "readdir", READDIR, I32x3;
    Unlink = 19, "unlink", UNLINK, I32x2;
    Mkdir = 20, "mkdir", MKDIR, I32x2;
    Rmdir = 21, "rmdir", RMDIR, I32x2;
    Rename = 22, "rename", RENAME, I32x4;
    StatFs = 23, "statfs", STATFS, I32x3;
    Emit = 24, "emit", EMIT, I32x6;
    Subscribe = 25, "subscribe", SUBSCRIBE, I32x4;
    Next = 26, "next", NEXT, I32x4;
    Ack = 27, "ack", ACK, HandleI64I32;
    LastError = 28, "last_error", LAST_ERROR, I32x2;
    Scan = 29, "scan", SCAN, I32x6;
    Seal = 30, "seal", SEAL, I32x2;
    Timer = 31, "timer", TIMER, I32x2;
}

/// The name of import `number` (`"?"` for none).
pub fn name_of(number: u32) -> &'static str {
    Sysnum::try_from(number).map_or("?", Sysnum::name)
}

/// A `(ptr, len)` range of a run's memory (`len` 0: nothing).
pub type Span = (i64, i64);

/// What call `number` with `args` takes from the run's memory and what it gives back, once it
/// has returned `result`: the spans it reads (the data the run hands over) and the spans it
/// writes (the data the run receives, only on success). This is the ABI's data flow in one
/// table; replay records exactly the written spans, and hashes the read ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    pub reads: [Span; 3],
    pub writes: [Span; 2],
}

/// The [`Effects`] of call `number` (see the table at the top of this module). Spans are
/// unchecked: they are exactly what the run passed, and a call whose spans were out of range
/// failed (so wrote nothing).
pub fn effects(number: u32, a: &[i64; 6], result: i64) -> Effects {
    const NONE: Span = (0, 0);
    let words = |count: i64| count.saturating_mul(4);
    let up_to = |cap: i64| result.clamp(0, cap.max(0));
    let reads = match number {
        nr::WRITE => [(a[1], a[2]), NONE, NONE],
        nr::SPAWN => [
            (a[0], a[1]),
            (a[2], a[3]),
            (a[4], a[5].saturating_mul(GRANT_SIZE as i64)),
        ],
        nr::SEND => [(a[1], a[2]), (a[3], words(a[4])), NONE],
        nr::OPEN
        | nr::STAT
        | nr::STATFS
        | nr::UNLINK
        | nr::MKDIR
        | nr::RMDIR
        | nr::SEAL
        | nr::TIMER => [(a[0], a[1]), NONE, NONE],
        nr::RENAME | nr::SUBSCRIBE | nr::SCAN => [(a[0], a[1]), (a[2], a[3]), NONE],
        nr::EMIT => [(a[0], a[1]), (a[2], a[3]), (a[4], a[5])],
        _ => [NONE; 3],
    };
    let writes = if result < 0 {
        [NONE; 2]
    } else {
        match number {
            nr::ARGS | nr::LAST_ERROR => [(a[0], up_to(a[1])), NONE],
            nr::GRANTS => [(a[0], words(up_to(a[1]))), NONE],
            nr::CHANNEL_CREATE => [(a[0], 8), NONE],
            nr::RECV => {
                let (bytes, handles) = split_recv_result(result);
                [(a[1], bytes as i64), (a[3], words(handles as i64))]
            }
            nr::READ | nr::READDIR | nr::NEXT => [(a[1], up_to(a[2])), NONE],
            nr::STAT => [(a[2], crate::scheme::STAT_SIZE as i64), NONE],
            nr::STATFS => [(a[2], crate::scheme::FSINFO_SIZE as i64), NONE],
            nr::SCAN => [(a[4], up_to(a[5])), NONE],
            _ => [NONE; 2],
        }
    };
    Effects { reads, writes }
}

/// Size of one `spawn` grant entry in bytes.
pub const GRANT_SIZE: usize = 8;

/// One `spawn` grant: the handle is *moved* into the child with `rights` (a subset of the
/// handle's rights; 0 means "the same rights"). Wire form: `handle: u32 LE, rights: u32 LE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub handle: u32,
    pub rights: u32,
}

impl Grant {
    pub fn to_bytes(self) -> [u8; GRANT_SIZE] {
        let mut b = [0; GRANT_SIZE];
        b[..4].copy_from_slice(&self.handle.to_le_bytes());
        b[4..].copy_from_slice(&self.rights.to_le_bytes());
        b
    }

    pub fn from_bytes(b: [u8; GRANT_SIZE]) -> Grant {
        Grant {
            handle: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            rights: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Most grants in one `spawn`.
pub const MAX_GRANTS: usize = 16;
/// Most bytes in one channel message.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most handles one channel message carries.
pub const MAX_MESSAGE_HANDLES: usize = 16;
/// Most bytes of arguments (including NULs) in one `spawn`.
pub const MAX_ARGS: usize = 4096;
/// Longest program name.
pub const MAX_NAME: usize = 64;

/// How `recv` reports a message of `bytes` bytes carrying `handles` handles.
pub fn recv_result(bytes: usize, handles: usize) -> i64 {
    (bytes as i64 & 0xFFFF_FFFF) | ((handles as i64) << 32)
}

/// The inverse of [`recv_result`]: `(bytes, handles)`.
pub fn split_recv_result(v: i64) -> (usize, usize) {
    ((v & 0xFFFF_FFFF) as usize, ((v >> 32) & 0xFFFF) as usize)
}

/// Decodes a `wait` result into how the run ended and its code (0 unless `ok`).
pub fn decode_status(v: i64) -> (StatusKind, i32) {
    match v >> 32 {
        0 => (StatusKind::Ok, v as u32 as i32),
        1 => (StatusKind::Panic, 0),
        2 => (StatusKind::Invalid, 0),
        _ => (StatusKind::Rejected, 0),
    }
}

/// `send`/`recv` flag: fail with `WouldBlock` instead of blocking.
pub const NONBLOCK: i32 = 1;

/// Output streams for `write`.
pub const STDOUT: i32 = 1;
pub const STDERR: i32 = 2;

/// Largest single `write`.
pub const MAX_WRITE: usize = 64 * 1024;

/// How a child's exit status reads as an `i64` from `wait`: `ok(code)` is `code` (as `u32`, so
/// non-negative); `panic`, `invalid` and `rejected` are `1 << 32`, `2 << 32`, `3 << 32`.
pub fn encode_status(kind: StatusKind, code: i32) -> i64 {
    match kind {
        StatusKind::Ok => i64::from(code as u32),
        StatusKind::Panic => 1 << 32,
        StatusKind::Invalid => 2 << 32,
        StatusKind::Rejected => 3 << 32,
    }
}

/// The four ways a run can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Ok,
    Panic,
    Invalid,
    Rejected,
}

/// Checks a `(ptr, len)` pair from a run against a memory of `mem_len` bytes and a per-call
/// `limit`; returns the byte range. This is the one place the kernel turns run-supplied
/// numbers into memory ranges.
pub fn checked_range(
    ptr: i64,
    len: i64,
    mem_len: usize,
    limit: usize,
) -> Result<core::ops::Range<usize>, crate::Error> {
    use crate::Error;
    if ptr < 0 || len < 0 {
        return Err(Error::InvalidArgument);
    }
    let (ptr, len) = (ptr as u64, len as u64);
    if len > limit as u64 {
        return Err(Error::TooLarge);
    }
    let end = ptr.checked_add(len).ok_or(Error::BadAddress)?;
    if end > mem_len as u64 {
        return Err(Error::BadAddress);
    }
    // Both fit in usize: `end <= mem_len`.
    Ok(ptr as usize..end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn good_ranges() {
        assert_eq!(checked_range(0, 0, 0, 10), Ok(0..0));
        assert_eq!(checked_range(10, 6, 16, 100), Ok(10..16));
        assert_eq!(checked_range(16, 0, 16, 100), Ok(16..16));
    }

    #[test]
    fn hostile_ranges_are_errors() {
        assert_eq!(checked_range(-1, 4, 16, 100), Err(Error::InvalidArgument));
        assert_eq!(checked_range(0, -4, 16, 100), Err(Error::InvalidArgument));
        assert_eq!(
            checked_range(i64::MIN, i64::MIN, 16, 100),
            Err(Error::InvalidArgument)
        );
        assert_eq!(checked_range(12, 5, 16, 100), Err(Error::BadAddress));
        assert_eq!(checked_range(17, 0, 16, 100), Err(Error::BadAddress));
        assert_eq!(checked_range(i64::MAX, 1, 16, 100), Err(Error::BadAddress));
        assert_eq!(checked_range(0, 101, 1 << 20, 100), Err(Error::TooLarge));
        assert_eq!(
            checked_range(0, i64::MAX, 16, usize::MAX),
            Err(Error::BadAddress)
        );
    }

    #[test]
    fn statuses_round_trip() {
        for (k, c) in [
            (StatusKind::Ok, 0),
            (StatusKind::Ok, -1),
            (StatusKind::Ok, 7),
            (StatusKind::Panic, 0),
            (StatusKind::Invalid, 0),
            (StatusKind::Rejected, 0),
        ] {
            assert_eq!(decode_status(encode_status(k, c)), (k, c));
        }
        assert_eq!(split_recv_result(recv_result(65536, 16)), (65536, 16));
        let g = Grant {
            handle: 0x1_0002,
            rights: 3,
        };
        assert_eq!(Grant::from_bytes(g.to_bytes()), g);
    }

    #[test]
    fn effects_follow_the_table() {
        let e = effects(nr::WRITE, &[1, 100, 5, 0, 0, 0], 5);
        assert_eq!(e.reads[0], (100, 5));
        assert_eq!(e.writes, [(0, 0); 2]);
        // A read that returned 3 of 16 bytes wrote 3; a failed one wrote nothing.
        assert_eq!(
            effects(nr::READ, &[4, 64, 16, 0, 0, 0], 3).writes[0],
            (64, 3)
        );
        assert_eq!(
            effects(nr::READ, &[4, 64, 16, 0, 0, 0], -3).writes[0],
            (0, 0)
        );
        // `args` reports the total length, which may exceed what fitted.
        assert_eq!(effects(nr::ARGS, &[8, 4, 0, 0, 0, 0], 10).writes[0], (8, 4));
        let recv = effects(nr::RECV, &[3, 10, 64, 80, 4, 0], recv_result(7, 2));
        assert_eq!(recv.writes, [(10, 7), (80, 8)]);
        assert_eq!(
            effects(nr::CHANNEL_CREATE, &[40, 0, 0, 0, 0, 0], 0).writes[0],
            (40, 8)
        );
        assert_eq!(
            effects(nr::EMIT, &[1, 2, 3, 4, 5, 6], 9).reads,
            [(1, 2), (3, 4), (5, 6)]
        );
        assert_eq!(name_of(nr::EMIT), "emit");
        assert_eq!(name_of(999), "?");
    }

    #[test]
    fn statuses_encode_distinctly() {
        assert_eq!(encode_status(StatusKind::Ok, 0), 0);
        assert_eq!(encode_status(StatusKind::Ok, -1), 0xFFFF_FFFF);
        let all = [StatusKind::Panic, StatusKind::Invalid, StatusKind::Rejected];
        for k in all {
            assert!(encode_status(k, 0) > 0xFFFF_FFFF);
        }
    }
}
