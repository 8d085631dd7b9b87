//! The `nats` link: the native service that joins this node's bus to the others' through a
//! NATS server, over whatever carries bytes on this platform ([`Transport`]).
//!
//! What it does, once `Up` ([`crate::conn`]):
//! - **Export.** Committed local events on the exported subjects (not imported ones: each event
//!   is published by its own node only) are published, in journal order, to `zb.ev.<subject>`
//!   with `Nats-Msg-Id: <node>:<seq>` and a reply subject, so JetStream's stream `ZB_EVENTS`
//!   acknowledges each one. At most [`EXPORT_WINDOW`] wait for their acknowledgement; what has
//!   none after [`EXPORT_RESEND_US`] (or when the connection is lost) is published again —
//!   the stream drops the copy by its message id, an importer by its origin.
//! - **Import.** One durable pull consumer (`zb-<node>`) reads the whole stream in stream
//!   order; what matches an import pattern goes into the local journal with its origin
//!   ([`zb_abi::Bus::import_event`], durable when it returns) and only then is acknowledged.
//!   One consumer, not one per pattern: the journal de-duplicates by each origin's highest
//!   sequence number, which is only sound if an origin's events arrive in their order — so
//!   the link imports in stream order, strictly: a delivery past the next stream sequence it
//!   needs (the one before it was lost with a connection, or refused) is handed back (`-NAK`
//!   with a delay), and the missing event is fetched from the stream (`MSG.GET`: the
//!   consumer would deliver it again only after its ack wait); one the stream no longer has
//!   (its limits) is passed over, and said — as is a gap that outlasts two ack waits without
//!   an answer. A refusal (a full journal, no heap) hands the event back and pauses the
//!   import for [`IMPORT_RETRY_US`].
//! - **Requests.** A local request (an event with a `reply_to` header) on a `request`
//!   subject goes to NATS: to `zb.node.<id>.req.<subject>` when its `to` header names a node
//!   (or its `cap` header a capability, resolved here), else to `zb.req.<subject>`, which the
//!   nodes that `serve` it share as the queue group `zb` (each request goes to one). The
//!   serving node's link puts it in its journal with a `reply_to` of its own
//!   (`_INBOX.nats.<n>`), so a local responder answers it as any request; the answer goes
//!   back over NATS and into the asking node's journal on the asker's inbox. Requests and
//!   replies are NATS core (at most once): a lost one is the asker's timeout.
//! - **Presence.** A heartbeat every `heartbeat` (role, load, TTL) and the capability
//!   manifest (at connect, and whenever a node not seen before appears) on `zb.node.<id>.…`;
//!   everyone's are read into a [`Registry`].
//! - **Files.** `nats://nodes`, `nats://caps`, `nats://resolve/<capability>[?prefer=…]` and
//!   `nats://link` (state and counters) are texts for the shell's `nodes`, `caps`, `resolve`
//!   and for `/varz`.
//!
//! The node's configuration is `/etc/federation` in the boot image ([`Config`]); the boot
//! arguments override its node id and server (`node=NAME`, `nats=HOST:PORT`) and add
//! patterns (`serve=svc.>`, `import=…`, `export=…`, `request=…`) and capabilities
//! (`capability=capability://svc.echo`). Without a server the link is off and says so.
//!
//! Invariants: nothing the server sends can panic the link or grow its memory without bound
//! (the codec's limits, the registry's bounds, [`EXPORT_WINDOW`], [`MAX_REQUESTS`],
//! [`MAX_TEXTS`], [`MAX_TEXTS_PER_CLIENT`]: one run cannot hold every text); a transport
//! error closes the transport and retries after a backoff, never more.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use zb_abi::bus::{EventView, ImportedEvent, pattern_covers};
use zb_abi::kind::kinds::{NATS_SERVICE, SCHEME_NATS};
use zb_abi::scheme::{Answer, Op, OpenFlags, Reply, Request};
use zb_abi::{Error, Host, NativeService};

use crate::config::{Config, subjects};
use crate::conn::{Connection, Credentials, Dropped, Options, State};
use crate::headers::Headers;
use crate::interop::{self, ImportError, Outgoing};
use crate::jetstream::{self, Delivery};
use crate::presence::{Prefer, Registry, Role};
use crate::proto::Msg;

/// Exported events published and not yet acknowledged by the stream, at most.
pub const EXPORT_WINDOW: usize = 32;
/// An export not acknowledged after this long is published again.
pub const EXPORT_RESEND_US: u64 = 5_000_000;
/// A transport that has not brought the server's `INFO` after this long is closed.
pub const HANDSHAKE_TIMEOUT_US: u64 = 5_000_000;
/// How long the import pauses after the journal refused an event (it is handed back, and
/// comes again after the pause).
pub const IMPORT_RETRY_US: u64 = 2_000_000;
/// A delivery that is ahead of the stream sequence the import needs comes again after this.
pub const GAP_RETRY_US: u64 = 1_000_000;
/// A gap in the stream still open after this long is passed over (its events are gone).
pub const GAP_GIVE_UP_US: u64 = 2 * jetstream::ACK_WAIT_NS / 1_000;
/// Messages one pull asks for.
pub const PULL_BATCH: u32 = 32;
/// How long a pull waits on the server for messages.
pub const PULL_EXPIRES_MS: u64 = 5_000;
/// Open `nats://` texts, at most, and at most per client (a run cannot take them all).
pub const MAX_TEXTS: usize = 8;
pub const MAX_TEXTS_PER_CLIENT: usize = 2;
/// Requests in flight each way, at most (the oldest is forgotten first).
pub const MAX_REQUESTS: usize = 32;
/// A request without an answer after this long is forgotten.
pub const REQUEST_TTL_US: u64 = 30_000_000;
/// The local inboxes the link answers requests from NATS on: `_INBOX.nats.<n>`.
const LOCAL_INBOX: &str = "_INBOX.nats.";
/// The file the link's configuration is read from.
pub const CONFIG_PATH: &str = "/etc/federation";

/// How often the link polls its transport while connected (it has no interrupt of its own).
pub const POLL_US: u64 = 2_000;

/// What carries the link's bytes: TCP through the net service, a UART, a WebSocket.
pub trait Transport {
    /// A word for logs: `tcp`, `serial`, `websocket`.
    fn kind(&self) -> &'static str;
    /// Whether the server may start over on the same stream, unannounced (a serial line whose
    /// far end reconnected): every `INFO` then begins a new session.
    fn restarts_on_info(&self) -> bool {
        false
    }
    /// Whether the platform calls the kernel when bytes arrive (a browser's event loop): the
    /// link then polls only for its own deadlines, so an idle node stays idle.
    fn wakes_on_input(&self) -> bool {
        false
    }
    /// Whether received bytes wait (for a transport that wakes on input).
    fn has_input(&self) -> bool {
        false
    }
    /// Starts a connection to `server` (`HOST:PORT`; a serial line ignores it). Bytes may not
    /// flow yet: `read` and `write` say so by moving none.
    fn open(&mut self, server: &str, host: &mut dyn Host) -> Result<(), Error>;
    /// What arrived (0: nothing now); `Err`: the connection is gone.
    fn read(&mut self, buf: &mut [u8], host: &mut dyn Host) -> Result<usize, Error>;
    /// Sends some of `data` (0: no room now); `Err`: the connection is gone.
    fn write(&mut self, data: &[u8], host: &mut dyn Host) -> Result<usize, Error>;
    fn close(&mut self, host: &mut dyn Host);
}

