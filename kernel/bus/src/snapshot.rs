//! Snapshots of views in the journal: a view's state at a height, recorded as `_snapshot.<view>`
//! events ([`parts`]), and found again at boot ([`Newest`]).
//!
//! A snapshot is the state's bytes in hex, cut into parts that each fit a journal record:
//! `{"height":H,"part":I,"parts":N,"data":"<hex>"}`, every part with `correlation_id` H.
//!
//! Invariants: only a snapshot whose every part was read is ever returned, and of those the
//! last one written; a malformed part is ignored (never a panic), so a torn or foreign event
//! cannot make a view restore bytes that were not its own whole state.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_journal::Envelope;

use crate::envelope::system;

/// Where a view's snapshots are recorded: `_snapshot.<view>`.
pub fn subject(view: &str) -> String {
    format!("_snapshot.{view}")
}

/// Most parts a snapshot may have (a bound on what reading one allocates).
const MAX_PARTS: u64 = 4096;

/// Bytes of one part's image data in a record of `max_record`: base64 takes 4 characters for
/// every 3 bytes, and 256 bytes are left for the envelope and the payload's other fields.
fn chunk(max_record: usize) -> usize {
    (max_record.saturating_sub(256) / 4 * 3).max(48)
}

/// Journal bytes a snapshot of an `image_len`-byte image takes at most ([`parts`]: each part
/// one record of at most `max_record` bytes, with its framing, and a commit header for each of
/// the two segments it may span).
pub fn journal_bytes(image_len: usize, max_record: usize) -> usize {
    use zb_journal::record::{COMMIT_HEADER, RECORD_OVERHEAD};
    let count = image_len.div_ceil(chunk(max_record)).max(1);
    count * (max_record + RECORD_OVERHEAD) + 2 * COMMIT_HEADER
}

/// The events recording `image` as view `view`'s snapshot at `height`, written at `now_us`:
/// hex in parts that fit a record of `max_record` bytes with room for the envelope.
pub fn parts(
    view: &str,
    height: u64,
    image: &[u8],
    max_record: usize,
    now_us: u64,
) -> Vec<Envelope> {
    let chunk = chunk(max_record);
    let count = image.len().div_ceil(chunk).max(1);
    let subject = subject(view);
    let mut events = Vec::with_capacity(count);
    for (i, piece) in image.chunks(chunk).enumerate() {
        let mut payload =
            format!("{{\"height\":{height},\"part\":{i},\"parts\":{count},\"b64\":\"");
        base64_into(piece, &mut payload);
        payload.push_str("\"}");
        let mut event = system(subject.clone(), payload, now_us);
        event.correlation_id = height;
        events.push(event);
    }
    events
}

/// One part's payload: its height, its index, how many parts there are, and its bytes.
fn part(payload: &[u8]) -> Option<(u64, usize, usize, Vec<u8>)> {
    let text = core::str::from_utf8(payload).ok()?;
    let number = |key: &str| zb_json::get(text, key).ok().flatten()?.as_u64();
    let (height, part, parts) = (number("height")?, number("part")?, number("parts")?);
    if part >= parts || parts > MAX_PARTS {
        return None;
    }
    let text_of = |key: &str| zb_json::get(text, key).ok().flatten()?.as_plain_str();
    let bytes = match text_of("b64") {
        Some(b64) => from_base64(b64)?,
        // Written by builds before base64 parts: hex.
        None => from_hex(text_of("data")?)?,
    };
    Some((height, part as usize, parts as usize, bytes))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `bytes` in standard base64 (RFC 4648, with `=` padding). Hand-written: twenty lines
/// against a crate's engine code in a board's nearly full flash.
fn base64_into(bytes: &[u8], out: &mut String) {
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            let c = if k <= group.len() {
                BASE64[(n >> (18 - 6 * k) & 63) as usize]
            } else {
                b'='
            };
            out.push(c as char);
        }
    }
}

