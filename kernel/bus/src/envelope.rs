//! Events as the bus makes them: a run's event from the texts of its `emit` ([`emitted`]), the
//! system's own events ([`system`]), a dead letter ([`dead_letter`]), and the check of a
//! payload against its schema ([`check_schema`]).
//!
//! The envelope itself — its fields, which header keys fill them, its encoding — is
//! [`zb_journal::Envelope`]'s; what the bus adds are its own rules: a subject is a concrete
//! NATS subject, headers are `key=value` lines, a payload is JSON.
//!
//! Invariants: [`emitted`] returns an envelope only when every rule holds (and then nothing of
//! the texts was dropped); every refusal is a reason, never a panic. The system's own events
//! carry [`SYSTEM_SOURCE`]; a run's carry the source the kernel names it by, and never a
//! subject the system reserves ([`crate::subject::is_reserved`]).

use alloc::format;
use alloc::string::String;

use zb_journal::{Envelope, IDEMPOTENCY_KEY};

use crate::consumer::dead_letter_subject;
use crate::subject::{check_subject, is_inbox, is_reserved};

/// The `source` of events the system itself writes (consumer positions, snapshots, timers,
/// dead letters).
pub const SYSTEM_SOURCE: &str = "kernel";

/// The header a dead letter carries: how many deliveries it had.
pub const DLQ_ATTEMPTS: &str = "dlq_attempts";

/// Where the boot image keeps event schemas.
pub const SCHEMA_DIR: &str = "/etc/events/";

/// The schema file of events named `name`, version `version`.
pub fn schema_path(name: &str, version: u16) -> String {
    format!("{SCHEMA_DIR}{name}.v{version}.json")
}

/// The event `source` emits at `now_us`: subject `name`, `payload`, and `headers` (`key=value`
/// lines; the envelope's own keys fill its fields). `reply`: the source received a request
/// whose `reply_to` is `name`, so it may publish to that inbox. `Err`: why it is not a valid
/// event.
pub fn emitted(
    source: String,
    now_us: u64,
    name: &str,
    payload: &[u8],
    headers: &str,
    reply: bool,
) -> Result<Envelope, String> {
    check_subject(name).map_err(|e| format!("subject {name:?}: {e}"))?;
    if is_inbox(name) && !reply {
        return Err(format!(
            "subject {name:?} is a reply inbox: only a run that received a request naming it \
             (reply_to) may publish there"
        ));
    }
    if is_reserved(name) && !is_inbox(name) {
        return Err(format!(
            "subject {name:?} is reserved for the system (_*, dlq.*, timer.*)"
        ));
    }
    zb_abi::bus::check_pairs(headers)
        .map_err(|_| String::from("headers must be key=value lines"))?;
    let text =
        core::str::from_utf8(payload).map_err(|_| String::from("the payload is not UTF-8 text"))?;
    zb_json::validate(text).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let mut event = Envelope::new(String::from(name), source, now_us, payload.to_vec());
    for (key, value) in zb_abi::bus::pairs(headers) {
        event.set_header(key, value)?;
    }
    Ok(event)
}

/// An event the system writes at `now_us`.
pub fn system(name: String, payload: String, now_us: u64) -> Envelope {
    Envelope::new(
        name,
        String::from(SYSTEM_SOURCE),
        now_us,
        payload.into_bytes(),
    )
}

/// Event `seq`, given up by consumer `consumer` after `attempts` deliveries, as its dead letter:
/// on `dlq.<consumer>.<subject>`, from the system, caused by `seq`, with the original payload,
/// without its idempotency key (the dead letter is a new event), and the attempts as a header.
pub fn dead_letter(mut event: Envelope, consumer: &str, seq: u64, attempts: u32) -> Envelope {
    event.name = dead_letter_subject(consumer, &event.name);
    event.source = String::from(SYSTEM_SOURCE);
    event.causation_id = seq;
    event.headers.retain(|(k, _)| k != IDEMPOTENCY_KEY);
    event
        .headers
        .push((String::from(DLQ_ATTEMPTS), format!("{attempts}")));
    event
}

/// Checks `event`'s payload against `schema`, the text of the schema file at `path`.
pub fn check_schema(event: &Envelope, path: &str, schema: &[u8]) -> Result<(), String> {
    let text = core::str::from_utf8(schema).map_err(|_| format!("schema {path} is not UTF-8"))?;
    let schema =
        zb_json::Schema::parse(text).map_err(|e| format!("schema {path} is unusable: {e}"))?;
    let payload = core::str::from_utf8(&event.payload)
        .map_err(|_| String::from("the payload is not UTF-8 text"))?;
    schema.validate_text(payload).map_err(|v| {
        format!(
            "the payload does not match {}.v{}: {v}",
            event.name, event.version
        )
    })
}

