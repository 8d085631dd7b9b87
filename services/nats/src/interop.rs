//! Events on NATS as ordinary NATS clients see them: an exported event is a message on
//! `zb.ev.<subject>` whose payload is the envelope as JSON and whose headers repeat what a
//! client filters or de-duplicates by.
//!
//! ```text
//! HPUB zb.ev.ledger.transfer.requested …
//! NATS/1.0
//! Nats-Msg-Id: pc-a:42          ← JetStream de-duplicates on it
//! Zb-Origin: pc-a
//! Zb-Seq: 42
//!
//! {"subject":"ledger.transfer.requested","node":"pc-a","seq":42,"ts_us":1234,
//!  "version":1,"correlation_id":0,"causation_id":0,"tenant":"","headers":{"k":"v"},
//!  "payload":{"from":"alice","to":"bob","amount":5}}
//! ```
//!
//! A message published by any client (`nats pub zb.ev.ledger.transfer.requested '{…}'`) is
//! imported too: without the envelope and headers it is the event's payload itself, its
//! origin the publishing client (`Zb-Origin`, or `nats` when absent) and, without `Zb-Seq`,
//! the JetStream sequence number the link reads it at.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::config::subjects;
use crate::headers::{HeaderWriter, Headers};
use crate::presence::is_node_id;

/// An event as a node exports it (borrowed from the local journal's record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    pub subject: &'a str,
    pub node: &'a str,
    pub seq: u64,
    pub ts_us: u64,
    pub version: u16,
    pub correlation_id: u64,
    pub causation_id: u64,
    pub tenant: &'a str,
    /// `key=value` lines.
    pub headers: &'a str,
    /// JSON text.
    pub payload: &'a str,
}

/// The NATS message for `e`: subject, header block and payload.
pub fn export(e: &Outgoing<'_>) -> (String, Vec<u8>, String) {
    let mut h = HeaderWriter::new();
    let mut id = String::new();
    let _ = write!(id, "{}:{}", e.node, e.seq);
    // Node ids and numbers are header-safe by construction.
    let _ = h.add("Nats-Msg-Id", &id);
    let _ = h.add("Zb-Origin", e.node);
    let _ = h.add("Zb-Seq", &e.seq.to_string());
    let mut json = String::with_capacity(96 + e.payload.len() + e.headers.len());
    json.push_str("{\"subject\":");
    let _ = zb_json::write_escaped(&mut json, e.subject);
    json.push_str(",\"node\":");
    let _ = zb_json::write_escaped(&mut json, e.node);
    let _ = write!(
        json,
        ",\"seq\":{},\"ts_us\":{},\"version\":{},\"correlation_id\":{},\"causation_id\":{},\"tenant\":",
        e.seq, e.ts_us, e.version, e.correlation_id, e.causation_id
    );
    let _ = zb_json::write_escaped(&mut json, e.tenant);
    json.push_str(",\"headers\":{");
    for (i, (k, v)) in e
        .headers
        .lines()
        .filter_map(|l| l.split_once('='))
        .enumerate()
    {
        if i > 0 {
            json.push(',');
        }
        let _ = zb_json::write_escaped(&mut json, k);
        json.push(':');
        let _ = zb_json::write_escaped(&mut json, v);
    }
    json.push_str("},\"payload\":");
    json.push_str(e.payload);
    json.push('}');
    (subjects::event(e.subject), h.finish(), json)
}

/// An event imported from NATS, ready for the local journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub subject: String,
    /// The origin node (or publishing client) and the event's number there.
    pub node: String,
    pub seq: u64,
    /// The event's schema version (1 for a plain client's message).
    pub version: u16,
    pub correlation_id: u64,
    pub causation_id: u64,
    pub tenant: String,
    /// `key=value` lines.
    pub headers: String,
    /// JSON text.
    pub payload: String,
}

/// Why a message was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportError {
    /// Not on `zb.ev.<subject>`.
    NotAnEvent,
    /// The payload is not JSON, or an envelope with a field of the wrong type.
    Malformed,
    /// The origin is not a node id, or there is no sequence number to de-duplicate by.
    NoOrigin,
    /// It is this node's own event coming back.
    Own,
}

