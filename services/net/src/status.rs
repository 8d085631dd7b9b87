//! The HTTP status server on port 80: `/varz` (JSON), `/metrics` (the same figures in the
//! Prometheus text format) and `/runs` (JSON), for whoever reaches the port (`cargo xtask run`
//! forwards it to the host's 127.0.0.1).
//!
//! It runs inside the net service on [`POOL`] + 1 TCP sockets of its own — runs never get them:
//! a run's sockets are the service's slots, and a run may not listen on port 80 — each
//! listening on the port until a client connects and listening again once that client is
//! gone, so that many clients are served at once without any run being started. Requests go
//! through [`crate::http`]; a malformed one gets its 4xx/5xx answer and the connection is
//! closed, while the other connections go on.
//!
//! Deadlines, none of which a trickle of bytes puts off (so a slow client cannot hold a socket):
//! - [`HEAD_US`] (5 s): a request's head must be complete within it of its first byte, else
//!   `408 Request Timeout` and close; a handshake begun (SYN received) must be completed within
//!   it too, else reset.
//! - [`IDLE_US`] (10 s): a connection with no request under way — before its first, or between
//!   keep-alive requests — is closed after it.
//! - [`WRITE_US`] (10 s): an answer must be taken within it of being queued — all of it into the
//!   socket's send buffer ([`TX`] bytes) and acknowledged by the client and, when the
//!   connection closes after it, the goodbye done — else the connection is reset (a client
//!   that does not read).
//!
//! Room: one socket is kept listening. When a client takes the last one, the stalest
//! connection that is not being answered (closed with everything delivered, idle, or still
//! sending its head) is reset to make room for the next; if every other one is being answered,
//! the newcomer gets `503 Service Unavailable` and is closed. A connection attempt while no
//! socket listens at all is reset by smoltcp at once: nobody waits in a backlog.
//!
//! Memory: a connection buffers at most a request head (`Limits::DEFAULT.head` + 1 bytes) and
//! one answer (at most [`MAX_ANSWER`] bytes of body), grown with `try_reserve`: when the heap
//! has no room, that request is answered 503 or that connection is reset, never a panic.
//!
//! Invariants: every socket of the pool is listening, or serving (or refusing) one client
//! under one of the deadlines above; nothing here panics on any input.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use zb_abi::{Files, Host, RunInfo};

use crate::http::{self, Limits, Method, Out, Parsed, Refused};

/// The port the status server listens on.
pub const PORT: u16 = 80;
/// Clients served at once; one socket more is kept listening (see the module doc).
const POOL: usize = 64;
/// Receive buffer per connection: a request head at most.
const RX: usize = 4096;
/// Send buffer per connection.
const TX: usize = 8192;
/// From the first byte of a request (or a SYN) to its complete head (or handshake).
pub const HEAD_US: u64 = 5_000_000;
/// A connection with no request under way is closed after this long.
pub const IDLE_US: u64 = 10_000_000;
/// From an answer being queued to its being in the socket (and, when the connection closes
/// after it, the goodbye being done).
pub const WRITE_US: u64 = 10_000_000;
/// Most bytes of an answer's body (a larger page is answered 503).
const MAX_ANSWER: usize = 256 * 1024;
/// Most bytes read of a kernel file a page shows (`proc://bus`).
const MAX_TEXT: usize = 16 * 1024;
/// The answer when the heap has no room for the real one: fixed, and short.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n";

/// What the server counts (in `/varz` and `/metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpStats {
    pub requests: u64,
    pub refused: u64,
    /// Connections a deadline ended (408, idle close, or reset).
    pub timeouts: u64,
    /// Connections reset to make room for a newcomer, or newcomers answered 503.
    pub shed: u64,
}

/// Where a connection is, and since when (microseconds): its deadline follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The socket listens.
    Listen,
    /// A SYN came; the handshake is not complete.
    Handshake(u64),
    /// Connected, no byte of the next request yet (since the connection, or the last answer).
    Idle(u64),
    /// Part of a request head has come (since its first byte).
    Head(u64),
    /// An answer is going into the socket (since it was queued).
    Answer(u64),
    /// The server closed its side (since the last answer was queued, or since it closed).
    Closing(u64),
}

impl Phase {
    /// When the phase runs out; `None`: never.
    fn deadline(self) -> Option<u64> {
        match self {
            Phase::Listen => None,
            Phase::Handshake(t) | Phase::Head(t) => Some(t.saturating_add(HEAD_US)),
            Phase::Idle(t) => Some(t.saturating_add(IDLE_US)),
            Phase::Answer(t) | Phase::Closing(t) => Some(t.saturating_add(WRITE_US)),
        }
    }

    fn expired(self, now_us: u64) -> bool {
        self.deadline().is_some_and(|d| now_us >= d)
    }
}

