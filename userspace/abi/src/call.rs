//! The typed HOST call: `(number, args)` from a run, decoded once.
//!
//! A run calls an import of [`crate::syscall::MODULE`] with integers. The kernel turns them into
//! a [`Call`] in one place, [`Call::decode`], before anything else looks at them: the number
//! becomes a [`Sysnum`], every `(ptr, len)` pair is checked against the run's memory and the
//! call's limit ([`checked_range`]) and becomes a [`Buf`], flags and enumerations are parsed.
//! After decoding, no handler sees a raw argument, so a hostile number can only be refused
//! here, with the error the ABI documents for it ([`crate::syscall`]).
//!
//! What decoding cannot check is left to the call's handler: whether a handle exists and has
//! the right (that needs the run's handle table), whether text is UTF-8 and well formed (the
//! reasons differ per call), and kernel state. A decoded range stays valid: a run's memory only
//! grows.
//!
//! Two calls write "up to `cap`" entries of something whose length only the kernel knows
//! (`args`, `grants`): their output is a [`Prefix`], checked when the length is known, as it
//! always was (a large `cap` with a short answer is fine).

use core::ops::Range;

use crate::bus::{MAX_HEADERS, MAX_OPTIONS, MAX_PAYLOAD, MAX_SUBJECT, MAX_TIMER_SPEC};
use crate::scheme::{FSINFO_SIZE, OpenFlags, STAT_SIZE, Whence};
use crate::syscall::{
    GRANT_SIZE, MAX_ARGS, MAX_GRANTS, MAX_MESSAGE, MAX_MESSAGE_HANDLES, MAX_NAME, MAX_WRITE,
    NONBLOCK, Sysnum, checked_range,
};
use crate::url::MAX_URL_LEN;
use crate::view::{INPUT_BYTES, MAX_VIEW_NAME};
use crate::{Error, Pid};

/// A range of the run's memory, checked at decode time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    pub start: usize,
    pub len: usize,
}

impl Buf {
    /// Checks `(ptr, len)` against a memory of `mem_len` bytes and the call's `limit`.
    pub fn check(ptr: i64, len: i64, mem_len: usize, limit: usize) -> Result<Buf, Error> {
        let r = checked_range(ptr, len, mem_len, limit)?;
        Ok(Buf {
            start: r.start,
            len: r.len(),
        })
    }

    /// `count` entries of `size` bytes at `ptr`, at most `max` entries: a negative count is
    /// `InvalidArgument`, more than `max` is `TooLarge` (whatever the pointer), then the range
    /// is checked.
    pub fn array(
        ptr: i64,
        count: i64,
        size: usize,
        max: usize,
        mem_len: usize,
    ) -> Result<Buf, Error> {
        if count < 0 {
            return Err(Error::InvalidArgument);
        }
        if count > max as i64 {
            return Err(Error::TooLarge);
        }
        Buf::check(ptr, count * size as i64, mem_len, max * size)
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.start + self.len
    }

    /// The first `n` bytes (`n` at most `len`).
    pub fn prefix(self, n: usize) -> Range<usize> {
        self.start..self.start + n.min(self.len)
    }

    /// The bytes in `mem` (the memory the range was checked against, or a grown one).
    pub fn of(self, mem: &[u8]) -> &[u8] {
        mem.get(self.range()).unwrap_or_default()
    }

    /// The first `n` bytes (at most `len`) in `mem`, to write into. `BadAddress` only if
    /// `mem` is not the memory the range was checked against (a run's memory never shrinks).
    pub fn out(self, mem: &mut [u8], n: usize) -> Result<&mut [u8], Error> {
        mem.get_mut(self.prefix(n)).ok_or(Error::BadAddress)
    }

    /// The bytes as UTF-8 text.
    pub fn text(self, mem: &[u8]) -> Result<&str, Error> {
        core::str::from_utf8(self.of(mem)).map_err(|_| Error::InvalidArgument)
    }
}

/// An output of up to `cap` entries at `ptr`, checked for the entries actually written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    ptr: i64,
    pub cap: usize,
}

