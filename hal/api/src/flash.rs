//! Flash as a block device: [`FlashBlocks`] presents any `embedded-storage` [`NorFlash`] as
//! 512-byte blocks, and [`RamFlash`] is RAM behaving like NOR flash, for boards (or emulators)
//! whose flash cannot be written — QEMU's STM32F4 model among them.
//!
//! NOR flash reads like memory, but a write can only clear bits, and setting them again takes
//! erasing a whole sector. So a block write that needs bits set reads the sector, patches it,
//! erases and programs it back; one into erased space just programs.
//!
//! [`RamFlash`] keeps its contents across a soft reset when it lives in RAM the startup code
//! does not clear (`.uninit`): [`RamFlash::adopt`] checks a small header and treats anything
//! else — power-on garbage — as a blank, erased chip.
//!
//! Invariants: a failed or out-of-range request changes nothing; [`FlashBlocks`] never touches
//! bytes outside the block being written except to rewrite them unchanged.

use alloc::vec;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};

use crate::{BlockDevice, BlockError, BlockInfo};

/// Block size presented to the file system.
pub const BLOCK: usize = 512;

/// RAM standing in for NOR flash (erased bytes read `0xFF`; writes clear bits).
pub struct RamFlash {
    mem: &'static mut [u8],
}

/// The header that marks a [`RamFlash`] region as holding data (see [`RamFlash::adopt`]).
pub const HEADER_LEN: usize = 16;
const MAGIC: [u8; 4] = *b"ZBRF";
const VERSION: u32 = 1;

fn header_for(len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    let sum = h[..12]
        .iter()
        .fold(0x5A5A_5A5Au32, |acc, &b| acc.rotate_left(5) ^ u32::from(b));
    h[12..].copy_from_slice(&sum.to_le_bytes());
    h
}

impl RamFlash {
    /// Sector size of the model.
    pub const SECTOR: usize = 1024;

    /// Takes over `mem` as flash whose contents survive while `header` is intact: a header
    /// that is not this layout's (a cold start) makes the flash blank. Returns the flash and
    /// whether it was blank. `mem`'s length must be a multiple of [`RamFlash::SECTOR`].
    pub fn adopt(mem: &'static mut [u8], header: &mut [u8; HEADER_LEN]) -> (RamFlash, bool) {
        let want = header_for(mem.len());
        let blank = *header != want;
        if blank {
            mem.fill(0xFF);
            *header = want;
        }
        (RamFlash { mem }, blank)
    }
}

impl ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.mem[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = Self::SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        self.mem[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let at = offset as usize;
        // Like NOR: programming only clears bits.
        for (m, &b) in self.mem[at..at + bytes.len()].iter_mut().zip(bytes) {
            *m &= b;
        }
        Ok(())
    }
}

/// A [`NorFlash`] as a [`BlockDevice`] of [`BLOCK`]-byte blocks.
pub struct FlashBlocks<F> {
    flash: spin::Mutex<F>,
    blocks: u64,
    driver: &'static str,
}

impl<F: NorFlash> FlashBlocks<F> {
    /// `driver` names it in `mount` (`ram-flash`, `flash`).
    pub fn new(flash: F, driver: &'static str) -> Self {
        let blocks = (flash.capacity() / BLOCK) as u64;
        FlashBlocks {
            flash: spin::Mutex::new(flash),
            blocks,
            driver,
        }
    }

    fn check(&self, lba: u64, len: usize) -> Result<u32, BlockError> {
        let n = (len / BLOCK) as u64;
        if !len.is_multiple_of(BLOCK) || lba.checked_add(n).is_none_or(|end| end > self.blocks) {
            return Err(BlockError::OutOfRange);
        }
        u32::try_from(lba * BLOCK as u64).map_err(|_| BlockError::OutOfRange)
    }
}

fn io<E: NorFlashError>(_: E) -> BlockError {
    BlockError::Io
}