struct Conn {
    socket: SocketHandle,
    phase: Phase,
    /// What the client sent that is not handled yet: a head at most, and one byte.
    input: Vec<u8>,
    /// The answer being sent, and how much of it is in the socket.
    output: Vec<u8>,
    sent: usize,
    /// Close once the answer is in the socket.
    close_after: bool,
    /// When the answer in `output` was queued (its write deadline counts from there).
    answer_us: u64,
    /// The client arrived in this pass (its socket left Listen).
    arrived: bool,
    /// Answer 503 and close as soon as the handshake is complete.
    refuse: bool,
    /// A deadline has ended this connection (it is counted once, whatever follows).
    timed_out: bool,
}

/// A page of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Index,
    Varz,
    Metrics,
    Runs,
}

impl Page {
    fn at(path: &str) -> Option<Page> {
        match path {
            "/" => Some(Page::Index),
            "/varz" => Some(Page::Varz),
            "/metrics" => Some(Page::Metrics),
            "/runs" => Some(Page::Runs),
            _ => None,
        }
    }
}

/// An answer to queue.
struct Response<'a> {
    status: u16,
    kind: &'a str,
    body: &'a [u8],
    keep_alive: bool,
    extra: &'a [(&'a str, &'a str)],
    /// HEAD: the head only (with the body's length).
    head_only: bool,
}

impl<'a> Response<'a> {
    /// A plain-text error answer (`404 Not Found\n`), closing the connection unless
    /// `keep_alive`.
    fn error(status: u16, body: &'a [u8], keep_alive: bool) -> Response<'a> {
        Response {
            status,
            kind: "text/plain",
            body,
            keep_alive,
            extra: &[],
            head_only: false,
        }
    }
}

pub struct StatusServer {
    conns: Vec<Conn>,
    pub stats: HttpStats,
    /// The body being rendered (kept for its capacity).
    body: Vec<u8>,
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
        let mut conns = Vec::with_capacity(POOL + 1);
        for _ in 0..=POOL {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0u8; RX]),
                tcp::SocketBuffer::new(vec![0u8; TX]),
            );
            crate::tune(&mut s);
            // Cannot fail: the socket is new (closed) and the port is not 0.
            let _ = s.listen(PORT);
            conns.push(Conn {
                socket: sockets.add(s),
                phase: Phase::Listen,
                input: Vec::new(),
                output: Vec::new(),
                sent: 0,
                close_after: false,
                answer_us: 0,
                arrived: false,
                refuse: false,
                timed_out: false,
            });
        }
        StatusServer {
            conns,
            stats: HttpStats::default(),
            body: Vec::new(),
        }
    }

    /// Whether any client is being served (the service then polls often).
    pub fn busy(&self, sockets: &SocketSet<'static>) -> bool {
        self.conns
            .iter()
            .any(|c| sockets.get::<tcp::Socket>(c.socket).state() != tcp::State::Listen)
    }

    /// Sockets listening now.
    #[cfg(test)]
    pub fn listening(&self, sockets: &SocketSet<'static>) -> usize {
        self.conns
            .iter()
            .filter(|c| sockets.get::<tcp::Socket>(c.socket).is_listening())
            .count()
    }

    /// Serves every connection as far as it can go now, enforces the deadlines, and keeps a
    /// socket listening.
    pub fn serve(
        &mut self,
        sockets: &mut SocketSet<'static>,
        host: &mut dyn Host,
        net: NetFigures,
    ) {
        let now_us = host.clock_us();
        for c in &mut self.conns {
            let s = sockets.get_mut::<tcp::Socket>(c.socket);
            step(c, s, now_us, host, net, &mut self.stats, &mut self.body);
        }
        self.make_room(sockets);
    }

    /// When no socket is left listening: resets the stalest connection that is not being
    /// answered, or (there is none) marks the newcomers to be refused with 503.
    fn make_room(&mut self, sockets: &mut SocketSet<'static>) {
        // A socket reset in this pass (a deadline) listens again at the next: room is coming.
        let room = |c: &Conn| {
            c.phase == Phase::Listen
                || sockets.get::<tcp::Socket>(c.socket).state() == tcp::State::Closed
        };
        if self.conns.iter().any(room) {
            return;
        }
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.arrived && c.sent >= c.output.len())
            .filter(|(_, c)| sockets.get::<tcp::Socket>(c.socket).send_queue() == 0)
            .filter_map(|(i, c)| match c.phase {
                // Everything delivered: only the goodbye is left.
                Phase::Closing(t) => Some(((0, t), i)),
                Phase::Handshake(t) | Phase::Idle(t) | Phase::Head(t) => Some(((1, t), i)),
                Phase::Listen | Phase::Answer(_) => None,
            })
            .min();
        if let Some((_, i)) = victim {
            // Listens again at the next pass, once the reset has gone out.
            sockets.get_mut::<tcp::Socket>(self.conns[i].socket).abort();
            self.stats.shed += 1;
            return;
        }
        for c in &mut self.conns {
            if c.arrived && matches!(c.phase, Phase::Handshake(_) | Phase::Idle(_)) {
                c.refuse = true;
                self.stats.shed += 1;
            }
        }
    }
}

