//! The journal against corruption, power loss and full media (acceptance tests of the format).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::record::{COMMIT_HEADER, round_up};
use crate::{Appended, Envelope, Geometry, Journal, JournalConfig, JournalError, RamMedium};

const NOR: Geometry = Geometry {
    segment_bytes: 2048,
    segments: 4,
    write_unit: 4,
};

const DISK: Geometry = Geometry {
    segment_bytes: 8192,
    segments: 4,
    write_unit: 512,
};

const CONFIG: JournalConfig = JournalConfig {
    max_record: 512,
    dedupe_window: 4,
    dedupe_secret: 0,
};

fn event(i: u64) -> Envelope {
    Envelope {
        name: "ledger.transfer.requested".into(),
        version: 1,
        ts_us: i,
        source: "test".into(),
        correlation_id: i,
        causation_id: 0,
        tenant: "".into(),
        headers: vec![],
        payload: format!("{{\"i\":{i}}}").into_bytes(),
        origin: None,
    }
}

fn keyed(i: u64, key: &str) -> Envelope {
    let mut e = event(i);
    e.headers.push(("idempotency_key".into(), key.into()));
    e
}

fn open(m: RamMedium) -> (Journal<RamMedium>, crate::Recovery) {
    Journal::open(m, CONFIG).expect("opens")
}

/// Every `(seq, i)` in the journal, oldest first.
fn contents(j: &mut Journal<RamMedium>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    j.read_from(0, &mut |seq, e| {
        out.push((seq, e.ts_us));
        true
    })
    .expect("reads");
    out
}

fn reopen(j: &mut Journal<RamMedium>) -> (Journal<RamMedium>, crate::Recovery) {
    open(j.medium().clone())
}

/// Appends events `from..to`, one commit each; their sequence numbers.
fn append_each(j: &mut Journal<RamMedium>, from: u64, to: u64) -> Vec<u64> {
    (from..to)
        .map(|i| match j.append(&[event(i)]).expect("appends")[0] {
            Appended::New(seq) => seq,
            Appended::Duplicate(_) => panic!("not keyed"),
        })
        .collect()
}

#[test]
fn appends_read_back_and_survive_reopening() {
    for g in [NOR, DISK] {
        let (mut j, rec) = open(RamMedium::new(g));
        assert!(rec.formatted);
        assert_eq!((j.first_seq(), j.last_seq()), (1, 0));
        assert_eq!(append_each(&mut j, 0, 3), [1, 2, 3]);
        let batch: Vec<Envelope> = (3..8).map(event).collect();
        let out = j.append(&batch).unwrap();
        assert_eq!(out, (4..9).map(Appended::New).collect::<Vec<_>>());
        let want: Vec<(u64, u64)> = (1..9).map(|s| (s, s - 1)).collect();
        assert_eq!(contents(&mut j), want);
        assert_eq!(j.get(5).unwrap().map(|e| e.ts_us), Some(4));
        assert_eq!(j.get(9).unwrap(), None);
        let (mut again, rec) = reopen(&mut j);
        assert_eq!(
            (rec.formatted, rec.records, rec.last_seq, rec.torn_bytes),
            (false, 8, 8, 0)
        );
        assert_eq!(contents(&mut again), want);
        assert_eq!(append_each(&mut again, 8, 9), [9]);
        assert_eq!(again.medium().overwrites, 0, "nothing programmed twice");
    }
}

/// The byte range of the last commit written — its header and body, without the padding —
/// found by comparing the medium with what it was `before`.
fn last_commit(j: &mut Journal<RamMedium>, before: &RamMedium) -> core::ops::Range<usize> {
    let a = before.clone().bytes_mut().to_vec();
    let b = j.medium().clone().bytes_mut().to_vec();
    let start = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .expect("a change");
    let body_len = u32::from_le_bytes([b[start + 4], b[start + 5], b[start + 6], b[start + 7]]);
    start..start + COMMIT_HEADER + body_len as usize
}

