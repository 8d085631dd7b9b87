//! Fuzz target `journal_record`: the journal's frame and envelope decoders
//! (`zb_journal::record`, `zb_journal::Envelope::decode`) and the event encoding runs receive
//! (`zb_abi::bus::EventView::decode`) — all read bytes from a disk or flash region, or from
//! the kernel, that may be anything.
//!
//! The input is the bytes to decode. Beyond "never panics" it asserts encode∘decode = id:
//! - a segment or commit header that decodes encodes to the same bytes;
//! - a record that decodes lies inside the input, and re-encoding its data with its sequence
//!   number gives the same bytes; with another expected sequence number it is refused;
//! - any data framed as a record decodes to exactly that data;
//! - an envelope that decodes encodes to exactly the input (`encoded_len` too), and one built
//!   from the input round-trips;
//! - the same for `EventView` (for the event at the start of the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_abi::bus::EventView;
use zb_journal::Envelope;
use zb_journal::record::{
    self, COMMIT_HEADER, CommitHeader, RECORD_OVERHEAD, RecordError, SEGMENT_HEADER, SegmentHeader,
};

fuzz_target!(|data: &[u8]| {
    if let Some(h) = SegmentHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..SEGMENT_HEADER]);
    }
    if let Some(h) = CommitHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..COMMIT_HEADER]);
    }
    check_record(data);
    check_envelope(data);
    check_event_view(data);
});

fn check_record(data: &[u8]) {
    // The sequence number the record claims, so that a good CRC is all it takes.
    let seq = data
        .get(4..12)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    match record::decode(data, seq) {
        Ok((range, total)) => {
            assert!(total <= data.len() && total == range.len() + RECORD_OVERHEAD);
            assert_eq!(range.start, 12);
            let mut out = Vec::new();
            let len = record::encode_with(seq, &mut out, |o| o.extend_from_slice(&data[range]));
            assert_eq!(len + RECORD_OVERHEAD, total);
            assert_eq!(out, &data[..total]);
            assert_eq!(
                record::decode(data, seq.wrapping_add(1)),
                Err(RecordError::Sequence { found: seq })
            );
        }
        Err(RecordError::Sequence { .. }) => panic!("refused its own sequence number"),
        Err(_) => {}
    }
    // The other way: any data, framed, decodes to itself (also followed by more bytes).
    let mut framed = Vec::new();
    record::encode_with(seq, &mut framed, |o| o.extend_from_slice(data));
    let total = framed.len();
    framed.extend_from_slice(&data[..data.len().min(7)]);
    let (range, len) = record::decode(&framed, seq).expect("a framed record decodes");
    assert_eq!((&framed[range], len), (data, total));
}

fn check_envelope(data: &[u8]) {
    if let Ok(e) = Envelope::decode(data) {
        let mut out = Vec::new();
        e.encode(&mut out);
        assert_eq!(out, data, "decode then encode");
        assert_eq!(e.encoded_len(), data.len());
    }
    // An envelope made of the input (strings cut at a character boundary) round-trips.
    let text = String::from_utf8_lossy(data);
    let mut words = text.split('\u{0}');
    let mut next = || words.next().unwrap_or_default().to_string();
    let mut e = Envelope {
        name: next(),
        version: data.len() as u16,
        ts_us: 7,
        source: next(),
        correlation_id: u64::MAX,
        causation_id: 1,
        tenant: next(),
        headers: Vec::new(),
        payload: data.to_vec(),
        origin: None,
    };
    while let (Some(k), Some(v)) = (words.next(), words.next()) {
        e.headers.push((k.to_string(), v.to_string()));
    }
    // Every other such envelope as if imported from another node.
    if data.len() % 2 == 1 {
        e.origin = Some(zb_journal::Origin {
            node: words.next().unwrap_or_default().to_string(),
            seq: data.len() as u64,
        });
    }
    let mut out = Vec::new();
    e.encode(&mut out);
    assert_eq!(out.len(), e.encoded_len());
    assert_eq!(Envelope::decode(&out), Ok(e));
}

fn check_event_view(data: &[u8]) {
    let Ok(v) = EventView::decode(data) else {
        return;
    };
    // `decode` takes exactly one encoded event (`next` returns its length; trailing bytes are
    // refused), so re-encoding it gives back the whole input.
    let len = v.encoded_len();
    assert_eq!(len, data.len());
    let mut out = vec![0u8; len];
    assert_eq!(v.encode(&mut out), Ok(len));
    assert_eq!(out, data);
    assert_eq!(
        v.encode(&mut out[1..]),
        Err(zb_abi::Error::TooLarge),
        "one byte short"
    );
}
