//! `/data`: a FAT volume on the platform's block device, through hadris-fat.
//!
//! Job: mount (or, on a blank device, format) the volume and serve the [`FileSystem`] calls
//! with hadris-fat, filling in what it does not do in the shape the vfs needs:
//! - hadris writes files sequentially only (a `FileWriter` starts at 0 or at the end), so a
//!   write inside a file overwrites the bytes in place, cluster by cluster along the chain,
//!   and only the part past the end goes through an appending `FileWriter`;
//! - it keeps no free-cluster count for FAT12/16, so `statfs` counts free FAT entries (once
//!   per change, then cached);
//! - it swallows the device's error into an I/O kind, so the device error is taken back from
//!   the block cache ([`crate::dev`]).
//!
//! Open files are named by path: every call looks the path up again (through the block
//! cache), so no hadris handle outlives a request, and a write is committed — data, size and
//! chain — before the call returns.
//!
//! Invariants:
//! - Every mutating call leaves the volume consistent on the device's cache whether it
//!   succeeds or fails (hadris rolls back clusters a failed write allocated); [`FatFs::sync`]
//!   writes the cache out and flushes the device, and the service calls it before replying.
//! - A write is all-or-nothing on `NoSpace`, except that bytes overwritten inside the file
//!   before the appended part ran out of space stay written (reported as a short write).
//! - A read-only device is mounted read-only: no call writes to it.
//! - Nothing here panics on a damaged volume: every inconsistency is `Corrupt`.

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

use hadris_fat::{
    DirectoryEntry, FatDir, FatVolume, FatVolumeWriteExt, FileEntry, SeekFrom, read::FileReader,
    write::FileWriter,
};
use zb_abi::scheme::{FileKind, FsInfo, Stat};
use zb_abi::{BlockDev, Error};

use crate::clock;
use crate::dev::{BlockCache, DevCursor};
use crate::format::{self, FatKind, Geometry};
use crate::fs::{FileSystem, components, dir_stat, split_parent};
use hadris_fat::time::TimeProvider;

/// Largest FAT file.
const MAX_FILE: u64 = u32::MAX as u64;
/// Zeros for filling a gap before a write past the end.
static ZEROS: [u8; 512] = [0; 512];

/// How a mount went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// The device held a FAT volume.
    Existing,
    /// The device was blank and was formatted.
    Formatted,
}

/// A mounted FAT volume.
pub struct FatFs {
    vol: FatVolume<DevCursor>,
    /// A second cursor on the same cache, for what hadris does not do.
    io: DevCursor,
    geom: Geometry,
    read_only: bool,
    driver: &'static str,
    /// Free clusters, counted at the first `statfs` after a change.
    free: Cell<Option<u32>>,
}

/// What a path names (an entry is ~600 bytes with its long name: boxed, off the stack).
enum Found {
    Root,
    Entry(Box<FileEntry>),
}

impl FatFs {
    /// Mounts the FAT volume on `dev`, formatting the device first if it is blank (no boot
    /// signature) and writable. A device holding something else that is not a FAT volume
    /// hadris can read is `Corrupt` and is left alone; a blank read-only one is `ReadOnly`.
    pub fn mount(
        dev: Box<dyn BlockDev>,
        cache_blocks: usize,
        volume_id: u32,
    ) -> Result<(FatFs, MountKind), Error> {
        let info = dev.info();
        if info.block_size == 0 || info.blocks == 0 {
            return Err(Error::Unsupported);
        }
        let cache = Rc::new(RefCell::new(BlockCache::new(dev, cache_blocks)));
        let io = DevCursor::new(cache.clone());
        let mut boot = [0u8; 512];
        let mut kind = MountKind::Existing;
        if cache.borrow_mut().read_at(0, &mut boot)? < boot.len() {
            return Err(Error::Unsupported);
        }
        if !format::has_boot_signature(&boot) {
            if !info.writable {
                return Err(Error::ReadOnly);
            }
            // FAT sectors are the device's blocks where FAT allows that size, else 512 B.
            let bps = if [512, 1024, 2048, 4096].contains(&info.block_size) {
                info.block_size
            } else {
                512
            };
            let sectors = cache.borrow().len() / u64::from(bps);
            let plan = format::plan(sectors, bps)?;
            format::format(&mut cache.borrow_mut(), &plan, volume_id)?;
            cache.borrow_mut().read_at(0, &mut boot)?;
            kind = MountKind::Formatted;
        }
        let geom = Geometry::parse(&boot).ok_or(Error::Corrupt)?;
        let volume_bytes = u64::from(geom.total_sectors) * u64::from(geom.bytes_per_sector);
        if volume_bytes > cache.borrow().len() {
            return Err(Error::Corrupt);
        }
        let vol = FatVolume::builder(io.clone())
            .time_provider(&clock::UPTIME)
            .open()
            .map_err(|e| map_err(e, &cache))?;
        Ok((
            FatFs {
                vol,
                io,
                geom,
                read_only: !info.writable,
                driver: info.driver,
                free: Cell::new(None),
            },
            kind,
        ))
    }

