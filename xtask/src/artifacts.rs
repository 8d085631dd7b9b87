//! Building things: the programs and the boot archive, kernel ELFs, disk images, the
//! flashable firmware, and `check`.
//!
//! Every kernel build starts with the boot archive (`target/zerobus/bootfs.img`): the wasm
//! programs of `userspace/programs` as `/bin/<name>` plus the files under
//! `userspace/programs/rootfs/`. It reaches the x86_64 kernel as the bootloader's ramdisk
//! (added to the disk images) and the STM32F4 kernel embedded in flash (`boot/stm32f4/build.rs`
//! copies the file named by `ZB_BOOTFS`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cli::{Args, Platform};

/// How to build a kernel.
#[derive(Debug, Clone, Copy)]
pub struct BuildOpts {
    pub release: bool,
    /// Compile in test-only hooks (the `panic` command). Tests only, never shipped.
    pub test_hooks: bool,
    /// STM32F4: build for QEMU's netduinoplus2 model instead of a real board.
    pub qemu: bool,
}

pub const X86_TARGET: &str = "x86_64-unknown-none";
pub const ARM_TARGET: &str = "thumbv7em-none-eabihf";
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile programs are built with (root Cargo.toml: size-optimised, LTO,
/// stripped). Link arguments (1-byte pages, 4 KiB stack) come from the package's build.rs.
const PROGRAMS_PROFILE: &str = "wasm-release";
/// The package holding the programs, one `[[bin]]` per `src/bin/<name>.rs`.
const PROGRAMS_DIR: &str = "userspace/programs";
/// rust-std for thumbv7em is not shipped for the pinned nightly: build core and alloc.
const BUILD_STD: [&str; 2] = [
    "-Zbuild-std=core,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

pub fn run_checked(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("command failed ({status}): {cmd:?}"))
    }
}

fn profile_dir(opts: &BuildOpts) -> &'static str {
    if opts.release { "release" } else { "debug" }
}

/// A built program.
pub struct Program {
    pub name: String,
    pub wasm: PathBuf,
}

/// Builds every program of `userspace/programs` for wasm32; returns them by name.
pub fn build_programs() -> Result<Vec<Program>, String> {
    run_checked(cargo().args([
        "build",
        "--profile",
        PROGRAMS_PROFILE,
        "--target",
        WASM_TARGET,
        "--package",
        "zb-programs",
    ]))?;
    let bin_dir = root().join(PROGRAMS_DIR).join("src/bin");
    let out_dir = target_dir().join(WASM_TARGET).join(PROGRAMS_PROFILE);
    let mut programs = Vec::new();
    for entry in read_dir_sorted(&bin_dir)? {
        let Some(name) = entry
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".rs"))
        else {
            continue;
        };
        let wasm = out_dir.join(format!("{name}.wasm"));
        if !wasm.is_file() {
            return Err(format!(
                "{} was not built (is `{name}` a [[bin]] of {PROGRAMS_DIR}/Cargo.toml?)",
                wasm.display()
            ));
        }
        programs.push(Program {
            name: name.to_string(),
            wasm,
        });
    }
    Ok(programs)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    paths.sort();
    Ok(paths)
}

/// Adds every file under `dir` to `files`, at its path relative to `root`.
fn add_tree(root: &Path, dir: &Path, files: &mut Vec<crate::bootfs::File>) -> Result<(), String> {
    for path in read_dir_sorted(dir)? {
        if path.is_dir() {
            add_tree(root, &path, files)?;
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        let Some(parts) = parts else {
            return Err(format!("{}: path is not UTF-8", path.display()));
        };
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(crate::bootfs::File {
            path: format!("/{}", parts.join("/")),
            data,
        });
    }
    Ok(())
}

/// Builds the programs and the kernel's host example `name` (release); the example's path and
/// the directory of the programs' wasm files (what the examples are run with).
pub fn kernel_example(name: &str) -> Result<(PathBuf, PathBuf), String> {
    kernel_example_with(name, None)
}

/// [`kernel_example`] with the kernel's cargo `feature` on: the binary is copied to
/// `<name>-<feature>` beside the plain one, so the two builds do not replace each other.
pub fn kernel_example_with(
    name: &str,
    feature: Option<&str>,
) -> Result<(PathBuf, PathBuf), String> {
    let programs = build_programs()?;
    let dir = programs
        .first()
        .and_then(|p| p.wasm.parent())
        .ok_or("no programs were built")?
        .to_path_buf();
    let mut build = cargo();
    build.args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "zb-kernel",
        "--example",
        name,
    ]);
    if let Some(feature) = feature {
        build.args(["--features", feature]);
    }
    run_checked(&mut build)?;
    let examples = target_dir().join("release/examples");
    let built = examples.join(name);
    let Some(feature) = feature else {
        return Ok((built, dir));
    };
    let copy = examples.join(format!("{name}-{feature}"));
    std::fs::copy(&built, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    Ok((copy, dir))
}

