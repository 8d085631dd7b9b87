//! ZeroBus OS HAL for x86_64 PCs, booted by the `bootloader` crate (BIOS or UEFI).
//!
//! [`init`] brings the machine up in dependency order — clock anchor, serial console, GDT/TSS,
//! IDT, memory (frames, page mapping, heap), PIC and PIT, TSC calibration — and returns the
//! [`Pc`] platform the kernel runs on. One concept per module:
//!
//! | module | job |
//! |---|---|
//! | [`gdt`] | GDT and TSS, with an IST stack for double faults |
//! | [`interrupts`] | IDT: a report for every CPU exception, timer and serial IRQs via the PIC |
//! | [`serial`] | the 16550 COM1 console, interrupt-driven input |
//! | [`clock`] | PIT tick, TSC-based monotonic clock |
//! | [`memory`] | frame allocator from the boot memory map, page mapping, the kernel heap |
//! | [`power`] | shutdown (QEMU debug-exit) and reset |
//! | [`pci`] | PCI configuration space through the legacy ports 0xCF8/0xCFC |
//! | [`virtio`] | what `virtio-drivers` needs: DMA pages, bounce buffers, mapped registers |
//! | [`blk`] | the virtio-blk disk (PCI, polled) as the platform's [`zb_hal::BlockDevice`] |
//! | [`net`] | the virtio-net card (PCI, polled) as the platform's [`zb_hal::NetDevice`] |
//!
//! The boot archive (`zb_abi::bootfs`) arrives as the bootloader's ramdisk; [`ramdisk`] hands
//! it to the board as a `&'static [u8]`.
//!
//! Invariants: only CPU 0 runs; [`init`] is called exactly once, first thing in the kernel.
#![no_std]
#![feature(abi_x86_interrupt)]

extern crate alloc;

pub mod blk;
pub mod clock;
pub mod fw_cfg;
pub mod gdt;
pub mod interrupts;
pub mod memory;
pub mod net;
pub mod pci;
pub mod power;
pub mod rtc;
pub mod serial;
pub mod virtio;

use bootloader_api::BootInfo;
use zb_hal::{Clock, Console, Cpu, MemoryReport, Platform, Power};

/// The PC platform.
pub struct Pc {
    machine: spin::Once<&'static str>,
    /// The virtio-blk disks (probed once, at boot).
    disks: spin::Once<blk::Disks>,
    /// The journal's disk as a journal region.
    journal: spin::Once<Option<zb_hal::log::BlockLog<blk::VirtioDisk>>>,
    /// The network card (probed once, at boot), or why there is none.
    nic: spin::Once<Result<net::VirtioNic, &'static str>>,
    /// The boot arguments (QEMU's fw_cfg), read once at boot.
    args: spin::Once<&'static str>,
}

static PC: Pc = Pc {
    machine: spin::Once::new(),
    disks: spin::Once::new(),
    journal: spin::Once::new(),
    nic: spin::Once::new(),
    args: spin::Once::new(),
};

/// Bytes per journal segment on a disk.
const JOURNAL_SEGMENT: u32 = 256 << 10;

/// The ramdisk, recorded by [`init`].
static RAMDISK: spin::Once<&'static [u8]> = spin::Once::new();

/// Brings up the machine. Call first thing in the kernel's entry point.
pub fn init(boot_info: &'static mut BootInfo) -> &'static Pc {
    clock::mark_entry();
    serial::init();
    gdt::init();
    interrupts::init_idt();
    RAMDISK.call_once(|| ramdisk_of(boot_info));
    memory::init(boot_info);
    interrupts::init_pic();
    clock::init_tick();
    let disks = PC.disks.call_once(blk::probe);
    PC.journal.call_once(|| {
        disks
            .journal
            .as_ref()
            .and_then(|d| zb_hal::log::BlockLog::new(d, JOURNAL_SEGMENT))
    });
    PC.nic.call_once(net::probe);
    PC.args
        .call_once(|| alloc::boxed::Box::leak(fw_cfg::boot_args().into_boxed_str()));
    x86_64::instructions::interrupts::enable();
    let tsc_hz = clock::calibrate_tsc();
    PC.machine.call_once(|| {
        let cpu = cpu_brand();
        let s = alloc::format!(
            "PC, {} ({}.{:02} GHz TSC)",
            cpu.trim(),
            tsc_hz / 1_000_000_000,
            tsc_hz / 10_000_000 % 100
        );
        alloc::boxed::Box::leak(s.into_boxed_str())
    });
    &PC
}

/// The ramdisk the bootloader loaded (the boot archive); empty if there is none or before
/// [`init`].
pub fn ramdisk() -> &'static [u8] {
    RAMDISK.get().copied().unwrap_or(&[])
}

