//! The journal's on-medium frames: segment headers, commits, and records.
//!
//! ```text
//! segment header  magic "ZBJS" | version u16 | 0 u16 | generation u64 | first_seq u64 |
//!                 segment u32 | crc32c u32 (of the 28 bytes before)      — padded to a write unit
//! commit          magic "ZBJC" | body_len u32 | first_seq u64 | count u32 | body_crc u32 |
//!                 crc32c u32 (of the 24 bytes before) | body             — padded to a write unit
//! record (body)   len u32 | seq u64 | data (len bytes) | crc32c u32 (of len, seq and data)
//! ```
//!
//! A commit is what one group commit writes: a header saying how long its body is and the
//! body's CRC, so a commit torn anywhere — header, records, or between — fails a check and is
//! refused whole. Each record carries its own sequence number and CRC as well, so a record is
//! checked on its own too (and a commit whose records do not count up from its `first_seq`
//! is refused).
//!
//! Invariants: every decoder checks lengths before reading and never panics; a valid frame
//! decodes to exactly what was encoded.

use alloc::vec::Vec;

use crc::{CRC_32_ISCSI, Crc};

/// Rows of CRC lookup table: on 64-bit machines slice-by-16 (16 KiB, several times faster); on
/// a microcontroller (32-bit) the single 1 KiB table, as its flash is scarcer than its cycles.
const CRC_TABLES: usize = if usize::BITS >= 64 { 16 } else { 1 };

/// CRC-32C (Castagnoli): the polynomial storage formats use (iSCSI, ext4, SCTP), with
/// [`CRC_TABLES`] tables.
const CRC32C: Crc<u32, crc::Table<CRC_TABLES>> =
    Crc::<u32, crc::Table<CRC_TABLES>>::new(&CRC_32_ISCSI);

/// The CRC-32C of `parts`, in order.
pub fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut d = CRC32C.digest();
    for p in parts {
        d.update(p);
    }
    d.finalize()
}

pub const SEGMENT_MAGIC: [u8; 4] = *b"ZBJS";
pub const COMMIT_MAGIC: [u8; 4] = *b"ZBJC";
/// The format's version (segment headers carry it).
pub const FORMAT_VERSION: u16 = 1;
pub const SEGMENT_HEADER: usize = 32;
pub const COMMIT_HEADER: usize = 28;
/// Bytes a record adds to its data.
pub const RECORD_OVERHEAD: usize = 16;

/// A segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Increases every time a segment is (re)used: orders segments, and tells a reused
    /// segment's new data from what the last use left.
    pub generation: u64,
    /// The sequence number of the segment's first record.
    pub first_seq: u64,
    /// Which segment this is (a header copied elsewhere is refused).
    pub segment: u32,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER] {
        let mut h = [0u8; SEGMENT_HEADER];
        h[0..4].copy_from_slice(&SEGMENT_MAGIC);
        h[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[8..16].copy_from_slice(&self.generation.to_le_bytes());
        h[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        h[24..28].copy_from_slice(&self.segment.to_le_bytes());
        let crc = crc32c(&[&h[..28]]);
        h[28..32].copy_from_slice(&crc.to_le_bytes());
        h
    }

    pub fn decode(h: &[u8]) -> Option<SegmentHeader> {
        let h = h.get(..SEGMENT_HEADER)?;
        if h[0..4] != SEGMENT_MAGIC
            || u16_at(h, 4) != FORMAT_VERSION
            || u32_at(h, 28) != crc32c(&[&h[..28]])
        {
            return None;
        }
        Some(SegmentHeader {
            generation: u64_at(h, 8),
            first_seq: u64_at(h, 16),
            segment: u32_at(h, 24),
        })
    }
}

/// A commit's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitHeader {
    pub body_len: u32,
    pub first_seq: u64,
    pub count: u32,
    pub body_crc: u32,
}

