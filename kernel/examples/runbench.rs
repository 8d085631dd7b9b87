//! Host benchmark of the run kernel core, side by side with Linux in the same process run:
//!
//! - channel round trip between two wasm runs (`pingpong`/`pong`) vs a pipe round trip between
//!   two Linux processes (this binary re-executed as an echo child);
//! - spawn-to-exit of `hello` vs `posix_spawn` + wait of `/bin/true` (Rust's `Command` uses
//!   `posix_spawn` on Linux when it can);
//! - one open/read/close of a small ramfs file by a wasm run, through the kernel's router and
//!   the vfs service, vs the same three calls on a Linux tmpfs file (`/dev/shm`).
//!
//! - compute: `compute`'s CPU-bound workload (CoreMark-style) as a run of the kernel core vs
//!   the same module's `zb_compute` export called with plain wasmi, configured as the kernel
//!   configures it (fuel metering on, eager compilation), and with wasmi's defaults (no fuel):
//!   the kernel's overhead on pure compute (fuel slices, scheduling).
//!
//! Usage: `runbench <dir with hello.wasm, pingpong.wasm, pong.wasm, …> [rounds]`; prints one JSON
//! object (`cargo xtask bench` runs it and prints the ratios). Not a test: no thresholds here.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use zb_kernel::{Event, Kernel, KernelConfig};

mod common;
use common::host_clock;

fn kernel(dir: &str) -> Kernel {
    let clock = host_clock();
    let mut k = Kernel::new(clock, KernelConfig::large(&[]));
    k.add_service("bench");
    for name in ["hello", "pingpong", "pong", "filebench", "compute"] {
        let path = format!("{dir}/{name}.wasm");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let key: &'static str = Box::leak(format!("/bin/{name}").into_boxed_str());
        k.install(key, Box::leak(bytes.into_boxed_slice()));
    }
    k
}

/// Runs until nothing is ready; returns the exit events seen.
fn run_to_idle(k: &mut Kernel) -> usize {
    let mut exits = 0;
    loop {
        let ran = k.step();
        while let Some(e) = k.take_event() {
            if let Event::Exited(_) = e {
                exits += 1;
            }
        }
        if !ran && k.next_deadline().is_none() {
            return exits;
        }
    }
}

fn spawn(k: &mut Kernel, name: &str, args: &[&str]) {
    let mut packed = Vec::new();
    for a in args {
        packed.extend_from_slice(a.as_bytes());
        packed.push(0);
    }
    if let Err((e, _)) = k.spawn(1, name, packed, Vec::new()) {
        panic!("spawn {name}: {e:?}");
    }
}

