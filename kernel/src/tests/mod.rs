//! Host tests of the kernel core against a simulated platform.

extern crate std;

use std::string::String;
use std::sync::Mutex;
use std::vec::Vec;

use zb_abi::{Admin, Console as _, Error, PowerAction, System};
use zb_hal::{Clock, Console, Cpu, FrameStats, HeapStats, MemoryReport, Platform, Power};

use crate::{Kernel, KernelConfig, KernelHost};

mod bus;
mod replay;
mod runs;

/// A platform whose console is a byte vector.
struct SimPlatform {
    wire: Mutex<Vec<u8>>,
}

impl SimPlatform {
    fn leak() -> &'static SimPlatform {
        std::boxed::Box::leak(std::boxed::Box::new(SimPlatform {
            wire: Mutex::new(Vec::new()),
        }))
    }

    fn output(&self) -> String {
        String::from_utf8(self.wire.lock().unwrap().clone()).unwrap()
    }
}

impl Console for SimPlatform {
    fn write(&self, bytes: &[u8]) {
        self.wire.lock().unwrap().extend_from_slice(bytes);
    }
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
        self.write(bytes);
    }
}

impl Clock for SimPlatform {
    fn now_us(&self) -> u64 {
        1_500_000
    }
    fn cycles(&self) -> u64 {
        3_000_000_123
    }
    fn tick_hz(&self) -> u32 {
        1000
    }
}

impl Cpu for SimPlatform {
    fn disable_interrupts(&self) -> bool {
        true
    }
    fn enable_interrupts(&self) {}
    fn idle(&self, _: &dyn Fn() -> bool) {}
}

impl Power for SimPlatform {
    fn shutdown(&self, success: bool) -> ! {
        panic!("shutdown({success})")
    }
    fn reboot(&self) -> ! {
        panic!("reboot")
    }
}

impl Platform for SimPlatform {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn machine(&self) -> &'static str {
        "simulated machine"
    }
    fn console(&self) -> &dyn Console {
        self
    }
    fn clock(&self) -> &dyn Clock {
        self
    }
    fn cpu(&self) -> &dyn Cpu {
        self
    }
    fn memory(&self) -> MemoryReport {
        MemoryReport {
            ram_total: 256 << 20,
            heap: HeapStats {
                used: 100,
                free: 900,
                total: 1000,
            },
            frames: Some(FrameStats {
                used: 10,
                total: 100,
                frame_size: 4096,
            }),
        }
    }
    fn power(&self) -> &dyn Power {
        self
    }
}

#[test]
fn host_reports_platform_facts() {
    let p = SimPlatform::leak();
    let mut k = Kernel::new(p, KernelConfig::large(&[]));
    let host = KernelHost::new(p, 42_000, &mut k, 1);
    let s = host.sysinfo();
    assert_eq!(
        (s.platform, s.machine, s.boot_us),
        ("sim", "simulated machine", 42_000)
    );
    assert_eq!(s.version, zb_abi::OS_VERSION);
    assert_eq!(s.profile, crate::banner::PROFILE);
    assert_eq!(host.clock_us(), 1_500_000);
    assert_eq!(host.cycles(), 3_000_000_123);
    let m = host.meminfo();
    assert_eq!((m.heap.used, m.heap.free, m.heap.total), (100, 900, 1000));
    let f = m.frames.unwrap();
    assert_eq!(
        (f.used, f.free(), f.total, f.frame_size),
        (10, 90, 100, 4096)
    );
}

#[test]
fn console_writes_reach_the_device_unchanged() {
    let p = SimPlatform::leak();
    let mut k = Kernel::new(p, KernelConfig::large(&[]));
    let mut host = KernelHost::new(p, 0, &mut k, 1);
    host.console_write(b"a\nb\x1b[2J");
    assert_eq!(p.output(), "a\nb\x1b[2J");
}

#[test]
fn power_actions_go_to_the_platform() {
    let p = SimPlatform::leak();
    let host = || {
        KernelHost::new(
            p,
            0,
            std::boxed::Box::leak(std::boxed::Box::new(Kernel::new(
                p,
                KernelConfig::large(&[]),
            ))),
            1,
        )
    };
    let r = std::panic::catch_unwind(|| host().power(PowerAction::Shutdown));
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(*msg, "shutdown(true)");
    let r = std::panic::catch_unwind(|| host().power(PowerAction::Reboot));
    assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "reboot");
}

