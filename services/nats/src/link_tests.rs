//! The link against a scripted server and a fake host: what it says on the wire, what it puts
//! in the journal, and when it acknowledges.

use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use super::*;
use crate::testing::{FakeHost, FakeTransport, Wire};

/// One operation the link sent: its verb, subject, reply, headers and payload.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    verb: String,
    subject: String,
    reply: Option<String>,
    /// SUB: the sid (and queue group, if any) in `reply`/`headers`.
    headers: String,
    payload: String,
}

/// Parses what the link wrote (a client's side of the protocol).
fn parse_client(bytes: &[u8]) -> Vec<Sent> {
    let text = core::str::from_utf8(bytes).unwrap();
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((line, after)) = rest.split_once("\r\n") {
        rest = after;
        let words: Vec<&str> = line.split(' ').collect();
        match words[0] {
            "PUB" | "HPUB" => {
                let h = words[0] == "HPUB";
                let sizes: Vec<usize> = words[words.len() - if h { 2 } else { 1 }..]
                    .iter()
                    .map(|w| w.parse().unwrap())
                    .collect();
                let (hlen, total) = if h {
                    (sizes[0], sizes[1])
                } else {
                    (0, sizes[0])
                };
                let args = &words[1..words.len() - sizes.len()];
                let body = &rest[..total];
                rest = &rest[total + 2..];
                out.push(Sent {
                    verb: words[0].into(),
                    subject: args[0].into(),
                    reply: args.get(1).map(|s| s.to_string()),
                    headers: body[..hlen].into(),
                    payload: body[hlen..].into(),
                });
            }
            "SUB" => out.push(Sent {
                verb: "SUB".into(),
                subject: words[1].into(),
                reply: Some(words[words.len() - 1].into()),
                headers: if words.len() == 4 {
                    words[2].into()
                } else {
                    String::new()
                },
                payload: String::new(),
            }),
            verb => out.push(Sent {
                verb: verb.into(),
                subject: line.into(),
                reply: None,
                headers: String::new(),
                payload: String::new(),
            }),
        }
    }
    out
}

const INFO: &[u8] = b"INFO {\"server_id\":\"S\",\"version\":\"2.9.10\",\"headers\":true,\"max_payload\":1048576,\"jetstream\":true}\r\n";

struct Rig {
    link: NatsLink<FakeTransport>,
    wire: Rc<RefCell<Wire>>,
    host: FakeHost,
}

impl Rig {
    fn new(args: &str) -> Rig {
        let wire = Rc::new(RefCell::new(Wire::default()));
        let mut rig = Rig {
            link: NatsLink::new(FakeTransport(wire.clone())),
            wire,
            host: FakeHost::new(args),
        };
        rig.link.start(&mut rig.host);
        rig
    }

    fn server_says(&mut self, bytes: &[u8]) {
        self.wire.borrow_mut().to_link.extend_from_slice(bytes);
        self.link.tick(&mut self.host);
    }

    fn take_sent(&mut self) -> Vec<Sent> {
        let bytes = core::mem::take(&mut self.wire.borrow_mut().from_link);
        parse_client(&bytes)
    }

    fn sid_of(sent: &[Sent], subject: &str) -> String {
        sent.iter()
            .find(|s| s.verb == "SUB" && s.subject == subject)
            .and_then(|s| s.reply.clone())
            .unwrap_or_else(|| panic!("no SUB {subject} in {sent:?}"))
    }

    /// Answers JetStream API request `req` (on the API inbox `api_sid`) with `body`.
    fn answer(&mut self, req: &Sent, api_sid: &str, body: &str) {
        let reply = req
            .reply
            .clone()
            .expect("an API request has a reply subject");
        self.server_says(
            alloc::format!("MSG {reply} {api_sid} {}\r\n{body}\r\n", body.len()).as_bytes(),
        );
    }

    /// Connects and sets JetStream up (the stream, the cursors stream, this node's cursor —
    /// `cursor`: the stream's answer —, the consumer); the consumer inbox's sid and everything
    /// the link sent meanwhile.
    fn up_with_cursor(&mut self, cursor: &str) -> (String, Vec<Sent>) {
        let consumer = r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response"}"#;
        self.up_with(cursor, consumer)
    }

