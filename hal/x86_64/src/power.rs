//! Shutdown and reset.
//!
//! Shutdown writes QEMU's `isa-debug-exit` device (port 0xF4; QEMU exits with `(v << 1) | 1`,
//! so success is 33, which xtask maps to 0), then halts for good — on a real PC the port is
//! unused and the machine just stops. Reset tries the chipset reset register (0xCF9), then
//! the keyboard controller, then a deliberate triple fault.

use qemu_exit::QEMUExit;
use x86_64::instructions::port::Port;
use zb_hal::Power;

/// The isa-debug-exit port xtask passes to QEMU.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// QEMU exit status meaning success: xtask maps it to 0.
pub const QEMU_SUCCESS: u32 = 33;

pub struct PcPower;
pub static POWER: PcPower = PcPower;

impl Power for PcPower {
    fn shutdown(&self, success: bool) -> ! {
        x86_64::instructions::interrupts::disable();
        // SAFETY: port 0xF4 is QEMU's debug-exit device, or unused on real hardware.
        let exit = unsafe { qemu_exit::X86::new(DEBUG_EXIT_PORT, QEMU_SUCCESS) };
        if success {
            exit.exit_success()
        } else {
            exit.exit_failure()
        }
    }

    fn reboot(&self) -> ! {
        x86_64::instructions::interrupts::disable();
        // SAFETY: 0xCF9 is the PCH/ICH reset control register (6 = full CPU reset); 0x64 is
        // the 8042 controller, whose command 0xFE pulses the reset line. Both are harmless if
        // absent.
        unsafe {
            Port::<u8>::new(0xCF9).write(0x06);
            for _ in 0..100_000 {
                core::hint::spin_loop();
            }
            let mut kbd_status = Port::<u8>::new(0x64);
            for _ in 0..100_000 {
                if kbd_status.read() & 0x02 == 0 {
                    break;
                }
            }
            kbd_status.write(0xFE);
            for _ in 0..100_000 {
                core::hint::spin_loop();
            }
        }
        // Last resort: an empty IDT turns the next exception into a triple fault (reset).
        static EMPTY: x86_64::structures::DescriptorTablePointer =
            x86_64::structures::DescriptorTablePointer {
                limit: 0,
                base: x86_64::VirtAddr::zero(),
            };
        // SAFETY: deliberately loading an empty IDT and trapping to force a CPU reset.
        unsafe {
            x86_64::instructions::tables::lidt(&EMPTY);
            core::arch::asm!("int3", options(nomem, nostack));
        }
        loop {
            x86_64::instructions::hlt();
        }
    }
}
