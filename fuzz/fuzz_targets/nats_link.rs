//! Fuzz target `nats_link`: the federation link (`zb_nats::link::NatsLink`) given whatever a
//! server might send once connected — deliveries, API answers, acknowledgements, requests,
//! answers, heartbeats, garbage — against a stand-in host and journal
//! (`zb_nats::testing`).
//!
//! The first byte picks where the stream is cut in two and how far the clock moves between
//! the pieces; the rest is the stream, after a valid `INFO`. Beyond "never panics" it asserts
//! what the link must never do whatever comes in:
//! - write a reply inbox (`_INBOX.…`) other than with an answer to a request it sent (the host
//!   refuses, as the kernel does; the journal is checked for the link's own);
//! - take in this node's own events, or anything outside its import patterns;
//! - keep more than a bounded number of texts, requests or unsent bytes.
#![no_main]

use std::cell::RefCell;
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use zb_abi::NativeService;
use zb_nats::link::NatsLink;
use zb_nats::testing::{FakeHost, FakeTransport, Wire};

const INFO: &[u8] = b"INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":4096,\"jetstream\":true}\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let wire = Rc::new(RefCell::new(Wire::default()));
    let mut link = NatsLink::new(FakeTransport(wire.clone()));
    let mut host = FakeHost::new("node=me nats=h:1 import=sensor.> export=sensor.> serve=svc.> request=svc.>");
    host.emit("sensor.local", "{\"n\":1}", "");
    host.emit("svc.ask", "{}", "reply_to=_INBOX.1.1");
    link.start(&mut host);
    wire.borrow_mut().to_link.extend_from_slice(INFO);
    link.tick(&mut host);
    let at = usize::from(cut) % (stream.len() + 1);
    for (i, piece) in [&stream[..at], &stream[at..]].into_iter().enumerate() {
        wire.borrow_mut().to_link.extend_from_slice(piece);
        host.now += u64::from(cut) * 100_000 * i as u64;
        link.tick(&mut host);
        link.events_committed(0, &mut host);
        // What the link wrote is drained, as a server would read it.
        wire.borrow_mut().from_link.clear();
    }
    for e in &host.journal[2..] {
        let (node, _) = e.origin.clone().unwrap_or_default();
        assert_ne!(node, "me", "took in its own event: {e:?}");
        let inbox = e.name.starts_with("_INBOX.");
        assert!(
            e.name.starts_with("sensor.") || e.name.starts_with("svc.") || inbox,
            "imported outside its patterns: {e:?}"
        );
    }
    // Open a text of each kind: bounded, and answered.
    for path in ["nodes", "caps", "link", "resolve/x.y?prefer=hub"] {
        let _ = link.request(
            zb_abi::scheme::Request {
                id: 1,
                from: 1,
                op: zb_abi::scheme::Op::Open {
                    scheme: "nats",
                    path,
                    flags: zb_abi::scheme::OpenFlags::READ,
                },
            },
            &mut host,
        );
    }
});
