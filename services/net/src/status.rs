//! The HTTP status server on port 80: `/varz` (JSON), `/metrics` (the same figures in the
//! Prometheus text format) and `/runs` (JSON), for whoever reaches the port (`cargo xtask run`
//! forwards it to the host's 127.0.0.1).
//!
//! It runs inside the net service on a pool of [`POOL`] TCP sockets, each listening on the
//! port until a client connects and listening again once that client is gone, so that many
//! clients are served at once without any run being started. Requests go through
//! [`crate::http`]; a malformed one gets its 4xx/5xx answer and the connection is closed,
//! while the other connections go on.
//!
//! Invariants: a connection's buffered input never exceeds the head limit (more is refused);
//! every socket of the pool is either listening or serving one client; nothing here panics
//! on any input.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use zb_abi::{Files, Host, RunInfo};

use crate::http::{self, Limits, Method, Parsed, Refused};

/// The port the status server listens on.
pub const PORT: u16 = 80;
/// Sockets listening at once (so many clients can connect at the same moment).
const POOL: usize = 64;
/// Receive buffer per connection: a request head at most.
const RX: usize = 4096;
/// Send buffer per connection.
const TX: usize = 8192;
/// A connection idle this long is closed (a client that opened and never asked).
const IDLE_US: u64 = 10_000_000;

/// What the server counts (in `/varz` and `/metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpStats {
    pub requests: u64,
    pub refused: u64,
}

struct Conn {
    socket: SocketHandle,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    /// Close once the output is sent.
    close_after: bool,
    last_us: u64,
}

pub struct StatusServer {
    conns: Vec<Conn>,
    pub stats: HttpStats,
}

/// What the pages show besides what the host reports: the network's own figures.
#[derive(Debug, Clone, Copy)]
pub struct NetFigures {
    pub counters: crate::device::Counters,
    /// Client sockets open (`tcp://`, `udp://`, pings).
    pub sockets: usize,
}

impl StatusServer {
    /// Opens the pool of listening sockets in `sockets`.
    pub fn new(sockets: &mut SocketSet<'static>) -> StatusServer {
        let mut conns = Vec::with_capacity(POOL);
        for _ in 0..POOL {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0u8; RX]),
                tcp::SocketBuffer::new(vec![0u8; TX]),
            );
            crate::tune(&mut s);
            // Cannot fail: the socket is new (closed) and the port is not 0.
            let _ = s.listen(PORT);
            conns.push(Conn {
                socket: sockets.add(s),
                input: Vec::new(),
                output: Vec::new(),
                sent: 0,
                close_after: false,
                last_us: 0,
            });
        }
        StatusServer {
            conns,
            stats: HttpStats::default(),
        }
    }

    /// Whether any client is being served (the service then polls often).
    pub fn busy(&self, sockets: &SocketSet<'static>) -> bool {
        self.conns
            .iter()
            .any(|c| sockets.get::<tcp::Socket>(c.socket).state() != tcp::State::Listen)
    }

    /// Serves every connection as far as it can go now.
    pub fn serve(
        &mut self,
        sockets: &mut SocketSet<'static>,
        host: &mut dyn Host,
        net: NetFigures,
    ) {
        let now_us = host.clock_us();
        for c in &mut self.conns {
            let s = sockets.get_mut::<tcp::Socket>(c.socket);
            match s.state() {
                tcp::State::Listen | tcp::State::SynReceived => {
                    c.last_us = now_us;
                    continue;
                }
                // The client is gone (or leaving after our goodbye): listen again at once.
                tcp::State::Closed | tcp::State::TimeWait => {
                    s.abort();
                    let _ = s.listen(PORT);
                    c.input.clear();
                    c.output.clear();
                    (c.sent, c.close_after, c.last_us) = (0, false, now_us);
                    continue;
                }
                _ => {}
            }
            // Input, up to what a head may be (and one byte more, to tell it is over).
            while s.can_recv() && c.input.len() <= Limits::DEFAULT.head {
                let room = Limits::DEFAULT.head + 1 - c.input.len();
                let mut chunk = [0u8; 512];
                let want = room.min(chunk.len());
                match s.recv_slice(&mut chunk[..want]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        c.input.extend_from_slice(&chunk[..n]);
                        c.last_us = now_us;
                    }
                }
            }
            // Output first: a new request is read only once the last answer is out.
            if c.sent < c.output.len() {
                if let Ok(n) = s.send_slice(&c.output[c.sent..]) {
                    c.sent += n;
                    if n > 0 {
                        c.last_us = now_us;
                    }
                }
                if c.sent < c.output.len() {
                    continue;
                }
                c.output.clear();
                c.sent = 0;
                if c.close_after {
                    s.close();
                    continue;
                }
            }
            if c.close_after {
                continue;
            }
            match http::parse(&c.input, &Limits::DEFAULT) {
                Ok(Parsed::Partial) => {
                    if !s.may_recv() || now_us.saturating_sub(c.last_us) > IDLE_US {
                        s.close();
                    }
                }
                Err(Refused(status)) => {
                    self.stats.refused += 1;
                    let body = alloc::format!("{status} {}\n", http::reason(status));
                    respond(c, status, "text/plain", body.as_bytes(), false, &[], false);
                    c.input.clear();
                }
                Ok(Parsed::Complete { request, head_len }) => {
                    self.stats.requests += 1;
                    let (method, path, keep) = (request.method, request.path, request.keep_alive);
                    let path = String::from(path);
                    c.input.drain(..head_len);
                    let head_only = method == Method::Head;
                    if method == Method::Other {
                        let body = b"405 Method Not Allowed\n";
                        respond(
                            c,
                            405,
                            "text/plain",
                            body,
                            keep,
                            &[("Allow", "GET, HEAD")],
                            false,
                        );
                        continue;
                    }
                    match render(&path, host, net, self.stats) {
                        Some((kind, body)) => {
                            respond(c, 200, kind, body.as_bytes(), keep, &[], head_only)
                        }
                        None => respond(
                            c,
                            404,
                            "text/plain",
                            b"404 Not Found\n",
                            keep,
                            &[],
                            head_only,
                        ),
                    }
                }
            }
        }
    }
}

