//! init: the first process (DESIGN.md §5).
//!
//! init reads a manifest from the boot image ([`manifest`]), starts the services and runs it
//! lists, and restarts runs per their policy ([`restart`]): never / on-failure / always, with
//! exponential backoff and a rate limit beyond which it gives up and logs why.
//!
//! The pure parts — the manifest parser and the restart decision state machine — take no clock
//! or I/O of their own: time comes in as `u64` microseconds and the manifest as bytes.
//! [`service`] is the native service around them ([`InitService`]), which reaches the system
//! only through [`zb_abi::Host`]; all three are host-tested.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod manifest;
pub mod restart;
pub mod service;

pub use manifest::{Manifest, ManifestError, RunSpec};
pub use restart::{
    Backoff, Decision, Exit, GiveUpReason, RateLimit, RestartMode, RestartPolicy, RestartState,
};
pub use service::{InitService, MANIFEST_PATH};
