//! The block device behind `/data` — 16 KiB of NOR flash as 512-byte blocks, through the shared
//! adapter [`zb_hal::flash::FlashBlocks`] — and the event journal's region: 32 KiB of NOR
//! flash in two 16 KiB segments, through [`zb_hal::log::NorLog`] (programmed append-only,
//! erased a segment at a time, so no read-modify-write buffer).
//!
//! - Under QEMU (the `qemu` feature) flash writes do not persist (DESIGN.md §8), so the flash is
//!   [`RamFlash`]: 16 KiB of RAM that no startup code, loader or heap touches. It keeps its
//!   contents across a soft reset (`reboot`: QEMU keeps RAM across a guest reset) and is blank
//!   (all `0xFF`) after a cold start (QEMU starts with zeroed RAM), decided by the header kept
//!   beside it ([`RamFlash::adopt`]). That RAM is QEMU's, not the board's: QEMU 7.2's
//!   netduinoplus2 maps 192 KiB of SRAM at `0x2000_0000`, where a real F405 has 128 KiB (and
//!   its 64 KiB CCM, which QEMU lacks, at `0x1000_0000`). The region, its header and the 1 KiB
//!   read-modify-write buffer for its 1 KiB sectors live in that extra 64 KiB
//!   ([`QEMU_EXTRA_SRAM`]), so the QEMU build keeps exactly the board's SRAM layout and heap —
//!   the tests run in the memory a board has. (Kept in `.uninit` instead, they would take
//!   17 KiB from a heap the test suites need: `hostile` then no longer fits.)
//! - On a board it is [`InternalFlash`]: flash sector 1 (`0x0800_4000..0x0800_8000`) for
//!   `/data` and sectors 2-3 (`0x0800_8000..0x0801_0000`) for the journal, which
//!   `boot/stm32f4/memory.x` keeps free of code (the vector table is alone in sector 0, code
//!   starts at sector 4). The read-modify-write buffer for its one 16 KiB sector lives in the
//!   64 KiB CCM data RAM (`.ccm`, which QEMU does not model and nothing else uses), so the heap
//!   keeps its size on a board.
//!
//! Invariants: [`init`] runs once (from `crate::init`), before anything calls [`device`]; the
//! flash and its buffer are used only through the adapter's lock.

use zb_hal::BlockDevice;
use zb_hal::flash::FlashBlocks;
#[cfg(feature = "qemu")]
use zb_hal::flash::RamFlash;
use zb_hal::log::{LogStorage, NorLog};

/// Bytes of `/data` on either kind of flash.
pub const BYTES: usize = 16 * 1024;

#[cfg(feature = "qemu")]
type Flash = RamFlash;
#[cfg(not(feature = "qemu"))]
type Flash = board::InternalFlash;

#[cfg(not(feature = "qemu"))]
pub use board::InternalFlash;

/// The driver's name in `mount`, `kinds` and the boot banner.
pub const DRIVER: &str = if cfg!(feature = "qemu") {
    "ram-flash"
} else {
    "stm32-flash"
};

static DEVICE: spin::Once<Option<FlashBlocks<Flash>>> = spin::Once::new();
static JOURNAL: spin::Once<Option<NorLog<Flash>>> = spin::Once::new();

/// Bytes of the journal's flash (sectors 2 and 3 on a board).
pub const JOURNAL_BYTES: usize = 32 * 1024;
/// A journal segment: one 16 KiB flash sector (the erase unit on a board).
pub const JOURNAL_SEGMENT: u32 = 16 * 1024;

/// The journal's region, if [`init`] could set it up.
pub fn journal() -> Option<&'static dyn LogStorage> {
    match JOURNAL.get() {
        Some(Some(log)) => Some(log),
        _ => None,
    }
}

/// The block device, if [`init`] could set it up.
pub fn device() -> Option<&'static dyn BlockDevice> {
    match DEVICE.get() {
        Some(Some(dev)) => Some(dev),
        _ => None,
    }
}

