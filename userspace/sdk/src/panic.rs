//! The default `#[panic_handler]` (feature `panic-handler`, wasm32 only): the message goes to
//! stderr as `panic: <message> at <file>:<line>`, then the run traps with `unreachable`, so
//! the kernel ends it with status `panic`.

use core::fmt::Write;

use crate::io::{BufWriter, PRINT_BUFFER, Stream};

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut w = BufWriter::<PRINT_BUFFER>::new(Stream::Stderr);
    let _ = write!(w, "panic: {}", info.message());
    if let Some(at) = info.location() {
        let _ = write!(w, " at {}:{}", at.file(), at.line());
    }
    w.push(b"\n");
    let _ = w.flush();
    core::arch::wasm32::unreachable()
}
