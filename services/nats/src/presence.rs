//! Who is out there and what they can do: the registry of nodes (from their heartbeats) and
//! their capabilities (from their manifests), and the resolver that picks where a step runs.
//!
//! Each node announces a capability manifest — ids like `capability://ledger.transfer`, each
//! with a priority and a cost — and sends a heartbeat every few seconds with its role
//! (hub, member, browser), its load and a TTL. A node is:
//! - **up** while its last heartbeat is younger than half its TTL and it is not overloaded;
//! - **degraded** when a heartbeat is late (older than half the TTL), its load is 90% or more,
//!   or it says so itself;
//! - **down** once its last heartbeat is older than its TTL (it stopped heart-beating).
//!
//! [`Registry::resolve`] scores every node offering a capability that is up (degraded ones
//! only when no node is up; down ones never):
//!
//! ```text
//! score = 4·cap.prio + 1·node.prio_base − 2·load% − 20·cost (low 1, medium 2, high 3)
//! ```
//!
//! A preference (`hub`, `member`, `browser`, `node:<id>`) narrows the candidates to those it
//! names while any of them is alive, and falls back to all the others when none is — so a
//! request goes to the next candidate as soon as the preferred node goes down. Ties go to the
//! smaller node id, so every node resolves the same way from the same registry.
//!
//! Invariant: the registry is bounded ([`MAX_NODES`], [`MAX_CAPABILITIES`]); a heartbeat or
//! manifest past the bound is refused, not stored, so a flood of invented node ids cannot
//! grow memory.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

/// Microseconds shown as seconds with one decimal (`4.2s`).
struct Secs(u64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.0 / 100_000;
        let text = alloc::format!("{}.{}s", tenths / 10, tenths % 10);
        f.pad(&text)
    }
}

/// Nodes the registry keeps.
pub const MAX_NODES: usize = 64;
/// Capabilities it keeps, over all nodes.
pub const MAX_CAPABILITIES: usize = 256;
/// Capabilities one node may announce.
pub const MAX_PER_NODE: usize = 32;

const W_PRIO: i64 = 4;
const W_BASE: i64 = 1;
const W_LOAD: i64 = 2;
const W_COST: i64 = 20;
const OVERLOADED_PCT: u8 = 90;

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Always on, keeps the shared state (a PC or a server).
    Hub,
    /// A member: a PC or a board.
    Member,
    /// A browser tab.
    Browser,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "hub" => Role::Hub,
            "member" => Role::Member,
            "browser" => Role::Browser,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Member => "member",
            Role::Browser => "browser",
        }
    }
}

/// A node's availability now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Up,
    Degraded,
    Down,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

/// What a capability costs to use there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Low = 1,
    Medium = 2,
    High = 3,
}

impl Cost {
    pub fn name(self) -> &'static str {
        match self {
            Cost::Low => "low",
            Cost::Medium => "medium",
            Cost::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Cost> {
        Some(match s {
            "low" => Cost::Low,
            "medium" => Cost::Medium,
            "high" => Cost::High,
            _ => return None,
        })
    }
}

/// A node, as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub role: Role,
    pub prio_base: u8,
    pub load_pct: u8,
    pub ttl_us: u64,
    pub seen_us: u64,
    /// It said it was degraded.
    pub says_degraded: bool,
}

impl Node {
    pub fn status(&self, now: u64) -> Status {
        let age = now.saturating_sub(self.seen_us);
        if age > self.ttl_us {
            Status::Down
        } else if age > self.ttl_us / 2 || self.load_pct >= OVERLOADED_PCT || self.says_degraded {
            Status::Degraded
        } else {
            Status::Up
        }
    }

    /// Microseconds since its last heartbeat.
    pub fn age_us(&self, now: u64) -> u64 {
        now.saturating_sub(self.seen_us)
    }
}

/// One capability one node offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub id: String,
    pub node: String,
    pub prio: u8,
    pub cost: Cost,
}

/// Which nodes a caller would rather use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefer {
    Any,
    Role(Role),
    Node(String),
}

impl Prefer {
    /// `any`, `hub`, `member`, `browser` or `node:<id>`.
    pub fn parse(s: &str) -> Option<Prefer> {
        if s == "any" {
            return Some(Prefer::Any);
        }
        if let Some(id) = s.strip_prefix("node:") {
            return is_node_id(id).then(|| Prefer::Node(String::from(id)));
        }
        Role::parse(s).map(Prefer::Role)
    }

