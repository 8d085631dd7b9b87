//! Storage for the event journal: a region of equal segments that is programmed append-only
//! and erased one segment at a time — the shape NOR flash has, and the one a write-ahead log
//! wants on a disk too (acknowledged bytes are never rewritten, so a torn write can only hit
//! bytes nobody was told about).
//!
//! [`LogStorage`] is what a platform hands the kernel (`Platform::journal`). Two adapters make
//! one from what platforms have:
//! - [`BlockLog`]: a [`BlockDevice`] (a disk). The write unit is the block; erasing is
//!   clearing a segment's first block (a disk keeps old bytes; the journal tells them apart by
//!   its segment generations).
//! - [`NorLog`]: any `embedded-storage` [`NorFlash`] (an MCU's internal flash, or
//!   [`crate::flash::RamFlash`] under QEMU). The write unit is the flash's word; erasing is a
//!   real sector erase, so segments are whole erase sectors.
//!
//! Invariants: a request outside the region, or a program that is not whole write units, is
//! [`BlockError::OutOfRange`] and touches nothing; every call is serialised by the adapter's
//! lock.

use alloc::vec;

use embedded_storage::nor_flash::NorFlash;

use crate::{BlockDevice, BlockError};

/// The shape of a journal region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogGeometry {
    /// Bytes per segment (the erase unit).
    pub segment_bytes: u32,
    pub segments: u32,
    /// Programs are whole multiples of this many bytes, at multiples of it.
    pub write_unit: u32,
}

impl LogGeometry {
    /// Bytes in the region.
    pub fn bytes(&self) -> u64 {
        u64::from(self.segment_bytes) * u64::from(self.segments)
    }

    /// Whether `offset..offset + len` lies inside the region.
    fn contains(&self, offset: u64, len: usize) -> bool {
        offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.bytes())
    }

    /// Whether a program of `len` bytes at `offset` is whole write units inside the region.
    fn programmable(&self, offset: u64, len: usize) -> bool {
        let unit = u64::from(self.write_unit.max(1));
        self.contains(offset, len)
            && offset.is_multiple_of(unit)
            && (len as u64).is_multiple_of(unit)
    }
}

/// A journal region (see the module doc).
pub trait LogStorage: Sync {
    fn geometry(&self) -> LogGeometry;
    /// The driver underneath, for the boot log and `kinds` (`virtio-blk`, `stm32-flash`, …).
    fn driver(&self) -> &'static str;
    /// Reads any range of the region.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Programs whole write units into space not programmed since its segment's last erase.
    fn program(&self, offset: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Erases segment `segment` (its contents are unspecified until programmed again).
    fn erase(&self, segment: u32) -> Result<(), BlockError>;
    /// Makes everything programmed so far durable.
    fn sync(&self) -> Result<(), BlockError>;
}

/// A disk as a journal region: all of it, in segments of `segment_bytes`.
pub struct BlockLog<D: BlockDevice + 'static> {
    dev: &'static D,
    geometry: LogGeometry,
    /// Serialises calls (a partial-block read is two steps).
    lock: spin::Mutex<()>,
}

impl<D: BlockDevice + 'static> BlockLog<D> {
    /// The disk as segments of `segment_bytes` (a multiple of its block size); `None` if the
    /// disk is too small for two segments or the size does not fit its blocks.
    pub fn new(dev: &'static D, segment_bytes: u32) -> Option<Self> {
        let info = dev.info();
        if info.block_size == 0 || !segment_bytes.is_multiple_of(info.block_size) || !info.writable
        {
            return None;
        }
        let bytes = info.blocks.checked_mul(u64::from(info.block_size))?;
        let segments = u32::try_from(bytes / u64::from(segment_bytes)).ok()?;
        (segments >= 2).then_some(BlockLog {
            dev,
            geometry: LogGeometry {
                segment_bytes,
                segments,
                write_unit: info.block_size,
            },
            lock: spin::Mutex::new(()),
        })
    }

    fn block_size(&self) -> u64 {
        u64::from(self.geometry.write_unit)
    }
}

