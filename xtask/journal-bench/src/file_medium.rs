//! The benchmark's medium: a host file as a journal region, implementing the journal's public
//! [`Medium`] trait from outside the (`no_std`, platform-free) journal crate.
//!
//! Unix only (positioned reads and writes); `O_DIRECT` on Linux.

use std::fs;
use std::io;
use std::path::Path;

use zb_journal::{Geometry, Medium, MediumError};

/// A host file as a journal region (the benchmark's medium): `program` is a positioned write,
/// `sync` is `fdatasync`, `erase` clears nothing (a disk keeps old bytes; the journal tells
/// them apart by generation).
///
/// Where the file system allows it the file is opened with `O_DIRECT`: writes go to the device
/// as the kernel's virtio-blk journal's do, not through the page cache (a log is written once
/// and read back only at recovery, so caching it buys nothing and costs a copy and writeback
/// work at every sync). Direct I/O needs aligned memory, offsets and lengths: every transfer
/// goes through an aligned buffer, widened to whole [`DIRECT_ALIGN`] blocks.
pub struct FileMedium {
    file: fs::File,
    geometry: Geometry,
    direct: bool,
    buffer: AlignedBuffer,
}

/// Alignment of direct transfers: the usual logical block size, and the journal's write unit
/// on a disk (a device with larger blocks refuses the first transfer, and the medium goes on
/// through the page cache).
pub const DIRECT_ALIGN: usize = 512;

/// A buffer whose usable part starts at a [`DIRECT_ALIGN`] boundary (found in an
/// over-allocated vector, so no unsafe allocation is needed).
struct AlignedBuffer {
    bytes: Vec<u8>,
}

impl AlignedBuffer {
    /// `len` aligned bytes (grown when needed).
    fn get(&mut self, len: usize) -> &mut [u8] {
        if self.bytes.len() < len + DIRECT_ALIGN {
            self.bytes = vec![0u8; len + DIRECT_ALIGN];
        }
        let skip = self.bytes.as_ptr().align_offset(DIRECT_ALIGN);
        &mut self.bytes[skip..skip + len]
    }
}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
const O_DIRECT: i32 = 0o40000;
#[cfg(all(
    target_os = "linux",
    not(any(target_arch = "x86_64", target_arch = "x86"))
))]
const O_DIRECT: i32 = 0o200000;

impl FileMedium {
    /// Creates (or truncates) `path` as a region of `geometry`'s size, written out with zeros
    /// and synced (preallocated, as a log file is: a later write then changes data, not the
    /// file's block map, and `fdatasync` has only the data to flush), then opens it
    /// ([`FileMedium::open`]).
    pub fn create(path: &Path, geometry: Geometry) -> io::Result<FileMedium> {
        use std::io::Write;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let zeros = vec![0u8; 1 << 20];
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
    pub fn open(path: &Path, geometry: Geometry) -> io::Result<FileMedium> {
        let mut options = fs::OpenOptions::new();
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

impl Medium for FileMedium {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        use std::os::unix::fs::FileExt;
        self.geometry.check(offset, buf.len(), false)?;
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
        self.geometry.check(offset, data.len(), true)?;
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
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
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

#[cfg(test)]
mod tests {
    use zb_journal::{Envelope, Journal, JournalConfig};

    use super::*;

    fn event(i: u64) -> Envelope {
        Envelope {
            name: "test.event".into(),
            version: 1,
            ts_us: i,
            source: "test".into(),
            correlation_id: i,
            causation_id: 0,
            tenant: "t".into(),
            headers: Vec::new(),
            payload: format!("{{\"i\":{i}}}").into_bytes(),
            origin: None,
        }
    }

    /// The host-file medium, direct or buffered, reads back what it was given at any offset and
    /// length (writes are whole write units), and a journal on it reopens with every event.
    #[test]
    fn a_file_medium_keeps_unaligned_writes_and_a_journal() {
        let dir = std::env::temp_dir().join(format!("zb-journal-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("medium");
        let geometry = Geometry {
            segment_bytes: 64 << 10,
            segments: 2,
            write_unit: 512,
        };
        let mut m = FileMedium::create(&path, geometry).unwrap();
        let mut unit = [0u8; 512];
        unit[188..199].copy_from_slice(b"hello, disk");
        m.program(512, &unit).unwrap();
        m.program(1024, &[7u8; 512]).unwrap();
        m.sync().unwrap();
        let mut buf = [0u8; 11];
        m.read(700, &mut buf).unwrap();
        assert_eq!(&buf, b"hello, disk");
        let mut around = [1u8; 600];
        m.read(1000, &mut around).unwrap();
        assert!(
            around[..24].iter().all(|&b| b == 0),
            "untouched bytes stay zero"
        );
        assert!(around[24..536].iter().all(|&b| b == 7));
        drop(m);

        let config = JournalConfig {
            max_record: 1024,
            dedupe_window: 8,
            dedupe_secret: 0,
        };
        let m = FileMedium::create(&path, geometry).unwrap();
        let (mut j, _) = Journal::open(m, config).unwrap();
        let events: Vec<Envelope> = (0..50).map(event).collect();
        j.append(&events).unwrap();
        drop(j);
        let medium = FileMedium::open(&path, geometry).unwrap();
        let (j, recovery) = Journal::open(medium, config).unwrap();
        assert_eq!((recovery.records, j.last_seq()), (50, 50));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
