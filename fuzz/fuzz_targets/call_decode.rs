//! Fuzz target `call_decode`: the typed syscall decode (`zb_abi::call::Call::decode`) — the
//! one place a run's raw HOST call `(number, [i64; 6], memory length)` becomes a `Call`.
//!
//! The input is the call: a `u32` number (or, by its first byte, an index into
//! `Sysnum::ALL`, so that every call is reached), six `i64` arguments and the memory length
//! (missing bytes are zeros). Any input must give `Ok` or an `Err`. Beyond that it asserts:
//! - only numbers of `Sysnum::ALL` decode as a `Sysnum`, and a decoded call has that number;
//! - every `Buf` of a decoded call lies inside the memory (`start + len <= mem_len`, no
//!   overflow), and `args`/`grants` outputs (`Prefix`) only give ranges inside it;
//! - the error is one the ABI documents for decoding (invalid argument, bad address, too
//!   large, not found, unsupported);
//! - decoding is deterministic, and a call that decodes for a memory decodes the same for a
//!   larger one (a run's memory only grows; decoded ranges stay valid).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_abi::Error;
use zb_abi::call::Call;
use zb_abi::syscall::Sysnum;

fn word<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut b = [0u8; N];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = data.get(at + i).copied().unwrap_or(0);
    }
    b
}

/// Every `Buf { start, len }` in the call's debug text.
fn bufs(call: &Call) -> Vec<(u128, u128)> {
    let text = format!("{call:?}");
    let number = |s: &str| -> u128 {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().expect("a number")
    };
    text.match_indices("Buf { start: ")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let start = number(rest);
            let len_at = rest.find("len: ").expect("len") + 5;
            (start, number(&rest[len_at..]))
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let raw = u32::from_le_bytes(word(data, 0));
    let number = if data.first().is_some_and(|&b| b & 1 == 0) {
        Sysnum::ALL[usize::from(data[0] >> 1) % Sysnum::ALL.len()] as u32
    } else {
        raw
    };
    let mut args = [0i64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        *a = i64::from_le_bytes(word(data, 4 + 8 * i));
    }
    let mem_len = u64::from_le_bytes(word(data, 52)) as usize;

    let Ok(sysnum) = Sysnum::try_from(number) else {
        assert!(Sysnum::ALL.iter().all(|&s| s as u32 != number));
        return;
    };
    assert_eq!(sysnum as u32, number);
    let decoded = Call::decode(sysnum, &args, mem_len);
    assert_eq!(
        Call::decode(sysnum, &args, mem_len),
        decoded,
        "deterministic"
    );
    match decoded {
        Ok(call) => {
            assert_eq!(call.sysnum(), sysnum);
            for (start, len) in bufs(&call) {
                assert!(start + len <= mem_len as u128, "{call:?} outside {mem_len}");
            }
            if let Call::Args { out } | Call::Grants { out } = call {
                for (n, unit) in [(0, 1), (1, 64), (out.cap, 4), (usize::MAX, 256)] {
                    if let Ok(r) = out.take(n, unit, mem_len) {
                        assert!(r.start <= r.end && r.end <= mem_len);
                    }
                }
            }
            for larger in [
                mem_len.saturating_add(1),
                mem_len.saturating_mul(2),
                usize::MAX,
            ] {
                assert_eq!(Call::decode(sysnum, &args, larger), Ok(call), "memory grew");
            }
        }
        Err(e) => assert!(
            matches!(
                e,
                Error::InvalidArgument
                    | Error::BadAddress
                    | Error::TooLarge
                    | Error::NotFound
                    | Error::Unsupported
            ),
            "{sysnum:?}: undocumented decode error {e:?}"
        ),
    }
});