/// RAM outside SRAM that nothing uses, for the kernel heap's second region: under QEMU the
/// end of [`QEMU_EXTRA_SRAM`] past the flash models; on a board the CCM data RAM past the
/// flash buffer (`.ccm`, at most [`BYTES`] by `memory.x`). Call after [`init`] (which turns the
/// CCM's clock on), once: the range is handed over for good.
pub fn spare_ram() -> (*mut u8, usize) {
    #[cfg(feature = "qemu")]
    {
        (
            (QEMU_EXTRA_SRAM + qemu_layout::SPARE) as *mut u8,
            qemu_layout::END - qemu_layout::SPARE,
        )
    }
    #[cfg(not(feature = "qemu"))]
    {
        const CCM: usize = 0x1000_0000;
        const CCM_BYTES: usize = 64 * 1024;
        ((CCM + BYTES) as *mut u8, CCM_BYTES - BYTES)
    }
}

/// Sets up the flash and the adapter. Call once.
pub fn init() {
    DEVICE.call_once(make);
    JOURNAL.call_once(make_journal);
}

/// QEMU's SRAM beyond the F405's 128 KiB (see the module doc): `0x2002_0000..0x2003_0000`.
/// Nothing else uses it: memory.x places nothing there, so no ELF segment covers it and QEMU
/// never reloads it.
#[cfg(feature = "qemu")]
pub const QEMU_EXTRA_SRAM: usize = 0x2002_0000;

/// Where things live in [`QEMU_EXTRA_SRAM`] (offsets): `/data`'s flash, its header, the
/// read-modify-write buffer, then the journal's flash and its header.
#[cfg(feature = "qemu")]
mod qemu_layout {
    use super::{BYTES, JOURNAL_BYTES};
    use zb_hal::flash::{HEADER_LEN, RamFlash};

    pub const DATA: usize = 0;
    pub const DATA_HEADER: usize = BYTES;
    pub const BUFFER: usize = BYTES + 1024;
    pub const JOURNAL: usize = BUFFER + RamFlash::SECTOR;
    pub const JOURNAL_HEADER: usize = JOURNAL + JOURNAL_BYTES;
    /// The rest: more kernel heap (`spare_ram`).
    pub const SPARE: usize = JOURNAL_HEADER + 1024;
    pub const END: usize = 64 * 1024;
    const _: () = assert!(HEADER_LEN <= 1024 && SPARE <= END);
}

/// RAM flash of `len` bytes at `at` in QEMU's extra SRAM, whose header (see
/// [`RamFlash::adopt`]) is at `header_at`.
///
/// # Safety
/// `at..at + len` and the header's bytes must lie in QEMU's extra SRAM, overlap nothing else
/// handed out, and be taken only once (the caller runs once, under `init`'s `call_once`).
#[cfg(feature = "qemu")]
unsafe fn adopt_ram(at: usize, len: usize, header_at: usize) -> Option<RamFlash> {
    use core::ptr::NonNull;

    use volatile::VolatilePtr;
    use volatile::access::WriteOnly;
    use zb_hal::flash::HEADER_LEN;

    let header_at = QEMU_EXTRA_SRAM + header_at;
    let mut header = [0u8; HEADER_LEN];
    for (i, b) in header.iter_mut().enumerate() {
        // SAFETY: `header_at + i` lies in QEMU's extra SRAM (so it is not null), which only
        // this module uses, and nothing else accesses it while this runs. It is read as
        // volatile because its bytes were left by an earlier boot (or are QEMU's initial
        // zeros), not written by this program run; any bit pattern is a valid `u8`, and
        // `adopt` accepts only an exact match.
        let byte = unsafe {
            VolatilePtr::new_read_only(NonNull::new_unchecked((header_at + i) as *mut u8))
        };
        *b = byte.read();
    }
    // SAFETY: the caller's contract: this range is ours alone, for the rest of the program.
    // Its bytes are whatever an earlier boot left there (any bit pattern is a valid `u8`);
    // `adopt` erases them all unless the header shows that this layout wrote them.
    let mem = unsafe { core::slice::from_raw_parts_mut((QEMU_EXTRA_SRAM + at) as *mut u8, len) };
    let (flash, _blank) = RamFlash::adopt(mem, &mut header)?;
    for (i, &b) in header.iter().enumerate() {
        // SAFETY: as for the read above. The header is written after `adopt` erased the
        // region, so a reset in between leaves a header that reads as blank.
        let byte = unsafe {
            VolatilePtr::new_restricted(
                WriteOnly,
                NonNull::new_unchecked((header_at + i) as *mut u8),
            )
        };
        byte.write(b);
    }
    Some(flash)
}

