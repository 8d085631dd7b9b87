//! JetStream, the part federation uses: one stream keeps every exported event (`ZB_EVENTS` on
//! `zb.ev.>`, de-duplicated by `Nats-Msg-Id` within a window), and each node reads it through
//! one durable pull consumer of its own over the whole stream (in stream order: see
//! `link`), acknowledging an event once it is durable in its local journal — so a node that
//! was away gets what it missed, and a crash before the acknowledgement means a redelivery,
//! which the journal's origin marks absorb. A missing event is fetched by its sequence.
//!
//! This module only builds the API requests and reads the replies (JSON over NATS
//! request/reply, `$JS.API.…`); the link sends them.

use alloc::format;
use alloc::string::String;

use crate::config::subjects;

/// How long the stream remembers a `Nats-Msg-Id` to drop a republished event (2 min).
pub const DUPLICATE_WINDOW_NS: u64 = 120_000_000_000;
/// How long an unacknowledged delivery waits before JetStream delivers it again (30 s).
pub const ACK_WAIT_NS: u64 = 30_000_000_000;

/// `$JS.API.STREAM.CREATE.ZB_EVENTS` and its body (creating it again with the same
/// configuration is not an error).
pub fn stream_create() -> (String, String) {
    (
        format!("$JS.API.STREAM.CREATE.{}", subjects::STREAM),
        format!(
            r#"{{"name":"{}","subjects":["zb.ev.>"],"retention":"limits","storage":"file","discard":"old","duplicate_window":{DUPLICATE_WINDOW_NS}}}"#,
            subjects::STREAM
        ),
    )
}

/// The stream that remembers how far each node's export got (`ZB_CURSORS` on
/// `zb.node.*.cursor`, one message per node: the sequence number of its first event not yet
/// acknowledged), so a node that restarts does not publish its whole journal again.
pub fn cursor_stream_create() -> (String, String) {
    (
        format!("$JS.API.STREAM.CREATE.{}", subjects::CURSORS),
        format!(
            r#"{{"name":"{}","subjects":["zb.node.*.cursor"],"retention":"limits","storage":"file","max_msgs_per_subject":1,"discard":"old"}}"#,
            subjects::CURSORS
        ),
    )
}

