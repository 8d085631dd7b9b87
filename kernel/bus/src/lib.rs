//! The event bus's logic, without I/O or a clock of its own: NATS subjects and wildcards
//! ([`subject`]), the subscription table with queue groups ([`router`]), durable consumers
//! with acknowledgement, redelivery and dead letters ([`consumer`]), timers ([`timer`]), and
//! events as the bus makes them ([`envelope`]: a run's, checked; the system's; dead letters).
//! The kernel (`zb-kernel`'s `bus` module) runs it over the journal.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod consumer;
pub mod envelope;
pub mod router;
pub mod subject;
pub mod timer;
