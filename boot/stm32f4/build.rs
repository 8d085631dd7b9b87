//! Puts memory.x where cortex-m-rt's link.x finds it, and the boot archive where `main.rs`
//! embeds it (see `../embed_bootfs.rs`).
use std::path::PathBuf;

include!("../embed_bootfs.rs");

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    embed_bootfs(&out);
    // The QEMU build's test programs, in flash sectors 1-3 (memory.x).
    embed_archive(&out, "ZB_BOOTFS_TESTS", "bootfs-tests.img");
}