    /// The volume's layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geom
    }

    fn err(&self, e: hadris_fat::Error) -> Error {
        map_err(e, self.io.cache())
    }

    /// Starts an operation: no device error from an earlier one may be blamed on it.
    fn begin(&self) {
        self.io.cache().borrow_mut().take_error();
    }

    /// Something changed: the free count must be counted again.
    fn changed(&self) {
        self.free.set(None);
    }

    fn writable(&self) -> Result<(), Error> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn find(&self, path: &str) -> Result<Found, Error> {
        let mut dir = self.vol.root_dir();
        let mut found = Found::Root;
        let mut names = components(path).peekable();
        while let Some(name) = names.next() {
            let entry = dir
                .find(name)
                .map_err(|e| self.err(e))?
                .ok_or(Error::NotFound)?;
            if names.peek().is_some() {
                if !entry.is_directory() {
                    return Err(Error::NotADirectory);
                }
                dir = dir.open_entry(&entry).map_err(|e| self.err(e))?;
            }
            found = Found::Entry(Box::new(entry));
        }
        Ok(found)
    }

    /// The directory at `path` (`NotADirectory` for a file).
    fn dir(&self, path: &str) -> Result<FatDir<'_, DevCursor>, Error> {
        let root = self.vol.root_dir();
        match self.find(path)? {
            Found::Root => Ok(root),
            Found::Entry(e) if e.is_directory() => root.open_entry(&e).map_err(|e| self.err(e)),
            Found::Entry(_) => Err(Error::NotADirectory),
        }
    }

    /// A number that tells directories apart (their first cluster; 0 for the root).
    fn dir_id(&self, path: &str) -> Result<usize, Error> {
        match self.find(path)? {
            Found::Root => Ok(0),
            Found::Entry(e) if e.is_directory() => Ok(e.cluster().0),
            Found::Entry(_) => Err(Error::NotADirectory),
        }
    }

    /// The directory holding `path` and the last name (`Busy` for the root).
    fn parent<'p>(&self, path: &'p str) -> Result<(FatDir<'_, DevCursor>, &'p str), Error> {
        let (parent, name) = split_parent(path).ok_or(Error::Busy)?;
        Ok((self.dir(parent)?, name))
    }

    fn file(&self, path: &str) -> Result<Box<FileEntry>, Error> {
        match self.find(path)? {
            Found::Entry(e) if e.is_file() => Ok(e),
            _ => Err(Error::IsADirectory),
        }
    }

    /// The cluster after `cluster` in its chain (`Corrupt` at a premature end).
    fn next_cluster(&self, cur: &mut DevCursor, cluster: u32) -> Result<u32, Error> {
        self.vol
            .fat()
            .next_cluster(cur, cluster as usize)
            .map_err(|e| self.err(e))?
            .ok_or(Error::Corrupt)
    }

    /// Overwrites `data` at `pos` inside the file (`pos + data.len()` ≤ its size), in place.
    fn overwrite(&self, entry: &FileEntry, pos: u64, data: &[u8]) -> Result<(), Error> {
        let cs = self.geom.cluster_size();
        let last = self.geom.clusters() + 1;
        let mut cur = self.io.clone();
        let mut cluster = u32::try_from(entry.cluster().0).map_err(|_| Error::Corrupt)?;
        for _ in 0..pos / cs {
            cluster = self.next_cluster(&mut cur, cluster)?;
        }
        let mut offset = pos % cs;
        let mut done = 0;
        while done < data.len() {
            if !(2..=last).contains(&cluster) {
                return Err(Error::Corrupt);
            }
            let n = (data.len() - done).min((cs - offset) as usize);
            let at = self.geom.cluster_offset(cluster) + offset;
            self.io
                .cache()
                .borrow_mut()
                .write_at(at, &data[done..done + n])?;
            done += n;
            offset = 0;
            if done < data.len() {
                cluster = self.next_cluster(&mut cur, cluster)?;
            }
        }
        Ok(())
    }

    /// Appends `gap` zero bytes and then `data` to the file, all or nothing.
    fn append(&self, entry: &FileEntry, gap: u64, data: &[u8]) -> Result<(), Error> {
        let mut w = FileWriter::new_append(&self.vol, entry).map_err(|e| self.err(e))?;
        let mut left = gap;
        while left > 0 {
            let n = left.min(ZEROS.len() as u64) as usize;
            w.write(&ZEROS[..n]).map_err(|e| self.err(e))?;
            left -= n as u64;
        }
        w.write(data).map_err(|e| self.err(e))?;
        w.finish().map_err(|e| self.err(e))
    }

    /// Free clusters, counting FAT entries that are 0.
    fn free_clusters(&self) -> Result<u32, Error> {
        if let Some(n) = self.free.get() {
            return Ok(n);
        }
        let g = &self.geom;
        let entries = g.clusters() + 2;
        // Bytes per entry as a fraction: FAT12 3/2, FAT16 2/1, FAT32 4/1.
        let (num, den) = match g.kind {
            FatKind::Fat12 => (3, 2),
            FatKind::Fat16 => (2, 1),
            FatKind::Fat32 => (4, 1),
        };
        let mut buf = [0u8; 1536];
        let per_chunk = buf.len() as u32 * den / num;
        let mut free = 0;
        let mut first = 0;
        while first < entries {
            let count = per_chunk.min(entries - first);
            let bytes = (count * num).div_ceil(den) as usize;
            let at = g.fat_start() + u64::from(first * num / den);
            if self
                .io
                .cache()
                .borrow_mut()
                .read_at(at, &mut buf[..bytes])?
                < bytes
            {
                return Err(Error::Corrupt);
            }
            for i in 0..count as usize {
                let value = match g.kind {
                    FatKind::Fat12 => {
                        let o = i * 3 / 2;
                        let pair = u16::from_le_bytes([buf[o], buf[o + 1]]);
                        if i % 2 == 0 { pair & 0xFFF } else { pair >> 4 }.into()
                    }
                    FatKind::Fat16 => u32::from(u16::from_le_bytes([buf[2 * i], buf[2 * i + 1]])),
                    FatKind::Fat32 => {
                        let b = &buf[4 * i..4 * i + 4];
                        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x0FFF_FFFF
                    }
                };
                if first + i as u32 >= 2 && value == 0 {
                    free += 1;
                }
            }
            first += count;
        }
        self.free.set(Some(free));
        Ok(free)
    }
}