impl<D: BlockDevice + 'static> LogStorage for BlockLog<D> {
    fn geometry(&self) -> LogGeometry {
        self.geometry
    }

    fn driver(&self) -> &'static str {
        self.dev.info().driver
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !self.geometry.contains(offset, buf.len()) {
            return Err(BlockError::OutOfRange);
        }
        if buf.is_empty() {
            return Ok(());
        }
        let _held = self.lock.lock();
        let bs = self.block_size();
        let first = offset / bs;
        let end = offset + buf.len() as u64;
        let last = end.div_ceil(bs);
        // Whole blocks straight into `buf` when the range is aligned; otherwise through a
        // buffer covering the blocks (reads are what recovery and `log` do, not the hot path).
        if offset.is_multiple_of(bs) && end.is_multiple_of(bs) {
            return self.dev.read(first, buf);
        }
        let mut blocks = vec![0u8; ((last - first) * bs) as usize];
        self.dev.read(first, &mut blocks)?;
        let skip = (offset - first * bs) as usize;
        buf.copy_from_slice(&blocks[skip..skip + buf.len()]);
        Ok(())
    }

    fn program(&self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if !self.geometry.programmable(offset, data.len()) {
            return Err(BlockError::OutOfRange);
        }
        if data.is_empty() {
            return Ok(());
        }
        let _held = self.lock.lock();
        self.dev.write(offset / self.block_size(), data)
    }

    fn erase(&self, segment: u32) -> Result<(), BlockError> {
        if segment >= self.geometry.segments {
            return Err(BlockError::OutOfRange);
        }
        let _held = self.lock.lock();
        // Clearing the first block is enough: it holds the segment's header.
        let zero = vec![0u8; self.geometry.write_unit as usize];
        let first = u64::from(segment) * u64::from(self.geometry.segment_bytes);
        self.dev.write(first / self.block_size(), &zero)
    }

    fn sync(&self) -> Result<(), BlockError> {
        self.dev.flush()
    }
}

/// NOR flash as a journal region: all of it, in segments of `segment_bytes` (a multiple of the
/// flash's erase size).
pub struct NorLog<F: NorFlash + Send> {
    flash: spin::Mutex<F>,
    geometry: LogGeometry,
    driver: &'static str,
}

impl<F: NorFlash + Send> NorLog<F> {
    /// `None` if `segment_bytes` is not whole erase sectors or the flash holds fewer than two
    /// segments.
    pub fn new(flash: F, segment_bytes: u32, driver: &'static str) -> Option<Self> {
        let erase = u32::try_from(F::ERASE_SIZE).ok()?;
        if erase == 0 || segment_bytes == 0 || !segment_bytes.is_multiple_of(erase) {
            return None;
        }
        let segments = u32::try_from(flash.capacity()).ok()? / segment_bytes;
        (segments >= 2).then_some(NorLog {
            geometry: LogGeometry {
                segment_bytes,
                segments,
                write_unit: u32::try_from(F::WRITE_SIZE).ok()?.max(1),
            },
            flash: spin::Mutex::new(flash),
            driver,
        })
    }
}

impl<F: NorFlash + Send> LogStorage for NorLog<F> {
    fn geometry(&self) -> LogGeometry {
        self.geometry
    }

    fn driver(&self) -> &'static str {
        self.driver
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !self.geometry.contains(offset, buf.len()) {
            return Err(BlockError::OutOfRange);
        }
        let at = u32::try_from(offset).map_err(|_| BlockError::OutOfRange)?;
        self.flash.lock().read(at, buf).map_err(|_| BlockError::Io)
    }

    fn program(&self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if !self.geometry.programmable(offset, data.len()) {
            return Err(BlockError::OutOfRange);
        }
        let at = u32::try_from(offset).map_err(|_| BlockError::OutOfRange)?;
        self.flash
            .lock()
            .write(at, data)
            .map_err(|_| BlockError::Io)
    }

    fn erase(&self, segment: u32) -> Result<(), BlockError> {
        if segment >= self.geometry.segments {
            return Err(BlockError::OutOfRange);
        }
        let from = segment * self.geometry.segment_bytes;
        self.flash
            .lock()
            .erase(from, from + self.geometry.segment_bytes)
            .map_err(|_| BlockError::Io)
    }

    fn sync(&self) -> Result<(), BlockError> {
        // NOR programs and erases are complete when the call returns.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::RamFlash;

    fn ram_flash(bytes: usize) -> RamFlash {
        let mem: &'static mut [u8] = alloc::vec![0u8; bytes].leak();
        let mut header = [0u8; crate::flash::HEADER_LEN];
        RamFlash::adopt(mem, &mut header).expect("whole sectors").0
    }

    #[test]
    fn nor_log_programs_reads_and_erases_segments() {
        let log = NorLog::new(ram_flash(4096), 2048, "ram-flash").expect("two segments");
        assert_eq!(
            log.geometry(),
            LogGeometry {
                segment_bytes: 2048,
                segments: 2,
                write_unit: 4
            }
        );
        log.program(2048, b"abcd").unwrap();
        let mut buf = [0u8; 6];
        log.read(2046, &mut buf).unwrap();
        assert_eq!(&buf, b"\xFF\xFFabcd");
        // Not whole write units, or outside the region: refused.
        assert_eq!(log.program(2049, b"abcd"), Err(BlockError::OutOfRange));
        assert_eq!(log.program(4092, b"abcdefgh"), Err(BlockError::OutOfRange));
        assert_eq!(log.read(4095, &mut buf), Err(BlockError::OutOfRange));
        log.erase(1).unwrap();
        log.read(2048, &mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"\xFF\xFF\xFF\xFF");
        assert_eq!(log.erase(2), Err(BlockError::OutOfRange));
        // Segments must be whole erase sectors.
        assert!(NorLog::new(ram_flash(4096), 1000, "x").is_none());
    }
}
