//! The STM32F4 board: cortex-m-rt's entry, the HAL, the kernel and the services, put together
//! into one firmware ELF (flashed by `cargo xtask flash`, or booted by QEMU's netduinoplus2).
//! The boot archive (programs in `/bin`, `/etc` files) is embedded in flash.
#![no_std]
#![no_main]

extern crate alloc;

use cortex_m_rt::entry;
use zb_console::ConsoleService;
use zb_hal::Platform;
use zb_hal_stm32f4::serial::USART2_LINK;
use zb_init::InitService;
use zb_kernel::HalBlock;
use zb_nats::link::{NatsLink, Transport};
use zb_shell::Shell;
use zb_vfs::VfsService;

/// The boot archive (`zb_abi::bootfs` format), read in place from flash. `build.rs` copies it
/// from the file `$ZB_BOOTFS` names (`cargo xtask` builds it and sets the variable); built
/// without it, it is empty and the kernel reports "boot files: none".
static BOOT_FILES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bootfs.img"));

/// The QEMU build's second archive: the test programs (`hostile`, `sysfuzz`, `pressure`,
/// `memhog`), in the flash sectors a board keeps /data and the journal in (memory.x), so the
/// firmware proper has room for what a board runs.
#[cfg(feature = "qemu")]
#[unsafe(link_section = ".testfiles")]
static TEST_FILES: [u8; TEST_FILES_LEN] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/bootfs-tests.img"));
#[cfg(feature = "qemu")]
const TEST_FILES_LEN: usize = include_bytes!(concat!(env!("OUT_DIR"), "/bootfs-tests.img")).len();

#[entry]
fn main() -> ! {
    let board = zb_hal_stm32f4::init();
    // /data's flash (or the RAM standing in for it) goes to the vfs, which owns it.
    let mut vfs = VfsService::new(board.block().map(HalBlock::boxed));
    let mut console = ConsoleService::new(Shell::new());
    let mut init = InitService::new();
    // No `log` logger (config.log_queue stays None): none of this board's crates logs through
    // the facade, and the logger's formatting code would only cost flash.
    #[allow(unused_mut)]
    let mut config = zb_kernel::KernelConfig::small(BOOT_FILES);
    #[cfg(feature = "qemu")]
    {
        config.more_boot_files = &TEST_FILES;
    }
    // The console is pid 1; the kernel starts it last, after the file systems are mounted and
    // init has started the boot runs. The federation link speaks NATS over USART2 (the board
    // has no network card); without a server named (boot argument `nats=`, or `server` in
    // /etc/federation) it is left out: a service that stays off would still hold some heap.
    if zb_nats::link::configured(BOOT_FILES, board.boot_args()) {
        let mut nats = NatsLink::new(Usart2);
        zb_kernel::run(
            board,
            config,
            &mut [&mut console, &mut vfs, &mut nats, &mut init],
        )
    }
    zb_kernel::run(board, config, &mut [&mut console, &mut vfs, &mut init])
}

/// The federation link's line: USART2, a byte stream with no connection of its own — what is
/// at its other end (a USB-serial adapter to a PC, QEMU's socket to nats-server) may
/// reconnect to the server, which then starts over with a new `INFO`.
struct Usart2;

/// Bytes one write sends, at most: at 115200 baud about 5.5 ms of polling the UART.
const WRITE_CHUNK: usize = 64;

impl Transport for Usart2 {
    fn kind(&self) -> &'static str {
        "serial"
    }

    fn restarts_on_info(&self) -> bool {
        true
    }

    fn open(&mut self, _: &str, _: &mut dyn zb_abi::Host) -> Result<(), zb_abi::Error> {
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], _: &mut dyn zb_abi::Host) -> Result<usize, zb_abi::Error> {
        Ok(zb_hal_stm32f4::serial::read_link(buf))
    }

    fn write(&mut self, data: &[u8], _: &mut dyn zb_abi::Host) -> Result<usize, zb_abi::Error> {
        let chunk = data.get(..WRITE_CHUNK.min(data.len())).unwrap_or(data);
        zb_hal::Console::write(&USART2_LINK, chunk);
        Ok(chunk.len())
    }

    fn close(&mut self, _: &mut dyn zb_abi::Host) {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    zb_kernel::panic::report(info);
    zb_hal_stm32f4::early_panic(info)
}