    fn names(&self, node: &Node) -> bool {
        match self {
            Prefer::Any => true,
            Prefer::Role(r) => node.role == *r,
            Prefer::Node(id) => node.id == *id,
        }
    }
}

/// A node id: 1-32 of `a-z 0-9 -`, starting with a letter or digit (it is a NATS token).
pub fn is_node_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// How one candidate scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub node: String,
    pub status: Status,
    pub preferred: bool,
    pub prio: u8,
    pub prio_base: u8,
    pub load_pct: u8,
    pub cost: Cost,
    pub score: i64,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} score {} = 4·prio {} + base {} − 2·load {}% − 20·cost {}{}",
            self.node,
            self.status.name(),
            self.score,
            self.prio,
            self.prio_base,
            self.load_pct,
            self.cost as u8,
            if self.preferred { " (preferred)" } else { "" }
        )
    }
}

/// Why nothing was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// No node offers it.
    Unknown,
    /// Every node offering it is down.
    AllDown,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResolveError::Unknown => "no node offers it",
            ResolveError::AllDown => "every node offering it is down",
        })
    }
}

/// Why a heartbeat or manifest was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not the JSON this module reads, or a field out of range.
    Malformed,
    /// The registry is full.
    Full,
}

/// The registry (see the module doc).
#[derive(Debug, Default)]
pub struct Registry {
    nodes: Vec<Node>,
    caps: Vec<Capability>,
}

impl Registry {
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn capabilities(&self) -> &[Capability] {
        &self.caps
    }

    /// A heartbeat: `{"node":"pc-a","role":"member","load":42,"ttl_ms":10000,
    /// "prio_base":70,"status":"up"}` (`load` in percent; `prio_base` and `status` optional).
    pub fn heartbeat(&mut self, json: &str, now: u64) -> Result<(), Refused> {
        let raw = zb_json::Raw::parse(json).map_err(|_| Refused::Malformed)?;
        let field = |k: &str| raw.get(k).ok().flatten();
        let id = field("node")
            .and_then(|v| v.as_plain_str())
            .filter(|id| is_node_id(id))
            .ok_or(Refused::Malformed)?;
        let role = field("role")
            .and_then(|v| v.as_plain_str())
            .and_then(Role::parse)
            .ok_or(Refused::Malformed)?;
        let load_pct = field("load")
            .and_then(|v| v.as_u64())
            .filter(|&l| l <= 100)
            .ok_or(Refused::Malformed)? as u8;
        let ttl_us = field("ttl_ms")
            .and_then(|v| v.as_u64())
            .filter(|&t| (100..=3_600_000).contains(&t))
            .ok_or(Refused::Malformed)?
            * 1000;
        let prio_base = match field("prio_base") {
            None => 50,
            Some(v) => v.as_u64().filter(|&p| p <= 100).ok_or(Refused::Malformed)? as u8,
        };
        let says_degraded = field("status").is_some_and(|v| v.str_eq("degraded"));
        let node = Node {
            id: String::from(id),
            role,
            prio_base,
            load_pct,
            ttl_us,
            seen_us: now,
            says_degraded,
        };
        if let Some(known) = self.nodes.iter_mut().find(|n| n.id == id) {
            *known = node;
        } else if self.nodes.len() < MAX_NODES {
            self.nodes.push(node);
        } else {
            // Full: a node down for long (ten TTLs) gives its place up.
            let gone = self
                .nodes
                .iter_mut()
                .find(|n| n.age_us(now) > n.ttl_us.saturating_mul(10))
                .ok_or(Refused::Full)?;
            let old = core::mem::replace(gone, node);
            self.caps.retain(|c| c.node != old.id);
        }
        Ok(())
    }

