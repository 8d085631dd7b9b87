//! The bus as the federation link uses it: events from other nodes in, this node's events out.
//!
//! - [`Kernel::import_event`]: an event emitted on another node is checked like a run's emit
//!   (subject, headers, JSON, schema), tagged with its origin and committed at once, so the
//!   link may acknowledge it to JetStream as soon as this returns `Ok`. The journal drops an
//!   origin sequence number it has already applied (`Journal::append`'s per-origin high-water
//!   mark): a redelivery is answered as a duplicate, never applied twice.
//! - [`Kernel::read_events`]: committed events from a sequence number on, for export.
//!
//! Invariants: an import is never counted against a run's journal quota (it is not a run's);
//! what an import is refused for changes nothing.

use alloc::format;
use alloc::string::String;

use zb_abi::bus::{EventView, ImportedEvent};
use zb_abi::{Error, Pid};
use zb_journal::Origin;

use crate::kernel::Kernel;

impl Kernel {
    /// Appends `event` from another node for native service `service` (see the module doc):
    /// its local sequence number and whether it was a duplicate.
    pub(crate) fn import_event(
        &mut self,
        service: Pid,
        event: &ImportedEvent<'_>,
    ) -> Result<(u64, bool), (Error, String)> {
        if self.bus.is_none() {
            return Err((
                Error::Unsupported,
                String::from("this system has no journal"),
            ));
        }
        let now = self.shared.clock.now_us();
        let mut envelope = zb_bus::envelope::emitted(
            format!("node:{}", event.origin),
            now,
            event.name,
            event.payload,
            event.headers,
            event.reply,
        )
        .map_err(|why| (Error::InvalidArgument, why))?;
        envelope.version = event.version;
        envelope.correlation_id = event.correlation_id;
        envelope.causation_id = event.causation_id;
        envelope.tenant = String::from(event.tenant);
        envelope.origin = (event.origin_seq > 0).then(|| Origin {
            node: String::from(event.origin),
            seq: event.origin_seq,
        });
        self.check_schema(&envelope)?;
        // An answer left from an earlier import (there is none: each is taken below) must
        // not be mistaken for this one's.
        if let Some(bus) = self.bus.as_mut() {
            let _ = bus.take_answer(service);
            bus.queue(service, envelope);
        }
        self.commit_events(true);
        let answer = self.bus.as_mut().and_then(|bus| bus.take_answer(service));
        match answer {
            Some(Ok(done)) => Ok(done),
            Some(Err(e)) => Err((e, format!("the journal refused it: {e}"))),
            // Not committed (the commit made no progress: the system's reserve): not durable.
            None => Err((Error::NoSpace, String::from("the journal took nothing"))),
        }
    }

    /// Visits up to `max` committed events from `from` on; returns where to go on from.
    pub(crate) fn read_events(
        &mut self,
        from: u64,
        max: usize,
        visit: zb_abi::EventVisit<'_>,
    ) -> Result<u64, Error> {
        let bus = self.bus.as_mut().ok_or(Error::Unsupported)?;
        let mut next = from;
        let mut seen = 0usize;
        let read = bus.read_committed(from, &mut |seq, e| {
            if seen == max {
                return false;
            }
            seen += 1;
            next = seq + 1;
            let headers = e.header_lines();
            let view = EventView {
                seq,
                ts_us: e.ts_us,
                correlation_id: e.correlation_id,
                causation_id: e.causation_id,
                version: e.version,
                attempt: 1,
                name: &e.name,
                source: &e.source,
                tenant: &e.tenant,
                headers: &headers,
                payload: &e.payload,
            };
            visit(&view, e.origin.as_ref().map(|o| (o.node.as_str(), o.seq)));
            true
        });
        read.map_err(|_| Error::Corrupt)?;
        if seen == 0 {
            // Nothing there: the next event to come is where to go on from.
            let stats = self.bus.as_ref().map(|b| b.stats()).unwrap_or_default();
            next = from.clamp(
                stats.first_seq,
                stats.last_seq.saturating_add(1).max(stats.first_seq),
            );
        }
        Ok(next)
    }
}