    /// As [`Rig::up_with_cursor`], with the consumer's creation answered by `consumer`.
    fn up_with(&mut self, cursor: &str, consumer: &str) -> (String, Vec<Sent>) {
        self.server_says(INFO);
        self.server_says(b"PONG\r\n");
        let mut all = self.take_sent();
        assert_eq!(all[0].verb, "CONNECT");
        let inbox = Self::sid_of(&all, "zb.node.t.in");
        let api = Self::sid_of(&all, "zb.node.t.api.*");
        let ok = r#"{"type":"io.nats.jetstream.api.v1.stream_create_response"}"#;
        let steps: [(&str, &str); 4] = [
            ("$JS.API.STREAM.CREATE.ZB_EVENTS", ok),
            ("$JS.API.STREAM.CREATE.ZB_CURSORS", ok),
            ("$JS.API.STREAM.MSG.GET.ZB_CURSORS", cursor),
            ("$JS.API.CONSUMER.DURABLE.CREATE.ZB_EVENTS.zb-t-0", consumer),
        ];
        for (subject, body) in steps {
            let req = all
                .iter()
                .rev()
                .find(|s| s.subject == subject)
                .cloned()
                .unwrap_or_else(|| panic!("no {subject} in {all:?}"));
            self.answer(&req, &api, body);
            all.extend(self.take_sent());
        }
        let pull = all
            .iter()
            .find(|s| s.subject == "$JS.API.CONSUMER.MSG.NEXT.ZB_EVENTS.zb-t-0")
            .expect("the consumer is pulled");
        assert_eq!(pull.reply.as_deref(), Some("zb.node.t.in"));
        (inbox, all)
    }

    /// As [`Rig::up_with_cursor`], for a node that never exported.
    fn up(&mut self) -> String {
        let none = r#"{"error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
        self.up_with_cursor(none).0
    }

    /// JetStream delivers an event from `node` (its `seq`) at stream sequence `stream_seq`.
    fn deliver(&mut self, inbox: &str, subject: &str, node: &str, seq: u64, stream_seq: u64) {
        let headers = alloc::format!("NATS/1.0\r\nZb-Origin: {node}\r\nZb-Seq: {seq}\r\n\r\n");
        let payload = alloc::format!(
            r#"{{"subject":"{subject}","node":"{node}","seq":{seq},"payload":{{"n":{seq}}}}}"#
        );
        let reply =
            alloc::format!("$JS.ACK.ZB_EVENTS.zb-t-0.1.{stream_seq}.{stream_seq}.1700000000.0");
        let frame = alloc::format!(
            "HMSG zb.ev.{subject} {inbox} {reply} {} {}\r\n{headers}{payload}\r\n",
            headers.len(),
            headers.len() + payload.len()
        );
        self.server_says(frame.as_bytes());
    }

    /// The deliveries handed back (`-NAK`), with the delay each asks for.
    fn naks(sent: &[Sent]) -> Vec<(String, String)> {
        sent.iter()
            .filter(|s| s.subject.starts_with("$JS.ACK.") && s.payload.starts_with("-NAK"))
            .map(|s| (s.subject.clone(), s.payload.clone()))
            .collect()
    }

    /// The origin sequence numbers in the journal, in order.
    fn journal_seqs(&self) -> Vec<u64> {
        self.host
            .journal
            .iter()
            .filter_map(|e| e.origin.as_ref().map(|o| o.1))
            .collect()
    }

    fn acks(sent: &[Sent]) -> Vec<String> {
        sent.iter()
            .filter(|s| s.subject.starts_with("$JS.ACK.") && s.payload == "+ACK")
            .map(|s| s.subject.clone())
            .collect()
    }
}

