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
//! | `sleep` | `(us: i64) -> i64` | blocks at least `us` microseconds; 0 |
//! | `write` | `(stream: i32, ptr: i32, len: i32) -> i64` | stream 1 = stdout, 2 = stderr; bytes written |
//! | `args` | `(ptr: i32, cap: i32) -> i64` | copies the run's arguments (NUL-separated); their total length |
//! | `spawn` | `(name: i32, name_len: i32, args: i32, args_len: i32) -> i64` | starts `/bin/<name>` as a child; its pid |
//! | `wait` | `(pid: i64) -> i64` | blocks until child `pid` ends; its status ([`encode_status`]) |
//! | `channel_create` | `(out: i32) -> i64` | writes two handles (`u32` LE) at `out`; 0 |
//! | `send` | `(h: i32, ptr: i32, len: i32, flags: i32) -> i64` | sends a message; 0 |
//! | `recv` | `(h: i32, ptr: i32, cap: i32, flags: i32) -> i64` | receives a message into `ptr`; its length |
//! | `close` | `(h: i32) -> i64` | closes a handle; 0 |

/// The import module name.
pub const MODULE: &str = "zb";

/// Syscall numbers (the kernel's internal dispatch keys; stable for replay logs).
pub mod nr {
    pub const EXIT: u32 = 0;
    pub const YIELD: u32 = 1;
    pub const GETPID: u32 = 2;
    pub const CLOCK: u32 = 3;
    pub const SLEEP: u32 = 4;
    pub const WRITE: u32 = 5;
    pub const ARGS: u32 = 6;
    pub const SPAWN: u32 = 7;
    pub const WAIT: u32 = 8;
    pub const CHANNEL_CREATE: u32 = 9;
    pub const SEND: u32 = 10;
    pub const RECV: u32 = 11;
    pub const CLOSE: u32 = 12;
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
    fn statuses_encode_distinctly() {
        assert_eq!(encode_status(StatusKind::Ok, 0), 0);
        assert_eq!(encode_status(StatusKind::Ok, -1), 0xFFFF_FFFF);
        let all = [StatusKind::Panic, StatusKind::Invalid, StatusKind::Rejected];
        for k in all {
            assert!(encode_status(k, 0) > 0xFFFF_FFFF);
        }
    }
}
