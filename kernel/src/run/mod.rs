//! Runs: the kernel's unit of work (a wasm program instance), its lifecycle and the table of
//! all runs.

pub mod state;

pub use state::{Done, Exec, ExitStatus, Init, LoadFailure, RunState, Wait, WaitReason};
