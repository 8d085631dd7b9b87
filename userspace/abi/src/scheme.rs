//! Scheme requests: what `open(url)` and the calls on the handle it returns become.
//!
//! The kernel routes every URL by scheme (DESIGN.md §4): `proc` and `mem` to handlers inside
//! the kernel, `file` and `console` to the service that registered them. A call from a run (or
//! a native client) becomes a [`Request`] for the scheme's handler; the handler answers with a
//! [`Reply`] — at once, or later for a request that must wait (a read of `console://stdin`
//! waits for a typed line). The handler names what the client opened with its own `u32`
//! *remote handle*; the kernel keeps that behind the client's capability, so a client can
//! never name another client's open file.
//!
//! Paths in requests are what follows `scheme://` with the authority: for `file` an absolute,
//! normalised path (`/data/note.txt`; never `..`); for `proc` `self/status` already resolved to
//! `3/status`.
//!
//! Wire formats (for runs) are fixed here too: [`Stat`] ([`STAT_SIZE`] bytes), directory
//! entries ([`encode_dirent`]) and [`FsInfo`] ([`FSINFO_SIZE`] bytes).

use crate::{Error, Pid};

bitflags::bitflags! {
    /// How `open` opens. The bit values are ABI.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// Read from it.
        const READ = 1 << 0;
        /// Write to it.
        const WRITE = 1 << 1;
        /// Create the file if it does not exist (needs WRITE).
        const CREATE = 1 << 2;
        /// Cut the file to length 0 on open (needs WRITE).
        const TRUNCATE = 1 << 3;
        /// Every write goes to the end of the file (needs WRITE).
        const APPEND = 1 << 4;
        /// With CREATE: fail with `AlreadyExists` if the file exists.
        const EXCLUSIVE = 1 << 5;
        /// Open a directory, to list it with `readdir`.
        const DIRECTORY = 1 << 6;
        /// Reads and writes that would wait fail with `WouldBlock` instead (sockets).
        const NONBLOCK = 1 << 7;
    }
}

impl OpenFlags {
    /// Whether the combination makes sense (write-only modifiers need WRITE; a directory is
    /// opened for reading only).
    pub fn is_valid(self) -> bool {
        let needs_write = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::APPEND;
        if self.intersects(needs_write) && !self.contains(OpenFlags::WRITE) {
            return false;
        }
        if self.contains(OpenFlags::EXCLUSIVE) && !self.contains(OpenFlags::CREATE) {
            return false;
        }
        if self.contains(OpenFlags::DIRECTORY) && self.intersects(OpenFlags::WRITE | needs_write) {
            return false;
        }
        self.intersects(OpenFlags::READ | OpenFlags::WRITE | OpenFlags::DIRECTORY)
    }
}

/// Where `seek` counts from. Values are ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    Start = 0,
    Current = 1,
    End = 2,
}

impl Whence {
    pub fn from_raw(v: i64) -> Option<Whence> {
        match v {
            0 => Some(Whence::Start),
            1 => Some(Whence::Current),
            2 => Some(Whence::End),
            _ => None,
        }
    }
}

/// What a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File = 1,
    Dir = 2,
    /// Something that is neither (a console stream, a proc file).
    Special = 3,
}

impl FileKind {
    pub fn from_raw(v: u32) -> Option<FileKind> {
        match v {
            1 => Some(FileKind::File),
            2 => Some(FileKind::Dir),
            3 => Some(FileKind::Special),
            _ => None,
        }
    }

    /// One letter, as `ls -l` shows it.
    pub fn letter(self) -> char {
        match self {
            FileKind::File => '-',
            FileKind::Dir => 'd',
            FileKind::Special => 'c',
        }
    }
}

/// What `stat` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    /// Bytes (files); entries (directories, where known, else 0).
    pub size: u64,
    /// The file system refuses writes to it.
    pub read_only: bool,
    /// Modification time, seconds since boot of the system that wrote it, 0 if unknown.
    pub mtime: u64,
}

/// Bytes of [`Stat`] on the wire: `kind u32, flags u32 (bit 0 read-only), size u64, mtime u64`.
pub const STAT_SIZE: usize = 24;