#[test]
fn every_single_bit_flip_of_the_last_record_is_refused_and_the_rest_kept() {
    let (mut j, _) = open(RamMedium::new(NOR));
    append_each(&mut j, 0, 3);
    let before = j.medium().clone();
    append_each(&mut j, 3, 4);
    let range = last_commit(&mut j, &before);
    let good = j.medium().clone();
    for bit in range.start * 8..range.end * 8 {
        let mut m = good.clone();
        m.bytes_mut()[bit / 8] ^= 1 << (bit % 8);
        let (mut k, rec) = open(m);
        assert_eq!(contents(&mut k), [(1, 0), (2, 1), (3, 2)], "bit {bit}");
        assert!(rec.torn_bytes > 0, "bit {bit}: the flip is reported");
        // And the journal goes on from there, consistently.
        assert_eq!(append_each(&mut k, 10, 11), [4], "bit {bit}");
        let (mut k2, _) = reopen(&mut k);
        assert_eq!(
            contents(&mut k2),
            [(1, 0), (2, 1), (3, 2), (4, 10)],
            "bit {bit}"
        );
        assert_eq!(k2.medium().overwrites, 0, "bit {bit}");
    }
}

#[test]
fn a_last_record_truncated_at_any_byte_is_refused() {
    for g in [NOR, DISK] {
        let (mut j, _) = open(RamMedium::new(g));
        append_each(&mut j, 0, 2);
        let before = j.medium().clone();
        append_each(&mut j, 2, 3);
        let range = last_commit(&mut j, &before);
        let good = j.medium().clone();
        for cut in range.start..range.end {
            // Power lost while programming: a prefix written, the rest still blank.
            let mut m = good.clone();
            let blank = before.clone().bytes_mut()[cut..range.end].to_vec();
            m.bytes_mut()[cut..range.end].copy_from_slice(&blank);
            let (mut k, _) = open(m);
            assert_eq!(contents(&mut k), [(1, 0), (2, 1)], "cut at {cut}");
            assert_eq!(append_each(&mut k, 9, 10), [3], "cut at {cut}");
            let (mut k2, _) = reopen(&mut k);
            assert_eq!(contents(&mut k2), [(1, 0), (2, 1), (3, 9)], "cut at {cut}");
        }
    }
}

#[test]
fn duplicated_and_reordered_commits_are_refused() {
    let (mut j, _) = open(RamMedium::new(NOR));
    append_each(&mut j, 0, 2);
    let before = j.medium().clone();
    append_each(&mut j, 2, 3);
    let third = last_commit(&mut j, &before);
    let before = j.medium().clone();
    append_each(&mut j, 3, 4);
    let fourth = last_commit(&mut j, &before);
    // Duplicated: the third commit again where the fourth is.
    let mut m = j.medium().clone();
    let copy = m.bytes_mut()[third.clone()].to_vec();
    m.bytes_mut()[fourth.start..fourth.start + copy.len()].copy_from_slice(&copy);
    m.bytes_mut()[fourth.start + copy.len()..fourth.end].fill(0xFF);
    let (mut k, _) = open(m);
    assert_eq!(contents(&mut k), [(1, 0), (2, 1), (3, 2)]);
    // Reordered: the fourth commit where the third was (they are the same size).
    assert_eq!(third.len(), fourth.len());
    let mut m = j.medium().clone();
    let four = m.bytes_mut()[fourth.clone()].to_vec();
    let three = m.bytes_mut()[third.clone()].to_vec();
    m.bytes_mut()[third.clone()].copy_from_slice(&four);
    m.bytes_mut()[fourth.clone()].copy_from_slice(&three);
    let (mut k, _) = open(m);
    assert_eq!(contents(&mut k), [(1, 0), (2, 1)]);
}

#[test]
fn power_loss_at_any_byte_of_a_commit_keeps_every_acknowledged_event() {
    for g in [NOR, DISK] {
        // How many bytes the batch programs.
        let (mut probe, _) = open(RamMedium::new(g));
        append_each(&mut probe, 0, 2);
        let before = probe.medium().clone();
        probe
            .append(&(2..7).map(event).collect::<Vec<_>>())
            .unwrap();
        let span = round_up(
            last_commit(&mut probe, &before).len(),
            g.write_unit as usize,
        );
        for budget in 0..=span + 1 {
            let (mut j, _) = open(RamMedium::new(g));
            append_each(&mut j, 0, 2);
            j.medium().fail_after(Some(budget));
            let acked = j.append(&(2..7).map(event).collect::<Vec<_>>()).is_ok();
            let mut m = j.medium().clone();
            m.fail_after(None);
            let (mut k, _) = open(m);
            let got = contents(&mut k);
            let all: Vec<(u64, u64)> = (1..8).map(|s| (s, s - 1)).collect();
            if acked {
                assert_eq!(got, all, "budget {budget}");
            } else {
                // Not acknowledged: whole or not at all.
                assert!(got == all[..2] || got == all, "budget {budget}: {got:?}");
            }
            // Appends go on after the crash, and a second reopen agrees.
            let next = append_each(&mut k, 100, 101)[0];
            assert_eq!(next, got.last().unwrap().0 + 1, "budget {budget}");
            let (mut k2, _) = reopen(&mut k);
            let mut want = got.clone();
            want.push((next, 100));
            assert_eq!(contents(&mut k2), want, "budget {budget}");
            assert_eq!(k2.medium().overwrites, 0, "budget {budget}");
        }
    }
}

