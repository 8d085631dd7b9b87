//! [`Journal`]: the append-only log of events over a [`Medium`].
//!
//! Layout: the region is a ring of segments. A segment starts with a [`SegmentHeader`]
//! (generation, first sequence number) and holds commits one after the other, each starting at
//! a write-unit boundary (see [`crate::record`]). The live log is a *chain* of segments in
//! generation order; the last one is where appends go.
//!
//! - **Append** (group commit): the events of one call become records, packed into as few
//!   commits as fit; each commit is programmed into never-programmed space in one call, and one
//!   `sync` follows them all. Only then does `append` return the sequence numbers.
//! - **Recovery** ([`Journal::open`]): every segment header is read; the chain is the run of
//!   segments ending at the newest whose sequence numbers follow on. Each segment is scanned
//!   commit by commit while the commit header, body CRC, every record's CRC and the sequence
//!   numbers hold; the first commit that fails ends the log. Bytes after the end that are not
//!   blank are a torn commit: the next append opens a fresh segment rather than program over
//!   them (NOR flash cannot; on a disk it keeps the rule that programmed bytes are never
//!   programmed again).
//! - **Space**: a full segment moves appends to a free one; with none free, the oldest segment
//!   is erased and reused if everything in it is below the [`Journal::release_before`] floor
//!   (views hold snapshots past it), otherwise the append fails with [`JournalError::Full`].
//!
//! Invariants:
//! - A sequence number is used once. Within a segment they count up by one; across segments
//!   they only increase (an append that failed part-way burns its numbers).
//! - The journal never programs a byte twice between erases, and never erases a segment that
//!   holds a record at or above the floor.
//! - Nothing here panics on any medium contents.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::borrow::Borrow;

use hashbrown::HashMap;

use crate::envelope::Envelope;
use crate::medium::{Geometry, Medium, MediumError};
use crate::record::{
    self, COMMIT_HEADER, CommitHeader, RECORD_OVERHEAD, SEGMENT_HEADER, SegmentHeader, crc32c,
    round_up,
};

/// Sizes a journal is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalConfig {
    /// Most bytes of one encoded envelope.
    pub max_record: usize,
    /// How many recent idempotency keys are remembered (oldest forgotten first).
    pub dedupe_window: usize,
    /// The key of the keyed hash the window stores keys as ([`dedupe_key`]); a value the
    /// journal's writers cannot know (the kernel picks one at boot), so none can craft a key
    /// that collides with another's.
    pub dedupe_secret: u64,
}

/// What [`Journal::append`] did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Appended with this sequence number.
    New(u64),
    /// Its idempotency key was seen: not appended; the first event's sequence number.
    Duplicate(u64),
}

/// Why the journal said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalError {
    Medium(MediumError),
    /// No free segment, and the oldest holds records not yet released.
    Full,
    /// A record larger than `max_record` or than a segment.
    TooLarge,
    /// An imported event from one origin node more than the journal tracks
    /// ([`MAX_ORIGINS`]).
    TooManyOrigins,
    /// The medium is not laid out as a journal can be (segments too small for a header), or a
    /// record that recovery accepted no longer reads back.
    Corrupt,
}

impl core::fmt::Display for JournalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            JournalError::Medium(MediumError::Io) => "the device failed",
            JournalError::Medium(MediumError::OutOfRange) => "outside the journal's region",
            JournalError::Full => "the journal is full",
            JournalError::TooLarge => "the event is too large",
            JournalError::TooManyOrigins => "events from too many other nodes",
            JournalError::Corrupt => "the journal's data is corrupt",
        })
    }
}

impl From<MediumError> for JournalError {
    fn from(e: MediumError) -> Self {
        JournalError::Medium(e)
    }
}