/// TCP through the net service's `tcp://` scheme (x86_64): opened `?async` (a native service
/// cannot wait for the handshake) and non-blocking.
#[derive(Debug, Default)]
pub struct TcpTransport {
    handle: Option<u32>,
}

impl Transport for TcpTransport {
    fn kind(&self) -> &'static str {
        "tcp"
    }

    fn open(&mut self, server: &str, host: &mut dyn Host) -> Result<(), Error> {
        self.close(host);
        let url = format!("tcp://{server}?async");
        let flags = OpenFlags::READ | OpenFlags::WRITE | OpenFlags::NONBLOCK;
        self.handle = Some(host.open(&url, flags)?);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], host: &mut dyn Host) -> Result<usize, Error> {
        let h = self.handle.ok_or(Error::Closed)?;
        match host.read(h, buf) {
            // The end of the stream: the server (or the way to it) closed.
            Ok(0) => Err(Error::Closed),
            Ok(n) => Ok(n),
            Err(Error::WouldBlock) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn write(&mut self, data: &[u8], host: &mut dyn Host) -> Result<usize, Error> {
        let h = self.handle.ok_or(Error::Closed)?;
        match host.write(h, data) {
            Err(Error::WouldBlock) => Ok(0),
            r => r,
        }
    }

    fn close(&mut self, host: &mut dyn Host) {
        if let Some(h) = self.handle.take() {
            let _ = host.close(h);
        }
    }
}

/// An export published and waiting for the stream's acknowledgement.
#[derive(Debug, Clone, Copy)]
struct Inflight {
    seq: u64,
    sent_us: u64,
}

/// The link's counters (`nats://link`, `/varz`, `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub exported: u64,
    pub republished: u64,
    pub imported: u64,
    pub duplicates: u64,
    /// Imports refused for good (malformed, against a schema): acknowledged and dropped.
    pub rejected: u64,
    /// Messages the stream still holds for this node's consumer (its last delivery said so).
    pub import_pending: u64,
    /// Local requests sent to other nodes, and their answers taken in.
    pub requests_out: u64,
    pub answers_in: u64,
    /// Requests from other nodes taken in, and the answers sent back.
    pub requests_in: u64,
    pub answers_out: u64,
    /// Bytes the transport brought.
    pub rx_bytes: u64,
}

/// A request on its way: where its answer goes, and until when it is waited for.
#[derive(Debug, Clone)]
struct Pending {
    token: u64,
    /// Outgoing: the asker's local inbox. Incoming: the NATS reply subject.
    answer_to: String,
    until_us: u64,
}

/// See the module doc.
pub struct NatsLink<T: Transport> {
    transport: T,
    config: Option<Config>,
    off_reason: alloc::borrow::Cow<'static, str>,
    conn: Connection,
    /// Bytes the connection produced that the transport has not taken yet.
    pending_out: Vec<u8>,
    /// When the transport was opened (for the handshake timeout), if it is.
    opened_us: Option<u64>,
    /// This session's consumer exists: the link pulls. A session sets up, each step on the
    /// answer to the one before: the events stream, the cursors stream, this node's export
    /// cursor (the first session after boot only), the consumer.
    importing: bool,
    registry: Registry,
    known_nodes: usize,
    next_heartbeat_us: u64,
    // Export.
    next_export: u64,
    inflight: VecDeque<Inflight>,
    /// Whether `next_export` starts from the cursor JetStream kept (or there was none).
    cursor_known: bool,
    /// The cursor last published, and when.
    cursor_sent: u64,
    cursor_sent_us: u64,
    // Import.
    pull_left: u32,
    pull_sent_us: u64,
    import_paused_until: u64,
    /// The stream sequence the import takes next (0: whatever the consumer delivers first).
    import_next: u64,
    /// The stream's first sequence when this session began (what is below is gone).
    stream_first: u64,
    /// Since when the import has waited for `import_next` while later ones came.
    gap_since: Option<u64>,
    /// The stream sequence fetched to close the gap, and when it was asked for.
    gap_asked: Option<(u64, u64)>,
    /// The latest stream sequence delivered past the gap: fetching goes on up to it.
    gap_seen: u64,
    // Requests: the local cursor (requests out, answers back), and what is in flight.
    next_local: Option<u64>,
    asked: VecDeque<Pending>,
    served: VecDeque<Pending>,
    next_token: u64,
    counters: LinkCounters,
    /// Open texts: the client (pid) holding each, its bytes, the read position.
    texts: Vec<Option<(zb_abi::Pid, Vec<u8>, usize)>>,
    random: u32,
    last_logged: Option<String>,
    last_tick: u64,
}

