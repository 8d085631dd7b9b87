//! What the host examples share: a clock over `std::time::Instant`.

use std::sync::OnceLock;
use std::time::Instant;

use zb_hal::Clock;

pub struct HostClock(Instant);

impl Clock for HostClock {
    fn now_us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
    fn cycles(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
    fn tick_hz(&self) -> u32 {
        1000
    }
}

/// The process-wide host clock (time since its first use).
pub fn host_clock() -> &'static HostClock {
    static CLOCK: OnceLock<HostClock> = OnceLock::new();
    CLOCK.get_or_init(|| HostClock(Instant::now()))
}