/// Builds the programs and `platform`'s boot archive, once per xtask run; returns its path.
pub fn boot_archive(platform: Platform) -> Result<PathBuf, String> {
    static ARCHIVES: [OnceLock<Result<PathBuf, String>>; 3] = [const { OnceLock::new() }; 3];
    let slot = match platform {
        Platform::X86_64 => 0,
        Platform::Stm32f4 => 1,
        Platform::Web => 2,
    };
    ARCHIVES[slot]
        .get_or_init(|| make_boot_archive(platform))
        .clone()
}

/// Programs the archives of platforms without a network leave out (the STM32F4, whose flash
/// is better spent, and the browser).
const NETWORK_PROGRAMS: &[&str] = &["nc", "ping", "tcpbench", "tftp"];
/// Programs only the PC's benchmarks run (the bus latency figure, and the host runbench's file
/// op), which the STM32F4's archive leaves out too: 16 KB of flash it needs more.
const PC_BENCH_PROGRAMS: &[&str] = &["buslat", "filebench"];
/// The test suites' hostile and load programs: the STM32F4's QEMU build carries them in a
/// second archive, in flash a board keeps /data and the journal in (boot/stm32f4/memory.x);
/// the board's firmware leaves them out (48 KB of flash the federation link needs).
pub const BOARD_TEST_PROGRAMS: &[&str] = &["hostile", "sysfuzz", "pressure", "memhog"];

/// The STM32F4 QEMU build's second archive: [`BOARD_TEST_PROGRAMS`].
pub fn board_test_archive() -> Result<PathBuf, String> {
    static ARCHIVE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let mut files = Vec::new();
            for p in build_programs()? {
                if BOARD_TEST_PROGRAMS.contains(&p.name.as_str()) {
                    let data =
                        std::fs::read(&p.wasm).map_err(|e| format!("{}: {e}", p.wasm.display()))?;
                    files.push(crate::bootfs::File {
                        path: format!("/bin/{}", p.name),
                        data,
                    });
                }
            }
            write_archive(&files, "bootfs-stm32f4-tests.img")
        })
        .clone()
}

fn make_boot_archive(platform: Platform) -> Result<PathBuf, String> {
    let mut files = Vec::new();
    for p in build_programs()? {
        if platform != Platform::X86_64 && NETWORK_PROGRAMS.contains(&p.name.as_str()) {
            continue;
        }
        if platform == Platform::Stm32f4
            && (PC_BENCH_PROGRAMS.contains(&p.name.as_str())
                || BOARD_TEST_PROGRAMS.contains(&p.name.as_str()))
        {
            continue;
        }
        let data = std::fs::read(&p.wasm).map_err(|e| format!("{}: {e}", p.wasm.display()))?;
        files.push(crate::bootfs::File {
            path: format!("/bin/{}", p.name),
            data,
        });
    }
    let rootfs = root().join(PROGRAMS_DIR).join("rootfs");
    add_tree(&rootfs, &rootfs, &mut files)?;
    write_archive(
        &files,
        match platform {
            Platform::X86_64 => "bootfs.img",
            Platform::Stm32f4 => "bootfs-stm32f4.img",
            Platform::Web => "bootfs-web.img",
        },
    )
}