impl<T: Transport> NatsLink<T> {
    pub fn new(transport: T) -> NatsLink<T> {
        NatsLink {
            transport,
            config: None,
            off_reason: alloc::borrow::Cow::Borrowed("not started"),
            conn: Connection::new(Options::default()),
            pending_out: Vec::new(),
            opened_us: None,
            importing: false,
            registry: Registry::default(),
            known_nodes: 0,
            next_heartbeat_us: 0,
            next_export: 0,
            inflight: VecDeque::new(),
            cursor_known: false,
            cursor_sent: 0,
            cursor_sent_us: 0,
            pull_left: 0,
            pull_sent_us: 0,
            import_paused_until: 0,
            import_next: 0,
            stream_first: 0,
            gap_since: None,
            gap_asked: None,
            gap_seen: 0,
            next_local: None,
            asked: VecDeque::new(),
            served: VecDeque::new(),
            next_token: 1,
            counters: LinkCounters::default(),
            texts: Vec::new(),
            random: 0x9e37_79b9,
            last_logged: None,
            last_tick: 0,
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    fn node(&self) -> &str {
        self.config.as_ref().map_or("", |c| c.node.as_str())
    }

    /// A pseudo-random number for the backoff's jitter (xorshift; not for secrets).
    fn next_random(&mut self) -> u32 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.random = x;
        x
    }

    /// Logs `line` unless it is what was logged last (a server that stays away is one line).
    fn log_once(&mut self, host: &mut dyn Host, line: String) {
        if self.last_logged.as_deref() != Some(line.as_str()) {
            host.log(&line);
            self.last_logged = Some(line);
        }
    }

    /// Reads `/etc/federation` and the boot arguments.
    fn configure(&mut self, host: &mut dyn Host) -> Result<Config, String> {
        let info = host.sysinfo();
        let text = config_text(host)?;
        let mut config = Config::parse(text).map_err(|e| format!("{CONFIG_PATH}: {e}"))?;
        if config.node.is_empty() {
            config.node = String::from(default_node(info.platform));
        }
        if info.platform == "web" && config.role == Role::Member {
            config.role = Role::Browser;
        }
        for arg in host.boot_args().split_whitespace() {
            match arg.split_once('=') {
                Some(("node", id)) if crate::presence::is_node_id(id) => {
                    config.node = String::from(id)
                }
                Some(("node", id)) => {
                    return Err(format!(
                        "boot argument node={id}: not a node id (a-z 0-9 -)"
                    ));
                }
                Some(("nats", server)) => config
                    .set_server(server)
                    .map_err(|e| format!("boot argument nats=…: {e}"))?,
                // One more pattern for a list (`serve=svc.>`): a node's own part of a
                // configuration every node shares.
                Some((
                    list @ ("export" | "import" | "request" | "serve" | "capability"),
                    pattern,
                )) => {
                    let line = format!("{list} {pattern}");
                    let extra = Config::parse(&line)
                        .map_err(|e| format!("boot argument {arg}: {}", e.message))?;
                    config.exports.extend(extra.exports);
                    config.imports.extend(extra.imports);
                    config.requests.extend(extra.requests);
                    config.serves.extend(extra.serves);
                    config.offers.extend(extra.offers);
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// Opens the transport when the connection is down and its retry time has come.
    fn connect(&mut self, host: &mut dyn Host, now: u64) {
        let State::Down { retry_at } = self.conn.state() else {
            return;
        };
        if now < retry_at {
            return;
        }
        let server = self
            .config
            .as_ref()
            .and_then(|c| c.server.clone())
            .unwrap_or_default();
        match self.transport.open(&server, host) {
            Ok(()) => {
                self.conn.transport_up();
                self.opened_us = Some(now);
                // A line whose far end may be mid-session already: introduce ourselves.
                self.conn.speak_first(now);
            }
            Err(e) => {
                let why = format!(
                    "nats: cannot reach {server} ({}): {e}",
                    self.transport.kind()
                );
                self.log_once(host, why);
                let random = self.next_random();
                self.conn.transport_down(now, random, Dropped::Closed);
            }
        }
    }

    /// Closes the transport after `why`; the connection retries after its backoff.
    fn drop_connection(&mut self, host: &mut dyn Host, now: u64, why: Dropped) {
        let was_up = self.conn.state() == State::Up;
        self.transport.close(host);
        self.opened_us = None;
        let line = format!("nats: connection lost: {why}");
        if was_up {
            host.log(&line);
            self.last_logged = Some(line);
        } else {
            self.log_once(host, line);
        }
        let random = self.next_random();
        self.conn.transport_down(now, random, why);
        // Unacknowledged exports go out again on the next connection.
        self.start_over();
    }

    /// What a session had unsent, unacknowledged or pulled starts over in the next one.
    fn start_over(&mut self) {
        self.pending_out.clear();
        self.resend_in_flight();
        self.pull_left = 0;
    }

    /// Exports waiting for their acknowledgement are published again, in order, from the
    /// first (the stream drops what it has); how many.
    fn resend_in_flight(&mut self) -> usize {
        if let Some(first) = self.inflight.front() {
            self.next_export = first.seq;
        }
        let n = self.inflight.len();
        self.inflight.clear();
        n
    }

    /// Moves bytes both ways and handles what arrived.
    fn pump(&mut self, host: &mut dyn Host, now: u64) {
        if self.opened_us.is_none() {
            return;
        }
        let mut buf = [0u8; 1024];
        // Bounded: a server that floods is served a few kilobytes per turn.
        for _ in 0..16 {
            match self.transport.read(&mut buf, host) {
                Ok(0) => break,
                Ok(n) => {
                    self.counters.rx_bytes += n as u64;
                    let sessions = self.conn.counters().connects;
                    let mut msgs: Vec<OwnedMsg> = Vec::new();
                    let result =
                        self.conn
                            .received(buf.get(..n).unwrap_or_default(), now, &mut |m| {
                                msgs.push(OwnedMsg::from(m));
                            });
                    if self.conn.counters().connects != sessions {
                        self.session_started(host, now);
                    }
                    for m in &msgs {
                        self.message(host, now, m);
                    }
                    if let Err(why) = result {
                        self.drop_connection(host, now, why);
                        return;
                    }
                }
                Err(_) => {
                    self.drop_connection(host, now, Dropped::Closed);
                    return;
                }
            }
        }
        if self.conn.state() == State::Handshake
            && self
                .opened_us
                .is_some_and(|t| now.saturating_sub(t) > HANDSHAKE_TIMEOUT_US)
        {
            self.drop_connection(host, now, Dropped::Stale);
            return;
        }
        if let Err(why) = self.conn.tick(now) {
            self.drop_connection(host, now, why);
            return;
        }
        if self.conn.state() == State::Up {
            self.export(host, now);
            self.local_requests(host, now);
            self.presence(host, now);
            self.pull(now);
        }
        self.flush(host, now);
    }

    /// Writes what the connection has to say.
    fn flush(&mut self, host: &mut dyn Host, now: u64) {
        self.pending_out.extend(self.conn.take_output());
        while !self.pending_out.is_empty() {
            match self.transport.write(&self.pending_out, host) {
                Ok(0) => return,
                Ok(n) => {
                    self.pending_out.drain(..n.min(self.pending_out.len()));
                }
                Err(_) => {
                    self.drop_connection(host, now, Dropped::Closed);
                    return;
                }
            }
        }
    }

    fn inbox(&self, what: &str) -> String {
        format!("zb.node.{}.{what}", self.node())
    }

    /// A new connection is up: set up the stream and the consumer, announce this node.
    fn session_started(&mut self, host: &mut dyn Host, now: u64) {
        // What an earlier session had unsent or unacknowledged starts over in this one.
        self.start_over();
        let server = self
            .conn
            .server()
            .map(|s| String::from(s.version.as_str()))
            .unwrap_or_default();
        host.log(&format!(
            "nats: connected as {} over {} (nats-server {server})",
            self.node(),
            self.transport.kind()
        ));
        self.last_logged = None;
        self.importing = false;
        self.api(jetstream::stream_create(), "api.stream");
        self.announce();
        self.next_heartbeat_us = now;
    }

    /// After the events stream: the cursors stream, then (once per boot) this node's cursor.
    fn create_cursors(&mut self) {
        self.api(jetstream::cursor_stream_create(), "api.cursors");
    }

    /// Sends JetStream API request `(subject, body)`, answered on this node's inbox `reply`.
    fn api(&mut self, (subject, body): (String, String), reply: &str) {
        let reply = self.inbox(reply);
        let _ = self
            .conn
            .publish(&subject, Some(&reply), None, body.as_bytes());
    }

    fn ask_cursor(&mut self) {
        if self.cursor_known {
            return self.create_consumer();
        }
        let request = jetstream::cursor_get(self.node());
        self.api(request, "api.cursor");
    }

    fn create_consumer(&mut self) {
        let durable = jetstream::durable_name(self.node(), 0);
        self.api(
            jetstream::consumer_create(&durable, ">", PULL_BATCH * 4),
            "api.consumer",
        );
    }

    /// Asks the consumer for more when the last pull is done (or lost).
    fn pull(&mut self, now: u64) {
        if !self.importing || now < self.import_paused_until {
            return;
        }
        let expired = now.saturating_sub(self.pull_sent_us) > (PULL_EXPIRES_MS + 2_000) * 1_000;
        if self.pull_left > 0 && !expired {
            return;
        }
        let durable = jetstream::durable_name(self.node(), 0);
        let (subject, body) = jetstream::next(&durable, PULL_BATCH, PULL_EXPIRES_MS, false);
        let reply = self.inbox("in");
        if self
            .conn
            .publish(&subject, Some(&reply), None, body.as_bytes())
            .is_ok()
        {
            self.pull_left = PULL_BATCH;
            self.pull_sent_us = now;
        }
    }

    /// The heartbeat, when due.
    fn presence(&mut self, host: &mut dyn Host, now: u64) {
        let Some(config) = &self.config else {
            return;
        };
        if now < self.next_heartbeat_us {
            return;
        }
        self.next_heartbeat_us = now.saturating_add(config.heartbeat_us);
        // Load, as a run queue's length (Unix's load average, at one instant): 25% per wasm
        // run executing or ready to, full at four. The kernel heap at 90% or more counts as
        // full too: such a node takes no more work.
        let mut running = 0u64;
        host.runs(&mut |r| {
            if r.kind == zb_abi::RunKind::Wasm && r.state == zb_abi::StateName::Exec {
                running += 1;
            }
        });
        let mem = host.meminfo();
        let total = mem.heap.used.saturating_add(mem.heap.free).max(1);
        let heap_full = mem.heap.used.saturating_mul(10) >= total.saturating_mul(9);
        let load = if heap_full {
            100
        } else {
            running.saturating_mul(25).min(100)
        };
        let mut json = String::from("{\"node\":");
        let _ = zb_json::write_escaped(&mut json, &config.node);
        let _ = write!(
            json,
            ",\"role\":\"{}\",\"load\":{load},\"ttl_ms\":{}}}",
            config.role.name(),
            config.ttl_us / 1000
        );
        let subject = subjects::heartbeat(&config.node);
        let _ = self.conn.publish(&subject, None, None, json.as_bytes());
    }

    /// Publishes this node's capability manifest.
    fn announce(&mut self) {
        let Some(config) = &self.config else {
            return;
        };
        let mut json = String::from("{\"node\":");
        let _ = zb_json::write_escaped(&mut json, &config.node);
        json.push_str(",\"capabilities\":[");
        for (i, offer) in config.offers.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"id\":");
            let _ = zb_json::write_escaped(&mut json, &offer.id);
            let _ = write!(
                json,
                ",\"prio\":{},\"cost\":\"{}\"}}",
                offer.prio,
                offer.cost.name()
            );
        }
        json.push_str("]}");
        let subject = subjects::capabilities(&config.node);
        let _ = self.conn.publish(&subject, None, None, json.as_bytes());
    }

    /// Publishes committed local events on exported subjects, up to the window; publishes
    /// again what waited too long for its acknowledgement.
    fn export(&mut self, host: &mut dyn Host, now: u64) {
        let Some(config) = self.config.as_ref() else {
            return;
        };
        if config.exports.is_empty() || !self.cursor_known {
            return;
        }
        let node = config.node.clone();
        let exports = config.exports.clone();
        if self
            .inflight
            .front()
            .is_some_and(|f| now.saturating_sub(f.sent_us) > EXPORT_RESEND_US)
        {
            self.counters.republished += self.resend_in_flight() as u64;
        }
        let room = EXPORT_WINDOW.saturating_sub(self.inflight.len());
        if room == 0 {
            return;
        }
        let ack = self.inbox("ack");
        let conn = &mut self.conn;
        let inflight = &mut self.inflight;
        let mut published = 0u64;
        let read = host.read_events(self.next_export, room, &mut |e: &EventView<'_>, origin| {
            // Each event is exported by its own node only (what came in over NATS is not).
            if origin.is_some()
                || e.source.starts_with("node:")
                || !exports.iter().any(|p| pattern_covers(p, e.name))
            {
                return;
            }
            let (Ok(headers), Ok(payload)) = (
                core::str::from_utf8(e.headers.as_bytes()),
                core::str::from_utf8(e.payload),
            ) else {
                return;
            };
            let (subject, hdrs, json) = interop::export(&Outgoing {
                subject: e.name,
                node: &node,
                seq: e.seq,
                ts_us: e.ts_us,
                version: e.version,
                correlation_id: e.correlation_id,
                causation_id: e.causation_id,
                tenant: e.tenant,
                headers,
                payload,
            });
            let reply = format!("{ack}.{}", e.seq);
            if conn
                .publish(&subject, Some(&reply), Some(&hdrs), json.as_bytes())
                .is_ok()
            {
                published += 1;
                inflight.push_back(Inflight {
                    seq: e.seq,
                    sent_us: now,
                });
            }
        });
        match read {
            Ok(next) => self.next_export = next,
            Err(e) => self.log_once(host, format!("nats: cannot read the journal: {e}")),
        }
        self.counters.exported += published;
        self.save_cursor(now);
    }

    /// Publishes how far the export got (the first event not yet acknowledged), at most once
    /// a second: a node that restarts goes on from there. Lost, it costs a few events
    /// published again (dropped by the stream's message ids and the importers' origins).
    fn save_cursor(&mut self, now: u64) {
        let acked = self.inflight.front().map_or(self.next_export, |f| f.seq);
        if acked <= self.cursor_sent || now.saturating_sub(self.cursor_sent_us) < 1_000_000 {
            return;
        }
        let subject = subjects::cursor(self.node());
        if self
            .conn
            .publish(&subject, None, None, format!("{acked}").as_bytes())
            .is_ok()
        {
            self.cursor_sent = acked;
            self.cursor_sent_us = now;
        }
    }

    /// One message from the server.
    fn message(&mut self, host: &mut dyn Host, now: u64, m: &OwnedMsg) {
        // A pulled message keeps its subject; only the pull's inbox subscription gets those.
        if m.subject.starts_with("zb.ev.") {
            self.delivery(host, now, m);
            return;
        }
        if let Some(subject) = m.subject.strip_prefix("zb.req.") {
            self.request_in(host, subject, m);
            return;
        }
        let me = self.node();
        let Some(rest) = m
            .subject
            .strip_prefix("zb.node.")
            .and_then(|r| r.strip_prefix(me))
            .and_then(|r| r.strip_prefix('.'))
        else {
            self.presence_message(m, now);
            return;
        };
        if let Some(seq) = rest.strip_prefix("ack.") {
            let seq: u64 = seq.parse().unwrap_or(0);
            let body = core::str::from_utf8(&m.payload).unwrap_or_default();
            if let Some((code, why)) = jetstream::api_error(body) {
                let line = format!("nats: the stream refused event {seq}: {code} {why}");
                self.log_once(host, line);
                return;
            }
            self.inflight.retain(|f| f.seq != seq);
            return;
        }
        if let Some(token) = rest.strip_prefix("rep.") {
            self.answer_in(host, token, m);
            return;
        }
        if let Some(subject) = rest.strip_prefix("req.") {
            self.request_in(host, subject, m);
            return;
        }
        let body = core::str::from_utf8(&m.payload).unwrap_or_default();
        match rest {
            "api.stream" => {
                self.stream_first =
                    jetstream::reply_number(body, "state", "first_seq").unwrap_or(0);
                if let Some((code, why)) = jetstream::api_error(body) {
                    // 10058: it exists with another configuration; it is used as it is.
                    if code != 10058 {
                        host.log(&format!("nats: cannot create the stream: {code} {why}"));
                    }
                }
                self.create_cursors();
            }
            "api.cursors" => {
                if let Some((code, why)) = jetstream::api_error(body)
                    && code != 10058
                {
                    host.log(&format!(
                        "nats: cannot create the cursors stream: {code} {why}"
                    ));
                }
                self.ask_cursor();
            }
            "api.cursor" => {
                match jetstream::parse_cursor(body) {
                    // Exported before: on from there (not below what this boot has sent).
                    Ok(Some(seq)) => self.next_export = self.next_export.max(seq),
                    Ok(None) => {}
                    Err(jetstream::BadReply) => self.log_once(
                        host,
                        String::from("nats: no export cursor: exporting the whole journal"),
                    ),
                }
                self.cursor_known = true;
                self.create_consumer();
            }
            "api.consumer" => {
                if let Some((code, why)) = jetstream::api_error(body) {
                    host.log(&format!("nats: cannot create the consumer: {code} {why}"));
                    return;
                }
                // Everything up to the consumer's ack floor is here; what is below the stream's
                // first sequence is gone. (A node that booted again knows no more than this.)
                let floor = jetstream::reply_number(body, "ack_floor", "stream_seq");
                if let Some(floor) = floor.filter(|&f| f > 0) {
                    self.import_next = self.import_next.max(floor.saturating_add(1));
                }
                self.import_next = self.import_next.max(self.stream_first);
                (self.gap_since, self.gap_asked, self.gap_seen) = (None, None, 0);
                self.importing = true;
                self.pull_left = 0;
                self.pull(now);
            }
            "in" => self.delivery(host, now, m),
            "api.gap" => self.gap_fetched(host, now, body),
            _ => self.presence_message(m, now),
        }
    }

    /// Local requests to send out, and answers to requests from NATS to send back: both are
    /// committed local events, read once from the link's own cursor.
    fn local_requests(&mut self, host: &mut dyn Host, now: u64) {
        let Some(config) = self.config.as_ref() else {
            return;
        };
        if config.requests.is_empty() && config.serves.is_empty() {
            return;
        }
        let from = match self.next_local {
            Some(seq) => seq,
            None => {
                // From now on: a request from before the link was up is not sent (its asker
                // has timed out).
                let start = host.read_events(u64::MAX, 0, &mut |_, _| {}).unwrap_or(0);
                self.next_local = Some(start);
                start
            }
        };
        let patterns = config.requests.clone();
        let me = config.node.clone();
        let mut found: Vec<(String, String, Target, Vec<u8>)> = Vec::new();
        let mut answers: Vec<(u64, Vec<u8>)> = Vec::new();
        let read = host.read_events(from, 64, &mut |e: &EventView<'_>, origin| {
            if let Some(token) = e.name.strip_prefix(LOCAL_INBOX) {
                if let Ok(token) = token.parse() {
                    answers.push((token, e.payload.to_vec()));
                }
                return;
            }
            if origin.is_some()
                || e.source.starts_with("node:")
                || !patterns.iter().any(|p| pattern_covers(p, e.name))
            {
                return;
            }
            let mut reply_to = None;
            let mut to = Target::Any;
            for (k, v) in zb_abi::bus::pairs(e.headers) {
                match k {
                    "reply_to" => reply_to = Some(v),
                    "to" => to = Target::Node(String::from(v)),
                    "cap" => to = Target::Capability(capability_id(v)),
                    _ => {}
                }
            }
            if let Some(inbox) = reply_to {
                found.push((
                    String::from(e.name),
                    String::from(inbox),
                    to,
                    e.payload.to_vec(),
                ));
            }
        });
        match read {
            Ok(next) => self.next_local = Some(next),
            Err(_) => return,
        }
        for (token, payload) in answers {
            let Some(at) = self.served.iter().position(|p| p.token == token) else {
                continue;
            };
            if let Some(p) = self.served.remove(at)
                && self
                    .conn
                    .publish(&p.answer_to, None, None, &payload)
                    .is_ok()
            {
                self.counters.answers_out += 1;
            }
        }
        for (subject, inbox, to, payload) in found {
            let target = match to {
                Target::Node(node) => Some(node),
                Target::Capability(id) => match self.registry.resolve(&id, &Prefer::Any, now) {
                    Ok((node, _)) => Some(node),
                    Err(e) => {
                        self.log_once(host, format!("nats: request {subject}: {id}: {e}"));
                        continue;
                    }
                },
                Target::Any => None,
            };
            // Addressed to this node: its own responders have it already.
            if target.as_deref() == Some(me.as_str()) {
                continue;
            }
            let nats_subject = match &target {
                Some(node) => subjects::request(node, &subject),
                None => subjects::any_request(&subject),
            };
            let token = self.next_token;
            self.next_token += 1;
            let reply = self.inbox(&format!("rep.{token}"));
            let mut hw = crate::headers::HeaderWriter::new();
            let _ = hw.add("Zb-Origin", &me);
            let headers = hw.finish();
            if self
                .conn
                .publish(&nats_subject, Some(&reply), Some(&headers), &payload)
                .is_ok()
            {
                self.counters.requests_out += 1;
                remember(&mut self.asked, token, inbox, now);
            }
        }
    }

    /// An answer to a request this node sent: into the journal, on the asker's inbox.
    fn answer_in(&mut self, host: &mut dyn Host, token: &str, m: &OwnedMsg) {
        let now = host.clock_us();
        self.asked.retain(|p| p.until_us > now);
        let Ok(token) = token.parse::<u64>() else {
            return;
        };
        let Some(at) = self.asked.iter().position(|p| p.token == token) else {
            // Not one of ours (or answered already): dropped.
            return;
        };
        let Some(pending) = self.asked.remove(at) else {
            return;
        };
        if import_core(host, &pending.answer_to, "", m, true).is_ok() {
            self.counters.answers_in += 1;
        }
    }

    /// A request from NATS for a subject this node serves: into the journal, with a local
    /// inbox whose answer the link sends back.
    fn request_in(&mut self, host: &mut dyn Host, subject: &str, m: &OwnedMsg) {
        let now = host.clock_us();
        self.served.retain(|p| p.until_us > now);
        let served_here = self
            .config
            .as_ref()
            .is_some_and(|c| c.serves.iter().any(|p| pattern_covers(p, subject)));
        if !served_here {
            return;
        }
        let token = self.next_token;
        self.next_token += 1;
        let headers = match &m.reply {
            Some(_) => format!("reply_to={LOCAL_INBOX}{token}"),
            None => String::new(),
        };
        match import_core(host, subject, &headers, m, false) {
            Ok(()) => {
                self.counters.requests_in += 1;
                if let Some(reply) = &m.reply {
                    remember(&mut self.served, token, reply.clone(), now);
                }
            }
            Err(why) => {
                self.counters.rejected += 1;
                self.log_once(host, format!("nats: request {subject} refused: {why}"));
            }
        }
    }

    fn presence_message(&mut self, m: &OwnedMsg, now: u64) {
        let body = core::str::from_utf8(&m.payload).unwrap_or_default();
        if m.subject.ends_with(".hb") {
            let _ = self.registry.heartbeat(body, now);
            if self.registry.nodes().len() > self.known_nodes {
                // A node not seen before: it has not heard this node's manifest.
                self.known_nodes = self.registry.nodes().len();
                self.announce();
            }
        } else if m.subject.ends_with(".caps") {
            let _ = self.registry.announce(body);
        }
    }

    /// A message the consumer delivered (or the status that ends a pull).
    fn delivery(&mut self, host: &mut dyn Host, now: u64, m: &OwnedMsg) {
        let headers = m.headers.as_deref();
        if let Some(status) = headers
            .and_then(|h| Headers::parse(h).ok())
            .and_then(|h| h.status)
        {
            // 404 no messages, 408 the pull expired, 409 the consumer changed: pull again.
            let _ = status;
            self.pull_left = 0;
            return;
        }
        self.pull_left = self.pull_left.saturating_sub(1);
        let Some(reply) = m.reply.as_deref() else {
            return;
        };
        let delivery = Delivery::parse(reply);
        if let Some(d) = delivery {
            self.counters.import_pending = d.pending;
        }
        if now < self.import_paused_until {
            // After a refusal: handed back, to come again once the pause is over.
            self.hand_back(reply, self.import_paused_until - now);
            return;
        }
        let stream_seq = delivery.map(|d| d.stream_seq);
        if let Some(seq) = stream_seq
            && !self.in_order(host, now, seq)
        {
            self.hand_back(reply, GAP_RETRY_US);
            self.gap_seen = self.gap_seen.max(seq);
            self.fetch_gap(now);
            return;
        }
        if self.take(host, now, &m.subject, headers, &m.payload, stream_seq) {
            let _ = self.conn.publish(reply, None, None, jetstream::ACK);
        } else {
            self.hand_back(reply, IMPORT_RETRY_US);
        }
    }

    /// Imports one event from the stream (delivered, or fetched to close a gap): true when
    /// it is done with — in the journal now or before, or not for this node, or refused for
    /// good — and may be acknowledged; false when the journal could not take it now (the
    /// import pauses). Moves the import past `stream_seq` when done.
    fn take(
        &mut self,
        host: &mut dyn Host,
        now: u64,
        subject: &str,
        headers: Option<&[u8]>,
        payload: &[u8],
        stream_seq: Option<u64>,
    ) -> bool {
        let me = String::from(self.node());
        let parsed = interop::import(subject, headers, payload, stream_seq, &me);
        let wanted = parsed.as_ref().is_ok_and(|event| {
            self.config
                .as_ref()
                .is_some_and(|c| c.imports.iter().any(|p| pattern_covers(p, &event.subject)))
        });
        let ack = match parsed {
            Err(ImportError::Own) => true,
            Err(e) => {
                self.counters.rejected += 1;
                self.log_once(
                    host,
                    format!("nats: not an event, dropped ({e:?}): {subject}"),
                );
                true
            }
            Ok(_) if !wanted => true,
            Ok(event) => {
                let imported = ImportedEvent {
                    name: &event.subject,
                    version: event.version,
                    correlation_id: event.correlation_id,
                    causation_id: event.causation_id,
                    tenant: &event.tenant,
                    headers: &event.headers,
                    payload: event.payload.as_bytes(),
                    origin: &event.node,
                    origin_seq: event.seq.max(1),
                    reply: false,
                };
                let mut outcome: Result<bool, (Error, String)> = Ok(false);
                host.import_event(&imported, &mut |r| {
                    outcome = r
                        .map(|(_, dup)| dup)
                        .map_err(|(e, why)| (e, String::from(why)));
                });
                match outcome {
                    Ok(true) => {
                        self.counters.duplicates += 1;
                        true
                    }
                    Ok(false) => {
                        self.counters.imported += 1;
                        true
                    }
                    Err((Error::NoSpace | Error::OutOfMemory | Error::Busy, why)) => {
                        // Not durable: handed back, and nothing after it is taken until it
                        // comes again (the stream order holds: see `in_order`).
                        self.import_paused_until = now.saturating_add(IMPORT_RETRY_US);
                        self.log_once(
                            host,
                            format!("nats: import of {} waits: {why}", event.subject),
                        );
                        false
                    }
                    Err((_, why)) => {
                        self.counters.rejected += 1;
                        self.log_once(
                            host,
                            format!("nats: import of {} refused: {why}", event.subject),
                        );
                        true
                    }
                }
            }
        };
        if let (true, Some(seq)) = (ack, stream_seq)
            && seq >= self.import_next
        {
            self.import_next = seq.saturating_add(1);
            self.gap_since = None;
        }
        ack
    }

    /// Whether the delivery of stream sequence `seq` is one the import takes now: the next
    /// one, or an earlier one again (a duplicate the journal absorbs). A later one waits for
    /// the gap before it to close — an event lost with a connection, or handed back, comes
    /// again within the consumer's ack wait — unless the gap has been open for
    /// [`GAP_GIVE_UP_US`]: then its events are gone from the stream, and the import goes on.
    fn in_order(&mut self, host: &mut dyn Host, now: u64, seq: u64) -> bool {
        if self.import_next == 0 || seq <= self.import_next {
            return true;
        }
        let since = *self.gap_since.get_or_insert(now);
        if now.saturating_sub(since) < GAP_GIVE_UP_US {
            return false;
        }
        let line = format!(
            "nats: stream events {}..{} never came (gone from the stream); importing from {seq}",
            self.import_next,
            seq - 1
        );
        self.log_once(host, line);
        true
    }

    /// Asks the stream for the event the import waits for (not again within a pull's
    /// lifetime): it closes the gap at once, where the consumer would deliver it again only
    /// after its ack wait. Its delivery, when it comes, is a duplicate, acknowledged.
    fn fetch_gap(&mut self, now: u64) {
        let seq = self.import_next;
        if self.gap_asked.is_some_and(|(asked, at)| {
            asked == seq && now.saturating_sub(at) < PULL_EXPIRES_MS * 1_000
        }) {
            return;
        }
        self.gap_asked = Some((seq, now));
        self.api(jetstream::event_get(seq), "api.gap");
    }

    /// The stream's answer to [`NatsLink::fetch_gap`]: the event is imported (and the import
    /// moves past it), or, gone from the stream, passed over.
    fn gap_fetched(&mut self, host: &mut dyn Host, now: u64, body: &str) {
        let Some((seq, _)) = self.gap_asked.take() else {
            return;
        };
        if seq != self.import_next || now < self.import_paused_until {
            return;
        }
        match jetstream::parse_msg_get(body) {
            Ok(Some(m)) if m.seq == seq => {
                let headers = m.headers.as_deref();
                if !self.take(host, now, &m.subject, headers, &m.data, Some(seq)) {
                    return;
                }
            }
            Ok(None) => {
                let line = format!("nats: stream event {seq} is gone (the stream's limits)");
                self.log_once(host, line);
                self.import_next = seq.saturating_add(1);
                self.gap_since = None;
            }
            // Anything else: the deliveries close the gap, or it is passed over in time.
            _ => return,
        }
        // Several lost at once (a pull's worth, with a connection): the next one at once.
        if self.import_next < self.gap_seen {
            self.fetch_gap(now);
        }
    }

    /// Gives a delivery back to JetStream, to be delivered again after `delay_us`.
    fn hand_back(&mut self, reply: &str, delay_us: u64) {
        let body = jetstream::nak(delay_us);
        let _ = self.conn.publish(reply, None, None, body.as_bytes());
    }

    /// The text behind `nats://<path>`.
    fn text(&self, path: &str, now: u64) -> Result<String, Error> {
        let (what, query) = path.split_once('?').unwrap_or((path, ""));
        match what {
            "nodes" => Ok(self.registry.nodes_text(now)),
            "caps" => Ok(self.registry.capabilities_text(now)),
            "link" => Ok(self.status_text()),
            _ => {
                let id = what.strip_prefix("resolve/").ok_or(Error::NotFound)?;
                let prefer = match query.strip_prefix("prefer=") {
                    Some(p) => Prefer::parse(p).ok_or(Error::InvalidArgument)?,
                    None if query.is_empty() => Prefer::Any,
                    None => return Err(Error::InvalidArgument),
                };
                let id = capability_id(id);
                let mut t = String::new();
                match self.registry.resolve(&id, &prefer, now) {
                    Ok((node, all)) => {
                        let _ = writeln!(t, "{id} -> {node}");
                        for c in all {
                            let _ = writeln!(t, "  {c}");
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(t, "{id}: no node ({e})");
                    }
                }
                Ok(t)
            }
        }
    }

    /// `nats://link`: `key: value` lines (as `proc://bus`).
    fn status_text(&self) -> String {
        let mut t = String::new();
        let Some(config) = &self.config else {
            let _ = writeln!(t, "state: off\nwhy: {}", self.off_reason);
            return t;
        };
        let state = match self.conn.state() {
            State::Down { .. } => "down",
            State::Handshake => "connecting",
            State::Up => "up",
        };
        let c = self.conn.counters();
        let l = self.counters;
        let _ = writeln!(t, "state: {state}");
        let _ = writeln!(t, "node: {}", config.node);
        let _ = writeln!(t, "role: {}", config.role.name());
        let _ = writeln!(t, "server: {}", config.server.as_deref().unwrap_or("-"));
        let auth = config.credentials.as_ref().map(Credentials::describe);
        let _ = writeln!(t, "auth: {}", auth.as_deref().unwrap_or("none"));
        let _ = writeln!(t, "transport: {}", self.transport.kind());
        let figures = [
            ("connected", u64::from(state == "up")),
            ("connects", c.connects),
            ("reconnects", c.reconnects),
            ("published", c.published),
            ("received", c.received),
            ("exported", l.exported),
            ("republished", l.republished),
            ("export_unacked", self.inflight.len() as u64),
            ("imported", l.imported),
            ("duplicates", l.duplicates),
            ("rejected", l.rejected),
            ("lag", l.import_pending),
            ("requests_out", l.requests_out),
            ("answers_in", l.answers_in),
            ("requests_in", l.requests_in),
            ("answers_out", l.answers_out),
            ("rx_bytes", l.rx_bytes),
        ];
        for (key, value) in figures {
            let _ = writeln!(t, "{key}: {value}");
        }
        if let Some(e) = self.conn.last_error() {
            let _ = writeln!(t, "last_error: {e}");
        }
        t
    }

    fn open_text(&mut self, from: zb_abi::Pid, path: &str, now: u64) -> Reply<'static> {
        let held = self.texts.iter().flatten().filter(|t| t.0 == from).count();
        if held >= MAX_TEXTS_PER_CLIENT {
            return Reply::Err(Error::Busy);
        }
        let text = match self.text(path, now) {
            Ok(t) => t,
            Err(e) => return Reply::Err(e),
        };
        let slot = match self.texts.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.texts.len() < MAX_TEXTS => {
                self.texts.push(None);
                self.texts.len() - 1
            }
            None => return Reply::Err(Error::Busy),
        };
        if let Some(s) = self.texts.get_mut(slot) {
            *s = Some((from, text.into_bytes(), 0));
        }
        Reply::Done(slot as u64)
    }
}

