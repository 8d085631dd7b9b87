//! Where the journal lives: [`Medium`], a region of equal segments programmed append-only and
//! erased a segment at a time (NOR flash's rules, which a disk satisfies too), and
//! [`RamMedium`] (tests; and a not-durable journal when a platform has no region). Other media
//! implement [`Medium`] where they live: the kernel's platform region (`zb-kernel`'s `bus`), a
//! host file (the benchmark, `xtask/journal-bench`).
//!
//! Invariants: an access outside the region, or a program that is not whole write units, is
//! [`MediumError::OutOfRange`] and changes nothing ([`Geometry::check`]).

use alloc::vec;
use alloc::vec::Vec;

/// The shape of a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per segment (the erase unit or a multiple of it).
    pub segment_bytes: u32,
    pub segments: u32,
    /// Programs are whole multiples of this many bytes, at multiples of it (4 on NOR flash,
    /// the block size on a disk).
    pub write_unit: u32,
}

impl Geometry {
    /// Bytes in the region.
    pub fn bytes(&self) -> u64 {
        u64::from(self.segment_bytes) * u64::from(self.segments)
    }

    /// Whether `offset..offset + len` lies inside the region.
    pub fn contains(&self, offset: u64, len: usize) -> bool {
        offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.bytes())
    }

    /// The check every [`Medium`] makes before an access: `offset..offset + len` inside the
    /// region and, for a program (`whole_units`), at a multiple of the write unit and whole
    /// write units long; otherwise [`MediumError::OutOfRange`].
    pub fn check(&self, offset: u64, len: usize, whole_units: bool) -> Result<(), MediumError> {
        let unit = u64::from(self.write_unit.max(1));
        let aligned =
            !whole_units || (offset.is_multiple_of(unit) && (len as u64).is_multiple_of(unit));
        if self.contains(offset, len) && aligned {
            Ok(())
        } else {
            Err(MediumError::OutOfRange)
        }
    }
}

/// Why a medium operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediumError {
    /// The device reported an error.
    Io,
    /// Outside the region, or not whole write units.
    OutOfRange,
}

/// A journal region.
pub trait Medium {
    fn geometry(&self) -> Geometry;
    /// Reads any range inside the region.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MediumError>;
    /// Programs `data` at `offset` (whole write units) into space not programmed since its
    /// segment was last erased.
    fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), MediumError>;
    /// Erases segment `segment`: its bytes are unspecified until programmed (flash reads
    /// `0xFF`; a disk may keep old bytes).
    fn erase(&mut self, segment: u32) -> Result<(), MediumError>;
    /// Makes everything programmed so far durable.
    fn sync(&mut self) -> Result<(), MediumError>;
}

/// RAM behaving like NOR flash (erased bytes read `0xFF`), with fault injection for tests.
#[derive(Debug, Clone)]
pub struct RamMedium {
    geometry: Geometry,
    bytes: Vec<u8>,
    /// Fault injection: bytes that may still be programmed; a program beyond writes only the
    /// part that fits and fails (power lost in the middle of a write).
    budget: Option<usize>,
    /// Programs of bytes that were not erased (the NOR rule broken), counted for tests.
    pub overwrites: usize,
}

impl RamMedium {
    /// An erased region of `geometry`'s size.
    pub fn new(geometry: Geometry) -> RamMedium {
        RamMedium {
            bytes: vec![0xFF; geometry.bytes() as usize],
            geometry,
            budget: None,
            overwrites: 0,
        }
    }

    /// After `bytes` more programmed bytes, programs stop part-way and fail (`None`: never).
    pub fn fail_after(&mut self, bytes: Option<usize>) {
        self.budget = bytes;
    }

    /// The raw contents (tests corrupt them on purpose).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl Medium for RamMedium {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        self.geometry.check(offset, buf.len(), false)?;
        let at = offset as usize;
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        Ok(())
    }

    fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), MediumError> {
        self.geometry.check(offset, data.len(), true)?;
        let at = offset as usize;
        let (n, fail) = match self.budget {
            Some(left) if left < data.len() => (left, true),
            _ => (data.len(), false),
        };
        if let Some(left) = self.budget.as_mut() {
            *left -= n;
        }
        for (dst, &src) in self.bytes[at..at + n].iter_mut().zip(&data[..n]) {
            if *dst != 0xFF {
                self.overwrites += 1;
            }
            // NOR programming only clears bits.
            *dst &= src;
        }
        if fail { Err(MediumError::Io) } else { Ok(()) }
    }

    fn erase(&mut self, segment: u32) -> Result<(), MediumError> {
        if segment >= self.geometry.segments {
            return Err(MediumError::OutOfRange);
        }
        let size = self.geometry.segment_bytes as usize;
        let at = segment as usize * size;
        self.bytes[at..at + size].fill(0xFF);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), MediumError> {
        if self.budget == Some(0) {
            return Err(MediumError::Io);
        }
        Ok(())
    }
}
