//! Timers: when `timer.*` events fire — once, at an interval, or on a cron schedule.
//!
//! Time comes in from outside: `now_us` is the kernel's monotonic clock (microseconds since
//! boot), and cron schedules are read against wall-clock seconds, `wall_at_boot_secs +
//! now_us / 10^6` (UNIX time; a platform without a real-time clock starts at 0, i.e. cron
//! then counts from 1970-01-01 00:00 UTC at boot).
//!
//! Invariants: an interval timer does not drift (its next time is the last *scheduled* time
//! plus the period) and a missed stretch fires once, not in a burst; a once timer fires once;
//! nothing here panics or grows past the limit it was made with.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A cron expression: `minute hour day-of-month month day-of-week` (UTC), each field `*`, a
/// number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those. Day of week 0-7
/// (0 and 7 are Sunday). As in Vixie cron, when both day fields are restricted a day matches
/// if either does — and a field that starts with `*` (`*`, `*/2`) counts as unrestricted, so
/// `0 0 */2 * 1` is odd-numbered Mondays, not odd days and Mondays. Names (`mon`, `jan`) are
/// not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronExpr {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The bits `lo..=hi` of one field's text.
fn field(text: &str, name: &str, lo: u32, hi: u32) -> Result<u64, CronError> {
    let bad = |why: &str| CronError(alloc::format!("{name} field {text:?}: {why}"));
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad("not a number"));
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, number(s)?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(bad("a step of 0"));
        }
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if step > 1 => (number(r)?, hi),
                None => {
                    let n = number(r)?;
                    (n, n)
                }
            },
        };
        if a < lo || b > hi || a > b {
            return Err(bad(&alloc::format!("out of range {lo}-{hi}")));
        }
        // `step` is any `u32`: stop rather than overflow past `b`.
        let mut v = Some(a);
        while let Some(n) = v.filter(|&n| n <= b) {
            bits |= 1 << n;
            v = n.checked_add(step);
        }
    }
    Ok(bits)
}

impl CronExpr {
    pub fn parse(text: &str) -> Result<CronExpr, CronError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [min, hour, dom, mon, dow] = fields[..] else {
            return Err(CronError(alloc::format!(
                "a cron expression has 5 fields (minute hour day month weekday), not {}",
                fields.len()
            )));
        };
        let mut weekdays = field(dow, "weekday", 0, 7)? as u8;
        if weekdays & 0x80 != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(CronExpr {
            minutes: field(min, "minute", 0, 59)?,
            hours: field(hour, "hour", 0, 23)? as u32,
            days: field(dom, "day", 1, 31)? as u32,
            months: field(mon, "month", 1, 12)? as u16,
            weekdays: weekdays & 0x7F,
            // Vixie cron's DOM_STAR/DOW_STAR: a field starting with `*` is not a restriction.
            days_restricted: !dom.starts_with('*'),
            weekdays_restricted: !dow.starts_with('*'),
        })
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let d = self.days & (1 << day) != 0;
        let w = self.weekdays & (1 << weekday) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => d || w,
            _ => d && w,
        }
    }

    /// The first minute boundary strictly after `unix_secs` that matches, in UNIX seconds;
    /// `None` if none does within about four years (e.g. `0 0 31 2 *`).
    pub fn next_after(&self, unix_secs: u64) -> Option<u64> {
        let mut t = (unix_secs / 60 + 1) * 60;
        let limit = unix_secs + 4 * 366 * 86_400 + 86_400;
        while t <= limit {
            let days = t / 86_400;
            let (_, month, day) = civil_from_days(days as i64);
            let weekday = ((days + 4) % 7) as u32; // 1970-01-01 was a Thursday
            if self.months & (1 << month) == 0 || !self.day_matches(day, weekday) {
                t = (days + 1) * 86_400; // next day, 00:00
                continue;
            }
            let secs = t % 86_400;
            let (hour, minute) = ((secs / 3600) as u32, (secs / 60 % 60) as u32);
            if self.hours & (1 << hour) == 0 {
                t = (t / 3600 + 1) * 3600; // next hour
                continue;
            }
            if self.minutes & (1 << minute) == 0 {
                t += 60;
                continue;
            }
            return Some(t);
        }
        None
    }
}

