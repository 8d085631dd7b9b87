//! [`Envelope`]: an event and its envelope (DESIGN.md §6), and its compact binary encoding —
//! the body of a journal record.
//!
//! Encoding (little-endian): `version u16, ts_us u64, correlation_id u64, causation_id u64`,
//! then `name`, `source`, `tenant` each as `u16 length + bytes`, then `u16` header count and
//! each header as two such strings, then `u32 length + payload`; then, for an event imported
//! from another node only, its [`Origin`]: the tag byte `1`, the node id as a string and the
//! event's sequence number there (`u64`). Records written before federation have no origin
//! and read back with `origin: None`.
//!
//! Headers: four keys name the envelope's own fields ([`FIELD_KEYS`]: `version`,
//! `correlation_id`, `causation_id`, `tenant`); [`Envelope::set_header`] puts such a header in
//! its field, so [`Envelope::headers`] holds only the others.
//!
//! Invariants: [`Envelope::decode`] accepts exactly what [`Envelope::encode`] writes (every
//! length checked against the input, strings valid UTF-8, nothing left over) and never panics.

use alloc::string::String;
use alloc::vec::Vec;

/// An event and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The subject, e.g. `ledger.transfer.requested`.
    pub name: String,
    pub version: u16,
    /// Microseconds (the kernel's clock) when it was emitted.
    pub ts_us: u64,
    /// Who emitted it: `run:7 ledger-cmd`, `kernel`.
    pub source: String,
    pub correlation_id: u64,
    /// The sequence number of the event that caused this one; 0 for none.
    pub causation_id: u64,
    pub tenant: String,
    pub headers: Vec<(String, String)>,
    /// JSON text (not interpreted here).
    pub payload: Vec<u8>,
    /// For an event imported from another node: where it was emitted.
    pub origin: Option<Origin>,
}

/// Where an imported event was emitted: the node and the event's sequence number in that
/// node's journal. Imports are de-duplicated by it (a node's events arrive in its order, so
/// the highest sequence number applied per origin node says what is already here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub node: String,
    pub seq: u64,
}

/// The tag byte that starts an encoded [`Origin`].
const ORIGIN_TAG: u8 = 1;

/// Why bytes are not an encoded envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

/// The header that de-duplicates emits.
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";

/// Header keys that fill envelope fields instead of staying headers.
pub const FIELD_KEYS: [&str; 4] = ["version", "correlation_id", "causation_id", "tenant"];

impl Envelope {
    /// Event `name` from `source` at `ts_us` carrying `payload`: version 1, no correlation or
    /// causation, no tenant, no headers.
    pub fn new(name: String, source: String, ts_us: u64, payload: Vec<u8>) -> Envelope {
        Envelope {
            name,
            version: 1,
            ts_us,
            source,
            correlation_id: 0,
            causation_id: 0,
            tenant: String::new(),
            headers: Vec::new(),
            payload,
            origin: None,
        }
    }

