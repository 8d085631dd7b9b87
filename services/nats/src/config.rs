//! A node's place in a federation: `/etc/federation` in the boot image (overridable at run:
//! `--node NAME`), one directive per line, `#` starts a comment.
//!
//! ```text
//! node pc-a                                  # this node's id (a NATS token: a-z 0-9 -)
//! role member                                # hub | member | browser
//! server 10.0.2.100:4222                     # where nats-server is (the link's transport);
//!                                            # USER:PASS@ or TOKEN@ before it: credentials
//! export ledger.>                            # local subjects other nodes may import
//! import ledger.>                            # subjects taken in from other nodes
//! request svc.>                              # local requests other nodes may answer
//! serve svc.>                                # requests from NATS answered here
//! capability capability://ledger.transfer prio 85 cost low
//! heartbeat 5s ttl 15s
//! ```
//!
//! Subjects on NATS ([`subjects`]): an exported event `S` is published as `zb.ev.S` (one
//! JetStream stream holds them all, so a node that was away catches up); a node's own traffic
//! is under `zb.node.<id>.` — `hb` (heartbeats), `caps` (its capability manifest) and
//! `req.<subject>` (requests addressed to it). Reserved local subjects (`_…`, `dlq.…`,
//! `timer.…`) can be neither exported nor imported.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use crate::conn::Credentials;
use crate::presence::{Cost, Role, is_capability_id, is_node_id};

/// Patterns a node may export or import, each.
pub const MAX_PATTERNS: usize = 16;

/// A capability this node offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: String,
    pub prio: u8,
    pub cost: Cost,
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub node: String,
    pub role: Role,
    /// `host:port` of nats-server, as the platform's transport reaches it (or `serial`).
    pub server: Option<String>,
    /// What the link proves itself with, if the server requires it.
    pub credentials: Option<Credentials>,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    /// Subjects whose local requests (events with a `reply_to`) go out to NATS.
    pub requests: Vec<String>,
    /// Subjects whose requests from NATS this node takes (in the queue group `zb`).
    pub serves: Vec<String>,
    pub offers: Vec<Offer>,
    pub heartbeat_us: u64,
    pub ttl_us: u64,
}

/// Why the file was refused: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config {
            node: String::new(),
            role: Role::Member,
            server: None,
            credentials: None,
            exports: Vec::new(),
            imports: Vec::new(),
            requests: Vec::new(),
            serves: Vec::new(),
            offers: Vec::new(),
            heartbeat_us: 5_000_000,
            ttl_us: 15_000_000,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| ConfigError { line, message };
            let words: Vec<&str> = raw
                .split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            let Some((&directive, args)) = words.split_first() else {
                continue;
            };
            match (directive, args) {
                ("node", [id]) if is_node_id(id) => c.node = String::from(*id),
                ("node", _) => return Err(err("node: expected one id of a-z, 0-9 and -".into())),
                ("role", [r]) => {
                    c.role = Role::parse(r).ok_or_else(|| {
                        err(alloc::format!("role: {r}: not hub, member or browser"))
                    })?
                }
                ("server", [addr]) => c.set_server(addr).map_err(|e| err(e.into()))?,
                ("server", _) => return Err(err(SERVER_SYNTAX.into())),
                ("export" | "import" | "request" | "serve", [pattern]) => {
                    let list = match directive {
                        "export" => &mut c.exports,
                        "import" => &mut c.imports,
                        "request" => &mut c.requests,
                        _ => &mut c.serves,
                    };
                    if !is_shared_pattern(pattern) {
                        return Err(err(alloc::format!(
                            "{directive}: {pattern}: not a subject pattern, or a reserved one"
                        )));
                    }
                    if list.len() == MAX_PATTERNS {
                        return Err(err(alloc::format!("{directive}: at most {MAX_PATTERNS}")));
                    }
                    list.push(String::from(*pattern));
                }
                ("capability", [id, rest @ ..]) if is_capability_id(id) => {
                    let mut offer = Offer {
                        id: String::from(*id),
                        prio: 50,
                        cost: Cost::Medium,
                    };
                    for pair in rest.chunks(2) {
                        match pair {
                            ["prio", p] => {
                                offer.prio =
                                    p.parse().ok().filter(|&p| p <= 100).ok_or_else(|| {
                                        err(alloc::format!("prio: {p}: not 0-100"))
                                    })?
                            }
                            ["cost", k] => {
                                offer.cost = Cost::parse(k).ok_or_else(|| {
                                    err(alloc::format!("cost: {k}: not low, medium or high"))
                                })?
                            }
                            _ => {
                                return Err(err(
                                    "capability: expected ID [prio N] [cost low|medium|high]"
                                        .into(),
                                ));
                            }
                        }
                    }
                    c.offers.push(offer);
                }
                ("capability", _) => {
                    return Err(err("capability: expected capability://NAME".into()));
                }
                ("heartbeat", [every, "ttl", ttl]) => {
                    let every =
                        seconds(every).ok_or_else(|| err("heartbeat: bad interval".into()))?;
                    let ttl = seconds(ttl).ok_or_else(|| err("heartbeat: bad ttl".into()))?;
                    if ttl < 2 * every {
                        return Err(err(
                            "heartbeat: the ttl must be at least two intervals".into()
                        ));
                    }
                    (c.heartbeat_us, c.ttl_us) = (every, ttl);
                }
                _ => return Err(err(alloc::format!("unknown directive: {directive}"))),
            }
        }
        // No `node` line: the link uses the boot argument or the platform's default.
        Ok(c)
    }
}

