//! `compute [iterations]`: a CPU-bound workload in the spirit of CoreMark — linked-list
//! processing, a small matrix multiply and a number-scanning state machine, each folded into
//! a CRC-16 — for `cargo xtask bench`'s compute figure. It never calls the kernel while it
//! works, so its time is the interpreter's and the scheduler's, nothing else.
//!
//! The work is the exported function `zb_compute(iterations, seed) -> crc`: the bench calls
//! the same module's export with plain wasmi on the host, and runs it here as a run, so both
//! execute exactly the same code. Prints `compute: <iterations> iterations, crc <n>`.
#![no_std]
#![no_main]

use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() -> Result<(), zb_sdk::Error> {
    let mut buf = [0u8; 64];
    let args = zb_sdk::args(&mut buf)?;
    let iterations = match args.iter().next() {
        Some(a) => parse(a).ok_or(zb_sdk::Error::InvalidArgument)?,
        None => 100,
    };
    let crc = zb_compute(iterations, 0x66);
    BufWriter::<80>::new(Stream::Stdout)
        .push_str("compute: ")
        .push_u64(iterations.into())
        .push_str(" iterations, crc ")
        .push_u64(crc.into())
        .push_str("\n")
        .flush()
}

fn parse(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u32, |n, &c| {
        let digit = c.is_ascii_digit().then(|| u32::from(c - b'0'))?;
        n.checked_mul(10)?.checked_add(digit)
    })
}

// Powers of two, and every index masked with them: the optimiser then proves each access in
// bounds and leaves out the panic paths (and the formatting code they pull in), which keeps
// the module small enough for the STM32F4's flash.
const LIST: usize = 64;
const N: usize = 8;

/// One call: `iterations` rounds of the three kernels; the CRC-16 of everything they produced.
#[unsafe(no_mangle)]
pub extern "C" fn zb_compute(iterations: u32, seed: u32) -> u32 {
    let mut crc: u16 = 0;
    let mut state = seed;
    for i in 0..iterations {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345 + i);
        crc = crc16(list_work(state) as u32, crc);
        crc = crc16(matrix_work(state), crc);
        crc = crc16(scan_work(state), crc);
    }
    u32::from(crc)
}

/// A linked list in an array (value, next): built in pseudo-random order, sorted by
/// insertion, reversed, then searched.
fn list_work(seed: u32) -> u16 {
    let mut value = [0i16; LIST];
    let mut next = [u8::MAX; LIST];
    let mut x = seed | 1;
    let mut head = u8::MAX;
    for i in 0..LIST {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        value[i] = (x & 0x7fff) as i16 - 0x4000;
        // Insert in order.
        let (mut prev, mut at) = (u8::MAX, head);
        while at != u8::MAX && value[at as usize & (LIST - 1)] < value[i] {
            prev = at;
            at = next[at as usize & (LIST - 1)];
        }
        next[i] = at;
        if prev == u8::MAX {
            head = i as u8;
        } else {
            next[prev as usize & (LIST - 1)] = i as u8;
        }
    }
    // Reverse.
    let (mut prev, mut at) = (u8::MAX, head);
    while at != u8::MAX {
        let n = next[at as usize & (LIST - 1)];
        next[at as usize & (LIST - 1)] = prev;
        prev = at;
        at = n;
    }
    head = prev;
    // Find every eighth value, counting steps.
    let mut crc = 0u16;
    for want in value.iter().step_by(8) {
        let mut at = head;
        let mut steps = 0u32;
        while at != u8::MAX && value[at as usize & (LIST - 1)] != *want {
            at = next[at as usize & (LIST - 1)];
            steps += 1;
        }
        crc = crc16(steps, crc);
    }
    crc
}

/// C = A·B + k over N×N 16-bit matrices, then a sum with a bit test per element.
#[allow(
    clippy::needless_range_loop,
    reason = "a matrix product reads best with indices"
)]
fn matrix_work(seed: u32) -> u32 {
    let mut a = [[0i32; N]; N];
    let mut b = [[0i32; N]; N];
    for i in 0..N {
        for j in 0..N {
            let v = seed
                .wrapping_add((i * N + j) as u32)
                .wrapping_mul(2_654_435_761);
            a[i][j] = (v >> 20) as i32 & 0xff;
            b[i][j] = (v >> 8) as i32 & 0xff;
        }
    }
    let mut sum = 0u32;
    for i in 0..N {
        for j in 0..N {
            let mut c = 0i32;
            for k in 0..N {
                c = c.wrapping_add(a[i][k].wrapping_mul(b[k][j]));
            }
            c = c.wrapping_add(seed as i32 & 0xf);
            if c & 0x10 != 0 {
                sum = sum.wrapping_add(c as u32);
            } else {
                sum ^= c as u32;
            }
        }
    }
    sum
}

/// A state machine over text: classifies tokens as integers, decimals, exponents or invalid.
fn scan_work(seed: u32) -> u32 {
    const TEXT: &[u8] = b"5012,1.5e3,-874,+122,7.0,3x9,0.025e-2,-.5,99999,1e,12.5.1,";
    let mut counts = [0u32; 4];
    let mut state = 0u8;
    let skip = (seed % 7) as usize;
    for &c in TEXT.iter().skip(skip).chain(TEXT.iter().take(skip)) {
        state = match (state, c) {
            (_, b',') => {
                let kind = match state {
                    1 => 0,
                    3 => 1,
                    5 => 2,
                    _ => 3,
                };
                counts[kind & 3] += 1;
                0
            }
            (0, b'+' | b'-') => 2,
            (0..=2, b'0'..=b'9') => 1,
            (0 | 2, b'.') => 4,
            (1, b'.') => 3,
            (3 | 4, b'0'..=b'9') => 3,
            (1 | 3, b'e' | b'E') => 6,
            (6, b'+' | b'-') => 7,
            (5..=7, b'0'..=b'9') => 5,
            _ => 9,
        };
    }
    counts[0] | counts[1] << 8 | counts[2] << 16 | counts[3] << 24
}

fn crc16(data: u32, mut crc: u16) -> u16 {
    for byte in data.to_le_bytes() {
        let mut x = byte;
        for _ in 0..8 {
            let carry = (x ^ crc as u8) & 1;
            x >>= 1;
            crc >>= 1;
            if carry != 0 {
                crc ^= 0xA001;
            }
        }
    }
    crc
}