/// Where a local request goes (its `to` or `cap` header).
enum Target {
    /// To whichever node serves its subject.
    Any,
    Node(String),
    /// To the node the resolver picks for the capability.
    Capability(String),
}

/// `ledger.transfer` or `capability://ledger.transfer` → `capability://ledger.transfer`.
fn capability_id(id: &str) -> String {
    if id.starts_with("capability://") {
        String::from(id)
    } else {
        format!("capability://{id}")
    }
}

/// Keeps request `token` in `list` (bounded: the oldest goes first).
fn remember(list: &mut VecDeque<Pending>, token: u64, answer_to: String, now: u64) {
    if list.len() == MAX_REQUESTS {
        list.pop_front();
    }
    list.push_back(Pending {
        token,
        answer_to,
        until_us: now.saturating_add(REQUEST_TTL_US),
    });
}

/// Puts a request or an answer that came over NATS core into the journal as event `name`
/// (`reply`: an answer to this node's own request, on the asker's inbox): from the node its
/// `Zb-Origin` names (or `nats`), not de-duplicated (core NATS has no order to go by).
fn import_core(
    host: &mut dyn Host,
    name: &str,
    headers: &str,
    m: &OwnedMsg,
    reply: bool,
) -> Result<(), String> {
    let from = origin_of(m).unwrap_or_else(|| String::from("nats"));
    let event = ImportedEvent {
        name,
        version: 1,
        correlation_id: 0,
        causation_id: 0,
        tenant: "",
        headers,
        payload: &m.payload,
        origin: &from,
        origin_seq: 0,
        reply,
    };
    let mut outcome = Ok(());
    host.import_event(&event, &mut |r| {
        outcome = r.map(|_| ()).map_err(|(_, why)| String::from(why));
    });
    outcome
}

