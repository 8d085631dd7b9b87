//! Host harness of the syscall fuzzer (`userspace/programs/src/bin/sysfuzz.rs`): the kernel
//! core on the host, the vfs service behind it (so `file://` works), a RAM journal (so the bus
//! calls work), and for each seed `sysfuzz <seed> <calls>` beside a well-behaved run. It
//! checks, per seed:
//!
//! - the kernel never panics (a panic aborts this process after printing the seed);
//! - the other runs keep answering: `pingpong 20` is started again and again while sysfuzz
//!   lives, and every one ends with `ok(0)`;
//! - sysfuzz ends (any status; it prints no violation) within [`SEED_SECS`];
//! - once it has ended, the kernel heap (everything this process allocates, counted by a
//!   wrapping `#[global_allocator]`) is back at the baseline measured before the first seed,
//!   within [`TOLERANCE`] bytes. The baseline is taken after a warm-up that fills the caches
//!   a long-lived kernel keeps (compiled programs, the kernel log, the largest tables a run
//!   can make, by one `pressure hoard` and a few seeds), and every measurement is taken after
//!   [`KEEP_DONE`] runs of `hello`, so the table of finished runs and their recordings hold
//!   the same things each time.
//!
//! Board mode (`--small`): the STM32F4 as the fuzzer meets it there — `KernelConfig::small`,
//! sysfuzz run as `run --kmem 4K sysfuzz <seed> <calls> 4 512`, and the board's kernel heap
//! emulated by the allocator ([`Board`]: its size, its reserve, the headroom at the prompt).
//! An allocation that fails there without the kernel asking for it fallibly would be a kernel
//! panic on the board: it is reported with the seed, its size and a backtrace, and the process
//! exits 1 (set `SYSFUZZ_DEBUG=1` to see every refused allocation too, the fallible ones
//! included). Runs refused for want of heap are the expected outcome here: the neighbour may
//! be (counted per seed), sysfuzz may end `rejected: out of kernel memory`. The heap must come
//! back within [`TOLERANCE_SMALL`].
//!
//! Usage: `sysfuzz <wasm dir> [--seed N] [--seeds N] [--calls N] [--time S] [--small]
//! [--verbose]`:
//! seeds from N (default 1), `--seeds` of them (default 200), each making `--calls` calls
//! (default 2000); with `--time`, as many seeds as fit in S seconds instead. Prints a line every
//! 100 seeds (`--verbose`: a line per seed, with sysfuzz's summary) and a final line; exits 1
//! on the first failure, naming the seed. The kernel's state carries over from seed to seed
//! (as in a long-lived system), so a failure is reproduced by the same run from its first
//! seed; a seed alone usually, not always, fails the same way.

#![feature(alloc_error_hook)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zb_abi::NativeService;
use zb_abi::scheme::{Answer, Request};
use zb_hal::{Clock, Console, Cpu, HeapStats, MemoryReport, Platform, Power};
use zb_kernel::config::KEEP_DONE;
use zb_kernel::request::OwnedReply;
use zb_kernel::run::ExitStatus;
use zb_kernel::{Event, Kernel, KernelConfig, KernelHost, RunOptions};

mod common;
use common::host_clock;

/// How far the heap may be from its baseline once a seed's runs have ended, in bytes. Measured
/// over 3000 seeds: 2.5 KiB on average and at most 4.0 KiB above the baseline, flat after the
/// first few hundred seeds (what varies is bounded: the kernel log's lines differ in length —
/// it is bounded in bytes, not lines — and the tables that only grow settle at their largest).
/// A leak of a few bytes a seed crosses it within a long `cargo xtask fuzz` run.
const TOLERANCE: usize = 6 << 10;
/// [`TOLERANCE`] in board mode (`--small`): the board's tables and log are smaller. Measured
/// over 4535 seeds (60 s): at most 1.5 KiB above the baseline.
const TOLERANCE_SMALL: usize = 3 << 10;
/// Most seconds one seed may take.
const SEED_SECS: u64 = 30;
/// Seeds run before the baseline is measured (from `u64::MAX` down).
const WARM_SEEDS: u64 = 40;
/// The well-behaved run beside sysfuzz.
const NEIGHBOUR: &[&str] = &["pingpong", "20"];

