//! The vfs service: serves the `file` scheme from a mount table.
//!
//! Job: answer every `file://` request ([`zb_abi::scheme::Op`]) the kernel routes here. The
//! mount table is fixed at [`NativeService::start`]:
//!
//! | point   | file system | contents |
//! |---------|-------------|----------|
//! | `/`     | ramfs, read-only | the boot archive (`/bin`, `/etc`); data borrowed, not copied |
//! | `/tmp`  | ramfs, read-write | heap-backed, with a byte quota (`NoSpace` past it) |
//! | `/data` | FAT12/16 on the block device | persistent; formatted if the device is blank. Without a usable device: a second RAM tree, and the log says so |
//!
//! The table itself is the read-only file `/etc/mtab` ([`zb_abi::scheme::MTAB`]), written
//! into the root tree once everything is mounted (one line per mount in fstab's format,
//! `virtio-blk /data fat16 rw 0 0`); the shell's `df` and `mount` read it like any file.
//!
//! Invariants:
//! - Paths are checked and normalised again here ([`zb_abi::path`]) whatever the kernel did,
//!   and the mount is chosen on the normalised path by whole components (`/database` is not
//!   under `/data`); a file system only ever sees a path relative to its own root, without
//!   `.` or `..`, so no path can reach outside the mount that holds it.
//! - Mount points cannot be removed or renamed (`Busy`) and a rename never crosses mounts
//!   (`Unsupported`: the shell's `mv` copies then).
//! - Open files live in a bounded table of generation-checked handles ([`handles`]); a
//!   closed or forged handle is `BadHandle` and never reaches another client's file.
//! - The table is shared fairly: a run holds at most [`MAX_HANDLES_PER_RUN`], runs together
//!   never take the last [`SYSTEM_HANDLES`], so the shell and the services can always open
//!   files; past its share a run's `open` is `Busy`. A client is part of the system when the
//!   kernel listed it as a service when the vfs started (all services are registered before
//!   any starts, and none is added later); every other pid is a run. When a run ends, the
//!   kernel closes every handle it held (a `Close` per handle), which gives its share back.
//! - A change to `/data` is durable before its reply: after every mutating request (write,
//!   close of a written file, create/truncate by open, mkdir, unlink, rmdir, rename) the
//!   mount's [`FileSystem::sync`] writes the block cache out and flushes the device; if that
//!   fails, the request fails with the device's error.
//! - Every error a client can cause is an [`Error`] in the reply; nothing here panics on any
//!   request. Replies are always immediate ([`Answer::Now`]).
//!
//! The board's side: construct with [`VfsService::new`], handing it the platform's persistent
//! block device (if it has one) as a [`BlockDev`], then hand the service to the kernel.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod clock;
mod dev;
mod fat;
mod format;
mod fs;
mod handles;
mod ramfs;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use zb_abi::fmt::Bytes;
use zb_abi::kind::kinds;
use zb_abi::path;
use zb_abi::scheme::{
    Answer, FileKind, MAX_IO, MAX_NAME, MAX_PATH, MTAB, Op, OpenFlags, Reply, Request, Whence,
    encode_dirent,
};
use zb_abi::{BlockDev, Error, Host, NativeService, Pid, RunKind, System};

use crate::fat::{FatFs, MountKind};
use crate::fs::FileSystem;
use crate::handles::{Client, Handles, Shares};
use crate::ramfs::RamFs;

/// Most files and directories open at once, for all clients together.
pub const MAX_HANDLES: usize = 64;
/// Most open at once for one service (the shell is the console service's client).
pub const MAX_HANDLES_PER_SERVICE: usize = 32;
/// Most open at once for one run.
pub const MAX_HANDLES_PER_RUN: usize = 16;
/// Handles only the system may use: runs together hold at most `MAX_HANDLES - SYSTEM_HANDLES`.
pub const SYSTEM_HANDLES: usize = 16;