/// `5s`, `500ms` (the durations timers take) → microseconds; 100 ms to 1 h.
/// What a `server` line or a `nats=` boot argument holds.
pub const SERVER_SYNTAX: &str =
    "server: expected [ws://|wss://][USER:PASS@|TOKEN@]HOST:PORT (or serial for HOST:PORT)";

impl Config {
    /// Takes `[ws://|wss://][USER:PASS@|TOKEN@]HOST:PORT` (or `serial` for `HOST:PORT`) as the
    /// server: the `server` directive and the `nats=` boot argument. The scheme is for a
    /// browser's WebSocket (`wss://` from a page served over https); the login goes in
    /// `CONNECT`, never to the transport.
    pub fn set_server(&mut self, text: &str) -> Result<(), &'static str> {
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme @ ("ws" | "wss"), rest)) => (Some(scheme), rest),
            Some(_) => return Err(SERVER_SYNTAX),
            None => (None, text),
        };
        let (credentials, addr) = match rest.rsplit_once('@') {
            Some((creds, addr)) => (Some(Credentials::parse(creds).ok_or(SERVER_SYNTAX)?), addr),
            None => (None, rest),
        };
        let serial = addr == "serial" && scheme.is_none();
        if !is_host_port(addr) && !serial {
            return Err(SERVER_SYNTAX);
        }
        self.server = Some(match scheme {
            Some(scheme) => alloc::format!("{scheme}://{addr}"),
            None => String::from(addr),
        });
        self.credentials = credentials;
        Ok(())
    }
}

fn seconds(s: &str) -> Option<u64> {
    zb_abi::bus::parse_duration_us(s).filter(|us| (100_000..=3_600_000_000).contains(us))
}

/// `HOST:PORT`: a host name or IPv4 address and a port number.
pub fn is_host_port(s: &str) -> bool {
    s.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    })
}