/// Writes `files` as the archive `target/zerobus/<name>`.
fn write_archive(files: &[crate::bootfs::File], name: &str) -> Result<PathBuf, String> {
    let bytes = crate::bootfs::encode(files)?;
    let dir = target_dir().join("zerobus");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    // Rewrite only on change: the STM32F4 firmware is rebuilt when the file changes.
    if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eprintln!(
        "xtask: boot archive {}: {} files, {} bytes",
        path.display(),
        files.len(),
        bytes.len()
    );
    Ok(path)
}

/// Builds the kernel ELF for `platform` (programs and boot archive first); returns its path.
pub fn build_kernel(platform: Platform, opts: &BuildOpts) -> Result<PathBuf, String> {
    let archive = boot_archive(platform)?;
    let mut cmd = cargo();
    cmd.arg("build");
    // Release STM32F4 builds use the size-optimised `firmware` profile (see Cargo.toml).
    let profile = match (opts.release, platform) {
        (true, Platform::Stm32f4) => "firmware",
        (true, Platform::X86_64) => "release",
        (true, Platform::Web) => "web",
        (false, _) => "dev",
    };
    cmd.args(["--profile", profile]);
    let mut features = Vec::new();
    if opts.test_hooks {
        features.push("test-hooks");
    }
    let (package, target, bin) = match platform {
        Platform::X86_64 => ("zb-boot-x86_64", X86_TARGET, "zerobus-x86_64"),
        Platform::Stm32f4 => {
            cmd.args(BUILD_STD);
            // Embedded in flash by boot/stm32f4/build.rs.
            cmd.env("ZB_BOOTFS", &archive);
            if opts.qemu {
                features.push("qemu");
                cmd.env("ZB_BOOTFS_TESTS", board_test_archive()?);
            } else {
                cmd.env_remove("ZB_BOOTFS_TESTS");
            }
            ("zb-boot-stm32f4", ARM_TARGET, "zerobus-stm32f4")
        }
        Platform::Web => {
            // Embedded in the module by boot/web/build.rs.
            cmd.env("ZB_BOOTFS", &archive);
            // wasmi's loop dispatch. Its tail-call dispatch needs real tail calls, which
            // wasm32 has with `+tail-call` (`return_call`), but LLVM does not turn every
            // handler's dispatch into one (`consume_fuel` and the store handlers call the
            // next handler): a long fuel slice then grows the browser's stack per wasm
            // instruction until V8 stops it ("Maximum call stack size exceeded") — what
            // the `portable-dispatch` feature already avoids on the bare-metal targets.
            // `ZB_WEB_DISPATCH=tail-call` builds that variant, for measuring it. Its own
            // target directory: the flag would otherwise rebuild on every switch.
            if web_tail_call() {
                cmd.env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                    "-C target-feature=+tail-call",
                );
            } else {
                features.push("portable-dispatch");
            }
            cmd.arg("--target-dir").arg(web_target_dir());
            ("zb-boot-web", WASM_TARGET, "zb_boot_web.wasm")
        }
    };
    cmd.args(["--package", package, "--target", target]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    run_checked(&mut cmd)?;
    let out_dir = if profile == "dev" { "debug" } else { profile };
    let base = if platform == Platform::Web {
        web_target_dir()
    } else {
        target_dir()
    };
    Ok(base.join(target).join(out_dir).join(bin))
}

/// Whether the web kernel is built with wasmi's tail-call dispatch (`ZB_WEB_DISPATCH=tail-call`)
/// rather than its loop dispatch (the default; see [`build_kernel`] for why).
pub fn web_tail_call() -> bool {
    std::env::var("ZB_WEB_DISPATCH").is_ok_and(|v| v == "tail-call")
}

/// Where the web kernel is built (see [`build_kernel`]).
fn web_target_dir() -> PathBuf {
    let flavour = if web_tail_call() {
        "web-tail-call"
    } else {
        "web"
    };
    target_dir().join(flavour)
}

pub struct Images {
    pub bios: PathBuf,
    pub uefi: PathBuf,
}

