//! The STM32F4 board: cortex-m-rt's entry, the HAL, the kernel and the services, put together
//! into one firmware ELF (flashed by `cargo xtask flash`, or booted by QEMU's netduinoplus2).
//! The boot archive (programs in `/bin`, `/etc` files) is embedded in flash.
#![no_std]
#![no_main]

extern crate alloc;

use cortex_m_rt::entry;
use zb_console::ConsoleService;
use zb_hal::Platform;
use zb_init::InitService;
use zb_kernel::HalBlock;
use zb_shell::Shell;
use zb_vfs::VfsService;

/// The boot archive (`zb_abi::bootfs` format), read in place from flash. `build.rs` copies it
/// from the file `$ZB_BOOTFS` names (`cargo xtask` builds it and sets the variable); built
/// without it, it is empty and the kernel reports "boot files: none".
static BOOT_FILES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bootfs.img"));

#[entry]
fn main() -> ! {
    let board = zb_hal_stm32f4::init();
    // /data's flash (or the RAM standing in for it) goes to the vfs, which owns it.
    let mut vfs = VfsService::new(board.block().map(HalBlock::boxed));
    let mut console = ConsoleService::new(Shell::new());
    let mut init = InitService::new();
    // No `log` logger (config.log_queue stays None): none of this board's crates logs through
    // the facade, and the logger's formatting code would only cost flash.
    let config = zb_kernel::KernelConfig::small(BOOT_FILES);
    // The console is pid 1; the kernel starts it last, after the file systems are mounted and
    // init has started the boot runs.
    zb_kernel::run(board, config, &mut [&mut console, &mut vfs, &mut init])
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    zb_kernel::panic::report(info);
    zb_hal_stm32f4::early_panic(info)
}