/// What recovery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Records in the log.
    pub records: u64,
    pub last_seq: u64,
    /// Bytes of a torn or corrupt commit cut off the end (0: the log ended cleanly).
    pub torn_bytes: u64,
    /// The medium held no journal and was formatted.
    pub formatted: bool,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalStats {
    pub records: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub commits: u64,
    /// Bytes of the region the live segments take (up to each one's end of data).
    pub bytes_used: u64,
    pub bytes_total: u64,
    pub segments_live: u32,
    pub segments: u32,
}

/// A segment header whose first sequence number or generation is this large is not one the
/// journal wrote (2^62 appends or segment reuses would take millennia): counting on from it
/// could overflow, so recovery takes it for garbage.
const MAX_COUNTER: u64 = 1 << 62;

/// Every how many commits a segment remembers where one starts (reads by sequence number
/// start from the nearest such mark).
const MARK_EVERY: u32 = 8;

/// One segment of the chain.
#[derive(Debug, Clone)]
struct Segment {
    index: u32,
    generation: u64,
    first_seq: u64,
    /// One past the last sequence number in it.
    next_seq: u64,
    /// Where the next commit goes (offset within the segment).
    tail: u32,
    /// No more appends go here (full, or a torn commit follows its tail).
    sealed: bool,
    commits: u32,
    /// `(first sequence number of a commit, its offset)`, every [`MARK_EVERY`] commits.
    marks: Vec<(u64, u32)>,
}

/// The journal. See the module documentation.
pub struct Journal<M: Medium> {
    medium: M,
    geometry: Geometry,
    config: JournalConfig,
    /// Live segments, oldest first; the last takes appends.
    chain: Vec<Segment>,
    next_seq: u64,
    next_generation: u64,
    /// Records below this may be dropped when space is needed.
    floor: u64,
    /// Recent idempotency keys and their sequence numbers.
    dedupe: Dedupe,
    /// Per origin node, the highest origin sequence number imported (see [`Origins`]).
    origins: Origins,
    commits: u64,
    records: u64,
    /// Bytes of a segment header, padded to a write unit.
    header_len: u32,
    /// Bytes of commits read back (and CRC-checked) since the journal was opened: the work
    /// reads cost, for whoever caused them to pay ([`Journal::bytes_read`]).
    bytes_read: u64,
    /// Records skipped on reading because their envelope did not decode ([`Journal::read_from`]).
    undecodable: u64,
}

impl<M: Medium> Journal<M> {
    /// Opens the journal on `medium`: recovers it, or formats a medium that holds none.
    pub fn open(medium: M, config: JournalConfig) -> Result<(Journal<M>, Recovery), JournalError> {
        let geometry = medium.geometry();
        let unit = geometry.write_unit.max(1) as usize;
        let header_len = round_up(SEGMENT_HEADER, unit) as u32;
        if geometry.segments == 0
            || geometry.segment_bytes
                < header_len + round_up(COMMIT_HEADER + RECORD_OVERHEAD, unit) as u32
        {
            return Err(JournalError::Corrupt);
        }
        let mut j = Journal {
            medium,
            geometry,
            config,
            chain: Vec::new(),
            next_seq: 1,
            next_generation: 1,
            floor: 0,
            dedupe: Dedupe::with_window(config.dedupe_window),
            origins: Origins::default(),
            commits: 0,
            records: 0,
            header_len,
            bytes_read: 0,
            undecodable: 0,
        };
        let recovery = j.recover()?;
        Ok((j, recovery))
    }