/// Sizes the service picks at `start`; `None` means "from the heap size" (see
/// [`VfsConfig::for_heap`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VfsConfig {
    /// Heap bytes `/tmp` may hold (and `/data`, when it has to live in RAM).
    pub tmp_quota: Option<usize>,
    /// Blocks of `/data` kept in the write-back cache.
    pub cache_blocks: Option<usize>,
    /// Most bytes one read returns (the reply buffer's size).
    pub max_io: Option<usize>,
}

/// The sizes in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    tmp_quota: usize,
    cache_blocks: usize,
    max_io: usize,
}

impl VfsConfig {
    /// What a heap of `heap` bytes affords: `/tmp` an eighth of it (4 KiB to 16 MiB); a
    /// 64-block cache and 64 KiB reads from 4 MiB of heap up, else 4 blocks and 2 KiB reads
    /// (a microcontroller's ~110 KiB heap).
    fn for_heap(self, heap: usize) -> Limits {
        let big = heap >= 4 << 20;
        Limits {
            tmp_quota: self
                .tmp_quota
                .unwrap_or((heap / 8).clamp(4 << 10, 16 << 20)),
            cache_blocks: self.cache_blocks.unwrap_or(if big { 64 } else { 4 }),
            max_io: self
                .max_io
                .unwrap_or(if big { MAX_IO } else { 2048 })
                .clamp(1, MAX_IO),
        }
    }
}

struct Mount {
    /// Normalised, e.g. `/`, `/tmp`.
    point: &'static str,
    fs: Box<dyn FileSystem>,
}

/// An open file or directory.
struct Open {
    mount: usize,
    /// Relative to the mount's root.
    path: String,
    kind: FileKind,
    flags: OpenFlags,
    /// Byte offset (files) or entries already listed (directories).
    pos: u64,
    /// Something was written through it (its close syncs).
    written: bool,
}

/// What a request produced, before it becomes a [`Reply`] (which may borrow the buffer).
enum Out {
    Done(u64),
    /// The first n bytes of the reply buffer.
    Data(usize),
    Stat(zb_abi::scheme::Stat),
    Info(zb_abi::scheme::FsInfo),
}

/// The vfs service.
pub struct VfsService {
    config: VfsConfig,
    limits: Limits,
    mounts: Vec<Mount>,
    handles: Handles<Open>,
    buf: Vec<u8>,
    /// Seconds since boot at the current request.
    now: u64,
    /// The device for `/data`, until `start` mounts it.
    device: Option<Box<dyn BlockDev>>,
    /// The services' pids (the system's clients), as the kernel listed them at `start`.
    system: Vec<Pid>,
}

impl VfsService {
    /// The service for `device` (`/data`; `None`: the machine has none), with sizes chosen
    /// from the heap at `start`.
    pub fn new(device: Option<Box<dyn BlockDev>>) -> VfsService {
        VfsService::with_config(VfsConfig::default(), device)
    }

    pub fn with_config(config: VfsConfig, device: Option<Box<dyn BlockDev>>) -> VfsService {
        VfsService {
            config,
            limits: config.for_heap(0),
            mounts: Vec::new(),
            handles: Handles::new(Shares {
                total: MAX_HANDLES,
                per_system: MAX_HANDLES_PER_SERVICE,
                per_run: MAX_HANDLES_PER_RUN,
                reserve: SYSTEM_HANDLES,
            }),
            buf: Vec::new(),
            now: 0,
            device,
            system: Vec::new(),
        }
    }

    /// Whether `pid` is one of the system's clients or a run.
    fn client(&self, pid: Pid) -> Client {
        if self.system.contains(&pid) {
            Client::System(pid)
        } else {
            Client::Run(pid)
        }
    }