#[test]
fn segments_roll_over_and_are_reused_only_when_released() {
    let (mut j, _) = open(RamMedium::new(NOR));
    let mut n = 0;
    let full = loop {
        match j.append(&[event(n)]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 10_000);
    };
    assert_eq!(full, JournalError::Full);
    assert!(
        j.stats().segments_live == 4 && n > 40,
        "{n} events in 4 segments"
    );
    let all = contents(&mut j);
    assert_eq!(all.len() as u64, n, "{all:?}");
    // Reopened, the same; still full.
    let (mut k, _) = reopen(&mut j);
    assert_eq!(contents(&mut k), all);
    assert_eq!(k.append(&[event(0)]), Err(JournalError::Full));
    // Released: the oldest segment is reused; what it held is gone, the rest stays.
    k.release_before(n / 2);
    let seq = match k.append(&[event(999)]).unwrap()[0] {
        Appended::New(s) => s,
        d => panic!("{d:?}"),
    };
    assert_eq!(seq, n + 1);
    let first = k.first_seq();
    assert!(first > 1 && first <= n / 2, "first kept {first}");
    let (mut k2, _) = reopen(&mut k);
    let now = contents(&mut k2);
    assert_eq!(
        now.first().unwrap().0,
        first,
        "stale generations are not read"
    );
    assert_eq!(now.last(), Some(&(seq, 999)));
    assert!(now.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    assert_eq!(k2.medium().overwrites, 0);
}

#[test]
fn a_batch_larger_than_a_segment_is_split_into_commits_across_segments() {
    let (mut j, _) = open(RamMedium::new(NOR));
    append_each(&mut j, 0, 3);
    // ~70 bytes a record: 60 events fill more than two 2 KiB segments.
    let batch: Vec<Envelope> = (100..160).map(event).collect();
    let seqs: Vec<Appended> = j.append(&batch).expect("appends");
    assert_eq!(seqs, (4..64).map(Appended::New).collect::<Vec<_>>());
    assert!(j.stats().segments_live >= 3, "{:?}", j.stats());
    let want: Vec<(u64, u64)> = (1..4).zip(0..3).chain((4..64).zip(100..160)).collect();
    assert_eq!(contents(&mut j), want);
    let (mut k, recovery) = reopen(&mut j);
    assert_eq!((recovery.records, recovery.torn_bytes), (63, 0));
    assert_eq!(contents(&mut k), want);
}

#[test]
fn oversized_events_are_refused_and_change_nothing() {
    let (mut j, _) = open(RamMedium::new(NOR));
    let mut big = event(0);
    big.payload = vec![b'x'; 600];
    assert_eq!(j.append(&[event(1), big]), Err(JournalError::TooLarge));
    assert_eq!(j.last_seq(), 0);
    assert_eq!(append_each(&mut j, 0, 1), [1]);
}

#[test]
fn idempotency_keys_return_the_first_sequence_number() {
    let (mut j, _) = open(RamMedium::new(NOR));
    assert_eq!(j.append(&[keyed(0, "a")]).unwrap(), [Appended::New(1)]);
    // Within one batch, and against the window.
    assert_eq!(
        j.append(&[keyed(1, "b"), keyed(2, "a"), keyed(3, "b")])
            .unwrap(),
        [
            Appended::New(2),
            Appended::Duplicate(1),
            Appended::Duplicate(2)
        ]
    );
    assert_eq!(j.last_seq(), 2);
    // Survives reopening.
    let (mut k, _) = reopen(&mut j);
    assert_eq!(
        k.append(&[keyed(4, "a")]).unwrap(),
        [Appended::Duplicate(1)]
    );
    // The window (4 keys) forgets the oldest.
    for (i, key) in ["c", "d", "e"].iter().enumerate() {
        k.append(&[keyed(10 + i as u64, key)]).unwrap();
    }
    assert_eq!(k.append(&[keyed(20, "a")]).unwrap(), [Appended::New(6)]);
    assert_eq!(
        k.append(&[keyed(21, "e")]).unwrap(),
        [Appended::Duplicate(5)]
    );
}

#[test]
fn an_idempotency_key_is_scoped_to_its_subject() {
    let (mut j, _) = open(RamMedium::new(NOR));
    let on = |subject: &str, i: u64| {
        let mut e = keyed(i, "k");
        e.name = subject.into();
        e
    };
    assert_eq!(j.append(&[on("junk.x", 0)]).unwrap(), [Appended::New(1)]);
    // The same key on another subject is another fact; on the same subject, a duplicate.
    assert_eq!(
        j.append(&[on("ledger.transfer.completed", 1), on("junk.x", 2)])
            .unwrap(),
        [Appended::New(2), Appended::Duplicate(1)]
    );
    let (mut k, _) = reopen(&mut j);
    assert_eq!(
        k.append(&[on("ledger.transfer.completed", 3)]).unwrap(),
        [Appended::Duplicate(2)],
        "rebuilt after a reboot, scoped the same way"
    );
}

#[test]
fn garbage_media_are_formatted_or_read_without_panicking() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..200 {
        let mut m = RamMedium::new(NOR);
        if round % 2 == 1 {
            // A real journal, then random damage.
            let (mut j, _) = open(m);
            append_each(&mut j, 0, 20);
            m = j.medium().clone();
        }
        for _ in 0..(round % 50 + 1) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = m.bytes_mut().len();
            m.bytes_mut()[(state as usize) % len] = (state >> 32) as u8;
        }
        if let Ok((mut j, _)) = Journal::open(m, CONFIG) {
            let got = contents(&mut j);
            assert!(got.windows(2).all(|w| w[1].0 > w[0].0));
        }
    }
}