    fn recover(&mut self) -> Result<Recovery, JournalError> {
        let mut headers: Vec<SegmentHeader> = Vec::new();
        let mut buf = [0u8; SEGMENT_HEADER];
        for index in 0..self.geometry.segments {
            self.medium.read(self.segment_base(index), &mut buf)?;
            if let Some(h) = SegmentHeader::decode(&buf)
                && h.segment == index
                && h.first_seq > 0
                && h.first_seq < MAX_COUNTER
                && h.generation < MAX_COUNTER
            {
                headers.push(h);
            }
        }
        headers.sort_by_key(|h| h.generation);
        self.next_generation = headers.last().map_or(1, |h| h.generation + 1);
        if headers.is_empty() {
            return Ok(Recovery {
                formatted: true,
                ..Recovery::default()
            });
        }
        // Scan every segment; then keep the run that ends at the newest and follows on.
        let mut scanned: Vec<(Segment, u64)> = Vec::new();
        for h in &headers {
            scanned.push(self.scan(h)?);
        }
        let mut start = scanned.len() - 1;
        while start > 0 {
            let (prev, next) = (&scanned[start - 1].0, &scanned[start].0);
            let follows = prev.next_seq <= next.first_seq && prev.generation < next.generation;
            if !follows {
                break;
            }
            start -= 1;
        }
        let torn = scanned.last().map_or(0, |(_, torn)| *torn);
        self.chain = scanned.drain(start..).map(|(s, _)| s).collect();
        // Only the newest segment can take appends; older ones are complete.
        let last = self.chain.len() - 1;
        for s in &mut self.chain[..last] {
            s.sealed = true;
        }
        self.next_seq = self.chain.last().map_or(1, |s| s.next_seq);
        self.commits = self.chain.iter().map(|s| u64::from(s.commits)).sum();
        // Rebuild the idempotency window and the origins' high-water marks, and count the
        // records.
        let mut keys = Dedupe::with_window(self.config.dedupe_window);
        let mut origins = Origins::default();
        let secret = self.config.dedupe_secret;
        let mut records = 0u64;
        let window = self.config.dedupe_window;
        let first = self.first_seq();
        self.read_from(first, &mut |seq, e| {
            records += 1;
            if let Some(k) = dedupe_key(e, secret) {
                keys.insert(k, seq, window);
            }
            if let Some(o) = &e.origin {
                // A journal holds at most MAX_ORIGINS origins (appends refuse more).
                let _ = origins.applied(&o.node, o.seq, seq);
            }
            true
        })?;
        self.dedupe = keys;
        self.origins = origins;
        self.records = records;
        Ok(Recovery {
            records,
            last_seq: self.last_seq(),
            torn_bytes: torn,
            formatted: false,
        })
    }

    /// Scans segment `h` from its first commit: the segment as far as it is valid, and the
    /// bytes of a torn commit after that (0 if what follows is blank).
    fn scan(&mut self, h: &SegmentHeader) -> Result<(Segment, u64), JournalError> {
        let mut s = Segment {
            index: h.segment,
            generation: h.generation,
            first_seq: h.first_seq,
            next_seq: h.first_seq,
            tail: self.header_len,
            sealed: false,
            commits: 0,
            marks: Vec::new(),
        };
        let seg_bytes = self.geometry.segment_bytes;
        loop {
            match self.read_commit(s.index, s.tail, s.next_seq)? {
                CommitRead::Valid { len, count, .. } => {
                    if s.commits.is_multiple_of(MARK_EVERY) {
                        s.marks.push((s.next_seq, s.tail));
                    }
                    s.commits += 1;
                    s.next_seq += u64::from(count);
                    s.tail += len;
                }
                CommitRead::Blank => return Ok((s, 0)),
                CommitRead::Invalid { len } => {
                    // Something was programmed here that is not a valid commit: torn.
                    s.sealed = true;
                    let torn = u64::from(len.min(seg_bytes - s.tail));
                    return Ok((s, torn));
                }
            }
            if s.tail >= seg_bytes {
                s.sealed = true;
                return Ok((s, 0));
            }
        }
    }