    /// A capability manifest: `{"node":"pc-a","capabilities":[{"id":"capability://x.y",
    /// "prio":85,"cost":"medium"}]}` — replaces what the node announced before.
    pub fn announce(&mut self, json: &str) -> Result<(), Refused> {
        let raw = zb_json::Raw::parse(json).map_err(|_| Refused::Malformed)?;
        let node = raw
            .get("node")
            .ok()
            .flatten()
            .and_then(|v| v.as_plain_str())
            .filter(|id| is_node_id(id))
            .ok_or(Refused::Malformed)?;
        let list = raw
            .get("capabilities")
            .ok()
            .flatten()
            .filter(|v| v.kind() == zb_json::Kind::Array)
            .ok_or(Refused::Malformed)?;
        let mut caps = Vec::new();
        for item in list.elements() {
            let field = |k: &str| item.get(k).ok().flatten();
            let id = field("id")
                .and_then(|v| v.as_plain_str())
                .filter(|id| is_capability_id(id))
                .ok_or(Refused::Malformed)?;
            let prio = field("prio")
                .and_then(|v| v.as_u64())
                .filter(|&p| p <= 100)
                .ok_or(Refused::Malformed)? as u8;
            let cost = match field("cost") {
                None => Cost::Medium,
                Some(v) => v
                    .as_plain_str()
                    .and_then(Cost::parse)
                    .ok_or(Refused::Malformed)?,
            };
            if caps.len() == MAX_PER_NODE {
                return Err(Refused::Full);
            }
            caps.push(Capability {
                id: String::from(id),
                node: String::from(node),
                prio,
                cost,
            });
        }
        let others = self.caps.iter().filter(|c| c.node != node).count();
        if others + caps.len() > MAX_CAPABILITIES {
            return Err(Refused::Full);
        }
        self.caps.retain(|c| c.node != node);
        self.caps.extend(caps);
        Ok(())
    }

    /// `nodes`: one line per node — id, role, status, age of its last heartbeat, load, TTL.
    pub fn nodes_text(&self, now: u64) -> String {
        let mut t = String::from(
            "NODE                             ROLE     STATUS    AGE      LOAD  TTL\n",
        );
        for n in &self.nodes {
            let _ = writeln!(
                t,
                "{:<32} {:<8} {:<9} {:<8} {:>3}%  {}",
                n.id,
                n.role.name(),
                n.status(now).name(),
                Secs(n.age_us(now)),
                n.load_pct,
                Secs(n.ttl_us)
            );
        }
        t
    }

    /// `caps`: one line per capability and node offering it, by capability.
    pub fn capabilities_text(&self, now: u64) -> String {
        let mut caps: Vec<&Capability> = self.caps.iter().collect();
        caps.sort_unstable_by(|a, b| a.id.cmp(&b.id).then(a.node.cmp(&b.node)));
        let mut t = String::from(
            "CAPABILITY                                 NODE                             PRIO  COST    STATUS\n",
        );
        for c in caps {
            let status = self
                .nodes
                .iter()
                .find(|n| n.id == c.node)
                .map_or("unknown", |n| n.status(now).name());
            let cost = c.cost.name();
            let _ = writeln!(
                t,
                "{:<42} {:<32} {:>4}  {:<7} {}",
                c.id, c.node, c.prio, cost, status
            );
        }
        t
    }

    /// The node a request for capability `id` should go to, with every candidate's score
    /// (best first). See the module doc.
    pub fn resolve(
        &self,
        id: &str,
        prefer: &Prefer,
        now: u64,
    ) -> Result<(String, Vec<Candidate>), ResolveError> {
        let mut all: Vec<Candidate> = Vec::new();
        for cap in self.caps.iter().filter(|c| c.id == id) {
            let Some(node) = self.nodes.iter().find(|n| n.id == cap.node) else {
                continue;
            };
            let score = W_PRIO * i64::from(cap.prio) + W_BASE * i64::from(node.prio_base)
                - W_LOAD * i64::from(node.load_pct)
                - W_COST * cap.cost as i64;
            all.push(Candidate {
                node: node.id.clone(),
                status: node.status(now),
                // With no preference, no candidate is singled out.
                preferred: *prefer != Prefer::Any && prefer.names(node),
                prio: cap.prio,
                prio_base: node.prio_base,
                load_pct: node.load_pct,
                cost: cap.cost,
                score,
            });
        }
        if all.is_empty() {
            return Err(ResolveError::Unknown);
        }
        // Best first: alive before down, up before degraded, preferred (while any preferred
        // one is alive) before not, then score, then id.
        let preferred_alive = all.iter().any(|c| c.preferred && c.status != Status::Down);
        all.sort_unstable_by(|a, b| {
            let rank = |c: &Candidate| (c.status, !(preferred_alive && c.preferred));
            rank(a)
                .cmp(&rank(b))
                .then(b.score.cmp(&a.score))
                .then(a.node.cmp(&b.node))
        });
        match all.first() {
            Some(best) if best.status != Status::Down => Ok((best.node.clone(), all)),
            _ => Err(ResolveError::AllDown),
        }
    }
}

