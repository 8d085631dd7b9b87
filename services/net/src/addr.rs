//! What a `tcp://` or `udp://` URL names, as the service receives it (everything after
//! `scheme://`): `host:port` to connect to, or `0.0.0.0:port?listen` (any local address) to
//! listen on.
//!
//! Hosts are IPv4 literals (there is no resolver yet). Ports are 1–65535. The queries are
//! `listen`, and `async` for a TCP connection whose open returns at once (its handshake goes
//! on in the background: what a native service, which cannot wait, asks for); anything else
//! is refused, so a typo is an error rather than a silent default.
//!
//! Invariants: parsing never panics; every refusal is [`AddrError`] with what was wrong.

use core::fmt;

/// A parsed socket address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: [u8; 4],
    pub port: u16,
    /// `?listen`: wait for connections (TCP) or datagrams (UDP) on `port`.
    pub listen: bool,
    /// `?async`: the open does not wait for the TCP handshake.
    pub background: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    /// No `:port`.
    NoPort,
    /// The host is not a dotted-quad IPv4 address.
    BadHost,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// A query other than `listen`, or a path after the port.
    BadOption,
    /// Connecting to 0.0.0.0, or listening on a particular remote address.
    BadUse,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrError::NoPort => "no port (host:port)",
            AddrError::BadHost => "the host is not an IPv4 address",
            AddrError::BadPort => "the port is not a number from 1 to 65535",
            AddrError::BadOption => "unknown option (only ?listen, ?async)",
            AddrError::BadUse => "connect to a host, or listen on 0.0.0.0",
        })
    }
}

/// Parses a dotted-quad IPv4 address (`10.0.2.2`): four decimal numbers 0–255, no leading
/// `+`, no empty parts, no leading zeros beyond a lone `0`.
pub fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for slot in &mut out {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        *slot = part.parse::<u8>().ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Parses `host:port[?listen]`.
pub fn parse(text: &str) -> Result<Endpoint, AddrError> {
    let (addr, query) = match text.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (text, None),
    };
    let (listen, background) = match query {
        None => (false, false),
        Some("listen") => (true, false),
        Some("async") => (false, true),
        Some(_) => return Err(AddrError::BadOption),
    };
    let (host, port) = addr.rsplit_once(':').ok_or(AddrError::NoPort)?;
    if port.contains('/') {
        return Err(AddrError::BadOption);
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0 && !port.starts_with('+'))
        .ok_or(AddrError::BadPort)?;
    let ip = parse_ipv4(host).ok_or(AddrError::BadHost)?;
    let any = ip == [0, 0, 0, 0];
    if listen != any {
        return Err(AddrError::BadUse);
    }
    Ok(Endpoint {
        ip,
        port,
        listen,
        background,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_and_listen_addresses() {
        assert_eq!(
            parse("10.0.2.2:7000"),
            Ok(Endpoint {
                background: false,
                ip: [10, 0, 2, 2],
                port: 7000,
                listen: false
            })
        );
        assert_eq!(
            parse("0.0.0.0:8080?listen"),
            Ok(Endpoint {
                background: false,
                ip: [0; 4],
                port: 8080,
                listen: true
            })
        );
        assert_eq!(parse("255.255.255.255:65535").map(|e| e.port), Ok(65535));
        assert_eq!(
            parse("10.0.2.100:4222?async"),
            Ok(Endpoint {
                ip: [10, 0, 2, 100],
                port: 4222,
                listen: false,
                background: true,
            })
        );
        assert_eq!(parse("0.0.0.0:4222?async"), Err(AddrError::BadUse));
        assert_eq!(parse("10.0.2.2:1?asink"), Err(AddrError::BadOption));
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        for (text, why) in [
            ("10.0.2.2", AddrError::NoPort),
            ("", AddrError::NoPort),
            ("10.0.2.2:", AddrError::BadPort),
            ("10.0.2.2:0", AddrError::BadPort),
            ("10.0.2.2:65536", AddrError::BadPort),
            ("10.0.2.2:+80", AddrError::BadPort),
            ("10.0.2.2:8x", AddrError::BadPort),
            ("10.0.2:80", AddrError::BadHost),
            ("10.0.2.2.1:80", AddrError::BadHost),
            ("10.0.2.256:80", AddrError::BadHost),
            ("10.0.02.2:80", AddrError::BadHost),
            ("10..2.2:80", AddrError::BadHost),
            ("example.com:80", AddrError::BadHost),
            (":80", AddrError::BadHost),
            ("10.0.2.2:80?listen", AddrError::BadUse),
            ("0.0.0.0:80", AddrError::BadUse),
            ("0.0.0.0:80?listen=1", AddrError::BadOption),
            ("10.0.2.2:80?x", AddrError::BadOption),
            ("10.0.2.2:80/path", AddrError::BadOption),
        ] {
            assert_eq!(parse(text), Err(why), "{text:?}");
        }
    }

    #[test]
    fn ipv4_literals() {
        assert_eq!(parse_ipv4("0.0.0.0"), Some([0; 4]));
        assert_eq!(parse_ipv4("192.168.1.10"), Some([192, 168, 1, 10]));
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.-4",
            "1.2.3.4 ",
            " 1.2.3.4",
            "01.2.3.4",
            "1.2.3.1000",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
        }
    }
}