fn ramdisk_of(boot_info: &BootInfo) -> &'static [u8] {
    let Some(addr) = boot_info.ramdisk_addr.into_option() else {
        return &[];
    };
    let Ok(len) = usize::try_from(boot_info.ramdisk_len) else {
        return &[];
    };
    if addr == 0 || len == 0 {
        return &[];
    }
    // SAFETY: the bootloader loaded the ramdisk into memory and mapped all `len` bytes at
    // virtual address `addr` in the kernel's page tables (present, no-execute), for good: the
    // kernel never unmaps them. Its frames are reported as `Bootloader` memory, never
    // `Usable`, so the frame allocator (`memory`) never hands them out, and no code writes to
    // the mapping — so the bytes stay valid and unchanged for `'static`. A `u8` slice needs
    // no alignment.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

/// The CPU's brand string from CPUID leaves 0x8000_0002..4.
fn cpu_brand() -> alloc::string::String {
    use core::arch::x86_64::__cpuid;
    let max = __cpuid(0x8000_0000).eax;
    if max < 0x8000_0004 {
        return "unknown x86_64 CPU".into();
    }
    let mut bytes = alloc::vec::Vec::with_capacity(48);
    for leaf in 0x8000_0002..=0x8000_0004u32 {
        let r = __cpuid(leaf);
        for reg in [r.eax, r.ebx, r.ecx, r.edx] {
            bytes.extend_from_slice(&reg.to_le_bytes());
        }
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    alloc::string::String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl Platform for Pc {
    fn name(&self) -> &'static str {
        "x86_64"
    }

    fn machine(&self) -> &'static str {
        self.machine.get().copied().unwrap_or("PC")
    }

    fn console(&self) -> &dyn Console {
        &serial::COM1
    }

    fn clock(&self) -> &dyn Clock {
        &clock::CLOCK
    }

    fn cpu(&self) -> &dyn Cpu {
        &X86Cpu
    }

    fn memory(&self) -> MemoryReport {
        memory::report()
    }

    fn power(&self) -> &dyn Power {
        &power::POWER
    }

    fn drivers(&self) -> &'static [&'static str] {
        match (self.block().is_some(), self.net().is_some()) {
            (true, true) => &["uart16550", "pit-tsc", "virtio-blk", "virtio-net"],
            (true, false) => &["uart16550", "pit-tsc", "virtio-blk"],
            (false, true) => &["uart16550", "pit-tsc", "virtio-net"],
            (false, false) => &["uart16550", "pit-tsc"],
        }
    }

    fn net(&self) -> Option<&dyn zb_hal::NetDevice> {
        self.nic.get()?.as_ref().ok().map(|n| n as _)
    }

    fn heap(&self) -> Option<&zb_hal::KernelHeap> {
        Some(memory::heap())
    }

    fn wall_clock_secs(&self) -> Option<u64> {
        rtc::unix_seconds()
    }

    fn boot_args(&self) -> &'static str {
        self.args.get().copied().unwrap_or("")
    }

    fn block(&self) -> Option<&dyn zb_hal::BlockDevice> {
        match &self.disks.get()?.data {
            Ok(disk) => Some(disk),
            Err(_) => None,
        }
    }

    fn journal(&self) -> Option<&dyn zb_hal::log::LogStorage> {
        self.journal.get()?.as_ref().map(|j| j as _)
    }
}

impl Pc {
    /// Why there is no disk, if there is none (for the boot log).
    pub fn disk_problem(&self) -> Option<&'static str> {
        self.disks
            .get()
            .and_then(|d| d.data.as_ref().err().copied())
    }
}

struct X86Cpu;

impl Cpu for X86Cpu {
    fn disable_interrupts(&self) -> bool {
        let was = x86_64::instructions::interrupts::are_enabled();
        x86_64::instructions::interrupts::disable();
        was
    }

    fn enable_interrupts(&self) {
        x86_64::instructions::interrupts::enable();
    }

    fn idle(&self, work_pending: &dyn Fn() -> bool) {
        use x86_64::instructions::interrupts;
        interrupts::disable();
        if work_pending() {
            interrupts::enable();
        } else {
            // `sti; hlt` as one step: an interrupt arriving after the check still wakes us.
            interrupts::enable_and_hlt();
        }
    }
}

/// Last-resort panic output for panics before the kernel has the platform: raw serial, then
/// failure exit.
pub fn early_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    x86_64::instructions::interrupts::disable();
    let _ = write!(serial::PanicWriter, "\r\n!!! EARLY BOOT PANIC: {info}\r\n");
    power::POWER.shutdown(false)
}
