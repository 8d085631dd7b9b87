//! Shutdown and reset.
//!
//! Shutdown uses ARM semihosting's SYS_EXIT_EXTENDED, which QEMU (with `-semihosting`) and
//! probe-rs turn into an exit status. Without a debugger a semihosting call would fault, so on
//! a board the HAL first checks DHCSR.C_DEBUGEN and otherwise just stops the core.
//! Reset is the architectural SYSRESETREQ.

use qemu_exit::QEMUExit;
use zb_hal::Power;

pub struct BoardPower;
pub static POWER: BoardPower = BoardPower;

/// Whether a debugger (or QEMU, which is one for our purposes) can take semihosting calls.
pub(crate) fn debugger_attached() -> bool {
    if cfg!(feature = "qemu") {
        return true;
    }
    // DHCSR.C_DEBUGEN, read by cortex-m (an always-readable core debug register).
    cortex_m::peripheral::DCB::is_debugger_attached()
}

impl Power for BoardPower {
    fn shutdown(&self, success: bool) -> ! {
        cortex_m::interrupt::disable();
        if debugger_attached() {
            let exit = qemu_exit::AArch32::new();
            if success {
                exit.exit_success()
            } else {
                exit.exit_failure()
            }
        }
        loop {
            cortex_m::asm::wfi();
        }
    }

    fn reboot(&self) -> ! {
        cortex_m::peripheral::SCB::sys_reset()
    }
}