/// Builds the x86_64 kernel and wraps it into BIOS and UEFI disk images, with the boot
/// archive as the bootloader's ramdisk.
pub fn build_images(opts: &BuildOpts) -> Result<Images, String> {
    let kernel = build_kernel(Platform::X86_64, opts)?;
    let archive = boot_archive(Platform::X86_64)?;
    let flavour = if opts.test_hooks { "-test" } else { "" };
    let dir = target_dir()
        .join("zerobus")
        .join(format!("x86_64-{}{flavour}", profile_dir(opts)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let images = Images {
        bios: dir.join("zerobus-bios.img"),
        uefi: dir.join("zerobus-uefi.img"),
    };

    // The bootloader copies the whole kernel ELF from disk through the firmware before the
    // kernel starts; with debug info (~17 MB) that alone took ~10 s under TCG. The image
    // gets a stripped copy; the ELF with symbols stays in target/ for gdb.
    let stripped = dir.join("kernel.stripped.elf");
    let objcopy = crate::env::llvm_tool("llvm-objcopy")?;
    run_checked(
        Command::new(objcopy)
            .arg("--strip-debug")
            .arg(&kernel)
            .arg(&stripped),
    )?;
    let kernel = stripped;

    // The console belongs to the OS: no bootloader chatter on serial or screen.
    let mut config = bootloader::BootConfig::default();
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    bootloader::BiosBoot::new(&kernel)
        .set_boot_config(&config)
        .set_ramdisk(&archive)
        .create_disk_image(&images.bios)
        .map_err(|e| format!("creating the BIOS image: {e:#}"))?;
    bootloader::UefiBoot::new(&kernel)
        .set_boot_config(&config)
        .set_ramdisk(&archive)
        .create_disk_image(&images.uefi)
        .map_err(|e| format!("creating the UEFI image: {e:#}"))?;
    Ok(images)
}

/// Everything the QEMU-based commands (test, bench) boot, built with `opts`.
pub struct QemuTargets {
    pub bios: PathBuf,
    pub uefi: PathBuf,
    pub stm32: PathBuf,
    /// The browser page, served on 127.0.0.1, and the driver that boots it in Chromium (when
    /// asked for: see [`build_for_qemu`]).
    pub web: Option<(crate::web::Server, PathBuf)>,
}

impl QemuTargets {
    pub fn boot(&self, platform: Platform) -> crate::qemu::Boot {
        match platform {
            Platform::X86_64 => crate::qemu::Boot::x86_64(self.bios.clone(), false),
            Platform::Stm32f4 => crate::qemu::Boot::stm32f4(self.stm32.clone()),
            Platform::Web => match &self.web {
                Some((server, driver)) => crate::qemu::Boot::web(server.url(), driver.clone()),
                // A suite for the web platform runs only when the site was built.
                None => crate::qemu::Boot::web(String::from("about:blank"), PathBuf::new()),
            },
        }
    }
}

/// Makes sure QEMU is installed for both platforms and builds both platforms' images; with
/// `web`, also builds the browser site, serves it on a free 127.0.0.1 port and installs the
/// browser driver (and Chromium).
pub fn build_for_qemu(opts: &BuildOpts, web: bool) -> Result<QemuTargets, String> {
    crate::env::ensure_qemu(Platform::X86_64)?;
    crate::env::ensure_qemu(Platform::Stm32f4)?;
    let images = build_images(opts)?;
    let stm32 = build_kernel(Platform::Stm32f4, opts)?;
    let web = if web {
        let site = crate::web::build_site(opts)?;
        let driver = crate::web::driver()?;
        Some((crate::web::Server::start(site, 0)?, driver))
    } else {
        None
    };
    Ok(QemuTargets {
        bios: images.bios,
        uefi: images.uefi,
        stm32,
        web,
    })
}

/// The STM32F4 firmware for a real board: ELF (for probe-rs) and raw .bin (for other
/// flashers, to be written at 0x0800_0000).
pub struct Firmware {
    pub elf: PathBuf,
    pub bin: PathBuf,
}

pub fn build_firmware(opts: &BuildOpts) -> Result<Firmware, String> {
    let elf = build_kernel(
        Platform::Stm32f4,
        &BuildOpts {
            qemu: false,
            ..*opts
        },
    )?;
    let dir = target_dir()
        .join("zerobus")
        .join(format!("stm32f4-{}", profile_dir(opts)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bin = dir.join("zerobus-stm32f4.bin");
    let objcopy = crate::env::llvm_tool("llvm-objcopy")?;
    run_checked(
        Command::new(objcopy)
            .args(["-O", "binary"])
            .arg(&elf)
            .arg(&bin),
    )?;
    let fw_elf = dir.join("zerobus-stm32f4.elf");
    std::fs::copy(&elf, &fw_elf).map_err(|e| format!("copying {}: {e}", elf.display()))?;
    Ok(Firmware { elf: fw_elf, bin })
}

pub fn flash(args: &Args) -> Result<(), String> {
    let fw = build_firmware(&BuildOpts {
        release: !args.debug,
        test_hooks: false,
        qemu: false,
    })?;
    println!(
        "firmware: {}\n          {}",
        fw.elf.display(),
        fw.bin.display()
    );
    if args.no_flash {
        return Ok(());
    }
    let have_probe_rs = Command::new("probe-rs")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_probe_rs {
        return Err("probe-rs is not installed. Install it with:\n  cargo install probe-rs-tools --locked\nthen run `cargo xtask flash` again (or flash the .bin above at 0x08000000 with any tool).".into());
    }
    // `probe-rs run` flashes, resets and then streams semihosting/RTT output until Ctrl-C; the
    // shell itself is on USART1 (PA9 TX / PA10 RX, 115200 8N1).
    run_checked(
        Command::new("probe-rs")
            .args(["run", "--chip", &args.chip])
            .arg(&fw.elf),
    )
}

/// rustfmt and clippy (warnings are errors) for every target the code builds for.
pub fn check() -> Result<(), String> {
    run_checked(cargo().args(["fmt", "--all", "--", "--check"]))?;
    let deny = ["--", "-D", "warnings"];
    // Host: the platform-free crates and xtask, including their tests.
    run_checked(cargo().args(["clippy", "--all-targets"]).args(deny))?;
    // Bare metal: x86_64, and Cortex-M4F both for the QEMU model and for a real board.
    let bare_metal: [(&str, &str, &[&str], &str); 3] = [
        (X86_TARGET, "zb-boot-x86_64", &[], "test-hooks"),
        (ARM_TARGET, "zb-boot-stm32f4", &BUILD_STD, "qemu,test-hooks"),
        (ARM_TARGET, "zb-boot-stm32f4", &BUILD_STD, "test-hooks"),
    ];
    for (target, package, extra, features) in bare_metal {
        run_checked(
            cargo()
                .args([
                    "clippy",
                    "--release",
                    "--target",
                    target,
                    "--package",
                    package,
                ])
                .args(extra)
                .args(["--features", features])
                .args(deny),
        )?;
    }
    // wasm32: the browser platform (its HAL and board, which pull in the kernel, the shell
    // and the services), built as xtask builds it; the SDK and the programs are wasm32 code.
    run_checked(
        cargo()
            .args(["clippy", "--target", WASM_TARGET])
            .args(["--package", "zb-boot-web", "--package", "zb-hal-web"])
            .args(["--package", "zb-kernel", "--package", "zb-shell"])
            .args(["--package", "zb-console", "--package", "zb-abi"])
            .args(["--package", "zb-hal"])
            .args([
                "--features",
                "zb-boot-web/test-hooks,zb-boot-web/portable-dispatch",
            ])
            .args(deny),
    )?;
    // The programs on their own: checked beside the kernel, they would get the features the
    // kernel asks of shared crates (zb-json's `alloc`), which a program without an allocator
    // cannot link.
    run_checked(
        cargo()
            .args(["clippy", "--target", WASM_TARGET])
            .args(["--package", "zb-sdk", "--package", "zb-programs"])
            .args(deny),
    )?;
    println!(
        "check: rustfmt and clippy clean on host, {X86_TARGET}, {ARM_TARGET} and wasm32-unknown-unknown"
    );
    Ok(())
}
