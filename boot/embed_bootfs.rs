// The boot archive for a board that embeds it (`include!`d by boot/*/build.rs): copies the
// file `$ZB_BOOTFS` names (set by `cargo xtask`) to `$OUT_DIR/bootfs.img`, where the board's
// source `include_bytes!` it, or writes an empty archive when the variable is unset (a kernel
// without programs: it says "boot files: none").

fn embed_bootfs(out: &std::path::Path) {
    embed_archive(out, "ZB_BOOTFS", "bootfs.img");
}

/// Copies the archive the environment variable `var` names to `$OUT_DIR/<name>` (empty when
/// unset).
fn embed_archive(out: &std::path::Path, var: &str, name: &str) {
    let archive = out.join(name);
    println!("cargo:rerun-if-env-changed={var}");
    match std::env::var_os(var) {
        Some(src) => {
            let src = std::path::PathBuf::from(src);
            println!("cargo:rerun-if-changed={}", src.display());
            if let Err(e) = std::fs::copy(&src, &archive) {
                panic!("{var}={}: {e}", src.display());
            }
        }
        None => std::fs::write(&archive, []).expect("write an empty boot archive"),
    }
}
