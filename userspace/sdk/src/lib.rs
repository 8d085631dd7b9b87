//! The ZeroBus OS userspace SDK: what a program (a *run*) needs to talk to the kernel.
//!
//! A run is a WebAssembly module built for `wasm32-unknown-unknown` that imports the HOST
//! functions (module `zb`, see [`zb_abi::syscall`]) and exports `_start`. This crate wraps
//! every import in a safe function; errors are [`zb_abi::Error`] values.
//!
//! # Writing a program
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! use zb_sdk::println;
//!
//! zb_sdk::entry!(main);
//!
//! fn main() -> i32 {
//!     let mut buf = [0u8; 256];
//!     let args = zb_sdk::args(&mut buf).unwrap_or_default();
//!     let name = args.get_str(0).unwrap_or("world");
//!     println!("hello, {name}, from pid {}", zb_sdk::getpid());
//!     0
//! }
//! ```
//!
//! - `#![no_std]` + `#![no_main]`: there is no standard library and no C runtime; the kernel
//!   calls the exported `_start`, which [`entry!`] defines for you (or write it yourself:
//!   `#[unsafe(no_mangle)] pub extern "C" fn _start() { … }`). Returning from `_start` ends the
//!   run with `ok(0)`; [`entry!`] instead calls [`exit`] with what `main` returns (`()`, an
//!   `i32`, or a `Result` whose error is printed to stderr and gives code 1; see
//!   [`Termination`]).
//! - The default `panic-handler` feature supplies the `#[panic_handler]`: it prints
//!   `panic: <message> at <file>:<line>` to stderr and traps, so the run ends with `panic`.
//! - There is no heap: use stack buffers (`[u8; N]`) and borrowed data. Keep the stack small —
//!   the programs in `userspace/programs` link with a 4 KiB shadow stack and 1-byte wasm pages
//!   (`--page-size=1`) so they fit the STM32F4's 24 KiB per-run memory limit.
//! - Output: [`print!`]/[`println!`]/[`eprint!`]/[`eprintln!`] format through a 128-byte stack
//!   buffer, pulling in `core::fmt` (~4 KiB of wasm). [`io::print_str`] and
//!   [`io::BufWriter`]'s `push_str`/`push_u64` write text and numbers without it.
//! - Keep code small: the kernel compiles a run's code into its own heap at roughly ten times
//!   the wasm size, and the STM32F4 has ~100 KiB for everything. `core::fmt` and any panic
//!   path (which links the panic handler and so `core::fmt`) cost ~35 KiB of kernel heap
//!   there; the SDK itself has no panic paths, and the programs in `userspace/programs` use
//!   neither (`get`/`get_mut` instead of indexing, `Args::get_u64` instead of `str::parse`).
//! - Blocking calls ([`sleep_us`], [`wait`], [`Channel::recv`], [`Channel::send`] on a full
//!   channel) put the run in WAIT; the rest of the system keeps running. A run that computes
//!   for long is preempted at fuel boundaries; [`yield_now`] gives way early.
//!
//! Build one with `cargo build --profile wasm-release --target wasm32-unknown-unknown`
//! (`cargo xtask` does this for `userspace/programs` and puts the results in the boot image
//! as `/bin/<name>`).
//!
//! # Map
//!
//! | item | import | |
//! |---|---|---|
//! | [`exit`], [`yield_now`], [`getpid`], [`clock_us`], [`sleep_us`] | `exit` `yield` `getpid` `clock` `sleep` | the run itself |
//! | [`io`]: [`io::write`], [`print!`], … | `write` | stdout and stderr |
//! | [`args`], [`Args`] | `args` | the arguments the parent passed |
//! | [`spawn`], [`wait`], [`grants`], [`grant`] | `spawn` `wait` `grants` | children and inherited handles |
//! | [`Channel`], [`Handle`] | `channel_create` `send` `recv` `close` | IPC |
//! | [`sys`] | all | the raw imports |
//!
//! Invariants: `unsafe` appears only in [`sys`] (the import declarations) and at the call
//! sites of its pointer-taking functions, each of which passes a live Rust slice. Nothing
//! allocates. Off wasm32 every call fails with `Unsupported` (so host unit tests of the pure
//! parts — argument splitting, error decoding — run with plain `cargo test`).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod args;
pub mod bus;
mod channel;
pub mod fs;
pub mod io;
#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
mod panic;
mod process;
pub mod sys;

pub use args::{Args, ArgsIter, args, encode_args, parse_i64, parse_u64};
pub use channel::{Channel, Flags, Handle};
pub use process::{MAX_SPAWN_ARGS, grant, grants, spawn, spawn_raw, wait};
pub use zb_abi::syscall::{Grant, StatusKind};
pub use zb_abi::{Error, Pid, Rights};

