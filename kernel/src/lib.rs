//! ZRK, the ZeroBus run kernel: the platform-free core.
//!
//! A boot crate hands [`run()`] a [`Platform`] (the HAL), a [`KernelConfig`] and the native
//! services; from then on the kernel owns the machine. Its processes ("runs") are wasm programs
//! executed by wasmi; a run reaches the kernel only through the HOST import module, whose every
//! call enters one gate. `kernel/ARCHITECTURE.md` follows one call end to end.
//!
//! Layering: the kernel depends on the HAL *traits* (`zb-hal`), the userspace ABI (`zb-abi`),
//! the journal and the bus policy (`zb-journal`, `zb-bus`) only. It contains no platform `cfg`
//! and no `unsafe`; it builds for every target the OS runs on and is unit-tested on the host.
//! Modules import only downwards (no cycle): the gate names no kernel type.
//!
//! Invariants: nothing a run, a service or a user does can make the kernel panic (the only
//! deliberate panic is the `test-hooks` build's [`zb_abi::PowerAction::TestPanic`]); every
//! kernel allocation made for a run is charged to it and given back when dropped
//! ([`account`]); a run reaches nothing past its handles and grants.
//!
//! The modules, from the top:
//! - `lib.rs` (this file): the boot loop as a [`Node`] — console input, [`Kernel::step`],
//!   services, one [`Node::turn`] at a time — and [`run()`], which idles between turns.
//! - [`kernel`]: [`Kernel`], the run table, scheduler, channels and programs; one fuel slice at
//!   a time (`run_slice`), parking and waking runs.
//! - `calls`: the kernel's side of the gate (`KernelCalls` for `Kernel`: one match over the kernel-served calls).
//! - `process`, `urls`, `events`: the kernel-served call families — spawn/wait/close; URL calls
//!   and the one route every request takes; the bus calls, journal opening, group commit and
//!   views in the heap.
//! - `host`: [`KernelHost`], the same calls for native services (the role traits of
//!   `zb_abi::Host`) — and for the federation link an event from another node committed with
//!   its origin, and committed events read from a sequence number (`events::federation`);
//!   [`devices`]: a board's devices as the services it builds see them.
//! - [`kfiles`]: the `proc://` and `mem://` schemes the kernel serves itself.
//! - `gate`: the syscall gate — charge, tape, decode, authorise, one dispatch, one error wrapper.
//! - `link`: wasmi host functions made from the ABI's table of calls.
//! - `sys`: run-local calls and channels, served inside the interpreter; [`account`]: kernel
//!   memory charged to runs.
//! - [`task`]: the TASK engine (a wasmi store per run, fuel slices, resumable calls);
//!   `views`: reducers run by it; [`replay`]: recording and replaying a run's inputs.
//! - [`run`](mod@run), [`run_table`]: a run's lifecycle as types, and the table of runs.
//! - [`bus`]: the journal's storage and the event bus type; [`request`]: requests in flight to
//!   services; [`scheme`]: the scheme router and registry of kinds.
//! - [`object`], [`ipc`], [`cap`]: kernel objects and channels, message queues, handle tables.
//! - `module_size`: what a program will take of the heap, read before it is compiled.
//! - [`sched`]: ready queue and sleepers; [`config`]: what a board tells the kernel;
//!   [`banner`], [`panic`](mod@panic): the boot banner and the panic report.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod account;
pub mod banner;
pub mod bus;
mod calls;
pub mod cap;
pub mod config;
pub mod devices;
mod events;
mod gate;
mod host;
pub mod ipc;
pub mod kernel;
pub mod kfiles;
mod link;
mod module_size;
pub mod object;
pub mod panic;
mod process;
pub mod replay;
pub mod request;
pub mod run;
pub mod run_table;
pub mod sched;
pub mod scheme;
mod sys;
pub mod task;
mod urls;
mod views;

use alloc::vec::Vec;
use zb_abi::fmt::Bytes;

use zb_abi::{NativeService, Pid};
use zb_hal::Platform;

pub use config::{KernelConfig, RunLimits};
pub use devices::{HalBlock, HalNet};
pub use host::KernelHost;
pub use host::ServiceSlot;
pub use kernel::{Ended, Event, Kernel, RunOptions};