/// A hadris error as the error a user sees; an I/O error is the device's own, if it said
/// one.
fn map_err(e: hadris_fat::Error, cache: &Rc<RefCell<BlockCache>>) -> Error {
    use hadris_fat::Error as E;
    let device = cache.borrow_mut().take_error();
    match e {
        E::Io(io) | E::IoContext { source: io, .. } => device.unwrap_or(match io.kind() {
            hadris_fat::ErrorKind::OutOfMemory => Error::OutOfMemory,
            hadris_fat::ErrorKind::PermissionDenied => Error::ReadOnly,
            _ => Error::Corrupt,
        }),
        E::NotAFile => Error::IsADirectory,
        E::NotADirectory => Error::NotADirectory,
        E::EntryNotFound | E::StaleEntry => Error::NotFound,
        E::InvalidPath | E::InvalidFilename | E::InvalidShortFilename => Error::InvalidArgument,
        E::InvalidAttributeChange { .. } | E::InvalidFormatOption { .. } => Error::InvalidArgument,
        E::NoFreeSpace | E::DirectoryFull | E::VolumeTooSmall { .. } => Error::NoSpace,
        E::VolumeTooLarge { .. } => Error::Unsupported,
        E::AlreadyExists => Error::AlreadyExists,
        E::DirectoryNotEmpty => Error::DirectoryNotEmpty,
        E::WriterConflict => Error::Busy,
        _ => Error::Corrupt,
    }
}