/// Decodes a raw HOST result: `>= 0` is `Ok`, negative is `Err(-(code))`. A code this SDK
/// does not know (a newer kernel) reads as [`Error::Unsupported`].
pub fn decode(v: i64) -> Result<u64, Error> {
    if v >= 0 {
        Ok(v as u64)
    } else {
        Err(v
            .checked_neg()
            .and_then(|c| i32::try_from(c).ok())
            .and_then(Error::from_code)
            .unwrap_or(Error::Unsupported))
    }
}

/// The raw wire value of `e` (`-(code)`), as a HOST call returns it.
pub const fn raw_error(e: Error) -> i64 {
    -(e.code() as i64)
}

/// Converts a length to the ABI's `i32`, or [`Error::TooLarge`].
pub(crate) fn len32(len: usize) -> Result<i32, Error> {
    i32::try_from(len).map_err(|_| Error::TooLarge)
}

/// A pointer as the ABI's `i32` offset into linear memory (wasm32 pointers are 32 bits; off
/// wasm32 the value is never used).
pub(crate) fn ptr32<T>(p: *const T) -> i32 {
    p.expose_provenance() as i32
}

/// Ends the run with `ok(code)`.
pub fn exit(code: i32) -> ! {
    sys::exit(code)
}

/// Lets other runs go first; returns when the scheduler comes back to this run.
pub fn yield_now() {
    sys::yield_now()
}

/// This run's pid (0 off wasm32).
pub fn getpid() -> Pid {
    Pid::try_from(sys::getpid()).unwrap_or(0)
}

/// Microseconds since boot (monotonic; 0 off wasm32).
pub fn clock_us() -> u64 {
    decode(sys::clock()).unwrap_or(0)
}

/// Blocks for at least `us` microseconds (other runs go on meanwhile).
pub fn sleep_us(us: u64) -> Result<(), Error> {
    decode(sys::sleep(i64::try_from(us).unwrap_or(i64::MAX))).map(drop)
}

/// Blocks for at least `ms` milliseconds.
pub fn sleep_ms(ms: u64) -> Result<(), Error> {
    sleep_us(ms.saturating_mul(1000))
}

/// What `main` may return under [`entry!`]: turned into the exit code.
pub trait Termination {
    /// The exit code; may print (an error goes to stderr).
    fn report(self) -> i32;
}

impl Termination for () {
    fn report(self) -> i32 {
        0
    }
}

impl Termination for i32 {
    fn report(self) -> i32 {
        self
    }
}

impl<T: Termination> Termination for Result<T, Error> {
    fn report(self) -> i32 {
        match self {
            Ok(t) => t.report(),
            Err(e) => {
                io::eprint_str("error: ");
                io::eprint_str(e.message());
                io::eprint_str("\n");
                1
            }
        }
    }
}

/// Defines the run's entry point `_start`, which calls `main` and exits with what it returns
/// (see [`Termination`]). Use once per program: `zb_sdk::entry!(main);`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The run's entry point, called once by the kernel.
        // SAFETY: `_start` is the one symbol of that name in the program (this macro is used
        // once; a no_std wasm program has no C runtime defining it).
        #[unsafe(no_mangle)]
        pub extern "C" fn _start() {
            $crate::exit($crate::Termination::report($main()))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_decode() {
        assert_eq!(decode(0), Ok(0));
        assert_eq!(decode(42), Ok(42));
        assert_eq!(decode(i64::MAX), Ok(i64::MAX as u64));
        for e in Error::ALL {
            assert_eq!(decode(raw_error(e)), Err(e));
        }
        // Codes this SDK does not know, and values that are not codes at all.
        assert_eq!(decode(-999), Err(Error::Unsupported));
        assert_eq!(decode(-(1 << 40)), Err(Error::Unsupported));
        assert_eq!(decode(i64::MIN), Err(Error::Unsupported));
    }

    #[test]
    fn off_wasm_every_call_is_unsupported() {
        assert_eq!(getpid(), 0);
        assert_eq!(clock_us(), 0);
        assert_eq!(sleep_ms(1), Err(Error::Unsupported));
        assert_eq!(wait(1), Err(Error::Unsupported));
        assert_eq!(spawn("hello", &[], &[]), Err(Error::Unsupported));
        assert_eq!(
            Channel::create().map(|_| ()).err(),
            Some(Error::Unsupported)
        );
        let mut buf = [0; 8];
        assert_eq!(args(&mut buf), Err(Error::Unsupported));
        assert_eq!(io::write(io::Stream::Stdout, b"x"), Err(Error::Unsupported));
        yield_now();
    }

    #[test]
    fn termination_codes() {
        assert_eq!(().report(), 0);
        assert_eq!(7.report(), 7);
        assert_eq!(Ok::<i32, Error>(3).report(), 3);
        assert_eq!(Err::<(), Error>(Error::NotFound).report(), 1);
    }
}
