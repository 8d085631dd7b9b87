//! The browser board: the web HAL, the kernel and the services, put together into one wasm
//! module that `www/worker.js` runs in a dedicated Web Worker. The boot archive (programs in
//! `/bin`, `/etc` files) is embedded in the module.
//!
//! The worker drives the kernel through three exports, each a plain function of numbers:
//! - [`zb_boot`]: brings the platform up and boots the kernel to its first prompt;
//! - [`zb_turn`]: runs the boot loop for up to a time budget and says when to call again
//!   (the kernel returns to the browser's event loop instead of halting a CPU);
//! - [`zb_input`] (with [`zb_input_buffer`]): typed bytes from the page's terminal.
//!
//! Invariants: the worker is single-threaded and calls one export at a time; a call made
//! while another is in progress (impossible from one worker) or before `zb_boot` is refused,
//! not obeyed.
#![no_std]

extern crate alloc;

use alloc::boxed::Box;
use core::cell::RefCell;

use zb_console::ConsoleService;
use zb_hal::{Clock, Platform};
use zb_init::InitService;
use zb_kernel::{HalBlock, Node, Turn};
use zb_nats::link::{NatsLink, Transport};
use zb_shell::Shell;
use zb_vfs::VfsService;

/// The boot archive (`zb_abi::bootfs` format); see `build.rs`.
static BOOT_FILES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bootfs.img"));

/// The booted node, between the worker's calls.
struct WorkerCell(RefCell<Option<Node<'static>>>);

// SAFETY: wasm32-unknown-unknown without the `atomics` feature has one thread: the worker's.
// Nothing can reach this cell from another thread, and the RefCell refuses re-entry.
unsafe impl Sync for WorkerCell {}

static NODE: WorkerCell = WorkerCell(RefCell::new(None));

/// Boots the kernel (banner, journal, services, first prompt). A second call does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn zb_boot() {
    let Ok(mut node) = NODE.0.try_borrow_mut() else {
        return;
    };
    if node.is_some() {
        return;
    }
    let platform = zb_hal_web::init();
    if let Some(why) = zb_hal_web::storage::problem() {
        use core::fmt::Write;
        let _ = write!(
            zb_hal_web::terminal::PanicWriter,
            "storage: {why}: /data and the journal are in RAM, not durable\r\n"
        );
    }
    // The services live as long as the worker: leaked once, here.
    let vfs = Box::leak(Box::new(VfsService::new(
        platform.block().map(HalBlock::boxed),
    )));
    let console = Box::leak(Box::new(ConsoleService::new(Shell::new())));
    let init = Box::leak(Box::new(InitService::new()));
    // The federation link reaches nats-server's websocket listener.
    let nats = Box::leak(Box::new(NatsLink::new(WebSocketLink)));
    let services: &'static mut [&'static mut dyn zb_abi::NativeService] =
        Box::leak(Box::new([console as _, vfs as _, nats as _, init as _]));
    let config = zb_kernel::KernelConfig::large(BOOT_FILES);
    *node = Some(Node::boot(platform, config, services));
}

/// Runs the boot loop until the kernel is idle or `budget_ms` has passed. Returns when to call
/// again: `0` at once (after letting the event loop run: there is more to do), a positive
/// number of milliseconds until the kernel's next deadline, or `-1` for no deadline (call
/// again when input arrives).
#[unsafe(no_mangle)]
pub extern "C" fn zb_turn(budget_ms: f64) -> f64 {
    let Ok(mut cell) = NODE.0.try_borrow_mut() else {
        return -1.0;
    };
    let Some(node) = cell.as_mut() else {
        return -1.0;
    };
    let clock = &zb_hal_web::clock::CLOCK;
    let start = clock.now_us();
    let budget_us = (budget_ms.max(0.0) * 1000.0) as u64;
    loop {
        match node.turn() {
            Turn::Busy => {
                if clock.now_us().saturating_sub(start) >= budget_us {
                    return 0.0;
                }
            }
            Turn::Idle { until_us: None } => return -1.0,
            Turn::Idle {
                until_us: Some(until),
            } => {
                let now = clock.now_us();
                if until <= now {
                    return 0.0;
                }
                return (until - now) as f64 / 1000.0;
            }
        }
    }
}

/// Where the worker writes typed bytes before calling [`zb_input`].
static INPUT: WorkerInput = WorkerInput(RefCell::new([0; INPUT_BYTES]));
const INPUT_BYTES: usize = 1024;

struct WorkerInput(RefCell<[u8; INPUT_BYTES]>);

// SAFETY: as for `WorkerCell`: one thread.
unsafe impl Sync for WorkerInput {}

/// The address of the input buffer ([`zb_input_capacity`] bytes) in linear memory.
#[unsafe(no_mangle)]
pub extern "C" fn zb_input_buffer() -> *mut u8 {
    INPUT.0.as_ptr().cast()
}

#[unsafe(no_mangle)]
pub extern "C" fn zb_input_capacity() -> usize {
    INPUT_BYTES
}

/// Takes up to `len` bytes the worker wrote at [`zb_input_buffer`] as typed input; returns how
/// many were taken (the rest waits in the worker until the kernel has read some).
#[unsafe(no_mangle)]
pub extern "C" fn zb_input(len: usize) -> usize {
    let Ok(buf) = INPUT.0.try_borrow() else {
        return 0;
    };
    zb_hal_web::terminal::received(&buf[..len.min(INPUT_BYTES)])
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    zb_kernel::panic::report(info);
    zb_hal_web::early_panic(info)
}

/// The federation link's transport in a browser: a WebSocket to nats-server's websocket
/// listener (`ws://HOST:PORT`; a bare `HOST:PORT` is taken as that). The worker wakes the
/// kernel when bytes arrive.
struct WebSocketLink;

impl Transport for WebSocketLink {
    fn kind(&self) -> &'static str {
        "websocket"
    }

    fn wakes_on_input(&self) -> bool {
        true
    }

    fn has_input(&self) -> bool {
        zb_hal_web::glue::ws::pending()
    }

    fn open(&mut self, server: &str, _: &mut dyn zb_abi::Host) -> Result<(), zb_abi::Error> {
        let url = if server.starts_with("ws://") || server.starts_with("wss://") {
            alloc::string::String::from(server)
        } else {
            alloc::format!("ws://{server}")
        };
        if zb_hal_web::glue::ws::open(&url) {
            Ok(())
        } else {
            Err(zb_abi::Error::Unreachable)
        }
    }

    fn read(&mut self, buf: &mut [u8], _: &mut dyn zb_abi::Host) -> Result<usize, zb_abi::Error> {
        zb_hal_web::glue::ws::recv(buf).ok_or(zb_abi::Error::Closed)
    }

    fn write(&mut self, data: &[u8], _: &mut dyn zb_abi::Host) -> Result<usize, zb_abi::Error> {
        zb_hal_web::glue::ws::send(data).ok_or(zb_abi::Error::Closed)
    }

    fn close(&mut self, _: &mut dyn zb_abi::Host) {
        zb_hal_web::glue::ws::close();
    }
}