    /// Sets header `key` to `value`: one of [`FIELD_KEYS`] sets its field (the numbers must be
    /// decimal, the version at most 65535), any other key is added to the headers. `Err` says
    /// why the value does not fit its field; nothing is changed then.
    pub fn set_header(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| alloc::format!("header {key}: not a number: {value:?}"))
        };
        match key {
            "version" => {
                self.version = u16::try_from(number()?)
                    .map_err(|_| alloc::format!("header version: too large: {value}"))?;
            }
            "correlation_id" => self.correlation_id = number()?,
            "causation_id" => self.causation_id = number()?,
            "tenant" => self.tenant = String::from(value),
            _ => self.headers.push((String::from(key), String::from(value))),
        }
        Ok(())
    }

    /// The headers as `key=value` lines (how runs and reducers receive them).
    pub fn header_lines(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.headers.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }

    /// The value of header `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `idempotency_key` header.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.header(IDEMPOTENCY_KEY)
    }

    /// Bytes [`Envelope::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let strings = self.name.len() + self.source.len() + self.tenant.len();
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum();
        let origin = self.origin.as_ref().map_or(0, |o| 1 + 2 + o.node.len() + 8);
        2 + 8 * 3 + 6 + strings + 2 + headers + 4 + self.payload.len() + origin
    }

    /// Appends the encoding to `out`. Strings longer than 65535 bytes or a payload over 4 GiB
    /// cannot be encoded: the caller bounds them (the journal's record limit is far lower), and
    /// they are cut here rather than written with a wrong length.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.ts_us.to_le_bytes());
        out.extend_from_slice(&self.correlation_id.to_le_bytes());
        out.extend_from_slice(&self.causation_id.to_le_bytes());
        for s in [&self.name, &self.source, &self.tenant] {
            put_str(out, s);
        }
        let count = self.headers.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(count as u16).to_le_bytes());
        for (k, v) in self.headers.iter().take(count) {
            put_str(out, k);
            put_str(out, v);
        }
        let len = self.payload.len().min(u32::MAX as usize);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&self.payload[..len]);
        if let Some(origin) = &self.origin {
            out.push(ORIGIN_TAG);
            put_str(out, &origin.node);
            out.extend_from_slice(&origin.seq.to_le_bytes());
        }
    }

    /// Reads an encoding [`Envelope::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let mut r = Reader(bytes);
        let version = r.u16()?;
        let ts_us = r.u64()?;
        let correlation_id = r.u64()?;
        let causation_id = r.u64()?;
        let name = r.string()?;
        let source = r.string()?;
        let tenant = r.string()?;
        let count = r.u16()?;
        let mut headers = Vec::new();
        for _ in 0..count {
            headers.push((r.string()?, r.string()?));
        }
        let len = r.u32()? as usize;
        let payload = r.take(len)?.to_vec();
        let origin = if r.0.is_empty() {
            None
        } else {
            if r.take(1)? != [ORIGIN_TAG] {
                return Err(DecodeError);
            }
            let node = r.string()?;
            let seq = r.u64()?;
            Some(Origin { node, seq })
        };
        if !r.0.is_empty() {
            return Err(DecodeError);
        }
        Ok(Envelope {
            name,
            version,
            ts_us,
            source,
            correlation_id,
            causation_id,
            tenant,
            headers,
            payload,
            origin,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut len = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..len]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        core::str::from_utf8(bytes)
            .map(String::from)
            .map_err(|_| DecodeError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    pub(crate) fn sample(i: u64) -> Envelope {
        Envelope {
            name: "ledger.transfer.requested".into(),
            version: 1,
            ts_us: 1000 + i,
            source: "run:7 ledger".into(),
            correlation_id: i,
            causation_id: 0,
            tenant: "acme".into(),
            headers: vec![("idempotency_key".into(), alloc::format!("k{i}"))],
            payload: br#"{"from":"alice","to":"bob","amount":5}"#.to_vec(),
            origin: None,
        }
    }

    #[test]
    fn round_trips_and_refuses_every_truncation_and_extension() {
        let e = sample(3);
        let mut buf = Vec::new();
        e.encode(&mut buf);
        assert_eq!(buf.len(), e.encoded_len());
        assert_eq!(Envelope::decode(&buf), Ok(e.clone()));
        assert_eq!(e.idempotency_key(), Some("k3"));
        for cut in 0..buf.len() {
            assert_eq!(Envelope::decode(&buf[..cut]), Err(DecodeError), "cut {cut}");
        }
        buf.push(0);
        assert_eq!(Envelope::decode(&buf), Err(DecodeError));
    }

    #[test]
    fn an_imported_event_keeps_its_origin() {
        let mut e = sample(4);
        let mut plain = Vec::new();
        e.encode(&mut plain);
        e.origin = Some(Origin {
            node: "pc-b".into(),
            seq: 77,
        });
        let mut buf = Vec::new();
        e.encode(&mut buf);
        assert_eq!(buf.len(), e.encoded_len());
        assert_eq!(
            &buf[..plain.len()],
            &plain[..],
            "an origin only adds a trailer"
        );
        assert_eq!(Envelope::decode(&buf), Ok(e.clone()));
        for cut in plain.len() + 1..buf.len() {
            assert_eq!(Envelope::decode(&buf[..cut]), Err(DecodeError), "cut {cut}");
        }
        let mut bad_tag = buf.clone();
        bad_tag[plain.len()] = 2;
        assert_eq!(Envelope::decode(&bad_tag), Err(DecodeError));
        buf.push(0);
        assert_eq!(Envelope::decode(&buf), Err(DecodeError));
    }

    #[test]
    fn field_headers_fill_their_fields_and_others_stay_headers() {
        let mut e = Envelope::new("a.b".into(), "run:2 x".into(), 7, b"{}".to_vec());
        assert_eq!((e.version, e.correlation_id, e.causation_id), (1, 0, 0));
        for (k, v) in [
            ("version", "3"),
            ("correlation_id", "9"),
            ("causation_id", "4"),
            ("tenant", "acme"),
            ("idempotency_key", "k1"),
        ] {
            e.set_header(k, v).unwrap();
        }
        assert_eq!((e.version, e.correlation_id, e.causation_id), (3, 9, 4));
        assert_eq!(e.tenant, "acme");
        assert_eq!(e.header_lines(), "idempotency_key=k1");
        assert!(FIELD_KEYS.iter().all(|k| e.header(k).is_none()));
        assert_eq!(
            e.set_header("version", "x"),
            Err(String::from("header version: not a number: \"x\""))
        );
        assert_eq!(
            e.set_header("version", "70000"),
            Err(String::from("header version: too large: 70000"))
        );
        assert_eq!(e.version, 3, "unchanged by a refusal");
    }

    #[test]
    fn decoding_mutated_bytes_never_panics() {
        let mut good = Vec::new();
        sample(1).encode(&mut good);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut b = good.clone();
            for k in 0..(state % 4 + 1) {
                let i = ((state >> (8 * k)) as usize) % b.len();
                b[i] = (state >> (3 * k)) as u8;
            }
            let _ = Envelope::decode(&b);
            let cut = (state as usize) % (b.len() + 1);
            let _ = Envelope::decode(&b[..cut]);
        }
    }
}
