//! `cargo run -p zb-nats --example jetstream -- 127.0.0.1:4222`: the federation's JetStream
//! exchange against a real server (`cargo xtask nats` starts one): create the `ZB_EVENTS`
//! stream, export an event twice (the stream keeps one: `Nats-Msg-Id`), create a node's
//! durable consumer, pull, read the delivery's stream sequence number, import it, and
//! acknowledge it; a second pull finds nothing. Exits 1 if any step does not hold.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use zb_nats::conn::{Connection, Options, State};
use zb_nats::interop::{self, Outgoing};
use zb_nats::jetstream::{self, Delivery};

struct Client {
    tcp: TcpStream,
    c: Connection,
    start: Instant,
    inbox: u64,
}

type Got = (String, Option<String>, Option<Vec<u8>>, Vec<u8>);

impl Client {
    /// Sends what is queued and reads until `until` holds (checked after each read) or 5 s.
    fn pump(&mut self, until: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.c.take_output();
            if !out.is_empty() {
                self.tcp.write_all(&out).expect("send");
            }
            let n = self.tcp.read(&mut buf).unwrap_or(0);
            let now = self.start.elapsed().as_micros() as u64;
            self.c
                .received(&buf[..n], now, &mut |m| {
                    got.push((
                        m.subject.to_string(),
                        m.reply.map(String::from),
                        m.headers.map(<[u8]>::to_vec),
                        m.payload.to_vec(),
                    ))
                })
                .expect("a NATS stream");
            if until(&got) || Instant::now() > deadline {
                return got;
            }
        }
    }

    /// A request: the first reply on a fresh inbox.
    fn request(&mut self, subject: &str, body: &str) -> Got {
        self.inbox += 1;
        let inbox = format!("_INBOX.zbjs.{}", self.inbox);
        let sid = self.c.subscribe(&inbox, None).expect("inbox");
        self.c
            .publish(subject, Some(&inbox), None, body.as_bytes())
            .expect("request");
        let got = self.pump(|g| !g.is_empty());
        self.c.unsubscribe(sid);
        got.into_iter()
            .next()
            .unwrap_or_else(|| panic!("no reply to {subject}"))
    }
}

fn check(ok: bool, what: &str) {
    println!("{} {what}", if ok { "ok  " } else { "FAIL" });
    if !ok {
        std::process::exit(1);
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4222".into());
    let tcp = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    tcp.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut cl = Client {
        tcp,
        c: Connection::new(Options::default()),
        start: Instant::now(),
        inbox: 0,
    };
    cl.c.transport_up();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cl.c.state() != State::Up && Instant::now() < deadline {
        cl.pump(|_| true);
    }
    check(cl.c.state() == State::Up, "connected");
    let (s, body) = jetstream::stream_create();
    let reply = cl.request(&s, &body);
    let text = String::from_utf8_lossy(&reply.3).to_string();
    check(
        jetstream::api_error(&text).is_none(),
        &format!("stream created: {text:.80}"),
    );
    let event = Outgoing {
        subject: "ledger.transfer.requested",
        node: "pc-a",
        seq: 42,
        ts_us: 1,
        version: 1,
        correlation_id: 0,
        causation_id: 0,
        tenant: "",
        headers: "",
        payload: r#"{"from":"alice","to":"bob","amount":5}"#,
    };
    let (subject, headers, payload) = interop::export(&event);
    for _ in 0..2 {
        cl.c.publish(&subject, None, Some(&headers), payload.as_bytes())
            .expect("export");
    }
    let durable = jetstream::durable_name("board", 0);
    let (s, body) = jetstream::consumer_create(&durable, "ledger.>", 64);
    let reply = cl.request(&s, &body);
    let text = String::from_utf8_lossy(&reply.3).to_string();
    check(jetstream::api_error(&text).is_none(), "consumer created");
    let (s, body) = jetstream::next(&durable, 10, 0, true);
    cl.inbox += 1;
    let inbox = format!("_INBOX.zbjs.{}", cl.inbox);
    cl.c.subscribe(&inbox, None).expect("inbox");
    cl.c.publish(&s, Some(&inbox), None, body.as_bytes())
        .expect("next");
    let got = cl.pump(|g| {
        g.iter().any(|m| {
            m.2.as_deref()
                .is_some_and(|h| h.windows(3).any(|w| w == b"404"))
        })
    });
    let deliveries: Vec<&Got> = got.iter().filter(|m| m.0.starts_with("zb.ev.")).collect();
    check(
        deliveries.len() == 1,
        &format!("one delivery (the duplicate dropped): {}", deliveries.len()),
    );
    let d = deliveries[0];
    let info = Delivery::parse(d.1.as_deref().unwrap_or_default());
    check(info.is_some(), &format!("reply subject read: {:?}", d.1));
    let imported = interop::import(
        &d.0,
        d.2.as_deref(),
        &d.3,
        info.map(|i| i.stream_seq),
        "board",
    );
    check(
        imported
            .as_ref()
            .is_ok_and(|e| e.node == "pc-a" && e.seq == 42),
        &format!("imported with its origin: {imported:?}"),
    );
    cl.c.publish(
        d.1.as_deref().unwrap_or_default(),
        None,
        None,
        jetstream::ACK,
    )
    .expect("ack");
    let (s, body) = jetstream::next(&durable, 10, 0, true);
    cl.c.publish(&s, Some(&inbox), None, body.as_bytes())
        .expect("next");
    let again = cl.pump(|g| !g.is_empty());
    check(
        again.iter().all(|m| !m.0.starts_with("zb.ev.")),
        "nothing more after the acknowledgement",
    );
}