    /// Reads the commit at `offset` in segment `index`, which must start at `expected_seq`.
    fn read_commit(
        &mut self,
        index: u32,
        offset: u32,
        expected_seq: u64,
    ) -> Result<CommitRead, JournalError> {
        let seg_bytes = self.geometry.segment_bytes;
        let unit = self.geometry.write_unit.max(1) as usize;
        if offset as usize + COMMIT_HEADER > seg_bytes as usize {
            return Ok(CommitRead::Blank);
        }
        let base = self.segment_base(index) + u64::from(offset);
        let mut head = [0u8; COMMIT_HEADER];
        self.medium.read(base, &mut head)?;
        let Some(h) = CommitHeader::decode(&head) else {
            let blank = head.iter().all(|&b| b == 0xFF) || head.iter().all(|&b| b == 0);
            return Ok(if blank {
                CommitRead::Blank
            } else {
                CommitRead::Invalid { len: unit as u32 }
            });
        };
        let total = round_up(COMMIT_HEADER + h.body_len as usize, unit);
        let invalid = CommitRead::Invalid {
            len: total.min(seg_bytes as usize) as u32,
        };
        if h.first_seq != expected_seq
            || h.count == 0
            || offset as usize + total > seg_bytes as usize
        {
            return Ok(invalid);
        }
        let mut body = vec![0u8; h.body_len as usize];
        self.bytes_read += total as u64;
        self.medium.read(base + COMMIT_HEADER as u64, &mut body)?;
        if crc32c(&[&body]) != h.body_crc {
            return Ok(invalid);
        }
        // Every record checks out and the count is right.
        let mut at = 0;
        for i in 0..u64::from(h.count) {
            match record::decode(&body[at..], expected_seq + i) {
                Ok((_, len)) => at += len,
                Err(_) => return Ok(invalid),
            }
        }
        if at != body.len() {
            return Ok(invalid);
        }
        Ok(CommitRead::Valid {
            len: total as u32,
            count: h.count,
            body,
        })
    }

