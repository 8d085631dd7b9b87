//! Fuzz target `timer`: the `timer` call's spec (`zb_abi::bus::TimerSpec::parse`,
//! `parse_duration_us`), cron expressions (`zb_bus::timer::CronExpr`: parsing and the next
//! firing time) and the date text `date -s` reads (`zb_abi::time::parse_utc`).
//!
//! The input is UTF-8 text: parsed whole as a spec, a duration and a date; its first line as a
//! cron expression, its second (a number of seconds or a date) as the time to search from.
//! Beyond "never panics" it asserts:
//! - a parsed spec keeps its rules (name, positive durations, five cron fields) and, written
//!   back (`<name> every <N>us run <program>`, …), parses to the same spec;
//! - a duration written back in microseconds reads the same;
//! - a date is 1970–9999 and `Utc`'s display of it reads back to the same second;
//! - `CronExpr::parse` accepts exactly what a model of the documented grammar accepts, and
//!   `next_after(t)` is the first minute after `t` that the model's fields match (searched day
//!   by day, hour by hour, minute by minute up to the same four-year horizon).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_abi::bus::{TimerSpec, TimerWhen, parse_duration_us};
use zb_abi::time::{LAST_SECOND, Utc, civil_from_days, parse_utc};
use zb_bus::timer::CronExpr;

/// Search start times stay below this (about the year 4100): the kernel's wall clock is a
/// real date, and the search adds four years to it.
const LATEST: u64 = 1 << 36;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_spec(text);
    if let Some(us) = parse_duration_us(text) {
        assert!(us > 0);
        assert_eq!(parse_duration_us(&format!("{us}us")), Some(us));
    }
    if let Some(t) = parse_utc(text) {
        assert!(t <= LAST_SECOND);
        let shown = Utc(t).to_string();
        assert_eq!(parse_utc(&shown), Some(t), "{shown}");
    }
    let mut lines = text.split('\n');
    let cron = lines.next().unwrap_or_default();
    let from = lines.next().and_then(|l| {
        l.trim()
            .parse::<u64>()
            .ok()
            .or_else(|| parse_utc(l))
            .map(|t| t % LATEST)
    });
    check_cron(cron, from);
});

fn check_spec(text: &str) {
    let Ok(spec) = TimerSpec::parse(text) else {
        return;
    };
    assert!(!spec.name.is_empty() && spec.name.len() <= 32);
    assert!(!spec.name.contains(['.', '*', '>']));
    let when = match spec.when {
        TimerWhen::Every { us } | TimerWhen::After { us } => {
            assert!(us > 0);
            let word = if matches!(spec.when, TimerWhen::Every { .. }) {
                "every"
            } else {
                "after"
            };
            format!("{word} {us}us")
        }
        TimerWhen::Cron(fields) => {
            assert!(fields.iter().all(|f| !f.is_empty()));
            let _ = CronExpr::parse(&fields.join(" "));
            format!("cron {}", fields.join(" "))
        }
        TimerWhen::Off => {
            assert!(spec.run.is_none());
            "off".into()
        }
    };
    let run = spec.run.map(|p| format!(" run {p}")).unwrap_or_default();
    let again = format!("{} {when}{run}", spec.name);
    assert_eq!(
        TimerSpec::parse(&again),
        Ok(spec),
        "re-written as {again:?}"
    );
}

/// One cron field as the documentation describes it: `*`, `n`, `a-b`, `*/s`, `a-b/s`, `n/s`
/// (from n to the end), comma lists; the set of values, or `None` if it is refused.
fn model_field(text: &str, lo: u32, hi: u32) -> Option<u64> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok()?),
            None => (part, 1),
        };
        if step == 0 {
            return None;
        }
        let (a, b) = match range.split_once('-') {
            _ if range == "*" => (lo, hi),
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None if step > 1 => (range.parse::<u32>().ok()?, hi),
            None => {
                let n = range.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if a < lo || b > hi || a > b {
            return None;
        }
        for v in (a..=b).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Some(bits)
}

struct Model {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl Model {
    fn parse(text: &str) -> Option<Model> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [min, hour, dom, mon, dow] = f[..] else {
            return None;
        };
        let mut weekdays = model_field(dow, 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Some(Model {
            minutes: model_field(min, 0, 59)?,
            hours: model_field(hour, 0, 23)?,
            days: model_field(dom, 1, 31)?,
            months: model_field(mon, 1, 12)?,
            weekdays,
            // Vixie cron: a day field starting with `*` (`*`, `*/n`) is not a restriction.
            days_restricted: !dom.starts_with('*'),
            weekdays_restricted: !dow.starts_with('*'),
        })
    }

    fn day_matches(&self, days: u64) -> bool {
        let (_, month, day) = civil_from_days(days as i64);
        let weekday = (days + 4) % 7;
        let d = self.days & (1 << day) != 0;
        let w = self.weekdays & (1 << weekday) != 0;
        let day_ok = if self.days_restricted && self.weekdays_restricted {
            d || w
        } else {
            d && w
        };
        self.months & (1 << month) != 0 && day_ok
    }

    /// The first matching minute boundary in `(after, limit]`, found the slow way.
    fn next_after(&self, after: u64, limit: u64) -> Option<u64> {
        let start = (after / 60 + 1) * 60;
        for day in start / 86_400..=limit / 86_400 {
            if !self.day_matches(day) {
                continue;
            }
            for hour in (0..24).filter(|h| self.hours & (1 << h) != 0) {
                for minute in (0..60).filter(|m| self.minutes & (1 << m) != 0) {
                    let t = day * 86_400 + hour * 3600 + minute * 60;
                    if t >= start && t <= limit {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

fn check_cron(text: &str, from: Option<u64>) {
    let parsed = CronExpr::parse(text);
    let model = Model::parse(text);
    assert_eq!(
        parsed.is_ok(),
        model.is_some(),
        "{text:?}: parse says {parsed:?}"
    );
    let (Ok(cron), Some(model)) = (parsed, model) else {
        return;
    };
    // The horizon `next_after` documents: about four years.
    let limit = |t: u64| t + 4 * 366 * 86_400 + 86_400;
    let times = match from {
        Some(t) => vec![t],
        None => vec![0, 951_782_399, 1_767_225_599],
    };
    for t in times {
        let next = cron.next_after(t);
        assert_eq!(next, model.next_after(t, limit(t)), "{text:?} after {t}");
        if let Some(n) = next {
            assert!(n > t && n % 60 == 0);
            // Any time in between finds the same minute.
            assert_eq!(cron.next_after(n - 1), Some(n));
            assert_eq!(cron.next_after((t + n) / 2), Some(n));
        }
    }
}
