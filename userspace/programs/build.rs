//! Link arguments for the programs, scoped to this package's binaries (so no other crate's
//! build, and no other wasm32 build, is affected):
//! - `--page-size=1`: 1-byte wasm pages (custom-page-sizes), so linear memory is exactly as
//!   large as the program needs instead of a multiple of 64 KiB. The kernel's wasmi enables
//!   the proposal; `memory.grow(n)` then grows by `n` bytes.
//! - `-zstack-size=4096`: a 4 KiB shadow stack (the default is 1 MiB). Initial memory is then
//!   stack + static data, which wasm-ld sizes exactly.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "wasm32-unknown-unknown" {
        panic!(
            "zb-programs builds only for wasm32-unknown-unknown (got `{target}`); \
             `cargo xtask build` builds it"
        );
    }
    println!("cargo::rustc-link-arg-bins=--page-size=1");
    println!("cargo::rustc-link-arg-bins=-zstack-size={}", 4096);
    println!("cargo::rerun-if-changed=build.rs");
}