    fn segment_base(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.geometry.segment_bytes)
    }

    /// The oldest sequence number kept (`last_seq() + 1` when the journal is empty).
    pub fn first_seq(&self) -> u64 {
        self.chain
            .iter()
            .find(|s| s.next_seq > s.first_seq)
            .map_or(self.next_seq, |s| s.first_seq)
    }

    /// Bytes that can be appended now without erasing a record at or above the floor: what
    /// the active segment has left, and every segment that is free or holds only released
    /// records (each less its header). An append of records adding up to less than this (each
    /// with [`RECORD_OVERHEAD`], plus a commit header per segment) fits.
    pub fn room(&self) -> usize {
        let seg = self.geometry.segment_bytes as usize;
        let usable = seg.saturating_sub(self.header_len as usize + COMMIT_HEADER);
        let active = match self.chain.last() {
            Some(s) if !s.sealed => seg
                .saturating_sub(s.tail as usize)
                .saturating_sub(COMMIT_HEADER),
            _ => 0,
        };
        let free = (self.geometry.segments as usize).saturating_sub(self.chain.len());
        // Released segments at the front of the chain (not the active one) can be reused.
        let released = self
            .chain
            .iter()
            .take(self.chain.len().saturating_sub(1))
            .take_while(|s| s.next_seq <= self.floor)
            .count();
        active + (free + released) * usable
    }

    /// Bytes of commits read back since the journal was opened (recovery, reads, lookups):
    /// a running count a caller takes the difference of to see what an operation read.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads that skipped a record whose envelope did not decode (each read counts each such
    /// record it passed), since the journal was opened: nonzero means the journal holds records
    /// this build cannot read (`proc://bus` shows it).
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// The newest sequence number (0 when nothing was ever appended).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Records below `seq` are no longer needed; their segments may be reused.
    pub fn release_before(&mut self, seq: u64) {
        self.floor = self.floor.max(seq);
    }

    pub fn medium(&mut self) -> &mut M {
        &mut self.medium
    }

    pub fn stats(&self) -> JournalStats {
        JournalStats {
            records: self.records,
            first_seq: self.first_seq(),
            last_seq: self.last_seq(),
            commits: self.commits,
            bytes_used: self.chain.iter().map(|s| u64::from(s.tail)).sum(),
            bytes_total: self.geometry.bytes(),
            segments_live: self.chain.len() as u32,
            segments: self.geometry.segments,
        }
    }

    /// The largest commit body that fits a segment.
    fn commit_room(&self) -> usize {
        let unit = self.geometry.write_unit.max(1) as usize;
        let usable = self.geometry.segment_bytes as usize - self.header_len as usize;
        (usable / unit * unit).saturating_sub(COMMIT_HEADER)
    }

    /// Appends `events` (group commit); durable when it returns `Ok`. Events whose idempotency
    /// key was seen (in the window, or earlier in `events`) are not appended.
    ///
    /// Memory: the records are encoded once, into one buffer sized exactly, behind room for
    /// the first commit's header, and a commit that takes them all (the usual case) is
    /// programmed from that buffer in place — on a microcontroller a big append must not need
    /// several copies of itself.
    pub fn append<E: Borrow<Envelope>>(
        &mut self,
        events: &[E],
    ) -> Result<Vec<Appended>, JournalError> {
        // Encode and check everything first: a refusal writes nothing. The new records go back
        // to back into one buffer (`ends`: where each ends), ready to be framed as commits.
        let unit = self.geometry.write_unit.max(1) as usize;
        let mut outcomes: Vec<Appended> = Vec::with_capacity(events.len());
        let capacity = events
            .iter()
            .map(|e| e.borrow().encoded_len() + RECORD_OVERHEAD)
            .fold(COMMIT_HEADER + unit, usize::saturating_add);
        let mut records: Vec<u8> = Vec::with_capacity(capacity);
        records.resize(COMMIT_HEADER, 0);
        let mut ends: Vec<usize> = Vec::with_capacity(events.len());
        // Keys first seen in this call; origins as they will be once it is written.
        let mut new_keys: HashMap<u64, u64> = HashMap::with_capacity(events.len());
        let mut origins = self.origins.clone();
        let mut seq = self.next_seq;
        let room = self.commit_room();
        for e in events {
            let e = e.borrow();
            let key = dedupe_key(e, self.config.dedupe_secret);
            if let Some(key) = key {
                let seen = self.dedupe.get(key).or_else(|| new_keys.get(&key).copied());
                if let Some(first) = seen {
                    outcomes.push(Appended::Duplicate(first));
                    continue;
                }
            }
            if let Some(o) = &e.origin {
                if let Some(local) = origins.already(&o.node, o.seq) {
                    outcomes.push(Appended::Duplicate(local));
                    continue;
                }
                origins.applied(&o.node, o.seq, seq)?;
            }
            let len = record::encode_with(seq, &mut records, |out| e.encode(out));
            if len > self.config.max_record || len + RECORD_OVERHEAD > room {
                return Err(JournalError::TooLarge);
            }
            if let Some(key) = key {
                new_keys.insert(key, seq);
            }
            outcomes.push(Appended::New(seq));
            ends.push(records.len());
            seq += 1;
        }
        if ends.is_empty() {
            return Ok(outcomes);
        }
        self.write_commits(&mut records, &ends)?;
        self.records += ends.len() as u64;
        self.origins = origins;
        // In sequence order, so the window forgets the oldest first.
        let mut new_keys: Vec<(u64, u64)> = new_keys.into_iter().collect();
        new_keys.sort_unstable_by_key(|&(_, seq)| seq);
        for (key, seq) in new_keys {
            self.dedupe.insert(key, seq, self.config.dedupe_window);
        }
        Ok(outcomes)
    }

    /// Writes the encoded records (numbered from `self.next_seq`; they start after
    /// [`COMMIT_HEADER`] bytes of room, record `i` ends at `ends[i]`) in as few commits as fit,
    /// then syncs; `self.next_seq` follows each commit programmed (or attempted). On failure
    /// the active segment is sealed (nothing is ever programmed over what may have been
    /// written).
    fn write_commits(&mut self, records: &mut Vec<u8>, ends: &[usize]) -> Result<(), JournalError> {
        let unit = self.geometry.write_unit.max(1) as usize;
        let mut seq = self.next_seq;
        let mut i = 0;
        let mut from = COMMIT_HEADER;
        while i < ends.len() {
            let (index, tail) = self.active_room(COMMIT_HEADER + (ends[i] - from))?;
            let space = self.geometry.segment_bytes as usize - tail as usize;
            // As many records as fit this segment (at least the first: `active_room`).
            let first = seq;
            let mut to = from;
            while i < ends.len() && round_up(COMMIT_HEADER + (ends[i] - from), unit) <= space {
                to = ends[i];
                seq += 1;
                i += 1;
            }
            if to == from {
                return Err(JournalError::TooLarge);
            }
            let body = &records[from..to];
            let count = (seq - first) as u32;
            let header = CommitHeader {
                body_len: body.len() as u32,
                first_seq: first,
                count,
                body_crc: crc32c(&[body]),
            }
            .encode();
            let framed = round_up(COMMIT_HEADER + body.len(), unit);
            // Padding: zeros (a disk's blank), whatever the medium.
            let copied: Vec<u8>;
            let frame: &[u8] = if from == COMMIT_HEADER && to == records.len() {
                // All of them in one commit: in place, behind the room left for its header.
                records[..COMMIT_HEADER].copy_from_slice(&header);
                records.resize(framed, 0);
                records
            } else {
                let mut f = Vec::with_capacity(framed);
                f.extend_from_slice(&header);
                f.extend_from_slice(body);
                f.resize(framed, 0);
                copied = f;
                &copied
            };
            from = to;
            let at = self.segment_base(index) + u64::from(tail);
            if let Err(e) = self.medium.program(at, frame) {
                // Part of the commit may be on the medium: its numbers are used (see the
                // invariants), and nothing more goes into this segment.
                self.next_seq = seq;
                self.seal_active();
                return Err(e.into());
            }
            self.next_seq = seq;
            let Some(s) = self.chain.last_mut() else {
                return Err(JournalError::Corrupt);
            };
            if s.commits.is_multiple_of(MARK_EVERY) {
                s.marks.push((first, tail));
            }
            s.commits += 1;
            s.next_seq = seq;
            s.tail += frame.len() as u32;
            if s.tail as usize + round_up(COMMIT_HEADER + RECORD_OVERHEAD, unit)
                > self.geometry.segment_bytes as usize
            {
                s.sealed = true;
            }
            self.commits += 1;
        }
        if let Err(e) = self.medium.sync() {
            self.seal_active();
            return Err(e.into());
        }
        Ok(())
    }

    fn seal_active(&mut self) {
        if let Some(s) = self.chain.last_mut() {
            s.sealed = true;
        }
    }

    /// The active segment and its tail, with room for at least `need` bytes; opens a new
    /// segment when the active one is sealed or too full.
    fn active_room(&mut self, need: usize) -> Result<(u32, u32), JournalError> {
        let unit = self.geometry.write_unit.max(1) as usize;
        if let Some(s) = self.chain.last()
            && !s.sealed
            && s.tail as usize + round_up(need, unit) <= self.geometry.segment_bytes as usize
        {
            return Ok((s.index, s.tail));
        }
        self.open_segment()?;
        match self.chain.last() {
            Some(s) => Ok((s.index, s.tail)),
            None => Err(JournalError::Corrupt),
        }
    }

    /// Starts a new segment: a free one, or the oldest if it holds only released records.
    fn open_segment(&mut self) -> Result<(), JournalError> {
        let in_chain = |i: u32, chain: &[Segment]| chain.iter().any(|s| s.index == i);
        // Free segments in ring order after the active one, so wear spreads evenly.
        let start = self.chain.last().map_or(0, |s| s.index + 1);
        let n = self.geometry.segments;
        let free = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !in_chain(i, &self.chain));
        let index = match free {
            Some(i) => i,
            None => {
                let oldest = self.chain.first().ok_or(JournalError::Full)?;
                if self.chain.len() < 2 || oldest.next_seq > self.floor {
                    return Err(JournalError::Full);
                }
                let gone = self.chain.remove(0);
                self.records = self.records.saturating_sub(gone.next_seq - gone.first_seq);
                gone.index
            }
        };
        self.medium.erase(index)?;
        let header = SegmentHeader {
            generation: self.next_generation,
            first_seq: self.next_seq,
            segment: index,
        };
        let mut frame = vec![0u8; self.header_len as usize];
        frame[..SEGMENT_HEADER].copy_from_slice(&header.encode());
        self.medium.program(self.segment_base(index), &frame)?;
        self.next_generation += 1;
        self.seal_active();
        self.chain.push(Segment {
            index,
            generation: header.generation,
            first_seq: self.next_seq,
            next_seq: self.next_seq,
            tail: self.header_len,
            sealed: false,
            commits: 0,
            marks: Vec::new(),
        });
        Ok(())
    }

    /// Visits the records with sequence number `from` on, oldest first, until `visit` returns
    /// false.
    pub fn read_from(
        &mut self,
        from: u64,
        visit: &mut dyn FnMut(u64, &Envelope) -> bool,
    ) -> Result<(), JournalError> {
        // The segment holding `from`, and the nearest mark before it.
        let first = self
            .chain
            .iter()
            .rposition(|s| s.first_seq <= from)
            .unwrap_or(0);
        for k in first..self.chain.len() {
            let (index, end_seq, tail_end, start) = {
                let s = &self.chain[k];
                let mark = s
                    .marks
                    .iter()
                    .rev()
                    .find(|&&(seq, _)| seq <= from)
                    .copied()
                    .unwrap_or((s.first_seq, self.header_len));
                (s.index, s.next_seq, s.tail, mark)
            };
            let (mut seq, mut offset) = start;
            while seq < end_seq && offset < tail_end {
                let CommitRead::Valid { len, count, body } =
                    self.read_commit(index, offset, seq)?
                else {
                    return Err(JournalError::Corrupt);
                };
                let mut at = 0;
                for i in 0..u64::from(count) {
                    let (data, rlen) =
                        record::decode(&body[at..], seq + i).map_err(|_| JournalError::Corrupt)?;
                    if seq + i >= from {
                        let data = &body[at + data.start..at + data.end];
                        match Envelope::decode(data) {
                            Ok(e) => {
                                if !visit(seq + i, &e) {
                                    return Ok(());
                                }
                            }
                            // Framed and CRC-checked, yet not an envelope this build reads (a
                            // newer format, or damage with its CRC recomputed): skipped and
                            // counted, so one such record cannot make the journal unreadable.
                            Err(_) => self.undecodable += 1,
                        }
                    }
                    at += rlen;
                }
                seq += u64::from(count);
                offset += len;
            }
        }
        Ok(())
    }

    /// The record with sequence number `seq`, if the journal holds it.
    pub fn get(&mut self, seq: u64) -> Result<Option<Envelope>, JournalError> {
        let mut found = None;
        self.read_from(seq, &mut |s, e| {
            if s == seq {
                found = Some(e.clone());
            }
            false
        })?;
        Ok(found)
    }
}

