//! ZeroBus OS JSON: the format of event payloads in the journal.
//!
//! The kernel checks every payload against its event's JSON Schema at EMIT (the schemas ship in
//! the boot image as `/etc/events/<name>.v<N>.json`), and small wasm programs — a ledger's
//! command handler and reducer — read fields out of payloads and write JSON back. This crate is
//! everything both sides need, and nothing more.
//!
//! It is purpose-built instead of `serde_json` because of where it runs: the STM32F4 target has
//! 1 MiB of flash and about 100 KiB of heap, and the wasm programs must stay tiny (their code is
//! compiled into the kernel heap). `serde_json` with `serde`'s derive machinery, its exact float
//! parser and its allocation-based API costs far more than the few kilobytes this crate does.
//!
//! Two layers:
//!
//! - **Without allocation** (always available; `default-features = false` is what the wasm
//!   programs use): [`validate`] checks a document against the RFC 8259 grammar, [`get`] and
//!   [`Raw`] read values straight out of the text (borrowing it), and [`write_escaped`],
//!   [`ObjectWriter`] and [`ArrayWriter`] build JSON into any [`core::fmt::Write`].
//! - **With the `alloc` feature** (on by default; the kernel uses it): [`Value`], a parsed tree
//!   that keeps integers exact, and [`Schema`], the JSON Schema subset documented in
//!   `SCHEMAS.md`, which explains each refusal as one line with a JSON-pointer path.
//!
//! Invariants, for every function of the crate and any input:
//! - No panics and no `unsafe`. Reading never recurses: the grammar is read by one loop with
//!   an explicit bit stack of open containers, and nesting deeper than [`MAX_DEPTH`] is refused
//!   as an error. What does recurse is bounded by that limit: schema checking follows the
//!   schema, and a parsed [`Value`]'s equality, `Display` and drop follow the value. How much
//!   input to accept is the caller's decision; time and memory are linear in it (the duplicate
//!   key check is `n log n`).
//! - The grammar is strict RFC 8259: one value with optional surrounding whitespace, no
//!   trailing commas, no comments, no byte order mark, numbers exactly as the grammar spells
//!   them, `\uXXXX` surrogates paired, no raw control characters in strings. One reader
//!   implements it, so every entry point ([`validate`], [`Raw::parse`], [`get`],
//!   [`Value::parse`]) accepts the same documents, and each checks the whole document. On top
//!   of the grammar, [`get`] needs an object and refuses a key it is asked for that occurs
//!   twice, and [`Value::parse`] refuses any duplicate key and numbers beyond the `f64` range.
#![no_std]
#![forbid(unsafe_code)]
// "Never panics" is a promise of the crate, so the usual ways to panic are refused outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod error;
mod number;
mod raw;
mod reader;
#[cfg(feature = "alloc")]
mod schema;
#[cfg(feature = "alloc")]
mod value;
mod write;

pub use error::JsonError;
pub use raw::{Elements, Kind, Members, Raw, StrChars, get, validate};
#[cfg(feature = "alloc")]
pub use schema::{Schema, SchemaError, Violation};
#[cfg(feature = "alloc")]
pub use value::{Number, Value};
pub use write::{ArrayWriter, ObjectWriter, write_escaped};

/// The deepest nesting of arrays and objects accepted: `[[1]]` has depth 2. A document nested
/// deeper is refused with an error (never a stack overflow). Event payloads are flat records;
/// 32 leaves ample room while keeping the reader's container stack in one `u64`.
pub const MAX_DEPTH: usize = 32;
