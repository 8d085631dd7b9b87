//! The journal under the kernel, and group commit: [`Kernel::open_journal`] opens it on the
//! platform's storage; [`Kernel::commit_events`] fires the timers that are due (starting the
//! programs they name), wakes durable subscribers with a redelivery due, and — when no run is
//! ready, or a batch is full — commits what is queued and wakes whom the commit names:
//! emitters, subscribers, and (as events) the native services whose watches matched.
//!
//! Invariants: a run is woken only if it waits for what happened (a stale wake-up is harmless
//! anyway: its call is re-executed); every queued event is committed before the machine stops
//! ([`Kernel::flush_events`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::{Error, Pid};
use zb_hal::log::LogStorage;
use zb_journal::{Geometry, JournalConfig};

use crate::bus::{self, Store};
use crate::kernel::Kernel;
use crate::run::WaitReason;

impl Kernel {
    /// Opens the journal on the platform's `region` (in RAM, not durable, when there is none
    /// or it cannot be used); returns the line for the boot log. Never inlined: recovery's
    /// frames must not stay in the boot loop's frame.
    #[inline(never)]
    pub fn open_journal(&mut self, region: Option<&'static dyn LogStorage>) -> String {
        let limits = self.config.journal;
        let config = JournalConfig {
            max_record: limits.max_record,
            dedupe_window: limits.dedupe_window,
            // The boot's time to the microsecond and where the heap put this frame's first
            // allocation: not a run's to know, so a run cannot aim a key at another's.
            dedupe_secret: self.shared.clock.now_us()
                ^ (alloc::boxed::Box::new(0u8).as_ref() as *const u8).addr() as u64,
        };
        let mut problem = None;
        if let Some(region) = region {
            match bus::open(Store::Region(region), region.driver(), config) {
                Ok((bus, line)) => {
                    self.bus = Some(bus);
                    return line;
                }
                Err(e) => problem = Some(e),
            }
        }
        let ram = zb_journal::RamMedium::new(Geometry {
            segment_bytes: limits.ram_segment,
            segments: limits.ram_segments,
            write_unit: 4,
        });
        let why = match problem {
            Some(e) => format!("its region failed ({e})"),
            None => String::from("no journal region"),
        };
        match bus::open(Store::Ram(ram), bus::RAM_MEDIUM, config) {
            Ok((bus, _)) => {
                self.bus = Some(bus);
                format!("journal: in RAM, not durable ({why})")
            }
            Err(e) => format!("journal: none ({why}; RAM: {e})"),
        }
    }

    /// Commits queued events when no run is ready (or a batch is full) and wakes emitters and
    /// subscribers; true if it committed anything.
    pub(crate) fn commit_events(&mut self, force: bool) -> bool {
        let Some(bus) = self.bus.as_mut() else {
            return false;
        };
        let now = self.shared.clock.now_us();
        // Timers that are due: their events join the next commit, their programs start.
        for start in bus.fire_timers(now) {
            // With the grants of the run that set the timer, never more.
            let options = crate::RunOptions {
                allow: start.allow,
                ..crate::RunOptions::default()
            };
            let _ = self.spawn_with(
                start.parent,
                &start.program,
                Vec::new(),
                Vec::new(),
                options,
            );
        }
        let Some(bus) = self.bus.as_mut() else {
            return false;
        };
        // Durable subscribers with a redelivery due: wake them to read it.
        for (pid, sub) in bus.due(now) {
            if self.waits_for(pid, &WaitReason::Event { sub }) {
                self.wake(pid);
            }
        }
        let Some(bus) = self.bus.as_mut() else {
            return false;
        };
        let (pending, full) = bus.has_pending();
        if !pending || !(force || full) {
            return false;
        }
        // Everything queued goes in now, in as many commits as its size needs.
        while let Some(bus) = self.bus.as_mut()
            && bus.has_pending().0
        {
            let done = bus.commit(now);
            let progress = done.committed;
            for pid in done.emitters {
                if self.waits_for(pid, &WaitReason::Commit) {
                    self.wake(pid);
                }
            }
            for (pid, sub) in done.subscribers {
                if self.waits_for(pid, &WaitReason::Event { sub }) {
                    self.wake(pid);
                }
            }
            for (service, watch) in done.watches {
                self.events
                    .push_back(crate::kernel::Event::Committed { service, watch });
            }
            if !progress {
                break;
            }
        }
        true
    }

    /// Commits every queued event now (before the machine stops or restarts).
    pub(crate) fn flush_events(&mut self) {
        self.commit_events(true);
    }

    /// Native service `service` watches for committed events matching `pattern`
    /// ([`crate::bus::EventBus::watch`]).
    pub(crate) fn watch_events(&mut self, service: Pid, pattern: &str) -> Result<u32, Error> {
        let watched = self
            .bus
            .as_mut()
            .ok_or(Error::Unsupported)?
            .watch(service, pattern);
        watched.map_err(|(e, why)| {
            self.log(&format!("event watch refused: {why}"));
            e
        })
    }

    /// The bus's counters (`None` without a journal).
    pub fn bus_stats(&self) -> Option<crate::bus::BusStats> {
        self.bus.as_ref().map(crate::bus::EventBus::stats)
    }

    /// Whether run `pid` is in WAIT for `reason`.
    fn waits_for(&self, pid: Pid, reason: &WaitReason) -> bool {
        self.runs.get(pid).is_some_and(
            |r| matches!(&r.state, crate::run::RunState::Wait(w) if w.reason() == reason),
        )
    }
}
