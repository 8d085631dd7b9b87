//! Boot arguments: under QEMU, its `-append` text, which a semihosting SYS_GET_CMDLINE call
//! reads (`cargo xtask run --platform stm32f4 --node NAME`; QEMU puts the ELF's path first,
//! a word the arguments' readers skip). A board without a debugger has no
//! one to ask (the call would fault), and no arguments.
//!
//! Invariants: read at most once, through a buffer on the stack ([`MAX`] bytes; a longer line
//! is no arguments, not a cut one); only the `key=value` words are kept (on the heap: the
//! board's RAM is its heap, so nothing is reserved when there are none); anything that is not
//! UTF-8 is no arguments.

extern crate alloc;

/// Longest argument line kept.
pub const MAX: usize = 256;
/// SYS_GET_CMDLINE.
const GET_CMDLINE: u32 = 0x15;

static ARGS: spin::Once<&'static str> = spin::Once::new();

/// The boot arguments, or "".
pub fn boot_args() -> &'static str {
    ARGS.call_once(|| {
        let mut buf = [0u8; MAX];
        let len = read(&mut buf);
        let text = core::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or("");
        // QEMU puts the ELF's path first: only the arguments are kept.
        let words: alloc::vec::Vec<&str> = text
            .split_whitespace()
            .filter(|w| w.contains('='))
            .collect();
        if words.is_empty() {
            return "";
        }
        alloc::boxed::Box::leak(words.join(" ").into_boxed_str())
    })
}

/// Reads the command line into `buf`; its length (0: none).
fn read(buf: &mut [u8; MAX]) -> usize {
    if !crate::power::debugger_attached() {
        return 0;
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
        return 0;
    }
    len
}