#[test]
fn an_import_is_acknowledged_only_once_the_journal_has_it() {
    let mut rig = Rig::new("node=t nats=h:1 import=sensor.>");
    let inbox = rig.up();
    rig.deliver(&inbox, "sensor.temp", "pc-a", 7, 1);
    let sent = rig.take_sent();
    assert_eq!(Rig::acks(&sent).len(), 1, "{sent:?}");
    assert_eq!(rig.host.journal.len(), 1);
    let stored = &rig.host.journal[0];
    assert_eq!(
        (stored.name.as_str(), stored.payload.as_str()),
        ("sensor.temp", r#"{"n":7}"#)
    );
    assert_eq!(stored.origin, Some(("pc-a".into(), 7)));
    // Redelivered (its ack was lost): a duplicate, acknowledged again, stored once.
    rig.deliver(&inbox, "sensor.temp", "pc-a", 7, 1);
    assert_eq!(Rig::acks(&rig.take_sent()).len(), 1);
    assert_eq!(rig.host.journal.len(), 1);
    assert_eq!(rig.link.counters().duplicates, 1);
    // Not imported here: acknowledged, not stored.
    rig.deliver(&inbox, "ledger.x", "pc-a", 8, 2);
    assert_eq!(Rig::acks(&rig.take_sent()).len(), 1);
    assert_eq!(rig.host.journal.len(), 1);
    // The journal is full: not acknowledged but handed back, and what comes after it during
    // the pause is handed back too, each to come again once the pause is over.
    rig.host.full = true;
    rig.deliver(&inbox, "sensor.temp", "pc-a", 9, 3);
    rig.host.full = false;
    rig.host.now += 500_000;
    rig.deliver(&inbox, "sensor.temp", "pc-a", 10, 4);
    let sent = rig.take_sent();
    assert!(Rig::acks(&sent).is_empty());
    let naks = Rig::naks(&sent);
    assert_eq!(naks.len(), 2, "{sent:?}");
    assert_eq!(naks[0].1, r#"-NAK {"delay":2000000000}"#);
    assert_eq!(
        naks[1].1, r#"-NAK {"delay":1500000000}"#,
        "the rest of the pause"
    );
    assert_eq!(rig.host.journal.len(), 1);
    rig.host.now += IMPORT_RETRY_US;
    rig.deliver(&inbox, "sensor.temp", "pc-a", 9, 3);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 10, 4);
    assert_eq!(Rig::acks(&rig.take_sent()).len(), 2);
    assert_eq!(rig.host.journal.len(), 3);
}

/// An origin's events must reach the journal in their order (it keeps each origin's highest
/// sequence): a delivery past a gap in the stream waits for the gap to close.
#[test]
fn imports_keep_the_stream_order_across_a_gap() {
    let mut rig = Rig::new("node=t nats=h:1 import=sensor.>");
    let inbox = rig.up();
    rig.deliver(&inbox, "sensor.temp", "pc-a", 1, 1);
    // Stream sequence 2 was lost with a connection (or handed back): 3 comes first.
    rig.deliver(&inbox, "sensor.temp", "pc-a", 3, 3);
    let sent = rig.take_sent();
    assert_eq!(Rig::acks(&sent).len(), 1, "only the first: {sent:?}");
    assert_eq!(Rig::naks(&sent)[0].1, r#"-NAK {"delay":1000000000}"#);
    assert_eq!(rig.journal_seqs(), [1]);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 2, 2);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 3, 3);
    assert_eq!(Rig::acks(&rig.take_sent()).len(), 2);
    assert_eq!(
        rig.journal_seqs(),
        [1, 2, 3],
        "nothing dropped as a duplicate"
    );
}

/// The events a gap waits for are fetched from the stream at once, one after the other (the
/// consumer would deliver them again only after its ack wait); their deliveries, when they
/// come, are duplicates.
#[test]
fn a_gap_is_closed_by_fetching_the_missing_events() {
    let none = r#"{"error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
    let mut rig = Rig::new("node=t nats=h:1 import=sensor.>");
    let (inbox, all) = rig.up_with_cursor(none);
    let api = Rig::sid_of(&all, "zb.node.t.api.*");
    rig.deliver(&inbox, "sensor.temp", "pc-a", 1, 1);
    // 2 and 3 were lost with a connection: 4 comes first, twice.
    rig.deliver(&inbox, "sensor.temp", "pc-a", 4, 4);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 4, 4);
    for n in [2u64, 3] {
        let sent = rig.take_sent();
        let gets: Vec<&Sent> = sent
            .iter()
            .filter(|s| s.subject == "$JS.API.STREAM.MSG.GET.ZB_EVENTS")
            .collect();
        assert_eq!(gets.len(), 1, "asked once: {sent:?}");
        assert_eq!(gets[0].payload, alloc::format!(r#"{{"seq":{n}}}"#));
        // The event as the stream keeps it: its headers and its envelope, in base64.
        let headers = alloc::format!("NATS/1.0\r\nZb-Origin: pc-a\r\nZb-Seq: {n}\r\n\r\n");
        let data = alloc::format!(
            r#"{{"subject":"sensor.temp","node":"pc-a","seq":{n},"payload":{{"n":{n}}}}}"#
        );
        let reply = alloc::format!(
            r#"{{"message":{{"subject":"zb.ev.sensor.temp","seq":{n},"hdrs":"{}","data":"{}"}}}}"#,
            base64(headers.as_bytes()),
            base64(data.as_bytes())
        );
        let get = gets[0].clone();
        rig.answer(&get, &api, &reply);
    }
    assert_eq!(rig.journal_seqs(), [1, 2, 3]);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 4, 4);
    assert_eq!(rig.journal_seqs(), [1, 2, 3, 4]);
    // Their own deliveries, after the ack wait: acknowledged, not stored again.
    rig.deliver(&inbox, "sensor.temp", "pc-a", 2, 2);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 3, 3);
    assert_eq!(
        Rig::acks(&rig.take_sent()).len(),
        3,
        "4, then 2 and 3 again"
    );
    assert_eq!(rig.journal_seqs(), [1, 2, 3, 4]);
}