#[cfg(feature = "qemu")]
fn make() -> Option<FlashBlocks<Flash>> {
    use qemu_layout::{BUFFER, DATA, DATA_HEADER};

    // SAFETY: the buffer lies in QEMU's extra SRAM apart from every other range of
    // `qemu_layout`, and `make` runs once (`init`'s `call_once`), so this is the only
    // reference ever made to it. It is zeroed before the slice is made.
    let buffer = unsafe {
        let ptr = (QEMU_EXTRA_SRAM + BUFFER) as *mut u8;
        ptr.write_bytes(0, RamFlash::SECTOR);
        core::slice::from_raw_parts_mut(ptr, RamFlash::SECTOR)
    };
    // SAFETY: `/data`'s range and header in `qemu_layout`, taken only here.
    let flash = unsafe { adopt_ram(DATA, BYTES, DATA_HEADER) }?;
    FlashBlocks::new(flash, buffer, DRIVER)
}

#[cfg(feature = "qemu")]
fn make_journal() -> Option<NorLog<Flash>> {
    use qemu_layout::{JOURNAL, JOURNAL_HEADER};
    // SAFETY: the journal's range and header in `qemu_layout`, taken only here.
    let flash = unsafe { adopt_ram(JOURNAL, JOURNAL_BYTES, JOURNAL_HEADER) }?;
    NorLog::new(flash, JOURNAL_SEGMENT, DRIVER)
}

#[cfg(not(feature = "qemu"))]
fn make_journal() -> Option<NorLog<Flash>> {
    NorLog::new(
        board::InternalFlash::take(board::JOURNAL)?,
        JOURNAL_SEGMENT,
        DRIVER,
    )
}

#[cfg(not(feature = "qemu"))]
fn make() -> Option<FlashBlocks<Flash>> {
    use core::mem::MaybeUninit;

    /// The read-modify-write buffer for one 16 KiB sector, in CCM RAM (see the module doc).
    #[unsafe(link_section = ".ccm.zb_flash_buffer")]
    static mut BUFFER: MaybeUninit<[u8; BYTES]> = MaybeUninit::uninit();

    // The CCM's clock is on after reset; make sure of it before the first access.
    // SAFETY: the RCC register block is at a fixed address; only `init`-time code (this, the
    // clock and the serial setup, one after the other) changes AHB1ENR, so this
    // read-modify-write races with nothing.
    let rcc = unsafe { &*stm32f4::stm32f405::RCC::ptr() };
    rcc.ahb1enr().modify(|_, w| w.ccmdataramen().set_bit());

    let buffer_ptr = (&raw mut BUFFER).cast::<u8>();
    // SAFETY: `make` runs once (`init`'s `call_once`), so this is the only reference ever made
    // to the buffer; it is zeroed (initialised) before the slice is made, and lives for the
    // rest of the program. CCM is plain RAM on the STM32F405/F407 (clocked just above).
    let buffer = unsafe {
        buffer_ptr.write_bytes(0, BYTES);
        core::slice::from_raw_parts_mut(buffer_ptr, BYTES)
    };
    FlashBlocks::new(board::InternalFlash::take(board::DATA)?, buffer, DRIVER)
}