/// What event `e` is de-duplicated by: its idempotency key *on its subject*. The journal is
/// one stream (JetStream de-duplicates a `Msg-Id` per stream) holding every app's events, so
/// the same key on two subjects names two facts — an unrelated `junk.x` must not suppress a
/// handler's `ledger.transfer.completed`. Not per publisher: a handler restarted after a crash
/// is another run, and its repeated outcome must still be caught.
///
/// Kept as a 64-bit keyed SipHash of subject and key (under `secret`, which writers cannot
/// know): every entry is the same size, so the window's memory is fixed when the journal opens
/// however many subjects and keys come, and a deliberate collision is out of reach (an
/// accidental one, two facts taken for one, is about 1 in 10¹⁶ for a full window).
fn dedupe_key(e: &Envelope, secret: u64) -> Option<u64> {
    use core::hash::Hasher;
    let key = e.idempotency_key()?;
    // SipHash-2-4: the keyed hash core offers (deprecated for `HashMap` use, not unsound).
    #[allow(deprecated)]
    let mut h = core::hash::SipHasher::new_with_keys(secret, secret.rotate_left(32) ^ 0x5a5a);
    h.write(e.name.as_bytes());
    h.write_u8(0xFF); // cannot occur in a subject: the two parts cannot run together
    h.write(key.as_bytes());
    // An imported event's key is its origin node's: two nodes' handlers may both say
    // `cmd-5` about two different commands.
    if let Some(origin) = &e.origin {
        h.write_u8(0xFF);
        h.write(origin.node.as_bytes());
    }
    Some(h.finish())
}

