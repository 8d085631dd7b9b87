//! Where the journal lives: [`Medium`], a region of equal segments programmed append-only and
//! erased a segment at a time (NOR flash's rules, which a disk satisfies too), and two
//! implementations: [`RamMedium`] (tests; and a not-durable journal when a platform has no
//! region) and, with the `std` feature, [`FileMedium`] (a host file, for the benchmark).
//!
//! Invariants: an access outside the region, or a program that is not whole write units, is
//! [`MediumError::OutOfRange`] and changes nothing.

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

fn check(g: &Geometry, offset: u64, len: usize, whole_units: bool) -> Result<(), MediumError> {
    let unit = u64::from(g.write_unit.max(1));
    let aligned =
        !whole_units || (offset.is_multiple_of(unit) && (len as u64).is_multiple_of(unit));
    if g.contains(offset, len) && aligned {
        Ok(())
    } else {
        Err(MediumError::OutOfRange)
    }
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
        check(&self.geometry, offset, buf.len(), false)?;
        let at = offset as usize;
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        Ok(())
    }

    fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), MediumError> {
        check(&self.geometry, offset, data.len(), true)?;
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

/// A host file as a journal region (the benchmark's medium): `program` is a positioned write,
/// `sync` is `fdatasync`, `erase` clears nothing (a disk keeps old bytes; the journal tells
/// them apart by generation).
///
/// Where the file system allows it the file is opened with `O_DIRECT`: writes go to the device
/// as the kernel's virtio-blk journal's do, not through the page cache (a log is written once
/// and read back only at recovery, so caching it buys nothing and costs a copy and writeback
/// work at every sync). Direct I/O needs aligned memory, offsets and lengths: every transfer
/// goes through an aligned buffer, widened to whole [`DIRECT_ALIGN`] blocks.
#[cfg(feature = "std")]
pub struct FileMedium {
    file: std::fs::File,
    geometry: Geometry,
    direct: bool,
    buffer: AlignedBuffer,
}

/// Alignment of direct transfers: the usual logical block size, and the journal's write unit
/// on a disk (a device with larger blocks refuses the first transfer, and the medium goes on
/// through the page cache).
#[cfg(feature = "std")]
pub const DIRECT_ALIGN: usize = 512;

/// A buffer whose usable part starts at a [`DIRECT_ALIGN`] boundary (found in an
/// over-allocated vector, so no unsafe allocation is needed).
#[cfg(feature = "std")]
struct AlignedBuffer {
    bytes: Vec<u8>,
}

#[cfg(feature = "std")]
impl AlignedBuffer {
    /// `len` aligned bytes (grown when needed).
    fn get(&mut self, len: usize) -> &mut [u8] {
        if self.bytes.len() < len + DIRECT_ALIGN {
            self.bytes = alloc::vec![0u8; len + DIRECT_ALIGN];
        }
        let skip = self.bytes.as_ptr().align_offset(DIRECT_ALIGN);
        &mut self.bytes[skip..skip + len]
    }
}

#[cfg(all(
    feature = "std",
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "x86")
))]
const O_DIRECT: i32 = 0o40000;
#[cfg(all(
    feature = "std",
    target_os = "linux",
    not(any(target_arch = "x86_64", target_arch = "x86"))
))]
const O_DIRECT: i32 = 0o200000;

#[cfg(feature = "std")]
impl FileMedium {
    /// Creates (or truncates) `path` as a region of `geometry`'s size, written out with zeros
    /// and synced (preallocated, as a log file is: a later write then changes data, not the
    /// file's block map, and `fdatasync` has only the data to flush), then opens it
    /// ([`FileMedium::open`]).
    pub fn create(path: &std::path::Path, geometry: Geometry) -> std::io::Result<FileMedium> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let zeros = alloc::vec![0u8; 1 << 20];
        let mut left = geometry.bytes();
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        drop(file);
        FileMedium::open(path, geometry)
    }

    /// Opens the region `create` made at `path` (what an earlier run left in it is kept).
    pub fn open(path: &std::path::Path, geometry: Geometry) -> std::io::Result<FileMedium> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut direct = options.clone();
            if let Ok(file) = direct.custom_flags(O_DIRECT).open(path) {
                return Ok(FileMedium {
                    file,
                    geometry,
                    direct: true,
                    buffer: AlignedBuffer { bytes: Vec::new() },
                });
            }
        }
        Ok(FileMedium {
            file: options.open(path)?,
            geometry,
            direct: false,
            buffer: AlignedBuffer { bytes: Vec::new() },
        })
    }

    /// Whether transfers bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The whole blocks around `offset..offset + len`.
    fn blocks(offset: u64, len: usize) -> (u64, usize) {
        let start = offset / DIRECT_ALIGN as u64 * DIRECT_ALIGN as u64;
        let end = (offset + len as u64).div_ceil(DIRECT_ALIGN as u64) * DIRECT_ALIGN as u64;
        (start, (end - start) as usize)
    }
}

#[cfg(feature = "std")]
impl Medium for FileMedium {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        use std::os::unix::fs::FileExt;
        check(&self.geometry, offset, buf.len(), false)?;
        if !self.direct {
            return self
                .file
                .read_exact_at(buf, offset)
                .map_err(|_| MediumError::Io);
        }
        let (start, len) = Self::blocks(offset, buf.len());
        let block = self.buffer.get(len);
        self.file
            .read_exact_at(block, start)
            .map_err(|_| MediumError::Io)?;
        let skip = (offset - start) as usize;
        buf.copy_from_slice(&block[skip..skip + buf.len()]);
        Ok(())
    }

    fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), MediumError> {
        use std::os::unix::fs::FileExt;
        check(&self.geometry, offset, data.len(), true)?;
        if !self.direct {
            return self
                .file
                .write_all_at(data, offset)
                .map_err(|_| MediumError::Io);
        }
        let (start, len) = Self::blocks(offset, data.len());
        let skip = (offset - start) as usize;
        let block = self.buffer.get(len);
        // Partly covered blocks keep what they hold around the new bytes.
        if skip != 0 || data.len() != len {
            self.file
                .read_exact_at(block, start)
                .map_err(|_| MediumError::Io)?;
        }
        block[skip..skip + data.len()].copy_from_slice(data);
        match self.file.write_all_at(block, start) {
            Ok(()) => Ok(()),
            // Direct I/O refused (`EINVAL`: the device's blocks are larger): buffered from now.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                self.direct = false;
                self.program(offset, data)
            }
            Err(_) => Err(MediumError::Io),
        }
    }

    fn erase(&mut self, segment: u32) -> Result<(), MediumError> {
        if segment >= self.geometry.segments {
            return Err(MediumError::OutOfRange);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), MediumError> {
        self.file.sync_data().map_err(|_| MediumError::Io)
    }
}
