//! The x86_64 PC board: the bootloader's entry point, the HAL, the kernel and the services,
//! put together into one kernel ELF that `cargo xtask image` wraps into BIOS and UEFI disks.
//! The boot archive (programs in `/bin`, `/etc` files) is the disks' ramdisk.
#![no_std]
#![no_main]

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::{BootInfo, entry_point};
extern crate alloc;

use zb_console::ConsoleService;
use zb_hal::Platform;
use zb_init::InitService;
use zb_kernel::{HalBlock, HalNet};
use zb_nats::link::{NatsLink, TcpTransport};
use zb_net::NetService;
use zb_shell::Shell;
use zb_vfs::VfsService;

/// What the kernel asks of the bootloader: all physical memory mapped (page tables are edited
/// through it) and a kernel stack big enough for the wasm interpreter's host calls.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = 512 * 1024;
    config
};

entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

/// What virtio-drivers and smoltcp log (the `log` facade), until the kernel moves it into the
/// system log. 4 KiB holds the boot's few lines many times over.
static LOG: zb_hal::LogQueue<4096> = zb_hal::LogQueue::new();

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    // Before the drivers come up, so what they log while probing is kept. Release builds keep
    // Info and up (virtio-drivers' device lines, every warning and error); debug builds add
    // Debug, where smoltcp's diagnostics are (DHCP, TCP anomalies, retransmits). Trace is
    // per-packet: it would push everything else out of the bounded system log.
    if log::set_logger(&LOG).is_ok() {
        log::set_max_level(if cfg!(debug_assertions) {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        });
    }
    let platform = zb_hal_x86_64::init(boot_info);
    // The services that own a device are handed it here, as a Tock board hands a capsule its
    // device: the disk behind /data to the vfs, the network card to the net service.
    let mut vfs = VfsService::new(platform.block().map(HalBlock::boxed));
    let mut console = ConsoleService::new(Shell::new());
    let mut init = InitService::new();
    let mut net = NetService::new(platform.net().map(HalNet::boxed));
    // The federation link reaches nats-server over TCP through the net service.
    let mut nats = NatsLink::new(TcpTransport::default());
    let mut config = zb_kernel::KernelConfig::large(zb_hal_x86_64::ramdisk());
    config.log_queue = Some(&LOG);
    // The console is pid 1; the kernel starts it last, after the file systems are mounted, the
    // network is up and init has started the boot runs.
    zb_kernel::run(
        platform,
        config,
        &mut [&mut console, &mut vfs, &mut net, &mut nats, &mut init],
    )
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    zb_kernel::panic::report(info);
    zb_hal_x86_64::early_panic(info)
}