/// One connection's turn: its socket's state, input, output, request and deadline.
fn step(
    c: &mut Conn,
    s: &mut tcp::Socket<'_>,
    now_us: u64,
    host: &mut dyn Host,
    net: NetFigures,
    stats: &mut HttpStats,
    body: &mut Vec<u8>,
) {
    c.arrived = false;
    match s.state() {
        tcp::State::Listen => {
            c.phase = Phase::Listen;
            return;
        }
        // The client is gone (or leaving after our goodbye), or was reset: listen again.
        tcp::State::Closed | tcp::State::TimeWait => {
            listen_again(c, s);
            return;
        }
        tcp::State::SynReceived => {
            if c.phase == Phase::Listen {
                (c.phase, c.arrived) = (Phase::Handshake(now_us), true);
            }
            if c.phase.expired(now_us) {
                time_out(c, stats);
                s.abort();
            }
            return;
        }
        _ => {}
    }
    if matches!(c.phase, Phase::Listen | Phase::Handshake(_)) {
        c.arrived |= c.phase == Phase::Listen;
        c.phase = Phase::Idle(now_us);
    }
    if c.refuse && matches!(c.phase, Phase::Idle(_) | Phase::Head(_)) {
        c.refuse = false;
        c.input.clear();
        let r = Response {
            extra: &[("Retry-After", "1")],
            ..Response::error(503, b"503 Service Unavailable\n", false)
        };
        answer(c, s, now_us, &r);
        return;
    }
    if !matches!(c.phase, Phase::Closing(_)) {
        if receive(c, s).is_err() {
            // No heap for what the client sent: this connection fails, nothing else.
            s.abort();
            return;
        }
        if matches!(c.phase, Phase::Idle(_)) && !c.input.is_empty() {
            c.phase = Phase::Head(now_us);
        }
    }
    // Output first: a new request is handled only once the last answer is in the socket.
    if !flush(c, s, now_us) || matches!(c.phase, Phase::Closing(_)) {
        if c.phase.expired(now_us) {
            time_out(c, stats);
            s.abort();
        }
        return;
    }
    // An answer all in the socket but not taken (acknowledged) in time, on a connection kept
    // alive: the client does not read.
    if s.send_queue() > 0 && now_us >= c.answer_us.saturating_add(WRITE_US) {
        time_out(c, stats);
        s.abort();
        return;
    }
    match http::parse(&c.input, &Limits::DEFAULT) {
        Ok(Parsed::Partial) => {
            if !s.may_recv() {
                // The client closed its side without a (whole) request.
                s.close();
                c.phase = Phase::Closing(now_us);
            } else if c.phase.expired(now_us) {
                time_out(c, stats);
                if matches!(c.phase, Phase::Head(_)) {
                    c.input.clear();
                    answer(
                        c,
                        s,
                        now_us,
                        &Response::error(408, b"408 Request Timeout\n", false),
                    );
                } else {
                    s.close();
                    c.phase = Phase::Closing(now_us);
                }
            }
        }
        Err(Refused(status)) => {
            stats.refused += 1;
            c.input.clear();
            let mut text = [0u8; 64];
            let n = status_line(&mut text, status);
            answer(c, s, now_us, &Response::error(status, &text[..n], false));
        }
        Ok(Parsed::Complete { request, head_len }) => {
            stats.requests += 1;
            let (method, keep) = (request.method, request.keep_alive);
            let page = Page::at(request.path);
            c.input.drain(..head_len);
            if method == Method::Other {
                let r = Response {
                    extra: &[("Allow", "GET, HEAD")],
                    ..Response::error(405, b"405 Method Not Allowed\n", keep)
                };
                answer(c, s, now_us, &r);
                return;
            }
            let Some(page) = page else {
                let r = Response {
                    head_only: method == Method::Head,
                    ..Response::error(404, b"404 Not Found\n", keep)
                };
                answer(c, s, now_us, &r);
                return;
            };
            body.clear();
            let r = match render(page, host, net, *stats, body) {
                Ok(kind) => Response {
                    status: 200,
                    kind,
                    body,
                    keep_alive: keep,
                    extra: &[],
                    head_only: method == Method::Head,
                },
                // No heap for the page, or it is over the limit.
                Err(fmt::Error) => Response {
                    extra: &[("Retry-After", "1")],
                    ..Response::error(503, b"503 Service Unavailable\n", keep)
                },
            };
            answer(c, s, now_us, &r);
            // A large page's buffer is given back rather than kept.
            if body.capacity() > TX {
                *body = Vec::new();
            }
        }
    }
}

/// `"431 Request Header Fields Too Large\n"` into `buf`: its length.
fn status_line(buf: &mut [u8; 64], status: u16) -> usize {
    let mut w = crate::Slice::new(buf);
    let _ = writeln!(w, "{status} {}", http::reason(status));
    w.len()
}