    /// Number of open files and directories (for tests and `ps`-like tools).
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    /// Mounts `/`, `/tmp` and `/data`, and writes the table to `/etc/mtab`.
    fn mount_all(&mut self, host: &mut dyn System) {
        let limits = self.limits;
        let mut root = match RamFs::from_boot_archive(host.boot_archive(), &["/tmp", "/data"]) {
            Ok((fs, 0)) => fs,
            Ok((fs, skipped)) => {
                host.log(&format!("vfs: boot archive: {skipped} entries left out"));
                fs
            }
            Err(e) => {
                host.log(&format!("vfs: boot archive unreadable ({e}); / is empty"));
                RamFs::bare(&["/tmp", "/data"])
            }
        };
        let tmp = RamFs::writable(limits.tmp_quota);
        let data = self.mount_data(host);
        let mut table = String::new();
        for (point, fs) in [
            ("/", &root as &dyn FileSystem),
            ("/tmp", &tmp),
            ("/data", &*data),
        ] {
            let mode = if fs.read_only() { "ro" } else { "rw" };
            let (device, kind) = (fs.device(), fs.type_name());
            // Writing to a String cannot fail.
            let _ = writeln!(table, "{device} {point} {kind} {mode} 0 0");
        }
        if let Err(e) = root.seed_owned(MTAB, table.into_bytes()) {
            host.log(&format!("vfs: no {MTAB} ({e})"));
        }
        self.mounts.push(Mount {
            point: "/",
            fs: Box::new(root),
        });
        self.mounts.push(Mount {
            point: "/tmp",
            fs: Box::new(tmp),
        });
        self.mounts.push(Mount {
            point: "/data",
            fs: data,
        });
    }

    /// The file system for `/data`: FAT on the device, or RAM without a usable one.
    fn mount_data(&mut self, host: &mut dyn System) -> Box<dyn FileSystem> {
        let limits = self.limits;
        let Some(dev) = self.device.take() else {
            host.log("vfs: no block device; /data is in RAM, not persistent");
            return Box::new(RamFs::writable(limits.tmp_quota));
        };
        let info = dev.info();
        let size = Bytes(info.blocks.saturating_mul(u64::from(info.block_size)));
        let volume_id = host.clock_us() as u32 ^ 0x5A42_0000;
        match FatFs::mount(dev, limits.cache_blocks, volume_id) {
            Ok((fs, kind)) => {
                let ty = fs.geometry().kind.name();
                if kind == MountKind::Formatted {
                    host.log(&format!(
                        "vfs: formatted /data ({ty}, {size} on {})",
                        info.driver
                    ));
                }
                let mode = if info.writable { "rw" } else { "ro" };
                host.log(&format!(
                    "vfs: mounted /data ({ty} {mode}, {size} on {})",
                    info.driver
                ));
                Box::new(fs)
            }
            Err(e) => {
                host.log(&format!(
                    "vfs: cannot mount {} ({e}); /data is in RAM, not persistent",
                    info.driver
                ));
                Box::new(RamFs::writable(limits.tmp_quota))
            }
        }
    }

    /// Checks and normalises a request path.
    fn normalise(path: &str) -> Result<String, Error> {
        if path.len() > MAX_PATH {
            return Err(Error::TooLarge);
        }
        if !path.starts_with('/') || path.contains('\0') {
            return Err(Error::InvalidArgument);
        }
        // The kernel hands on the paths of `file://` URLs normalised: then there is nothing
        // to copy (a native client's path may still need it).
        let mut buf = Vec::new();
        let norm = if path::is_normal(path) {
            path
        } else {
            buf.try_reserve_exact(path.len())
                .map_err(|_| Error::OutOfMemory)?;
            buf.resize(path.len(), 0);
            path::normalize(path, &mut buf)?
        };
        if path::components(norm).any(|c| c.len() > MAX_NAME) {
            return Err(Error::TooLarge);
        }
        let mut out = String::new();
        out.try_reserve_exact(norm.len())
            .map_err(|_| Error::OutOfMemory)?;
        out.push_str(norm);
        Ok(out)
    }

