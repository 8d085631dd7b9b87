//! The block device as a byte stream, through a small write-back block cache.
//!
//! Job: adapt a [`BlockDev`] (whole blocks, `&self`) to the byte-addressed `Read + Write +
//! Seek` that hadris-fat drives (it reads and writes single FAT entries and directory entries
//! of a few bytes), without a device round trip per entry.
//!
//! Invariants:
//! - The cache holds at most `capacity` blocks; a dirty block leaves it only by being written
//!   to the device (on eviction or [`BlockCache::flush`]), so no write is ever lost silently.
//! - Nothing is durable until [`BlockCache::flush`] returned `Ok`: it writes every dirty block
//!   (in block order) and then calls [`BlockDev::flush`]. The vfs service calls it before
//!   replying to any request that changed `/data`.
//! - Device errors come back to hadris as an I/O error and are remembered here
//!   ([`BlockCache::take_error`]) so the service can report the device's own [`Error`]
//!   (`Corrupt`, `NoSpace`, `ReadOnly`) instead of a generic one.
//! - Bytes past the end of the device read as end-of-file and refuse to be written
//!   (`Corrupt`: only a damaged volume points there).

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use zb_abi::{BlockDev, Error};

struct Slot {
    lba: u64,
    data: Vec<u8>,
    dirty: bool,
    /// Last use, for LRU eviction.
    stamp: u64,
}

/// A write-back cache of whole device blocks.
pub struct BlockCache {
    dev: Box<dyn BlockDev>,
    block_size: usize,
    blocks: u64,
    capacity: usize,
    slots: Vec<Slot>,
    clock: u64,
    error: Option<Error>,
}

impl BlockCache {
    /// A cache of up to `capacity` (at least 1) blocks of `dev`.
    pub fn new(dev: Box<dyn BlockDev>, capacity: usize) -> BlockCache {
        let info = dev.info();
        BlockCache {
            dev,
            // A zero block size (a broken driver) must not divide by zero below.
            block_size: (info.block_size as usize).max(1),
            blocks: info.blocks,
            capacity: capacity.max(1),
            slots: Vec::new(),
            clock: 0,
            error: None,
        }
    }

    /// Bytes on the device.
    pub fn len(&self) -> u64 {
        self.blocks.saturating_mul(self.block_size as u64)
    }