/// Nanoseconds per spawn-to-exit of `hello`.
fn zb_spawn(dir: &str, n: usize) -> f64 {
    let mut k = kernel(dir);
    spawn(&mut k, "hello", &[]); // warm-up
    run_to_idle(&mut k);
    let start = Instant::now();
    for _ in 0..n {
        spawn(&mut k, "hello", &[]);
        assert_eq!(run_to_idle(&mut k), 1);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Nanoseconds per channel round trip: (pingpong with `n` trips − pingpong with 1) / (n − 1).
fn zb_round_trip(dir: &str, n: usize) -> f64 {
    let mut k = kernel(dir);
    let mut time = |trips: usize| {
        let arg = trips.to_string();
        let start = Instant::now();
        spawn(&mut k, "pingpong", &[&arg]);
        run_to_idle(&mut k);
        start.elapsed().as_nanos() as f64
    };
    time(10); // warm-up
    let one = time(1);
    let many = time(n);
    (many - one) / (n - 1) as f64
}

/// Iterations of `compute` per measurement (a few tens of ms on a PC).
const COMPUTE_ITERATIONS: u32 = 2000;

/// Nanoseconds per `compute` iteration as a run: (compute n − compute 1) / (n − 1), and the
/// CRC it printed.
fn zb_compute(dir: &str, n: u32) -> (f64, String) {
    let mut k = kernel(dir);
    let mut time = |iterations: u32| {
        let arg = iterations.to_string();
        let start = Instant::now();
        spawn(&mut k, "compute", &[&arg]);
        let mut printed = String::new();
        loop {
            let ran = k.step();
            while let Some(e) = k.take_event() {
                if let Event::Output { bytes, .. } = e {
                    printed.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            if !ran && k.next_deadline().is_none() {
                break;
            }
        }
        (start.elapsed().as_nanos() as f64, printed)
    };
    time(10); // warm-up
    let (one, _) = time(1);
    let (many, printed) = time(n);
    let crc = printed
        .split("crc ")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("compute printed {printed:?}"));
    ((many - one) / f64::from(n - 1), crc)
}

/// Nanoseconds per `compute` iteration with plain wasmi (every import a stub: the export
/// calls none), with fuel metering as the kernel has it or with wasmi's defaults; the CRC.
fn wasmi_compute(dir: &str, n: u32, metered: bool) -> (f64, String) {
    use wasmi::{CompilationMode, Config, Engine, Linker, Module, Store, Val};
    let path = format!("{dir}/compute.wasm");
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut config = Config::default();
    config.wasm_custom_page_sizes(true);
    if metered {
        config
            .consume_fuel(true)
            .compilation_mode(CompilationMode::Eager);
    }
    let engine = Engine::new(&config);
    let module = Module::new(&engine, &wasm).expect("compile compute.wasm");
    let mut linker = Linker::<()>::new(&engine);
    for import in module.imports() {
        if let wasmi::ExternType::Func(ty) = import.ty() {
            let results: Vec<_> = ty.results().to_vec();
            linker
                .func_new(
                    import.module(),
                    import.name(),
                    ty.clone(),
                    move |_, _, out| {
                        for (slot, ty) in out.iter_mut().zip(&results) {
                            *slot = Val::default_for_ty(*ty);
                        }
                        Ok(())
                    },
                )
                .expect("stub import");
        }
    }
    let mut store = Store::new(&engine, ());
    if metered {
        store.set_fuel(u64::MAX).expect("fuel is on");
    }
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .expect("instantiate compute.wasm");
    let compute = instance
        .get_typed_func::<(u32, u32), u32>(&store, "zb_compute")
        .expect("compute.wasm exports zb_compute");
    compute.call(&mut store, (10, 0x66)).expect("warm-up");
    let start = Instant::now();
    let crc = compute.call(&mut store, (n, 0x66)).expect("zb_compute");
    (
        start.elapsed().as_nanos() as f64 / f64::from(n),
        crc.to_string(),
    )
}

/// The small file both sides read.
const MOTD: &[u8] = b"Welcome to ZeroBus OS.\nPrograms live in /bin.\n";

/// The host as the vfs service sees it here: the kernel's registry, a boot archive with
/// `/etc/motd`, no block device.
struct BenchHost<'k> {
    k: &'k mut Kernel,
    archive: &'static [u8],
}

impl zb_abi::Console for BenchHost<'_> {
    fn console_write(&mut self, _: &[u8]) {}
}

impl zb_abi::System for BenchHost<'_> {
    fn clock_us(&self) -> u64 {
        0
    }
    fn cycles(&self) -> u64 {
        0
    }
    fn sysinfo(&self) -> zb_abi::SysInfo {
        zb_abi::SysInfo {
            version: "bench",
            platform: "host",
            machine: "host",
            profile: "release",
            boot_us: 0,
        }
    }
    fn meminfo(&self) -> zb_abi::MemInfo {
        let mut m = zb_abi::MemInfo::default();
        m.heap.total = 64 << 20;
        m.heap.free = 64 << 20;
        m
    }
    fn boot_archive(&self) -> &'static [u8] {
        self.archive
    }
}

