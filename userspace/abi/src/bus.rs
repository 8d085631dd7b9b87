//! The event bus as runs see it (DESIGN.md §6): what `emit`, `subscribe`, `next` and `ack`
//! take and give back.
//!
//! - **Subjects** are dot-separated tokens (`ledger.transfer.requested`); a subscription's
//!   pattern may use NATS wildcards: `*` is exactly one token, `>` one or more trailing tokens.
//!   The kernel checks both ([`MAX_SUBJECT`] bytes at most).
//! - **Headers** travel as text, one `key=value` per line (`\n`-separated; a key has no `=` or
//!   newline, a value no newline). `idempotency_key` ([`IDEMPOTENCY_KEY`]) makes a repeated
//!   emit return the first event's sequence number without appending; `correlation_id`,
//!   `causation_id` (numbers), `tenant` and `version` fill the envelope's fields of the same
//!   names and are not kept as headers.
//! - **Subscription options** use the same `key=value` lines ([`SubscribeOptions`]).
//! - **Delivered events** are one [`EventView`] encoding: a fixed [`EVENT_HEADER`]-byte head,
//!   then the variable fields.
//! - **Reserved subjects**: `_…` (the system's bookkeeping: `_consumer.*`, `_snapshot.*`),
//!   `dlq.*` and `timer.*` are written by the system only; `emit` to them is
//!   `InvalidArgument`. A reply inbox (`_INBOX.*`) may be published to by a run that received a
//!   request naming it in its `reply_to` header.
//! - **Grants**: a restricted run (one given grants at spawn) makes a bus call only if one of
//!   its grants `bus://<right>/<pattern>` allows it ([`pattern_covers`]): `publish` for `emit`
//!   (the subject), `subscribe` for `subscribe` (the pattern), `scan` and `seal` (the view),
//!   `timer` (the timer's name); else `PermissionDenied`. An unrestricted run may make any.
//!   A durable consumer belongs to the program that first attached it, a timer to the program
//!   that set it: another program's attach, delete, replace or cancel is `PermissionDenied`.
//!
//! Invariants: decoding never panics on any bytes; every length is checked against the
//! buffer before it is used.

use crate::Error;

/// Most bytes of a subject or pattern.
pub const MAX_SUBJECT: usize = 128;
/// Most bytes of the headers argument.
pub const MAX_HEADERS: usize = 512;
/// Most bytes of the options argument.
pub const MAX_OPTIONS: usize = 256;
/// Most bytes of one event's payload (the journal's record limit bounds it further).
pub const MAX_PAYLOAD: usize = 4096;
/// Most bytes of one timer spec ([`TimerSpec`]).
pub const MAX_TIMER_SPEC: usize = 256;
/// The header that de-duplicates emits.
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
/// `emit`'s result has this bit set when the event was a duplicate (nothing was appended; the
/// rest of the result is the first event's sequence number).
pub const EMIT_DUPLICATE: i64 = 1 << 62;
/// `emit`'s result has this bit set when the journal is not durable (it is in RAM: no journal
/// medium, or the medium failed to open at boot): the event is appended, and lost at the next
/// reboot.
pub const EMIT_NOT_DURABLE: i64 = 1 << 61;

/// Bytes of an encoded [`EventView`]'s fixed head.
pub const EVENT_HEADER: usize = 48;

/// One event as `next` delivers it. The payload is JSON text; headers are `key=value` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    pub seq: u64,
    /// When it was emitted: microseconds since 1970-01-01 00:00 UTC once the system knows the
    /// date (a real-time clock, or `date -s`), microseconds since boot before.
    pub ts_us: u64,
    pub correlation_id: u64,
    pub causation_id: u64,
    pub version: u16,
    /// 1 on first delivery; more when a durable subscription redelivers it.
    pub attempt: u16,
    pub name: &'a str,
    pub source: &'a str,
    pub tenant: &'a str,
    pub headers: &'a str,
    pub payload: &'a [u8],
}

