//! Run output made harmless for the terminal: control characters are shown, not obeyed.
//!
//! A run's bytes reach the operator's screen; a terminal obeys control characters and escape
//! sequences in them (move the cursor, erase the screen, rewrite a line), so a run could draw
//! a fake prompt over the real one. The [`Escaper`] turns a run's bytes into what the wire
//! gets:
//! - newline becomes `\r\n` (the output line discipline) and tab passes;
//! - every other C0 control and DEL is shown in caret notation, as `cat -v` does: ESC `^[`,
//!   BEL `^G`, backspace `^H`, DEL `^?`;
//! - CR: `\r\n` is a newline; a bare `\r` (which would let the rest of the line overwrite it)
//!   is shown as `^M`;
//! - valid UTF-8 passes unchanged, except the C1 controls U+0080–U+009F (some terminals obey
//!   them): their two bytes are shown as `\xc2\x9b`; a byte that is not part of valid UTF-8
//!   (a lone C1 byte 0x80–0x9F among them) is shown as `\xNN`.
//!
//! A UTF-8 character or a `\r\n` split between two writes of the same run and stream is put
//! back together: the unfinished part is held (at most 3 bytes, or one CR) until the next
//! write of that source, and ended — shown escaped — when another source writes, when the run
//! ends ([`Escaper::end`]), or dropped with the run's output ([`Escaper::forget`]).

use alloc::vec::Vec;

use zb_abi::Pid;

/// Who wrote: a run and its stream (1 stdout, 2 stderr).
pub type Source = (Pid, i32);

const ESC_HEX: &[u8; 16] = b"0123456789abcdef";

/// The state between two writes of a run's output; see the module documentation.
#[derive(Debug, Default)]
pub struct Escaper {
    /// Whose bytes are held.
    source: Option<Source>,
    /// A UTF-8 character begun: its first `len` bytes.
    held: [u8; 4],
    len: u8,
    /// Continuation bytes it still needs, and the range the next one must fall in (UTF-8
    /// excludes overlong forms and surrogates through the second byte's range).
    need: u8,
    lo: u8,
    hi: u8,
    /// A `\r` was the last byte: a newline if `\n` follows, `^M` otherwise.
    cr: bool,
}

/// The most bytes [`Escaper::feed`] of `len` bytes (or [`Escaper::end`], `len` 0) appends:
/// every byte becomes at most four (`\xNN`), and what was held from the write before comes
/// out with it — at most 3 bytes of a character (12 escaped) or a CR (`^M`). The queue
/// reserves this much before it writes, so the write itself never allocates.
pub const fn max_escaped(len: usize) -> usize {
    len.saturating_mul(4).saturating_add(12)
}

impl Escaper {
    /// Appends the terminal form of `bytes`, written by `source`, to `out`.
    pub fn feed(&mut self, source: Source, bytes: &[u8], out: &mut Vec<u8>) {
        if self.source != Some(source) {
            self.flush(out);
            self.source = Some(source);
        }
        for &b in bytes {
            self.byte(b, out);
        }
    }

    /// Run `pid` ended: what it left unfinished is shown (escaped) in `out`.
    pub fn end(&mut self, pid: Pid, out: &mut Vec<u8>) {
        if self.source.is_some_and(|(p, _)| p == pid) {
            self.flush(out);
            self.source = None;
        }
    }

    /// Run `pid`'s output is dropped: so is what it left unfinished.
    pub fn forget(&mut self, pid: Pid) {
        if self.source.is_some_and(|(p, _)| p == pid) {
            *self = Escaper::default();
        }
    }

    /// Shows what is held, escaped.
    fn flush(&mut self, out: &mut Vec<u8>) {
        if core::mem::take(&mut self.cr) {
            out.extend_from_slice(b"^M");
        }
        self.escape_held(out);
    }

    fn escape_held(&mut self, out: &mut Vec<u8>) {
        for &b in &self.held[..usize::from(self.len)] {
            hex(b, out);
        }
        self.len = 0;
        self.need = 0;
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        if core::mem::take(&mut self.cr) {
            if b == b'\n' {
                out.extend_from_slice(b"\r\n");
                return;
            }
            out.extend_from_slice(b"^M");
        }
        if self.need > 0 {
            if b >= self.lo && b <= self.hi {
                self.held[usize::from(self.len)] = b;
                self.len += 1;
                self.need -= 1;
                (self.lo, self.hi) = (0x80, 0xBF);
                if self.need == 0 {
                    let char = &self.held[..usize::from(self.len)];
                    if char[0] == 0xC2 && char[1] < 0xA0 {
                        // U+0080–U+009F: a C1 control.
                        self.escape_held(out);
                    } else {
                        out.extend_from_slice(char);
                        self.len = 0;
                    }
                }
                return;
            }
            // Not a continuation: the character was never finished.
            self.escape_held(out);
        }
        // (continuation bytes needed, the next one's range)
        let start = match b {
            b'\n' => return out.extend_from_slice(b"\r\n"),
            b'\r' => {
                self.cr = true;
                return;
            }
            b'\t' | 0x20..=0x7E => return out.push(b),
            0x00..=0x1F => return out.extend_from_slice(&[b'^', b + 0x40]),
            0x7F => return out.extend_from_slice(b"^?"),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return hex(b, out),
        };
        (self.need, self.lo, self.hi) = start;
        self.held[0] = b;
        self.len = 1;
    }
}

