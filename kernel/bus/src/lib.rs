//! The event bus's policy, without I/O, a clock or code of its own (DESIGN.md §6): NATS
//! subjects and wildcards ([`subject`]), the subscription table with queue groups ([`router`]),
//! durable consumers with acknowledgement, redelivery and dead letters ([`consumer`]), timers
//! ([`timer`]), events as the bus makes them ([`envelope`]), views' snapshots ([`snapshot`]),
//! views themselves ([`view`]), and [`Bus`], which runs all of it over the journal: group
//! commit, subscriptions and their cursors, durable consumers' positions, retention, views,
//! timers and event watches.
//!
//! What it needs from outside comes through small interfaces: the journal's storage is any
//! [`zb_journal::Medium`], a view's reducer any [`view::Reducer`] (the kernel's runs wasm),
//! and time is an argument. The kernel (`zb-kernel`'s `bus` and `events` modules) opens the
//! journal on the platform's storage, decides when to commit, wakes runs, and serves the bus
//! calls of runs.
//!
//! Invariants: platform-free, `no_std` + `alloc`, no `unsafe`; nothing here panics on what a
//! run or the journal hands it.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod bus;
pub mod consumer;
pub mod envelope;
pub mod router;
pub mod snapshot;
pub mod subject;
mod subs;
#[cfg(test)]
mod tests;
pub mod timer;
pub mod view;

pub use bus::{
    Bus, BusStats, COMMIT_RECORDS, CONSUMER_SHARE, Committed, MAX_BATCH, MAX_CONSUMERS,
    MAX_SUBSCRIPTIONS, MAX_TIMERS, MAX_WATCHES, QUEUE_BACKLOG, SUBSCRIPTION_SHARE, SYSTEM, Start,
    TIMER_STARTER,
};
pub use subs::{Attacher, Found, PEEK_BUDGET, Peeked, consumer_subject};
