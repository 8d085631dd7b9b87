//! The scratch zone of the programs that hand the kernel hostile ranges (`sysfuzz`,
//! `pressure`): memory grown past the static data, where no Rust object lives, so a kernel
//! that wrongly wrote through a range it should have refused could not corrupt the program.
//! Every access is bounds-checked against the zone and volatile (the kernel writes it behind
//! the compiler's back).

use core::arch::wasm32::{memory_grow, memory_size};

use zb_abi::syscall::nr;
use zb_sdk::{Error, raw_error, sys};

unsafe extern "C" {
    /// Where wasm-ld ends the static data: the scratch zone begins here.
    static __heap_base: u8;
}

/// The smallest zone (what `build.rs` gives `sysfuzz` in its initial memory).
pub const MIN_SCRATCH: i64 = 4 << 10;

/// The zone: `[base, end)`.
pub struct Scratch {
    pub base: i64,
    pub end: i64,
}

impl Scratch {
    pub const ZERO: Scratch = Scratch { base: 0, end: 0 };

    /// Grows memory so that the zone is `bytes` long (at least [`MIN_SCRATCH`]); false if the
    /// kernel heap has no room for it (past the run's memory limit the kernel ends the run).
    pub fn grow(&mut self, bytes: i64) -> bool {
        let heap_base = (&raw const __heap_base).addr() as i64;
        self.base = (heap_base + 15) & !15;
        let want = self.base + bytes.max(MIN_SCRATCH);
        let have = memory_size::<0>() as i64;
        if want > have && memory_grow::<0>((want - have) as usize) == usize::MAX {
            return false;
        }
        self.end = memory_size::<0>() as i64;
        true
    }

    pub fn poke(&self, at: i64, b: u8) {
        if at >= self.base && at < self.end {
            // SAFETY: `at` is in the scratch zone, which no Rust object occupies.
            unsafe { core::ptr::with_exposed_provenance_mut::<u8>(at as usize).write_volatile(b) }
        }
    }

    pub fn peek(&self, at: i64) -> u8 {
        if at >= self.base && at < self.end {
            // SAFETY: as for `poke`; any byte value is a valid u8.
            unsafe { core::ptr::with_exposed_provenance::<u8>(at as usize).read_volatile() }
        } else {
            0
        }
    }

    pub fn peek32(&self, at: i64) -> u32 {
        u32::from_le_bytes([
            self.peek(at),
            self.peek(at + 1),
            self.peek(at + 2),
            self.peek(at + 3),
        ])
    }

    pub fn poke32(&self, at: i64, v: u32) {
        for (i, b) in v.to_le_bytes().into_iter().enumerate() {
            self.poke(at + i as i64, b);
        }
    }

    /// Writes `bytes` at `at`; their length.
    pub fn put(&self, at: i64, bytes: &[u8]) -> i64 {
        for (i, &b) in bytes.iter().enumerate() {
            self.poke(at + i as i64, b);
        }
        bytes.len() as i64
    }

    /// Writes `text` at offset `slot` of the zone: (pointer, length).
    pub fn put_text(&self, slot: i64, text: &[u8]) -> (i64, i64) {
        let at = self.base + slot;
        (at, self.put(at, text))
    }

    /// Writes `n` (below 100) as two decimal digits at `at`; 2.
    pub fn two(&self, at: i64, n: u32) -> i64 {
        self.poke(at, b'0' + (n / 10 % 10) as u8);
        self.poke(at + 1, b'0' + (n % 10) as u8);
        2
    }
}

/// Makes HOST call `n` with the raw arguments `a`, as the ABI table lists them: the one
/// dispatch of the programs that hand the kernel chosen ranges (`sysfuzz`'s every call,
/// `pressure`'s few). `Unsupported` for a number it does not know.
///
/// # Safety
/// Every range the call may write (its `out` buffers) must lie in the scratch zone, past the
/// end of memory, or below 0 — never where a Rust object is; ranges it only reads may be
/// anything.
pub unsafe fn raw_call(n: u32, a: &[i64; 6]) -> i64 {
    let i = |k: usize| a[k] as i32;
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match n {
            nr::YIELD => {
                sys::yield_now();
                0
            }
            nr::GETPID => sys::getpid(),
            nr::CLOCK => sys::clock(),
            nr::SLEEP => sys::sleep(a[0]),
            nr::WRITE => sys::write(i(0), i(1), i(2)),
            nr::ARGS => sys::args(i(0), i(1)),
            nr::SPAWN => sys::spawn(i(0), i(1), i(2), i(3), i(4), i(5)),
            nr::WAIT => sys::wait(a[0]),
            nr::CHANNEL_CREATE => sys::channel_create(i(0)),
            nr::SEND => sys::send(i(0), i(1), i(2), i(3), i(4), i(5)),
            nr::RECV => sys::recv(i(0), i(1), i(2), i(3), i(4), i(5)),
            nr::CLOSE => sys::close(i(0)),
            nr::GRANTS => sys::grants(i(0), i(1)),
            nr::OPEN => sys::open(i(0), i(1), i(2)),
            nr::READ => sys::read(i(0), i(1), i(2)),
            nr::SEEK => sys::seek(i(0), a[1], i(2)),
            nr::STAT => sys::stat(i(0), i(1), i(2)),
            nr::READDIR => sys::readdir(i(0), i(1), i(2)),
            nr::UNLINK => sys::unlink(i(0), i(1)),
            nr::MKDIR => sys::mkdir(i(0), i(1)),
            nr::RMDIR => sys::rmdir(i(0), i(1)),
            nr::RENAME => sys::rename(i(0), i(1), i(2), i(3)),
            nr::STATFS => sys::statfs(i(0), i(1), i(2)),
            nr::EMIT => sys::emit(i(0), i(1), i(2), i(3), i(4), i(5)),
            nr::SUBSCRIBE => sys::subscribe(i(0), i(1), i(2), i(3)),
            nr::NEXT => sys::next(i(0), i(1), i(2), i(3)),
            nr::ACK => sys::ack(i(0), a[1], i(2)),
            nr::LAST_ERROR => sys::last_error(i(0), i(1)),
            nr::SCAN => sys::scan(i(0), i(1), i(2), i(3), i(4), i(5)),
            nr::SEAL => sys::seal(i(0), i(1)),
            nr::TIMER => sys::timer(i(0), i(1)),
            _ => raw_error(Error::Unsupported),
        }
    }
}