    /// The device error behind the last failed operation, if it was one.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    fn fail(&mut self, e: Error) -> Error {
        self.error = Some(e);
        e
    }

    /// The slot holding block `lba`, loading it (unless `whole`: the caller overwrites all of
    /// it) and evicting the least recently used block if the cache is full.
    fn slot(&mut self, lba: u64, whole: bool) -> Result<&mut Slot, Error> {
        self.clock += 1;
        let stamp = self.clock;
        if let Some(i) = self.slots.iter().position(|s| s.lba == lba) {
            let slot = &mut self.slots[i];
            slot.stamp = stamp;
            return Ok(slot);
        }
        let index = if self.slots.len() < self.capacity {
            self.slots.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            let mut data = Vec::new();
            data.try_reserve_exact(self.block_size)
                .map_err(|_| Error::OutOfMemory)?;
            data.resize(self.block_size, 0);
            self.slots.push(Slot {
                lba: u64::MAX,
                data,
                dirty: false,
                stamp: 0,
            });
            self.slots.len() - 1
        } else {
            let (i, _) = self
                .slots
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.stamp)
                .ok_or(Error::OutOfMemory)?;
            let victim = &mut self.slots[i];
            if victim.dirty {
                let vlba = victim.lba;
                if let Err(e) = self.dev.write(vlba, &self.slots[i].data) {
                    return Err(self.fail(e));
                }
                self.slots[i].dirty = false;
            }
            i
        };
        let slot = &mut self.slots[index];
        slot.lba = u64::MAX;
        if !whole && let Err(e) = self.dev.read(lba, &mut slot.data) {
            return Err(self.fail(e));
        }
        let slot = &mut self.slots[index];
        slot.lba = lba;
        slot.stamp = stamp;
        Ok(slot)
    }

    /// Reads at byte `pos`; short (or 0) only at the end of the device.
    pub fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let bs = self.block_size as u64;
        let end = self.len();
        let mut done = 0;
        while done < buf.len() {
            let at = pos + done as u64;
            if at >= end {
                break;
            }
            let off = (at % bs) as usize;
            let n = (buf.len() - done)
                .min(self.block_size - off)
                .min(usize::try_from(end - at).unwrap_or(usize::MAX));
            let slot = self.slot(at / bs, false)?;
            buf[done..done + n].copy_from_slice(&slot.data[off..off + n]);
            done += n;
        }
        Ok(done)
    }

    /// Writes all of `data` at byte `pos` (into the cache).
    pub fn write_at(&mut self, pos: u64, data: &[u8]) -> Result<(), Error> {
        let bs = self.block_size as u64;
        let end = pos.checked_add(data.len() as u64).ok_or(Error::Corrupt)?;
        if end > self.len() {
            return Err(self.fail(Error::Corrupt));
        }
        let mut done = 0;
        while done < data.len() {
            let at = pos + done as u64;
            let off = (at % bs) as usize;
            let n = (data.len() - done).min(self.block_size - off);
            let slot = self.slot(at / bs, n == self.block_size)?;
            slot.data[off..off + n].copy_from_slice(&data[done..done + n]);
            slot.dirty = true;
            done += n;
        }
        Ok(())
    }

    /// Writes every dirty block, then flushes the device: everything written so far is
    /// durable when this returns `Ok`.
    pub fn flush(&mut self) -> Result<(), Error> {
        loop {
            let next = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.dirty)
                .min_by_key(|(_, s)| s.lba)
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let slot = &self.slots[i];
            if let Err(e) = self.dev.write(slot.lba, &slot.data) {
                return Err(self.fail(e));
            }
            self.slots[i].dirty = false;
        }
        self.dev.flush().map_err(|e| self.fail(e))
    }
}

/// A byte position on the device, sharing one [`BlockCache`] with other cursors.
#[derive(Clone)]
pub struct DevCursor {
    cache: Rc<RefCell<BlockCache>>,
    pos: u64,
}

impl DevCursor {
    pub fn new(cache: Rc<RefCell<BlockCache>>) -> DevCursor {
        DevCursor { cache, pos: 0 }
    }

    pub fn cache(&self) -> &Rc<RefCell<BlockCache>> {
        &self.cache
    }
}

/// The error hadris sees from the device (the real one is kept in the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevError(pub Error);

impl core::fmt::Display for DevError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl core::error::Error for DevError {}

impl embedded_io::Error for DevError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0 {
            Error::OutOfMemory => embedded_io::ErrorKind::OutOfMemory,
            Error::ReadOnly | Error::PermissionDenied => embedded_io::ErrorKind::PermissionDenied,
            Error::InvalidArgument => embedded_io::ErrorKind::InvalidInput,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

impl embedded_io::ErrorType for DevCursor {
    type Error = DevError;
}

impl embedded_io::Read for DevCursor {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, DevError> {
        let n = self
            .cache
            .borrow_mut()
            .read_at(self.pos, buf)
            .map_err(DevError)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl embedded_io::Write for DevCursor {
    fn write(&mut self, buf: &[u8]) -> Result<usize, DevError> {
        self.cache
            .borrow_mut()
            .write_at(self.pos, buf)
            .map_err(DevError)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    /// hadris flushes after many small steps; durability is the service's business
    /// ([`BlockCache::flush`] once per request), so this does nothing.
    fn flush(&mut self) -> Result<(), DevError> {
        Ok(())
    }
}

impl embedded_io::Seek for DevCursor {
    fn seek(&mut self, pos: embedded_io::SeekFrom) -> Result<u64, DevError> {
        let len = self.cache.borrow().len();
        let target = match pos {
            embedded_io::SeekFrom::Start(p) => Some(p),
            embedded_io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            embedded_io::SeekFrom::End(d) => len.checked_add_signed(d),
        };
        self.pos = target.ok_or(DevError(Error::InvalidArgument))?;
        Ok(self.pos)
    }
}
