//! The foreground run's stdin: a line discipline (canonical mode) and the read waiting for it.
//!
//! Typed bytes are edited on the current line (printable bytes and UTF-8 are echoed,
//! Backspace erases a character, escape sequences such as arrow keys are ignored); Enter moves
//! the line plus `\n` into the buffer a read takes from; Ctrl-D on an empty line is end of
//! input (one read returns 0), on a non-empty line sends the line without `\n`.
//!
//! Invariants: the line and the buffer are bounded ([`MAX_LINE`], [`MAX_BUFFERED`]; excess
//! input is dropped, not stored); at most one read waits, and only for the owner; a change of
//! owner drops everything typed for the previous one (the console first takes what the owner
//! left unread when it ends: [`Stdin::take_unread`]).

use alloc::vec::Vec;

use zb_abi::Pid;
use zb_abi::scheme::RequestId;

/// Longest line being typed.
pub const MAX_LINE: usize = 1024;
/// Most bytes typed ahead of the run's reads.
pub const MAX_BUFFERED: usize = 4096;

const CTRL_D: u8 = 0x04;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const ESC: u8 = 0x1b;

/// What a typed byte shows.
#[derive(Debug, PartialEq, Eq)]
pub enum Typed<'a> {
    Nothing,
    Echo(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ …` until a final byte.
    Csi,
}

#[derive(Default)]
pub struct Stdin {
    owner: Option<Pid>,
    line: Vec<u8>,
    buffered: Vec<u8>,
    eof: bool,
    escape: Escape,
    /// The owner's read that waits for input: its request and byte budget.
    waiting: Option<(RequestId, usize)>,
    /// The bytes of the last reply (replies borrow them).
    out: Vec<u8>,
    /// One byte echoed (replies borrow it).
    echo: [u8; 1],
}

impl Stdin {
    pub fn owner(&self) -> Option<Pid> {
        self.owner
    }

    /// Makes `pid` the owner; anything typed for another run is dropped.
    pub fn attach(&mut self, pid: Pid) {
        if self.owner != Some(pid) {
            self.detach();
            self.owner = Some(pid);
        }
    }

    /// Forgets the owner and all its input.
    pub fn detach(&mut self) {
        *self = Stdin::default();
    }

    /// Forgets the owner and returns what was typed for it and not read: the buffered lines
    /// (each ending in `\n`), then the line being typed. A pending end of input is dropped.
    pub fn take_unread(&mut self) -> Vec<u8> {
        let mut unread = core::mem::take(&mut self.buffered);
        unread.extend_from_slice(&self.line);
        self.detach();
        unread
    }

    /// A read of up to `len` bytes by the owner, request `id`: the data now, or `None` if the
    /// read must wait (it is kept, replacing an older waiting read).
    pub fn read(&mut self, id: RequestId, len: usize) -> Option<&[u8]> {
        if self.buffered.is_empty() && !self.eof {
            self.waiting = Some((id, len));
            return None;
        }
        Some(self.take(len))
    }

    /// The waiting read's reply, if there is input for it now.
    pub fn fill_waiting(&mut self) -> Option<(RequestId, &[u8])> {
        let (id, len) = self.waiting?;
        if self.buffered.is_empty() && !self.eof {
            return None;
        }
        self.waiting = None;
        Some((id, self.take(len)))
    }

    /// Moves up to `len` buffered bytes out (an empty result is end of input, used once).
    fn take(&mut self, len: usize) -> &[u8] {
        let n = len.min(self.buffered.len());
        self.out.clear();
        self.out.extend(self.buffered.drain(..n));
        if n == 0 {
            self.eof = false;
        }
        &self.out
    }

    /// One typed byte.
    pub fn feed(&mut self, b: u8) -> Typed<'_> {
        match self.escape {
            Escape::Start => {
                self.escape = if b == b'[' { Escape::Csi } else { Escape::None };
                return Typed::Nothing;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::None;
                }
                return Typed::Nothing;
            }
            Escape::None => {}
        }
        match b {
            ESC => {
                self.escape = Escape::Start;
                Typed::Nothing
            }
            b'\r' | b'\n' => {
                self.line.push(b'\n');
                self.commit();
                Typed::Echo(b"\n")
            }
            CTRL_D => {
                if self.line.is_empty() {
                    self.eof = true;
                } else {
                    self.commit();
                }
                Typed::Nothing
            }
            BACKSPACE | DELETE => {
                // Remove one whole UTF-8 character.
                while let Some(last) = self.line.pop() {
                    if last & 0xC0 != 0x80 {
                        return Typed::Echo(b"\x08 \x08");
                    }
                }
                Typed::Nothing
            }
            b if b < 0x20 => Typed::Nothing,
            b => {
                if self.line.len() >= MAX_LINE {
                    return Typed::Nothing;
                }
                self.line.push(b);
                self.echo = [b];
                Typed::Echo(&self.echo)
            }
        }
    }

    /// The typed line goes to the buffer (what does not fit is dropped).
    fn commit(&mut self) {
        let room = MAX_BUFFERED - self.buffered.len();
        let n = room.min(self.line.len());
        self.buffered.extend_from_slice(&self.line[..n]);
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &mut Stdin, bytes: &[u8]) -> Vec<u8> {
        let mut echo = Vec::new();
        for &b in bytes {
            if let Typed::Echo(e) = s.feed(b) {
                echo.extend_from_slice(e);
            }
        }
        echo
    }

    #[test]
    fn lines_are_edited_then_read() {
        let mut s = Stdin::default();
        s.attach(5);
        assert_eq!(s.read(1, 100), None, "nothing typed: the read waits");
        assert_eq!(typed(&mut s, b"helo\x7fp\x1b[Dx"), b"helo\x08 \x08px");
        assert_eq!(s.fill_waiting(), None, "no line yet");
        typed(&mut s, b"\r");
        assert_eq!(s.fill_waiting(), Some((1, &b"helpx\n"[..])));
        typed(&mut s, b"ab\r");
        assert_eq!(s.read(2, 1), Some(&b"a"[..]));
        assert_eq!(s.read(3, 10), Some(&b"b\n"[..]));
    }

    #[test]
    fn ctrl_d_is_end_of_input_once() {
        let mut s = Stdin::default();
        s.attach(5);
        typed(&mut s, b"\x04");
        assert_eq!(s.read(1, 10), Some(&b""[..]));
        assert_eq!(s.read(2, 10), None, "the end was read; the next read waits");
        typed(&mut s, b"x\x04");
        assert_eq!(s.fill_waiting(), Some((2, &b"x"[..])));
    }

    #[test]
    fn input_is_bounded_and_dropped_with_its_owner() {
        let mut s = Stdin::default();
        s.attach(5);
        for _ in 0..10 {
            typed(&mut s, &[b'z'; 2000]);
            typed(&mut s, b"\r");
        }
        assert!(s.buffered.len() <= MAX_BUFFERED);
        s.attach(6);
        assert_eq!(
            s.read(1, 10),
            None,
            "the new owner sees nothing typed for the old one"
        );
        // Backspace over multi-byte characters removes whole characters.
        typed(&mut s, "é".as_bytes());
        typed(&mut s, b"\x7f\r");
        assert_eq!(s.fill_waiting(), Some((1, &b"\n"[..])));
    }
}
