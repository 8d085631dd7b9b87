//! Fuzz target `journal_recovery`: recovery of a whole journal region (`zb_journal::Journal::open`
//! on a `RamMedium`), the strongest of the parser targets — after a crash, whatever the disk or
//! flash holds is read back, and random bytes as a journal region must never panic.
//!
//! The first input byte picks a mode, the next ones the geometry (write unit 1, 4, 16 or 512
//! bytes; 1–4 segments):
//! - **raw**: the rest of the input is the region's contents (split across the segments, the
//!   rest erased), as is, or with every frame's CRCs made right so that the fuzzer gets past
//!   them (segment headers, commits, records), or with sequence numbers and segment indices
//!   made consistent as well (so recovery's chain logic is what is explored);
//! - **history**: the input drives a journal through appends (some with idempotency keys),
//!   `release_before`, reads, reopenings and programs that fail part-way (a torn write), checked
//!   against a model; then optionally corrupts bytes of the region and recovers once more.
//!
//! What it asserts, beyond "never panics":
//! - recovery either refuses (`Corrupt`: a record whose CRC holds but whose envelope does not
//!   decode) or gives a journal whose reads agree with it: `Recovery` and `stats` count the
//!   records `read_from` visits, in strictly increasing order from `first_seq`, and `get` and
//!   `read_from` from the middle return the same records;
//! - after recovery an append works (or the journal is `Full`), gets `last_seq + 1`, and a
//!   reopening still finds every record seen before followed by the new one (when the append
//!   did not program over bytes that were not erased, which only corruption leaves behind);
//! - in a history: every acknowledged record at or above the release floor survives every
//!   reopening unchanged; a record is found only if it was acknowledged or written by an
//!   append that failed part-way; sequence numbers count up; the journal never programs a byte
//!   twice between erases (`RamMedium::overwrites`).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use zb_journal::record::{
    COMMIT_HEADER, COMMIT_MAGIC, RECORD_OVERHEAD, SEGMENT_HEADER, SEGMENT_MAGIC, crc32c, round_up,
};
use zb_journal::{Appended, Envelope, Geometry, Journal, JournalConfig, JournalError, RamMedium};

const CONFIG: JournalConfig = JournalConfig {
    max_record: 400,
    dedupe_window: 4,
    dedupe_secret: 0,
};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(mode) = u.int_in_range(0..=4u8) else {
        return;
    };
    let _ = match mode {
        0..=2 => raw(&mut u, mode),
        _ => history(&mut u, mode == 4),
    };
});

fn geometry(u: &mut Unstructured<'_>, min_bytes: u32) -> ArbResult<Geometry> {
    let write_unit = [1u32, 4, 16, 512][usize::from(u.int_in_range(0..=3u8)?)];
    let segments = u.int_in_range(1..=4u32)?;
    let least = round_up(SEGMENT_HEADER, write_unit as usize)
        + round_up(COMMIT_HEADER + RECORD_OVERHEAD, write_unit as usize);
    let extra = u.int_in_range(0..=2048u32)?;
    let segment_bytes = round_up(
        (least as u32).max(min_bytes) as usize + extra as usize,
        write_unit as usize,
    );
    Ok(Geometry {
        segment_bytes: segment_bytes as u32,
        segments,
        write_unit,
    })
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

fn put_u32(b: &mut [u8], i: usize, v: u32) {
    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], i: usize, v: u64) {
    b[i..i + 8].copy_from_slice(&v.to_le_bytes());
}

