//! [`Envelope`]: an event and its envelope (DESIGN.md §6), and its compact binary encoding —
//! the body of a journal record.
//!
//! Encoding (little-endian): `version u16, ts_us u64, correlation_id u64, causation_id u64`,
//! then `name`, `source`, `tenant` each as `u16 length + bytes`, then `u16` header count and
//! each header as two such strings, then `u32 length + payload`.
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
}

/// Why bytes are not an encoded envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

/// The header that de-duplicates emits.
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";

impl Envelope {
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
        2 + 8 * 3 + 6 + strings + 2 + headers + 4 + self.payload.len()
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
