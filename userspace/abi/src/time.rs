//! Calendar time in UTC: days ↔ dates (proleptic Gregorian, H. Hinnant's algorithms), and
//! the one text form the system prints and reads, `YYYY-MM-DD HH:MM:SS`.
//!
//! Shared by the kernel (boot banner, cron), the vfs service (FAT timestamps) and the shell
//! (`date`), so that all of them agree on every date. Allocation-free; no panics on any input.

use core::fmt;

/// Days since 1970-01-01 of the date `y`-`m`-`d` (`m` 1–12; not checked: see [`parse_utc`]).
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1–12, day 1–31) of a day count since 1970-01-01.
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The last second [`parse_utc`] accepts: 9999-12-31 23:59:59.
pub const LAST_SECOND: u64 = 253_402_300_799;

/// UNIX seconds shown as `YYYY-MM-DD HH:MM:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc(pub u64);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d) = civil_from_days((self.0 / 86_400) as i64);
        let s = self.0 % 86_400;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// Reads `YYYY-MM-DD HH:MM[:SS]` (or with `T` between date and time, and an optional
/// trailing `Z`) as UNIX seconds; `None` unless it is a real date and time from 1970 to
/// 9999.
pub fn parse_utc(text: &str) -> Option<u64> {
    let text = text.trim().strip_suffix('Z').unwrap_or(text.trim());
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut date = date.split('-');
    let (y, m, d) = (date.next()?, date.next()?, date.next()?);
    if date.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let mut time = time.trim_start().split(':');
    let (h, mi, s) = (time.next()?, time.next()?, time.next().unwrap_or("00"));
    if time.next().is_some() || [h, mi, s].iter().any(|p| p.len() != 2) {
        return None;
    }
    let num = |p: &str| -> Option<u64> {
        p.bytes().try_fold(0u64, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    let (h, mi, s) = (num(h)?, num(mi)?, num(s)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d == 0 || d > month_days {
        return None;
    }
    let days = days_from_civil(y as i64, m as i64, d as i64) as u64;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    #[test]
    fn dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        for days in [-1, 0, 59, 365, 11_016, 19_782, 20_793, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn the_text_form_is_read_and_written_alike() {
        let t = parse_utc("2026-12-06 10:35:07").expect("parses");
        assert_eq!(format!("{}", Utc(t)), "2026-12-06 10:35:07");
        assert_eq!(parse_utc("2026-12-06T10:35:07Z"), Some(t));
        assert_eq!(parse_utc("2026-12-06 10:35"), Some(t - 7));
        assert_eq!(parse_utc("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_utc("9999-12-31 23:59:59"), Some(LAST_SECOND));
        assert_eq!(parse_utc("2024-02-29 12:00"), Some(1_709_208_000));
    }

    #[test]
    fn impossible_times_are_refused() {
        for bad in [
            "",
            "2026-12-06",
            "2026-13-01 00:00",
            "2026-02-29 00:00",
            "2026-04-31 00:00",
            "2026-12-00 00:00",
            "2026-12-06 24:00",
            "2026-12-06 10:60",
            "2026-12-06 10:00:60",
            "1969-12-31 23:59",
            "26-12-06 10:00",
            "2026-12-06 1:00",
            "2026-12-06 10:00:00:00",
            "2026-1x-06 10:00",
            "+026-12-06 10:00",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad:?}");
        }
    }
}
