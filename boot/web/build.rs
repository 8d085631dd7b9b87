//! Puts the boot archive where `lib.rs` embeds it (see `../embed_bootfs.rs`).
use std::path::PathBuf;

include!("../embed_bootfs.rs");

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    embed_bootfs(&out);
}