/// Reads a message from `zb.ev.>`; `stream_seq` is the JetStream sequence number it was
/// delivered at (the sequence number of a plain client's message), `me` this node's id.
pub fn import(
    nats_subject: &str,
    headers: Option<&[u8]>,
    payload: &[u8],
    stream_seq: Option<u64>,
    me: &str,
) -> Result<Incoming, ImportError> {
    let subject = subjects::local(nats_subject).ok_or(ImportError::NotAnEvent)?;
    let text = core::str::from_utf8(payload).map_err(|_| ImportError::Malformed)?;
    let h = headers.and_then(|h| Headers::parse(h).ok());
    let header = |name: &str| h.as_ref().and_then(|h| h.get(name));
    let raw = zb_json::Raw::parse(text).map_err(|_| ImportError::Malformed)?;
    let enveloped = header("Zb-Origin").is_some()
        && raw.kind() == zb_json::Kind::Object
        && raw.get("payload").ok().flatten().is_some();
    let node = String::from(header("Zb-Origin").unwrap_or("nats"));
    if !is_node_id(&node) {
        return Err(ImportError::NoOrigin);
    }
    if node == me {
        return Err(ImportError::Own);
    }
    let seq = match header("Zb-Seq") {
        Some(s) => s.parse().map_err(|_| ImportError::NoOrigin)?,
        None => stream_seq.ok_or(ImportError::NoOrigin)?,
    };
    if !enveloped {
        return Ok(Incoming {
            subject: String::from(subject),
            node,
            seq,
            version: 1,
            correlation_id: 0,
            causation_id: 0,
            tenant: String::new(),
            headers: String::new(),
            payload: String::from(text),
        });
    }
    let field = |k: &str| raw.get(k).ok().flatten();
    let number = |k: &str| match field(k) {
        None => Ok(0),
        Some(v) => v.as_u64().ok_or(ImportError::Malformed),
    };
    if field("subject").is_some_and(|s| !s.str_eq(subject)) {
        return Err(ImportError::Malformed);
    }
    let tenant = match field("tenant") {
        None => String::new(),
        Some(v) => v.as_string().ok_or(ImportError::Malformed)?,
    };
    let mut lines = String::new();
    if let Some(hs) = field("headers") {
        if hs.kind() != zb_json::Kind::Object {
            return Err(ImportError::Malformed);
        }
        for (k, v) in hs.members() {
            let value = v.as_string().ok_or(ImportError::Malformed)?;
            let key = k.as_string().ok_or(ImportError::Malformed)?;
            if key.contains(['=', '\n']) || value.contains('\n') {
                return Err(ImportError::Malformed);
            }
            if !lines.is_empty() {
                lines.push('\n');
            }
            let _ = write!(lines, "{key}={value}");
        }
    }
    let payload = field("payload").ok_or(ImportError::Malformed)?;
    Ok(Incoming {
        subject: String::from(subject),
        node,
        seq,
        version: match field("version") {
            None => 1,
            Some(v) => v
                .as_u64()
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(ImportError::Malformed)?,
        },
        correlation_id: number("correlation_id")?,
        causation_id: number("causation_id")?,
        tenant,
        headers: lines,
        payload: String::from(payload.raw()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Outgoing<'static> {
        Outgoing {
            subject: "ledger.transfer.requested",
            node: "pc-a",
            seq: 42,
            ts_us: 1234,
            version: 3,
            correlation_id: 7,
            causation_id: 0,
            tenant: "acme",
            headers: "idempotency_key=t-1\nnote=a \"quoted\" word",
            payload: r#"{"from":"alice","to":"bob","amount":5}"#,
        }
    }

    #[test]
    fn an_export_imports_back_elsewhere_and_not_at_home() {
        let (subject, headers, payload) = export(&sample());
        assert_eq!(subject, "zb.ev.ledger.transfer.requested");
        let h = Headers::parse(&headers).unwrap();
        assert_eq!(h.get("Nats-Msg-Id"), Some("pc-a:42"));
        zb_json::validate(&payload).unwrap();
        let e = import(
            &subject,
            Some(&headers),
            payload.as_bytes(),
            Some(9),
            "board",
        )
        .unwrap();
        assert_eq!(
            (e.node.as_str(), e.seq),
            ("pc-a", 42),
            "the origin, not the stream's number"
        );
        assert_eq!(e.subject, "ledger.transfer.requested");
        assert_eq!(e.payload, r#"{"from":"alice","to":"bob","amount":5}"#);
        assert_eq!(e.headers, "idempotency_key=t-1\nnote=a \"quoted\" word");
        assert_eq!((e.correlation_id, e.tenant.as_str()), (7, "acme"));
        assert_eq!(e.version, 3, "the schema version crosses nodes");
        assert_eq!(
            import(
                &subject,
                Some(&headers),
                payload.as_bytes(),
                Some(9),
                "pc-a"
            ),
            Err(ImportError::Own)
        );
    }

    #[test]
    fn a_plain_clients_message_is_its_payload() {
        let e = import(
            "zb.ev.ledger.transfer.requested",
            None,
            br#"{"amount":3}"#,
            Some(17),
            "pc-a",
        )
        .unwrap();
        assert_eq!(
            (e.node.as_str(), e.seq, e.payload.as_str()),
            ("nats", 17, r#"{"amount":3}"#)
        );
        assert_eq!(
            import("zb.ev.x", None, b"{}", None, "pc-a"),
            Err(ImportError::NoOrigin),
            "nothing to de-duplicate by"
        );
    }

    #[test]
    fn hostile_messages_are_refused() {
        let h = |origin: &str, seq: &str| {
            let mut w = HeaderWriter::new();
            w.add("Zb-Origin", origin).unwrap();
            w.add("Zb-Seq", seq).unwrap();
            w.finish()
        };
        let ok = h("pc-b", "1");
        for (subject, headers, payload, want) in [
            (
                "orders.x",
                Some(ok.clone()),
                &b"{}"[..],
                ImportError::NotAnEvent,
            ),
            ("zb.ev.x", Some(ok.clone()), b"{", ImportError::Malformed),
            ("zb.ev.x", Some(ok.clone()), b"\xff", ImportError::Malformed),
            (
                "zb.ev.x",
                Some(h("Bad Node", "1")),
                b"{}",
                ImportError::NoOrigin,
            ),
            (
                "zb.ev.x",
                Some(h("pc-b", "-1")),
                b"{}",
                ImportError::NoOrigin,
            ),
            (
                "zb.ev.x",
                Some(ok.clone()),
                br#"{"subject":"y","payload":{}}"#,
                ImportError::Malformed,
            ),
            (
                "zb.ev.x",
                Some(ok.clone()),
                br#"{"headers":{"a=b":"c"},"payload":{}}"#,
                ImportError::Malformed,
            ),
            (
                "zb.ev.x",
                Some(ok.clone()),
                br#"{"correlation_id":-4,"payload":{}}"#,
                ImportError::Malformed,
            ),
        ] {
            assert_eq!(
                import(subject, headers.as_deref(), payload, Some(1), "pc-a"),
                Err(want),
                "{subject} {:?}",
                core::str::from_utf8(payload)
            );
        }
    }

    #[test]
    fn a_version_out_of_range_is_refused() {
        let headers = b"NATS/1.0\r\nZb-Origin: pc-a\r\nZb-Seq: 1\r\n\r\n";
        for (version, want) in [
            ("2", Ok(2)),
            ("70000", Err(ImportError::Malformed)),
            ("\"x\"", Err(ImportError::Malformed)),
        ] {
            let payload =
                alloc::format!(r#"{{"subject":"a.b","version":{version},"payload":{{}}}}"#);
            let got = import("zb.ev.a.b", Some(headers), payload.as_bytes(), None, "me")
                .map(|e| e.version);
            assert_eq!(got, want, "{version}");
        }
    }
}