impl<'a> EventView<'a> {
    /// Bytes [`EventView::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        EVENT_HEADER
            + self.name.len()
            + self.source.len()
            + self.tenant.len()
            + self.headers.len()
            + self.payload.len()
    }

    /// Writes the event into `out`; its length, or `TooLarge` if `out` is too small (or a
    /// field too long for its length field).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let total = self.encoded_len();
        if out.len() < total {
            return Err(Error::TooLarge);
        }
        let short = |n: usize| u16::try_from(n).map_err(|_| Error::TooLarge);
        let (name, source, tenant, headers) = (
            short(self.name.len())?,
            short(self.source.len())?,
            short(self.tenant.len())?,
            short(self.headers.len())?,
        );
        let payload = u32::try_from(self.payload.len()).map_err(|_| Error::TooLarge)?;
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&self.seq.to_le_bytes());
        put(&self.ts_us.to_le_bytes());
        put(&self.correlation_id.to_le_bytes());
        put(&self.causation_id.to_le_bytes());
        put(&self.version.to_le_bytes());
        put(&self.attempt.to_le_bytes());
        put(&name.to_le_bytes());
        put(&source.to_le_bytes());
        put(&tenant.to_le_bytes());
        put(&headers.to_le_bytes());
        put(&payload.to_le_bytes());
        put(self.name.as_bytes());
        put(self.source.as_bytes());
        put(self.tenant.as_bytes());
        put(self.headers.as_bytes());
        put(self.payload);
        Ok(total)
    }

    /// Reads an event [`EventView::encode`] wrote; `Corrupt` for anything else.
    pub fn decode(bytes: &'a [u8]) -> Result<EventView<'a>, Error> {
        let head = bytes.get(..EVENT_HEADER).ok_or(Error::Corrupt)?;
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
        let payload_len = u32::from_le_bytes([head[44], head[45], head[46], head[47]]) as usize;
        let lens = [
            usize::from(u16_at(36)),
            usize::from(u16_at(38)),
            usize::from(u16_at(40)),
            usize::from(u16_at(42)),
        ];
        let mut rest = &bytes[EVENT_HEADER..];
        let mut take = |n: usize| -> Result<&'a [u8], Error> {
            if rest.len() < n {
                return Err(Error::Corrupt);
            }
            let (field, tail) = rest.split_at(n);
            rest = tail;
            Ok(field)
        };
        let text = |b: &'a [u8]| core::str::from_utf8(b).map_err(|_| Error::Corrupt);
        let name = text(take(lens[0])?)?;
        let source = text(take(lens[1])?)?;
        let tenant = text(take(lens[2])?)?;
        let headers = text(take(lens[3])?)?;
        let payload = take(payload_len)?;
        // Exactly what `encode` wrote: bytes after it are not an event's.
        if !rest.is_empty() {
            return Err(Error::Corrupt);
        }
        Ok(EventView {
            seq: u64_at(0),
            ts_us: u64_at(8),
            correlation_id: u64_at(16),
            causation_id: u64_at(24),
            version: u16_at(32),
            attempt: u16_at(34),
            name,
            source,
            tenant,
            headers,
            payload,
        })
    }

    /// The value of header `key`.
    pub fn header(&self, key: &str) -> Option<&'a str> {
        pairs(self.headers).find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// The `key=value` lines of a headers or options text; lines without `=` are skipped.
pub fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split('\n').filter_map(|line| line.split_once('='))
}

/// Checks a headers or options text: lines of `key=value`, keys non-empty without spaces.
pub fn check_pairs(text: &str) -> Result<(), Error> {
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let (key, _) = line.split_once('=').ok_or(Error::InvalidArgument)?;
        if key.is_empty() || key.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return Err(Error::InvalidArgument);
        }
    }
    Ok(())
}