impl Prefix {
    fn new(ptr: i64, cap: i64) -> Result<Prefix, Error> {
        if cap < 0 {
            return Err(Error::InvalidArgument);
        }
        Ok(Prefix {
            ptr,
            cap: cap as usize,
        })
    }

    /// The range of the first `n` entries of `unit` bytes (`n` at most `cap`), checked
    /// against `mem_len`.
    pub fn take(self, n: usize, unit: usize, mem_len: usize) -> Result<Range<usize>, Error> {
        let bytes = n.min(self.cap).saturating_mul(unit);
        checked_range(self.ptr, bytes as i64, mem_len, usize::MAX)
    }
}

/// A handle argument (`u32` passed in an `i32`; checked against the run's table by the handler).
pub type HandleArg = u32;

/// `send`/`recv`/`next` flags: whether [`NONBLOCK`] is set; unknown bits are refused.
fn nonblocking(flags: i64) -> Result<bool, Error> {
    if flags & !i64::from(NONBLOCK) != 0 {
        Err(Error::InvalidArgument)
    } else {
        Ok(flags != 0)
    }
}

/// `open`'s flags, checked.
pub fn open_flags(raw: i64) -> Result<OpenFlags, Error> {
    let bits = u32::try_from(raw).map_err(|_| Error::InvalidArgument)?;
    let flags = OpenFlags::from_bits(bits).ok_or(Error::InvalidArgument)?;
    if !flags.is_valid() {
        return Err(Error::InvalidArgument);
    }
    Ok(flags)
}

/// A decoded HOST call (every import but `exit`, which ends the run inside the interpreter).
/// The fields are named as in the ABI table ([`crate::syscall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Yield,
    GetPid,
    Clock,
    Sleep {
        us: u64,
    },
    /// `handle` 1 and 2 are stdout and stderr.
    Write {
        handle: HandleArg,
        data: Buf,
    },
    Args {
        out: Prefix,
    },
    Grants {
        out: Prefix,
    },
    Spawn {
        name: Buf,
        args: Buf,
        /// [`GRANT_SIZE`]-byte entries.
        grants: Buf,
    },
    Wait {
        child: Pid,
    },
    ChannelCreate {
        out: Buf,
    },
    Send {
        handle: HandleArg,
        data: Buf,
        /// `u32` handles to move.
        handles: Buf,
        nonblock: bool,
    },
    Recv {
        handle: HandleArg,
        data: Buf,
        /// Room for received handles (`u32` each), at most [`MAX_MESSAGE_HANDLES`].
        handles: Buf,
        nonblock: bool,
    },
    Close {
        handle: HandleArg,
    },
    Open {
        url: Buf,
        flags: OpenFlags,
    },
    /// `handle` 0 is stdin.
    Read {
        handle: HandleArg,
        out: Buf,
    },
    Seek {
        handle: HandleArg,
        offset: i64,
        whence: Whence,
    },
    Stat {
        url: Buf,
        out: Buf,
    },
    ReadDir {
        handle: HandleArg,
        out: Buf,
    },
    Unlink {
        url: Buf,
    },
    Mkdir {
        url: Buf,
    },
    Rmdir {
        url: Buf,
    },
    Rename {
        from: Buf,
        to: Buf,
    },
    StatFs {
        url: Buf,
        out: Buf,
    },
    Emit {
        subject: Buf,
        payload: Buf,
        headers: Buf,
    },
    Subscribe {
        pattern: Buf,
        options: Buf,
    },
    Next {
        handle: HandleArg,
        out: Buf,
        nonblock: bool,
    },
    Ack {
        handle: HandleArg,
        seq: u64,
        failed: bool,
    },
    LastError {
        out: Buf,
    },
    Scan {
        view: Buf,
        key: Buf,
        out: Buf,
    },
    Seal {
        view: Buf,
    },
    Timer {
        spec: Buf,
    },
}

