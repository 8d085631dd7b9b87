//! The machine xtask runs on: the pinned toolchain's parts, QEMU and Chromium (from Debian).

use std::path::PathBuf;
use std::process::Command;

use crate::cli::Platform;

/// The toolchain's sysroot (`rustc --print sysroot`).
pub fn sysroot() -> Result<PathBuf, String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustc --print sysroot failed: {}\nInstall the pinned toolchain: run `rustup toolchain install` in the repository root.",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Checks that the pinned toolchain has what the build needs, and says how to get what is
/// missing. (A missing toolchain is reported by rustup itself before xtask can start, with
/// the same advice: `rustup toolchain install`.)
pub fn check_toolchain() -> Result<(), String> {
    let sysroot = sysroot()?;
    let rustlib = sysroot.join("lib/rustlib");
    let mut missing = Vec::new();
    for target in ["x86_64-unknown-none", "wasm32-unknown-unknown"] {
        if !rustlib.join(target).exists() {
            missing.push(format!("target {target}"));
        }
    }
    if !rustlib.join("src/rust/library/core").exists() {
        missing.push("component rust-src".into());
    }
    if llvm_tool("llvm-objcopy").is_err() {
        missing.push("component llvm-tools-preview".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the pinned toolchain lacks: {}.\nRun `rustup toolchain install` in the repository root (it installs everything rust-toolchain.toml lists).",
            missing.join(", ")
        ))
    }
}

/// Path of an LLVM tool shipped by `llvm-tools-preview`.
pub fn llvm_tool(name: &str) -> Result<PathBuf, String> {
    let rustlib = sysroot()?.join("lib/rustlib");
    let entries = std::fs::read_dir(&rustlib).map_err(|e| format!("{}: {e}", rustlib.display()))?;
    for entry in entries.flatten() {
        let candidate = entry.path().join("bin").join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "{name} not found: run `rustup component add llvm-tools-preview`"
    ))
}

pub fn qemu_binary(platform: Platform) -> &'static str {
    match platform {
        Platform::X86_64 => "qemu-system-x86_64",
        Platform::Stm32f4 => "qemu-system-arm",
        // The browser is its machine (see `ensure_apt` for Chromium).
        Platform::Web => "chromium",
    }
}

fn apt_packages(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::X86_64 => &["qemu-system-x86", "ovmf"],
        Platform::Stm32f4 => &["qemu-system-arm"],
        Platform::Web => &["chromium"],
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Makes sure QEMU for `platform` is installed: installs it with apt-get when running as root,
/// otherwise prints the exact command and fails.
pub fn ensure_qemu(platform: Platform) -> Result<(), String> {
    let need_ovmf = platform == Platform::X86_64 && crate::qemu::ovmf_code().is_none();
    if need_ovmf {
        install_apt(qemu_binary(platform), apt_packages(platform))
    } else {
        ensure_apt(qemu_binary(platform), apt_packages(platform))
    }
}

/// Makes sure `program` is installed: installs Debian's `packages` with apt-get when running
/// as root, otherwise prints the exact command and fails.
pub fn ensure_apt(program: &str, packages: &[&str]) -> Result<(), String> {
    if have(program) {
        return Ok(());
    }
    install_apt(program, packages)
}

fn install_apt(program: &str, packages: &[&str]) -> Result<(), String> {
    let command = format!("apt-get install -y {}", packages.join(" "));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        return Err(format!(
            "{program} (or a part of it) is not installed. Install it with:\n  sudo apt-get update && sudo {command}"
        ));
    }
    eprintln!("xtask: {program} not found; installing: {command}");
    let ok = Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    if ok && have(program) {
        Ok(())
    } else {
        Err(format!(
            "installing {program} failed; try: apt-get update && {command}"
        ))
    }
}
