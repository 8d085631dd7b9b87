//! The ZeroBus OS userspace ABI.
//!
//! This crate is the one vocabulary shared by the kernel, the services, the shell and programs:
//! stable error codes ([`Error`]), the formats of system information ([`SysInfo`], [`MemInfo`]),
//! and [`Host`], the system-call surface as seen by native (compiled-in) services, split into
//! roles ([`System`], [`Files`], [`Runs`], …).
//!
//! Invariants:
//! - Error codes and struct layouts documented here are stable: once released, a code keeps its
//!   number and meaning forever. New codes are appended.
//! - Nothing here depends on the kernel or on a platform; the crate is `no_std`, depends only on
//!   `bitflags`, and forbids `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

pub mod bootfs;
pub mod bus;
pub mod call;
mod error;
pub mod fmt;
mod host;
pub mod kind;
pub mod path;
mod rights;
pub mod runs;
pub mod scheme;
pub mod syscall;
mod sysinfo;
pub mod time;
pub mod url;
pub mod view;

pub use error::Error;
pub use host::{
    Admin, BlockDev, BlockDeviceInfo, Bus, Console, ConsoleClient, EventVisit, Files, Host,
    ImportReply, NativeService, NetDev, NetDeviceInfo, PowerAction, Runs, ScanReply, Schemes,
    SealReply, SpawnOptions, System,
};
pub use rights::Rights;
pub use runs::{ExitView, Pid, RunInfo, RunKind, StateName, WaitOn};
pub use sysinfo::{FrameInfo, HeapInfo, MemInfo, SysInfo};

/// The operating system's name, as shown by `version` and the boot banner.
pub const OS_NAME: &str = "ZeroBus OS";
/// The operating system's version (the workspace version).
pub const OS_VERSION: &str = env!("CARGO_PKG_VERSION");