/// The node a request or answer says it comes from (`Zb-Origin`), if it is a node id.
fn origin_of(m: &OwnedMsg) -> Option<String> {
    let headers = Headers::parse(m.headers.as_deref()?).ok()?;
    let node = headers.get("Zb-Origin")?;
    crate::presence::is_node_id(node).then(|| String::from(node))
}

/// Why a link without a server is off.
const NO_SERVER: &str = "no server (boot argument nats=HOST:PORT, or `server` in /etc/federation)";

/// `/etc/federation` in the boot archive (empty when there is none).
fn config_text(host: &dyn Host) -> Result<&'static str, String> {
    archive_config(host.boot_archive()).ok_or_else(|| format!("{CONFIG_PATH} is not text"))
}

/// `/etc/federation` in boot archive `archive` ("" when there is none); `None` if not text.
fn archive_config(archive: &[u8]) -> Option<&str> {
    let data = zb_abi::bootfs::BootFs::parse(archive)
        .ok()
        .and_then(|fs| fs.get(CONFIG_PATH))
        .unwrap_or_default();
    core::str::from_utf8(data).ok()
}

/// Whether a node booted with `archive` and `boot_args` names a server, so that its link
/// would be on — for a board to leave the service out altogether when not (its heap is its
/// RAM, and a service that stays off still holds a little of it).
pub fn configured(archive: &[u8], boot_args: &str) -> bool {
    names_a_server(archive_config(archive).unwrap_or_default(), boot_args)
}