/// The idempotency window: the last `window` keys ([`dedupe_key`]) and the sequence number
/// each first had, in a ring (the oldest is overwritten first), searched in order — a few
/// hundred comparisons beside a flash or disk write. Entries are all the same size, so it holds
/// at most `window` × 16 bytes however many subjects and keys come; a large window (a PC's) is
/// allocated whole when the journal opens so it never grows after, a small one (a board's,
/// where heap is scarcer than predictability) as keys come.
#[derive(Debug, Default)]
struct Dedupe {
    entries: Vec<(u64, u64)>,
    /// Where the next key goes once the ring is full (the oldest entry).
    next: usize,
}

/// Windows at least this large are allocated whole at open.
const DEDUPE_PREALLOCATED: usize = 256;

impl Dedupe {
    fn with_window(window: usize) -> Dedupe {
        let room = if window >= DEDUPE_PREALLOCATED {
            window
        } else {
            0
        };
        Dedupe {
            entries: Vec::with_capacity(room),
            next: 0,
        }
    }

    fn get(&self, key: u64) -> Option<u64> {
        self.entries.iter().find(|e| e.0 == key).map(|e| e.1)
    }

    fn insert(&mut self, key: u64, seq: u64, window: usize) {
        if window == 0 || self.get(key).is_some() {
            return;
        }
        if self.entries.len() < window {
            self.entries.push((key, seq));
        } else if let Some(slot) = self.entries.get_mut(self.next) {
            *slot = (key, seq);
            self.next = (self.next + 1) % self.entries.len();
        }
    }
}

