//! Flash as a block device: [`FlashBlocks`] presents any `embedded-storage` [`NorFlash`] as
//! 512-byte blocks, and [`RamFlash`] is RAM behaving like NOR flash, for boards (or emulators)
//! whose flash cannot be written — QEMU's STM32F4 model among them.
//!
//! NOR flash reads like memory, but programming can only clear bits, a word may be programmed
//! only once between erases (`NorFlash::write`'s contract), and setting bits again takes
//! erasing a whole sector. So a block write into erased space just programs; any other reads
//! the sector into a RAM buffer (one erase sector long, given by the platform: on an STM32F4
//! that is 16 KiB), patches it, erases the sector and programs it back. Words that are all
//! ones are never programmed (they read as erased already), so a word is programmed at most
//! once per erase.
//!
//! [`RamFlash`] keeps its contents across a soft reset when it lives in RAM the startup code
//! does not clear (`.uninit`): [`RamFlash::adopt`] checks a small header and treats anything
//! else — power-on garbage — as a blank, erased chip.
//!
//! Invariants: a request that is out of range or not whole blocks changes nothing;
//! [`FlashBlocks`] never changes bytes outside the blocks being written (it may rewrite them
//! unchanged). Not power-fail safe: a reset between a sector's erase and its reprogramming
//! loses the whole sector, the neighbours of the block being written included.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};

use crate::{BlockDevice, BlockError, BlockInfo};

/// Block size presented to the file system.
pub const BLOCK: usize = 512;

/// RAM standing in for NOR flash (erased bytes read `0xFF`; programming clears bits).
pub struct RamFlash {
    mem: &'static mut [u8],
}

/// The header that marks a [`RamFlash`] region as holding data (see [`RamFlash::adopt`]):
/// magic `ZBRF`, layout version, region length, sector size, each little-endian, then a
/// checksum of those 16 bytes.
pub const HEADER_LEN: usize = 20;
const MAGIC: [u8; 4] = *b"ZBRF";
/// Version of the header and the region's layout; a change makes old contents blank.
const VERSION: u32 = 1;

fn header_for(len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    h[12..16].copy_from_slice(&(RamFlash::SECTOR as u32).to_le_bytes());
    let sum = h[..16]
        .iter()
        .fold(0x5A5A_5A5Au32, |acc, &b| acc.rotate_left(5) ^ u32::from(b));
    h[16..].copy_from_slice(&sum.to_le_bytes());
    h
}

impl RamFlash {
    /// Sector (erase unit) of the model.
    pub const SECTOR: usize = 1024;

    /// Takes over `mem` as flash whose contents survive while `header` is intact: a header
    /// that is not exactly this layout's (a cold start: power-on garbage, zeros, another
    /// version or size) makes the flash blank — every byte `0xFF` — and then writes the header.
    /// Returns the flash and whether it was blank. `mem`'s length must be a multiple of
    /// [`RamFlash::SECTOR`] (`None` otherwise, with nothing changed).
    pub fn adopt(
        mem: &'static mut [u8],
        header: &mut [u8; HEADER_LEN],
    ) -> Option<(RamFlash, bool)> {
        if mem.is_empty()
            || !mem.len().is_multiple_of(Self::SECTOR)
            || u32::try_from(mem.len()).is_err()
        {
            return None;
        }
        let want = header_for(mem.len());
        let blank = *header != want;
        if blank {
            // Erase first, header last: a reset in between leaves a blank-looking region.
            mem.fill(0xFF);
            *header = want;
        }
        Some((RamFlash { mem }, blank))
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
    /// The flash and the sector buffer, used together under one lock.
    inner: spin::Mutex<(F, &'static mut [u8])>,
    blocks: u64,
    driver: &'static str,
}

fn io<E: NorFlashError>(_: E) -> BlockError {
    BlockError::Io
}

fn erased(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0xFF)
}

/// Programs `data` at `offset` (both `F::WRITE_SIZE`-aligned), skipping words that are all
/// ones: runs of the others are written, each word once.
fn program<F: NorFlash>(flash: &mut F, offset: usize, data: &[u8]) -> Result<(), BlockError> {
    let word = F::WRITE_SIZE;
    let mut i = 0;
    while i < data.len() {
        if erased(&data[i..i + word]) {
            i += word;
            continue;
        }
        let run = i;
        while i < data.len() && !erased(&data[i..i + word]) {
            i += word;
        }
        flash
            .write((offset + run) as u32, &data[run..i])
            .map_err(io)?;
    }
    Ok(())
}

impl<F: NorFlash> FlashBlocks<F> {
    /// `scratch` is the read-modify-write buffer, at least one erase sector long; `driver`
    /// names the device in `mount` (`ram-flash`, `stm32-flash`). `None` if the buffer is
    /// too short or the flash's geometry does not fit 512-byte blocks (a block must be whole
    /// program words; the capacity must be whole sectors and fit in 32 bits).
    pub fn new(flash: F, scratch: &'static mut [u8], driver: &'static str) -> Option<Self> {
        let cap = flash.capacity();
        if scratch.len() < F::ERASE_SIZE
            || F::WRITE_SIZE == 0
            || !BLOCK.is_multiple_of(F::WRITE_SIZE)
            || !F::ERASE_SIZE.is_multiple_of(F::WRITE_SIZE)
            || !cap.is_multiple_of(F::ERASE_SIZE)
            || u32::try_from(cap).is_err()
        {
            return None;
        }
        Some(FlashBlocks {
            inner: spin::Mutex::new((flash, scratch)),
            blocks: (cap / BLOCK) as u64,
            driver,
        })
    }