/// A `timer` call's text: `<name> every <dur>`, `<name> after <dur>` (once), `<name> cron <min>
/// <hour> <day> <month> <weekday>`, each optionally followed by `run <program>`; or `<name>
/// off`. Durations are `500ms`, `2s`, `5m`, `1h`. Names are subject tokens (`timer.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerSpec<'a> {
    pub name: &'a str,
    pub when: TimerWhen<'a>,
    /// A program to start at each firing.
    pub run: Option<&'a str>,
}

/// When a [`TimerSpec`] fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerWhen<'a> {
    Every {
        us: u64,
    },
    After {
        us: u64,
    },
    /// The five cron fields, as written.
    Cron([&'a str; 5]),
    Off,
}

/// `500ms`, `2s`, `5m`, `1h` (or a plain number of milliseconds) in microseconds.
pub fn parse_duration_us(s: &str) -> Option<u64> {
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        _ => return None,
    };
    n.checked_mul(scale).filter(|&us| us > 0)
}

impl<'a> TimerSpec<'a> {
    /// Parses a spec; the error says what is wrong.
    pub fn parse(text: &'a str) -> Result<TimerSpec<'a>, &'static str> {
        let words: [&str; 10] = {
            let mut w = [""; 10];
            for (n, word) in text.split_whitespace().enumerate() {
                *w.get_mut(n).ok_or("too many words")? = word;
            }
            w
        };
        let name = words[0];
        // One subject token of printable ASCII: `timer.<name>` must be a subject (a NUL or a
        // control character would make events no one can subscribe to or cancel by name).
        let token = |b: u8| b.is_ascii_graphic() && !b".*>".contains(&b);
        if name.is_empty() || !name.bytes().all(token) || name.len() > 32 {
            return Err("a timer needs a name (one subject token, at most 32 bytes)");
        }
        let (when, rest) = match words[1] {
            "every" | "after" => {
                let us =
                    parse_duration_us(words[2]).ok_or("a duration is like 500ms, 2s, 5m or 1h")?;
                let when = if words[1] == "every" {
                    TimerWhen::Every { us }
                } else {
                    TimerWhen::After { us }
                };
                (when, &words[3..])
            }
            "cron" => {
                let fields = [words[2], words[3], words[4], words[5], words[6]];
                if fields.iter().any(|w| w.is_empty()) {
                    return Err("cron needs 5 fields: minute hour day month weekday");
                }
                (TimerWhen::Cron(fields), &words[7..])
            }
            "off" => (TimerWhen::Off, &words[2..]),
            _ => return Err("expected every, after, cron or off after the name"),
        };
        let run = match rest {
            ["run", program, ..] if !program.is_empty() => Some(*program),
            [first, ..] if !first.is_empty() => return Err("expected `run <program>` or nothing"),
            _ => None,
        };
        if run.is_some() && rest.get(2).is_some_and(|w| !w.is_empty()) {
            return Err("expected nothing after `run <program>`");
        }
        if when == TimerWhen::Off && run.is_some() {
            return Err("`off` takes nothing more");
        }
        Ok(TimerSpec { name, when, run })
    }
}

/// Where a new subscription starts reading the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverFrom {
    /// Only events emitted from now on (the default).
    New,
    /// From sequence number N (`from=N`; `from=0` or `from=all` is the oldest kept).
    Seq(u64),
}

/// What `subscribe`'s options text says (`key=value` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions<'a> {
    /// `queue=NAME`: one member of the group gets each event.
    pub queue: Option<&'a str>,
    /// `durable=NAME`: at-least-once delivery with `ack`, redelivery and a dead-letter subject;
    /// its position survives reboots.
    pub durable: Option<&'a str>,
    /// `from=N|all|new`.
    pub from: DeliverFrom,
    /// `max_deliver=N` (durable): deliveries before the event goes to `dlq.>`.
    pub max_deliver: Option<u32>,
    /// `ack_wait_ms=N` (durable): an unacknowledged delivery is redelivered after this.
    pub ack_wait_ms: Option<u32>,
    /// `wait_ms=N`: a `next` that waits this long for an event fails with `TimedOut` (request
    /// and reply use it).
    pub wait_ms: Option<u32>,
    /// `delete=1` (with `durable=NAME`): instead of subscribing, forget durable consumer NAME
    /// (its position, so the journal need not keep events for it); the call returns 0.
    pub delete: bool,
}