/// Makes the frames in one segment's bytes check out: CRCs always; with `sequences`, also the
/// segment index, the commits' first sequence numbers and counts and the records' numbers.
fn fix_up(seg: &mut [u8], index: u32, unit: usize, sequences: bool) {
    if seg.len() < SEGMENT_HEADER || seg[..4] != SEGMENT_MAGIC {
        return;
    }
    if sequences {
        seg[4..8].copy_from_slice(&[1, 0, 0, 0]);
        put_u32(seg, 24, index);
        if u64_at(seg, 16) == 0 {
            put_u64(seg, 16, 1);
        }
    }
    let crc = crc32c(&[&seg[..28]]);
    put_u32(seg, 28, crc);
    let mut next_seq = u64_at(seg, 16);
    let mut at = round_up(SEGMENT_HEADER, unit);
    while at + COMMIT_HEADER <= seg.len() {
        if seg[at..at + 4] != COMMIT_MAGIC {
            at += unit;
            continue;
        }
        let body_len = u32_at(seg, at + 4) as usize;
        let body_at = at + COMMIT_HEADER;
        if body_len > seg.len() - body_at {
            at += unit;
            continue;
        }
        // The records of the body, as far as their lengths hold.
        let mut r = 0;
        let mut count = 0u32;
        while r + RECORD_OVERHEAD <= body_len {
            let len = u32_at(seg, body_at + r) as usize;
            if len > body_len - r - RECORD_OVERHEAD {
                break;
            }
            let rec = body_at + r;
            if sequences {
                put_u64(seg, rec + 4, next_seq.wrapping_add(u64::from(count)));
            }
            let crc = crc32c(&[&seg[rec..rec + 12 + len]]);
            put_u32(seg, rec + 12 + len, crc);
            r += RECORD_OVERHEAD + len;
            count += 1;
        }
        if sequences {
            put_u64(seg, at + 8, next_seq);
            put_u32(seg, at + 16, count);
            next_seq = next_seq.wrapping_add(u64::from(count));
        }
        let body_crc = crc32c(&[&seg[body_at..body_at + body_len]]);
        put_u32(seg, at + 20, body_crc);
        let crc = crc32c(&[&seg[at..at + 24]]);
        put_u32(seg, at + 24, crc);
        at += round_up(COMMIT_HEADER + body_len, unit).max(unit);
    }
}

fn raw(u: &mut Unstructured<'_>, mode: u8) -> ArbResult<()> {
    let g = geometry(u, 0)?;
    let mut medium = RamMedium::new(g);
    let bytes = u.bytes(u.len())?;
    let seg_bytes = g.segment_bytes as usize;
    let share = bytes.len().div_ceil(g.segments as usize).max(1);
    let region = medium.bytes_mut();
    for (index, chunk) in bytes.chunks(share).enumerate() {
        let base = index * seg_bytes;
        let n = chunk.len().min(seg_bytes);
        region[base..base + n].copy_from_slice(&chunk[..n]);
        if mode > 0 {
            let seg = &mut region[base..base + seg_bytes];
            fix_up(seg, index as u32, g.write_unit as usize, mode == 2);
        }
    }
    recover_and_append(medium);
    Ok(())
}

/// What a journal holds, as `read_from` visits it.
type Records = Vec<(u64, Envelope)>;

/// Opens `medium` and checks that what recovery says agrees with what reads return.
fn recover(medium: RamMedium) -> Option<(Journal<RamMedium>, Records)> {
    let (mut j, rec) = match Journal::open(medium, CONFIG) {
        Ok(opened) => opened,
        // A record whose frame checks out but whose envelope does not decode.
        Err(JournalError::Corrupt) => return None,
        Err(e) => panic!("recovery failed on a medium that never fails: {e:?}"),
    };
    let first = j.first_seq();
    let mut seen: Records = Vec::new();
    j.read_from(first, &mut |s, e| {
        seen.push((s, e.clone()));
        true
    })
    .expect("recovery accepted what a read refuses");
    assert_eq!(rec.records, seen.len() as u64);
    assert_eq!(rec.last_seq, j.last_seq());
    assert!(!rec.formatted || seen.is_empty());
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "sequence numbers go up"
    );
    if let (Some(a), Some(z)) = (seen.first(), seen.last()) {
        assert_eq!(a.0, first);
        assert!(z.0 <= j.last_seq());
    }
    let stats = j.stats();
    assert_eq!((stats.records, stats.first_seq), (rec.records, first));
    assert!(stats.bytes_used <= stats.bytes_total);
    assert!(stats.segments_live <= stats.segments);
    // Reads from the middle agree with the whole.
    if !seen.is_empty() {
        for k in [0, seen.len() / 2, seen.len() - 1] {
            let (s, e) = &seen[k];
            assert_eq!(j.get(*s).expect("get").as_ref(), Some(e));
            let mut tail = Vec::new();
            j.read_from(*s, &mut |s, e| {
                tail.push((s, e.clone()));
                true
            })
            .expect("read_from");
            assert_eq!(tail, seen[k..]);
        }
    }
    assert_eq!(j.get(j.last_seq() + 1).expect("get past the end"), None);
    Some((j, seen))
}

