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

/// Bytes of one part's image data (hex takes twice as many) in a record of `max_record`.
fn chunk(max_record: usize) -> usize {
    (max_record.saturating_sub(256) / 2).max(64)
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
            format!("{{\"height\":{height},\"part\":{i},\"parts\":{count},\"data\":\"");
        for b in piece {
            payload.push_str(&format!("{b:02x}"));
        }
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
    let data = zb_json::get(text, "data").ok().flatten()?;
    let hex = data.as_plain_str()?;
    if hex.len() % 2 != 0 || part >= parts || parts > MAX_PARTS {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    let bytes: Option<Vec<u8>> = hex
        .as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect();
    Some((height, part as usize, parts as usize, bytes?))
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
        assert_eq!(events.len(), 1000usize.div_ceil(128));
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
    fn malformed_parts_are_ignored() {
        for payload in [
            "{}",
            r#"{"height":1,"part":0,"parts":1,"data":"abc"}"#,
            r#"{"height":1,"part":1,"parts":1,"data":"ab"}"#,
            r#"{"height":1,"part":0,"parts":1,"data":"zz"}"#,
            r#"{"height":1,"part":0,"parts":5000,"data":"ab"}"#,
            "not json",
        ] {
            let e = system(subject("v"), String::from(payload), 0);
            assert_eq!(newest("v", &[e]), None, "{payload}");
        }
    }
}