/// `capability://` followed by dot-separated tokens of `a-z 0-9 - _`.
pub fn is_capability_id(id: &str) -> bool {
    id.strip_prefix("capability://").is_some_and(|rest| {
        rest.len() <= 96
            && !rest.is_empty()
            && rest.split('.').all(|t| {
                !t.is_empty()
                    && t.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    const S: u64 = 1_000_000;

    fn beat(r: &mut Registry, id: &str, role: &str, load: u8, now: u64) {
        r.heartbeat(
            &format!(
                r#"{{"node":"{id}","role":"{role}","load":{load},"ttl_ms":10000,"prio_base":50}}"#
            ),
            now,
        )
        .unwrap();
    }

    fn fleet() -> Registry {
        let mut r = Registry::default();
        beat(&mut r, "pc-a", "hub", 10, 0);
        beat(&mut r, "pc-b", "member", 20, 0);
        beat(&mut r, "board", "member", 5, 0);
        r.announce(r#"{"node":"pc-a","capabilities":[{"id":"capability://ledger.transfer","prio":80,"cost":"low"}]}"#).unwrap();
        r.announce(r#"{"node":"pc-b","capabilities":[{"id":"capability://ledger.transfer","prio":90,"cost":"low"}]}"#).unwrap();
        r.announce(r#"{"node":"board","capabilities":[{"id":"capability://ledger.transfer","prio":90,"cost":"high"},{"id":"capability://sensor.read","prio":50}]}"#).unwrap();
        r
    }

    #[test]
    fn the_best_score_wins_and_explains_itself() {
        let r = fleet();
        let (node, all) = r
            .resolve("capability://ledger.transfer", &Prefer::Any, S)
            .unwrap();
        // pc-b: 360 + 50 − 40 − 20 = 350; pc-a: 320 + 50 − 20 − 20 = 330; board: 360 + 50 − 10 − 60 = 340.
        assert_eq!(node, "pc-b");
        let scores: Vec<_> = all.iter().map(|c| (c.node.as_str(), c.score)).collect();
        assert_eq!(scores, [("pc-b", 350), ("board", 340), ("pc-a", 330)]);
        assert_eq!(
            format!("{}", all[0]),
            "pc-b up score 350 = 4·prio 90 + base 50 − 2·load 20% − 20·cost 1"
        );
        assert_eq!(
            r.resolve("capability://nope", &Prefer::Any, S),
            Err(ResolveError::Unknown)
        );
    }

    #[test]
    fn preference_holds_while_its_node_lives_then_falls_back() {
        let mut r = fleet();
        let hub = Prefer::parse("hub").unwrap();
        assert_eq!(
            r.resolve("capability://ledger.transfer", &hub, S)
                .unwrap()
                .0,
            "pc-a"
        );
        // pc-a stops heart-beating: degraded after half its TTL, down after it.
        beat(&mut r, "pc-b", "member", 20, 6 * S);
        beat(&mut r, "board", "member", 5, 6 * S);
        assert_eq!(r.nodes()[0].status(6 * S), Status::Degraded);
        // Late, so degraded: an up node goes before it, preferred or not.
        let (node, _) = r
            .resolve("capability://ledger.transfer", &hub, 6 * S)
            .unwrap();
        assert_eq!(node, "pc-b");
        beat(&mut r, "pc-b", "member", 20, 11 * S);
        beat(&mut r, "board", "member", 5, 11 * S);
        assert_eq!(r.nodes()[0].status(11 * S), Status::Down);
        let (node, all) = r
            .resolve("capability://ledger.transfer", &hub, 11 * S)
            .unwrap();
        assert_eq!(node, "pc-b");
        assert_eq!(all.last().unwrap().status, Status::Down);
        // It comes back.
        beat(&mut r, "pc-a", "hub", 10, 12 * S);
        assert_eq!(
            r.resolve("capability://ledger.transfer", &hub, 12 * S)
                .unwrap()
                .0,
            "pc-a"
        );
        // A named node.
        let board = Prefer::parse("node:board").unwrap();
        assert_eq!(
            r.resolve("capability://ledger.transfer", &board, 12 * S)
                .unwrap()
                .0,
            "board"
        );
    }

    #[test]
    fn listings_show_status_and_age() {
        let mut r = fleet();
        beat(&mut r, "pc-b", "member", 20, 8 * S);
        let nodes = r.nodes_text(8 * S + 500_000);
        assert!(nodes.starts_with("NODE "));
        let line = |id: &str| {
            nodes
                .lines()
                .find(|l| l.starts_with(id))
                .map(String::from)
                .unwrap()
        };
        assert!(
            line("pc-a").contains(" hub ")
                && line("pc-a").contains(" degraded ")
                && line("pc-a").contains("8.5s")
        );
        assert!(
            line("pc-b").contains(" up ")
                && line("pc-b").contains("0.5s")
                && line("pc-b").contains("20%")
        );
        let caps = r.capabilities_text(8 * S);
        let rows: Vec<&str> = caps.lines().skip(1).collect();
        assert_eq!(rows.len(), 4);
        assert!(rows[0].starts_with("capability://ledger.transfer") && rows[0].contains(" board "));
        assert!(rows[3].starts_with("capability://sensor.read") && rows[3].contains(" medium "));
    }

    #[test]
    fn all_down_and_overload() {
        let mut r = fleet();
        assert_eq!(
            r.resolve("capability://sensor.read", &Prefer::Any, 20 * S),
            Err(ResolveError::AllDown)
        );
        beat(&mut r, "board", "member", 95, 20 * S);
        assert_eq!(r.nodes()[2].status(20 * S), Status::Degraded);
        assert_eq!(
            r.resolve("capability://sensor.read", &Prefer::Any, 20 * S)
                .unwrap()
                .0,
            "board"
        );
    }

    #[test]
    fn hostile_announcements_are_refused_and_bounded() {
        let mut r = Registry::default();
        for bad in [
            "",
            "[]",
            r#"{"node":"Pc A","role":"hub","load":1,"ttl_ms":1000}"#,
            r#"{"node":"a","role":"king","load":1,"ttl_ms":1000}"#,
            r#"{"node":"a","role":"hub","load":101,"ttl_ms":1000}"#,
            r#"{"node":"a","role":"hub","load":1,"ttl_ms":1}"#,
            r#"{"node":"a","role":"hub","load":-1,"ttl_ms":1000}"#,
        ] {
            assert_eq!(r.heartbeat(bad, 0), Err(Refused::Malformed), "{bad}");
        }
        for bad in [
            r#"{"node":"a","capabilities":{}}"#,
            r#"{"node":"a","capabilities":[{"id":"ledger.transfer","prio":1}]}"#,
            r#"{"node":"a","capabilities":[{"id":"capability://x","prio":101}]}"#,
            r#"{"node":"a","capabilities":[{"id":"capability://x","prio":1,"cost":"free"}]}"#,
        ] {
            assert_eq!(r.announce(bad), Err(Refused::Malformed), "{bad}");
        }
        for i in 0..MAX_NODES {
            beat(&mut r, &format!("n{i}"), "member", 1, 0);
        }
        assert_eq!(
            r.heartbeat(
                r#"{"node":"late","role":"member","load":1,"ttl_ms":1000}"#,
                S
            ),
            Err(Refused::Full)
        );
        // Long gone nodes give their places up.
        r.heartbeat(
            r#"{"node":"late","role":"member","load":1,"ttl_ms":1000}"#,
            200 * S,
        )
        .unwrap();
        assert_eq!(r.nodes().len(), MAX_NODES);
        let many: Vec<String> = (0..=MAX_PER_NODE)
            .map(|i| format!(r#"{{"id":"capability://c{i}","prio":1}}"#))
            .collect();
        let json = format!(r#"{{"node":"late","capabilities":[{}]}}"#, many.join(","));
        assert_eq!(r.announce(&json), Err(Refused::Full));
        assert!(r.capabilities().is_empty());
    }
}
