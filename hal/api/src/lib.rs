//! The ZeroBus OS hardware abstraction layer: what the kernel needs from a platform.
//!
//! The kernel sees a machine only as a [`Platform`]: a console byte stream, a monotonic clock
//! with a periodic tick, interrupt control and an idle wait, a memory report and power control.
//! Each platform crate (`hal/x86_64`, `hal/stm32f4`, later `hal/wasm`) implements it once; the
//! kernel never names a platform.
//!
//! Three pieces of mechanism are shared by every bare-metal platform and live here so they exist
//! once: [`InputRing`], the interrupt-to-kernel byte queue, [`SerialConsole`], a UART console
//! built on it, and [`KernelHeap`], the global allocator with usage statistics. [`LogQueue`]
//! is the `log` crate's logger a boot crate installs, drained by the kernel into its system log.
//!
//! Invariants: every trait method is callable from the kernel's main context at any time;
//! methods documented as interrupt-safe may also be called from interrupt handlers.
#![no_std]

extern crate alloc;

pub mod flash;
mod heap;
pub mod log;
pub mod logger;
mod ring;
mod serial;

pub use heap::KernelHeap;
pub use logger::{LogDrain, LogQueue};

/// Days from 1970-01-01 to the given date (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
pub use ring::InputRing;
pub use serial::SerialConsole;

/// A platform: the one object the kernel receives from its boot crate.
pub trait Platform: Sync {
    /// Platform name as users see it: `x86_64`, `stm32f4`, `web`.
    fn name(&self) -> &'static str;
    /// One line describing the machine, e.g. `PC, 4 CPUs (only CPU 0 used)`.
    fn machine(&self) -> &'static str;
    fn console(&self) -> &dyn Console;
    fn clock(&self) -> &dyn Clock;
    fn cpu(&self) -> &dyn Cpu;
    fn memory(&self) -> MemoryReport;
    fn power(&self) -> &dyn Power;
    /// The platform's persistent block device (the disk behind `/data`), if it has one.
    fn block(&self) -> Option<&dyn BlockDevice> {
        None
    }
    /// The platform's network card, if it has one.
    fn net(&self) -> Option<&dyn NetDevice> {
        None
    }
    /// The kernel heap, when it is a [`KernelHeap`] (every bare-metal platform's): the three
    /// questions below are put to it.
    fn heap(&self) -> Option<&KernelHeap> {
        None
    }
    /// Whether the kernel heap had to spend its reserve since the last call (see
    /// [`KernelHeap::arm_reserve`]); the reserve is armed again when there is room.
    fn heap_reserve_spent(&self) -> bool {
        self.heap().is_some_and(KernelHeap::reserve_spent)
    }
    /// Whether the kernel heap has free blocks of `sizes` bytes, all at once, now (taking
    /// nothing).
    fn heap_fits(&self, sizes: &[usize]) -> bool {
        self.heap().is_none_or(|h| h.fits(sizes))
    }
    /// Whether the kernel heap's reserve is armed (armed now if it can be): the kernel starts
    /// no new run while it is not.
    fn heap_reserve_ready(&self) -> bool {
        self.heap().is_none_or(KernelHeap::reserve_ready)
    }
    /// UNIX seconds now, from a real-time clock, if the platform has one (read at boot: cron
    /// timers need the date).
    fn wall_clock_secs(&self) -> Option<u64> {
        None
    }
    /// The region the event journal lives in (a second disk, flash sectors), if there is one.
    fn journal(&self) -> Option<&dyn log::LogStorage> {
        None
    }
    /// The drivers in use, by catalog name (`uart16550`, `virtio-blk`, …), for the kernel's
    /// registry of kinds (`zb_abi::kind::driver_kind` maps a name to its KindId).
    fn drivers(&self) -> &'static [&'static str] {
        &[]
    }
    /// The arguments the machine was started with (`key=value` words), from outside the
    /// image: QEMU's fw_cfg on a PC, the page's query in a browser. Read once, at boot.
    fn boot_args(&self) -> &'static str {
        ""
    }
}

/// The console line (a UART on hardware).
pub trait Console: Sync {
    /// Writes all bytes, blocking until the device has accepted them. Interrupt-safe.
    fn write(&self, bytes: &[u8]);
    /// Moves received bytes into `buf`; returns how many (0 when nothing is pending).
    fn read(&self, buf: &mut [u8]) -> usize;
    /// Whether received bytes are waiting. Interrupt-safe.
    fn has_input(&self) -> bool;
    /// Bytes dropped since boot because input arrived faster than the kernel read it.
    fn dropped(&self) -> u64;
    /// Writes directly to the device, ignoring locks, for the panic path only, when the normal
    /// path may be held by the code that panicked.
    fn write_panic(&self, bytes: &[u8]);
    /// Bytes the device takes now without falling behind its reader. A UART's `write` waits
    /// for the line, so it has no limit (the default); a terminal whose writes never wait (a
    /// browser page, which renders what it is sent at its own pace) says how much it has
    /// not yet shown, and the console service holds output back while this is 0.
    fn room(&self) -> usize {
        usize::MAX
    }
}