pub use zb_abi::time::civil_from_days;

/// When a timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Once, at `at_us` (kernel clock).
    Once {
        at_us: u64,
    },
    /// Every `period_us`, the first time at `first_us`.
    Every {
        period_us: u64,
        first_us: u64,
    },
    Cron(CronExpr),
}

/// A timer that fired: its name and the kernel time it was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub name: String,
    pub due_us: u64,
    /// How many times it has fired (1 the first time).
    pub count: u64,
}

struct Timer {
    name: String,
    schedule: Schedule,
    next_us: Option<u64>,
    count: u64,
    /// Who set it (a run's pid): what its share counts.
    owner: u32,
}

/// When `cron` next fires after kernel time `now_us`, the wall clock having read
/// `wall_at_boot_secs` at boot (kernel time 0).
fn cron_next(wall_at_boot_secs: u64, cron: &CronExpr, now_us: u64) -> Option<u64> {
    let next = cron.next_after(wall_at_boot_secs + now_us / 1_000_000)?;
    Some((next - wall_at_boot_secs).saturating_mul(1_000_000))
}

/// Most timers one run may have set that are still armed (its share of the table): one run
/// cannot take every timer from the others. Timers outlive the run that set them; those of a
/// run that ended count only towards the table's size.
pub const TIMER_SHARE: usize = 8;

/// The table of timers.
pub struct Timers {
    timers: Vec<Timer>,
    max: usize,
    /// What the wall clock read at boot (kernel time 0), once known: cron schedules need it.
    wall_at_boot_secs: Option<u64>,
}

impl Timers {
    /// An empty table; the wall clock is unknown until [`Timers::set_wall_clock`].
    pub fn new(max: usize) -> Timers {
        Timers {
            timers: Vec::new(),
            max,
            wall_at_boot_secs: None,
        }
    }

    /// What the wall clock read at boot, if it is known.
    pub fn wall_at_boot_secs(&self) -> Option<u64> {
        self.wall_at_boot_secs
    }

    /// When a cron schedule next fires after kernel time `now_us` (never while the wall clock
    /// is unknown).
    fn cron_next(&self, cron: &CronExpr, now_us: u64) -> Option<u64> {
        cron_next(self.wall_at_boot_secs?, cron, now_us)
    }

    /// The wall clock was set: it read `wall_at_boot_secs` at boot. Cron timers are scheduled
    /// again against it; intervals and once timers count kernel time and stay as they are.
    pub fn set_wall_clock(&mut self, wall_at_boot_secs: u64, now_us: u64) {
        self.wall_at_boot_secs = Some(wall_at_boot_secs);
        for t in &mut self.timers {
            if let Schedule::Cron(c) = &t.schedule {
                t.next_us = cron_next(wall_at_boot_secs, c, now_us);
            }
        }
        self.timers.retain(|t| t.next_us.is_some());
    }

