//! One NATS connection's life, without I/O: the link hands it what the transport received and
//! when the transport came up or went down; it says what to send and when it wants to be
//! called again.
//!
//! ```text
//!  Down ──transport_up──▶ Handshake ──INFO──▶ Up ──transport_down / error / stale──▶ Down
//!   ▲ retry_at (backoff)                       │ (CONNECT, every SUB again, PING)
//! ```
//!
//! - Handshake: the server speaks first (`INFO`); the client answers `CONNECT`, subscribes
//!   everything it had subscribed (so a reconnect restores them under the same sids), then
//!   `PING`: the `PONG` proves the server took it all.
//! - Up: a server `PING` is answered `PONG`; every `ping_interval_us` the client pings, and a
//!   server that lets [`Options::max_pings_out`] pings go unanswered is stale: the connection
//!   is dropped (the link closes the transport) and retried after a [`Backoff`] delay.
//! - Anything the server sends that is not NATS ([`ProtoError`]), or an `-ERR` that ends the
//!   connection, drops it the same way. What arrives is buffered only up to one control line
//!   and one message of the agreed size.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::backoff::Backoff;
use crate::info::ServerInfo;
use crate::proto::{self, Limits, Msg, Parsed, ProtoError, ServerOp, WriteError, Writer};

/// How the client proves who it is to a server that requires it (nats-server's
/// `authorization`): sent in `CONNECT`, never shown (`Debug` and [`Credentials::describe`]
/// name the kind and the user, not the secret).
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `auth_token`.
    Token(String),
    /// `user` and `pass`.
    User { user: String, pass: String },
}

impl Credentials {
    /// `[USER:PASS|TOKEN]` as written before the `@` of a server address: each part is
    /// non-empty and has no whitespace or control characters (a user has no `:`).
    pub fn parse(text: &str) -> Option<Credentials> {
        let fine =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        match text.split_once(':') {
            Some((user, pass)) if fine(user) && fine(pass) => Some(Credentials::User {
                user: String::from(user),
                pass: String::from(pass),
            }),
            None if fine(text) => Some(Credentials::Token(String::from(text))),
            _ => None,
        }
    }

    /// What `nats://link` shows: `token`, or `user NAME`.
    pub fn describe(&self) -> String {
        match self {
            Credentials::Token(_) => String::from("token"),
            Credentials::User { user, .. } => alloc::format!("user {user}"),
        }
    }
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What a client says about itself, and its limits.
#[derive(Debug, Clone)]
pub struct Options {
    /// The client's name in the server's monitoring (`zb-<node id>`).
    pub name: String,
    /// Sent in `CONNECT` when present.
    pub credentials: Option<Credentials>,
    /// Largest message the client takes (the smaller of this and the server's is used).
    pub max_payload: usize,
    pub ping_interval_us: u64,
    pub max_pings_out: u32,
    pub backoff_min_us: u64,
    pub backoff_max_us: u64,
    /// Every `INFO` begins a new session (see `link::Transport::restarts_on_info`).
    pub restart_on_info: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: String::from("zerobus"),
            credentials: None,
            max_payload: 64 << 10,
            ping_interval_us: 20_000_000,
            max_pings_out: 2,
            backoff_min_us: 250_000,
            backoff_max_us: 10_000_000,
            restart_on_info: false,
        }
    }
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No transport; the link opens one at `retry_at` (µs).
    Down {
        retry_at: u64,
    },
    /// A transport, waiting for the server's `INFO`.
    Handshake,
    Up,
}

/// Why a connection was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// The server's stream is not NATS.
    Protocol(ProtoError),
    /// The server ended it (`-ERR`), with its reason.
    Refused(String),
    /// Pings went unanswered.
    Stale,
    /// The transport closed.
    Closed,
}

impl core::fmt::Display for Dropped {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Dropped::Protocol(e) => write!(f, "not NATS: {e}"),
            Dropped::Refused(why) => write!(f, "refused by the server: {why}"),
            Dropped::Stale => f.write_str("the server stopped answering pings"),
            Dropped::Closed => f.write_str("closed"),
        }
    }
}

/// Counters for `/varz` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Handshakes completed.
    pub connects: u64,
    /// Connections lost after being up.
    pub reconnects: u64,
    pub published: u64,
    pub received: u64,
    pub dropped_protocol: u64,
}