/// Queues a response on `c` (the head, and the body unless `head_only`).
fn respond(
    c: &mut Conn,
    status: u16,
    kind: &str,
    body: &[u8],
    keep_alive: bool,
    extra: &[(&str, &str)],
    head_only: bool,
) {
    http::write_head(&mut c.output, status, kind, body.len(), keep_alive, extra);
    if !head_only {
        c.output.extend_from_slice(body);
    }
    c.sent = 0;
    c.close_after = !keep_alive;
}

/// A `key: value` figure from a kernel file (`proc://bus`, `mem://heap`).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn read_text(host: &mut dyn Files, url: &str) -> Option<String> {
    let h = host.open(url, zb_abi::scheme::OpenFlags::READ).ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = host.read(h, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let _ = host.close(h);
    String::from_utf8(out).ok()
}

/// The page at `path`: its content type and body; `None` for no such page.
fn render(
    path: &str,
    host: &mut dyn Host,
    net: NetFigures,
    http: HttpStats,
) -> Option<(&'static str, String)> {
    // Only what the page shows is gathered (listing the runs and reading proc://bus are the
    // costly parts): the index and unknown paths need none of it.
    match path {
        "/varz" | "/metrics" | "/runs" => {}
        "/" => {
            return Some((
                "text/plain",
                String::from("ZeroBus OS status: /varz /metrics /runs\n"),
            ));
        }
        _ => return None,
    }
    let listing = path == "/runs";
    let uptime_us = host.clock_us();
    let mem = host.meminfo();
    let (mut live, mut done) = (0u64, 0u64);
    let mut runs = String::from("[");
    host.runs(&mut |r: &RunInfo<'_>| {
        if r.exit.is_some() {
            done += 1;
        } else {
            live += 1;
        }
        if !listing {
            return;
        }
        if runs.len() > 1 {
            runs.push(',');
        }
        let _ = write!(
            runs,
            "{{\"pid\":{},\"parent\":{},\"name\":\"{}\",\"kind\":\"{}\",\"state\":\"{}\",\"memory\":{},\"fuel\":{}",
            r.pid,
            r.parent,
            Json(r.name),
            match r.kind {
                zb_abi::RunKind::Wasm => "wasm",
                zb_abi::RunKind::Service => "service",
            },
            r.state.as_str(),
            r.memory,
            r.fuel
        );
        if let Some(exit) = &r.exit {
            let _ = write!(runs, ",\"exit\":\"{}\"", Json(&alloc::format!("{exit}")));
        }
        runs.push('}');
    });
    runs.push(']');
    let bus = if listing {
        None
    } else {
        read_text(host, "proc://bus")
    };
    let bus_figure = |key: &str| bus.as_deref().and_then(|t| field(t, key));
    let n = net.counters;
    match path {
        "/varz" => {
            let mut j = String::new();
            let _ = write!(
                j,
                "{{\"uptime_ms\":{},\"runs\":{{\"live\":{live},\"done\":{done}}},\"memory\":{{\"heap_used\":{},\"heap_free\":{},\"heap_total\":{},\"ram_total\":{}}}",
                uptime_us / 1000,
                mem.heap.used,
                mem.heap.free,
                mem.heap.total,
                mem.ram_total
            );
            // The date, when the system knows it (UNIX seconds, UTC).
            if let Some(now) = host.wall_clock() {
                let _ = write!(j, ",\"time\":{now}");
            }
            if bus.is_some() {
                let _ = write!(
                    j,
                    ",\"bus\":{{\"emitted\":{},\"duplicates\":{},\"commits\":{},\"delivered\":{},\"subscriptions\":{},\"first_seq\":{},\"last_seq\":{}}}",
                    bus_figure("emitted").unwrap_or(0),
                    bus_figure("duplicates").unwrap_or(0),
                    bus_figure("commits").unwrap_or(0),
                    bus_figure("delivered").unwrap_or(0),
                    bus_figure("subscriptions").unwrap_or(0),
                    bus_figure("first_seq").unwrap_or(0),
                    bus_figure("last_seq").unwrap_or(0)
                );
            }
            let _ = writeln!(
                j,
                ",\"net\":{{\"rx_packets\":{},\"rx_bytes\":{},\"tx_packets\":{},\"tx_bytes\":{},\"tx_errors\":{},\"sockets\":{}}},\"http\":{{\"requests\":{},\"refused\":{}}}}}",
                n.rx_packets,
                n.rx_bytes,
                n.tx_packets,
                n.tx_bytes,
                n.tx_errors,
                net.sockets,
                http.requests,
                http.refused
            );
            Some(("application/json", j))
        }
        "/metrics" => {
            let mut t = String::new();
            let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
                let _ = write!(
                    t,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
                );
            };
            metric(
                "zerobus_uptime_seconds",
                "gauge",
                "Time since boot.",
                uptime_us / 1_000_000,
            );
            if let Some(now) = host.wall_clock() {
                metric(
                    "zerobus_time_seconds",
                    "gauge",
                    "The wall clock: seconds since 1970-01-01 UTC.",
                    now,
                );
            }
            metric("zerobus_runs_live", "gauge", "Runs not yet done.", live);
            metric(
                "zerobus_runs_done",
                "gauge",
                "Finished runs still listed.",
                done,
            );
            metric(
                "zerobus_heap_used_bytes",
                "gauge",
                "Kernel heap in use.",
                mem.heap.used as u64,
            );
            metric(
                "zerobus_heap_free_bytes",
                "gauge",
                "Kernel heap free.",
                mem.heap.free as u64,
            );
            metric("zerobus_ram_bytes", "gauge", "Usable RAM.", mem.ram_total);
            if bus.is_some() {
                metric(
                    "zerobus_bus_emitted_total",
                    "counter",
                    "Events appended to the journal.",
                    bus_figure("emitted").unwrap_or(0),
                );
                metric(
                    "zerobus_bus_delivered_total",
                    "counter",
                    "Events delivered to subscribers.",
                    bus_figure("delivered").unwrap_or(0),
                );
                metric(
                    "zerobus_bus_commits_total",
                    "counter",
                    "Group commits.",
                    bus_figure("commits").unwrap_or(0),
                );
                metric(
                    "zerobus_bus_last_seq",
                    "gauge",
                    "Newest sequence number.",
                    bus_figure("last_seq").unwrap_or(0),
                );
            }
            metric(
                "zerobus_net_rx_packets_total",
                "counter",
                "Frames received.",
                n.rx_packets,
            );
            metric(
                "zerobus_net_tx_packets_total",
                "counter",
                "Frames sent.",
                n.tx_packets,
            );
            metric(
                "zerobus_http_requests_total",
                "counter",
                "Requests answered.",
                http.requests,
            );
            metric(
                "zerobus_http_refused_total",
                "counter",
                "Malformed requests refused.",
                http.refused,
            );
            Some(("text/plain; version=0.0.4", t))
        }
        _ => Some(("application/json", runs + "\n")),
    }
}

/// A string escaped for a JSON string literal.
struct Json<'a>(&'a str);

impl core::fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