/// Time.
pub trait Clock: Sync {
    /// Microseconds since kernel entry. Monotonic. Interrupt-safe.
    fn now_us(&self) -> u64;
    /// A free-running cycle count (TSC on x86_64, derived from the core clock elsewhere), for
    /// benchmarks. Interrupt-safe.
    fn cycles(&self) -> u64;
    /// Frequency of the periodic tick that wakes an idle CPU, in Hz.
    fn tick_hz(&self) -> u32;
}

/// The CPU: interrupt masking and idling.
pub trait Cpu: Sync {
    /// Masks interrupts; returns whether they were enabled before.
    fn disable_interrupts(&self) -> bool;
    /// Unmasks interrupts.
    fn enable_interrupts(&self);
    /// Idles the CPU until an interrupt arrives, unless `work_pending` (checked with
    /// interrupts masked, so a wake-up between the check and the halt cannot be lost) says
    /// there is already something to do. Returns with interrupts enabled.
    fn idle(&self, work_pending: &dyn Fn() -> bool);
}

/// Power control.
pub trait Power: Sync {
    /// Stops the machine. Under QEMU it exits with status 0 (`success`) or 1.
    fn shutdown(&self, success: bool) -> !;
    /// Resets the machine.
    fn reboot(&self) -> !;
}

/// A snapshot of the machine's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Usable RAM reported by firmware or the board's memory map, in bytes.
    pub ram_total: u64,
    pub heap: HeapStats,
    /// Physical frames, on platforms with paging.
    pub frames: Option<FrameStats>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    pub used: usize,
    pub free: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub used: u64,
    pub total: u64,
    pub frame_size: u64,
}

/// A persistent store addressed in fixed-size blocks (a virtio-blk disk, internal flash behind
/// a block adapter, RAM standing in for flash under QEMU).
///
/// Invariants: `read`/`write` touch exactly `buf.len() / block_size` whole blocks starting at
/// `lba`; a buffer that is not a whole number of blocks, or a range past the end, is
/// [`BlockError::OutOfRange`] and touches nothing. Data written is durable once
/// [`BlockDevice::flush`] has returned `Ok`.
pub trait BlockDevice: Sync {
    /// Size, geometry and what the device is.
    fn info(&self) -> BlockInfo;
    /// Reads whole blocks starting at block `lba` into `buf`.
    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes whole blocks starting at block `lba` from `buf`.
    fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Makes every completed write durable (a disk cache flush, a flash program barrier).
    fn flush(&self) -> Result<(), BlockError>;
}

/// An Ethernet card: whole frames in and out (no checksum offload, no segmentation), polled.
///
/// `send` queues or sends one frame (at most [`NetDevice::mtu`] + 14 bytes) and returns when
/// the card has it; `receive` takes the oldest frame that arrived, if any, without waiting.
pub trait NetDevice: Sync {
    /// The card's hardware address.
    fn mac(&self) -> [u8; 6];
    /// Largest IP packet a frame carries.
    fn mtu(&self) -> usize {
        1500
    }
    /// The driver, for `ifconfig` and `kinds` (`virtio-net`).
    fn driver(&self) -> &'static str;
    fn send(&self, frame: &[u8]) -> Result<(), NetError>;
    /// Copies the next received frame into `buf`; its length (a frame longer than `buf` is
    /// dropped and counted as an error), or `None` if nothing arrived.
    fn receive(&self, buf: &mut [u8]) -> Option<usize>;
}

/// Why a [`NetDevice`] refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// Larger than the card takes.
    TooLarge,
    /// The card failed or is gone.
    Io,
}

/// What a [`BlockDevice`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Bytes per block (512 for a virtio-blk disk).
    pub block_size: u32,
    /// Number of blocks.
    pub blocks: u64,
    /// The driver, for `mount` and `kinds` (`virtio-blk`, `stm32-flash`, `ram-flash`).
    pub driver: &'static str,
    /// False if the device refuses writes.
    pub writable: bool,
}

/// Why a block operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// The buffer is not whole blocks, or the range runs past the device's end.
    OutOfRange,
    /// The device refused a write (read-only medium).
    ReadOnly,
    /// The device reported an I/O error.
    Io,
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_from_civil_counts_from_1970() {
        assert_eq!(super::days_from_civil(1970, 1, 1), 0);
        assert_eq!(super::days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(super::days_from_civil(2026, 11, 24), 20_781);
        assert_eq!(super::days_from_civil(1969, 12, 31), -1);
    }
}