fn envelope(name: &str, key: Option<&str>, payload: &[u8]) -> Envelope {
    Envelope {
        name: name.into(),
        version: 1,
        ts_us: 42,
        source: "fuzz".into(),
        correlation_id: 0,
        causation_id: 0,
        tenant: String::new(),
        headers: key
            .map(|k| vec![(zb_journal::IDEMPOTENCY_KEY.to_string(), k.to_string())])
            .unwrap_or_default(),
        payload: payload.to_vec(),
        origin: None,
    }
}

/// Recovers `medium`, appends one event, and checks that a reopening keeps what was there and
/// the new event after it.
fn recover_and_append(medium: RamMedium) {
    let Some((mut j, seen)) = recover(medium) else {
        return;
    };
    let before = j.medium().overwrites;
    let e = envelope("fuzz.appended", None, b"{}");
    let s = j.last_seq() + 1;
    match j.append(&[&e]) {
        Ok(outcome) => assert_eq!(outcome, [Appended::New(s)]),
        Err(JournalError::Full) => return,
        Err(JournalError::TooLarge) => {
            // Only when the event does not fit a segment at all.
            let stats = j.stats();
            let segment = stats.bytes_total / u64::from(stats.segments);
            let framed = SEGMENT_HEADER + COMMIT_HEADER + RECORD_OVERHEAD + e.encoded_len();
            assert!(framed as u64 > segment, "TooLarge with room for {framed} bytes");
            return;
        }
        Err(err) => panic!("append after recovery: {err:?}"),
    }
    if j.medium().overwrites != before {
        // It programmed over bytes that were not erased (left by corruption): on NOR flash
        // those bits are lost, so the new commit cannot be expected to read back.
        return;
    }
    let Some((_, again)) = recover(j.medium().clone()) else {
        panic!("the journal refuses to reopen after an append");
    };
    let mut want = seen;
    want.push((s, e));
    assert!(
        again.windows(want.len()).any(|w| w == want),
        "reopened after an append: {:?}\nexpected to contain {:?}",
        seqs(&again),
        seqs(&want)
    );
}

fn seqs(r: &Records) -> Vec<u64> {
    r.iter().map(|(s, _)| *s).collect()
}

/// The model of a history: what must be there and what may be.
#[derive(Default)]
struct Model {
    /// Acknowledged records (`append` returned `New`).
    acked: BTreeMap<u64, Envelope>,
    /// Records of appends that failed: they may or may not have reached the medium.
    maybe: BTreeMap<u64, Vec<Envelope>>,
    /// The highest `release_before` ever given.
    floor: u64,
}

impl Model {
    /// Checks a (re)opened journal's records against the model, then adopts them.
    fn reopened(&mut self, j: &Journal<RamMedium>, found: &Records) {
        let found_map: BTreeMap<u64, &Envelope> = found.iter().map(|(s, e)| (*s, e)).collect();
        for (s, e) in &self.acked {
            if *s >= self.floor {
                assert_eq!(found_map.get(s), Some(&e), "acknowledged record {s} lost");
            }
        }
        for (s, e) in found {
            let known =
                self.acked.get(s) == Some(e) || self.maybe.get(s).is_some_and(|es| es.contains(e));
            assert!(known, "record {s} was never appended: {e:?}");
        }
        if let Some((&top, _)) = self.acked.last_key_value() {
            assert!(j.last_seq() >= top, "sequence numbers went back");
        }
        self.acked = found.iter().cloned().collect();
        self.maybe.clear();
    }
}

