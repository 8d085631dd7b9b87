//! NATS headers: a block of `NATS/1.0[ <status>[ <description>]]\r\n`, then `Name: value\r\n`
//! lines, then `\r\n` — read from `HMSG`, written for `HPUB`. Names compare without case, as
//! the server's do; a name may appear more than once.

use alloc::vec::Vec;

/// Why a header block is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The first line is not `NATS/1.0…`.
    NoVersion,
    /// A line that is not `Name: value`, or the block does not end with an empty line.
    BadLine,
    /// A name or value NATS cannot carry (CR, LF, a `:` or space in a name, not text).
    BadText,
}

/// A parsed header block, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    /// The inline status (`503` for "no responders"), if any.
    pub status: Option<u16>,
    pub description: &'a str,
    lines: &'a str,
}

impl<'a> Headers<'a> {
    pub fn parse(block: &'a [u8]) -> Result<Headers<'a>, HeaderError> {
        let text = core::str::from_utf8(block).map_err(|_| HeaderError::BadText)?;
        let body = text.strip_suffix("\r\n\r\n").ok_or(HeaderError::BadLine)?;
        let (first, lines) = body.split_once("\r\n").unwrap_or((body, ""));
        let rest = first
            .strip_prefix("NATS/1.0")
            .ok_or(HeaderError::NoVersion)?;
        let (status, description) = match rest.trim_start().split_once(' ') {
            _ if rest.is_empty() => (None, ""),
            _ if !rest.starts_with(' ') => return Err(HeaderError::NoVersion),
            Some((code, desc)) => (Some(code), desc.trim()),
            None => (Some(rest.trim()), ""),
        };
        let status = match status {
            Some(code) => Some(code.parse::<u16>().map_err(|_| HeaderError::BadLine)?),
            None => None,
        };
        for line in lines.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, _) = line.split_once(':').ok_or(HeaderError::BadLine)?;
            if !is_name(name) {
                return Err(HeaderError::BadText);
            }
        }
        Ok(Headers {
            status,
            description,
            lines,
        })
    }

    /// Every `(name, value)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.lines
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n, v.trim()))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Builds a header block for `HPUB`.
pub struct HeaderWriter {
    block: Vec<u8>,
}

impl Default for HeaderWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderWriter {
    pub fn new() -> Self {
        let mut block = Vec::with_capacity(64);
        block.extend_from_slice(b"NATS/1.0\r\n");
        HeaderWriter { block }
    }

    /// Adds `name: value`; refused when NATS cannot carry it (nothing is added then).
    pub fn add(&mut self, name: &str, value: &str) -> Result<&mut Self, HeaderError> {
        if !is_name(name) || value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(HeaderError::BadText);
        }
        for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            self.block.extend_from_slice(part);
        }
        Ok(self)
    }

    /// The complete block.
    pub fn finish(mut self) -> Vec<u8> {
        self.block.extend_from_slice(b"\r\n");
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_blocks_read_back() {
        let mut w = HeaderWriter::new();
        w.add("Nats-Msg-Id", "node-a:42").unwrap();
        w.add("Zb-Origin", "node-a").unwrap();
        assert_eq!(w.add("Bad Name", "x").err(), Some(HeaderError::BadText));
        assert_eq!(w.add("X", "a\r\nY: b").err(), Some(HeaderError::BadText));
        let block = w.finish();
        let h = Headers::parse(&block).unwrap();
        assert_eq!(h.status, None);
        assert_eq!(h.get("nats-msg-id"), Some("node-a:42"));
        assert_eq!(h.iter().count(), 2);
    }

    #[test]
    fn status_lines_and_refusals() {
        let h = Headers::parse(b"NATS/1.0 503\r\n\r\n").unwrap();
        assert_eq!((h.status, h.description), (Some(503), ""));
        let h = Headers::parse(b"NATS/1.0 408 Request Timeout\r\n\r\n").unwrap();
        assert_eq!((h.status, h.description), (Some(408), "Request Timeout"));
        assert_eq!(
            Headers::parse(b"HTTP/1.1\r\n\r\n"),
            Err(HeaderError::NoVersion)
        );
        assert_eq!(
            Headers::parse(b"NATS/1.0X\r\n\r\n"),
            Err(HeaderError::NoVersion)
        );
        assert_eq!(
            Headers::parse(b"NATS/1.0\r\nA: b\r\n"),
            Err(HeaderError::BadLine)
        );
        assert_eq!(
            Headers::parse(b"NATS/1.0\r\nno colon\r\n\r\n"),
            Err(HeaderError::BadLine)
        );
        assert_eq!(
            Headers::parse(b"NATS/1.0 abc\r\n\r\n"),
            Err(HeaderError::BadLine)
        );
        assert_eq!(
            Headers::parse(b"NATS/1.0\r\n\xff: x\r\n\r\n"),
            Err(HeaderError::BadText)
        );
    }
}