    /// The mount holding the normalised path `norm` and the path relative to it.
    fn resolve<'p>(&self, norm: &'p str) -> Result<(usize, &'p str), Error> {
        let (index, point) = self
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| path::starts_with_prefix(norm, m.point))
            .max_by_key(|(_, m)| path::components(m.point).count())
            .map(|(i, m)| (i, m.point))
            .ok_or(Error::NotFound)?;
        let rel = if point == "/" {
            norm
        } else {
            match norm.get(point.len()..) {
                Some("") | None => "/",
                Some(rest) => rest,
            }
        };
        Ok((index, rel))
    }

    fn is_mount_point(&self, norm: &str) -> bool {
        self.mounts.iter().any(|m| m.point == norm)
    }

    /// Makes the changes on mount `m` durable; `result` stands unless that fails.
    fn synced<T>(&mut self, m: usize, result: Result<T, Error>) -> Result<T, Error> {
        let synced = match self.mounts.get_mut(m) {
            Some(mount) => mount.fs.sync(),
            None => Ok(()),
        };
        let value = result?;
        synced?;
        Ok(value)
    }

    fn fs(&mut self, m: usize) -> Result<&mut dyn FileSystem, Error> {
        Ok(&mut *self.mounts.get_mut(m).ok_or(Error::NotFound)?.fs)
    }

    /// The reply buffer, `len` bytes long.
    fn buffer(&mut self, len: usize) -> Result<&mut [u8], Error> {
        if self.buf.len() < len {
            self.buf
                .try_reserve_exact(len - self.buf.len())
                .map_err(|_| Error::OutOfMemory)?;
            self.buf.resize(len, 0);
        }
        Ok(&mut self.buf[..len])
    }

    fn open(&mut self, from: Pid, path: &str, flags: OpenFlags) -> Result<Out, Error> {
        if !flags.is_valid() {
            return Err(Error::InvalidArgument);
        }
        let norm = Self::normalise(path)?;
        let (m, rel) = self.resolve(&norm)?;
        let client = self.client(from);
        self.handles.room_for(client)?;
        let now = self.now;
        let fs = self.fs(m)?;
        let mut changed = false;
        let kind = match fs.stat(rel) {
            Ok(st) => {
                if flags.contains(OpenFlags::CREATE | OpenFlags::EXCLUSIVE) {
                    return Err(Error::AlreadyExists);
                }
                match st.kind {
                    FileKind::Dir if !flags.contains(OpenFlags::DIRECTORY) => {
                        return Err(Error::IsADirectory);
                    }
                    FileKind::Dir => FileKind::Dir,
                    _ if flags.contains(OpenFlags::DIRECTORY) => {
                        return Err(Error::NotADirectory);
                    }
                    kind => {
                        if flags.contains(OpenFlags::WRITE) && fs.read_only() {
                            return Err(Error::ReadOnly);
                        }
                        if flags.contains(OpenFlags::TRUNCATE) && st.size > 0 {
                            changed = true;
                            let r = fs.truncate(rel, now);
                            self.synced(m, r)?;
                        }
                        kind
                    }
                }
            }
            Err(Error::NotFound) if flags.contains(OpenFlags::CREATE) => {
                changed = true;
                let r = fs.create(rel, now);
                self.synced(m, r)?;
                FileKind::File
            }
            Err(e) => return Err(e),
        };
        let mut owned = String::new();
        owned
            .try_reserve_exact(rel.len())
            .map_err(|_| Error::OutOfMemory)?;
        owned.push_str(rel);
        let handle = self.handles.insert(
            client,
            Open {
                mount: m,
                path: owned,
                kind,
                flags,
                pos: 0,
                written: changed,
            },
        )?;
        Ok(Out::Done(u64::from(handle)))
    }

    fn read(&mut self, handle: u32, len: u32) -> Result<Out, Error> {
        let max_io = self.limits.max_io;
        let open = self.handles.get(handle).ok_or(Error::BadHandle)?;
        let len = (len as usize).min(max_io);
        let (m, pos, kind) = (open.mount, open.pos, open.kind);
        if kind != FileKind::Dir && !open.flags.contains(OpenFlags::READ) {
            return Err(Error::PermissionDenied);
        }
        // Split borrows: the handle table, the mounts and the buffer are separate fields.
        if self.buf.len() < len {
            self.buffer(len)?;
        }
        let Self {
            mounts,
            handles,
            buf,
            ..
        } = self;
        let open = handles.get(handle).ok_or(Error::BadHandle)?;
        let fs = &mut mounts.get_mut(m).ok_or(Error::BadHandle)?.fs;
        let out = &mut buf[..len];
        if kind == FileKind::Dir {
            let mut at = 0;
            let mut listed = 0u64;
            let mut too_small = false;
            fs.read_dir(&open.path, pos, &mut |kind, name| {
                if name.is_empty() || name.len() > MAX_NAME {
                    // Cannot be listed (a FAT long name over 255 bytes of UTF-8): skipped.
                    listed += 1;
                    return true;
                }
                match encode_dirent(out, at, kind, name) {
                    Some(next) => {
                        at = next;
                        listed += 1;
                        true
                    }
                    None => {
                        too_small = at == 0;
                        false
                    }
                }
            })?;
            if too_small {
                // Not even the next entry fits: an empty reply would read as the end.
                return Err(Error::InvalidArgument);
            }
            open.pos += listed;
            Ok(Out::Data(at))
        } else {
            let n = fs.read(&open.path, pos, out)?;
            open.pos = pos + n as u64;
            Ok(Out::Data(n))
        }
    }

    fn write(&mut self, handle: u32, data: &[u8]) -> Result<Out, Error> {
        let now = self.now;
        let Self {
            mounts, handles, ..
        } = self;
        let open = handles.get(handle).ok_or(Error::BadHandle)?;
        if open.kind == FileKind::Dir {
            return Err(Error::IsADirectory);
        }
        if !open.flags.contains(OpenFlags::WRITE) {
            return Err(Error::PermissionDenied);
        }
        let m = open.mount;
        let fs = &mut mounts.get_mut(m).ok_or(Error::BadHandle)?.fs;
        let pos = if open.flags.contains(OpenFlags::APPEND) {
            fs.stat(&open.path)?.size
        } else {
            open.pos
        };
        open.written = true;
        let result = fs.write(&open.path, pos, data, now);
        if let Ok(n) = result {
            open.pos = pos + n as u64;
        }
        let n = self.synced(m, result)?;
        Ok(Out::Done(n as u64))
    }

    fn seek(&mut self, handle: u32, offset: i64, whence: Whence) -> Result<Out, Error> {
        let Self {
            mounts, handles, ..
        } = self;
        let open = handles.get(handle).ok_or(Error::BadHandle)?;
        let base = match whence {
            Whence::Start => 0,
            Whence::Current => open.pos,
            Whence::End if open.kind == FileKind::Dir => return Err(Error::InvalidArgument),
            Whence::End => {
                let fs = &mut mounts.get_mut(open.mount).ok_or(Error::BadHandle)?.fs;
                fs.stat(&open.path)?.size
            }
        };
        let target = i128::from(base) + i128::from(offset);
        if !(0..=i128::from(i64::MAX)).contains(&target) {
            return Err(Error::InvalidArgument);
        }
        open.pos = target as u64;
        Ok(Out::Done(open.pos))
    }

    fn close(&mut self, handle: u32) -> Result<Out, Error> {
        let open = self.handles.remove(handle).ok_or(Error::BadHandle)?;
        if open.written {
            self.synced(open.mount, Ok(()))?;
        }
        Ok(Out::Done(0))
    }

    fn stat_handle(&mut self, handle: u32) -> Result<Out, Error> {
        let Self {
            mounts, handles, ..
        } = self;
        let open = handles.get(handle).ok_or(Error::BadHandle)?;
        let fs = &mut mounts.get_mut(open.mount).ok_or(Error::BadHandle)?.fs;
        Ok(Out::Stat(fs.stat(&open.path)?))
    }

    /// Runs a path operation on the mount holding `path`, syncing after a change.
    fn path_op(
        &mut self,
        path: &str,
        mutates: bool,
        op: impl FnOnce(&mut dyn FileSystem, &str, u64) -> Result<Out, Error>,
    ) -> Result<Out, Error> {
        let norm = Self::normalise(path)?;
        let (m, rel) = self.resolve(&norm)?;
        let now = self.now;
        let result = op(self.fs(m)?, rel, now);
        if mutates {
            self.synced(m, result)
        } else {
            result
        }
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<Out, Error> {
        let from = Self::normalise(from)?;
        let to = Self::normalise(to)?;
        let (m, src) = self.resolve(&from)?;
        let (m2, dst) = self.resolve(&to)?;
        // What the user named must exist before anything else is said about it.
        self.fs(m)?.stat(src)?;
        if self.is_mount_point(&from) || self.is_mount_point(&to) {
            return Err(Error::Busy);
        }
        if m != m2 {
            return Err(Error::Unsupported);
        }
        if from == to {
            return Ok(Out::Done(0));
        }
        if path::starts_with_prefix(&to, &from) {
            return Err(Error::InvalidArgument);
        }
        let now = self.now;
        let result = self.fs(m)?.rename(src, dst, now);
        self.synced(m, result)?;
        Ok(Out::Done(0))
    }

    fn serve(&mut self, from: Pid, op: Op<'_>) -> Result<Out, Error> {
        match op {
            Op::Open { path, flags, .. } => self.open(from, path, flags),
            Op::Read { handle, len } => self.read(handle, len),
            Op::Write { handle, data } => self.write(handle, data),
            Op::Seek {
                handle,
                offset,
                whence,
            } => self.seek(handle, offset, whence),
            Op::Close { handle } => self.close(handle),
            Op::Stat { path } => self.path_op(path, false, |fs, p, _| fs.stat(p).map(Out::Stat)),
            Op::StatHandle { handle } => self.stat_handle(handle),
            Op::Unlink { path } => {
                if Self::normalise(path).is_ok_and(|n| self.is_mount_point(&n)) {
                    return Err(Error::IsADirectory);
                }
                self.path_op(path, true, |fs, p, _| fs.unlink(p).map(|()| Out::Done(0)))
            }
            Op::Mkdir { path } => {
                if Self::normalise(path).is_ok_and(|n| self.is_mount_point(&n)) {
                    return Err(Error::AlreadyExists);
                }
                self.path_op(path, true, |fs, p, now| {
                    fs.mkdir(p, now).map(|()| Out::Done(0))
                })
            }
            Op::Rmdir { path } => {
                if Self::normalise(path).is_ok_and(|n| self.is_mount_point(&n)) {
                    return Err(Error::Busy);
                }
                self.path_op(path, true, |fs, p, _| fs.rmdir(p).map(|()| Out::Done(0)))
            }
            Op::Rename { from, to } => self.rename(from, to),
            Op::StatFs { path } => self.path_op(path, false, |fs, _, _| fs.statfs().map(Out::Info)),
        }
    }
}