#[test]
#[cfg(not(feature = "test-hooks"))]
fn the_panic_hook_is_refused_in_normal_builds() {
    let p = SimPlatform::leak();
    let mut k = Kernel::new(p, KernelConfig::large(&[]));
    assert_eq!(
        KernelHost::new(p, 0, &mut k, 1).power(PowerAction::TestPanic),
        Error::Unsupported
    );
}

#[test]
fn banner_names_the_system_and_uses_crlf() {
    let p = SimPlatform::leak();
    crate::banner::print(p);
    crate::banner::print_boot_time(p, 12_345);
    let out = p.output();
    assert!(
        out.contains(&std::format!("ZeroBus OS {} (sim, ", zb_abi::OS_VERSION)),
        "{out}"
    );
    assert!(out.contains("machine: simulated machine\r\n"));
    assert!(out.contains("memory: 256.0 MiB usable RAM, 1000 B kernel heap\r\n"));
    assert!(out.contains("boot: kernel entry to prompt 12.345 ms\r\n"));
    assert!(
        !out.replace("\r\n", "").contains('\n'),
        "every newline is CRLF"
    );
}

#[test]
fn the_wall_clock_is_unknown_until_set_and_refuses_impossible_times() {
    // The simulated clock reads 1.5 s since boot.
    let p = SimPlatform::leak();
    let mut k = Kernel::new(p, KernelConfig::large(&[]));
    let mut host = KernelHost::new(p, 42_000, &mut k, 1);
    assert_eq!(host.wall_clock(), None);
    // Before boot (the clock would have read less than 0 then), and past the year 9999.
    assert_eq!(host.set_wall_clock(0), Err(zb_abi::Error::InvalidArgument));
    assert_eq!(
        host.set_wall_clock(zb_abi::time::LAST_SECOND + 1),
        Err(zb_abi::Error::InvalidArgument)
    );
    assert_eq!(host.wall_clock(), None, "a refused time changes nothing");
    assert_eq!(host.set_wall_clock(1_796_551_200), Ok(()));
    assert_eq!(host.wall_clock(), Some(1_796_551_200));
}

/// A service that only keeps a timer (cleared when it ticks).
struct Ticker {
    due_us: Option<u64>,
}

impl zb_abi::NativeService for Ticker {
    fn name(&self) -> &'static str {
        "ticker"
    }
    fn start(&mut self, _: &mut dyn zb_abi::Host) {}
    fn console_input(&mut self, _: &[u8], _: &mut dyn zb_abi::Host) {}
    fn next_tick(&self) -> Option<u64> {
        self.due_us
    }
    fn tick(&mut self, _: &mut dyn zb_abi::Host) {
        self.due_us = None;
    }
}

/// A host that returns to its event loop between turns (the browser) learns from
/// `Node::turn` when to come back: never before a service timer or a sleeper is due, and no
/// deadline at all when nothing waits for the clock.
#[test]
fn an_idle_node_says_until_when() {
    use crate::{Node, Turn};
    // The sim clock stands at 1.5 s: a timer due later is a deadline; one already due runs.
    let later = std::boxed::Box::leak(std::boxed::Box::new(Ticker {
        due_us: Some(9_000_000),
    }));
    let services: &'static mut [&'static mut dyn zb_abi::NativeService] =
        std::boxed::Box::leak(std::boxed::Box::new([later as _]));
    let mut node = Node::boot(SimPlatform::leak(), KernelConfig::large(&[]), services);
    let mut turns = 0;
    let turn = loop {
        match node.turn() {
            Turn::Busy if turns < 100 => turns += 1,
            other => break other,
        }
    };
    assert_eq!(
        turn,
        Turn::Idle {
            until_us: Some(9_000_000)
        }
    );

    let due = std::boxed::Box::leak(std::boxed::Box::new(Ticker {
        due_us: Some(1_000_000),
    }));
    let services: &'static mut [&'static mut dyn zb_abi::NativeService] =
        std::boxed::Box::leak(std::boxed::Box::new([due as _]));
    let mut node = Node::boot(SimPlatform::leak(), KernelConfig::large(&[]), services);
    assert_eq!(node.turn(), Turn::Busy, "the due timer ran");
    assert_eq!(node.turn(), Turn::Idle { until_us: None });
}