/// Origin nodes one journal tracks.
pub const MAX_ORIGINS: usize = 64;

/// For events imported from other nodes: per origin node, the highest sequence number (in
/// that node's journal) appended here, and the local sequence number it got. A node's events
/// reach this one in its order (a JetStream consumer delivers a stream in order, redelivering
/// from the first unacknowledged), so an import at or below the mark is already here: a
/// redelivery after a crash or a reconnect is skipped, and at-least-once delivery becomes
/// exactly-once application. Rebuilt from the records at open, so it needs no state of its
/// own; bounded by [`MAX_ORIGINS`].
#[derive(Debug, Clone, Default)]
struct Origins {
    marks: Vec<(String, u64, u64)>,
}

impl Origins {
    /// The local sequence number of the mark if `seq` from `node` is already here.
    fn already(&self, node: &str, seq: u64) -> Option<u64> {
        self.marks
            .iter()
            .find(|m| m.0 == node && seq <= m.1)
            .map(|m| m.2)
    }

    /// Records that `seq` from `node` is appended as `local`.
    fn applied(&mut self, node: &str, seq: u64, local: u64) -> Result<(), JournalError> {
        if let Some(m) = self.marks.iter_mut().find(|m| m.0 == node) {
            if seq > m.1 {
                (m.1, m.2) = (seq, local);
            }
            return Ok(());
        }
        if self.marks.len() >= MAX_ORIGINS {
            return Err(JournalError::TooManyOrigins);
        }
        self.marks.push((String::from(node), seq, local));
        Ok(())
    }
}

/// What is at a commit position.
enum CommitRead {
    Valid {
        len: u32,
        count: u32,
        body: Vec<u8>,
    },
    /// Never-programmed space (erased flash, or zeros).
    Blank,
    /// Programmed bytes that are not a valid commit here (`len`: how far they seem to go).
    Invalid {
        len: u32,
    },
}