impl zb_abi::Schemes for BenchHost<'_> {
    fn register_scheme(
        &mut self,
        scheme: &'static str,
        kind: zb_abi::kind::KindId,
    ) -> Result<(), zb_abi::Error> {
        self.k.register_scheme(VFS_PID, scheme, kind)
    }
}

// The vfs, served here, uses none of these.
impl zb_abi::Files for BenchHost<'_> {}
impl zb_abi::Runs for BenchHost<'_> {}
impl zb_abi::Bus for BenchHost<'_> {}
impl zb_abi::Admin for BenchHost<'_> {}

const VFS_PID: zb_abi::Pid = 2;

/// A boot archive holding `/etc/motd` (the `zb_abi::bootfs` format).
fn archive() -> &'static [u8] {
    let path = b"/etc/motd";
    let mut a = Vec::from(zb_abi::bootfs::MAGIC);
    a.extend_from_slice(&1u32.to_le_bytes());
    a.extend_from_slice(&(path.len() as u16).to_le_bytes());
    a.extend_from_slice(&(MOTD.len() as u32).to_le_bytes());
    a.extend_from_slice(path);
    a.extend_from_slice(MOTD);
    Box::leak(a.into_boxed_slice())
}

/// Runs until nothing is ready, handing requests to the vfs service.
fn run_with_vfs(k: &mut Kernel, vfs: &mut zb_vfs::VfsService, archive: &'static [u8]) {
    use zb_abi::NativeService;
    use zb_abi::scheme::{Answer, Request};
    use zb_kernel::request::OwnedReply;
    loop {
        let ran = k.step();
        while k.take_event().is_some() {}
        let mut served = false;
        while let Some(req) = k.take_request() {
            served = true;
            let reply = {
                let mut host = BenchHost {
                    k: &mut *k,
                    archive,
                };
                let request = Request {
                    id: req.id,
                    from: req.from,
                    op: req.op.as_op(),
                };
                match vfs.request(request, &mut host) {
                    Answer::Now(r) => OwnedReply::from(r),
                    Answer::Later => continue,
                }
            };
            k.complete(req.service, req.id, reply);
        }
        if !ran && !served && k.next_deadline().is_none() {
            return;
        }
    }
}

/// Nanoseconds per open/read/close of a ramfs file by a run: (filebench n − filebench 1)/(n−1).
fn zb_file(dir: &str, n: usize) -> f64 {
    use zb_abi::NativeService;
    let mut k = kernel(dir);
    assert_eq!(k.add_service("vfs"), VFS_PID);
    let archive = archive();
    let mut vfs = zb_vfs::VfsService::new(None);
    vfs.start(&mut BenchHost { k: &mut k, archive });
    let mut time = |count: usize| {
        let arg = count.to_string();
        let start = Instant::now();
        spawn(&mut k, "filebench", &[&arg]);
        run_with_vfs(&mut k, &mut vfs, archive);
        start.elapsed().as_nanos() as f64
    };
    time(10); // warm-up
    let one = time(1);
    let many = time(n);
    (many - one) / (n - 1) as f64
}

/// Nanoseconds per open/read/close of a small file on tmpfs (`/dev/shm`, else the temp dir).
fn linux_file(n: usize) -> f64 {
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("zb-runbench-{}", std::process::id()));
    std::fs::write(&path, MOTD).expect("write the tmpfs file");
    let mut buf = [0u8; 64];
    let mut once = || {
        let mut f = std::fs::File::open(&path).expect("open");
        let _ = f.read(&mut buf).expect("read");
    };
    for _ in 0..100 {
        once();
    }
    let start = Instant::now();
    for _ in 0..n {
        once();
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    let _ = std::fs::remove_file(&path);
    ns
}