impl<F: NorFlash + Send> BlockDevice for FlashBlocks<F> {
    fn info(&self) -> BlockInfo {
        BlockInfo {
            block_size: BLOCK as u32,
            blocks: self.blocks,
            driver: self.driver,
            writable: true,
        }
    }

    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let at = self.check(lba, buf.len())?;
        self.flash.lock().read(at, buf).map_err(io)
    }

    fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let start = self.check(lba, buf.len())? as usize;
        let mut flash = self.flash.lock();
        let sector = F::ERASE_SIZE;
        let mut scratch = vec![0u8; sector];
        let mut done = 0;
        while done < buf.len() {
            let at = start + done;
            let base = at / sector * sector;
            let n = (base + sector - at).min(buf.len() - done);
            let new = &buf[done..done + n];
            flash.read(at as u32, &mut scratch[..n]).map_err(io)?;
            // Programming can only clear bits: if every new byte only clears bits of the old
            // one, program in place; otherwise rewrite the sector.
            let in_place = scratch[..n].iter().zip(new).all(|(&old, &b)| old & b == b);
            if in_place && at.is_multiple_of(F::WRITE_SIZE) && n.is_multiple_of(F::WRITE_SIZE) {
                flash.write(at as u32, new).map_err(io)?;
            } else {
                flash.read(base as u32, &mut scratch).map_err(io)?;
                scratch[at - base..at - base + n].copy_from_slice(new);
                flash
                    .erase(base as u32, (base + sector) as u32)
                    .map_err(io)?;
                flash.write(base as u32, &scratch).map_err(io)?;
            }
            done += n;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BlockError> {
        // Programming and erasing complete before they return.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::boxed::Box;

    fn region(len: usize) -> &'static mut [u8] {
        Box::leak(vec![0x5Cu8; len].into_boxed_slice())
    }

    #[test]
    fn a_cold_start_is_blank_and_a_warm_one_keeps_the_data() {
        let mem = region(4 * RamFlash::SECTOR);
        let ptr = mem.as_mut_ptr();
        let mut header = [0x11u8; HEADER_LEN];
        {
            let (flash, blank) = RamFlash::adopt(mem, &mut header);
            assert!(blank, "garbage header: blank");
            let dev = FlashBlocks::new(flash, "ram-flash");
            assert_eq!(dev.info().blocks, 8);
            let mut buf = [0u8; BLOCK];
            dev.read(3, &mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == 0xFF), "erased");
            dev.write(3, &[7u8; BLOCK]).unwrap();
        }
        // "Reset": the same RAM and header are adopted again.
        // SAFETY (test): the region was leaked above and the previous owner is dropped.
        let mem = unsafe { core::slice::from_raw_parts_mut(ptr, 4 * RamFlash::SECTOR) };
        let (flash, blank) = RamFlash::adopt(mem, &mut header);
        assert!(!blank);
        let dev = FlashBlocks::new(flash, "ram-flash");
        let mut buf = [0u8; BLOCK];
        dev.read(3, &mut buf).unwrap();
        assert_eq!(buf, [7u8; BLOCK]);
        // A header written for another size is not ours: blank.
        let mut other = header_for(123);
        let (_, blank) = RamFlash::adopt(region(RamFlash::SECTOR), &mut other);
        assert!(blank);
        assert_eq!(other, header_for(RamFlash::SECTOR));
    }

    #[test]
    fn rewrites_keep_neighbours_and_bad_requests_change_nothing() {
        let mut header = [0u8; HEADER_LEN];
        let (flash, _) = RamFlash::adopt(region(2 * RamFlash::SECTOR), &mut header);
        let dev = FlashBlocks::new(flash, "ram-flash");
        dev.write(0, &[0xAB; BLOCK]).unwrap();
        dev.write(1, &[0x01; BLOCK]).unwrap();
        // Setting bits again needs an erase: the neighbour (block 1) must survive it.
        dev.write(0, &[0xFF; BLOCK]).unwrap();
        let mut two = [0u8; 2 * BLOCK];
        dev.read(0, &mut two).unwrap();
        assert!(two[..BLOCK].iter().all(|&b| b == 0xFF));
        assert!(two[BLOCK..].iter().all(|&b| b == 0x01));
        // Across a sector boundary.
        dev.write(1, &[0x42; 2 * BLOCK]).unwrap();
        let mut all = [0u8; 4 * BLOCK];
        dev.read(0, &mut all).unwrap();
        assert!(all[BLOCK..3 * BLOCK].iter().all(|&b| b == 0x42));
        assert!(all[3 * BLOCK..].iter().all(|&b| b == 0xFF));
        assert_eq!(dev.write(4, &[0; BLOCK]), Err(BlockError::OutOfRange));
        assert_eq!(dev.write(0, &[0; 100]), Err(BlockError::OutOfRange));
        assert_eq!(
            dev.read(u64::MAX, &mut [0; BLOCK]),
            Err(BlockError::OutOfRange)
        );
        dev.read(0, &mut all).unwrap();
        assert!(
            all[BLOCK..3 * BLOCK].iter().all(|&b| b == 0x42),
            "unchanged"
        );
    }
}