impl FileSystem for FatFs {
    fn type_name(&self) -> &'static str {
        self.geom.kind.name()
    }

    fn device(&self) -> &'static str {
        self.driver
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn stat(&mut self, path: &str) -> Result<Stat, Error> {
        self.begin();
        Ok(match self.find(path)? {
            Found::Root => dir_stat(0, self.read_only, 0),
            Found::Entry(e) => {
                let mtime = clock::to_secs(e.modified());
                if e.is_directory() {
                    dir_stat(0, self.read_only, mtime)
                } else {
                    Stat {
                        kind: FileKind::File,
                        size: e.len(),
                        read_only: self.read_only,
                        mtime,
                    }
                }
            }
        })
    }

    fn create(&mut self, path: &str, _now: u64) -> Result<(), Error> {
        self.begin();
        let (dir, name) = self.parent(path)?;
        if dir.find(name).map_err(|e| self.err(e))?.is_some() {
            return Err(Error::AlreadyExists);
        }
        self.writable()?;
        self.changed();
        self.vol
            .create_file(&dir, name)
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn truncate(&mut self, path: &str, _now: u64) -> Result<(), Error> {
        self.begin();
        let entry = self.file(path)?;
        self.writable()?;
        if entry.is_empty() {
            return Ok(());
        }
        self.changed();
        self.vol.truncate(&entry, 0).map_err(|e| self.err(e))
    }

    fn read(&mut self, path: &str, pos: u64, buf: &mut [u8]) -> Result<usize, Error> {
        self.begin();
        let entry = self.file(path)?;
        if pos >= entry.len() || buf.is_empty() {
            return Ok(0);
        }
        let mut r = FileReader::new(&self.vol, &entry).map_err(|e| self.err(e))?;
        r.seek(SeekFrom::Start(pos)).map_err(|e| self.err(e))?;
        let mut done = 0;
        while done < buf.len() {
            match r.read(&mut buf[done..]).map_err(|e| self.err(e))? {
                0 => break,
                n => done += n,
            }
        }
        Ok(done)
    }

    fn write(&mut self, path: &str, pos: u64, data: &[u8], now: u64) -> Result<usize, Error> {
        let _ = now; // hadris stamps through `clock::UPTIME`, which the service set.
        self.begin();
        let entry = self.file(path)?;
        self.writable()?;
        if data.is_empty() {
            return Ok(0);
        }
        let end = pos.checked_add(data.len() as u64).ok_or(Error::TooLarge)?;
        if end > MAX_FILE {
            return Err(Error::TooLarge);
        }
        self.changed();
        let size = entry.len();
        if pos > size {
            // Refuse a gap that cannot fit before writing any of it.
            let cs = self.geom.cluster_size();
            let needed = end.div_ceil(cs) - size.div_ceil(cs);
            if needed > u64::from(self.free_clusters()?) {
                return Err(Error::NoSpace);
            }
            self.changed();
            self.append(&entry, pos - size, data)?;
            return Ok(data.len());
        }
        let inside = data.len().min((size - pos) as usize);
        if inside > 0 {
            self.overwrite(&entry, pos, &data[..inside])?;
        }
        if inside == data.len() {
            self.vol
                .set_times(&entry, Some(clock::UPTIME.now()), None, None)
                .map_err(|e| self.err(e))?;
            return Ok(data.len());
        }
        match self.append(&entry, 0, &data[inside..]) {
            Ok(()) => Ok(data.len()),
            Err(Error::NoSpace) if inside > 0 => Ok(inside),
            Err(e) => Err(e),
        }
    }

    fn read_dir(
        &mut self,
        path: &str,
        skip: u64,
        visit: &mut dyn FnMut(FileKind, &str) -> bool,
    ) -> Result<(), Error> {
        self.begin();
        let dir = self.dir(path)?;
        let mut entries = dir.entries();
        let mut index = 0u64;
        while let Some(entry) = entries.next_entry() {
            let DirectoryEntry::Entry(entry) = entry.map_err(|e| self.err(e))?;
            let name = entry.name();
            if name == "." || name == ".." {
                continue;
            }
            index += 1;
            if index <= skip {
                continue;
            }
            let kind = if entry.is_directory() {
                FileKind::Dir
            } else {
                FileKind::File
            };
            if !visit(kind, &name) {
                break;
            }
        }
        Ok(())
    }

    fn mkdir(&mut self, path: &str, _now: u64) -> Result<(), Error> {
        self.begin();
        let (dir, name) = match self.parent(path) {
            Err(Error::Busy) => return Err(Error::AlreadyExists),
            r => r?,
        };
        if dir.find(name).map_err(|e| self.err(e))?.is_some() {
            return Err(Error::AlreadyExists);
        }
        self.writable()?;
        self.changed();
        self.vol
            .create_dir(&dir, name)
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn unlink(&mut self, path: &str) -> Result<(), Error> {
        self.begin();
        let entry = self.file(path)?;
        self.writable()?;
        self.changed();
        self.vol.delete(&entry).map_err(|e| self.err(e))
    }

    fn rmdir(&mut self, path: &str) -> Result<(), Error> {
        self.begin();
        let entry = match self.find(path)? {
            Found::Root => return Err(Error::Busy),
            Found::Entry(e) if e.is_directory() => e,
            Found::Entry(_) => return Err(Error::NotADirectory),
        };
        self.writable()?;
        self.changed();
        self.vol.delete(&entry).map_err(|e| self.err(e))
    }

    fn rename(&mut self, from: &str, to: &str, _now: u64) -> Result<(), Error> {
        self.begin();
        let src = match self.find(from)? {
            Found::Root => return Err(Error::Busy),
            Found::Entry(e) => e,
        };
        let (dir, name) = self.parent(to)?;
        let existing = dir.find(name).map_err(|e| self.err(e))?;
        if let Some(old) = &existing {
            // FAT names are case-insensitive: `a` → `A` finds the source itself.
            let same_dir = match (split_parent(from), split_parent(to)) {
                (Some((a, _)), Some((b, _))) => self.dir_id(a)? == self.dir_id(b)?,
                _ => false,
            };
            let same = same_dir && old.short_name() == src.short_name();
            if !same {
                match (src.is_directory(), old.is_directory()) {
                    (true, false) => return Err(Error::NotADirectory),
                    (false, true) => return Err(Error::IsADirectory),
                    _ => {}
                }
                self.writable()?;
                self.changed();
                // An occupied directory is refused here, before anything changed.
                self.vol.delete(old).map_err(|e| self.err(e))?;
            }
        }
        self.writable()?;
        self.changed();
        self.vol
            .rename(&src, &dir, name)
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn statfs(&mut self) -> Result<FsInfo, Error> {
        self.begin();
        let free = self.free_clusters()?;
        Ok(FsInfo {
            total: self.geom.data_bytes(),
            free: u64::from(free) * self.geom.cluster_size(),
            read_only: self.read_only,
        })
    }

    fn sync(&mut self) -> Result<(), Error> {
        if self.read_only {
            return Ok(());
        }
        self.begin();
        // FAT32's FSInfo sector; nothing for FAT12/16.
        self.vol.sync().map_err(|e| self.err(e))?;
        self.io.cache().borrow_mut().flush()
    }
}