/// Whether a server is named at all — a `nats=` boot argument or a `server` line — read
/// without allocating: a node with none is off and the link takes no memory (a board's heap
/// is its RAM).
fn names_a_server(config: &str, args: &str) -> bool {
    args.split_whitespace().any(|w| w.starts_with("nats="))
        || config.lines().any(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .next()
                == Some("server")
        })
}

/// A node id for a platform that was given none.
fn default_node(platform: &str) -> &'static str {
    match platform {
        "x86_64" => "pc",
        "stm32f4" => "board",
        "web" => "browser",
        _ => "node",
    }
}

/// A message copied out of the connection's buffer (handling it calls back into the link).
struct OwnedMsg {
    subject: String,
    reply: Option<String>,
    headers: Option<Vec<u8>>,
    payload: Vec<u8>,
}

impl From<&Msg<'_>> for OwnedMsg {
    fn from(m: &Msg<'_>) -> Self {
        OwnedMsg {
            subject: String::from(m.subject),
            reply: m.reply.map(String::from),
            headers: m.headers.map(<[u8]>::to_vec),
            payload: m.payload.to_vec(),
        }
    }
}

impl<T: Transport> NativeService for NatsLink<T> {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn start(&mut self, host: &mut dyn Host) {
        host.register_kind(NATS_SERVICE, "nats");
        if let Err(e) = host.register_scheme("nats", SCHEME_NATS) {
            host.log(&format!("nats: cannot serve nats://: {e}"));
        }
        if !names_a_server(config_text(host).unwrap_or_default(), host.boot_args()) {
            self.off_reason = alloc::borrow::Cow::Borrowed(NO_SERVER);
            host.log("nats: off (no server)");
            return;
        }
        let config = match self.configure(host) {
            Ok(c) => c,
            Err(why) => {
                host.log(&format!("nats: off: {why}"));
                self.off_reason = why.into();
                return;
            }
        };
        let Some(server) = config.server.clone() else {
            self.off_reason = alloc::borrow::Cow::Borrowed(NO_SERVER);
            host.log(&format!(
                "nats: node {}, off ({})",
                config.node, self.off_reason
            ));
            return;
        };
        self.random ^= (host.clock_us() as u32) | 1;
        self.conn = Connection::new(Options {
            name: format!("zb-{}", config.node),
            credentials: config.credentials.clone(),
            restart_on_info: self.transport.restarts_on_info(),
            ..Options::default()
        });
        let me = config.node.clone();
        for pattern in subjects::PRESENCE {
            let _ = self.conn.subscribe(pattern, None);
        }
        // Replies to this node: the stream's acknowledgements, the JetStream API's answers,
        // and what the consumer delivers (on their own subjects, `zb.ev.…`).
        for inbox in ["ack.*", "api.*", "in", "rep.*"] {
            let _ = self.conn.subscribe(&format!("zb.node.{me}.{inbox}"), None);
        }
        for pattern in &config.serves {
            // Shared with every node serving it (one of them gets each request), and
            // addressed to this node alone.
            let _ = self
                .conn
                .subscribe(&subjects::any_request(pattern), Some(subjects::QUEUE));
            let _ = self.conn.subscribe(&subjects::request(&me, pattern), None);
        }
        host.log(&format!(
            "nats: node {me} ({}), server {server} over {}; exports {}, imports {}",
            config.role.name(),
            self.transport.kind(),
            list(&config.exports),
            list(&config.imports)
        ));
        for pattern in config.exports.iter().chain(&config.requests) {
            // A commit on an exported subject (or a request) wakes the link at once.
            let _ = host.watch_events(pattern);
        }
        if !config.serves.is_empty() {
            // Answers to requests from other nodes, too.
            let _ = host.watch_events("_INBOX.nats.>");
        }
        self.config = Some(config);
        let now = host.clock_us();
        self.connect(host, now);
        self.pump(host, now);
    }