    /// Adds timer `name`, set by `owner`; `Err` if the name is taken, the table is full, or
    /// `owner` has [`TIMER_SHARE`] timers already.
    pub fn add(
        &mut self,
        name: &str,
        schedule: Schedule,
        now_us: u64,
        owner: u32,
    ) -> Result<(), &'static str> {
        if self.timers.iter().any(|t| t.name == name) {
            return Err("a timer of that name exists");
        }
        let own = self.timers.iter().filter(|t| t.owner == owner).count();
        if self.timers.len() >= self.max || own >= TIMER_SHARE {
            return Err("too many timers (8 per run, 16 in all)");
        }
        let next_us = match schedule {
            Schedule::Once { at_us } => Some(at_us),
            Schedule::Every { first_us, .. } => Some(first_us),
            Schedule::Cron(c) => self.cron_next(&c, now_us),
        };
        self.timers.push(Timer {
            name: String::from(name),
            schedule,
            next_us,
            count: 0,
            owner,
        });
        Ok(())
    }

    /// Removes timer `name`; whether it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.timers.len();
        self.timers.retain(|t| t.name != name);
        self.timers.len() != before
    }

    /// The timers due at `now_us`, each once, and schedules their next time.
    pub fn due(&mut self, now_us: u64, out: &mut Vec<Fired>) {
        let wall = self.wall_at_boot_secs;
        for t in &mut self.timers {
            let Some(due) = t.next_us.filter(|&d| d <= now_us) else {
                continue;
            };
            t.count += 1;
            out.push(Fired {
                name: t.name.clone(),
                due_us: due,
                count: t.count,
            });
            t.next_us = match t.schedule {
                Schedule::Once { .. } => None,
                Schedule::Every { period_us, .. } => {
                    // The next scheduled time after now: no drift, no burst.
                    let period = period_us.max(1);
                    let missed = (now_us - due) / period;
                    Some(due + (missed + 1) * period)
                }
                Schedule::Cron(c) => wall.and_then(|w| cron_next(w, &c, now_us)),
            };
        }
        self.timers.retain(|t| t.next_us.is_some());
    }

    /// The earliest time a timer is due.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.iter().filter_map(|t| t.next_us).min()
    }

    /// Every timer: its name and when it is next due.
    pub fn list(&self) -> impl Iterator<Item = (&str, Option<u64>)> {
        self.timers.iter().map(|t| (t.name.as_str(), t.next_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UNIX seconds of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
        let days = zb_abi::time::days_from_civil(y, i64::from(mo), i64::from(d)) as u64;
        days * 86_400 + h * 3600 + mi * 60
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            civil_from_days(at(2024, 2, 29, 0, 0) as i64 / 86_400),
            (2024, 2, 29)
        );
        assert_eq!(
            civil_from_days(at(2026, 11, 24, 0, 0) as i64 / 86_400),
            (2026, 11, 24)
        );
    }

    /// Found by `cargo xtask fuzz --target timer`: a step near `u32::MAX` overflowed (a panic
    /// in debug builds; in release the sum wrapped and set minutes outside the range).
    #[test]
    fn huge_steps_do_not_overflow() {
        let once = CronExpr::parse("59 * * * *").unwrap();
        for text in ["59/4294967295 * * * *", "59-59/4294967295 * * * *"] {
            assert_eq!(CronExpr::parse(text), Ok(once), "{text}");
        }
        let one = CronExpr::parse("1 * * * *").unwrap();
        assert_eq!(CronExpr::parse("1-59/4294967295 * * * *"), Ok(one));
    }

    #[test]
    fn cron_expressions_find_the_next_time() {
        let cases = [
            (
                "* * * * *",
                at(2026, 11, 24, 10, 7),
                at(2026, 11, 24, 10, 8),
            ),
            (
                "*/15 * * * *",
                at(2026, 11, 24, 10, 7),
                at(2026, 11, 24, 10, 15),
            ),
            ("0 0 * * *", at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 0)),
            ("30 9 29 2 *", at(2025, 3, 1, 0, 0), at(2028, 2, 29, 9, 30)),
            (
                "0 12 * * 1-5",
                at(2026, 11, 28, 0, 0),
                at(2026, 11, 30, 12, 0),
            ), // Sat → Mon
            (
                "0 0 1,15 * *",
                at(2026, 11, 2, 0, 0),
                at(2026, 11, 15, 0, 0),
            ),
            // Both day fields restricted: either matches (the 13th, or any Friday).
            ("0 0 13 * 5", at(2026, 11, 1, 0, 0), at(2026, 11, 6, 0, 0)),
            ("0 0 * * 7", at(2026, 11, 24, 0, 0), at(2026, 11, 29, 0, 0)), // 7 is Sunday
            // A step from `*` is not a restriction: odd-numbered Mondays (Nov 30 is even).
            ("0 0 */2 * 1", at(2026, 11, 24, 0, 0), at(2026, 12, 7, 0, 0)),
            (
                "5-10/5 3 * * *",
                at(2026, 11, 24, 3, 5),
                at(2026, 11, 24, 3, 10),
            ),
        ];
        for (expr, from, want) in cases {
            let c = CronExpr::parse(expr).unwrap();
            assert_eq!(c.next_after(from), Some(want), "{expr}");
        }
        assert_eq!(CronExpr::parse("0 0 31 2 *").unwrap().next_after(0), None);
    }

    #[test]
    fn bad_cron_expressions_say_why() {
        for (expr, why) in [
            ("* * * *", "5 fields"),
            ("60 * * * *", "minute field \"60\": out of range 0-59"),
            ("* 24 * * *", "hour field"),
            ("*/0 * * * *", "a step of 0"),
            ("a * * * *", "not a number"),
            ("* * 0 * *", "day field"),
            ("5-1 * * * *", "out of range"),
        ] {
            let e = CronExpr::parse(expr).unwrap_err();
            assert!(e.0.contains(why), "{expr}: {e}");
        }
    }

    #[test]
    fn intervals_do_not_drift_or_burst_and_once_fires_once() {
        let mut t = Timers::new(4);
        t.add(
            "tick",
            Schedule::Every {
                period_us: 100,
                first_us: 100,
            },
            0,
            1,
        )
        .unwrap();
        t.add("once", Schedule::Once { at_us: 250 }, 0, 1).unwrap();
        assert_eq!(
            t.add("tick", Schedule::Once { at_us: 1 }, 0, 1),
            Err("a timer of that name exists")
        );
        let mut out = Vec::new();
        t.due(130, &mut out); // late: still scheduled from 100
        assert_eq!(out.len(), 1);
        assert_eq!(t.next_deadline(), Some(200));
        out.clear();
        t.due(260, &mut out);
        assert_eq!(
            out.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["tick", "once"]
        );
        out.clear();
        // A long stall: one firing, then back on the grid.
        t.due(1_050, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].count, 3);
        assert_eq!(t.next_deadline(), Some(1_100));
        assert_eq!(t.list().count(), 1, "the once timer is gone");
        assert!(t.remove("tick"));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn cron_timers_follow_the_wall_clock() {
        let boot = at(2026, 11, 24, 10, 7);
        let mut t = Timers::new(2);
        t.set_wall_clock(boot, 0);
        t.add(
            "hourly",
            Schedule::Cron(CronExpr::parse("0 * * * *").unwrap()),
            0,
            1,
        )
        .unwrap();
        // 11:00 is 53 minutes after boot.
        assert_eq!(t.next_deadline(), Some(53 * 60 * 1_000_000));
        let mut out = Vec::new();
        t.due(53 * 60 * 1_000_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(t.next_deadline(), Some((53 + 60) * 60 * 1_000_000));
    }

    #[test]
    fn setting_the_wall_clock_moves_cron_timers_only() {
        // A board without a clock: cron waits until it is told the time.
        let mut t = Timers::new(4);
        t.add(
            "daily",
            Schedule::Cron(CronExpr::parse("0 10 * * *").unwrap()),
            0,
            1,
        )
        .unwrap();
        t.add(
            "beat",
            Schedule::Every {
                period_us: 5_000_000,
                first_us: 5_000_000,
            },
            0,
            1,
        )
        .unwrap();
        assert_eq!(t.next_deadline(), Some(5_000_000));
        assert_eq!(t.list().next(), Some(("daily", None)));
        assert_eq!(t.wall_at_boot_secs(), None);
        // 30 s after boot it is told: 09:59:50 on 2026-12-06, so 10:00 is 10 s away.
        let now_us = 30_000_000;
        let wall_now = at(2026, 12, 6, 9, 59) + 50;
        t.set_wall_clock(wall_now - 30, now_us);
        let next: Vec<_> = t.list().collect();
        assert_eq!(next[0], ("daily", Some(40_000_000)));
        assert_eq!(next[1], ("beat", Some(5_000_000)), "interval timers stay");
        let mut out = Vec::new();
        t.due(40_000_000, &mut out);
        assert!(out.iter().any(|f| f.name == "daily"));
    }

    /// One run sets at most its share; another still can, up to the table's size.
    #[test]
    fn a_run_sets_at_most_its_share() {
        let mut t = Timers::new(16);
        let once = Schedule::Once { at_us: 1_000 };
        for i in 0..TIMER_SHARE {
            t.add(&alloc::format!("a{i}"), once, 0, 7).unwrap();
        }
        assert_eq!(
            t.add("a-more", once, 0, 7),
            Err("too many timers (8 per run, 16 in all)")
        );
        for i in 0..TIMER_SHARE {
            t.add(&alloc::format!("b{i}"), once, 0, 8).unwrap();
        }
        assert!(t.add("c0", once, 0, 9).is_err(), "the table is full");
        assert!(t.remove("a0"));
        t.add("a-again", once, 0, 7).unwrap();
    }
}