impl CommitHeader {
    pub fn encode(&self) -> [u8; COMMIT_HEADER] {
        let mut h = [0u8; COMMIT_HEADER];
        h[0..4].copy_from_slice(&COMMIT_MAGIC);
        h[4..8].copy_from_slice(&self.body_len.to_le_bytes());
        h[8..16].copy_from_slice(&self.first_seq.to_le_bytes());
        h[16..20].copy_from_slice(&self.count.to_le_bytes());
        h[20..24].copy_from_slice(&self.body_crc.to_le_bytes());
        let crc = crc32c(&[&h[..24]]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        h
    }

    pub fn decode(h: &[u8]) -> Option<CommitHeader> {
        let h = h.get(..COMMIT_HEADER)?;
        if h[0..4] != COMMIT_MAGIC || u32_at(h, 24) != crc32c(&[&h[..24]]) {
            return None;
        }
        Some(CommitHeader {
            body_len: u32_at(h, 4),
            first_seq: u64_at(h, 8),
            count: u32_at(h, 16),
            body_crc: u32_at(h, 20),
        })
    }
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than the record claims.
    Truncated,
    /// The CRC does not match.
    Crc,
    /// Its sequence number is not the one expected (duplicated or reordered).
    Sequence { found: u64 },
}

/// Appends record `seq` to `out` whose data `write` appends (the caller encodes straight into
/// the output, with no buffer per record); returns the data's length. Data over 4 GiB cannot
/// be framed: the caller bounds it (the journal's record limit is far lower).
pub fn encode_with(seq: u64, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    write(out);
    let len = out.len() - start - 12;
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    let crc = crc32c(&[&out[start..]]);
    out.extend_from_slice(&crc.to_le_bytes());
    len
}

/// Decodes the record at the start of `buf`, which must carry `expected_seq`: its data's
/// range in `buf` and the record's total length.
pub fn decode(
    buf: &[u8],
    expected_seq: u64,
) -> Result<(core::ops::Range<usize>, usize), RecordError> {
    if buf.len() < RECORD_OVERHEAD {
        return Err(RecordError::Truncated);
    }
    let len = u32_at(buf, 0) as usize;
    let total = len
        .checked_add(RECORD_OVERHEAD)
        .ok_or(RecordError::Truncated)?;
    if buf.len() < total {
        return Err(RecordError::Truncated);
    }
    let data = 12..12 + len;
    let crc = u32_at(buf, 12 + len);
    if crc != crc32c(&[&buf[..12], &buf[data.clone()]]) {
        return Err(RecordError::Crc);
    }
    let seq = u64_at(buf, 4);
    if seq != expected_seq {
        return Err(RecordError::Sequence { found: seq });
    }
    Ok((data, total))
}

/// Rounds `n` up to a multiple of `unit`.
pub fn round_up(n: usize, unit: usize) -> usize {
    n.div_ceil(unit.max(1)) * unit.max(1)
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_with(seq, &mut v, |out| out.extend_from_slice(data));
        v
    }

    #[test]
    fn a_record_round_trips() {
        let r = record(7, b"hello");
        let (data, total) = decode(&r, 7).unwrap();
        assert_eq!((&r[data], total), (&b"hello"[..], r.len()));
    }

    #[test]
    fn every_single_bit_flip_of_a_record_is_refused() {
        let r = record(42, br#"{"amount":5}"#);
        for bit in 0..r.len() * 8 {
            let mut bad = r.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&bad, 42).is_err(), "flip of bit {bit} accepted");
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let r = record(1, b"some data");
        for cut in 0..r.len() {
            assert_eq!(
                decode(&r[..cut], 1),
                Err(RecordError::Truncated),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn duplicated_and_reordered_records_are_refused() {
        assert_eq!(
            decode(&record(5, b"x"), 6),
            Err(RecordError::Sequence { found: 5 })
        );
        assert_eq!(
            decode(&record(8, b"x"), 6),
            Err(RecordError::Sequence { found: 8 })
        );
    }

    #[test]
    fn headers_round_trip_and_refuse_flips() {
        let s = SegmentHeader {
            generation: 9,
            first_seq: 100,
            segment: 1,
        };
        let c = CommitHeader {
            body_len: 64,
            first_seq: 100,
            count: 2,
            body_crc: 0xDEAD_BEEF,
        };
        assert_eq!(SegmentHeader::decode(&s.encode()), Some(s));
        assert_eq!(CommitHeader::decode(&c.encode()), Some(c));
        for bit in 0..SEGMENT_HEADER * 8 {
            let mut b = s.encode();
            b[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(SegmentHeader::decode(&b), None, "segment bit {bit}");
        }
        for bit in 0..COMMIT_HEADER * 8 {
            let mut b = c.encode();
            b[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(CommitHeader::decode(&b), None, "commit bit {bit}");
        }
        // Erased flash and zeroed disks are not headers.
        assert_eq!(CommitHeader::decode(&[0xFF; COMMIT_HEADER]), None);
        assert_eq!(CommitHeader::decode(&[0; COMMIT_HEADER]), None);
        assert_eq!(SegmentHeader::decode(&[0xFF; SEGMENT_HEADER]), None);
    }
}