/// `\xNN`.
fn hex(b: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[
        b'\\',
        b'x',
        ESC_HEX[usize::from(b >> 4)],
        ESC_HEX[usize::from(b & 15)],
    ]);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    /// No write appends more than `max_escaped` says, whatever was held before it: every
    /// byte value after every held state (a begun character of 1–3 bytes, a CR), and runs of
    /// the bytes that expand most.
    #[test]
    fn writes_stay_within_max_escaped() {
        let befores: [&[u8]; 5] = [b"", b"\r", b"\xf0", b"\xf0\x90", b"\xf0\x90\x80"];
        let worst: [&[u8]; 4] = [b"\x9b\x9b\x9b", b"\n\n\n", b"\r\r\r", b"\x01\xc2\x9b"];
        for before in befores {
            for b in 0..=255u8 {
                for tail in worst {
                    let mut e = Escaper::default();
                    let mut out = Vec::new();
                    e.feed((5, 1), before, &mut out);
                    let write = [&[b][..], tail].concat();
                    let at = out.len();
                    e.feed((5, 1), &write, &mut out);
                    assert!(
                        out.len() - at <= max_escaped(write.len()),
                        "{before:?} {write:?}"
                    );
                    let at = out.len();
                    e.end(5, &mut out);
                    assert!(out.len() - at <= max_escaped(0));
                    // Another source writing ends the held part too.
                    let mut e2 = Escaper::default();
                    let mut out2 = Vec::new();
                    e2.feed((5, 1), before, &mut out2);
                    let at = out2.len();
                    e2.feed((6, 1), &write, &mut out2);
                    assert!(out2.len() - at <= max_escaped(write.len()));
                }
            }
        }
    }

    /// The wire form of `writes`, all from run 5's stdout, then the run's end.
    fn shown(writes: &[&[u8]]) -> String {
        let mut e = Escaper::default();
        let mut out = Vec::new();
        for w in writes {
            e.feed((5, 1), w, &mut out);
        }
        e.end(5, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_newlines_and_tabs_pass() {
        assert_eq!(shown(&[b"a\tb\nc\r\n"]), "a\tb\r\nc\r\n");
        assert_eq!(shown(&["é ü 日本 🦀\n".as_bytes()]), "é ü 日本 🦀\r\n");
    }

    #[test]
    fn controls_are_shown_in_caret_notation() {
        assert_eq!(
            shown(&[b"\x1b[2J\x1b[Hzb:/> \x07\x08\x7f\x00\x0c"]),
            "^[[2J^[[Hzb:/> ^G^H^?^@^L"
        );
        // A bare CR would let the rest overwrite the line.
        assert_eq!(shown(&[b"50%\r60%\r"]), "50%^M60%^M");
        assert_eq!(shown(&[b"\r\r\n"]), "^M\r\n");
    }

    #[test]
    fn c1_controls_and_invalid_utf8_are_shown_as_hex() {
        // CSI as a raw byte, and as UTF-8 (U+009B).
        assert_eq!(shown(&[b"\x9b2J"]), "\\x9b2J");
        assert_eq!(shown(&[b"\xc2\x9b2J \xc2\xa0"]), "\\xc2\\x9b2J \u{a0}");
        // Overlong, surrogate, past U+10FFFF, a lead without its continuation, a stray
        // continuation.
        assert_eq!(shown(&[b"\xc0\xaf"]), "\\xc0\\xaf");
        assert_eq!(shown(&[b"\xed\xa0\x80"]), "\\xed\\xa0\\x80");
        assert_eq!(shown(&[b"\xf4\x90\x80\x80"]), "\\xf4\\x90\\x80\\x80");
        assert_eq!(shown(&[b"\xe6\x97x"]), "\\xe6\\x97x");
        assert_eq!(shown(&[b"\x80\xbf"]), "\\x80\\xbf");
        // An unfinished character at the run's end.
        assert_eq!(shown(&[b"ok\xf0\x9f"]), "ok\\xf0\\x9f");
    }

    #[test]
    fn characters_and_crlf_split_across_writes_are_joined() {
        let crab = "🦀".as_bytes();
        assert_eq!(shown(&[&crab[..1], &crab[1..3], &crab[3..]]), "🦀");
        assert_eq!(shown(&[b"line\r", b"\nnext"]), "line\r\nnext");
        assert_eq!(shown(&[b"a\r", b"b"]), "a^Mb");
    }

    #[test]
    fn another_source_ends_what_is_held() {
        let mut e = Escaper::default();
        let mut out = Vec::new();
        e.feed((5, 1), b"x\xc3", &mut out);
        e.feed((5, 2), b"\xa9", &mut out);
        assert_eq!(out, b"x\\xc3\\xa9");
        out.clear();
        e.feed((6, 1), b"\r", &mut out);
        e.end(5, &mut out);
        assert_eq!(out, b"", "run 5 holds nothing");
        e.forget(6);
        e.end(6, &mut out);
        assert_eq!(out, b"", "run 6's CR was dropped with its output");
    }
}