/// Why schema text is unusable, if it is (checked at boot for every schema in the image).
pub fn schema_problem(schema: &[u8]) -> Option<String> {
    let text = match core::str::from_utf8(schema) {
        Ok(text) => text,
        Err(_) => return Some(String::from("not UTF-8")),
    };
    zb_json::Schema::parse(text).err().map(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(name: &str, payload: &str, headers: &str) -> Result<Envelope, String> {
        emitted(
            String::from("run:2 e"),
            5,
            name,
            payload.as_bytes(),
            headers,
            false,
        )
    }

    #[test]
    fn an_emitted_event_has_its_fields_from_the_headers_and_keeps_the_rest() {
        let e = emit(
            "ledger.transfer.requested",
            r#"{"amount":5}"#,
            "tenant=acme\ncorrelation_id=7\nidempotency_key=k1",
        )
        .unwrap();
        assert_eq!((e.version, e.ts_us, e.correlation_id), (1, 5, 7));
        assert_eq!((e.source.as_str(), e.tenant.as_str()), ("run:2 e", "acme"));
        assert_eq!(e.header_lines(), "idempotency_key=k1");
    }

    #[test]
    fn a_bad_event_is_refused_with_its_reason() {
        for (name, payload, headers, why) in [
            ("a.b", "{nope}", "", "the payload is not JSON: at byte 1"),
            ("a.*", "{}", "", "subject \"a.*\""),
            ("a..b", "{}", "", "subject \"a..b\""),
            (
                "a.b",
                "{}",
                "no equals sign",
                "headers must be key=value lines",
            ),
            ("a.b", "{}", "version=x", "header version: not a number"),
            (
                "_snapshot.ledger.balances",
                "{}",
                "",
                "subject \"_snapshot.ledger.balances\" is reserved",
            ),
            (
                "_consumer.ledger-cmd",
                "{}",
                "",
                "subject \"_consumer.ledger-cmd\" is reserved",
            ),
            ("_x", "{}", "", "subject \"_x\" is reserved"),
            (
                "dlq.billing.orders.new",
                "{}",
                "",
                "subject \"dlq.billing.orders.new\" is reserved",
            ),
            ("timer.tick", "{}", "", "subject \"timer.tick\" is reserved"),
        ] {
            let refused = emit(name, payload, headers).unwrap_err();
            assert!(refused.starts_with(why), "{name} {headers}: {refused}");
        }
        let refused = emitted(String::new(), 0, "a.b", &[0xff], "", false).unwrap_err();
        assert_eq!(refused, "the payload is not UTF-8 text");
        // A reply inbox: only for the run a request named it to.
        let inbox = "_INBOX.4.77";
        let refused = emit(inbox, "{}", "").unwrap_err();
        assert!(refused.contains("is a reply inbox"), "{refused}");
        let reply = emitted(String::new(), 0, inbox, b"{}", "", true).expect("the replier's");
        assert_eq!(reply.name, inbox);
        let refused = emitted(String::new(), 0, "_snapshot.v", b"{}", "", true).unwrap_err();
        assert!(refused.contains("reserved for the system"), "{refused}");
    }

    #[test]
    fn a_dead_letter_is_a_new_system_event_caused_by_the_original() {
        let mut e = emit("orders.new", "{}", "idempotency_key=k\nx=1").unwrap();
        e.correlation_id = 3;
        let d = dead_letter(e, "billing", 12, 5);
        assert_eq!(d.name, "dlq.billing.orders.new");
        assert_eq!((d.source.as_str(), d.causation_id), (SYSTEM_SOURCE, 12));
        assert_eq!(d.correlation_id, 3);
        assert_eq!(d.header_lines(), "x=1\ndlq_attempts=5");
    }

    #[test]
    fn payloads_are_checked_against_their_schema() {
        let schema = br#"{"type":"object","required":["amount"]}"#;
        let ok = emit("a.b", r#"{"amount":1}"#, "").unwrap();
        let bad = emit("a.b", r#"{"other":1}"#, "").unwrap();
        assert_eq!(check_schema(&ok, "p", schema), Ok(()));
        let why = check_schema(&bad, "p", schema).unwrap_err();
        assert!(
            why.starts_with("the payload does not match a.b.v1: "),
            "{why}"
        );
        assert!(
            check_schema(&ok, "p", b"{")
                .unwrap_err()
                .starts_with("schema p is unusable")
        );
        assert_eq!(schema_problem(schema), None);
        assert!(schema_problem(b"[").is_some());
        assert_eq!(schema_path("a.b", 2), "/etc/events/a.b.v2.json");
    }
}
