//! Time: the PIT drives a 1 kHz tick that wakes an idle CPU; the TSC gives microsecond time.
//!
//! The TSC is read at kernel entry ([`mark_entry`]) so that "time since entry" covers the whole
//! bring-up, and is calibrated once against PIT channel 2 (a 10 ms one-shot) because neither
//! firmware nor QEMU reliably reports its frequency. Until calibration, time reads as 0.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;
use zb_hal::Clock;

/// The PIT's input clock.
const PIT_HZ: u64 = 1_193_182;
pub const TICK_HZ: u32 = 1000;
const CALIBRATION_MS: u64 = 10;

static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

pub struct TscClock;
pub static CLOCK: TscClock = TscClock;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; every x86_64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub fn mark_entry() {
    ENTRY_TSC.store(rdtsc(), Ordering::Relaxed);
}

pub(crate) fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Programs PIT channel 0 as a rate generator at [`TICK_HZ`].
pub fn init_tick() {
    let divisor = (PIT_HZ / u64::from(TICK_HZ)) as u16;
    // SAFETY: ports 0x43/0x40 are the PIT's command and channel-0 data ports.
    unsafe {
        Port::<u8>::new(0x43).write(0b0011_0100); // channel 0, lo/hi byte, mode 2, binary
        let mut ch0 = Port::<u8>::new(0x40);
        ch0.write(divisor as u8);
        ch0.write((divisor >> 8) as u8);
    }
}

/// Measures the TSC frequency against a PIT channel-2 one-shot; returns Hz.
pub fn calibrate_tsc() -> u64 {
    let count = (PIT_HZ * CALIBRATION_MS / 1000) as u16;
    let mut control = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut ch2 = Port::<u8>::new(0x42);
    // SAFETY: port 0x61 bit 0 gates PIT channel 2 and bit 1 drives the speaker (kept off);
    // bit 5 reads channel 2's output. Ports 0x43/0x42 program channel 2 only.
    let hz = unsafe {
        let gate = control.read();
        control.write((gate & !0x02) | 0x01);
        command.write(0b1011_0000); // channel 2, lo/hi byte, mode 0 (one-shot), binary
        ch2.write(count as u8);
        ch2.write((count >> 8) as u8);
        let start = rdtsc();
        let mut spins: u64 = 0;
        while control.read() & 0x20 == 0 && spins < 100_000_000 {
            spins += 1;
        }
        let end = rdtsc();
        control.write(gate);
        (end - start) * 1000 / CALIBRATION_MS
    };
    // A PC without a working channel 2 would give nonsense: fall back to 1 GHz, never 0.
    let hz = if hz < 1_000_000 { 1_000_000_000 } else { hz };
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

impl Clock for TscClock {
    fn now_us(&self) -> u64 {
        let hz = TSC_HZ.load(Ordering::Relaxed);
        if hz == 0 {
            return 0;
        }
        let elapsed = rdtsc().wrapping_sub(ENTRY_TSC.load(Ordering::Relaxed));
        (u128::from(elapsed) * 1_000_000 / u128::from(hz)) as u64
    }

    fn cycles(&self) -> u64 {
        rdtsc()
    }

    fn tick_hz(&self) -> u32 {
        TICK_HZ
    }
}