/// Found by `cargo xtask fuzz --target journal_recovery`: a segment header with a valid CRC
/// whose first sequence number or generation is near `u64::MAX` made counting on from it
/// overflow (a panic in debug builds). Such a header is garbage: the medium is formatted.
#[test]
fn headers_with_counters_near_the_top_are_garbage() {
    use crate::record::SegmentHeader;
    for (generation, first_seq) in [(1, u64::MAX), (u64::MAX, 1), (1 << 62, 1 << 62)] {
        let mut m = RamMedium::new(NOR);
        let header = SegmentHeader {
            generation,
            first_seq,
            segment: 0,
        };
        m.bytes_mut()[..32].copy_from_slice(&header.encode());
        let (mut j, recovery) = open(m);
        assert!(recovery.formatted);
        assert_eq!(j.append(&[event(1)]).expect("appends"), [Appended::New(1)]);
    }
}

#[test]
fn a_record_whose_envelope_does_not_decode_is_skipped_not_fatal() {
    use crate::record::{CommitHeader, SEGMENT_HEADER, crc32c};
    let (mut j, _) = open(RamMedium::new(NOR));
    assert_eq!(append_each(&mut j, 0, 3), [1, 2, 3]);
    // Damage record 2's envelope and recompute every CRC over it, as a newer build's format
    // or a deliberate forgery would leave it: framed and checked, but not an envelope.
    let mut m = j.medium().clone();
    let unit = NOR.write_unit as usize;
    let mut at = SEGMENT_HEADER.div_ceil(unit) * unit;
    for commit in 0..3 {
        let bytes = m.bytes_mut();
        let h = CommitHeader::decode(&bytes[at..at + COMMIT_HEADER]).expect("a commit");
        let body = at + COMMIT_HEADER;
        let len = h.body_len as usize;
        if commit == 1 {
            let data_len = u32::from_le_bytes(bytes[body..body + 4].try_into().unwrap()) as usize;
            // The subject's length (after the version and three u64 fields) past the record.
            bytes[body + 12 + 26] = 0xFF;
            bytes[body + 12 + 27] = 0xFF;
            let crc = crc32c(&[&bytes[body..body + 12 + data_len]]);
            bytes[body + 12 + data_len..body + 16 + data_len].copy_from_slice(&crc.to_le_bytes());
            let fixed = CommitHeader {
                body_crc: crc32c(&[&bytes[body..body + len]]),
                ..h
            };
            bytes[at..at + COMMIT_HEADER].copy_from_slice(&fixed.encode());
        }
        at = (body + len).div_ceil(unit) * unit;
    }
    // It still opens (recovery reads every record), and reads go past the bad one.
    let (mut k, recovery) = open(m);
    assert_eq!(recovery.last_seq, 3);
    let mut seen = Vec::new();
    k.read_from(1, &mut |seq, _| {
        seen.push(seq);
        true
    })
    .expect("reads");
    assert_eq!(seen, [1, 3]);
    assert!(k.undecodable() > 0, "counted");
    assert_eq!(k.get(2).expect("get"), None);
    assert!(k.get(3).expect("get").is_some());
    // And appends go on after it.
    assert_eq!(append_each(&mut k, 10, 11), [4]);
}

