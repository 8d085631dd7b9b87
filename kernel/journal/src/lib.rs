//! The journal core: a durable, append-only, CRC-framed log of events (DESIGN.md §6).
//!
//! - [`Envelope`]: an event and its envelope, and its binary encoding (a record's data).
//! - [`record`]: the frames on the medium — segment headers, commits, records.
//! - [`Journal`]: append with group commit, recovery that cuts a torn tail, reads by sequence
//!   number, idempotency keys, retention.
//! - [`Medium`]: what it is stored on (a disk region, NOR flash), with [`RamMedium`] for tests
//!   and RAM-only systems (the benchmark's host-file medium lives in `xtask/journal-bench`).
//!
//! The bus runs over it (`zb-bus`); nothing here knows about runs, subjects
//! or platforms. `no_std` + `alloc`; no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod envelope;
mod log;
mod medium;
pub mod record;
#[cfg(test)]
mod tests;

pub use envelope::{DecodeError, Envelope, FIELD_KEYS, IDEMPOTENCY_KEY, Origin};
pub use log::{
    Appended, Journal, JournalConfig, JournalError, JournalStats, MAX_ORIGINS, Recovery,
};
pub use medium::{Geometry, Medium, MediumError, RamMedium};
