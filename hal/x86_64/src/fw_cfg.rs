//! QEMU's firmware configuration device (fw_cfg, I/O ports 0x510/0x511), read once at boot
//! for the boot arguments: the file `opt/zerobus/args` that `cargo xtask run --node NAME
//! --nats HOST:PORT` passes with `-fw_cfg name=opt/zerobus/args,string=…`.
//!
//! Protocol (QEMU's docs/specs/fw_cfg.rst): write a 16-bit selector to port 0x510, then read
//! the item's bytes one at a time from port 0x511. Item 0 is the signature `QEMU`; item 0x19
//! the file directory: a big-endian u32 count, then per file a big-endian u32 size, u16
//! selector, u16 reserved and a 56-byte NUL-padded name.
//!
//! Invariants: on a machine without fw_cfg (a real PC) the signature does not match and there
//! are no arguments; the directory is bounded (at most [`MAX_FILES`] entries looked at) and
//! the arguments at most [`MAX_ARGS`] bytes of text — anything else is no arguments.

use alloc::string::String;
use x86_64::instructions::port::Port;

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const SIGNATURE: u16 = 0x00;
const FILE_DIR: u16 = 0x19;
/// The file the arguments are in.
pub const ARGS_FILE: &[u8] = b"opt/zerobus/args";
const MAX_FILES: u32 = 256;
const MAX_ARGS: u32 = 1024;

fn select(item: u16) {
    // SAFETY: port 0x510 is QEMU's fw_cfg selector; on a PC without fw_cfg the write goes to
    // an unused port and has no effect. Only this module touches it, during boot, on one CPU.
    unsafe { Port::<u16>::new(SELECTOR).write(item) }
}

fn byte() -> u8 {
    // SAFETY: as for `select`: reading fw_cfg's data port only advances its position in the
    // selected item (an unused port reads 0xff on a PC without fw_cfg).
    unsafe { Port::<u8>::new(DATA).read() }
}

fn bytes<const N: usize>() -> [u8; N] {
    core::array::from_fn(|_| byte())
}

/// The boot arguments, or empty.
pub fn boot_args() -> String {
    select(SIGNATURE);
    if bytes::<4>() != *b"QEMU" {
        return String::new();
    }
    select(FILE_DIR);
    let count = u32::from_be_bytes(bytes::<4>()).min(MAX_FILES);
    for _ in 0..count {
        let size = u32::from_be_bytes(bytes::<4>());
        let item = u16::from_be_bytes(bytes::<2>());
        let _reserved = bytes::<2>();
        let name = bytes::<56>();
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if name.get(..len) != Some(ARGS_FILE) {
            continue;
        }
        if size > MAX_ARGS {
            return String::new();
        }
        select(item);
        let raw: alloc::vec::Vec<u8> = (0..size).map(|_| byte()).collect();
        return String::from_utf8(raw)
            .map(|s| String::from(s.trim_end_matches(['\0', '\n'])))
            .unwrap_or_default();
    }
    String::new()
}