fn imported(i: u64, node: &str, seq: u64) -> Envelope {
    let mut e = event(i);
    e.origin = Some(crate::Origin {
        node: node.into(),
        seq,
    });
    e
}

/// Events imported from other nodes are applied once: a redelivery (the same origin sequence
/// number, or an older one from the same node) is a duplicate — in one batch, across batches
/// and after reopening, where the marks are rebuilt from the records — while other nodes'
/// numbers are their own.
#[test]
fn imports_are_applied_once_per_origin() {
    let (mut j, _) = open(RamMedium::new(DISK));
    let first = j
        .append(&[
            imported(1, "pc-b", 10),
            imported(2, "pc-b", 11),
            imported(3, "board", 10),
        ])
        .unwrap();
    assert_eq!(
        first,
        [Appended::New(1), Appended::New(2), Appended::New(3)]
    );
    let again = j
        .append(&[
            imported(4, "pc-b", 11),
            imported(5, "pc-b", 12),
            imported(6, "pc-b", 12),
        ])
        .unwrap();
    assert_eq!(
        again,
        [
            Appended::Duplicate(2),
            Appended::New(4),
            Appended::Duplicate(4)
        ]
    );
    let (mut j, rec) = reopen(&mut j);
    assert_eq!(rec.records, 4);
    assert_eq!(
        j.append(&[
            imported(7, "pc-b", 9),
            imported(8, "board", 10),
            imported(9, "board", 11)
        ])
        .unwrap(),
        [
            Appended::Duplicate(4),
            Appended::Duplicate(3),
            Appended::New(5)
        ]
    );
    let mut origins = Vec::new();
    j.read_from(0, &mut |seq, e| {
        origins.push((seq, e.origin.clone().map(|o| (o.node, o.seq))));
        true
    })
    .unwrap();
    assert_eq!(
        origins[4],
        (5, Some((alloc::string::String::from("board"), 11)))
    );
    // Bounded: a journal tracks MAX_ORIGINS nodes; the next is refused, nothing written.
    let more: Vec<Envelope> = (0..crate::MAX_ORIGINS - 2)
        .map(|n| imported(10, &format!("n{n}"), 1))
        .collect();
    j.append(&more).unwrap();
    let before = j.last_seq();
    assert_eq!(
        j.append(&[event(1), imported(11, "one-too-many", 1)]),
        Err(JournalError::TooManyOrigins)
    );
    assert_eq!(j.last_seq(), before);
}

/// An idempotency key is its origin's: a local `cmd-5` and another node's `cmd-5` on the same
/// subject are two facts (two handlers numbering their own commands), while the same node's
/// key twice is one.
#[test]
fn idempotency_keys_are_per_origin() {
    let (mut j, _) = open(RamMedium::new(DISK));
    let keyed = |mut e: Envelope| {
        e.set_header("idempotency_key", "cmd-5").unwrap();
        e
    };
    let out = j
        .append(&[
            keyed(event(1)),
            keyed(imported(2, "pc-b", 1)),
            keyed(imported(3, "pc-b", 2)),
            keyed(imported(4, "board", 1)),
            keyed(event(5)),
        ])
        .unwrap();
    assert_eq!(
        out,
        [
            Appended::New(1),
            Appended::New(2),
            Appended::Duplicate(2),
            Appended::New(3),
            Appended::Duplicate(1)
        ]
    );
}
