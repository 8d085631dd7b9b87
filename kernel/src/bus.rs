//! The event bus as the kernel holds it (DESIGN.md §6): [`zb_bus::Bus`] — the bus's policy:
//! group commit, subscriptions, durable consumers, dead letters, retention, views' snapshots,
//! timers, watches — over the journal on the platform's storage ([`Store`]), with views reduced
//! by wasm ([`crate::views::Program`]).
//!
//! What the kernel itself does with it lives in `crate::events`: opening the journal, deciding
//! when to commit and waking whom a commit names, starting the programs timers name, and serving
//! the bus calls of runs.
//!
//! Invariants: the journal's storage is the platform's region when it has one that opens, RAM
//! (not durable, and said so in the boot log) otherwise; a storage error is the journal's
//! `Io`, never a panic.

use alloc::format;
use alloc::string::String;

use zb_abi::Error;
use zb_hal::log::LogStorage;
use zb_journal::{Geometry, JournalConfig, Medium, MediumError, Recovery};

pub use zb_bus::{BusStats, Found};

/// The bus the kernel holds: over the platform's journal region, views reduced by wasm.
pub type EventBus = zb_bus::Bus<Store, crate::views::Program>;

/// The platform's journal region as the journal's medium, or RAM when there is none.
pub enum Store {
    Region(&'static dyn LogStorage),
    Ram(zb_journal::RamMedium),
}

fn medium_error(_: zb_hal::BlockError) -> MediumError {
    MediumError::Io
}

impl Medium for Store {
    fn geometry(&self) -> Geometry {
        match self {
            Store::Region(r) => {
                let g = r.geometry();
                Geometry {
                    segment_bytes: g.segment_bytes,
                    segments: g.segments,
                    write_unit: g.write_unit,
                }
            }
            Store::Ram(m) => m.geometry(),
        }
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.read(offset, buf).map_err(medium_error),
            Store::Ram(m) => m.read(offset, buf),
        }
    }

    fn program(&mut self, offset: u64, data: &[u8]) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.program(offset, data).map_err(medium_error),
            Store::Ram(m) => m.program(offset, data),
        }
    }

    fn erase(&mut self, segment: u32) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.erase(segment).map_err(medium_error),
            Store::Ram(m) => m.erase(segment),
        }
    }

    fn sync(&mut self) -> Result<(), MediumError> {
        match self {
            Store::Region(r) => r.sync().map_err(medium_error),
            Store::Ram(m) => m.sync(),
        }
    }
}

/// Opens the bus over the journal on `store` (called `medium`); the line for the boot log says
/// what recovery found.
/// The medium name of a journal in RAM (not durable: `emit` says so with
/// `zb_abi::bus::EMIT_NOT_DURABLE`).
pub const RAM_MEDIUM: &str = "ram";

pub fn open(
    store: Store,
    medium: &'static str,
    config: JournalConfig,
) -> Result<(EventBus, String), Error> {
    let (bus, recovery) = EventBus::open(store, medium, config).map_err(|_| Error::Corrupt)?;
    Ok((bus, recovery_line(&recovery, medium)))
}

/// What recovery found, for the boot log.
fn recovery_line(recovery: &Recovery, medium: &str) -> String {
    if recovery.formatted {
        format!("journal: formatted ({medium})")
    } else if recovery.torn_bytes > 0 {
        format!(
            "journal: {} events (last seq {}) on {medium}; cut a torn tail of {} bytes",
            recovery.records, recovery.last_seq, recovery.torn_bytes
        )
    } else {
        format!(
            "journal: {} events (last seq {}) on {medium}",
            recovery.records, recovery.last_seq
        )
    }
}