/// The global allocator, counting the bytes in use; in board mode (`--small`) also the
/// STM32F4's kernel heap, emulated ([`Board`]).
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Board mode's heap: what `zb_hal::KernelHeap` does on the STM32F4 under QEMU, in numbers. The
/// host's allocator still hands out the memory; this only decides whether an allocation may
/// succeed, as the board's heap would.
///
/// - A cap: the board's heap is [`BOARD_HEAP`] bytes; every allocation costs its size rounded
///   up to 8 bytes plus 8 of bookkeeping ([`board_cost`], about what the linked-list heap
///   spends), and one that would take the heap past the cap fails (null).
/// - The reserve ([`BOARD_RESERVE`], as `hal/stm32f4`'s `HEAP_RESERVE`): held back while armed;
///   an allocation that finds no room and is no larger than the reserve releases it once and
///   is retried; the kernel learns it through `heap_reserve_spent` and re-arms it through
///   `heap_reserve_spent`/`heap_reserve_ready` (`Kernel::set_heap_reserve`).
/// - Calibration: the harness runs fewer services than the board (no console, shell, init or
///   network stack) and keeps its own buffers, so at its "prompt" (the end of [`Sim::new`]) a
///   ballast is counted as used, making the free heap there [`BOARD_FREE_AT_PROMPT`], what
///   `mem://heap` shows on the board after boot. The harness's own buffers (the boot archive,
///   which the board keeps in flash, and the output buffers) are not counted at all.
///
/// Not emulated: fragmentation (the board's first-fit heap can fail with that much free in
/// pieces) and the board's 32-bit pointers (the kernel's tables are larger on the host, so the
/// same calls use more of the cap here: the emulation errs on the tight side).
struct Board;

/// The STM32F4's kernel heap under QEMU netduinoplus2 (`mem://heap` total: 119.7 KiB — SRAM
/// from `__sheap` to its end plus the spare region).
const BOARD_HEAP: usize = 122_570;
/// The board's free heap at the shell prompt after boot (`mem://heap`: ~90 KiB free, ~28 KiB
/// used by the kernel, the services, the shell, the journal's index and the armed reserve).
const BOARD_FREE_AT_PROMPT: usize = 90 << 10;
/// What the host's wasmi takes beyond the board's for the same runs (64-bit pointers in the
/// engine, store, instance and compiled code), added to the free heap at the prompt so that
/// the runs find about the room they would on the board. Measured here (`SYSFUZZ_SIZES=1`
/// prints what each program's first spawn takes): `sysfuzz` 69.7 KiB, `hello` 17.1 KiB, `emit`
/// 27.1 KiB; on the board (the kernel's `code_bytes` ratios and its ~6 KiB instances) about 60,
/// 12 and 19 KiB.
const HOST_SURPLUS: usize = 16 << 10;
/// The heap reserve of `hal/stm32f4` (`HEAP_RESERVE`).
const BOARD_RESERVE: usize = 6 << 10;

/// Whether board mode is on (the cap is enforced).
static BOARD_ON: AtomicBool = AtomicBool::new(false);
/// Bytes in use as the board's heap would count them ([`board_cost`] of every live block).
static BOARD_USED: AtomicUsize = AtomicUsize::new(0);
/// Counted bytes that are not the kernel's: the harness's own buffers (subtracted) — set once
/// before the kernel is made.
static HARNESS_OWN: AtomicUsize = AtomicUsize::new(0);
/// Counted as used though nothing holds it (negative: counted as free though it is used), set
/// at the prompt: see [`Board`].
static BALLAST: AtomicIsize = AtomicIsize::new(0);
/// The reserve's bytes while armed (0: spent, not armed again yet).
static RESERVE_HELD: AtomicUsize = AtomicUsize::new(0);
/// The reserve was released since the kernel last asked.
static RESERVE_SPENT: AtomicBool = AtomicBool::new(false);

/// What a block of `size` bytes costs the board's heap.
const fn board_cost(size: usize) -> usize {
    size.next_multiple_of(8) + 8
}

/// With `SYSFUZZ_DEBUG` set: `what` happened, where (a backtrace). What the report allocates is
/// the harness's own.
fn debug_report(what: &str) {
    if std::env::var_os("SYSFUZZ_DEBUG").is_none() {
        return;
    }
    let (free, before) = (Board::free(), BOARD_USED.load(Ordering::Relaxed));
    BOARD_ON.store(false, Ordering::Relaxed);
    let trace = std::backtrace::Backtrace::force_capture();
    eprintln!("sysfuzz: {what} ({free} free)\n{trace}");
    drop(trace);
    let grew = BOARD_USED.load(Ordering::Relaxed) - before;
    HARNESS_OWN.fetch_add(grew, Ordering::Relaxed);
    BOARD_ON.store(true, Ordering::Relaxed);
}

impl Board {
    /// The board heap's bytes in use (the reserve, while armed, included).
    fn used() -> usize {
        let own = BOARD_USED.load(Ordering::Relaxed) - HARNESS_OWN.load(Ordering::Relaxed);
        own.saturating_add_signed(BALLAST.load(Ordering::Relaxed))
            + RESERVE_HELD.load(Ordering::Relaxed)
    }

    fn free() -> usize {
        BOARD_HEAP.saturating_sub(Board::used())
    }

    /// Whether `size` more bytes may be taken now; releases the reserve if that makes room,
    /// as `KernelHeap::alloc` does.
    fn admit(size: usize, extra_cost: usize) -> bool {
        if !BOARD_ON.load(Ordering::Relaxed) || extra_cost <= Board::free() {
            return true;
        }
        if size > BOARD_RESERVE || RESERVE_HELD.swap(0, Ordering::Relaxed) == 0 {
            debug_report(&format!("refused an allocation of {size} bytes"));
            return false;
        }
        RESERVE_SPENT.store(true, Ordering::Relaxed);
        debug_report(&format!(
            "released the reserve for an allocation of {size} bytes"
        ));
        extra_cost <= Board::free()
    }