#[cfg(not(feature = "qemu"))]
mod board {
    //! NOR flash on the STM32F4's own flash memory: sectors 1-3, programmed through the FLASH
    //! interface registers (RM0090 §3.6: unlock with the two keys; sector erase with SER/SNB/STRT;
    //! programming with PG, 32 bits at a time; wait for BSY to clear; check the error flags;
    //! lock again). 32-bit parallelism (PSIZE = x32) needs a 2.7–3.6 V supply, which the
    //! boards this HAL targets have.
    //!
    //! While an erase (up to 0.5 s for 16 KiB) or a program runs, the CPU stalls on its next
    //! fetch from flash — all code runs from flash — and interrupts wait with it; console input
    //! arriving meanwhile may be lost. Every write is read back.

    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicU8, Ordering};

    use embedded_storage::nor_flash::{
        ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
    };
    use stm32f4::stm32f405::{FLASH, flash};
    use volatile::VolatilePtr;
    use volatile::access::WriteOnly;

    /// Bytes in each of flash sectors 0-3.
    const SECTOR_BYTES: usize = 16 * 1024;

    /// Consecutive 16 KiB flash sectors (among 1-3) that hold no code: `memory.x` starts code
    /// at sector 4.
    #[derive(Clone, Copy)]
    pub struct Region {
        base: usize,
        first_sector: u8,
        sectors: u8,
    }

    /// `/data`: sector 1.
    pub const DATA: Region = Region {
        base: 0x0800_4000,
        first_sector: 1,
        sectors: 1,
    };
    /// The journal: sectors 2 and 3.
    pub const JOURNAL: Region = Region {
        base: 0x0800_8000,
        first_sector: 2,
        sectors: 2,
    };
    const KEY1: u32 = 0x4567_0123;
    const KEY2: u32 = 0xCDEF_89AB;
    /// FLASH_SR error flags: PGSERR, PGPERR, PGAERR, WRPERR, OPERR (write 1 to clear).
    const SR_ERRORS: u32 = 0b1111_0010;
    /// FLASH_SR end of operation (write 1 to clear).
    const SR_EOP: u32 = 1;
    /// Longest wait for one operation: a 16 KiB sector erase takes at most 0.5 s.
    const TIMEOUT_US: u64 = 2_000_000;

    /// A [`Region`] as NOR flash. There is one per region: [`InternalFlash::take`].
    pub struct InternalFlash {
        region: Region,
    }

    /// Bit `n`: sector `n`'s region is taken.
    static TAKEN: AtomicU8 = AtomicU8::new(0);

    fn regs() -> &'static flash::RegisterBlock {
        // SAFETY: the FLASH interface's register block is at a fixed address and lives
        // forever; only the one `InternalFlash` (behind the block adapter's lock) uses it.
        unsafe { &*FLASH::ptr() }
    }

    impl InternalFlash {
        /// The flash of `region`, once.
        pub fn take(region: Region) -> Option<InternalFlash> {
            let bit = 1u8 << region.first_sector;
            (TAKEN.fetch_or(bit, Ordering::AcqRel) & bit == 0).then_some(InternalFlash { region })
        }

        /// Waits until no operation runs (BSY clear); a timeout is an error.
        fn idle(&self) -> Result<(), NorFlashErrorKind> {
            let f = regs();
            let start = crate::clock::now_us();
            while f.sr().read().bsy().bit_is_set() {
                if crate::clock::now_us().wrapping_sub(start) > TIMEOUT_US {
                    return Err(NorFlashErrorKind::Other);
                }
            }
            Ok(())
        }

        /// Clears SR's error and end-of-operation flags, returning the error flags that were
        /// set.
        fn clear_flags(&self) -> u32 {
            let f = regs();
            let sr = f.sr().read().bits();
            // SAFETY: writing ones to SR's error and EOP flags only clears them; the other
            // bits are read-only or reserved and written as zero.
            f.sr()
                .write(|w| unsafe { w.bits(sr & (SR_ERRORS | SR_EOP)) });
            sr & SR_ERRORS
        }

        /// Waits for the operation just started to end; an error flag or a timeout is an
        /// error.
        fn finish(&self) -> Result<(), NorFlashErrorKind> {
            self.idle()?;
            match self.clear_flags() {
                0 => Ok(()),
                _ => Err(NorFlashErrorKind::Other),
            }
        }

        /// Waits until no operation runs, clears stale flags (left by a debugger or an earlier
        /// failure) and unlocks FLASH_CR.
        fn unlock(&self) -> Result<(), NorFlashErrorKind> {
            let f = regs();
            self.idle()?;
            self.clear_flags();
            if f.cr().read().lock().bit_is_set() {
                f.keyr().write(|w| w.key().set(KEY1));
                f.keyr().write(|w| w.key().set(KEY2));
            }
            if f.cr().read().lock().bit_is_set() {
                return Err(NorFlashErrorKind::Other);
            }
            Ok(())
        }

        /// Locks FLASH_CR again and drops stale flash data from the data cache (if it is on).
        fn lock(&self) {
            let f = regs();
            f.cr()
                .modify(|_, w| w.pg().clear_bit().ser().clear_bit().lock().set_bit());
            if f.acr().read().dcen().bit_is_set() {
                // RM0090 §3.5.2: the data cache is reset only while it is disabled.
                f.acr().modify(|_, w| w.dcen().clear_bit());
                f.acr().modify(|_, w| w.dcrst().set_bit());
                f.acr().modify(|_, w| w.dcrst().clear_bit());
                f.acr().modify(|_, w| w.dcen().set_bit());
            }
        }

        /// Erases the region's `n`th sector.
        fn erase_sector(&self, n: u8) -> Result<(), NorFlashErrorKind> {
            let sector = self.region.first_sector + n;
            self.unlock()?;
            let f = regs();
            // SAFETY: SNB selects one of the region's sectors, which memory.x keeps free of
            // code and data (sectors 1-3).
            f.cr()
                .modify(|_, w| unsafe { w.psize().psize32().ser().set_bit().snb().bits(sector) });
            f.cr().modify(|_, w| w.strt().set_bit());
            let result = self.finish();
            self.lock();
            result
        }

        /// Programs whole words (`check_write` made `bytes` a whole number of them).
        fn program(&self, offset: usize, bytes: &[u8]) -> Result<(), NorFlashErrorKind> {
            let (words, _) = bytes.as_chunks::<4>();
            self.unlock()?;
            let f = regs();
            f.cr().modify(|_, w| w.psize().psize32().pg().set_bit());
            let mut result = Ok(());
            for (i, word) in words.iter().enumerate() {
                let value = u32::from_le_bytes(*word);
                let addr = (self.region.base + offset + 4 * i) as *mut u32;
                // SAFETY: `addr` is a word-aligned address inside the region (offset and length
                // were checked against the capacity and the word size; the region is at
                // 0x0800_4000 and up, so not null), which holds no code or data of the program
                // and which only this `InternalFlash` accesses; with PG set, a word write there
                // programs it.
                let word =
                    unsafe { VolatilePtr::new_restricted(WriteOnly, NonNull::new_unchecked(addr)) };
                word.write(value);
                result = self.finish();
                if result.is_err() {
                    break;
                }
            }
            self.lock();
            result?;
            // Read back: programming cannot set bits, so a word that was not erased shows.
            let mut back = [0u8; 4];
            for (i, word) in words.iter().enumerate() {
                self.read_into(offset + 4 * i, &mut back);
                if back != *word {
                    return Err(NorFlashErrorKind::Other);
                }
            }
            Ok(())
        }

        fn read_into(&self, offset: usize, bytes: &mut [u8]) {
            for (i, b) in bytes.iter_mut().enumerate() {
                let addr = (self.region.base + offset + i) as *mut u8;
                // SAFETY: inside the region (the caller checked the range; it is at
                // 0x0800_4000 and up, so not null), which is always readable memory and which
                // only this `InternalFlash` accesses; volatile because erasing and programming
                // change it behind the compiler's back.
                let byte = unsafe { VolatilePtr::new_read_only(NonNull::new_unchecked(addr)) };
                *b = byte.read();
            }
        }
    }

    impl ErrorType for InternalFlash {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for InternalFlash {
        const READ_SIZE: usize = 1;

        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            check_read(self, offset, bytes.len())?;
            self.read_into(offset as usize, bytes);
            Ok(())
        }

        fn capacity(&self) -> usize {
            usize::from(self.region.sectors) * SECTOR_BYTES
        }
    }

    impl NorFlash for InternalFlash {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = SECTOR_BYTES;

        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            check_erase(self, from, to)?;
            // `check_erase` made both ends whole sectors inside the region.
            let first = from as usize / SECTOR_BYTES;
            let end = to as usize / SECTOR_BYTES;
            for n in first..end {
                self.erase_sector(n as u8)?;
            }
            Ok(())
        }

        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            check_write(self, offset, bytes.len())?;
            self.program(offset as usize, bytes)
        }
    }
}