fn history(u: &mut Unstructured<'_>, corrupt: bool) -> ArbResult<()> {
    let g = geometry(u, 256)?;
    let medium = RamMedium::new(g);
    let (mut j, _) = Journal::open(medium, CONFIG).expect("a blank medium opens");
    let mut model = Model::default();
    let mut events = 0u32;
    let steps = u.int_in_range(1..=24u8)?;
    for _ in 0..steps {
        match u.int_in_range(0..=9u8)? {
            0..=4 => {
                let n = u.int_in_range(1..=4usize)?;
                let mut batch = Vec::new();
                for _ in 0..n {
                    let key = match u.int_in_range(0..=5u8)? {
                        k @ 0..=2 => Some(["a", "b", "c"][usize::from(k)]),
                        _ => None,
                    };
                    let len = u.int_in_range(0..=120usize)?;
                    let payload = u.bytes(len.min(u.len()))?;
                    events += 1;
                    batch.push(envelope(&format!("h.{events}"), key, payload));
                }
                append(&mut j, &mut model, &batch);
            }
            5 => {
                let top = j.last_seq() + 2;
                let seq = u.int_in_range(0..=top)?;
                j.release_before(seq);
                model.floor = model.floor.max(seq);
            }
            6 => {
                let budget = u.int_in_range(0..=300usize)?;
                j.medium().fail_after(Some(budget));
            }
            7 => {
                let top = j.last_seq() + 1;
                let seq = u.int_in_range(0..=top)?;
                match j.get(seq).expect("get") {
                    Some(e) => assert!(
                        model.acked.get(&seq) == Some(&e)
                            || model.maybe.get(&seq).is_some_and(|es| es.contains(&e)),
                        "get({seq}) returned a record never appended"
                    ),
                    None => assert!(
                        seq < model.floor || !model.acked.contains_key(&seq),
                        "acknowledged record {seq} not found"
                    ),
                }
            }
            _ => {
                let mut medium = j.medium().clone();
                drop(j);
                medium.fail_after(None);
                assert_eq!(medium.overwrites, 0, "a byte was programmed twice");
                let (reopened, found) = recover(medium).expect("a history reopens");
                j = reopened;
                model.reopened(&j, &found);
            }
        }
    }
    let mut medium = j.medium().clone();
    drop(j);
    medium.fail_after(None);
    assert_eq!(medium.overwrites, 0, "a byte was programmed twice");
    if !corrupt {
        let (j, found) = recover(medium).expect("a history reopens");
        model.reopened(&j, &found);
        return Ok(());
    }
    // Corruption: bytes overwritten or bits flipped here and there, then recovery.
    let size = medium.bytes_mut().len();
    for _ in 0..u.int_in_range(1..=8u8)? {
        let at = u.int_in_range(0..=size - 1)?;
        let value: u8 = u.arbitrary()?;
        let region = medium.bytes_mut();
        if u.ratio(1, 2)? {
            region[at] = value;
        } else {
            region[at] ^= 1 << (value % 8);
        }
    }
    recover_and_append(medium);
    Ok(())
}

/// One append, checked against the model and then recorded in it.
fn append(j: &mut Journal<RamMedium>, model: &mut Model, batch: &[Envelope]) {
    let next = j.last_seq() + 1;
    match j.append(batch) {
        Ok(outcomes) => {
            assert_eq!(outcomes.len(), batch.len());
            let mut expect = next;
            for (e, outcome) in batch.iter().zip(outcomes) {
                match outcome {
                    Appended::New(s) => {
                        assert_eq!(s, expect, "sequence numbers count up by one");
                        expect += 1;
                        model.acked.insert(s, e.clone());
                    }
                    Appended::Duplicate(first) => {
                        let key = e
                            .idempotency_key()
                            .expect("only keyed events are duplicates");
                        let earlier = model
                            .acked
                            .get(&first)
                            .map(|f| f.idempotency_key() == Some(key));
                        // An unknown `first` is a record released and dropped, or one of
                        // a failed append: recovery remembers every key it reads.
                        assert!(earlier != Some(false), "duplicate of a different key");
                    }
                }
            }
            assert_eq!(j.last_seq() + 1, expect);
        }
        // (No event here has an origin, so TooManyOrigins is a refusal that cannot happen.)
        Err(JournalError::TooLarge | JournalError::TooManyOrigins) => {
            assert_eq!(j.last_seq() + 1, next, "a refusal writes")
        }
        Err(JournalError::Full | JournalError::Medium(_)) => {
            // Numbers may have been burnt, and any of those records may be on the medium.
            for s in next..=j.last_seq() {
                model.maybe.insert(s, batch.to_vec());
            }
        }
        Err(JournalError::Corrupt) => panic!("append: Corrupt"),
    }
}
