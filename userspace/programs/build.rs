//! Link arguments for the programs, scoped to this package's binaries (so no other crate's
//! build, and no other wasm32 build, is affected):
//! - `--page-size=1`: 1-byte wasm pages (custom-page-sizes), so linear memory is exactly as
//!   large as the program needs instead of a multiple of 64 KiB. The kernel's wasmi enables
//!   the proposal; `memory.grow(n)` then grows by `n` bytes.
//! - `-zstack-size=2048`: a 2 KiB shadow stack (the default is 1 MiB). The stack comes first
//!   in memory, so an overflow runs below address 0 and traps (`panic`) rather than corrupting
//!   data; programs keep big buffers small (echo: 1 KiB of arguments).
//! - `--initial-heap=64`: 64 bytes past the static data that no Rust object occupies (there is
//!   no allocator), so initial memory is stack + static data + 64. `hostile` uses them as the
//!   place where a kernel that wrongly accepted a range could write without harm. `sysfuzz`
//!   and `pressure` get their smallest scratch zone this way (see below).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "wasm32-unknown-unknown" {
        panic!(
            "zb-programs builds only for wasm32-unknown-unknown (got `{target}`); \
             `cargo xtask build` builds it"
        );
    }
    println!("cargo::rustc-link-arg-bins=--page-size=1");
    println!("cargo::rustc-link-arg-bins=-zstack-size={}", 2048);
    println!("cargo::rustc-link-arg-bins=--initial-heap={}", 64);
    // The smallest scratch zone (`scratch.rs` `MIN_SCRATCH`) of the programs that have one
    // comes with their initial memory, so a run with no more than that never grows: on a
    // small board the heap may have the bytes free but not in one piece, and growing copies
    // the memory into a new, larger block beside the old one (the last `--initial-heap`
    // counts).
    for bin in ["sysfuzz", "pressure"] {
        println!(
            "cargo::rustc-link-arg-bin={bin}=--initial-heap={}",
            4096 + 64
        );
    }
    // `compute`'s workload is also an export, which the bench calls with plain wasmi.
    println!("cargo::rustc-link-arg-bin=compute=--export=zb_compute");
    println!("cargo::rerun-if-changed=build.rs");
}