impl Call {
    /// The most bytes the call may copy between the run's memory and the kernel: the lengths
    /// of the buffers it names (what the gate charges fuel for, beside a call's flat price).
    pub fn data_len(&self) -> usize {
        match *self {
            Call::Write { data, .. } => data.len,
            Call::Send { data, handles, .. } | Call::Recv { data, handles, .. } => {
                data.len + handles.len
            }
            Call::Read { out, .. } | Call::ReadDir { out, .. } | Call::Next { out, .. } => out.len,
            Call::LastError { out } => out.len,
            Call::Spawn { name, args, grants } => name.len + args.len + grants.len,
            Call::Emit {
                subject,
                payload,
                headers,
            } => subject.len + payload.len + headers.len,
            Call::Scan { view, key, out } => view.len + key.len + out.len,
            Call::Open { url, .. }
            | Call::Unlink { url }
            | Call::Mkdir { url }
            | Call::Rmdir { url }
            | Call::Stat { url, .. }
            | Call::StatFs { url, .. } => url.len,
            Call::Rename { from, to } => from.len + to.len,
            Call::Subscribe { pattern, options } => pattern.len + options.len,
            Call::Seal { view } => view.len,
            Call::Timer { spec } => spec.len,
            Call::Yield
            | Call::GetPid
            | Call::Clock
            | Call::Sleep { .. }
            | Call::Args { .. }
            | Call::Grants { .. }
            | Call::ChannelCreate { .. }
            | Call::Close { .. }
            | Call::Seek { .. }
            | Call::Wait { .. }
            | Call::Ack { .. } => 0,
        }
    }