struct Sub {
    sid: u64,
    pattern: String,
    queue: Option<String>,
}

/// See the module doc.
pub struct Connection {
    opts: Options,
    state: State,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    subs: Vec<Sub>,
    next_sid: u64,
    pings_out: u32,
    next_ping_us: u64,
    backoff: Backoff,
    server: Option<ServerInfo>,
    counters: Counters,
    last_error: Option<Dropped>,
    /// [`Connection::speak_first`] introduced the client on this transport.
    spoke_first: bool,
}

/// Why a call was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Not connected: the caller keeps the message (and sends it once [`State::Up`]).
    NotConnected,
    Invalid(WriteError),
}

impl Connection {
    pub fn new(opts: Options) -> Connection {
        let backoff = Backoff::new(opts.backoff_min_us, opts.backoff_max_us);
        Connection {
            opts,
            state: State::Down { retry_at: 0 },
            out: Vec::new(),
            inbuf: Vec::new(),
            subs: Vec::new(),
            next_sid: 1,
            pings_out: 0,
            next_ping_us: 0,
            backoff,
            server: None,
            counters: Counters::default(),
            last_error: None,
            spoke_first: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn server(&self) -> Option<&ServerInfo> {
        self.server.as_ref()
    }

    /// Why the last connection was dropped.
    pub fn last_error(&self) -> Option<&Dropped> {
        self.last_error.as_ref()
    }

    /// The limits in force: ours, and the server's `max_payload` once known.
    pub fn limits(&self) -> Limits {
        let server = self
            .server
            .as_ref()
            .map(|s| s.max_payload)
            .filter(|&m| m > 0)
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(usize::MAX);
        Limits {
            max_control: Limits::default().max_control,
            max_payload: self.opts.max_payload.min(server),
        }
    }

    /// The transport is up: the handshake starts (the server speaks first).
    pub fn transport_up(&mut self) {
        self.state = State::Handshake;
        self.spoke_first = false;
        self.inbuf.clear();
        self.out.clear();
        self.pings_out = 0;
    }

    /// The transport went down (or the link closed it after a [`Dropped`]): the next attempt
    /// is after a backoff delay from `now`.
    pub fn transport_down(&mut self, now: u64, random: u32, why: Dropped) {
        if self.state == State::Up {
            self.counters.reconnects += 1;
        }
        if matches!(why, Dropped::Protocol(_)) {
            self.counters.dropped_protocol += 1;
        }
        self.last_error = Some(why);
        self.state = State::Down {
            retry_at: now.saturating_add(self.backoff.next_delay(random)),
        };
        self.inbuf.clear();
        self.out.clear();
    }

    /// Bytes from the transport. Messages for subscriptions go to `deliver`; an `Err` means
    /// the connection must be closed (then call [`Connection::transport_down`]).
    pub fn received(
        &mut self,
        bytes: &[u8],
        now: u64,
        deliver: &mut dyn FnMut(&Msg<'_>),
    ) -> Result<(), Dropped> {
        if self.state == State::Handshake || self.state == State::Up {
            self.inbuf.extend_from_slice(bytes);
        }
        if self.state == State::Handshake && self.opts.restart_on_info {
            // A line with no connection of its own: what came before the server's `INFO`
            // or its answer to our `PING` (the tail of an old session) is not this one's.
            skip_to_start(&mut self.inbuf);
            if !self.inbuf.starts_with(b"INFO ") && !self.inbuf.starts_with(b"PONG") {
                return Ok(());
            }
        }
        let mut taken = 0;
        let result = loop {
            let limits = self.limits();
            let rest = self.inbuf.get(taken..).unwrap_or_default();
            let (op, n) = match proto::parse(rest, &limits) {
                Ok(Parsed::Op(op, n)) => (op, n),
                Ok(Parsed::Incomplete) => break Ok(()),
                Err(e) => break Err(Dropped::Protocol(e)),
            };
            taken += n;
            match op {
                ServerOp::Info(json) => {
                    let info = ServerInfo::parse(json);
                    if self.state == State::Handshake {
                        self.server = info;
                        self.handshake(now);
                    } else if self.opts.restart_on_info {
                        // The far end of the line reconnected: a new session on the stream.
                        self.counters.reconnects += 1;
                        self.server = info;
                        self.out.clear();
                        self.handshake(now);
                    } else if let Some(info) = info {
                        // An update (cluster changes): keep it.
                        self.server = Some(info);
                    }
                }
                ServerOp::Ping => Writer::new(&mut self.out).pong(),
                ServerOp::Pong if self.state == State::Handshake && self.spoke_first => {
                    // The server took the introduction: up, with no INFO seen.
                    self.pings_out = 0;
                    self.mark_up();
                }
                ServerOp::Pong => {
                    self.pings_out = 0;
                    if self.state == State::Up && self.counters.connects > 0 {
                        self.backoff.reset();
                    }
                }
                ServerOp::Ok => {}
                ServerOp::Err(text) => {
                    // Permissions and bad subjects leave the connection open; the rest end it.
                    let lower = text.to_ascii_lowercase();
                    if !lower.contains("permissions violation")
                        && !lower.contains("invalid subject")
                    {
                        break Err(Dropped::Refused(String::from(text)));
                    }
                }
                ServerOp::Msg(msg) => {
                    if self.state == State::Up {
                        self.counters.received += 1;
                        deliver(&msg);
                    }
                }
            }
        };
        self.inbuf.drain(..taken.min(self.inbuf.len()));
        result
    }

    /// On a line with no connection of its own ([`Options::restart_on_info`]): introduces the
    /// client at once — `CONNECT`, the subscriptions, `PING` — without waiting for an `INFO`
    /// that may have come and gone before anyone listened (a board's UART is enabled after
    /// the far end connected). The server takes a `CONNECT` first, or again; the first `PONG`
    /// (or an `INFO`) completes the handshake.
    pub fn speak_first(&mut self, now: u64) {
        if self.state == State::Handshake && self.opts.restart_on_info {
            self.introduce(now);
            self.spoke_first = true;
        }
    }

    fn handshake(&mut self, now: u64) {
        self.introduce(now);
        self.mark_up();
    }

    fn mark_up(&mut self) {
        self.state = State::Up;
        self.counters.connects += 1;
    }

    /// `CONNECT`, every subscription, `PING`.
    fn introduce(&mut self, now: u64) {
        let mut connect = String::new();
        let _ = write!(
            connect,
            "{{\"verbose\":false,\"pedantic\":false,\"lang\":\"rust-zerobus\",\"version\":\"0.1.0\",\"protocol\":1,\"headers\":true,\"no_responders\":true,\"name\":"
        );
        let _ = zb_json::write_escaped(&mut connect, &self.opts.name);
        match &self.opts.credentials {
            None => {}
            Some(Credentials::Token(token)) => {
                connect.push_str(",\"auth_token\":");
                let _ = zb_json::write_escaped(&mut connect, token);
            }
            Some(Credentials::User { user, pass }) => {
                connect.push_str(",\"user\":");
                let _ = zb_json::write_escaped(&mut connect, user);
                connect.push_str(",\"pass\":");
                let _ = zb_json::write_escaped(&mut connect, pass);
            }
        }
        connect.push('}');
        let mut w = Writer::new(&mut self.out);
        w.connect(&connect);
        for sub in &self.subs {
            let _ = w.subscribe(&sub.pattern, sub.queue.as_deref(), sub.sid);
        }
        w.ping();
        self.pings_out = 1;
        self.next_ping_us = now.saturating_add(self.opts.ping_interval_us);
    }

    /// Time passed: pings the server when due; `Err(Stale)` when it stopped answering.
    pub fn tick(&mut self, now: u64) -> Result<(), Dropped> {
        if self.state != State::Up || now < self.next_ping_us {
            return Ok(());
        }
        if self.pings_out >= self.opts.max_pings_out {
            return Err(Dropped::Stale);
        }
        Writer::new(&mut self.out).ping();
        self.pings_out += 1;
        self.next_ping_us = now.saturating_add(self.opts.ping_interval_us);
        Ok(())
    }

    /// When the connection wants [`Connection::tick`] (or, when down, a new transport).
    pub fn next_deadline(&self) -> Option<u64> {
        match self.state {
            State::Down { retry_at } => Some(retry_at),
            State::Handshake => None,
            State::Up => Some(self.next_ping_us),
        }
    }

    /// Subscribes `pattern` (a queue group shares its messages); the sid messages come with.
    /// Sent now when up, else at the next handshake.
    pub fn subscribe(&mut self, pattern: &str, queue: Option<&str>) -> Result<u64, WriteError> {
        let sid = self.next_sid;
        let mut scratch = Vec::new();
        Writer::new(&mut scratch).subscribe(pattern, queue, sid)?;
        self.next_sid += 1;
        self.subs.push(Sub {
            sid,
            pattern: String::from(pattern),
            queue: queue.map(String::from),
        });
        if self.state == State::Up {
            self.out.extend_from_slice(&scratch);
        }
        Ok(sid)
    }

    pub fn unsubscribe(&mut self, sid: u64) {
        let before = self.subs.len();
        self.subs.retain(|s| s.sid != sid);
        if self.subs.len() != before && self.state == State::Up {
            Writer::new(&mut self.out).unsubscribe(sid, None);
        }
    }

    /// Publishes a message (headers: a complete block, see [`crate::headers`]).
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), SendError> {
        if self.state != State::Up {
            return Err(SendError::NotConnected);
        }
        let max = self.limits().max_payload;
        Writer::new(&mut self.out)
            .publish(subject, reply, headers, payload, max)
            .map_err(SendError::Invalid)?;
        self.counters.published += 1;
        Ok(())
    }

    /// What to send, in order; the caller sends all of it (or closes the transport).
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.out)
    }
}