/// `$JS.API.STREAM.MSG.GET.ZB_CURSORS` for `node`'s cursor.
pub fn cursor_get(node: &str) -> (String, String) {
    (
        format!("$JS.API.STREAM.MSG.GET.{}", subjects::CURSORS),
        format!(r#"{{"last_by_subj":"{}"}}"#, subjects::cursor(node)),
    )
}

/// `$JS.API.STREAM.MSG.GET.ZB_EVENTS` for the event at stream sequence `seq` (the import
/// fetches one that a gap in its deliveries is waiting for).
pub fn event_get(seq: u64) -> (String, String) {
    (
        format!("$JS.API.STREAM.MSG.GET.{}", subjects::STREAM),
        format!(r#"{{"seq":{seq}}}"#),
    )
}

/// A message a `MSG.GET` reply holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    pub subject: String,
    pub seq: u64,
    /// The NATS header block (`NATS/1.0\r\n…`), if the message has headers.
    pub headers: Option<alloc::vec::Vec<u8>>,
    pub data: alloc::vec::Vec<u8>,
}

/// The message in a `MSG.GET` reply: `Ok(None)` when the stream has none there (error
/// 10037: removed by the stream's limits), `Err` for anything else.
pub fn parse_msg_get(reply: &str) -> Result<Option<StoredMsg>, BadReply> {
    if let Some((code, _)) = api_error(reply) {
        return if code == 404 { Ok(None) } else { Err(BadReply) };
    }
    let raw = zb_json::Raw::parse(reply).map_err(|_| BadReply)?;
    let message = raw.get("message").ok().flatten().ok_or(BadReply)?;
    let field = |key: &str| message.get(key).ok().flatten();
    let bytes = |key: &str| -> Result<Option<alloc::vec::Vec<u8>>, BadReply> {
        match field(key) {
            None => Ok(None),
            Some(v) => {
                let text = v.as_string().ok_or(BadReply)?;
                base64_decode(&text).map(Some).ok_or(BadReply)
            }
        }
    };
    Ok(Some(StoredMsg {
        subject: field("subject")
            .and_then(|v| v.as_string())
            .ok_or(BadReply)?,
        seq: field("seq").and_then(|v| v.as_u64()).ok_or(BadReply)?,
        headers: bytes("hdrs")?,
        data: bytes("data")?.unwrap_or_default(),
    }))
}

/// A JetStream reply that is not what its request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadReply;

/// The cursor in a `MSG.GET` reply: `Ok(Some(seq))`, `Ok(None)` when the stream has none for
/// the node (error 10037: a node exporting for the first time), `Err` for anything else.
pub fn parse_cursor(reply: &str) -> Result<Option<u64>, BadReply> {
    let raw = zb_json::Raw::parse(reply).map_err(|_| BadReply)?;
    if let Some((code, _)) = api_error(reply) {
        return if code == 404 { Ok(None) } else { Err(BadReply) };
    }
    let data = raw
        .get("message")
        .ok()
        .flatten()
        .and_then(|m| m.get("data").ok().flatten())
        .and_then(|d| d.as_string())
        .ok_or(BadReply)?;
    let bytes = base64_decode(&data).ok_or(BadReply)?;
    core::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or(BadReply)
}

/// Standard base64 (with or without padding); `None` if it is not.
fn base64_decode(text: &str) -> Option<alloc::vec::Vec<u8>> {
    let mut out = alloc::vec::Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The durable consumer's name for `node`'s import number `index`.
pub fn durable_name(node: &str, index: usize) -> String {
    format!("zb-{node}-{index}")
}

/// `$JS.API.CONSUMER.DURABLE.CREATE.ZB_EVENTS.<durable>` reading `pattern` (a local subject
/// pattern: it is read on `zb.ev.<pattern>`) from the start, acknowledged one by one.
pub fn consumer_create(durable: &str, pattern: &str, max_ack_pending: u32) -> (String, String) {
    (
        format!(
            "$JS.API.CONSUMER.DURABLE.CREATE.{}.{durable}",
            subjects::STREAM
        ),
        format!(
            r#"{{"stream_name":"{}","config":{{"durable_name":"{durable}","deliver_policy":"all","ack_policy":"explicit","ack_wait":{ACK_WAIT_NS},"max_ack_pending":{max_ack_pending},"filter_subject":"{}"}}}}"#,
            subjects::STREAM,
            subjects::event(pattern)
        ),
    )
}

/// `$JS.API.CONSUMER.MSG.NEXT.ZB_EVENTS.<durable>`: up to `batch` messages, the request
/// expiring after `expires_ms` (answered `408` then) or at once when nothing is there with
/// `no_wait`.
pub fn next(durable: &str, batch: u32, expires_ms: u64, no_wait: bool) -> (String, String) {
    let body = if no_wait {
        format!(r#"{{"batch":{batch},"no_wait":true}}"#)
    } else {
        format!(
            r#"{{"batch":{batch},"expires":{}}}"#,
            expires_ms.saturating_mul(1_000_000)
        )
    };
    (
        format!("$JS.API.CONSUMER.MSG.NEXT.{}.{durable}", subjects::STREAM),
        body,
    )
}

/// The body that acknowledges a delivery (published to its reply subject).
pub const ACK: &[u8] = b"+ACK";

/// The body that hands a delivery back, to be delivered again after `delay_us`.
pub fn nak(delay_us: u64) -> String {
    format!("-NAK {{\"delay\":{}}}", delay_us.saturating_mul(1_000))
}

/// A number inside an API reply: `outer.inner` (`state.first_seq` of a stream,
/// `ack_floor.stream_seq` of a consumer); `None` for an error or another shape.
pub fn reply_number(reply: &str, outer: &str, inner: &str) -> Option<u64> {
    zb_json::Raw::parse(reply)
        .ok()?
        .get(outer)
        .ok()
        .flatten()?
        .get(inner)
        .ok()
        .flatten()?
        .as_u64()
}

/// What a delivery's reply subject says about it:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>`
/// (with `<domain>.<account hash>.` after `ACK.` and a random token at the end on newer
/// servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub stream: &'a str,
    pub consumer: &'a str,
    /// How many times it was delivered (1 the first time).
    pub delivered: u64,
    pub stream_seq: u64,
    pub consumer_seq: u64,
    pub pending: u64,
}

impl<'a> Delivery<'a> {
    pub fn parse(reply: &'a str) -> Option<Delivery<'a>> {
        let rest = reply.strip_prefix("$JS.ACK.")?;
        let t: alloc::vec::Vec<&str> = rest.split('.').collect();
        // v1: 7 tokens after `$JS.ACK.`; v2: domain and account hash first, a token after.
        let t = match t.len() {
            7 => &t[..],
            9 | 10 => t.get(2..9)?,
            _ => return None,
        };
        let n = |i: usize| t.get(i)?.parse::<u64>().ok();
        Some(Delivery {
            stream: t.first()?,
            consumer: t.get(1)?,
            delivered: n(2)?,
            stream_seq: n(3)?,
            consumer_seq: n(4)?,
            pending: n(6)?,
        })
    }
}

/// The error of a JetStream API reply, if it is one: its code and description.
pub fn api_error(reply: &str) -> Option<(u64, String)> {
    let raw = zb_json::Raw::parse(reply).ok()?;
    let error = raw.get("error").ok().flatten()?;
    let code = error
        .get("code")
        .ok()
        .flatten()
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let description = error
        .get("description")
        .ok()
        .flatten()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    Some((code, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_messages_read_back() {
        // "NATS/1.0\r\nZb-Origin: pc-a\r\n\r\n" and "{}".
        let reply = r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"zb.ev.sensor.temp","seq":7,"hdrs":"TkFUUy8xLjANClpiLU9yaWdpbjogcGMtYQ0KDQo=","data":"e30=","time":"2026-12-08T00:00:00Z"}}"#;
        let m = parse_msg_get(reply).unwrap().unwrap();
        assert_eq!((m.subject.as_str(), m.seq), ("zb.ev.sensor.temp", 7));
        assert_eq!(
            m.headers.as_deref(),
            Some(&b"NATS/1.0\r\nZb-Origin: pc-a\r\n\r\n"[..])
        );
        assert_eq!(m.data, b"{}");
        let gone = r#"{"error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
        assert_eq!(parse_msg_get(gone), Ok(None));
        for bad in [
            r#"{"error":{"code":503,"description":"JetStream not enabled"}}"#,
            r#"{"message":{"subject":"x","seq":1,"data":"***"}}"#,
            r#"{"message":{"seq":1}}"#,
            "garbage",
        ] {
            assert_eq!(parse_msg_get(bad), Err(BadReply), "{bad}");
        }
        assert_eq!(event_get(9).1, r#"{"seq":9}"#);
    }

    #[test]
    fn numbers_in_api_replies() {
        let stream = r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"ZB_EVENTS"},"state":{"messages":3,"first_seq":40,"last_seq":42}}"#;
        assert_eq!(reply_number(stream, "state", "first_seq"), Some(40));
        let consumer = r#"{"name":"zb-t-0","delivered":{"consumer_seq":9,"stream_seq":12},"ack_floor":{"consumer_seq":7,"stream_seq":10}}"#;
        assert_eq!(reply_number(consumer, "ack_floor", "stream_seq"), Some(10));
        let error =
            r#"{"error":{"code":400,"err_code":10058,"description":"stream name already in use"}}"#;
        assert_eq!(reply_number(error, "state", "first_seq"), None);
        assert_eq!(reply_number("not json", "state", "first_seq"), None);
        assert_eq!(nak(1_500_000), "-NAK {\"delay\":1500000000}");
    }

    #[test]
    fn a_cursor_reads_back_from_its_stream() {
        let got = r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"zb.node.pc-a.cursor","seq":3,"data":"MTI3","time":"2026-12-07T22:00:00Z"}}"#;
        assert_eq!(parse_cursor(got), Ok(Some(127)));
        let none = r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
        assert_eq!(parse_cursor(none), Ok(None));
        let bad = r#"{"message":{"data":"!!"}}"#;
        assert_eq!(parse_cursor(bad), Err(BadReply));
        assert_eq!(parse_cursor("not json"), Err(BadReply));
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGk").as_deref(), Some(&b"hi"[..]));
    }

    #[test]
    fn requests_are_json_on_the_api_subjects() {
        let (s, body) = stream_create();
        assert_eq!(s, "$JS.API.STREAM.CREATE.ZB_EVENTS");
        zb_json::validate(&body).unwrap();
        assert!(body.contains(r#""subjects":["zb.ev.>"]"#));
        let (s, body) = consumer_create(&durable_name("board", 0), "ledger.>", 64);
        assert_eq!(s, "$JS.API.CONSUMER.DURABLE.CREATE.ZB_EVENTS.zb-board-0");
        zb_json::validate(&body).unwrap();
        assert!(body.contains(r#""filter_subject":"zb.ev.ledger.>""#));
        let (s, body) = next("zb-board-0", 16, 2000, false);
        assert_eq!(s, "$JS.API.CONSUMER.MSG.NEXT.ZB_EVENTS.zb-board-0");
        assert_eq!(body, r#"{"batch":16,"expires":2000000000}"#);
        assert_eq!(next("x", 1, 0, true).1, r#"{"batch":1,"no_wait":true}"#);
    }

    #[test]
    fn reply_subjects_of_both_forms_are_read() {
        let d =
            Delivery::parse("$JS.ACK.ZB_EVENTS.zb-board-0.1.42.7.1700000000000000000.3").unwrap();
        assert_eq!((d.stream, d.consumer), ("ZB_EVENTS", "zb-board-0"));
        assert_eq!(
            (d.delivered, d.stream_seq, d.consumer_seq, d.pending),
            (1, 42, 7, 3)
        );
        let v2 =
            Delivery::parse("$JS.ACK.dom.ACCHASH.ZB_EVENTS.c.2.43.8.1700000000000000000.0.tok")
                .unwrap();
        assert_eq!((v2.delivered, v2.stream_seq, v2.pending), (2, 43, 0));
        for bad in [
            "",
            "_INBOX.x",
            "$JS.ACK.a.b.c",
            "$JS.ACK.S.C.x.1.1.1.1",
            "$JS.ACK.S.C.1.1.1.1",
        ] {
            assert_eq!(Delivery::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn api_errors_are_recognised() {
        assert_eq!(
            api_error(
                r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10058,"description":"stream name already in use with a different configuration"}}"#
            ),
            Some((
                400,
                "stream name already in use with a different configuration".into()
            ))
        );
        assert_eq!(api_error(r#"{"type":"x","config":{}}"#), None);
        assert_eq!(api_error("not json"), None);
    }
}
