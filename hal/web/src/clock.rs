//! Time in a browser: `performance.now()` (monotonic, from the worker's start) and `Date.now()`
//! (the wall clock, read once at boot for cron timers, as an RTC would be).
//!
//! There is no tick interrupt: when the kernel is idle the worker sets a timer for the
//! kernel's next deadline instead (the kernel's `Turn::Idle`). `tick_hz` reports the
//! resolution of the browser's timers (1 ms) for what the banner and `uptime` say.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::glue;

/// `performance.now()` at kernel entry, in microseconds (so `now_us` counts from boot).
static ORIGIN_US: AtomicU64 = AtomicU64::new(0);

pub struct WebClock;
pub static CLOCK: WebClock = WebClock;

pub(crate) fn init() {
    ORIGIN_US.store(raw_us(), Ordering::Relaxed);
}

fn raw_us() -> u64 {
    (glue::now_ms() * 1000.0) as u64
}

/// UNIX seconds now.
pub fn wall_secs() -> u64 {
    (glue::wall_ms() / 1000.0) as u64
}

impl zb_hal::Clock for WebClock {
    fn now_us(&self) -> u64 {
        raw_us().saturating_sub(ORIGIN_US.load(Ordering::Relaxed))
    }

    /// Nanoseconds (a 1 GHz virtual counter): the browser exposes no cycle counter.
    fn cycles(&self) -> u64 {
        (glue::now_ms() * 1_000_000.0) as u64
    }

    fn tick_hz(&self) -> u32 {
        1000
    }
}
