//! What a wasm module will take of the kernel heap, read from its sections before it is
//! compiled (admission control: `Kernel::admit`). Nothing here validates the module — that is
//! the compiler's job; a module these readers cannot make sense of counts as small (0), and the
//! compiler refuses it.
//!
//! Two kinds of figure: how many bytes in all ([`code_bytes`], [`declared_memory`]), checked
//! against the heap's free bytes; and the large blocks compiling it holds at once
//! ([`compile_blocks`]) and its memory, checked against the heap's free blocks — on a small
//! heap the bytes may be free but not in pieces that large, and a compiler's buffers are not
//! fallible allocations.

/// Kernel heap a module of `wasm_bytes` takes compiled (its code and module data), at most
/// about. Measured on the STM32F4: with the compact bytecode 2.1-2.6x the wasm plus ~1.5 KiB
/// (`emit` 4.8 KiB → 10.2 KiB, `ledger` 13 → 26 KiB, `sleeper` 2.8 → 7.2 KiB); with wasmi's
/// default bytecode 2.8-3.3x.
pub(crate) fn code_bytes(wasm_bytes: usize) -> usize {
    let (num, den) = if cfg!(feature = "compact-code") {
        (9, 4)
    } else {
        (7, 2)
    };
    wasm_bytes.saturating_mul(num) / den + 2048
}

/// The blocks of heap compiling `wasm` holds at once at its peak, about: its largest
/// function's code as the translator builds it (a vector grown by doubling) and the exact-size
/// copy the engine keeps, made while the first is still held. Measured on the STM32F4 (compact
/// bytecode): the fuzzer's 6.3 KB `main` compiles to 10.5 KiB (1.7x its body; 2x is assumed).
/// Empty for a module without functions.
pub(crate) fn compile_blocks(wasm: &[u8]) -> [usize; 2] {
    let code = largest_function(wasm).saturating_mul(2);
    if code == 0 {
        return [0, 0];
    }
    [code.checked_next_power_of_two().unwrap_or(usize::MAX), code]
}

/// An unsigned LEB128 number at `*i` (moved past it).
fn leb(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The contents of the first section of kind `id` (empty if there is none or the module's
/// layout cannot be read).
fn section(wasm: &[u8], id: u8) -> &[u8] {
    let mut i = 8;
    while let Some(&kind) = wasm.get(i) {
        i += 1;
        let Some(size) = leb(wasm, &mut i).and_then(|s| usize::try_from(s).ok()) else {
            return &[];
        };
        let end = i.saturating_add(size);
        if kind == id {
            return wasm.get(i..end).unwrap_or(&[]);
        }
        i = end;
    }
    &[]
}

/// The initial size in bytes of the first memory `wasm` defines (0 if there is none or it
/// cannot be read).
pub(crate) fn declared_memory(wasm: &[u8]) -> usize {
    let memories = section(wasm, 5);
    let mut j = 0;
    let (Some(_count), Some(&flags)) = (leb(memories, &mut j), memories.get(j)) else {
        return 0;
    };
    j += 1;
    let Some(min) = leb(memories, &mut j) else {
        return 0;
    };
    if flags & 1 != 0 && leb(memories, &mut j).is_none() {
        return 0;
    }
    let page_log2 = if flags & 8 != 0 {
        leb(memories, &mut j).unwrap_or(16)
    } else {
        16
    };
    usize::try_from(min.saturating_mul(1u64 << page_log2.min(16))).unwrap_or(usize::MAX)
}

/// The size in bytes of the largest function body in `wasm`'s code section (0 if none).
pub(crate) fn largest_function(wasm: &[u8]) -> usize {
    let code = section(wasm, 10);
    let mut i = 0;
    let Some(count) = leb(code, &mut i) else {
        return 0;
    };
    let mut largest = 0;
    for _ in 0..count {
        let Some(size) = leb(code, &mut i).and_then(|s| usize::try_from(s).ok()) else {
            break;
        };
        largest = largest.max(size);
        i = i.saturating_add(size);
        if i > code.len() {
            break;
        }
    }
    largest
}