/// Moves what the client sent into `c.input`, up to a head and one byte more (to tell the
/// head is over its limit). `Err`: the heap has no room for it.
fn receive(
    c: &mut Conn,
    s: &mut tcp::Socket<'_>,
) -> Result<(), alloc::collections::TryReserveError> {
    let cap = Limits::DEFAULT.head + 1;
    while s.can_recv() && c.input.len() < cap {
        let want = (cap - c.input.len()).min(s.recv_queue());
        c.input.try_reserve(want)?;
        let input = &mut c.input;
        let n = s
            .recv(|data| {
                let n = data.len().min(want);
                input.extend_from_slice(&data[..n]);
                (n, n)
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
    }
    Ok(())
}

/// Puts what it can of the pending answer into the socket; `true` once all of it is there
/// (the connection then closes, or waits for the next request).
fn flush(c: &mut Conn, s: &mut tcp::Socket<'_>, now_us: u64) -> bool {
    if c.sent >= c.output.len() {
        return true;
    }
    if let Ok(n) = s.send_slice(&c.output[c.sent..]) {
        c.sent += n;
    }
    if c.sent < c.output.len() {
        return false;
    }
    c.output.clear();
    c.sent = 0;
    if c.output.capacity() > TX {
        c.output = Vec::new();
    }
    if c.close_after {
        s.close();
        c.phase = Phase::Closing(c.answer_us);
    } else if c.input.is_empty() {
        c.phase = Phase::Idle(now_us);
    } else {
        c.phase = Phase::Head(now_us);
    }
    true
}

/// Queues `r` on `c`, starts its write deadline and sends what fits now. When the heap has no
/// room for it, the short fixed 503 goes instead; when not even that fits, the connection is
/// reset.
fn answer(c: &mut Conn, s: &mut tcp::Socket<'_>, now_us: u64, r: &Response<'_>) {
    (c.phase, c.answer_us, c.sent) = (Phase::Answer(now_us), now_us, 0);
    c.close_after = !r.keep_alive;
    let written = http::write_head(
        &mut c.output,
        r.status,
        r.kind,
        r.body.len(),
        r.keep_alive,
        r.extra,
    )
    .and_then(|()| {
        if r.head_only {
            return Ok(());
        }
        Out::new(&mut c.output, http::HEAD_MAX + MAX_ANSWER).bytes(r.body)
    });
    if written.is_err() {
        c.output = Vec::new();
        c.close_after = true;
        if Out::new(&mut c.output, OVERLOADED.len())
            .bytes(OVERLOADED)
            .is_err()
        {
            s.abort();
            return;
        }
    }
    flush(c, s, now_us);
}

/// Makes the socket listen again and forgets the client.
fn listen_again(c: &mut Conn, s: &mut tcp::Socket<'_>) {
    s.abort();
    // Cannot fail: the socket is closed and the port is not 0.
    let _ = s.listen(PORT);
    c.input.clear();
    c.output.clear();
    if c.output.capacity() > TX {
        c.output = Vec::new();
    }
    (c.phase, c.sent, c.close_after, c.refuse) = (Phase::Listen, 0, false, false);
    c.timed_out = false;
}

/// Counts `c` as ended by a deadline (once: a 408 whose goodbye then runs out is one).
fn time_out(c: &mut Conn, stats: &mut HttpStats) {
    if !c.timed_out {
        c.timed_out = true;
        stats.timeouts += 1;
    }
}

/// The federation link's figures `/varz` shows (from `nats://link`).
const LINK_FIGURES: [&str; 9] = [
    "connected",
    "connects",
    "reconnects",
    "published",
    "received",
    "exported",
    "imported",
    "duplicates",
    "lag",
];

/// A `key: value` figure from a kernel file (`proc://bus`, `mem://heap`).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A kernel file's text, at most [`MAX_TEXT`] bytes of it; `None` if it cannot be read (or
/// the heap has no room for it).
fn read_text(host: &mut dyn Files, url: &str) -> Option<String> {
    let h = host.open(url, zb_abi::scheme::OpenFlags::READ).ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    let mut ok = true;
    while let Ok(n) = host.read(h, &mut buf) {
        if n == 0 || out.len() + n > MAX_TEXT {
            break;
        }
        if out.try_reserve(n).is_err() {
            ok = false;
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let _ = host.close(h);
    if !ok {
        return None;
    }
    String::from_utf8(out).ok()
}

/// Renders `page` into `body`: its content type. `Err`: the heap has no room for it, or it
/// is over [`MAX_ANSWER`].
fn render(
    page: Page,
    host: &mut dyn Host,
    net: NetFigures,
    http: HttpStats,
    body: &mut Vec<u8>,
) -> Result<&'static str, fmt::Error> {
    let mut out = Out::new(body, MAX_ANSWER);
    // Only what the page shows is gathered (listing the runs and reading proc://bus are the
    // costly parts): the index needs none of it.
    if page == Page::Index {
        out.bytes(b"ZeroBus OS status: /varz /metrics /runs\n")?;
        return Ok("text/plain");
    }
    let listing = page == Page::Runs;
    let (mut live, mut done) = (0u64, 0u64);
    if listing {
        out.bytes(b"[")?;
    }
    let mut first = true;
    host.runs(&mut |r: &RunInfo<'_>| {
        if r.exit.is_some() {
            done += 1;
        } else {
            live += 1;
        }
        if !listing {
            return;
        }
        if !first {
            let _ = out.bytes(b",");
        }
        first = false;
        let _ = write!(
            out,
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
            let _ = out.bytes(b",\"exit\":\"");
            let _ = write!(JsonEscaped(&mut out), "{exit}");
            let _ = out.bytes(b"\"");
        }
        let _ = out.bytes(b"}");
    });
    if listing {
        out.bytes(b"]\n")?;
        return Ok("application/json");
    }
    let uptime_us = host.clock_us();
    let mem = host.meminfo();
    let bus = read_text(host, "proc://bus");
    let bus_figure = |key: &str| bus.as_deref().and_then(|t| field(t, key));
    // The federation link's figures, when the system has a link and it is on.
    let link = read_text(host, "nats://link").filter(|t| !t.starts_with("state: off"));
    let link_figure = |key: &str| link.as_deref().and_then(|t| field(t, key)).unwrap_or(0);
    let n = net.counters;
    if page == Page::Varz {
        let _ = write!(
            out,
            "{{\"uptime_ms\":{},\"runs\":{{\"live\":{live},\"done\":{done}}},\"memory\":{{\"heap_used\":{},\"heap_free\":{},\"heap_total\":{},\"ram_total\":{}}}",
            uptime_us / 1000,
            mem.heap.used,
            mem.heap.free,
            mem.heap.total,
            mem.ram_total
        );
        // The date, when the system knows it (UNIX seconds, UTC).
        if let Some(now) = host.wall_clock() {
            let _ = write!(out, ",\"time\":{now}");
        }
        if bus.is_some() {
            let _ = write!(
                out,
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
        if link.is_some() {
            let _ = write!(out, ",\"nats\":{{");
            for (i, key) in LINK_FIGURES.iter().enumerate() {
                let comma = if i > 0 { "," } else { "" };
                let _ = write!(out, "{comma}\"{key}\":{}", link_figure(key));
            }
            let _ = write!(out, "}}");
        }
        let _ = writeln!(
            out,
            ",\"net\":{{\"rx_packets\":{},\"rx_bytes\":{},\"tx_packets\":{},\"tx_bytes\":{},\"tx_errors\":{},\"sockets\":{}}},\"http\":{{\"requests\":{},\"refused\":{},\"timeouts\":{},\"shed\":{}}}}}",
            n.rx_packets,
            n.rx_bytes,
            n.tx_packets,
            n.tx_bytes,
            n.tx_errors,
            net.sockets,
            http.requests,
            http.refused,
            http.timeouts,
            http.shed
        );
        out.ok()?;
        return Ok("application/json");
    }
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = write!(
            out,
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
    if link.is_some() {
        for (key, kind, help) in [
            (
                "connected",
                "gauge",
                "1 while the federation link is connected to nats-server.",
            ),
            (
                "reconnects",
                "counter",
                "Federation link connections lost after being up.",
            ),
            ("published", "counter", "NATS messages the link published."),
            ("received", "counter", "NATS messages the link received."),
            (
                "exported",
                "counter",
                "Local events published to the federation.",
            ),
            (
                "imported",
                "counter",
                "Events from other nodes appended to the journal.",
            ),
            (
                "lag",
                "gauge",
                "Events the stream holds for this node not yet delivered.",
            ),
        ] {
            let kind_suffix = if kind == "counter" { "_total" } else { "" };
            metric(
                &alloc::format!("zerobus_nats_{key}{kind_suffix}"),
                kind,
                help,
                link_figure(key),
            );
        }
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
    metric(
        "zerobus_http_timeouts_total",
        "counter",
        "Connections ended by a deadline (408, idle, or a client that did not read).",
        http.timeouts,
    );
    metric(
        "zerobus_http_shed_total",
        "counter",
        "Connections reset to make room, or refused with 503.",
        http.shed,
    );
    out.ok()?;
    Ok("text/plain; version=0.0.4")
}

/// A string escaped for a JSON string literal.
struct Json<'a>(&'a str);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        JsonEscaped(f).write_str(self.0)
    }
}

/// Passes what is written to it on to the inner writer, escaped for a JSON string literal.
struct JsonEscaped<'w, W: Write + ?Sized>(&'w mut W);

impl<W: Write + ?Sized> Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(self.0, "\\u{:04x}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The server over smoltcp's loopback device, with clients in the same socket set and a
    //! clock the test moves: every deadline is checked in simulated time.
    extern crate std;

    use super::*;
    use smoltcp::iface::{Config, Interface};
    use smoltcp::phy::{Loopback, Medium};
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};
    use std::string::String;
    use std::vec::Vec;
    // The crate's test host (`crate::tests::Fake`): a clock the test moves, `runs` made-up
    // runs for the `/runs` page.
    use crate::tests::Fake;

    const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
    /// The clock's step: the service polls every millisecond while busy; 10 ms is as good
    /// for deadlines of seconds, and ten times quicker.
    const TICK: u64 = 10_000;

    struct Net {
        iface: Interface,
        dev: Loopback,
        sockets: SocketSet<'static>,
        server: StatusServer,
        host: Fake,
        next_port: u16,
    }

    impl Net {
        fn new() -> Net {
            let mut dev = Loopback::new(Medium::Ethernet);
            let config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
                2, 0, 0, 0, 0, 1,
            ])));
            let mut iface = Interface::new(config, &mut dev, Instant::from_micros(0));
            iface.update_ip_addrs(|a| {
                let _ = a.push(IpCidr::new(IpAddress::Ipv4(SERVER), 24));
            });
            let mut sockets = SocketSet::new(Vec::new());
            let server = StatusServer::new(&mut sockets);
            Net {
                iface,
                dev,
                sockets,
                server,
                host: Fake {
                    now: 1,
                    runs: 3,
                    ..Fake::default()
                },
                next_port: 40000,
            }
        }

        /// One poll, as the service does it: the stack, the server, the stack again.
        fn tick(&mut self) {
            let now = Instant::from_micros(self.host.now as i64);
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            let net = NetFigures {
                counters: crate::device::Counters::default(),
                sockets: 0,
            };
            self.server.serve(&mut self.sockets, &mut self.host, net);
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
        }

        /// Moves the clock on by `us`, polling every [`TICK`].
        fn run_for(&mut self, us: u64) {
            let end = self.host.now + us;
            while self.host.now < end {
                self.host.now = (self.host.now + TICK).min(end);
                self.tick();
            }
        }

        fn run_until(&mut self, t: u64) {
            self.run_for(t.saturating_sub(self.host.now));
        }

        /// `n` client connections at once (their receive windows `rx` bytes), polled until
        /// they are through the handshake or refused.
        fn connect_many(&mut self, n: usize, rx: usize) -> Vec<SocketHandle> {
            let handles = (0..n)
                .map(|_| {
                    let mut s = tcp::Socket::new(
                        tcp::SocketBuffer::new(vec![0u8; rx]),
                        tcp::SocketBuffer::new(vec![0u8; 4096]),
                    );
                    crate::tune(&mut s);
                    self.next_port += 1;
                    s.connect(
                        self.iface.context(),
                        (IpAddress::Ipv4(SERVER), PORT),
                        self.next_port,
                    )
                    .unwrap();
                    self.sockets.add(s)
                })
                .collect();
            self.run_for(5 * TICK);
            handles
        }

        fn connect(&mut self, rx: usize) -> SocketHandle {
            self.connect_many(1, rx)[0]
        }

        /// `bytes` from each of `clients`, then a few polls: out, in, answered, out, in.
        fn send_all(&mut self, clients: &[SocketHandle], bytes: &[u8]) {
            for &h in clients {
                assert_eq!(self.client(h).send_slice(bytes), Ok(bytes.len()));
            }
            self.run_for(5 * TICK);
        }

        fn client(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
            self.sockets.get_mut::<tcp::Socket>(h)
        }

        fn send(&mut self, h: SocketHandle, bytes: &[u8]) {
            self.send_all(&[h], bytes);
        }

        /// Everything the client has received so far, as text.
        fn received(&mut self, h: SocketHandle) -> String {
            let mut out = Vec::new();
            let s = self.client(h);
            while s.can_recv() {
                let mut buf = [0u8; 4096];
                match s.recv_slice(&mut buf) {
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }

        fn state(&self, h: SocketHandle) -> tcp::State {
            self.sockets.get::<tcp::Socket>(h).state()
        }

        /// Whether the server has closed its side towards client `h` (or reset it).
        fn dropped(&self, h: SocketHandle) -> bool {
            !self.sockets.get::<tcp::Socket>(h).may_recv()
        }

        fn listening(&self) -> usize {
            self.server.listening(&self.sockets)
        }
    }

    const GET_VARZ: &[u8] = b"GET /varz HTTP/1.1\r\nHost: t\r\n\r\n";

    #[test]
    fn deadlines_follow_the_phase() {
        assert_eq!(Phase::Listen.deadline(), None);
        assert_eq!(Phase::Handshake(7).deadline(), Some(7 + HEAD_US));
        assert_eq!(Phase::Head(7).deadline(), Some(7 + HEAD_US));
        assert_eq!(Phase::Idle(7).deadline(), Some(7 + IDLE_US));
        assert_eq!(Phase::Answer(7).deadline(), Some(7 + WRITE_US));
        assert_eq!(Phase::Closing(7).deadline(), Some(7 + WRITE_US));
        assert!(!Phase::Head(7).expired(7 + HEAD_US - 1));
        assert!(Phase::Head(7).expired(7 + HEAD_US));
        assert!(!Phase::Head(u64::MAX).expired(u64::MAX - 1));
        assert!(!Phase::Listen.expired(u64::MAX));
    }

    #[test]
    fn requests_are_answered_on_a_kept_connection() {
        let mut net = Net::new();
        let c = net.connect(8192);
        assert_eq!(net.state(c), tcp::State::Established);
        assert_eq!(net.listening(), POOL);
        net.send(c, GET_VARZ);
        let a = net.received(c);
        assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
        assert!(a.contains("Connection: keep-alive") && a.contains("\"uptime_ms\":"));
        net.send(c, b"GET /runs HTTP/1.1\r\nHost: t\r\n\r\n");
        let a = net.received(c);
        assert!(a.contains("\"exit\":\"rejected: said \\\"no\\\"\"}"), "{a}");
        net.send(
            c,
            b"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(net.received(c).starts_with("HTTP/1.1 404 Not Found\r\n"));
        net.run_for(TICK);
        assert!(net.dropped(c));
        net.client(c).close();
        net.run_for(5 * TICK);
        assert_eq!(net.listening(), POOL + 1);
        assert_eq!(net.server.stats.requests, 3);
        assert_eq!(net.server.stats.timeouts, 0);
    }

    #[test]
    fn a_trickled_head_is_cut_off_at_its_deadline() {
        let mut net = Net::new();
        let c = net.connect(8192);
        let first = net.host.now;
        // A byte a second: each one is news, none of them puts the deadline off.
        for (i, &b) in GET_VARZ[..4].iter().enumerate() {
            net.run_until(first + i as u64 * 1_000_000);
            net.send(c, &[b]);
        }
        net.run_until(first + HEAD_US - TICK);
        assert_eq!(net.received(c), "");
        assert!(!net.dropped(c));
        net.run_until(first + HEAD_US + 10 * TICK);
        let a = net.received(c);
        assert!(a.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{a}");
        assert!(a.contains("Connection: close"));
        assert!(net.dropped(c), "closed after the 408");
        assert_eq!(net.server.stats.timeouts, 1);
        // A client that never closes its side: the goodbye runs out too (counted once).
        net.run_for(WRITE_US);
        assert_eq!(net.state(c), tcp::State::Closed, "reset");
        assert_eq!(net.listening(), POOL + 1);
        assert_eq!(net.server.stats.timeouts, 1);
    }

    #[test]
    fn idle_connections_are_closed() {
        let mut net = Net::new();
        let start = net.host.now;
        // Connected, never a byte; and a request answered, then nothing.
        let [silent, kept] = net.connect_many(2, 8192)[..] else {
            unreachable!()
        };
        net.run_until(start + 2_000_000);
        let asked = net.host.now;
        net.send(kept, GET_VARZ);
        assert!(net.received(kept).starts_with("HTTP/1.1 200 OK"));
        net.run_until(start + IDLE_US - TICK);
        assert!(!net.dropped(silent));
        net.run_until(start + IDLE_US + 10 * TICK);
        assert!(net.dropped(silent), "idle for {IDLE_US} us");
        assert!(!net.dropped(kept));
        net.run_until(asked + IDLE_US + 10 * TICK);
        assert!(net.dropped(kept));
        assert_eq!(net.received(silent), "", "closed without an answer");
        assert_eq!(net.server.stats.timeouts, 2);
    }

    #[test]
    fn a_client_that_does_not_read_is_reset() {
        let mut net = Net::new();
        // A /runs page of about 40 KB, far more than the send buffer and the client's window.
        net.host.runs = 300;
        let c = net.connect(64);
        let asked = net.host.now;
        net.send(c, b"GET /runs HTTP/1.1\r\nHost: t\r\n\r\n");
        net.run_until(asked + WRITE_US - TICK);
        assert_eq!(net.state(c), tcp::State::Established);
        net.run_until(asked + WRITE_US + 10 * TICK);
        assert_eq!(net.state(c), tcp::State::Closed, "reset");
        assert_eq!(net.listening(), POOL + 1);
        assert_eq!(net.server.stats.timeouts, 1);

        // A small answer that fits, on a connection closing after it, that the client never
        // reads: the goodbye cannot finish, and the write deadline resets it.
        let c = net.connect(16);
        let asked = net.host.now;
        net.send(
            c,
            b"GET /varz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        net.run_until(asked + WRITE_US - TICK);
        assert_eq!(net.state(c), tcp::State::Established);
        net.run_until(asked + WRITE_US + 10 * TICK);
        assert_eq!(net.state(c), tcp::State::Closed, "reset");
        assert_eq!(net.server.stats.timeouts, 2);

        // The same, kept alive: the answer is all in the socket, never acknowledged.
        let c = net.connect(16);
        let asked = net.host.now;
        net.send(c, GET_VARZ);
        net.run_until(asked + WRITE_US - TICK);
        assert_eq!(net.state(c), tcp::State::Established);
        net.run_until(asked + WRITE_US + 10 * TICK);
        assert_eq!(net.state(c), tcp::State::Closed, "reset");
        assert_eq!(net.server.stats.timeouts, 3);
        assert_eq!(net.listening(), POOL + 1);
    }

    #[test]
    fn slow_clients_cannot_hold_the_pool() {
        let mut net = Net::new();
        let start = net.host.now;
        let tricklers = net.connect_many(POOL, 8192);
        net.send_all(&tricklers, b"G");
        assert_eq!(net.listening(), 1);
        net.run_until(start + 1_000_000);
        net.send_all(&tricklers, b"E");
        // A newcomer takes the last socket: the stalest trickler is reset to make room, and
        // the newcomer is served at once.
        let asked = net.host.now;
        let c = net.connect(8192);
        net.send(c, GET_VARZ);
        assert!(net.received(c).starts_with("HTTP/1.1 200 OK"));
        assert!(net.host.now - asked <= 10 * TICK);
        let reset = tricklers
            .iter()
            .filter(|&&t| net.state(t) == tcp::State::Closed)
            .count();
        assert_eq!(reset, 1);
        assert_eq!(net.server.stats.shed, 1);
        assert_eq!(net.listening(), 1);
        // The others get their 408 at their deadline, however many bytes they send.
        net.run_until(start + 4_000_000);
        let live: Vec<_> = tricklers
            .iter()
            .copied()
            .filter(|&t| net.state(t) != tcp::State::Closed)
            .collect();
        net.send_all(&live, b"T");
        net.run_until(start + HEAD_US - TICK);
        assert!(live.iter().all(|&t| !net.dropped(t)));
        net.run_until(start + HEAD_US + 20 * TICK);
        for &t in &live {
            assert!(net.received(t).starts_with("HTTP/1.1 408"));
            assert!(net.dropped(t));
            net.client(t).close();
        }
        net.run_for(5 * TICK);
        // All back, but the kept-alive newcomer's.
        assert_eq!(net.listening(), POOL);
        assert_eq!(net.server.stats.timeouts, POOL as u64 - 1);
    }

    #[test]
    fn a_full_pool_refuses_newcomers_at_once() {
        let mut net = Net::new();
        net.host.runs = 300;
        // Every socket but the spare answering a client that does not read: none can go.
        let stuck = net.connect_many(POOL, 64);
        net.send_all(&stuck, b"GET /runs HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(net.listening(), 1);
        // The next one takes the spare, and is answered 503 and closed; once the answer is
        // delivered its socket is taken back at once, for the next newcomer.
        for shed in 1..=3 {
            let refused = net.connect(8192);
            net.run_for(5 * TICK);
            let a = net.received(refused);
            assert!(a.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{a}");
            assert!(a.contains("Retry-After: 1\r\n"));
            assert!(net.dropped(refused));
            assert_eq!(net.listening(), 1);
            assert_eq!(net.server.stats.shed, 2 * shed);
        }
        // A newcomer that does not read its 503 holds the spare until its write deadline;
        // meanwhile nothing listens, and the next is reset at once.
        let slow = net.connect(8);
        net.run_for(5 * TICK);
        assert_eq!(net.listening(), 0);
        let reset = net.connect(8192);
        assert_eq!(net.state(reset), tcp::State::Closed);
        net.run_for(WRITE_US);
        assert_eq!(net.state(slow), tcp::State::Closed);
        for c in stuck {
            assert_eq!(
                net.state(c),
                tcp::State::Closed,
                "reset at their deadline too"
            );
        }
        assert_eq!(net.listening(), POOL + 1);
    }

    #[test]
    fn a_page_over_the_limit_is_503() {
        let mut net = Net::new();
        net.host.runs = MAX_ANSWER / 100;
        let c = net.connect(8192);
        net.send(c, b"GET /runs HTTP/1.1\r\nHost: t\r\n\r\n");
        let a = net.received(c);
        assert!(a.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{a}");
        // The connection goes on.
        net.send(c, GET_VARZ);
        assert!(net.received(c).starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn malformed_and_oversized_heads_are_refused() {
        let mut net = Net::new();
        let c = net.connect(8192);
        net.send(c, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n");
        let a = net.received(c);
        assert!(a.starts_with("HTTP/1.1 505 "), "{a}");
        assert!(
            a.ends_with("\r\n\r\n505 HTTP Version Not Supported\n"),
            "{a}"
        );
        let c = net.connect(8192);
        let mut big = Vec::from(&b"GET / HTTP/1.1\r\nHost: t\r\n"[..]);
        while big.len() <= Limits::DEFAULT.head {
            big.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
        }
        for chunk in big.chunks(1024) {
            net.send(c, chunk);
        }
        assert!(net.received(c).starts_with("HTTP/1.1 431 "));
        assert!(
            net.server
                .conns
                .iter()
                .all(|c| c.input.capacity() <= RX + 1)
        );
    }
}
