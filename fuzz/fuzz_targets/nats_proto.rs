//! Fuzz target `nats_proto`: the NATS client's reading of what a server sends
//! (`zb_nats::proto::parse`, `zb_nats::headers::Headers::parse`, and the connection that
//! buffers the stream, `zb_nats::conn::Connection::received`).
//!
//! The first byte picks where the stream is cut into two deliveries; the rest is the stream.
//! Beyond "never panics" it asserts:
//! - a parsed operation lies inside the buffer, and a message's subject, reply, headers and
//!   payload are inside it too, the payload no larger than the limit;
//! - every shorter prefix of an operation is `Incomplete` or the same operation (never an
//!   error that the whole would not give);
//! - the connection delivers the same messages whether the stream arrives whole or cut in two,
//!   and ends with the same verdict; what it buffers stays within one line and one message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_nats::conn::{Connection, Options};
use zb_nats::headers::Headers;
use zb_nats::proto::{Limits, Parsed, ServerOp, parse};

const INFO: &[u8] = b"INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":4096}\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_control: 256,
        max_payload: 1024,
    };
    check_parse(stream, &limits);
    let whole = deliver(stream, &[stream.len()]);
    let split = deliver(stream, &[usize::from(cut) % (stream.len() + 1), stream.len()]);
    assert_eq!(whole, split, "the same stream cut in two reads differently");
});

fn check_parse(buf: &[u8], limits: &Limits) {
    let Ok(Parsed::Op(op, n)) = parse(buf, limits) else {
        return;
    };
    assert!(n <= buf.len());
    if let ServerOp::Msg(m) = op {
        assert!(m.payload.len() + m.headers.map_or(0, <[u8]>::len) <= limits.max_payload);
        if let Some(h) = m.headers {
            let _ = Headers::parse(h);
        }
    }
    for cut in 0..n {
        match parse(&buf[..cut], limits) {
            Ok(Parsed::Incomplete) => {}
            Ok(Parsed::Op(other, m)) => assert_eq!((other, m), (op, n), "prefix {cut}"),
            Err(e) => panic!("prefix {cut} of a good operation refused: {e}"),
        }
    }
}

/// Messages delivered and the verdict, feeding `stream` in pieces ending at `ends`.
fn deliver(stream: &[u8], ends: &[usize]) -> (Vec<(String, Vec<u8>)>, Option<String>) {
    let mut c = Connection::new(Options {
        max_payload: 1024,
        ..Options::default()
    });
    c.subscribe(">", None).expect("a valid pattern");
    c.transport_up();
    c.received(INFO, 0, &mut |_| {}).expect("a valid INFO");
    let mut got = Vec::new();
    let mut from = 0;
    for &end in ends {
        let piece = &stream[from..end.max(from)];
        from = end.max(from);
        let verdict = c.received(piece, 0, &mut |m| {
            got.push((m.subject.to_string(), m.payload.to_vec()));
        });
        if let Err(e) = verdict {
            return (got, Some(format!("{e:?}")));
        }
    }
    (got, None)
}