    /// Decodes call `number` with `a` (arguments widened to `i64`, sign-extended) for a run
    /// whose memory is `mem_len` bytes long. The error is what the run is told.
    pub fn decode(number: Sysnum, a: &[i64; 6], mem_len: usize) -> Result<Call, Error> {
        let buf = |ptr: i64, len: i64, limit: usize| Buf::check(ptr, len, mem_len, limit);
        let handle = |v: i64| v as u32;
        Ok(match number {
            Sysnum::Exit => return Err(Error::Unsupported),
            Sysnum::Yield => Call::Yield,
            Sysnum::GetPid => Call::GetPid,
            Sysnum::Clock => Call::Clock,
            Sysnum::Sleep => Call::Sleep {
                us: u64::try_from(a[0]).map_err(|_| Error::InvalidArgument)?,
            },
            Sysnum::Write => Call::Write {
                handle: handle(a[0]),
                data: buf(a[1], a[2], MAX_WRITE)?,
            },
            Sysnum::Args => Call::Args {
                out: Prefix::new(a[0], a[1])?,
            },
            Sysnum::Grants => Call::Grants {
                out: Prefix::new(a[0], a[1])?,
            },
            Sysnum::Spawn => Call::Spawn {
                name: buf(a[0], a[1], MAX_NAME)?,
                args: buf(a[2], a[3], MAX_ARGS)?,
                grants: Buf::array(a[4], a[5], GRANT_SIZE, MAX_GRANTS, mem_len)?,
            },
            Sysnum::Wait => Call::Wait {
                child: Pid::try_from(a[0]).map_err(|_| Error::NotFound)?,
            },
            Sysnum::ChannelCreate => Call::ChannelCreate {
                out: buf(a[0], 8, 8)?,
            },
            Sysnum::Send => {
                let nonblock = nonblocking(a[5])?;
                Call::Send {
                    handle: handle(a[0]),
                    data: buf(a[1], a[2], MAX_MESSAGE)?,
                    handles: Buf::array(a[3], a[4], 4, MAX_MESSAGE_HANDLES, mem_len)?,
                    nonblock,
                }
            }
            Sysnum::Recv => {
                let nonblock = nonblocking(a[5])?;
                let data = buf(a[1], a[2], usize::MAX)?;
                if a[4] < 0 {
                    return Err(Error::InvalidArgument);
                }
                let room = a[4].min(MAX_MESSAGE_HANDLES as i64);
                Call::Recv {
                    handle: handle(a[0]),
                    data,
                    handles: buf(a[3], room * 4, usize::MAX)?,
                    nonblock,
                }
            }
            Sysnum::Close => Call::Close {
                handle: handle(a[0]),
            },
            Sysnum::Open => Call::Open {
                url: buf(a[0], a[1], MAX_URL_LEN)?,
                flags: open_flags(a[2])?,
            },
            Sysnum::Read => Call::Read {
                out: buf(a[1], a[2], usize::MAX)?,
                handle: handle(a[0]),
            },
            Sysnum::Seek => Call::Seek {
                whence: Whence::from_raw(a[2]).ok_or(Error::InvalidArgument)?,
                handle: handle(a[0]),
                offset: a[1],
            },
            Sysnum::Stat => Call::Stat {
                out: buf(a[2], STAT_SIZE as i64, STAT_SIZE)?,
                url: buf(a[0], a[1], MAX_URL_LEN)?,
            },
            Sysnum::ReadDir => Call::ReadDir {
                out: buf(a[1], a[2], usize::MAX)?,
                handle: handle(a[0]),
            },
            Sysnum::Unlink => Call::Unlink {
                url: buf(a[0], a[1], MAX_URL_LEN)?,
            },
            Sysnum::Mkdir => Call::Mkdir {
                url: buf(a[0], a[1], MAX_URL_LEN)?,
            },
            Sysnum::Rmdir => Call::Rmdir {
                url: buf(a[0], a[1], MAX_URL_LEN)?,
            },
            Sysnum::Rename => Call::Rename {
                from: buf(a[0], a[1], MAX_URL_LEN)?,
                to: buf(a[2], a[3], MAX_URL_LEN)?,
            },
            Sysnum::StatFs => Call::StatFs {
                out: buf(a[2], FSINFO_SIZE as i64, FSINFO_SIZE)?,
                url: buf(a[0], a[1], MAX_URL_LEN)?,
            },
            Sysnum::Emit => Call::Emit {
                subject: buf(a[0], a[1], MAX_SUBJECT)?,
                payload: buf(a[2], a[3], MAX_PAYLOAD)?,
                headers: buf(a[4], a[5], MAX_HEADERS)?,
            },
            Sysnum::Subscribe => Call::Subscribe {
                pattern: buf(a[0], a[1], MAX_SUBJECT)?,
                options: buf(a[2], a[3], MAX_OPTIONS)?,
            },
            Sysnum::Next => Call::Next {
                nonblock: nonblocking(a[3])?,
                out: buf(a[1], a[2], usize::MAX)?,
                handle: handle(a[0]),
            },
            Sysnum::Ack => Call::Ack {
                seq: u64::try_from(a[1]).map_err(|_| Error::InvalidArgument)?,
                failed: match a[2] {
                    0 => false,
                    1 => true,
                    _ => return Err(Error::InvalidArgument),
                },
                handle: handle(a[0]),
            },
            Sysnum::LastError => Call::LastError {
                out: buf(a[0], a[1], usize::MAX)?,
            },
            Sysnum::Scan => Call::Scan {
                view: buf(a[0], a[1], MAX_VIEW_NAME)?,
                key: buf(a[2], a[3], INPUT_BYTES)?,
                out: buf(a[4], a[5], usize::MAX)?,
            },
            Sysnum::Seal => Call::Seal {
                view: buf(a[0], a[1], MAX_VIEW_NAME)?,
            },
            Sysnum::Timer => Call::Timer {
                spec: buf(a[0], a[1], MAX_TIMER_SPEC)?,
            },
        })
    }