impl Stat {
    pub fn to_bytes(&self) -> [u8; STAT_SIZE] {
        let mut b = [0; STAT_SIZE];
        b[0..4].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b[4..8].copy_from_slice(&u32::from(self.read_only).to_le_bytes());
        b[8..16].copy_from_slice(&self.size.to_le_bytes());
        b[16..24].copy_from_slice(&self.mtime.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; STAT_SIZE]) -> Option<Stat> {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let long = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        Some(Stat {
            kind: FileKind::from_raw(word(0))?,
            read_only: word(4) & 1 != 0,
            size: long(8),
            mtime: long(16),
        })
    }
}

/// What `statfs` reports about the file system holding a path (for `df` and `mount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Total and free bytes.
    pub total: u64,
    pub free: u64,
    pub read_only: bool,
}

/// Bytes of [`FsInfo`] on the wire: `total u64, free u64, flags u32 (bit 0 read-only), 0 u32`.
pub const FSINFO_SIZE: usize = 24;

impl FsInfo {
    pub fn to_bytes(&self) -> [u8; FSINFO_SIZE] {
        let mut b = [0; FSINFO_SIZE];
        b[0..8].copy_from_slice(&self.total.to_le_bytes());
        b[8..16].copy_from_slice(&self.free.to_le_bytes());
        b[16..20].copy_from_slice(&u32::from(self.read_only).to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; FSINFO_SIZE]) -> FsInfo {
        let long = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        FsInfo {
            total: long(0),
            free: long(8),
            read_only: b[16] & 1 != 0,
        }
    }
}

/// Longest name of one directory entry, in bytes.
pub const MAX_NAME: usize = 255;
/// Longest URL or path in one request.
pub const MAX_PATH: usize = 1024;
/// Most bytes one `read`/`write`/`readdir` moves.
pub const MAX_IO: usize = 64 * 1024;

/// The mount table, a read-only file of the `file` scheme that the vfs service writes when it
/// has mounted its file systems (the table does not change after): one line per mount in
/// fstab's format, `<device> <point> <type> <ro|rw> 0 0` (device `-` for one that has none),
/// e.g. `virtio-blk /data fat16 rw 0 0`. `df` and `mount` read it.
pub const MTAB: &str = "/etc/mtab";

/// Appends one directory entry to `out` (`kind u8, name_len u8, name`): false (and nothing
/// appended) if it does not fit in `room` more bytes or the name is empty or too long.
pub fn encode_dirent(out: &mut [u8], at: usize, kind: FileKind, name: &str) -> Option<usize> {
    let n = name.len();
    if n == 0 || n > MAX_NAME || at + 2 + n > out.len() {
        return None;
    }
    out[at] = kind as u8;
    out[at + 1] = n as u8;
    out[at + 2..at + 2 + n].copy_from_slice(name.as_bytes());
    Some(at + 2 + n)
}

/// Iterates over directory entries packed by [`encode_dirent`]; stops at the first malformed
/// one.
pub fn dirents(buf: &[u8]) -> impl Iterator<Item = (FileKind, &str)> {
    let mut at = 0;
    core::iter::from_fn(move || {
        let kind = FileKind::from_raw(u32::from(*buf.get(at)?))?;
        let n = usize::from(*buf.get(at + 1)?);
        let name = core::str::from_utf8(buf.get(at + 2..at + 2 + n)?).ok()?;
        at += 2 + n;
        Some((kind, name))
    })
}

/// A request's id, unique among the requests in flight (the kernel assigns it).
pub type RequestId = u32;

/// A handle as the scheme's handler knows it (the "remote" handle).
pub type RemoteHandle = u32;

/// Pseudo-handles every run has without opening anything: `read(STDIN, …)` reads
/// `console://stdin`; `write(STDOUT|STDERR, …)` writes the run's output streams.
pub const STDIN: u32 = 0;
pub const STDOUT: u32 = 1;
pub const STDERR: u32 = 2;