/// A local subject pattern that may cross nodes: a NATS pattern whose first token is not
/// reserved (`_…`, `dlq`, `timer`, and `zb`, the federation's own prefix).
pub fn is_shared_pattern(p: &str) -> bool {
    let first = p.split('.').next().unwrap_or_default();
    crate::proto::is_subject(p)
        && !first.starts_with('_')
        && !matches!(first, "dlq" | "timer" | "zb")
        && p.split('.').enumerate().all(|(i, t)| {
            t == "*"
                || (t == ">" && i == p.split('.').count() - 1)
                || t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The federation's subjects on NATS.
pub mod subjects {
    use alloc::format;
    use alloc::string::String;

    /// Where exported event `subject` is published.
    pub fn event(subject: &str) -> String {
        format!("zb.ev.{subject}")
    }

    /// The local subject of an event published as `nats_subject`, if it is one.
    pub fn local(nats_subject: &str) -> Option<&str> {
        nats_subject.strip_prefix("zb.ev.")
    }

    pub fn heartbeat(node: &str) -> String {
        format!("zb.node.{node}.hb")
    }

    pub fn capabilities(node: &str) -> String {
        format!("zb.node.{node}.caps")
    }

    /// A request for `subject` addressed to `node`.
    pub fn request(node: &str, subject: &str) -> String {
        format!("zb.node.{node}.req.{subject}")
    }

    /// A request for `subject` to whichever node serves it (queue group [`QUEUE`]).
    pub fn any_request(subject: &str) -> String {
        format!("zb.req.{subject}")
    }

    /// The queue group serving nodes share: each request goes to one of them.
    pub const QUEUE: &str = "zb";

    /// The stream of export cursors (see `jetstream::cursor_stream_create`).
    pub const CURSORS: &str = "ZB_CURSORS";

    /// Where `node` keeps its export cursor.
    pub fn cursor(node: &str) -> String {
        format!("zb.node.{node}.cursor")
    }

    /// Everyone's heartbeats and manifests.
    pub const PRESENCE: [&str; 2] = ["zb.node.*.hb", "zb.node.*.caps"];

    /// The JetStream stream that keeps exported events (subjects `zb.ev.>`).
    pub const STREAM: &str = "ZB_EVENTS";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_reads_back() {
        let c = Config::parse(
            "# pc-a\nnode pc-a\nrole hub\nserver 10.0.2.100:4222\nexport ledger.>\nimport ledger.>\nimport sensors.*.temp\ncapability capability://ledger.transfer prio 85 cost low\ncapability capability://sensor.read\nheartbeat 2s ttl 6s\n",
        )
        .unwrap();
        assert_eq!(c.node, "pc-a");
        assert_eq!(c.role, Role::Hub);
        assert_eq!(c.server.as_deref(), Some("10.0.2.100:4222"));
        assert_eq!(c.exports, ["ledger.>"]);
        assert_eq!(c.imports, ["ledger.>", "sensors.*.temp"]);
        assert_eq!(c.offers[0].prio, 85);
        assert_eq!(c.offers[1].cost, Cost::Medium);
        assert_eq!((c.heartbeat_us, c.ttl_us), (2_000_000, 6_000_000));
    }

    #[test]
    fn a_server_may_carry_credentials_which_never_show() {
        let mut c = Config::parse("server zb:s3cr@t:x@10.0.2.100:4222\n").unwrap();
        assert_eq!(c.server.as_deref(), Some("10.0.2.100:4222"));
        let user = Credentials::User {
            user: "zb".into(),
            pass: "s3cr@t:x".into(),
        };
        assert_eq!(c.credentials.as_ref(), Some(&user));
        assert!(
            !alloc::format!("{c:?}").contains("s3cr"),
            "Debug shows no secret"
        );
        c.set_server("T0KEN@serial").unwrap();
        assert_eq!(c.server.as_deref(), Some("serial"));
        assert_eq!(c.credentials, Some(Credentials::Token("T0KEN".into())));
        assert_eq!(c.credentials.as_ref().unwrap().describe(), "token");
        c.set_server("127.0.0.1:4222").unwrap();
        assert_eq!(
            c.credentials, None,
            "a new server forgets the old credentials"
        );
        assert!(c.set_server("a b@127.0.0.1:4222").is_err());
        // A browser's WebSocket: the scheme stays with the address, the login does not.
        c.set_server("wss://zb:pw@nats.example.com:443").unwrap();
        assert_eq!(c.server.as_deref(), Some("wss://nats.example.com:443"));
        assert_eq!(c.credentials.as_ref().unwrap().describe(), "user zb");
        c.set_server("ws://127.0.0.1:4223").unwrap();
        assert_eq!(c.server.as_deref(), Some("ws://127.0.0.1:4223"));
        for bad in [
            "tcp://127.0.0.1:4222",
            "wss://serial",
            "wss://",
            "ws://zb:pw@",
        ] {
            assert!(c.set_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_name_the_line() {
        for (text, line, says) in [
            ("node Pc_A\n", 1, "node:"),
            ("node a\nexport _snapshot.>\n", 2, "reserved"),
            ("node a\nimport timer.>\n", 2, "reserved"),
            ("node a\nimport zb.node.>\n", 2, "reserved"),
            ("node a\nexport a.>.b\n", 2, "not a subject pattern"),
            ("node a\nserver nats\n", 2, "HOST:PORT"),
            ("node a\nserver @10.0.2.100:4222\n", 2, "USER:PASS@"),
            ("node a\nserver zb:@10.0.2.100:4222\n", 2, "USER:PASS@"),
            ("node a\nserver :pw@10.0.2.100:4222\n", 2, "USER:PASS@"),
            ("node a\nserver zb:pw@nats\n", 2, "HOST:PORT"),
            ("node a\nheartbeat 5s ttl 6s\n", 2, "two intervals"),
            ("node a\ncapability ledger\n", 2, "capability://"),
            ("node a\ncapability capability://x prio 101\n", 2, "0-100"),
            ("node a\nfly away\n", 2, "unknown directive"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.message.contains(says), "{text}: {}", e.message);
        }
    }

    #[test]
    fn subjects_round_trip() {
        assert_eq!(subjects::event("ledger.x"), "zb.ev.ledger.x");
        assert_eq!(subjects::local("zb.ev.ledger.x"), Some("ledger.x"));
        assert_eq!(subjects::local("zb.node.a.hb"), None);
        assert_eq!(
            subjects::request("board", "svc.echo"),
            "zb.node.board.req.svc.echo"
        );
    }
}
