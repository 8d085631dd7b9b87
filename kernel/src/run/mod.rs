//! Runs: the kernel's unit of work (a wasm program instance) and its lifecycle.

pub mod state;

pub use state::{Done, Exec, ExitStatus, Init, LoadFailure, RunState, Wait, WaitReason};