/// A gap the stream says it no longer has (its limits) is passed over at once.
#[test]
fn a_gap_the_stream_no_longer_has_is_passed_over() {
    let none = r#"{"error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
    let mut rig = Rig::new("node=t nats=h:1 import=sensor.>");
    let (inbox, all) = rig.up_with_cursor(none);
    let api = Rig::sid_of(&all, "zb.node.t.api.*");
    rig.deliver(&inbox, "sensor.temp", "pc-a", 1, 1);
    for _ in 2..4 {
        rig.deliver(&inbox, "sensor.temp", "pc-a", 4, 4);
        let sent = rig.take_sent();
        let get = sent
            .iter()
            .find(|s| s.subject == "$JS.API.STREAM.MSG.GET.ZB_EVENTS")
            .expect("the missing event is asked for")
            .clone();
        rig.answer(&get, &api, none);
    }
    rig.deliver(&inbox, "sensor.temp", "pc-a", 4, 4);
    assert_eq!(rig.journal_seqs(), [1, 4]);
    assert!(
        rig.host
            .logs
            .iter()
            .any(|l| l.contains("stream event 3 is gone"))
    );
}

/// Standard base64 with padding (what nats-server writes).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A gap whose events the stream no longer has (its limits) is passed over after two ack
/// waits, and said, when the stream does not answer for them.
#[test]
fn a_gap_that_never_closes_is_passed_over() {
    let mut rig = Rig::new("node=t nats=h:1 import=sensor.>");
    let inbox = rig.up();
    rig.deliver(&inbox, "sensor.temp", "pc-a", 1, 1);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 5, 5);
    rig.host.now += GAP_GIVE_UP_US - 1;
    rig.deliver(&inbox, "sensor.temp", "pc-a", 5, 5);
    assert_eq!(rig.journal_seqs(), [1]);
    rig.host.now += 1;
    rig.deliver(&inbox, "sensor.temp", "pc-a", 5, 5);
    assert_eq!(rig.journal_seqs(), [1, 5]);
    assert!(
        rig.host
            .logs
            .iter()
            .any(|l| l.contains("stream events 2..4 never came")),
        "{:?}",
        rig.host.logs
    );
}

/// A node that boots again starts from the consumer's ack floor, and from the stream's first
/// event when it has none.
#[test]
fn the_import_starts_at_the_consumers_ack_floor() {
    let none = r#"{"error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
    let consumer = r#"{"name":"zb-t-0","ack_floor":{"consumer_seq":4,"stream_seq":10}}"#;
    let mut rig = Rig::new("node=t nats=h:1 import=sensor.>");
    let (inbox, _) = rig.up_with(none, consumer);
    // 11 was delivered to the node before it went down, and waits for its ack wait: 12 may
    // come first.
    rig.deliver(&inbox, "sensor.temp", "pc-a", 12, 12);
    assert!(rig.journal_seqs().is_empty());
    rig.deliver(&inbox, "sensor.temp", "pc-a", 11, 11);
    rig.deliver(&inbox, "sensor.temp", "pc-a", 12, 12);
    assert_eq!(rig.journal_seqs(), [11, 12]);
}