impl<'a> SubscribeOptions<'a> {
    /// Parses the options text; an unknown key or a bad number is `InvalidArgument`.
    pub fn parse(text: &'a str) -> Result<Self, Error> {
        check_pairs(text)?;
        let mut o = SubscribeOptions {
            queue: None,
            durable: None,
            from: DeliverFrom::New,
            max_deliver: None,
            ack_wait_ms: None,
            wait_ms: None,
            delete: false,
        };
        let number = |v: &str| v.parse::<u32>().map_err(|_| Error::InvalidArgument);
        for (key, value) in pairs(text) {
            match key {
                "queue" if !value.is_empty() => o.queue = Some(value),
                "durable" if !value.is_empty() => o.durable = Some(value),
                "from" => {
                    o.from = match value {
                        "new" => DeliverFrom::New,
                        "all" => DeliverFrom::Seq(0),
                        n => DeliverFrom::Seq(n.parse().map_err(|_| Error::InvalidArgument)?),
                    }
                }
                "max_deliver" => o.max_deliver = Some(number(value)?),
                "ack_wait_ms" => o.ack_wait_ms = Some(number(value)?),
                "wait_ms" => o.wait_ms = Some(number(value)?),
                "delete" if value == "1" => o.delete = true,
                _ => return Err(Error::InvalidArgument),
            }
        }
        if o.delete && o.durable.is_none() {
            return Err(Error::InvalidArgument);
        }
        Ok(o)
    }
}

/// Whether NATS pattern `grant` covers `request` — every subject `request` matches, `grant`
/// matches too — for bus grants (`bus://publish/orders.>` covers publishing `orders.new`, and
/// subscribing to `orders.*`, but not to `>`). Token by token: `>` covers one or more tokens of
/// anything (`*` and `>` included), `*` covers one token that is not `>`, a literal only
/// itself. Plain subjects are patterns without wildcards, so this is also "subject matches".
pub fn pattern_covers(grant: &str, request: &str) -> bool {
    let mut req = request.split('.');
    for g in grant.split('.') {
        match (g, req.next()) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(r)) if r != ">" => {}
            (g, Some(r)) if g == r => {}
            _ => return false,
        }
    }
    req.next().is_none()
}