/// Standard base64 back to bytes; `None` for anything [`base64_into`] would not write.
fn from_base64(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if t.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| BASE64.iter().position(|&d| d == c).map(|v| v as u32);
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for (i, q) in t.chunks(4).enumerate() {
        let last = i + 1 == t.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // The bits padding drops must be zero, so each image has one encoding.
        if bytes[3 - pad..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Hex back to bytes (snapshots written before base64 parts).
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}

/// A snapshot being gathered: its height, how many parts it has, the parts seen so far.
type Partial = (u64, usize, Vec<Option<Vec<u8>>>);

/// Finds a view's newest complete snapshot among events read in journal order
/// ([`Newest::see`] each, then [`Newest::found`]).
pub struct Newest {
    subject: String,
    best: Option<(u64, Vec<u8>)>,
    current: Option<Partial>,
}

impl Newest {
    /// Looks for view `view`'s snapshots.
    pub fn new(view: &str) -> Newest {
        Newest {
            subject: subject(view),
            best: None,
            current: None,
        }
    }

    /// The next event in the journal.
    pub fn see(&mut self, event: &Envelope) {
        // Only the system's own records count: a run cannot write this subject, and one in the
        // journal from anyone else (an older system's, or forged) is ignored.
        if event.name != self.subject || event.source != crate::envelope::SYSTEM_SOURCE {
            return;
        }
        let Some((height, part, parts, data)) = part(&event.payload) else {
            return;
        };
        let fresh = !matches!(&self.current, Some((h, n, _)) if *h == height && *n == parts);
        if fresh {
            self.current = Some((height, parts, alloc::vec![None; parts]));
        }
        if let Some((h, _, got)) = &mut self.current {
            if let Some(slot) = got.get_mut(part) {
                *slot = Some(data);
            }
            if got.iter().all(Option::is_some) {
                let image: Vec<u8> = got.iter().flatten().flatten().copied().collect();
                self.best = Some((*h, image));
            }
        }
    }

    /// The newest complete snapshot seen: its height and bytes.
    pub fn found(self) -> Option<(u64, Vec<u8>)> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newest(view: &str, events: &[Envelope]) -> Option<(u64, Vec<u8>)> {
        let mut n = Newest::new(view);
        for e in events {
            n.see(e);
        }
        n.found()
    }

    #[test]
    fn a_snapshot_in_parts_reads_back_whole() {
        let image: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let events = parts("count", 42, &image, 512, 7);
        // Base64 parts: 192 image bytes in a 512-byte record (hex fitted 128).
        assert_eq!(events.len(), 1000usize.div_ceil(192));
        assert!(events.iter().all(|e| e.name == "_snapshot.count"
            && e.correlation_id == 42
            && e.source == crate::envelope::SYSTEM_SOURCE
            && e.encoded_len() < 512));
        assert_eq!(newest("count", &events), Some((42, image)));
        assert_eq!(newest("other", &events), None);
    }

    #[test]
    fn only_complete_snapshots_count_and_the_last_one_wins() {
        let old = parts("v", 3, &[1; 300], 512, 0);
        let new = parts("v", 9, &[2; 300], 512, 0);
        assert!(old.len() > 1);
        // The newer one torn (a part missing): the older one is the newest complete.
        let mut events = old.clone();
        events.extend(new.iter().skip(1).cloned());
        assert_eq!(newest("v", &events), Some((3, alloc::vec![1; 300])));
        let mut events = old;
        events.extend(new);
        assert_eq!(newest("v", &events), Some((9, alloc::vec![2; 300])));
    }

    #[test]
    fn base64_round_trips_every_length_and_older_hex_parts_still_read() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut text = String::new();
            base64_into(&bytes, &mut text);
            assert_eq!(text.len(), len.div_ceil(3) * 4);
            assert_eq!(from_base64(&text), Some(bytes), "{text}");
        }
        let mut text = String::new();
        base64_into(b"any carnal pleasure.", &mut text);
        assert_eq!(text, "YW55IGNhcm5hbCBwbGVhc3VyZS4=");
        // A snapshot written before base64 parts (hex in `data`) still restores.
        let old = r#"{"height":4,"part":0,"parts":1,"data":"0a0b"}"#;
        let e = system(subject("v"), String::from(old), 0);
        assert_eq!(newest("v", &[e]), Some((4, alloc::vec![10, 11])));
    }

    #[test]
    fn malformed_parts_are_ignored() {
        for payload in [
            "{}",
            r#"{"height":1,"part":0,"parts":1,"data":"abc"}"#,
            r#"{"height":1,"part":1,"parts":1,"data":"ab"}"#,
            r#"{"height":1,"part":0,"parts":1,"data":"zz"}"#,
            r#"{"height":1,"part":0,"parts":5000,"data":"ab"}"#,
            r#"{"height":1,"part":0,"parts":1,"b64":"QUJD="}"#,
            r#"{"height":1,"part":0,"parts":1,"b64":"QU=D"}"#,
            r#"{"height":1,"part":0,"parts":1,"b64":"QR=="}"#,
            r#"{"height":1,"part":0,"parts":1,"b64":"Q$=="}"#,
            "not json",
        ] {
            let e = system(subject("v"), String::from(payload), 0);
            assert_eq!(newest("v", &[e]), None, "{payload}");
        }
    }
}
