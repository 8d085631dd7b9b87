//! Puts the boot archive where `lib.rs` embeds it: `$OUT_DIR/bootfs.img` is a copy of the
//! file `$ZB_BOOTFS` names (set by `cargo xtask`), or empty when the variable is unset.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let archive = out.join("bootfs.img");
    println!("cargo:rerun-if-env-changed=ZB_BOOTFS");
    match std::env::var_os("ZB_BOOTFS") {
        Some(src) => {
            let src = PathBuf::from(src);
            println!("cargo:rerun-if-changed={}", src.display());
            if let Err(e) = std::fs::copy(&src, &archive) {
                panic!("ZB_BOOTFS={}: {e}", src.display());
            }
        }
        None => std::fs::write(&archive, []).expect("write an empty boot archive"),
    }
}