    /// Sets the ballast so that the free heap is what the board has at its prompt, plus the
    /// host's surplus (see [`Board`]).
    fn calibrate() {
        BALLAST.store(0, Ordering::Relaxed);
        let free = BOARD_FREE_AT_PROMPT + HOST_SURPLUS;
        let ballast = (BOARD_HEAP - free) as isize - Board::used() as isize;
        BALLAST.store(ballast, Ordering::Relaxed);
    }

    /// Arms the reserve if it is not and the heap can spare it; whether it is armed.
    fn arm() -> bool {
        if RESERVE_HELD.load(Ordering::Relaxed) != 0 {
            return true;
        }
        if Board::free() < BOARD_RESERVE {
            return false;
        }
        RESERVE_HELD.store(BOARD_RESERVE, Ordering::Relaxed);
        true
    }

    /// `KernelHeap::reserve_spent`.
    fn reserve_spent() -> bool {
        let spent = RESERVE_SPENT.swap(false, Ordering::Relaxed);
        if spent {
            Board::arm();
        }
        spent
    }

    /// `KernelHeap::reserve_ready`.
    fn reserve_ready() -> bool {
        Board::arm()
    }
}

fn counted(size: usize) {
    IN_USE.fetch_add(size, Ordering::Relaxed);
    BOARD_USED.fetch_add(board_cost(size), Ordering::Relaxed);
}

