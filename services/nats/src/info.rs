//! The server's `INFO`: the few facts a client needs from it. Unknown fields are ignored (the
//! server adds fields over versions); a field of the wrong type is as if absent.

use alloc::string::String;

/// What the client keeps of `INFO`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerInfo {
    pub server_id: String,
    pub version: String,
    /// Largest message the server accepts (0: not said; the client keeps its own limit).
    pub max_payload: u64,
    /// Whether the server takes `HPUB` and sends `HMSG`.
    pub headers: bool,
    /// Whether JetStream is on.
    pub jetstream: bool,
}

impl ServerInfo {
    /// Reads `INFO`'s JSON; `None` if it is not a JSON object.
    pub fn parse(json: &str) -> Option<ServerInfo> {
        let raw = zb_json::Raw::parse(json).ok()?;
        if raw.kind() != zb_json::Kind::Object {
            return None;
        }
        let text = |key: &str| {
            raw.get(key)
                .ok()
                .flatten()
                .and_then(|v| v.as_plain_str())
                .map(String::from)
                .unwrap_or_default()
        };
        let flag = |key: &str| {
            raw.get(key)
                .ok()
                .flatten()
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        };
        Some(ServerInfo {
            server_id: text("server_id"),
            version: text("version"),
            max_payload: raw
                .get("max_payload")
                .ok()
                .flatten()
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            headers: flag("headers"),
            jetstream: flag("jetstream"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_a_2_9_server_sends() {
        let info = ServerInfo::parse(
            r#"{"server_id":"NBX","server_name":"n","version":"2.9.10","proto":1,"go":"go1.19","host":"127.0.0.1","port":4222,"headers":true,"max_payload":1048576,"jetstream":true,"client_id":5}"#,
        )
        .unwrap();
        assert_eq!(info.server_id, "NBX");
        assert_eq!(info.version, "2.9.10");
        assert_eq!(info.max_payload, 1 << 20);
        assert!(info.headers && info.jetstream);
        assert_eq!(ServerInfo::parse("[1]"), None);
        assert_eq!(ServerInfo::parse("{"), None);
        let odd = ServerInfo::parse(r#"{"max_payload":"big","headers":1}"#).unwrap();
        assert_eq!((odd.max_payload, odd.headers), (0, false));
    }
}