/// One operation on a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Open `path` of `scheme` (the scheme a URL named: a handler may serve several); the
    /// reply is `Done(remote handle)`.
    Open {
        scheme: &'a str,
        path: &'a str,
        flags: OpenFlags,
    },
    /// Read up to `len` bytes at the handle's position; the reply is `Data` (empty at the
    /// end). For a directory handle: entries as [`encode_dirent`] packs them, whole entries
    /// only, continuing where the last call stopped.
    Read { handle: RemoteHandle, len: u32 },
    /// Write `data` at the handle's position (or the end, for APPEND); `Done(bytes written)`.
    Write {
        handle: RemoteHandle,
        data: &'a [u8],
    },
    /// Moves the handle's position; `Done(new position)`.
    Seek {
        handle: RemoteHandle,
        offset: i64,
        whence: Whence,
    },
    /// Lets go of a handle. Fire-and-forget: its reply is ignored.
    Close { handle: RemoteHandle },
    /// `Stat` of a path.
    Stat { path: &'a str },
    /// `Stat` of an open handle.
    StatHandle { handle: RemoteHandle },
    /// Remove a file; `Done(0)`.
    Unlink { path: &'a str },
    /// Create a directory; `Done(0)`.
    Mkdir { path: &'a str },
    /// Remove an empty directory; `Done(0)`.
    Rmdir { path: &'a str },
    /// Rename within the scheme; `Done(0)`.
    Rename { from: &'a str, to: &'a str },
    /// `Info` of the file system holding `path`.
    StatFs { path: &'a str },
}

impl Op<'_> {
    /// The operation's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Open { .. } => "open",
            Op::Read { .. } => "read",
            Op::Write { .. } => "write",
            Op::Seek { .. } => "seek",
            Op::Close { .. } => "close",
            Op::Stat { .. } | Op::StatHandle { .. } => "stat",
            Op::Unlink { .. } => "unlink",
            Op::Mkdir { .. } => "mkdir",
            Op::Rmdir { .. } => "rmdir",
            Op::Rename { .. } => "rename",
            Op::StatFs { .. } => "statfs",
        }
    }
}

/// A request as its handler receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub id: RequestId,
    /// The run or service that made it.
    pub from: Pid,
    pub op: Op<'a>,
}

/// A handler's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Success with a number (a handle, a count, a position; 0 if nothing to say).
    Done(u64),
    /// Success with bytes.
    Data(&'a [u8]),
    Stat(Stat),
    Info(FsInfo),
    Err(Error),
}

impl From<Result<u64, Error>> for Reply<'_> {
    fn from(r: Result<u64, Error>) -> Self {
        match r {
            Ok(v) => Reply::Done(v),
            Err(e) => Reply::Err(e),
        }
    }
}

/// What a handler does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// The reply, now.
    Now(Reply<'a>),
    /// The handler keeps the request and answers later with `Schemes::reply`.
    Later,
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    #[test]
    fn stat_round_trips() {
        let s = Stat {
            kind: FileKind::Dir,
            size: 1 << 40,
            read_only: true,
            mtime: 77,
        };
        assert_eq!(Stat::from_bytes(&s.to_bytes()), Some(s));
        let mut bad = s.to_bytes();
        bad[0] = 9;
        assert_eq!(Stat::from_bytes(&bad), None);
        let i = FsInfo {
            total: 100,
            free: 3,
            read_only: false,
        };
        assert_eq!(FsInfo::from_bytes(&i.to_bytes()), i);
    }

    #[test]
    fn dirents_pack_and_stop_at_garbage() {
        let mut buf = [0u8; 16];
        let at = encode_dirent(&mut buf, 0, FileKind::File, "motd").unwrap();
        let at = encode_dirent(&mut buf, at, FileKind::Dir, "bin").unwrap();
        assert_eq!(at, 6 + 5);
        assert_eq!(encode_dirent(&mut buf, at, FileKind::File, "toolong"), None);
        assert_eq!(encode_dirent(&mut buf, at, FileKind::File, ""), None);
        let got: std::vec::Vec<_> = dirents(&buf[..at]).collect();
        assert_eq!(got, [(FileKind::File, "motd"), (FileKind::Dir, "bin")]);
        // A truncated entry and an unknown kind end the listing.
        assert_eq!(dirents(&buf[..at - 1]).count(), 1);
        assert_eq!(dirents(&[9, 1, b'x']).count(), 0);
    }

    #[test]
    fn open_flags_validity() {
        use OpenFlags as F;
        assert!(F::READ.is_valid());
        assert!((F::WRITE | F::CREATE | F::TRUNCATE).is_valid());
        assert!(F::DIRECTORY.is_valid());
        assert!(!F::empty().is_valid());
        assert!(!(F::READ | F::CREATE).is_valid());
        assert!(!(F::WRITE | F::EXCLUSIVE).is_valid());
        assert!(!(F::DIRECTORY | F::WRITE).is_valid());
    }
}