    fn console_input(&mut self, _: &[u8], _: &mut dyn Host) {}

    fn events_committed(&mut self, _watch: u32, host: &mut dyn Host) {
        if self.config.is_some() {
            let now = host.clock_us();
            self.pump(host, now);
        }
    }

    fn request<'s>(&'s mut self, req: Request<'_>, host: &mut dyn Host) -> Answer<'s> {
        let now = host.clock_us();
        let reply = match req.op {
            Op::Open { path, flags, .. } => {
                if flags.contains(OpenFlags::WRITE) {
                    Reply::Err(Error::ReadOnly)
                } else {
                    self.open_text(req.from, path, now)
                }
            }
            Op::Read { handle, len } => {
                match self.texts.get_mut(handle as usize).and_then(Option::as_mut) {
                    Some((_, text, at)) => {
                        let start = (*at).min(text.len());
                        let end = start.saturating_add(len as usize).min(text.len());
                        *at = end;
                        return Answer::Now(Reply::Data(text.get(start..end).unwrap_or_default()));
                    }
                    None => Reply::Err(Error::BadHandle),
                }
            }
            Op::Close { handle } => {
                if let Some(slot) = self.texts.get_mut(handle as usize) {
                    *slot = None;
                }
                Reply::Done(0)
            }
            Op::Stat { .. } | Op::StatHandle { .. } => Reply::Err(Error::Unsupported),
            _ => Reply::Err(Error::Unsupported),
        };
        Answer::Now(reply)
    }

    fn next_tick(&self) -> Option<u64> {
        self.config.as_ref()?;
        match self.conn.state() {
            State::Down { retry_at } => Some(retry_at),
            _ if self.transport.wakes_on_input() => {
                if self.transport.has_input() {
                    Some(self.last_tick)
                } else {
                    // The next heartbeat, or a second from now for the other deadlines
                    // (pings, resends, an expired pull), whichever is first.
                    Some(
                        self.next_heartbeat_us
                            .max(self.last_tick)
                            .min(self.last_tick.saturating_add(1_000_000)),
                    )
                }
            }
            // Polled while connected: the transport has no interrupt of its own here.
            _ => Some(self.last_tick.saturating_add(POLL_US)),
        }
    }

    fn tick(&mut self, host: &mut dyn Host) {
        let now = host.clock_us();
        self.last_tick = now;
        self.connect(host, now);
        self.pump(host, now);
    }
}

fn list(patterns: &[String]) -> String {
    if patterns.is_empty() {
        String::from("nothing")
    } else {
        patterns.join(" ")
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
