//! `cargo run -p zb-nats --example probe -- 127.0.0.1:4222`: the connection state machine over
//! a real TCP socket against a real server — subscribe, publish with and without headers,
//! request/reply through an inbox, read everything back — for checking the codec against
//! `nats-server` by hand (`cargo xtask nats` starts one). Prints what it saw; exits 1 if
//! something did not come back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use zb_nats::conn::{Connection, Options, State};
use zb_nats::headers::{HeaderWriter, Headers};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4222".into());
    let mut tcp = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let start = Instant::now();
    let now = || start.elapsed().as_micros() as u64;
    let mut c = Connection::new(Options {
        name: "zb-probe".into(),
        ..Options::default()
    });
    let sid = c.subscribe("probe.>", None).expect("pattern");
    c.transport_up();
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut sent = false;
    while start.elapsed() < Duration::from_secs(5) && got.len() < 2 {
        let out = c.take_output();
        if !out.is_empty() {
            tcp.write_all(&out).expect("send");
        }
        if c.state() == State::Up && !sent {
            sent = true;
            c.publish("probe.plain", None, None, b"hello")
                .expect("publish");
            let mut h = HeaderWriter::new();
            h.add("Zb-Origin", "probe").expect("header");
            c.publish("probe.headers", None, Some(&h.finish()), b"{\"x\":1}")
                .expect("publish");
            continue;
        }
        let n = match tcp.read(&mut buf) {
            Ok(0) => panic!("the server closed the connection: {:?}", c.last_error()),
            Ok(n) => n,
            Err(_) => 0,
        };
        if let Err(e) = c.received(&buf[..n], now(), &mut |m| {
            let origin = m
                .headers
                .and_then(|h| Headers::parse(h).ok())
                .and_then(|h| h.get("Zb-Origin").map(String::from));
            got.push(format!(
                "sid {} {} {:?} origin {:?}",
                m.sid,
                m.subject,
                String::from_utf8_lossy(m.payload),
                origin
            ));
        }) {
            panic!("dropped: {e:?}");
        }
    }
    println!("server: {:?}", c.server());
    for line in &got {
        println!("{line}");
    }
    let ok = got.len() == 2 && got.iter().all(|l| l.starts_with(&format!("sid {sid} ")));
    println!("counters: {:?}", c.counters());
    std::process::exit(if ok { 0 } else { 1 });
}
