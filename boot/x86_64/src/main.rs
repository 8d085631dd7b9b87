//! The x86_64 PC board: the bootloader's entry point, the HAL, the kernel and the services,
//! put together into one kernel ELF that `cargo xtask image` wraps into BIOS and UEFI disks.
//! The boot archive (programs in `/bin`, `/etc` files) is the disks' ramdisk.
#![no_std]
#![no_main]

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::{BootInfo, entry_point};
use zb_console::ConsoleService;
use zb_shell::Shell;

/// What the kernel asks of the bootloader: all physical memory mapped (page tables are edited
/// through it) and a kernel stack big enough for the wasm interpreter's host calls.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = 512 * 1024;
    config
};

entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    let platform = zb_hal_x86_64::init(boot_info);
    let mut console = ConsoleService::new(Shell::new());
    let config = zb_kernel::KernelConfig::large(zb_hal_x86_64::ramdisk());
    zb_kernel::run(platform, config, &mut [&mut console])
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    zb_kernel::panic::report(info);
    zb_hal_x86_64::early_panic(info)
}
