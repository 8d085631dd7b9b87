//! Boot arguments: under QEMU, its `-append` text, which a semihosting SYS_GET_CMDLINE call
//! reads (`cargo xtask run --platform stm32f4 --node NAME`; QEMU puts the ELF's path first,
//! a word the arguments' readers skip). A board without a debugger has no
//! one to ask (the call would fault), and no arguments.
//!
//! Invariants: read at most once, into a fixed buffer ([`MAX`] bytes; a longer line is no
//! arguments, not a cut one); anything that is not UTF-8 is no arguments.

/// Longest argument line kept.
pub const MAX: usize = 256;
/// SYS_GET_CMDLINE.
const GET_CMDLINE: u32 = 0x15;

static ARGS: spin::Once<([u8; MAX], usize)> = spin::Once::new();

/// The boot arguments, or "".
pub fn boot_args() -> &'static str {
    let (buf, len) = ARGS.call_once(read);
    core::str::from_utf8(buf.get(..*len).unwrap_or_default()).unwrap_or("")
}

fn read() -> ([u8; MAX], usize) {
    let mut buf = [0u8; MAX];
    if !crate::power::debugger_attached() {
        return (buf, 0);
    }
    // The call's parameter block: the buffer and its size; the host writes the length back.
    let mut block: [u32; 2] = [buf.as_mut_ptr() as u32, MAX as u32];
    // SAFETY: a debugger (or QEMU) takes semihosting calls (checked above, so the BKPT does not
    // fault); SYS_GET_CMDLINE writes at most `block[1]` bytes into `buf` and the length into
    // `block[1]`; both live on this stack frame for the call's duration.
    let status =
        unsafe { cortex_m::asm::semihosting_syscall(GET_CMDLINE, block.as_mut_ptr() as u32) };
    let len = block[1] as usize;
    if status != 0 || len >= MAX {
        return (buf, 0);
    }
    (buf, len)
}