/// Where the kernel keeps the platform, for the panic path.
static PLATFORM: spin::Once<&'static dyn Platform> = spin::Once::new();

/// Runs the kernel on `platform` with the native `services` (see [`Node::boot`]), idling the
/// CPU whenever nothing is ready. Never returns: the machine stops through [`zb_hal::Power`].
/// A platform whose idle wait must return to its host (a browser's event loop) drives a
/// [`Node`] itself instead.
pub fn run<'s>(
    platform: &'static dyn Platform,
    config: KernelConfig,
    services: &'s mut [&'s mut dyn NativeService],
) -> ! {
    let mut node = Node::boot(platform, config, services);
    loop {
        if let Turn::Idle { .. } = node.turn() {
            // Sleepers and service timers are woken by the timer interrupt that ends the halt.
            platform.cpu().idle(&|| platform.console().has_input());
        }
    }
}

/// What one [`Node::turn`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Something ran or was delivered: turn again soon.
    Busy,
    /// Nothing is ready: the node has nothing to do before console input arrives or the
    /// clock reaches `until_us` (`None`: no deadline at all).
    Idle { until_us: Option<u64> },
}

/// A booted kernel with its services: the boot loop's state, one [`Node::turn`] at a time.
///
/// Invariant: the services keep the pids they were given at boot, in their slots, between
/// turns (a service is out of its slot only during a call into it).
pub struct Node<'s> {
    kernel: Kernel,
    services: Services<'s>,
    log_queue: Option<&'static dyn zb_hal::LogDrain>,
}

impl<'s> Node<'s> {
    /// Boots the kernel on `platform` with the native `services`: prints the banner, opens
    /// the journal and views, and starts the services. They get pids in the order given (put
    /// the console first: it is pid 1, which adopts orphaned runs) and are started in that
    /// order, except that the one named `console`, which owns the console line, starts last —
    /// its first prompt then follows everything the others logged while starting.
    pub fn boot(
        platform: &'static dyn Platform,
        config: KernelConfig,
        services: &'s mut [&'s mut dyn NativeService],
    ) -> Node<'s> {
        PLATFORM.call_once(|| platform);
        banner::print(platform);

        let boot_us = platform.clock().now_us();
        banner::print_boot_time(platform, boot_us);
        let mut kernel = Kernel::new(platform.clock(), config);
        kernel.set_heap_probe(&heap_free);
        kernel.set_block_probe(&heap_fits);
        kernel.set_heap_reserve(&heap_reserve_spent, &heap_reserve_ready);
        kernel.set_memory_probe(&memory);
        install_boot_files(&mut kernel, platform, config.boot_files);
        if !config.more_boot_files.is_empty() {
            install_boot_files(&mut kernel, platform, config.more_boot_files);
        }
        {
            use core::fmt::Write;
            let line = kernel.open_journal(platform.journal());
            let mut out = banner::ConsoleWriter::new(platform);
            let _ = writeln!(out, "{line}");
            for problem in kernel.check_schemas() {
                let _ = writeln!(out, "{problem}");
            }
            if let Some(now) = platform.wall_clock_secs()
                && kernel.set_wall_clock(now).is_ok()
            {
                let _ = writeln!(
                    out,
                    "clock: {} UTC (real-time clock)",
                    zb_abi::time::Utc(now)
                );
            } else {
                let _ = writeln!(out, "clock: no real-time clock (set the time with date -s)");
            }
            for line in kernel.open_views(platform.name()) {
                let _ = writeln!(out, "{line}");
            }
        }
        for &name in platform.drivers() {
            if let Some(kind) = zb_abi::kind::driver_kind(name) {
                kernel.register_kind(kind, name, 0);
            }
        }
        let mut slots = Vec::with_capacity(services.len());
        for service in services.iter_mut() {
            let pid = kernel.add_service(service.name());
            slots.push(ServiceSlot {
                pid,
                service: Some(&mut **service),
            });
        }
        let console_pid = slots
            .iter()
            .find(|s| s.service.as_ref().is_some_and(|s| s.name() == "console"))
            .map(|s| s.pid);
        let mut services = Services {
            platform,
            boot_us,
            slots,
            console_pid,
            console_started: false,
        };
        let order: Vec<Pid> = services
            .slots
            .iter()
            .map(|s| s.pid)
            .filter(|&p| Some(p) != console_pid)
            .chain(console_pid)
            .collect();
        for pid in order {
            services.serve(&mut kernel, pid, |s, host| s.start(host));
            if Some(pid) == console_pid {
                services.console_started = true;
            }
            // What a service logs while starting is shown before the next one starts.
            services.deliver(&mut kernel);
        }
        kernel.boot_finished();
        Node {
            kernel,
            services,
            log_queue: config.log_queue,
        }
    }

    /// One pass of the boot loop: console input to the console service, one fuel slice of
    /// the next ready run, queued events and requests to the services, due service timers.
    pub fn turn(&mut self) -> Turn {
        let platform = self.services.platform;
        let mut buf = [0u8; 256];
        let n = platform.console().read(&mut buf);
        if n > 0
            && let Some(console) = self.services.console_pid
        {
            self.services.serve(&mut self.kernel, console, |s, host| {
                s.console_input(&buf[..n], host)
            });
        }
        let ran = self.kernel.step();
        let told = self.services.deliver(&mut self.kernel);
        let ticked = self.services.tick(&mut self.kernel);
        // What drivers and the network stack logged (the `log` facade) goes to the system log.
        if let Some(queue) = self.log_queue {
            let kernel = &mut self.kernel;
            queue.drain(&mut |line| kernel.log(line));
        }
        if n > 0 || ran || told || ticked || self.kernel.has_ready() || self.kernel.has_requests() {
            return Turn::Busy;
        }
        let services = self.services.next_tick();
        let until_us = match (self.kernel.next_deadline(), services) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Turn::Idle { until_us }
    }
}