/// Drops what `buf` holds before the first line that starts with `INFO ` or `PONG` (keeping a
/// tail that may be the start of one).
fn skip_to_start(buf: &mut Vec<u8>) {
    const STARTS: [&[u8]; 2] = [b"INFO ", b"PONG"];
    let found = (0..buf.len()).find(|&i| {
        (i == 0 || buf.get(i - 1) == Some(&b'\n'))
            && STARTS
                .iter()
                .any(|s| buf.get(i..).is_some_and(|rest| rest.starts_with(s)))
    });
    let cut = match found {
        Some(i) => i,
        None => buf.len().saturating_sub(4),
    };
    buf.drain(..cut);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const INFO: &[u8] = b"INFO {\"server_id\":\"S\",\"version\":\"2.9.10\",\"headers\":true,\"max_payload\":1048576,\"jetstream\":true}\r\n";

    fn text(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    fn up(c: &mut Connection) -> String {
        c.transport_up();
        c.received(INFO, 0, &mut |_| {}).unwrap();
        c.received(b"PONG\r\n", 0, &mut |_| {}).unwrap();
        text(c.take_output())
    }

    #[test]
    fn handshake_subscribes_again_after_a_reconnect() {
        let mut c = Connection::new(Options::default());
        let a = c.subscribe("orders.>", None).unwrap();
        let b = c.subscribe("jobs.*", Some("workers")).unwrap();
        assert!(c.take_output().is_empty(), "nothing sent while down");
        let sent = up(&mut c);
        assert!(sent.starts_with("CONNECT {\"verbose\":false"));
        assert!(sent.contains("\"headers\":true") && sent.contains("\"name\":\"zerobus\""));
        assert!(sent.contains(&alloc::format!(
            "SUB orders.> {a}\r\nSUB jobs.* workers {b}\r\nPING\r\n"
        )));
        assert_eq!(c.state(), State::Up);
        assert_eq!(c.server().unwrap().server_id, "S");
        // Lost and found again: the same subscriptions, the same sids.
        c.transport_down(1_000, 0, Dropped::Closed);
        assert!(matches!(c.state(), State::Down { retry_at } if retry_at > 1_000));
        c.unsubscribe(a);
        let again = up(&mut c);
        assert!(!again.contains("orders.>"));
        assert!(again.contains(&alloc::format!("SUB jobs.* workers {b}\r\n")));
        assert_eq!(c.counters().connects, 2);
        assert_eq!(c.counters().reconnects, 1);
    }

    #[test]
    fn credentials_go_in_connect_escaped() {
        let user = Credentials::parse("zb:p\"w\\x").unwrap();
        let mut c = Connection::new(Options {
            credentials: Some(user),
            ..Options::default()
        });
        let sent = up(&mut c);
        assert!(
            sent.contains(",\"user\":\"zb\",\"pass\":\"p\\\"w\\\\x\"}"),
            "{sent}"
        );
        let mut c = Connection::new(Options {
            credentials: Credentials::parse("s3cret"),
            ..Options::default()
        });
        assert!(up(&mut c).contains(",\"auth_token\":\"s3cret\"}"));
        let mut c = Connection::new(Options::default());
        let sent = up(&mut c);
        assert!(!sent.contains("auth_token") && !sent.contains("\"user\""));
    }

    #[test]
    fn messages_split_byte_by_byte_arrive_whole() {
        let mut c = Connection::new(Options::default());
        let sid = c.subscribe("a.>", None).unwrap();
        up(&mut c);
        let stream = alloc::format!(
            "PING\r\nMSG a.b {sid} 5\r\nhello\r\nHMSG a.c {sid} r.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
        let mut got = Vec::new();
        for b in stream.as_bytes() {
            c.received(core::slice::from_ref(b), 0, &mut |m| {
                got.push((
                    String::from(m.subject),
                    m.payload.to_vec(),
                    m.reply.map(String::from),
                ))
            })
            .unwrap();
        }
        assert_eq!(
            got,
            vec![
                (String::from("a.b"), b"hello".to_vec(), None),
                (
                    String::from("a.c"),
                    b"hi".to_vec(),
                    Some(String::from("r.1"))
                )
            ]
        );
        assert_eq!(
            text(c.take_output()),
            "PONG\r\n",
            "the server's PING answered"
        );
        assert_eq!(c.counters().received, 2);
    }

    #[test]
    fn a_silent_server_is_stale_and_retried_later() {
        let mut c = Connection::new(Options {
            ping_interval_us: 100,
            max_pings_out: 2,
            ..Options::default()
        });
        c.transport_up();
        c.received(INFO, 0, &mut |_| {}).unwrap(); // handshake PING: 1 out
        c.take_output();
        assert_eq!(c.tick(50), Ok(()));
        assert_eq!(c.tick(100), Ok(())); // 2 out
        assert_eq!(text(c.take_output()), "PING\r\n");
        assert_eq!(c.tick(200), Err(Dropped::Stale));
        c.transport_down(200, 7, Dropped::Stale);
        assert_eq!(c.last_error(), Some(&Dropped::Stale));
        let State::Down { retry_at } = c.state() else {
            panic!()
        };
        assert!(retry_at > 200);
        assert_eq!(c.next_deadline(), Some(retry_at));
    }

    #[test]
    fn hostile_servers_are_dropped_and_buffers_stay_bounded() {
        let mut c = Connection::new(Options {
            max_payload: 1024,
            ..Options::default()
        });
        up(&mut c);
        // A message over our limit is refused before its bytes arrive.
        assert_eq!(
            c.received(b"MSG a 1 4096\r\n", 0, &mut |_| {}),
            Err(Dropped::Protocol(ProtoError::TooLarge))
        );
        c.transport_down(0, 0, Dropped::Protocol(ProtoError::TooLarge));
        up(&mut c);
        // A control line that never ends: refused once past the limit, not buffered forever.
        let junk = vec![b'A'; 1000];
        let mut result = Ok(());
        for _ in 0..10 {
            result = c.received(&junk, 0, &mut |_| {});
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(Dropped::Protocol(ProtoError::LineTooLong)));
        assert!(c.inbuf.len() <= 10_000);
        c.transport_down(0, 0, Dropped::Closed);
        up(&mut c);
        assert_eq!(
            c.received(b"-ERR 'Authorization Violation'\r\n", 0, &mut |_| {}),
            Err(Dropped::Refused(String::from("Authorization Violation")))
        );
        up(&mut c);
        assert_eq!(
            c.received(
                b"-ERR 'Permissions Violation for Publish to \"x\"'\r\n",
                0,
                &mut |_| {}
            ),
            Ok(()),
            "a refused publish leaves the connection up"
        );
        assert_eq!(c.counters().dropped_protocol, 1);
    }

    #[test]
    fn publishing_needs_a_connection_and_a_subject() {
        let mut c = Connection::new(Options::default());
        assert_eq!(
            c.publish("a", None, None, b"x"),
            Err(SendError::NotConnected)
        );
        up(&mut c);
        c.publish("a.b", Some("_INBOX.z"), None, b"x").unwrap();
        assert_eq!(text(c.take_output()), "PUB a.b _INBOX.z 1\r\nx\r\n");
        assert_eq!(
            c.publish("a b", None, None, b""),
            Err(SendError::Invalid(WriteError::BadSubject))
        );
        assert_eq!(
            c.publish("a", None, None, &vec![0; 70_000]),
            Err(SendError::Invalid(WriteError::TooLarge))
        );
        assert_eq!(c.counters().published, 1);
    }

    /// A serial line has no connection of its own: what it carried before the server's INFO
    /// (the tail of an old session, the -ERR that ended it) is skipped, and an INFO while up
    /// is the server starting over — a new handshake, the subscriptions again.
    #[test]
    fn a_line_that_restarts_takes_every_info_as_a_new_session() {
        let mut c = Connection::new(Options {
            restart_on_info: true,
            ..Options::default()
        });
        let sid = c.subscribe("zb.node.*.hb", None).unwrap();
        c.transport_up();
        let mut got = 0;
        // The end of an old session, then a new one, split anywhere.
        c.received(
            b"x\":1}\r\n-ERR 'Unknown Protocol Operation'\r\nIN",
            0,
            &mut |_| got += 1,
        )
        .unwrap();
        assert_eq!(c.state(), State::Handshake);
        c.received(&INFO[2..], 0, &mut |_| got += 1).unwrap();
        assert_eq!(c.state(), State::Up);
        let first = text(c.take_output());
        assert!(
            first.starts_with("CONNECT ")
                && first.contains(&alloc::format!("SUB zb.node.*.hb {sid}\r\n"))
        );
        assert_eq!(c.counters().connects, 1);
        // The far end reconnected: the same stream brings a new INFO.
        c.received(INFO, 0, &mut |_| got += 1).unwrap();
        let again = text(c.take_output());
        assert!(again.starts_with("CONNECT ") && again.contains("SUB zb.node.*.hb"));
        assert_eq!((c.counters().connects, c.counters().reconnects), (2, 1));
        assert_eq!(got, 0);
        // Without the option, an INFO while up is an update and nothing is sent.
        let mut plain = Connection::new(Options::default());
        up(&mut plain);
        plain.received(INFO, 0, &mut |_| {}).unwrap();
        assert!(plain.take_output().is_empty());
        assert_eq!(plain.counters().connects, 1);
    }

    /// On such a line the client speaks first; the server's PONG completes the handshake,
    /// whatever tail of an old session came before it.
    #[test]
    fn a_line_that_restarts_is_spoken_to_first() {
        let mut c = Connection::new(Options {
            restart_on_info: true,
            ..Options::default()
        });
        let sid = c.subscribe("zb.ev.>", None).unwrap();
        c.transport_up();
        c.speak_first(0);
        let said = text(c.take_output());
        assert!(
            said.starts_with("CONNECT ")
                && said.ends_with(&alloc::format!("SUB zb.ev.> {sid}\r\nPING\r\n"))
        );
        assert_eq!(c.state(), State::Handshake);
        c.received(b"\"jetstream\":true}\r\nPO", 0, &mut |_| {})
            .unwrap();
        assert_eq!(c.state(), State::Handshake);
        c.received(b"NG\r\n", 0, &mut |_| {}).unwrap();
        assert_eq!(c.state(), State::Up);
        assert_eq!(c.counters().connects, 1);
        // Not on an ordinary transport: it waits for the server's INFO.
        let mut plain = Connection::new(Options::default());
        plain.transport_up();
        plain.speak_first(0);
        assert!(plain.take_output().is_empty());
    }

    #[test]
    fn skipping_to_a_start_keeps_a_tail_that_may_begin_one() {
        let mut b = b"garbage INFO inside\r\nINF".to_vec();
        skip_to_start(&mut b);
        assert_eq!(b, b"\nINF");
        let mut b = b"junk\nINFO {}\r\n".to_vec();
        skip_to_start(&mut b);
        assert_eq!(b, b"INFO {}\r\n");
        let mut empty = Vec::new();
        skip_to_start(&mut empty);
        assert!(empty.is_empty());
    }
}