impl NativeService for VfsService {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn start(&mut self, host: &mut dyn Host) {
        host.register_kind(kinds::VFS, "vfs");
        if let Err(e) = host.register_scheme("file", kinds::SCHEME_FILE) {
            host.log(&format!("vfs: cannot serve file:// ({e})"));
        }
        self.limits = self.config.for_heap(host.meminfo().heap.total);
        let mut system = Vec::new();
        host.runs(&mut |r| {
            if r.kind == RunKind::Service {
                system.push(r.pid);
            }
        });
        self.system = system;
        self.now = host.clock_us() / 1_000_000;
        clock::set_now(self.now);
        if self.mounts.is_empty() {
            self.mount_all(host);
        }
    }

    fn console_input(&mut self, bytes: &[u8], host: &mut dyn Host) {
        let _ = (bytes, host);
    }

    fn request<'s>(&'s mut self, req: Request<'_>, host: &mut dyn Host) -> Answer<'s> {
        self.now = host.clock_us() / 1_000_000;
        clock::set_now(self.now);
        let reply = match self.serve(req.from, req.op) {
            Ok(Out::Done(v)) => Reply::Done(v),
            Ok(Out::Data(n)) => Reply::Data(self.buf.get(..n).unwrap_or_default()),
            Ok(Out::Stat(s)) => Reply::Stat(s),
            Ok(Out::Info(i)) => Reply::Info(i),
            Err(e) => Reply::Err(e),
        };
        Answer::Now(reply)
    }
}