/// Memory statistics for `mem://`.
fn memory() -> zb_abi::MemInfo {
    let Some(p) = PLATFORM.get() else {
        return zb_abi::MemInfo::default();
    };
    host::meminfo(*p)
}

/// The kernel heap's free bytes (for admission control of modules).
fn heap_free() -> usize {
    PLATFORM.get().map_or(usize::MAX, |p| p.memory().heap.free)
}

/// Whether the kernel heap has free blocks of `sizes` at once (see [`Kernel::set_block_probe`]).
fn heap_fits(sizes: &[usize]) -> bool {
    PLATFORM.get().is_none_or(|p| p.heap_fits(sizes))
}

/// Whether the kernel heap spent its reserve since the last call.
fn heap_reserve_spent() -> bool {
    PLATFORM.get().is_some_and(|p| p.heap_reserve_spent())
}

fn heap_reserve_ready() -> bool {
    PLATFORM.get().is_none_or(|p| p.heap_reserve_ready())
}

/// Makes the programs in the boot archive loadable; a corrupt archive is reported, not fatal.
fn install_boot_files(kernel: &mut Kernel, platform: &'static dyn Platform, files: &'static [u8]) {
    use core::fmt::Write;
    let mut out = banner::ConsoleWriter::new(platform);
    if files.is_empty() {
        let _ = writeln!(out, "boot files: none");
        return;
    }
    match zb_abi::bootfs::BootFs::parse(files) {
        Ok(fs) => {
            for entry in &fs {
                kernel.install(entry.path, entry.data);
            }
            let _ = writeln!(
                out,
                "boot files: {} ({})",
                fs.len(),
                Bytes(files.len() as u64)
            );
        }
        Err(e) => {
            let _ = writeln!(out, "boot files: refused, the archive is corrupt ({e})");
        }
    }
}

/// The native services and how the boot loop talks to them.
struct Services<'s> {
    platform: &'static dyn Platform,
    boot_us: u64,
    slots: Vec<ServiceSlot<'s>>,
    console_pid: Option<Pid>,
    /// Until the console service has started, kernel log lines go straight to the wire.
    console_started: bool,
}

