//! `/data` and the event journal on the Origin Private File System: two files the worker
//! opens with `createSyncAccessHandle()` before the kernel boots (`data.img`, `journal.img`),
//! each seen here as a [`BlockDevice`] of 512-byte blocks. `flush()` of the handle is the
//! durability point ([`BlockDevice::flush`]): the vfs and the journal call it before an emit
//! or a file write is acknowledged, so what was acknowledged survives a reload or a killed
//! browser.
//!
//! Where OPFS is unavailable (a browser without it, a private window, a file held by another
//! tab), there is no block device: `/data` is a RAM tree and the journal lives in RAM, and the
//! banner says so ([`problem`]).
//!
//! Invariants: a request is whole blocks inside the file's fixed size, or it is
//! [`BlockError::OutOfRange`] and touches nothing; the files only grow to their fixed size.

use zb_hal::log::BlockLog;
use zb_hal::{BlockDevice, BlockError, BlockInfo};

use crate::glue::{self, StoreFile};

/// The driver name `mount` and `kinds` show.
pub const DRIVER: &str = "opfs";
const BLOCK: u32 = 512;
/// `/data`: 16 MiB, as a PC's default data disk.
pub const DATA_BYTES: u64 = 16 << 20;
/// The journal: 4 MiB in 256 KiB segments, as a PC's journal disk.
pub const JOURNAL_BYTES: u64 = 4 << 20;
const JOURNAL_SEGMENT: u32 = 256 << 10;

/// One OPFS file as a block device.
pub struct OpfsFile {
    file: StoreFile,
    blocks: u64,
}

static DATA: spin::Once<Option<OpfsFile>> = spin::Once::new();
static JOURNAL_FILE: spin::Once<Option<OpfsFile>> = spin::Once::new();
static JOURNAL: spin::Once<Option<BlockLog<OpfsFile>>> = spin::Once::new();

pub(crate) fn init() {
    DATA.call_once(|| OpfsFile::open(StoreFile::Data, DATA_BYTES));
    let file = JOURNAL_FILE.call_once(|| OpfsFile::open(StoreFile::Journal, JOURNAL_BYTES));
    JOURNAL.call_once(|| {
        file.as_ref()
            .and_then(|f| BlockLog::new(f, JOURNAL_SEGMENT))
    });
}

/// The device behind `/data`, if OPFS is there.
pub fn data() -> Option<&'static OpfsFile> {
    DATA.get()?.as_ref()
}

/// The journal region, if OPFS is there.
pub fn journal() -> Option<&'static dyn zb_hal::log::LogStorage> {
    JOURNAL.get()?.as_ref().map(|j| j as _)
}

/// Why storage is in RAM, or `None` when it is on OPFS.
pub fn problem() -> Option<alloc::string::String> {
    if data().is_some() && journal().is_some() {
        return None;
    }
    let why = glue::store_problem();
    Some(if why.is_empty() {
        "OPFS files could not be opened".into()
    } else {
        why
    })
}

impl OpfsFile {
    fn open(file: StoreFile, bytes: u64) -> Option<OpfsFile> {
        // A file shorter than its size reads as zeros past its end (a blank device); one
        // longer (written by a later version with a bigger size) is used up to `bytes`.
        glue::store_size(file)?;
        Some(OpfsFile {
            file,
            blocks: bytes / u64::from(BLOCK),
        })
    }

    /// The byte offset of block `lba` if `len` bytes from there are whole blocks inside.
    fn range(&self, lba: u64, len: usize) -> Result<u64, BlockError> {
        let whole = len.is_multiple_of(BLOCK as usize);
        let end = lba.checked_add(len as u64 / u64::from(BLOCK));
        if !whole || end.is_none_or(|end| end > self.blocks) {
            return Err(BlockError::OutOfRange);
        }
        Ok(lba * u64::from(BLOCK))
    }
}

impl BlockDevice for OpfsFile {
    fn info(&self) -> BlockInfo {
        BlockInfo {
            block_size: BLOCK,
            blocks: self.blocks,
            driver: DRIVER,
            writable: true,
        }
    }

    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let at = self.range(lba, buf.len())?;
        if glue::store_read(self.file, at, buf) {
            Ok(())
        } else {
            Err(BlockError::Io)
        }
    }

    fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let at = self.range(lba, buf.len())?;
        if glue::store_write(self.file, at, buf) {
            Ok(())
        } else {
            Err(BlockError::Io)
        }
    }

    fn flush(&self) -> Result<(), BlockError> {
        if glue::store_flush(self.file) {
            Ok(())
        } else {
            Err(BlockError::Io)
        }
    }
}