    /// The byte offset of block `lba` if `len` bytes from there are whole blocks on the device.
    fn check(&self, lba: u64, len: usize) -> Result<usize, BlockError> {
        let n = (len / BLOCK) as u64;
        if !len.is_multiple_of(BLOCK) || lba.checked_add(n).is_none_or(|end| end > self.blocks) {
            return Err(BlockError::OutOfRange);
        }
        // In range, so below the capacity, which fits in 32 bits (`new`).
        Ok(lba as usize * BLOCK)
    }
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
        self.inner.lock().0.read(at as u32, buf).map_err(io)
    }

    fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let start = self.check(lba, buf.len())?;
        let mut inner = self.inner.lock();
        let (flash, scratch) = &mut *inner;
        let sector = F::ERASE_SIZE;
        let scratch = &mut scratch[..sector];
        let mut done = 0;
        while done < buf.len() {
            // The part of `buf` that falls in one sector.
            let at = start + done;
            let base = at / sector * sector;
            let n = (base + sector - at).min(buf.len() - done);
            let new = &buf[done..done + n];
            flash.read(at as u32, &mut scratch[..n]).map_err(io)?;
            if scratch[..n] == *new {
                // Already there.
            } else if erased(&scratch[..n]) {
                program(flash, at, new)?;
            } else {
                flash.read(base as u32, scratch).map_err(io)?;
                scratch[at - base..at - base + n].copy_from_slice(new);
                flash
                    .erase(base as u32, (base + sector) as u32)
                    .map_err(io)?;
                program(flash, base, scratch)?;
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
    use alloc::vec;
    use alloc::vec::Vec;

    fn region(len: usize) -> &'static mut [u8] {
        Box::leak(vec![0x5Cu8; len].into_boxed_slice())
    }

    fn ram_blocks(sectors: usize) -> FlashBlocks<RamFlash> {
        let header = Box::leak(Box::new([0u8; HEADER_LEN]));
        let (flash, blank) = RamFlash::adopt(region(sectors * RamFlash::SECTOR), header).unwrap();
        assert!(blank);
        FlashBlocks::new(flash, region(RamFlash::SECTOR), "ram-flash").unwrap()
    }

    #[test]
    fn a_cold_start_is_blank_and_a_warm_one_keeps_the_data() {
        let len = 4 * RamFlash::SECTOR;
        let mem = region(len);
        let ptr = mem.as_mut_ptr();
        let mut header = [0x11u8; HEADER_LEN];
        {
            let (flash, blank) = RamFlash::adopt(mem, &mut header).unwrap();
            assert!(blank, "garbage header: blank");
            let dev = FlashBlocks::new(flash, region(RamFlash::SECTOR), "ram-flash").unwrap();
            assert_eq!(
                dev.info(),
                BlockInfo {
                    block_size: 512,
                    blocks: 8,
                    driver: "ram-flash",
                    writable: true
                }
            );
            let mut buf = [0u8; BLOCK];
            dev.read(3, &mut buf).unwrap();
            assert!(erased(&buf), "a blank device reads as erased flash");
            dev.write(3, &[7u8; BLOCK]).unwrap();
        }
        // A soft reset: the same RAM and header are adopted again.
        // SAFETY (test): the region was leaked above and its previous owner is dropped.
        let mem = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
        let (flash, blank) = RamFlash::adopt(mem, &mut header).unwrap();
        assert!(!blank);
        let dev = FlashBlocks::new(flash, region(RamFlash::SECTOR), "ram-flash").unwrap();
        let mut buf = [0u8; BLOCK];
        dev.read(3, &mut buf).unwrap();
        assert_eq!(buf, [7u8; BLOCK]);
        dev.read(2, &mut buf).unwrap();
        assert!(erased(&buf));
    }

    #[test]
    fn any_damage_to_the_header_means_blank() {
        let good = header_for(RamFlash::SECTOR);
        // Every single-bit flip, zeros (QEMU's cold RAM), all ones, another size.
        let mut bad: Vec<[u8; HEADER_LEN]> = Vec::new();
        for bit in 0..HEADER_LEN * 8 {
            let mut h = good;
            h[bit / 8] ^= 1 << (bit % 8);
            bad.push(h);
        }
        bad.push([0; HEADER_LEN]);
        bad.push([0xFF; HEADER_LEN]);
        bad.push(header_for(2 * RamFlash::SECTOR));
        // Right magic, version and size, wrong checksum.
        let mut h = good;
        h[16..].copy_from_slice(&0u32.to_le_bytes());
        bad.push(h);
        for mut h in bad {
            let mem = region(RamFlash::SECTOR);
            let (mut flash, blank) = RamFlash::adopt(mem, &mut h).unwrap();
            assert!(blank, "{h:?}");
            assert_eq!(h, good, "the header is rewritten");
            let mut all = [0u8; RamFlash::SECTOR];
            flash.read(0, &mut all).unwrap();
            assert!(erased(&all), "contents are erased");
        }
        let mut h = good;
        let (_, blank) = RamFlash::adopt(region(RamFlash::SECTOR), &mut h).unwrap();
        assert!(!blank);
    }

    #[test]
    fn a_region_that_is_not_whole_sectors_is_refused_untouched() {
        let mut h = [0u8; HEADER_LEN];
        assert!(RamFlash::adopt(region(RamFlash::SECTOR + 4), &mut h).is_none());
        assert!(RamFlash::adopt(region(0), &mut h).is_none());
        assert_eq!(h, [0u8; HEADER_LEN]);
    }

    #[test]
    fn rewrites_keep_neighbours_and_bad_requests_change_nothing() {
        let dev = ram_blocks(2);
        dev.write(0, &[0xAB; BLOCK]).unwrap();
        dev.write(1, &[0x01; BLOCK]).unwrap();
        // Setting bits again needs an erase: the neighbour (block 1) must survive it.
        dev.write(0, &[0xFF; BLOCK]).unwrap();
        let mut two = [0u8; 2 * BLOCK];
        dev.read(0, &mut two).unwrap();
        assert!(erased(&two[..BLOCK]));
        assert!(two[BLOCK..].iter().all(|&b| b == 0x01));
        // Across a sector boundary.
        dev.write(1, &[0x42; 2 * BLOCK]).unwrap();
        let mut all = [0u8; 4 * BLOCK];
        dev.read(0, &mut all).unwrap();
        assert!(all[BLOCK..3 * BLOCK].iter().all(|&b| b == 0x42));
        assert!(erased(&all[3 * BLOCK..]));
        assert_eq!(dev.write(4, &[0; BLOCK]), Err(BlockError::OutOfRange));
        assert_eq!(dev.write(3, &[0; 2 * BLOCK]), Err(BlockError::OutOfRange));
        assert_eq!(dev.write(0, &[0; 100]), Err(BlockError::OutOfRange));
        assert_eq!(
            dev.read(u64::MAX, &mut [0; BLOCK]),
            Err(BlockError::OutOfRange)
        );
        assert_eq!(
            dev.read(0, &mut [0; BLOCK + 1]),
            Err(BlockError::OutOfRange)
        );
        dev.read(0, &mut all).unwrap();
        assert!(
            all[BLOCK..3 * BLOCK].iter().all(|&b| b == 0x42),
            "unchanged"
        );
        // Empty requests are fine and do nothing.
        dev.write(0, &[]).unwrap();
        dev.read(4, &mut []).unwrap();
    }

    /// NOR flash with an STM32F4 sector's geometry (16 KiB erase, 4-byte words) that holds
    /// callers to the `NorFlash` contract: a word is programmed at most once per erase. It
    /// counts erases and programmed words, and can be told to fail.
    struct StrictNor {
        mem: Vec<u8>,
        programmed: Vec<bool>,
        erases: usize,
        words: usize,
        fail: bool,
    }

    const BIG: usize = 16 * 1024;

    impl StrictNor {
        fn new(sectors: usize) -> Self {
            StrictNor {
                mem: vec![0xFF; sectors * BIG],
                programmed: vec![false; sectors * BIG / 4],
                erases: 0,
                words: 0,
                fail: false,
            }
        }
    }

    impl ErrorType for StrictNor {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for StrictNor {
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

    impl NorFlash for StrictNor {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = BIG;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            check_erase(self, from, to)?;
            if self.fail {
                return Err(NorFlashErrorKind::Other);
            }
            self.erases += 1;
            self.mem[from as usize..to as usize].fill(0xFF);
            self.programmed[from as usize / 4..to as usize / 4].fill(false);
            Ok(())
        }
        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            check_write(self, offset, bytes.len())?;
            if self.fail {
                return Err(NorFlashErrorKind::Other);
            }
            for (i, w) in bytes.chunks(4).enumerate() {
                let word = offset as usize / 4 + i;
                assert!(!self.programmed[word], "word {word} programmed twice");
                self.programmed[word] = true;
                self.words += 1;
                for (j, &b) in w.iter().enumerate() {
                    self.mem[word * 4 + j] &= b;
                }
            }
            Ok(())
        }
    }

    fn strict(sectors: usize) -> FlashBlocks<StrictNor> {
        FlashBlocks::new(StrictNor::new(sectors), region(BIG), "stm32-flash").unwrap()
    }

    fn stats(dev: &FlashBlocks<StrictNor>) -> (usize, usize) {
        let inner = dev.inner.lock();
        (inner.0.erases, inner.0.words)
    }

    #[test]
    fn big_sectors_program_each_word_once_and_erase_only_when_needed() {
        let dev = strict(2);
        assert_eq!(dev.info().blocks, 64);
        // Into erased space: programmed, no erase.
        dev.write(5, &[0x11; BLOCK]).unwrap();
        assert_eq!(stats(&dev), (0, BLOCK / 4));
        // The same data again: nothing to do.
        dev.write(5, &[0x11; BLOCK]).unwrap();
        assert_eq!(stats(&dev), (0, BLOCK / 4));
        // Different data over programmed words: one erase of sector 0, and only the words
        // that are not all ones are programmed again (block 5's new data and nothing else).
        let mut data = [0xFFu8; BLOCK];
        data[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        dev.write(5, &data).unwrap();
        assert_eq!(stats(&dev), (1, BLOCK / 4 + 2));
        let mut back = [0u8; BLOCK];
        dev.read(5, &mut back).unwrap();
        assert_eq!(back, data);
        // A write spanning both sectors (blocks 31 and 32) into erased space.
        dev.write(31, &[0x22; 2 * BLOCK]).unwrap();
        assert_eq!(stats(&dev).0, 1);
        // Rewriting it erases both sectors; block 5 survives.
        dev.write(31, &[0x33; 2 * BLOCK]).unwrap();
        assert_eq!(stats(&dev).0, 3);
        dev.read(5, &mut back).unwrap();
        assert_eq!(back, data);
        let mut two = [0u8; 2 * BLOCK];
        dev.read(31, &mut two).unwrap();
        assert!(two.iter().all(|&b| b == 0x33));
        // All ones over erased space programs nothing.
        let words = stats(&dev).1;
        dev.write(40, &[0xFF; BLOCK]).unwrap();
        assert_eq!(stats(&dev).1, words);
    }

    #[test]
    fn device_errors_are_io_errors() {
        let dev = strict(1);
        dev.write(0, &[1; BLOCK]).unwrap();
        dev.inner.lock().0.fail = true;
        assert_eq!(dev.write(1, &[2; BLOCK]), Err(BlockError::Io));
        assert_eq!(dev.write(0, &[3; BLOCK]), Err(BlockError::Io));
        dev.inner.lock().0.fail = false;
        let mut back = [0u8; BLOCK];
        dev.read(0, &mut back).unwrap();
        assert_eq!(back, [1; BLOCK]);
    }

    #[test]
    fn geometry_that_does_not_fit_blocks_is_refused() {
        // Sector buffer shorter than a sector.
        assert!(FlashBlocks::new(StrictNor::new(1), region(BIG - 1), "x").is_none());
        // Capacity not whole sectors.
        let mut nor = StrictNor::new(1);
        nor.mem.truncate(BIG - BLOCK);
        assert!(FlashBlocks::new(nor, region(BIG), "x").is_none());
    }
}