impl Services<'_> {
    /// Calls into service `pid`, shown as EXEC meanwhile. The service is out of its slot for
    /// the call, so nothing it calls can enter it again.
    fn serve(
        &mut self,
        kernel: &mut Kernel,
        pid: Pid,
        call: impl FnOnce(&mut dyn NativeService, &mut KernelHost<'_, '_>),
    ) {
        let Some(service) = self
            .slots
            .iter_mut()
            .find(|s| s.pid == pid)
            .and_then(|s| s.service.take())
        else {
            return;
        };
        kernel.service_running(pid, true);
        {
            let mut host =
                KernelHost::with_peers(self.platform, self.boot_us, kernel, pid, &mut self.slots);
            call(&mut *service, &mut host);
        }
        kernel.service_running(pid, false);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.pid == pid) {
            slot.service = Some(service);
        }
    }

    /// Hands queued run events and requests to the services; true if there were any. While
    /// the console has no room for run output ([`NativeService::output_room`]), run output
    /// stays queued, in order: it stays charged to its run, so the run's writes wait. Other
    /// events go past it ([`Kernel::take_event_past_output`]).
    fn deliver(&mut self, kernel: &mut Kernel) -> bool {
        let mut any = false;
        loop {
            let event = if self.console_full() {
                kernel.take_event_past_output()
            } else {
                kernel.take_event()
            };
            if let Some(event) = event {
                any = true;
                self.event(kernel, event);
            } else if let Some(request) = kernel.take_request() {
                any = true;
                self.request(kernel, request);
            } else {
                return any;
            }
        }
    }

    /// Whether the started console service takes no more run output now.
    fn console_full(&self) -> bool {
        let console = self.console_pid.filter(|_| self.console_started);
        self.slots
            .iter()
            .filter(|s| Some(s.pid) == console)
            .filter_map(|s| s.service.as_ref())
            .any(|s| s.output_room() == 0)
    }

    fn event(&mut self, kernel: &mut Kernel, event: Event) {
        let console = self.console_pid.filter(|_| self.console_started);
        match event {
            Event::Output { pid, stream, bytes } => match console {
                Some(console) => self.serve(kernel, console, |s, host| {
                    s.run_output(pid, stream, &bytes, host)
                }),
                None => write_raw(self.platform, &bytes),
            },
            Event::Exited(ended) => {
                // Every started service hears of every run's end (init restarts runs).
                let pids: Vec<Pid> = self
                    .slots
                    .iter()
                    .map(|s| s.pid)
                    .filter(|&p| Some(p) != self.console_pid || console.is_some())
                    .collect();
                for pid in pids {
                    self.serve(kernel, pid, |s, host| s.run_exited(&ended.info(), host));
                }
            }
            Event::Committed { service, watch } => {
                self.serve(kernel, service, |s, host| s.events_committed(watch, host));
            }
        }
    }

    /// Hands a request to the service it is for; its answer, if immediate, completes it.
    fn request(&mut self, kernel: &mut Kernel, request: request::Outgoing) {
        let service = request.service;
        let mut answer = None;
        self.serve(kernel, service, |s, host| {
            let req = zb_abi::scheme::Request {
                id: request.id,
                from: request.from,
                op: request.op.as_op(),
            };
            if let zb_abi::scheme::Answer::Now(reply) = s.request(req, host) {
                answer = Some(request::OwnedReply::from(reply));
            }
        });
        if let Some(reply) = answer {
            kernel.complete(service, request.id, reply);
        }
        kernel.charge_heap_to(request.from);
    }

    /// The earliest service timer.
    fn next_tick(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter_map(|s| s.service.as_ref()?.next_tick())
            .min()
    }

    /// Gives services whose timer is due their tick; true if any ran.
    fn tick(&mut self, kernel: &mut Kernel) -> bool {
        let now = self.platform.clock().now_us();
        let due: Vec<Pid> = self
            .slots
            .iter()
            .filter(|s| {
                s.service
                    .as_ref()
                    .and_then(|s| s.next_tick())
                    .is_some_and(|t| t <= now)
            })
            .map(|s| s.pid)
            .collect();
        for &pid in &due {
            self.serve(kernel, pid, |s, host| s.tick(host));
        }
        !due.is_empty()
    }
}

/// Writes kernel log bytes to the console with `\n` → `\r\n` (before the console service runs).
fn write_raw(platform: &'static dyn Platform, bytes: &[u8]) {
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            platform.console().write(b"\r\n");
        }
        platform.console().write(line);
    }
}

#[cfg(test)]
mod tests;