fn uncounted(size: usize) {
    IN_USE.fetch_sub(size, Ordering::Relaxed);
    BOARD_USED.fetch_sub(board_cost(size), Ordering::Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged (or refused with null, as
// the contract allows); only counters are kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Board::admit(layout.size(), board_cost(layout.size())) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's promises, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            counted(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Board::admit(layout.size(), board_cost(layout.size())) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            counted(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        uncounted(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The board's heap reallocates by allocating anew, copying and freeing: the new block
        // must fit beside the old one.
        if new_size > layout.size() && !Board::admit(new_size, board_cost(new_size)) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            uncounted(layout.size());
            counted(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The kernel heap this process pretends to have in the default mode (admission control and
/// `mem://heap`).
const HEAP: usize = 64 << 20;

fn heap_free() -> usize {
    if BOARD_ON.load(Ordering::Relaxed) {
        return Board::free();
    }
    HEAP.saturating_sub(IN_USE.load(Ordering::Relaxed))
}

fn heap_reserve_spent() -> bool {
    Board::reserve_spent()
}

fn heap_reserve_ready() -> bool {
    Board::reserve_ready()
}

fn meminfo() -> zb_abi::MemInfo {
    let total = if BOARD_ON.load(Ordering::Relaxed) {
        BOARD_HEAP
    } else {
        HEAP
    };
    let mut m = zb_abi::MemInfo {
        ram_total: total as u64,
        ..Default::default()
    };
    m.heap.free = heap_free();
    m.heap.used = total - m.heap.free;
    m.heap.total = total;
    m
}

/// An allocation failed that the kernel did not make fallible: on the board, a kernel panic
/// (`memory allocation of N bytes failed`). Prints the seed, the size, the board heap's state
/// and where it happened, and exits 1.
fn allocation_failed(layout: Layout) {
    // What follows allocates: the report must not fail too.
    let (used, reserve) = (Board::used(), RESERVE_HELD.load(Ordering::Relaxed));
    BOARD_ON.store(false, Ordering::Relaxed);
    let seed = SEED.load(Ordering::Relaxed);
    eprintln!(
        "sysfuzz: KERNEL PANIC with seed {seed}: memory allocation of {} bytes failed \
         (board heap: {used} of {BOARD_HEAP} bytes used, reserve {})",
        layout.size(),
        if reserve == 0 { "spent" } else { "armed" }
    );
    eprintln!("{}", std::backtrace::Backtrace::force_capture());
    eprintln!("{}", reproduce());
    std::process::exit(1)
}

/// The seed being fuzzed, for the panic message.
static SEED: AtomicU64 = AtomicU64::new(u64::MAX);

/// The machine the services see: no console, no devices, the host clock.
struct HostPlatform;

impl Console for HostPlatform {
    fn write(&self, _: &[u8]) {}
    fn read(&self, _: &mut [u8]) -> usize {
        0
    }
    fn has_input(&self) -> bool {
        false
    }
    fn dropped(&self) -> u64 {
        0
    }
    fn write_panic(&self, bytes: &[u8]) {
        eprint!("{}", String::from_utf8_lossy(bytes));
    }
}

impl Cpu for HostPlatform {
    fn disable_interrupts(&self) -> bool {
        false
    }
    fn enable_interrupts(&self) {}
    fn idle(&self, _: &dyn Fn() -> bool) {}
}

impl Power for HostPlatform {
    fn shutdown(&self, success: bool) -> ! {
        panic!("shutdown({success}) requested")
    }
    fn reboot(&self) -> ! {
        panic!("reboot requested")
    }
}

impl Platform for HostPlatform {
    fn name(&self) -> &'static str {
        "host"
    }
    fn machine(&self) -> &'static str {
        "sysfuzz harness"
    }
    fn console(&self) -> &dyn Console {
        self
    }
    fn clock(&self) -> &dyn Clock {
        host_clock()
    }
    fn cpu(&self) -> &dyn Cpu {
        self
    }
    fn memory(&self) -> MemoryReport {
        let m = meminfo();
        MemoryReport {
            ram_total: m.ram_total,
            heap: HeapStats {
                used: m.heap.used,
                free: m.heap.free,
                total: m.heap.total,
            },
            frames: None,
        }
    }
    fn power(&self) -> &dyn Power {
        self
    }
}

static PLATFORM: HostPlatform = HostPlatform;

const HARNESS: zb_abi::Pid = 1;
const VFS: zb_abi::Pid = 2;

/// What became of the runs the harness watches.
#[derive(Default)]
struct Watch {
    /// sysfuzz's pid and status once ended.
    fuzz: Option<(zb_abi::Pid, Option<ExitStatus>)>,
    /// The neighbour's pid while it runs.
    neighbour: Option<zb_abi::Pid>,
    /// Neighbours that ended `ok(0)`, and the first that did not.
    neighbours_ok: u32,
    /// Board mode: neighbours the kernel could not give memory to (see [`short_of_memory`]).
    neighbours_refused: u32,
    /// Board mode (`--small`).
    small: bool,
    neighbour_failed: Option<String>,
    /// The tail of sysfuzz's stdout (preallocated: the harness allocates nothing per seed).
    out: Vec<u8>,
    /// The current neighbour's output.
    nout: Vec<u8>,
    /// Runs that ended since the last look (pid, ok(0)), for the harness's own runs.
    ended: Vec<(zb_abi::Pid, bool)>,
}

struct Sim {
    k: Kernel,
    vfs: zb_vfs::VfsService,
    watch: Watch,
    /// Board mode (`--small`).
    small: bool,
}

impl Sim {
    fn new(dir: &str, small: bool) -> Sim {
        // The boot archive: the programs in `dir` as /bin/<name>, and /etc/motd.
        let mut files: Vec<(String, Vec<u8>)> = vec![("/etc/motd".into(), b"Welcome.\n".to_vec())];
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let path = entry.expect("a directory entry").path();
            if let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wasm"))
            {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                files.push((format!("/bin/{name}"), bytes));
            }
        }
        let mut archive = Vec::from(zb_abi::bootfs::MAGIC);
        archive.extend_from_slice(&(files.len() as u32).to_le_bytes());
        for (path, data) in &files {
            archive.extend_from_slice(&(path.len() as u16).to_le_bytes());
            archive.extend_from_slice(&(data.len() as u32).to_le_bytes());
            archive.extend_from_slice(path.as_bytes());
            archive.extend_from_slice(data);
        }
        let archive: &'static [u8] = Box::leak(archive.into_boxed_slice());
        drop(files);
        let watch = Watch {
            out: Vec::with_capacity(64 << 10),
            nout: Vec::with_capacity(4 << 10),
            ended: Vec::with_capacity(1024),
            small,
            ..Watch::default()
        };
        let config = if small {
            // The board keeps the archive in flash, and the harness's buffers are not the
            // kernel's: neither counts in the board's heap.
            HARNESS_OWN.store(BOARD_USED.load(Ordering::Relaxed), Ordering::Relaxed);
            BOARD_ON.store(true, Ordering::Relaxed);
            Board::arm();
            KernelConfig::small(archive)
        } else {
            let mut config = KernelConfig::large(archive);
            // A small log (it is what varies most between measurements, see TOLERANCE).
            config.log_bytes = 2 << 10;
            config
        };
        let mut k = Kernel::new(host_clock(), config);
        k.set_heap_probe(&heap_free);
        if small {
            k.set_heap_reserve(&heap_reserve_spent, &heap_reserve_ready);
        }
        k.set_memory_probe(&meminfo);
        assert_eq!(k.add_service("harness"), HARNESS);
        assert_eq!(k.add_service("vfs"), VFS);
        let journal = k.open_journal(None);
        assert!(journal.contains("RAM"), "{journal}");
        let fs = zb_abi::bootfs::BootFs::parse(archive).expect("the archive just made");
        for entry in &fs {
            k.install(entry.path, entry.data);
        }
        let mut vfs = zb_vfs::VfsService::new(None);
        vfs.start(&mut KernelHost::new(&PLATFORM, 0, &mut k, VFS));
        k.boot_finished();
        if small {
            // The prompt: the ballast makes the free heap what the board shows here.
            let used = Board::used();
            Board::calibrate();
            println!(
                "sysfuzz: board heap {BOARD_HEAP} bytes: the harness's kernel and vfs use {used} \
                 (reserve included), counted as {} with the ballast; {} free",
                Board::used(),
                Board::free()
            );
        }
        Sim {
            k,
            vfs,
            watch,
            small,
        }
    }

    /// Starts `args` as the harness's child; sysfuzz in board mode as the board's test does,
    /// `run --kmem 4K sysfuzz <seed> <calls> 4 512` (a 4 KiB scratch zone, 512 bytes of output).
    fn spawn(&mut self, args: &[&str]) -> zb_abi::Pid {
        let mut args = args.to_vec();
        let mut options = RunOptions::default();
        let numbered = args.len() == 3 && args[1].parse::<u64>().is_ok();
        if self.small && args[0] == "sysfuzz" && numbered {
            args.extend(["4", "512"]);
            options.kmem = Some(4 << 10);
        }
        let mut packed = Vec::new();
        for a in &args[1..] {
            packed.extend_from_slice(a.as_bytes());
            packed.push(0);
        }
        match self
            .k
            .spawn_with(HARNESS, args[0], packed, Vec::new(), options)
        {
            Ok(pid) => pid,
            Err((e, _)) => fail(&format!("spawn {args:?}: {e:?}")),
        }
    }

    /// One round of the boot loop: a slice, then the events and requests it made. Whether
    /// anything happened.
    fn round(&mut self) -> bool {
        let mut busy = self.k.step();
        while let Some(event) = self.k.take_event() {
            busy = true;
            self.event(event);
        }
        while let Some(req) = self.k.take_request() {
            busy = true;
            let reply = {
                let mut host = KernelHost::new(&PLATFORM, 0, &mut self.k, VFS);
                let request = Request {
                    id: req.id,
                    from: req.from,
                    op: req.op.as_op(),
                };
                match self.vfs.request(request, &mut host) {
                    Answer::Now(r) => Some(OwnedReply::from(r)),
                    Answer::Later => None,
                }
            };
            if let Some(reply) = reply {
                self.k.complete(req.service, req.id, reply);
            }
            self.k.charge_heap_to(req.from);
        }
        let now = host_clock().now_us();
        if self.vfs.next_tick().is_some_and(|t| t <= now) {
            busy = true;
            self.vfs
                .tick(&mut KernelHost::new(&PLATFORM, 0, &mut self.k, VFS));
        }
        busy
    }

    fn event(&mut self, event: Event) {
        let w = &mut self.watch;
        match event {
            Event::Output { pid, bytes, .. } => {
                if w.neighbour == Some(pid) && w.nout.len() + bytes.len() <= w.nout.capacity() {
                    w.nout.extend_from_slice(&bytes);
                }
                if w.fuzz.as_ref().is_some_and(|f| f.0 == pid) {
                    if w.out.len() + bytes.len() > w.out.capacity() {
                        let cut = (w.out.len() + bytes.len() - w.out.capacity()).min(w.out.len());
                        w.out.drain(..cut);
                    }
                    let take = bytes.len().min(w.out.capacity());
                    w.out.extend_from_slice(&bytes[bytes.len() - take..]);
                }
            }
            Event::Exited(ended) => {
                let ok = ended.status == ExitStatus::Ok(0);
                if let Some(f) = w.fuzz.as_mut().filter(|f| f.0 == ended.pid) {
                    f.1 = Some(ended.status.clone());
                }
                if w.neighbour == Some(ended.pid) {
                    w.neighbour = None;
                    if ok {
                        w.neighbours_ok += 1;
                    } else if w.small && short_of_memory(&ended.status, &w.nout) {
                        w.neighbours_refused += 1;
                    } else if w.neighbour_failed.is_none() {
                        w.neighbour_failed = Some(format!(
                            "{}: {} ({:?})",
                            ended.name,
                            ended.status,
                            String::from_utf8_lossy(&w.nout)
                        ));
                    }
                }
                if w.ended.len() < w.ended.capacity() {
                    w.ended.push((ended.pid, ok));
                }
                let mut host = KernelHost::new(&PLATFORM, 0, &mut self.k, VFS);
                self.vfs.run_exited(&ended.info(), &mut host);
            }
            Event::Committed { .. } => {}
        }
    }

    /// Whether a live run other than the services is in the table.
    fn runs_live(&self) -> bool {
        self.k
            .runs()
            .iter()
            .any(|r| r.pid > VFS && r.info().exit.is_none())
    }

    /// Drives the kernel until `done` or `deadline`; sleeps when only timers are due. An error
    /// if the time ran out or nothing can happen any more while runs are live.
    fn drive(&mut self, deadline: Instant, done: impl Fn(&Sim) -> bool) -> Result<(), String> {
        loop {
            if done(self) {
                return Ok(());
            }
            if Instant::now() > deadline {
                // An `emit` waiting for ever beside a busy neighbour was a kernel bug this
                // caught (group commit held events while any run was ready; fixed in
                // `Kernel::step`): a run still in WAIT(commit) here says it is back.
                let ps = self.ps();
                let known = if ps.contains("Commit") {
                    " (a run waits for its emit to be committed)"
                } else {
                    ""
                };
                return Err(format!("still running after {SEED_SECS} s{known}: {ps}"));
            }
            if self.round() || self.k.has_ready() || self.k.has_requests() {
                continue;
            }
            match self.k.next_deadline() {
                Some(at) => {
                    let now = host_clock().now_us();
                    let wait = at.saturating_sub(now).min(20_000);
                    std::thread::sleep(Duration::from_micros(wait.max(50)));
                }
                None if self.runs_live() => {
                    return Err(format!(
                        "runs wait for nothing that can happen: {}",
                        self.ps()
                    ));
                }
                None => return Ok(()),
            }
        }
    }

    /// The live runs, as `ps` would list them.
    fn ps(&self) -> String {
        let mut s = String::new();
        for r in self.k.runs().iter().filter(|r| r.pid > VFS) {
            let i = r.info();
            if i.exit.is_none() {
                s.push_str(&format!(
                    "[{} {} {:?} {:?}] ",
                    i.pid, i.name, i.state, i.wait
                ));
            }
        }
        s
    }

    /// Runs `args` to its end; whether it ended ok(0).
    fn run(&mut self, args: &[&str]) -> Result<bool, String> {
        let pid = self.spawn(args);
        self.watch.ended.clear();
        let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
        self.drive(deadline, |s| s.watch.ended.iter().any(|e| e.0 == pid))?;
        Ok(self.watch.ended.contains(&(pid, true)))
    }

    /// Lets every run end, then makes the table of finished runs hold `hello`s only; the heap
    /// in use.
    fn settle(&mut self) -> Result<usize, String> {
        let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
        self.drive(deadline, |s| !s.runs_live())?;
        for _ in 0..KEEP_DONE {
            if !self.run(&["hello"])? {
                return Err("hello did not end ok(0)".into());
            }
        }
        // Timers the runs left would still be due: nothing may be.
        // (A timer named with control bytes, which nothing could cancel, once kept firing
        // here: `TimerSpec::parse` now takes only printable subject tokens.)
        if let Some(at) = self.k.next_deadline() {
            return Err(format!(
                "something is still scheduled (in {} us) after every run ended",
                at.saturating_sub(host_clock().now_us())
            ));
        }
        Ok(IN_USE.load(Ordering::Relaxed))
    }

    /// Fuzzes with `seed`: sysfuzz and, again and again, its neighbour. A line of sysfuzz's
    /// summary and the neighbours' count, or what went wrong.
    fn fuzz(&mut self, seed: u64, calls: u32) -> Result<String, String> {
        SEED.store(seed, Ordering::Relaxed);
        self.watch.out.clear();
        self.watch.neighbours_ok = 0;
        self.watch.neighbours_refused = 0;
        self.watch.neighbour_failed = None;
        let fuzz = self.spawn(&["sysfuzz", &seed.to_string(), &calls.to_string()]);
        self.watch.fuzz = Some((fuzz, None));
        if self.small {
            // On the board sysfuzz runs alone: its first slice (which grows its scratch zone)
            // has the heap to itself here too, before the neighbour takes its share.
            self.round();
        }
        let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
        let result = self.drive(deadline, |s| {
            s.watch.fuzz.as_ref().is_some_and(|f| f.1.is_some()) || s.watch.neighbour.is_none()
        });
        // Drive on, starting a neighbour whenever the last one ended, until sysfuzz ends.
        let mut result = result;
        while result.is_ok() && self.watch.fuzz.as_ref().is_some_and(|f| f.1.is_none()) {
            if self.watch.neighbour.is_none() {
                self.watch.nout.clear();
                self.watch.neighbour = Some(self.spawn(NEIGHBOUR));
            }
            result = self.drive(deadline, |s| {
                s.watch.fuzz.as_ref().is_some_and(|f| f.1.is_some()) || s.watch.neighbour.is_none()
            });
        }
        result?;
        // The last neighbour ends too.
        self.drive(deadline, |s| s.watch.neighbour.is_none())?;
        if let Some(why) = self.watch.neighbour_failed.take() {
            // The neighbour fails if a finished child is forgotten before its parent waits
            // (`RunTable::evict`) or one run takes every run slot (`Kernel::can_spawn`'s
            // share): both were kernel bugs this caught.
            return Err(format!("the neighbour failed while sysfuzz ran: {why}"));
        }
        let status = self
            .watch
            .fuzz
            .take()
            .and_then(|f| f.1)
            .map_or_else(|| "?".to_string(), |s| s.to_string());
        let out = String::from_utf8_lossy(&self.watch.out).into_owned();
        let summary = out
            .lines()
            .rev()
            .find(|l| l.starts_with("sysfuzz: seed "))
            .map(str::to_string);
        // The last such line is the summary (random writes may print anything before it).
        if summary
            .as_ref()
            .is_some_and(|s| !s.contains(" 0 violations"))
        {
            return Err(format!("sysfuzz found an ABI violation: {out}"));
        }
        if status != "ok(0)" {
            // It did not clean up: `sysfuzz <seed> 0` does only that. In board mode it may be
            // refused for want of heap itself while what sysfuzz left ends: again, a few times.
            let mut tries = 1;
            while !self.run(&["sysfuzz", &seed.to_string(), "0"])? && self.small {
                if tries == 5 {
                    return Err(format!(
                        "sysfuzz ended {status} and its cleanup (`sysfuzz {seed} 0`) failed \
                         {tries} times"
                    ));
                }
                tries += 1;
                let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
                self.drive(deadline, |s| !s.runs_live())?;
            }
        }
        let summary = summary.unwrap_or_default();
        let summary = summary.trim_start_matches("sysfuzz: ");
        let refused = match self.watch.neighbours_refused {
            0 => String::new(),
            n => format!(", {n} refused for memory"),
        };
        Ok(format!(
            "{summary} [sysfuzz {status}, {} neighbours ok{refused}]",
            self.watch.neighbours_ok
        ))
    }

    /// Fills what a long-lived kernel keeps full: the log, the largest tables (one
    /// `pressure hoard`, killed), compiled programs (a few seeds).
    fn warm_up(&mut self, calls: u32) -> Result<(), String> {
        if std::env::var_os("SYSFUZZ_SIZES").is_some() {
            for p in ["emit", "ledger", "sleeper", "sysfuzz", "hello"] {
                let before = Board::free();
                let pid = self.spawn(&[p]);
                let after = Board::free();
                eprintln!("{p}: {} bytes", before - after);
                let _ = self.k.kill(pid);
                let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
                self.drive(deadline, |s| !s.runs_live())?;
            }
        }
        for i in 0..4096 {
            self.k.log(&format!("warm-up {i}"));
        }
        // Its scratch zone: as much as a run's memory allows (24 KiB on the board).
        let scratch = if self.small { "4" } else { "72" };
        let hoard = self.spawn(&["pressure", "hoard", "psftnc", scratch]);
        self.watch.fuzz = Some((hoard, None));
        let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
        self.drive(deadline, |s| {
            String::from_utf8_lossy(&s.watch.out).contains("sleeping")
        })?;
        println!(
            "sysfuzz: warm-up: {}",
            String::from_utf8_lossy(&self.watch.out).trim()
        );
        self.k
            .kill(hoard)
            .map_err(|e| format!("kill hoard: {e:?}"))?;
        self.watch.fuzz = None;
        // Its timers fire after 2 s (it re-armed them while it lived).
        let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
        self.drive(deadline, |s| s.k.next_deadline().is_none())?;
        // The kernel's event queue grows to the most events one slice makes: one-byte writes.
        let flood = self.spawn(&["pressure", "flood", "1"]);
        let until = Instant::now() + Duration::from_millis(50);
        self.drive(until + Duration::from_secs(1), |_| Instant::now() > until)?;
        self.k
            .kill(flood)
            .map_err(|e| format!("kill flood: {e:?}"))?;
        // The journal's index grows with the events it holds: once around the RAM journal
        // with the smallest events, so no seed can make it hold more.
        let stats = |s: &Sim| {
            s.k.bus_stats()
                .map_or((0, 0), |b| (b.first_seq, b.last_seq))
        };
        let mut lap = None;
        while lap.is_none_or(|end| stats(self).1 < end) {
            // As many at once as the run table takes (6 live runs on the board).
            let batch = if self.small { 4 } else { 32 };
            let pids: Vec<_> = (0..batch)
                .map(|_| self.spawn(&["emit", "w", "0"]))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(SEED_SECS);
            self.drive(deadline, |s| !s.runs_live())?;
            drop(pids);
            let (first, last) = stats(self);
            if lap.is_none() && first > 1 {
                lap = Some(2 * last);
            }
        }
        if self.small {
            // The hoard's tables stay at their largest; the seeds get the board's headroom.
            Board::calibrate();
        }
        for seed in 0..WARM_SEEDS {
            self.fuzz(u64::MAX - seed, calls)?;
        }
        Ok(())
    }
}

/// Board mode: whether a run ended for want of kernel heap — not admitted (`rejected: not
/// enough kernel memory to load it`, also while compiling) or ended when the heap ran out
/// while it ran (`rejected: out of kernel memory`), or its child was not. With sysfuzz's code taking half the board's
/// heap, its neighbour may not fit: that is the neighbour's failure, not the kernel's.
fn short_of_memory(status: &ExitStatus, output: &[u8]) -> bool {
    match status {
        ExitStatus::Rejected(why) => why.contains("kernel memory"),
        // pingpong failed a call: with the heap this short, for `OutOfMemory` (a spawn, a
        // channel, a round trip, its child's load; its output is refused too, so it often
        // cannot say which). A wrong reply, or a round trip failing for another reason, is a
        // kernel bug all the same.
        // Or its child could not be loaded (`rejected`), so the round trip found the channel
        // closed by its peer.
        ExitStatus::Ok(1) => {
            let text = String::from_utf8_lossy(output);
            let pong_refused = text.contains("pong ended with rejected");
            text.lines().all(|l| {
                !l.contains("does not match")
                    && (!l.contains("round trip ")
                        || l.ends_with("out of memory")
                        || (pong_refused && l.ends_with("closed by peer")))
            })
        }
        _ => false,
    }
}

/// The run's first seed and the wasm directory, for the message that says how to reproduce.
static FIRST: AtomicU64 = AtomicU64::new(1);
static DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// How to run the same seeds again.
fn reproduce() -> String {
    let (seed, first) = (SEED.load(Ordering::Relaxed), FIRST.load(Ordering::Relaxed));
    let exe = std::env::args().next().unwrap_or_default();
    let dir = DIR.get().map_or("<wasm dir>", String::as_str);
    if seed < first || seed - first > u32::MAX.into() {
        return format!(
            "sysfuzz: it happened in the warm-up (seeds from {} down), which every run does first: \
             run `{exe} {dir} --seeds 1` again",
            u64::MAX
        );
    }
    let count = seed - first + 1;
    format!(
        "sysfuzz: reproduce: `{exe} {dir} --seed {first} --seeds {count} --verbose` (the kernel's \
         state carries over from seed to seed), or seed {seed} alone: `… --seed {seed} --seeds 1`"
    )
}

fn fail(why: &str) -> ! {
    let seed = SEED.load(Ordering::Relaxed);
    eprintln!("sysfuzz: FAILED with seed {seed}: {why}");
    eprintln!("{}", reproduce());
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1).cloned() else {
        eprintln!(
            "usage: sysfuzz <wasm dir> [--seed N] [--seeds N] [--calls N] [--time S] [--small] \
             [--verbose]"
        );
        std::process::exit(2);
    };
    let opt = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| fail(&format!("{name} needs a number")))
            })
    };
    let first = opt("--seed", 1);
    FIRST.store(first, Ordering::Relaxed);
    let _ = DIR.set(dir.clone());
    let count = opt("--seeds", 200);
    let calls = opt("--calls", 2000) as u32;
    let verbose = args.iter().any(|a| a == "--verbose");
    let small = args.iter().any(|a| a == "--small");
    let tolerance = if small { TOLERANCE_SMALL } else { TOLERANCE };
    let time = args
        .iter()
        .any(|a| a == "--time")
        .then(|| Duration::from_secs(opt("--time", 60)));

    std::panic::set_hook(Box::new(|info| {
        let seed = SEED.load(Ordering::Relaxed);
        eprintln!("sysfuzz: KERNEL PANIC with seed {seed}: {info}");
        eprintln!("{}", reproduce());
    }));
    std::alloc::set_alloc_error_hook(allocation_failed);

    let start = Instant::now();
    let mut sim = Sim::new(&dir, small);
    if let Err(e) = sim.warm_up(calls) {
        fail(&format!("warm-up: {e}"));
    }
    let baseline = sim
        .settle()
        .unwrap_or_else(|e| fail(&format!("warm-up: {e}")));
    if small {
        // The warm-up filled the tables a long-lived kernel keeps full (so that the heap comes
        // back to this baseline), which the board at its prompt has not: the seeds get the
        // board's headroom from here (see `Board`).
        Board::calibrate();
    }
    println!(
        "sysfuzz: heap baseline {baseline} bytes after warm-up ({:.1} s); tolerance {tolerance} \
         bytes{}",
        start.elapsed().as_secs_f64(),
        if small {
            format!("; board heap {} bytes free", Board::free())
        } else {
            String::new()
        }
    );
    let fuzz_start = Instant::now();
    let (mut seeds, mut drift_max) = (0u64, 0i64);
    let mut seed = first;
    loop {
        let more = match time {
            Some(t) => fuzz_start.elapsed() < t,
            None => seeds < count,
        };
        if !more {
            break;
        }
        let t0 = Instant::now();
        let line = sim.fuzz(seed, calls).unwrap_or_else(|e| fail(&e));
        let heap = sim.settle().unwrap_or_else(|e| fail(&e));
        let drift = heap as i64 - baseline as i64;
        drift_max = drift_max.max(drift);
        if verbose {
            println!(
                "seed {seed}: {line}; heap {drift:+} B; {:.0} ms",
                t0.elapsed().as_secs_f64() * 1e3
            );
        } else if (seeds + 1) % 100 == 0 {
            println!(
                "sysfuzz: {} seeds done ({:.1} s), heap at most {drift_max:+} B from baseline",
                seeds + 1,
                fuzz_start.elapsed().as_secs_f64()
            );
        }
        if drift.unsigned_abs() as usize > tolerance {
            fail(&format!(
                "the heap is {drift:+} bytes from its baseline ({baseline}) after every run ended \
                 (tolerance {tolerance})"
            ));
        }
        seeds += 1;
        seed += 1;
    }
    println!(
        "sysfuzz: ok: {seeds} seeds ({first}..{}) x {calls} calls in {:.1} s; the heap came back \
         within {tolerance} bytes of its baseline every time (at most {drift_max:+} B)",
        first + seeds,
        fuzz_start.elapsed().as_secs_f64()
    );
}
