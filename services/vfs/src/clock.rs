//! Timestamps for FAT: seconds since boot, stored as a FAT date counted from 1980-01-01.
//!
//! Job: FAT directory entries hold a calendar date and time, the system only knows the time
//! since boot (`Stat::mtime` is "seconds since boot of the system that wrote it"). A write at
//! uptime `s` is stamped 1980-01-01 00:00:00 + `s` (2-second resolution), and `stat` turns it
//! back into `s`; files written by another system show whatever their date means here.
//!
//! hadris-fat asks a `&'static` [`TimeProvider`] for "now", so the current uptime lives in
//! one atomic that the service updates at every request ([`set_now`]).
//!
//! Invariants: [`to_secs`]`(`[`from_secs`]`(s))` is `s` rounded down to even seconds for
//! every `s` up to the end of 2107 (FAT's last year); later times clamp to it; malformed
//! dates on disk decode to some value, never a panic.

use core::sync::atomic::{AtomicU32, Ordering};

use hadris_fat::time::{FatDateTime, TimeProvider};
use zb_abi::time::{civil_from_days, days_from_civil};

/// Seconds since boot, as of the request being served.
static NOW: AtomicU32 = AtomicU32::new(0);

/// Days from 1970-01-01 to 1980-01-01.
const EPOCH_DAYS: i64 = 3652;
/// The last second FAT can represent: 2107-12-31 23:59:58.
const MAX_SECS: u64 = (days_from_civil(2107, 12, 31) - EPOCH_DAYS) as u64 * 86400 + 86398;

/// Records the time of the request being served.
pub fn set_now(secs: u64) {
    NOW.store(u32::try_from(secs).unwrap_or(u32::MAX), Ordering::Relaxed);
}

/// The clock hadris-fat stamps new and written entries with.
#[derive(Debug)]
pub struct Uptime;

/// The one instance (hadris wants a `&'static`).
pub static UPTIME: Uptime = Uptime;

impl TimeProvider for Uptime {
    fn now(&self) -> FatDateTime {
        from_secs(u64::from(NOW.load(Ordering::Relaxed)))
    }
}

/// Uptime seconds as a FAT date and time.
pub fn from_secs(secs: u64) -> FatDateTime {
    let secs = secs.min(MAX_SECS);
    let days = (secs / 86400) as i64 + EPOCH_DAYS;
    let (y, m, d) = civil_from_days(days);
    let rem = secs % 86400;
    FatDateTime::new(
        y as u16,
        m as u8,
        d as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
}

/// A FAT date and time as uptime seconds.
pub fn to_secs(dt: FatDateTime) -> u64 {
    let y = 1980 + i64::from(dt.date >> 9);
    let m = i64::from((dt.date >> 5) & 0xF).clamp(1, 12);
    let d = i64::from(dt.date & 0x1F).max(1);
    let days = (days_from_civil(y, m, d) - EPOCH_DAYS).max(0) as u64;
    let h = u64::from(dt.time >> 11);
    let min = u64::from((dt.time >> 5) & 0x3F);
    let s = u64::from(dt.time & 0x1F) * 2;
    days * 86400 + h * 3600 + min * 60 + s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(from_secs(0), FatDateTime::EPOCH);
        let mut s = 0u64;
        while s < MAX_SECS {
            assert_eq!(to_secs(from_secs(s)), s & !1, "{s}");
            s = s * 3 + 7;
        }
        for s in [
            59,
            60,
            3599,
            86399,
            86400,
            31 * 86400,
            366 * 86400,
            MAX_SECS,
        ] {
            assert_eq!(to_secs(from_secs(s)), s & !1, "{s}");
        }
        assert_eq!(to_secs(from_secs(u64::MAX)), MAX_SECS);
        // Garbage on disk decodes without panicking.
        for date in [0u16, 0xFFFF, 0x1F, 0x1E0] {
            let _ = to_secs(FatDateTime::from_raw(date, 0xFFFF, 0));
        }
    }
}