    /// The call's number.
    pub fn sysnum(&self) -> Sysnum {
        match self {
            Call::Yield => Sysnum::Yield,
            Call::GetPid => Sysnum::GetPid,
            Call::Clock => Sysnum::Clock,
            Call::Sleep { .. } => Sysnum::Sleep,
            Call::Write { .. } => Sysnum::Write,
            Call::Args { .. } => Sysnum::Args,
            Call::Grants { .. } => Sysnum::Grants,
            Call::Spawn { .. } => Sysnum::Spawn,
            Call::Wait { .. } => Sysnum::Wait,
            Call::ChannelCreate { .. } => Sysnum::ChannelCreate,
            Call::Send { .. } => Sysnum::Send,
            Call::Recv { .. } => Sysnum::Recv,
            Call::Close { .. } => Sysnum::Close,
            Call::Open { .. } => Sysnum::Open,
            Call::Read { .. } => Sysnum::Read,
            Call::Seek { .. } => Sysnum::Seek,
            Call::Stat { .. } => Sysnum::Stat,
            Call::ReadDir { .. } => Sysnum::ReadDir,
            Call::Unlink { .. } => Sysnum::Unlink,
            Call::Mkdir { .. } => Sysnum::Mkdir,
            Call::Rmdir { .. } => Sysnum::Rmdir,
            Call::Rename { .. } => Sysnum::Rename,
            Call::StatFs { .. } => Sysnum::StatFs,
            Call::Emit { .. } => Sysnum::Emit,
            Call::Subscribe { .. } => Sysnum::Subscribe,
            Call::Next { .. } => Sysnum::Next,
            Call::Ack { .. } => Sysnum::Ack,
            Call::LastError { .. } => Sysnum::LastError,
            Call::Scan { .. } => Sysnum::Scan,
            Call::Seal { .. } => Sysnum::Seal,
            Call::Timer { .. } => Sysnum::Timer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::nr;

    fn decode(number: u32, a: [i64; 6]) -> Result<Call, Error> {
        Call::decode(Sysnum::try_from(number)?, &a, 1024)
    }

    #[test]
    fn numbers_round_trip() {
        for s in Sysnum::ALL {
            assert_eq!(Sysnum::try_from(s as u32), Ok(s));
        }
        assert_eq!(Sysnum::try_from(32), Err(Error::Unsupported));
        assert_eq!(Sysnum::try_from(u32::MAX), Err(Error::Unsupported));
    }

    #[test]
    fn every_call_but_exit_decodes_and_knows_its_number() {
        // Arguments that are valid for every call: small in-range spans, flags 0.
        for s in Sysnum::ALL {
            let call = Call::decode(s, &[1, 8, 1, 0, 0, 0], 1024);
            match s {
                Sysnum::Exit => assert_eq!(call, Err(Error::Unsupported)),
                _ => assert_eq!(call.map(|c| c.sysnum()), Ok(s), "{}", s.name()),
            }
        }
    }

    #[test]
    fn spans_are_checked_at_decode() {
        let write = |p, l| decode(nr::WRITE, [1, p, l, 0, 0, 0]);
        assert_eq!(write(-1, 4), Err(Error::InvalidArgument));
        assert_eq!(write(1020, 8), Err(Error::BadAddress));
        assert_eq!(write(0, MAX_WRITE as i64 + 1), Err(Error::TooLarge));
        assert_eq!(
            write(4, 6),
            Ok(Call::Write {
                handle: 1,
                data: Buf { start: 4, len: 6 }
            })
        );
        // Handle lists: a negative count is invalid, too many is too large, then the range.
        let send = |ptr, n| decode(nr::SEND, [3, 0, 0, ptr, n, 0]);
        assert_eq!(send(0, -1), Err(Error::InvalidArgument));
        assert_eq!(send(0, 17), Err(Error::TooLarge));
        assert_eq!(send(1020, 2), Err(Error::BadAddress));
        // Flags with unknown bits, an unknown whence, a negative sleep, a bad pid.
        assert_eq!(
            decode(nr::RECV, [3, 0, 0, 0, 0, 2]),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            decode(nr::SEEK, [3, 0, 7, 0, 0, 0]),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            decode(nr::SLEEP, [-1, 0, 0, 0, 0, 0]),
            Err(Error::InvalidArgument)
        );
        assert_eq!(decode(nr::WAIT, [-5, 0, 0, 0, 0, 0]), Err(Error::NotFound));
        // recv's room for handles is capped, not refused.
        assert!(decode(nr::RECV, [3, 0, 0, 0, 1 << 40, 0]).is_ok());
    }

    #[test]
    fn prefixes_are_checked_for_what_is_written() {
        let Ok(Call::Args { out }) = decode(nr::ARGS, [1000, 1 << 30, 0, 0, 0, 0]) else {
            panic!("args decodes with a large cap");
        };
        assert_eq!(out.take(10, 1, 1024), Ok(1000..1010));
        assert_eq!(out.take(30, 1, 1024), Err(Error::BadAddress));
        assert_eq!(out.take(3, 4, 1024), Ok(1000..1012));
        assert_eq!(
            decode(nr::ARGS, [0, -1, 0, 0, 0, 0]),
            Err(Error::InvalidArgument)
        );
    }
}
