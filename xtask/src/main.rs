//! `cargo xtask`: build, image, run, test, bench, flash and check ZeroBus OS.
//!
//! Everything a developer or CI does goes through here, so that the README's two commands
//! (`cargo xtask run`, `cargo xtask test`) are the whole set-up.

mod artifacts;
mod bench;
mod bootfs;
mod cli;
mod env;
mod federation;
mod fuzz;
mod harness;
mod http;
mod nats;
mod qemu;
mod suites;
mod sysfuzz;
mod web;

use std::process::ExitCode;

use cli::{Args, Platform};

const HELP: &str = "\
cargo xtask <command> [options]

commands:
  build     build the programs, the boot archive and the kernel for a platform (ELF)
  image     build the x86_64 BIOS and UEFI disk images
  run       build and boot in QEMU; the terminal is the serial console (Ctrl-A X quits);
            --platform web: build and serve the browser page on 127.0.0.1 (open its URL)
  test      host unit tests, the syscall fuzzer on the host kernel, parser fuzzing (a
            few seconds a target), then QEMU integration tests on every platform
  web       the same as `run --platform web`
  nats      a local nats-server for federation (installed from Debian when missing): client
            port 4222 (`--port N`), websocket N+1, monitoring 8222, JetStream on;
            127.0.0.1 only
  check     rustfmt and clippy for the host, x86_64, thumbv7em and wasm32
  flash     build the STM32F4 firmware and flash it with probe-rs
  bench     benchmarks (boot-to-prompt time), written to target/bench/
  fuzz      run the libFuzzer parser targets (fuzz/), installing cargo-fuzz if missing,
            then the syscall fuzzer
  help      this text

options:
  --platform x86_64|stm32f4|web  target platform (default x86_64)
  --port N                    run --platform web: the port on 127.0.0.1 (default 8080)
  --screenshot FILE           run --platform web: save the page at its first prompt as a
                              PNG (headless Chromium) instead of serving it
  --uefi                      x86_64: boot the UEFI image instead of BIOS
  --disk PATH                 run, x86_64: the data disk (/data), a raw image; created
                              (16 MiB of zeros) if missing (default target/zerobus/data.img);
                              the event journal's disk is PATH.journal beside it (4 MiB)
  --debug                     build the kernel with the debug profile (default release)
  --chip NAME                 flash: probe-rs chip name (default STM32F405RGTx)
  --no-flash                  flash: build the ELF and .bin, do not touch a probe
  --boots N                   bench: boots per platform (default 5)
  --only NAME                 test: run only integration suites whose name contains NAME;
                              bench: `--only net` runs only the network figures
  --no-unit                   test: skip the host unit tests and the syscall fuzzer
  --no-fuzz                   test: skip the parser fuzzing step
  --target NAME               fuzz: one target (default every one; `syscalls` is the
                              syscall fuzzer: seeded wasm runs against the host kernel)
  --time S                    fuzz: seconds per target (default 60)
  --seed N                    fuzz: libFuzzer's random seed; `syscalls`: the first seed
  --jobs N                    fuzz: targets run side by side (default 1)
  --small                     fuzz, `syscalls`: board mode — the STM32F4's limits and its
                              120 KiB kernel heap emulated (an allocation failure there is
                              reported with a backtrace)
";

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("xtask: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "build" => env::check_toolchain()
            .and_then(|_| artifacts::build_kernel(args.platform, &args.build_opts()).map(|_| ())),
        "image" => env::check_toolchain()
            .and_then(|_| artifacts::build_images(&args.build_opts()).map(|_| ())),
        "run" => run(&args),
        // The browser platform's own word for it (DESIGN.md lists a `web` command).
        "web" => env::check_toolchain()
            .and_then(|_| web::run(&args.build_opts(), args.port, &args.web_query())),
        "nats" => nats::run(
            if args.port == 8080 { 4222 } else { args.port },
            args.nats_credentials.as_deref(),
        ),
        // QEMU runs this per guest connection to nats-server (see qemu::Network::nats).
        "relay" => nats::relay(args.relay_to.as_deref().unwrap_or("127.0.0.1:4222")),
        "test" => suites::run_all(&args),
        "check" => env::check_toolchain().and_then(|_| artifacts::check()),
        "flash" => env::check_toolchain().and_then(|_| artifacts::flash(&args)),
        "bench" => bench::run(&args),
        "fuzz" => fuzz::run(&args.fuzz_opts()),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!(
            "unknown command `{other}` (try `cargo xtask help`)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The host port (127.0.0.1) `cargo xtask run` forwards to the OS's HTTP status port 80.
const STATUS_PORT: u16 = 5580;

fn run(args: &Args) -> Result<(), String> {
    env::check_toolchain()?;
    let opts = args.build_opts();
    if args.platform == Platform::Web {
        return match &args.screenshot {
            Some(file) => web::screenshot(&opts, file),
            None => web::run(&opts, args.port, &args.web_query()),
        };
    }
    env::ensure_qemu(args.platform)?;
    let boot = match args.platform {
        Platform::X86_64 => {
            let images = artifacts::build_images(&opts)?;
            let disk = args
                .disk
                .clone()
                .unwrap_or_else(|| artifacts::target_dir().join("zerobus/data.img"));
            if !disk.exists() {
                println!(
                    "xtask: new data disk {} (the OS formats it)",
                    disk.display()
                );
            }
            // The status server's port, on 127.0.0.1 only.
            // A second node on this machine finds the usual port taken: it gets another.
            let status = if std::net::TcpListener::bind(("127.0.0.1", STATUS_PORT)).is_ok() {
                STATUS_PORT
            } else {
                qemu::free_port()?
            };
            // What `tftp 10.0.2.2 <file>` in the OS fetches.
            let tftp = artifacts::target_dir().join("tftp");
            std::fs::create_dir_all(&tftp).map_err(|e| format!("{}: {e}", tftp.display()))?;
            println!(
                "xtask: network: QEMU user network (restricted); http://127.0.0.1:{status}/ reaches the OS's port 80; TFTP on 10.0.2.2 serves {}",
                tftp.display()
            );
            if let Some(server) = &args.nats {
                println!(
                    "xtask: federation: the node reaches nats-server {server} at {}",
                    qemu::NATS_GUEST
                );
            }
            let net = qemu::Network {
                hostfwd: vec![(status, 80)],
                tftp: Some(tftp),
                nats: args.nats.clone(),
                ..Default::default()
            };
            qemu::Boot::x86_64(if args.uefi { images.uefi } else { images.bios }, args.uefi)
                .with_disk(&disk)?
                .with_network(&net)
                .with_boot_args(&args.boot_args())
        }
        Platform::Stm32f4 => {
            let mut boot = qemu::Boot::stm32f4(artifacts::build_kernel(Platform::Stm32f4, &opts)?)
                .with_boot_args(&args.boot_args());
            if let Some(server) = &args.nats {
                let port = server
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse().ok())
                    .ok_or_else(|| format!("--nats {server}: no port"))?;
                println!(
                    "xtask: federation: the board's USART2 is connected to nats-server {server}"
                );
                boot = boot.with_nats_serial(port);
            }
            boot
        }
        Platform::Web => return Err("the web platform is served, not booted in QEMU".into()),
    };
    let status = boot.run_interactive()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("QEMU exited with {status}"))
    }
}