fn linux_spawn(n: usize) -> f64 {
    let _ = Command::new("/bin/true").status();
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new("/bin/true").status().expect("spawn /bin/true");
        assert!(status.success());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn linux_round_trip(n: usize) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--echo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn echo child");
    let mut to = child.stdin.take().expect("piped");
    let mut from = child.stdout.take().expect("piped");
    let mut buf = [0u8; 4];
    let mut trip = |i: u32| {
        to.write_all(&i.to_le_bytes()).expect("write");
        from.read_exact(&mut buf).expect("read");
        assert_eq!(u32::from_le_bytes(buf), i + 1000);
    };
    for i in 0..100 {
        trip(i);
    }
    let start = Instant::now();
    for i in 0..n as u32 {
        trip(i);
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    drop(to);
    let _ = child.wait();
    ns
}

/// The pipe peer: answers each 4-byte message with `x + 1000`, as `pong` does.
fn echo() {
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut buf = [0u8; 4];
    while input.read_exact(&mut buf).is_ok() {
        let reply = u32::from_le_bytes(buf) + 1000;
        if output
            .write_all(&reply.to_le_bytes())
            .and_then(|_| output.flush())
            .is_err()
        {
            break;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--echo") {
        return echo();
    }
    let dir = args.get(1).expect("usage: runbench <wasm dir> [rounds]");
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let spawns = (rounds / 20).max(50);
    if std::env::var_os("RUNBENCH_PROFILE_SPAWN").is_some() {
        println!("{:.0} ns", zb_spawn(dir, rounds));
        return;
    }
    if std::env::var_os("RUNBENCH_PROFILE_FILE").is_some() {
        println!("{:.0} ns", zb_file(dir, rounds));
        return;
    }
    if std::env::var_os("RUNBENCH_PROFILE_COMPUTE").is_some() {
        println!("{:.0} ns", zb_compute(dir, COMPUTE_ITERATIONS).0);
        return;
    }
    if std::env::var_os("RUNBENCH_PROFILE_ROUND_TRIP").is_some() {
        println!("{:.0} ns", zb_round_trip(dir, rounds));
        return;
    }
    // Side by side: alternate the two sides so that noise hits both alike.
    let mut zb_rt = Vec::new();
    let mut lx_rt = Vec::new();
    let mut zb_sp = Vec::new();
    let mut lx_sp = Vec::new();
    let mut zb_f = Vec::new();
    let mut lx_f = Vec::new();
    let files = (rounds / 4).max(100);
    let (mut zb_c, mut wm_c, mut wd_c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let (zb, zb_crc) = zb_compute(dir, COMPUTE_ITERATIONS);
        let (metered, crc) = wasmi_compute(dir, COMPUTE_ITERATIONS, true);
        let (plain, _) = wasmi_compute(dir, COMPUTE_ITERATIONS, false);
        assert_eq!(
            zb_crc, crc,
            "the run and plain wasmi computed different things"
        );
        zb_c.push(zb);
        wm_c.push(metered);
        wd_c.push(plain);
        zb_f.push(zb_file(dir, files));
        lx_f.push(linux_file(files));
        zb_rt.push(zb_round_trip(dir, rounds));
        lx_rt.push(linux_round_trip(rounds));
        zb_sp.push(zb_spawn(dir, spawns));
        lx_sp.push(linux_spawn(spawns / 5));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{{\"round_trip_ns\": {:.0}, \"pipe_round_trip_ns\": {:.0}, \"spawn_ns\": {:.0}, \"posix_spawn_ns\": {:.0}, \"file_ns\": {:.0}, \"tmpfs_file_ns\": {:.0}, \"compute_ns\": {:.0}, \"wasmi_compute_ns\": {:.0}, \"wasmi_default_compute_ns\": {:.0}, \"rounds\": {rounds}, \"spawns\": {spawns}, \"files\": {files}}}",
        med(&mut zb_rt),
        med(&mut lx_rt),
        med(&mut zb_sp),
        med(&mut lx_sp),
        med(&mut zb_f),
        med(&mut lx_f),
        med(&mut zb_c),
        med(&mut wm_c),
        med(&mut wd_c)
    );
}