/// An event emitted on another node, as the federation link hands it to the local journal
/// ([`crate::Bus::import_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedEvent<'a> {
    /// The subject it was emitted on.
    pub name: &'a str,
    pub version: u16,
    pub correlation_id: u64,
    pub causation_id: u64,
    pub tenant: &'a str,
    /// `key=value` lines (not the envelope's own fields).
    pub headers: &'a str,
    /// JSON text.
    pub payload: &'a [u8],
    /// The node it was emitted on (or the plain NATS client's stand-in name).
    pub origin: &'a str,
    /// Its sequence number there: imports are de-duplicated by (origin, origin_seq). 0: not
    /// de-duplicated (a request or reply through NATS core, which has no order to go by).
    pub origin_seq: u64,
    /// A reply on a `_INBOX.…` subject to a request this node sent (the link checked that it
    /// answers one of its own): only such an import may write an inbox.
    pub reply: bool,
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_grant_pattern_covers_what_it_matches_and_narrower_patterns() {
        for (grant, request, want) in [
            ("orders.>", "orders.new", true),
            ("orders.>", "orders.eu.new", true),
            ("orders.>", "orders.*", true),
            ("orders.>", "orders.>", true),
            ("orders.>", "orders", false),
            ("orders.>", ">", false),
            ("orders.*", "orders.new", true),
            ("orders.*", "orders.*", true),
            ("orders.*", "orders.>", false),
            ("orders.*", "orders.eu.new", false),
            ("orders.new", "orders.new", true),
            ("orders.new", "orders.*", false),
            (">", "anything.at.all", true),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.b", "a", false),
        ] {
            assert_eq!(
                pattern_covers(grant, request),
                want,
                "{grant} covers {request}"
            );
        }
    }
    use super::*;

    fn sample() -> EventView<'static> {
        EventView {
            seq: 42,
            ts_us: 7,
            correlation_id: 3,
            causation_id: 2,
            version: 1,
            attempt: 1,
            name: "ledger.transfer.requested",
            source: "shell",
            tenant: "acme",
            headers: "idempotency_key=k1\nx=y",
            payload: br#"{"amount":5}"#,
        }
    }

    #[test]
    fn events_round_trip_and_garbage_is_corrupt() {
        let e = sample();
        let mut buf = [0u8; 256];
        let n = e.encode(&mut buf).unwrap();
        assert_eq!(n, e.encoded_len());
        assert_eq!(EventView::decode(&buf[..n]), Ok(e));
        assert_eq!(
            EventView::decode(&buf[..n + 1]),
            Err(Error::Corrupt),
            "trailing bytes are not part of an event"
        );
        assert_eq!(e.header("idempotency_key"), Some("k1"));
        assert_eq!(e.header("nope"), None);
        assert_eq!(e.encode(&mut buf[..n - 1]), Err(Error::TooLarge));
        // Every truncation is refused, never a panic.
        for cut in 0..n {
            assert_eq!(
                EventView::decode(&buf[..cut]),
                Err(Error::Corrupt),
                "cut {cut}"
            );
        }
        // Lengths that claim more than there is.
        let mut bad = buf;
        bad[44] = 0xFF;
        assert_eq!(EventView::decode(&bad[..n]), Err(Error::Corrupt));
    }

    #[test]
    fn timer_specs_parse_and_say_what_is_wrong() {
        let t = TimerSpec::parse("tick every 500ms").unwrap();
        assert_eq!(
            (t.name, t.when, t.run),
            ("tick", TimerWhen::Every { us: 500_000 }, None)
        );
        let t = TimerSpec::parse("nightly cron 0 3 * * 1-5 run cleanup").unwrap();
        assert_eq!(t.when, TimerWhen::Cron(["0", "3", "*", "*", "1-5"]));
        assert_eq!(t.run, Some("cleanup"));
        assert_eq!(
            TimerSpec::parse("once after 2s").unwrap().when,
            TimerWhen::After { us: 2_000_000 }
        );
        assert_eq!(TimerSpec::parse("tick off").unwrap().when, TimerWhen::Off);
        assert!(
            TimerSpec::parse("\0\0x every 1s").is_err(),
            "a NUL is no subject token"
        );
        assert!(TimerSpec::parse("t\u{7f} every 1s").is_err());
        for bad in [
            "",
            "a.b every 1s",
            "tick every soon",
            "tick cron 0 3 *",
            "tick sometimes",
            "tick every 1s walk",
            "tick off run x",
        ] {
            assert!(TimerSpec::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration_us("5m"), Some(300_000_000));
        assert_eq!(parse_duration_us("0s"), None);
        assert_eq!(parse_duration_us("250"), Some(250_000));
    }

    #[test]
    fn options_parse_and_refuse_unknown_keys() {
        let o = SubscribeOptions::parse("queue=workers\nfrom=10\nmax_deliver=3").unwrap();
        assert_eq!(o.queue, Some("workers"));
        assert_eq!(o.from, DeliverFrom::Seq(10));
        assert_eq!(o.max_deliver, Some(3));
        assert_eq!(SubscribeOptions::parse("").unwrap().from, DeliverFrom::New);
        assert_eq!(
            SubscribeOptions::parse("frm=1"),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            SubscribeOptions::parse("from=x"),
            Err(Error::InvalidArgument)
        );
        assert_eq!(check_pairs("a b=c"), Err(Error::InvalidArgument));
        assert_eq!(check_pairs("novalue"), Err(Error::InvalidArgument));
        assert_eq!(check_pairs("k=v\n\nk2=v2"), Ok(()));
    }
}
