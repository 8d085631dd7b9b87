//! The PC's real-time clock (the MC146818-compatible CMOS RTC at ports 0x70/0x71), read once at
//! boot for wall-clock time: UTC as the RTC keeps it (QEMU's default; a PC whose RTC keeps
//! local time reads that instead).
//!
//! Invariants: reads are retried until two consecutive reads agree and no update is in
//! progress (bounded: after that many tries there is no time rather than a wrong one); a value
//! that is not a valid date is no time, never a panic.

use x86_64::instructions::port::Port;

/// CMOS registers.
const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const STATUS_A: u8 = 0x0A;
const STATUS_B: u8 = 0x0B;
/// Set in status A while the RTC is updating its registers.
const UPDATE_IN_PROGRESS: u8 = 0x80;
/// Status B: values are binary (not BCD); hours are 24-hour.
const BINARY: u8 = 0x04;
const HOURS_24: u8 = 0x02;

fn read(reg: u8) -> u8 {
    let mut index = Port::<u8>::new(0x70);
    let mut data = Port::<u8>::new(0x71);
    // SAFETY: ports 0x70/0x71 are the CMOS index and data ports on every PC; selecting a
    // register (with NMIs left as they are: bit 7 clear) and reading it has no other effect.
    // Only this module touches them, once, during boot on one CPU.
    unsafe {
        index.write(reg);
        data.read()
    }
}

/// The RTC's fields: (year within century, month, day, hour, minute, second), raw.
fn fields() -> [u8; 6] {
    [
        read(YEAR),
        read(MONTH),
        read(DAY),
        read(HOURS),
        read(MINUTES),
        read(SECONDS),
    ]
}

/// UNIX seconds now, from the RTC; `None` if it does not give a consistent, valid time.
pub fn unix_seconds() -> Option<u64> {
    let mut last = None;
    for _ in 0..1000 {
        if read(STATUS_A) & UPDATE_IN_PROGRESS != 0 {
            continue;
        }
        let now = fields();
        if last == Some(now) {
            return decode(now, read(STATUS_B));
        }
        last = Some(now);
    }
    None
}

/// Turns raw RTC fields into UNIX seconds (years 2000-2099).
fn decode(raw: [u8; 6], status_b: u8) -> Option<u64> {
    let bcd = status_b & BINARY == 0;
    let value = |v: u8| if bcd { (v >> 4) * 10 + (v & 0x0F) } else { v };
    let [year, month, day, hour_raw, minute, second] = raw;
    let pm = status_b & HOURS_24 == 0 && hour_raw & 0x80 != 0;
    let mut hour = value(hour_raw & 0x7F);
    if status_b & HOURS_24 == 0 {
        hour %= 12;
        if pm {
            hour += 12;
        }
    }
    let (year, month, day) = (2000 + i64::from(value(year)), value(month), value(day));
    let (minute, second) = (value(minute), value(second));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = zb_hal::days_from_civil(year, u32::from(month), u32::from(day));
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(secs).ok()
}