#[test]
fn hostile_deliveries_are_dropped_not_imported() {
    let mut rig = Rig::new("node=t nats=h:1 import=>");
    let inbox = rig.up();
    // Not JSON; an inbox subject (a forged reply); this node's own event coming back.
    for (subject, payload, node) in [
        ("sensor.x", "not json", "pc-a"),
        ("_INBOX.7.1", r#"{"n":1}"#, "pc-a"),
        ("sensor.y", r#"{"n":1}"#, "t"),
    ] {
        let headers = alloc::format!("NATS/1.0\r\nZb-Origin: {node}\r\nZb-Seq: 1\r\n\r\n");
        let frame = alloc::format!(
            "HMSG zb.ev.{subject} {inbox} $JS.ACK.ZB_EVENTS.zb-t-0.1.1.1.1.0 {} {}\r\n{headers}{payload}\r\n",
            headers.len(),
            headers.len() + payload.len()
        );
        rig.server_says(frame.as_bytes());
    }
    assert!(
        rig.host
            .journal
            .iter()
            .all(|e| !e.name.starts_with("_INBOX"))
    );
    assert_eq!(
        Rig::acks(&rig.take_sent()).len(),
        3,
        "each is acknowledged, so never sent again"
    );
}

#[test]
fn exports_wait_for_the_streams_acknowledgement_and_go_again_without_it() {
    let mut rig = Rig::new("node=t nats=h:1 export=sensor.>");
    rig.host.emit("sensor.temp", r#"{"c":1}"#, "");
    rig.host.emit("other.thing", r#"{"c":2}"#, "");
    rig.host.emit("sensor.temp", r#"{"c":3}"#, "unit=C");
    let none = r#"{"error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
    let (_, sent) = rig.up_with_cursor(none);
    let ack_sid = Rig::sid_of(&sent, "zb.node.t.ack.*");
    let exports: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.subject.starts_with("zb.ev."))
        .collect();
    assert_eq!(exports.len(), 2, "only the exported subjects: {sent:?}");
    assert_eq!(exports[0].subject, "zb.ev.sensor.temp");
    assert_eq!(exports[0].reply.as_deref(), Some("zb.node.t.ack.1"));
    assert!(exports[0].headers.contains("Nats-Msg-Id: t:1"));
    assert!(exports[1].payload.contains(r#""headers":{"unit":"C"}"#));
    // The stream acknowledges the first only; five seconds later the second goes again.
    let ack = r#"{"stream":"ZB_EVENTS","seq":1}"#;
    rig.server_says(
        alloc::format!("MSG zb.node.t.ack.1 {ack_sid} {}\r\n{ack}\r\n", ack.len()).as_bytes(),
    );
    rig.take_sent();
    rig.host.now += EXPORT_RESEND_US + 1;
    rig.link.tick(&mut rig.host);
    let sent = rig.take_sent();
    let again: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.subject.starts_with("zb.ev."))
        .collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].reply.as_deref(), Some("zb.node.t.ack.3"));
    assert_eq!(rig.link.counters().republished, 1);
    // How far it got is kept in the cursors stream: event 3 is the first not acknowledged.
    let cursor = sent
        .iter()
        .rev()
        .find(|s| s.subject == "zb.node.t.cursor")
        .expect("the cursor is saved");
    assert_eq!(cursor.payload, "3");
}

/// A node that restarts goes on from the cursor JetStream kept: what was acknowledged before
/// is not published again.
#[test]
fn a_restarted_node_exports_from_its_cursor() {
    let mut rig = Rig::new("node=t nats=h:1 export=sensor.>");
    for c in 1..=4 {
        rig.host
            .emit("sensor.temp", &alloc::format!(r#"{{"c":{c}}}"#), "");
    }
    // "4" in base64.
    let kept = r#"{"message":{"subject":"zb.node.t.cursor","seq":9,"data":"NA=="}}"#;
    let (_, sent) = rig.up_with_cursor(kept);
    let exports: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.subject.starts_with("zb.ev."))
        .collect();
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0].reply.as_deref(), Some("zb.node.t.ack.4"));
}

#[test]
fn a_server_that_speaks_garbage_is_dropped_and_tried_again_later() {
    let mut rig = Rig::new("node=t nats=h:1");
    rig.server_says(INFO);
    rig.take_sent();
    rig.server_says(b"HELLO THERE\r\n");
    assert!(!rig.wire.borrow().open, "the transport is closed");
    assert_eq!(rig.wire.borrow().opens, 1);
    // Not at once: after the backoff.
    rig.link.tick(&mut rig.host);
    assert_eq!(rig.wire.borrow().opens, 1);
    rig.host.now += 20_000_000;
    rig.link.tick(&mut rig.host);
    assert_eq!(rig.wire.borrow().opens, 2);
    assert!(
        rig.link
            .status_text()
            .contains("last_error: not NATS: unknown operation")
    );
}

#[test]
fn credentials_go_to_the_server_alone() {
    let mut rig = Rig::new("node=t nats=zb:pw@h:1");
    assert_eq!(
        rig.wire.borrow().server,
        "h:1",
        "the transport gets the address"
    );
    rig.server_says(INFO);
    let sent = rig.take_sent();
    let connect = sent.iter().find(|s| s.verb == "CONNECT").expect("CONNECT");
    assert!(
        connect.subject.contains(r#","user":"zb","pass":"pw"}"#),
        "{connect:?}"
    );
    let status = rig.link.status_text();
    assert!(status.contains("server: h:1\nauth: user zb\n"), "{status}");
    assert!(
        !status.contains("pw"),
        "the secret is never shown: {status}"
    );
    // Refused: the server's reason is shown, and the link tries again after its backoff.
    rig.server_says(b"-ERR 'Authorization Violation'\r\n");
    assert!(!rig.wire.borrow().open);
    let status = rig.link.status_text();
    assert!(
        status.contains("last_error: refused by the server: Authorization Violation"),
        "{status}"
    );
    rig.host.now += 20_000_000;
    rig.link.tick(&mut rig.host);
    assert_eq!(rig.wire.borrow().opens, 2);
    // Malformed credentials leave the link off, saying how to write them.
    let rig = Rig::new("node=t nats=zb:@h:1");
    let status = rig.link.status_text();
    assert!(
        status.contains("state: off") && status.contains("USER:PASS@"),
        "{status}"
    );
    assert_eq!(rig.wire.borrow().opens, 0);
}

#[test]
fn requests_from_nats_are_answered_through_a_local_inbox() {
    let mut rig = Rig::new("node=t nats=h:1 serve=svc.>");
    rig.server_says(INFO);
    let sent = rig.take_sent();
    let queue = sent
        .iter()
        .find(|s| s.verb == "SUB" && s.subject == "zb.req.svc.>")
        .expect("the shared subject");
    assert_eq!(queue.headers, "zb", "in the queue group");
    let sid = queue.reply.clone().unwrap();
    rig.server_says(b"PONG\r\n");
    let req = br#"{"q":1}"#;
    rig.server_says(
        alloc::format!(
            "MSG zb.req.svc.echo {sid} _INBOX.client.1 {}\r\n",
            req.len()
        )
        .as_bytes(),
    );
    rig.server_says(req);
    rig.server_says(b"\r\n");
    let imported = rig.host.journal.last().cloned().expect("imported");
    assert_eq!(imported.name, "svc.echo");
    let inbox = imported
        .headers
        .strip_prefix("reply_to=")
        .expect("a reply_to")
        .to_string();
    assert!(inbox.starts_with("_INBOX.nats."));
    // A local responder answers on that inbox: the link sends it back.
    rig.host.emit(&inbox, r#"{"a":1}"#, "");
    rig.link.events_committed(0, &mut rig.host);
    let sent = rig.take_sent();
    let answer = sent
        .iter()
        .find(|s| s.subject == "_INBOX.client.1")
        .expect("answered");
    assert_eq!(answer.payload, r#"{"a":1}"#);
    // A forged answer for a request this node never sent is not taken in.
    let before = rig.host.journal.len();
    rig.server_says(b"MSG zb.node.t.rep.999 1 2\r\n{}\r\n");
    assert_eq!(rig.host.journal.len(), before);
}

/// A client holds at most two `nats://` texts at once (its closes give them back), and all
/// clients eight: one run cannot take every text.
#[test]
fn texts_are_shared_out() {
    let mut rig = Rig::new("node=t nats=h:1");
    let open = |rig: &mut Rig, from: u32| {
        let req = zb_abi::scheme::Request {
            id: 1,
            from,
            op: zb_abi::scheme::Op::Open {
                scheme: "nats",
                path: "nodes",
                flags: zb_abi::scheme::OpenFlags::READ,
            },
        };
        match rig.link.request(req, &mut rig.host) {
            zb_abi::scheme::Answer::Now(zb_abi::scheme::Reply::Done(h)) => Ok(h),
            zb_abi::scheme::Answer::Now(zb_abi::scheme::Reply::Err(e)) => Err(e),
            _ => panic!("answered otherwise"),
        }
    };
    let first = open(&mut rig, 7).unwrap();
    open(&mut rig, 7).unwrap();
    assert_eq!(open(&mut rig, 7), Err(Error::Busy));
    let close = zb_abi::scheme::Request {
        id: 2,
        from: 7,
        op: zb_abi::scheme::Op::Close {
            handle: first as u32,
        },
    };
    let _ = rig.link.request(close, &mut rig.host);
    open(&mut rig, 7).unwrap();
    for pid in 8..11 {
        open(&mut rig, pid).unwrap();
        open(&mut rig, pid).unwrap();
    }
    assert_eq!(open(&mut rig, 11), Err(Error::Busy), "eight at most");
}
