//! The line editor: turns raw terminal bytes into edited lines.
//!
//! A pure state machine: [`LineEditor::feed`] takes one byte, appends what the terminal must
//! show to `out` (echo, cursor moves, VT100 erase sequences) and sometimes returns an [`Event`].
//! It never blocks and never fails: every byte sequence, including binary garbage, leaves it in
//! a valid state.
//!
//! Invariants:
//! - `cursor <= line.len()`; the terminal cursor sits `cursor` columns after the prompt (one
//!   column per char; lines longer than the terminal are not re-wrapped).
//! - The UTF-8 length of `line` never exceeds [`MAX_LINE`]; input that would exceed it discards
//!   the line and the editor ignores everything up to the next end of line.
//! - Escape sequences are bounded: a CSI sequence longer than 16 bytes is abandoned.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::history::History;

/// The longest line the shell accepts, in bytes of UTF-8.
pub const MAX_LINE: usize = 1024;

/// Something the shell must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line was submitted with Enter (it is already in the history).
    Line(String),
    /// Ctrl-C: the line was abandoned.
    Cancelled,
    /// The line grew over [`MAX_LINE`] and was discarded; its end has now arrived.
    Overflowed,
    /// Ctrl-L: clear the screen, then redraw the prompt and [`LineEditor::render`].
    ClearScreen,
    /// Ctrl-D on an empty line.
    EndOfInput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// Got ESC.
    Start,
    /// Got `ESC [`, collecting parameter bytes.
    Csi {
        param: u16,
        len: u8,
    },
    /// Got `ESC O` (application cursor keys).
    Ss3,
}

/// Incremental UTF-8 decoder; invalid sequences are dropped.
#[derive(Default)]
struct Utf8 {
    buf: [u8; 4],
    len: u8,
    need: u8,
}

impl Utf8 {
    /// Feeds a byte ≥ 0x80. Returns a char when one completes.
    fn push(&mut self, b: u8) -> Option<char> {
        if b & 0xC0 == 0x80 {
            // Continuation byte.
            if self.need == 0 {
                return None; // stray continuation: drop
            }
            self.buf[self.len as usize] = b;
            self.len += 1;
            if self.len == self.need {
                let c = core::str::from_utf8(&self.buf[..self.len as usize])
                    .ok()
                    .and_then(|s| s.chars().next());
                self.reset();
                return c;
            }
            return None;
        }
        // A lead byte (or an invalid one) starts over.
        self.reset();
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None, // 0xC0, 0xC1, 0xF5..: never valid
        };
        self.buf[0] = b;
        self.len = 1;
        self.need = need;
        None
    }

    fn reset(&mut self) {
        self.len = 0;
        self.need = 0;
    }

    fn pending(&self) -> bool {
        self.need != 0
    }
}

pub struct LineEditor {
    line: Vec<char>,
    /// UTF-8 length of `line`, kept in step with it.
    bytes: usize,
    cursor: usize,
    escape: Escape,
    utf8: Utf8,
    history: History,
    /// While walking the history: the entry shown, and the line that was being typed.
    browsing: Option<usize>,
    draft: Vec<char>,
    /// The current line overflowed; ignore input until end of line.
    discarding: bool,
    /// The previous byte was '\r' (so a following '\n' is part of the same Enter).
    after_cr: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        LineEditor {
            line: Vec::new(),
            bytes: 0,
            cursor: 0,
            escape: Escape::None,
            utf8: Utf8::default(),
            history: History::default(),
            browsing: None,
            draft: Vec::new(),
            discarding: false,
            after_cr: false,
        }
    }
}

impl LineEditor {
    /// The line being edited.
    pub fn text(&self) -> String {
        self.line.iter().collect()
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Whether an overlong line is being discarded (no prompt is shown until its end).
    pub fn discarding(&self) -> bool {
        self.discarding
    }

    /// Draws the current line after a freshly printed prompt.
    pub fn render(&self, out: &mut String) {
        out.extend(self.line.iter());
        move_left(out, self.line.len() - self.cursor);
    }

    /// Feeds one input byte.
    pub fn feed(&mut self, byte: u8, out: &mut String) -> Option<Event> {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');

        if self.discarding {
            return match byte {
                b'\r' | b'\n' if !(byte == b'\n' && after_cr) => {
                    self.discarding = false;
                    Some(Event::Overflowed)
                }
                0x03 => {
                    self.discarding = false;
                    out.push_str("^C\n");
                    Some(Event::Cancelled)
                }
                _ => None,
            };
        }

        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::Csi { param: 0, len: 0 },
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
                if self.escape != Escape::None {
                    return None;
                }
                // ESC followed by anything else: drop the ESC, treat the byte normally.
            }
            Escape::Csi { param, len } => match byte {
                b'0'..=b'9' if len < 16 => {
                    let param = param
                        .saturating_mul(10)
                        .saturating_add(u16::from(byte - b'0'));
                    self.escape = Escape::Csi {
                        param,
                        len: len + 1,
                    };
                    return None;
                }
                0x20..=0x3F if len < 16 => {
                    // Separators, private markers and intermediates: accepted, ignored.
                    self.escape = Escape::Csi {
                        param,
                        len: len + 1,
                    };
                    return None;
                }
                0x40..=0x7E => {
                    self.escape = Escape::None;
                    return self.csi(byte, param, out);
                }
                _ => {
                    // Malformed or overlong: abandon the sequence; control bytes still count.
                    self.escape = Escape::None;
                    if byte >= 0x20 {
                        return None;
                    }
                }
            },
            Escape::Ss3 => {
                self.escape = Escape::None;
                if (0x40..=0x7E).contains(&byte) {
                    return self.csi(byte, 0, out);
                }
            }
        }

        if byte >= 0x80 {
            // C1 controls (U+0080–U+009F) are control characters, not text: echoed, a
            // terminal would act on them (U+009B is CSI, U+0090 starts a DCS string).
            if let Some(c) = self.utf8.push(byte).filter(|c| !c.is_control()) {
                self.insert(c, out);
            }
            return None;
        }
        if self.utf8.pending() {
            self.utf8.reset(); // an ASCII byte cuts a partial UTF-8 sequence
        }

        match byte {
            b'\r' => return Some(self.submit(out)),
            b'\n' => {
                if !after_cr {
                    return Some(self.submit(out));
                }
            }
            0x03 => {
                out.push_str("^C\n");
                self.clear();
                return Some(Event::Cancelled);
            }
            0x04 => {
                if self.line.is_empty() {
                    return Some(Event::EndOfInput);
                }
                self.delete_at_cursor(out);
            }
            0x7F | 0x08 => self.backspace(out),
            0x15 => self.kill_to_start(out),
            0x0B => self.kill_to_end(out),
            0x17 => self.kill_word(out),
            0x01 => self.move_to(0, out),
            0x05 => self.move_to(self.line.len(), out),
            0x02 => self.move_to(self.cursor.saturating_sub(1), out),
            0x06 => self.move_to((self.cursor + 1).min(self.line.len()), out),
            0x10 => self.history_prev(out),
            0x0E => self.history_next(out),
            0x0C => return Some(Event::ClearScreen),
            0x1B => self.escape = Escape::Start,
            0x20..=0x7E => self.insert(byte as char, out),
            _ => {} // other control bytes (and NUL, Tab for now): ignored
        }
        None
    }

    fn csi(&mut self, fin: u8, param: u16, out: &mut String) -> Option<Event> {
        match (fin, param) {
            (b'A', _) => self.history_prev(out),
            (b'B', _) => self.history_next(out),
            (b'C', _) => self.move_to((self.cursor + 1).min(self.line.len()), out),
            (b'D', _) => self.move_to(self.cursor.saturating_sub(1), out),
            (b'H', _) | (b'~', 1) | (b'~', 7) => self.move_to(0, out),
            (b'F', _) | (b'~', 4) | (b'~', 8) => self.move_to(self.line.len(), out),
            (b'~', 3) => self.delete_at_cursor(out),
            _ => {} // unknown sequences (function keys, mouse, …) are ignored
        }
        None
    }

    fn submit(&mut self, out: &mut String) -> Event {
        out.push('\n');
        let text = self.text();
        self.history.push(&text);
        self.clear();
        Event::Line(text)
    }

    fn clear(&mut self) {
        self.line.clear();
        self.bytes = 0;
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        self.utf8.reset();
        self.escape = Escape::None;
    }

    fn insert(&mut self, c: char, out: &mut String) {
        if self.bytes + c.len_utf8() > MAX_LINE {
            self.clear();
            self.discarding = true;
            let _ = write!(
                out,
                "\nerror: line too long (limit {MAX_LINE} bytes); discarded up to the next Enter\n"
            );
            return;
        }
        self.line.insert(self.cursor, c);
        self.bytes += c.len_utf8();
        self.cursor += 1;
        out.extend(self.line[self.cursor - 1..].iter());
        move_left(out, self.line.len() - self.cursor);
    }

    fn backspace(&mut self, out: &mut String) {
        if self.cursor == 0 {
            return;
        }
        let from = self.cursor - 1;
        self.remove(from..self.cursor, out);
    }

    fn delete_at_cursor(&mut self, out: &mut String) {
        if self.cursor < self.line.len() {
            self.remove(self.cursor..self.cursor + 1, out);
        }
    }

    fn kill_to_start(&mut self, out: &mut String) {
        self.remove(0..self.cursor, out);
    }

    fn kill_to_end(&mut self, out: &mut String) {
        self.remove(self.cursor..self.line.len(), out);
    }

    fn kill_word(&mut self, out: &mut String) {
        let mut start = self.cursor;
        while start > 0 && self.line[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.line[start - 1].is_whitespace() {
            start -= 1;
        }
        self.remove(start..self.cursor, out);
    }

    /// Removes `range` (which must contain or end at the cursor) and redraws from its start.
    fn remove(&mut self, range: core::ops::Range<usize>, out: &mut String) {
        if range.is_empty() {
            return;
        }
        let start = range.start;
        let removed: usize = self.line.drain(range).map(char::len_utf8).sum();
        self.bytes -= removed;
        move_left(out, self.cursor - start);
        self.cursor = start;
        self.redraw_tail(out);
    }

    /// Redraws from the cursor to the end of the line, erasing leftovers, and puts the
    /// terminal cursor back.
    fn redraw_tail(&self, out: &mut String) {
        out.extend(self.line[self.cursor..].iter());
        out.push_str("\x1b[K");
        move_left(out, self.line.len() - self.cursor);
    }

    fn move_to(&mut self, pos: usize, out: &mut String) {
        if pos < self.cursor {
            move_left(out, self.cursor - pos);
        } else if pos > self.cursor {
            let _ = write!(out, "\x1b[{}C", pos - self.cursor);
        }
        self.cursor = pos;
    }

    fn replace_line(&mut self, chars: Vec<char>, out: &mut String) {
        move_left(out, self.cursor);
        self.line = chars;
        self.bytes = self.line.iter().map(|c| c.len_utf8()).sum();
        self.cursor = 0;
        self.redraw_tail(out);
        self.move_to(self.line.len(), out);
    }

    fn history_prev(&mut self, out: &mut String) {
        let n = self.history.len();
        let next = match self.browsing {
            None if n > 0 => {
                self.draft = self.line.clone();
                n - 1
            }
            Some(i) if i > 0 => i - 1,
            _ => return,
        };
        self.browsing = Some(next);
        let chars = self.history.get(next).unwrap_or_default().chars().collect();
        self.replace_line(chars, out);
    }

    fn history_next(&mut self, out: &mut String) {
        let Some(i) = self.browsing else { return };
        let chars = if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            self.history
                .get(i + 1)
                .unwrap_or_default()
                .chars()
                .collect()
        } else {
            self.browsing = None;
            core::mem::take(&mut self.draft)
        };
        self.replace_line(chars, out);
    }
}

fn move_left(out: &mut String, n: usize) {
    if n > 0 {
        let _ = write!(out, "\x1b[{n}D");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Feeds `input`, returning the events and the terminal output.
    fn run(ed: &mut LineEditor, input: &[u8]) -> (Vec<Event>, String) {
        let mut out = String::new();
        let events = input.iter().filter_map(|&b| ed.feed(b, &mut out)).collect();
        (events, out)
    }

    fn lines(input: &[u8]) -> Vec<Event> {
        run(&mut LineEditor::default(), input).0
    }

    fn line(s: &str) -> Event {
        Event::Line(s.into())
    }

    #[test]
    fn typing_echoes_and_enter_submits() {
        let mut ed = LineEditor::default();
        let (ev, out) = run(&mut ed, b"echo hi\r");
        assert_eq!(ev, vec![line("echo hi")]);
        assert_eq!(out, "echo hi\n");
    }

    #[test]
    fn crlf_lf_and_cr_are_each_one_enter() {
        assert_eq!(lines(b"a\r\nb\nc\r"), vec![line("a"), line("b"), line("c")]);
        assert_eq!(lines(b"\r\n\r\n"), vec![line(""), line("")]);
        assert_eq!(lines(b"\n\n"), vec![line(""), line("")]);
    }

    #[test]
    fn c1_controls_are_neither_echoed_nor_kept() {
        // U+009B (CSI) and U+0090 (DCS) as UTF-8, around text and a real é.
        let mut ed = LineEditor::default();
        let (ev, out) = run(&mut ed, "a\u{9b}2hb\u{90}é\r".as_bytes());
        assert_eq!(ev, vec![line("a2hbé")]);
        assert!(
            !out.contains('\u{9b}') && !out.contains('\u{90}'),
            "{out:?}"
        );
    }

    #[test]
    fn backspace_and_delete() {
        assert_eq!(lines(b"helloo\x7f\r"), vec![line("hello")]);
        assert_eq!(lines(b"ab\x08\x08\x08c\r"), vec![line("c")]);
        // Left twice, delete the char under the cursor.
        assert_eq!(lines(b"abcd\x1b[D\x1b[D\x1b[3~\r"), vec![line("abd")]);
    }

    #[test]
    fn cursor_moves_and_inserts_in_the_middle() {
        assert_eq!(lines(b"ac\x1b[Db\r"), vec![line("abc")]);
        assert_eq!(lines(b"bc\x01a\x05d\r"), vec![line("abcd")]);
        assert_eq!(lines(b"bc\x1b[Ha\x1b[Fd\r"), vec![line("abcd")]);
        assert_eq!(lines(b"bc\x1bOHa\r"), vec![line("abc")]);
        // Moving past either end is a no-op.
        assert_eq!(
            lines(b"x\x1b[C\x1b[C\x1b[D\x1b[D\x1b[Dy\r"),
            vec![line("yx")]
        );
    }

    #[test]
    fn ctrl_u_kills_to_start_and_ctrl_k_to_end() {
        assert_eq!(lines(b"garbage\x15echo ok\r"), vec![line("echo ok")]);
        assert_eq!(lines(b"abcdef\x1b[D\x1b[D\x15\r"), vec![line("ef")]);
        assert_eq!(lines(b"abcdef\x1b[D\x1b[D\x0b\r"), vec![line("abcd")]);
        assert_eq!(
            lines(b"echo one two\x17three\r"),
            vec![line("echo one three")]
        );
    }

    #[test]
    fn ctrl_c_cancels_the_line() {
        let mut ed = LineEditor::default();
        let (ev, out) = run(&mut ed, b"rm -rf\x03echo ok\r");
        assert_eq!(ev, vec![Event::Cancelled, line("echo ok")]);
        assert!(out.contains("^C\n"));
        assert_eq!(ed.history().len(), 1, "a cancelled line is not history");
    }

    #[test]
    fn history_walks_up_and_down_and_keeps_the_draft() {
        let mut ed = LineEditor::default();
        run(&mut ed, b"one\rtwo\r");
        let (ev, _) = run(&mut ed, b"\x1b[A\x1b[A\r");
        assert_eq!(ev, vec![line("one")]);
        let (ev, _) = run(&mut ed, b"dra\x1b[A\x1b[B\x1b[Bft\r");
        assert_eq!(ev, vec![line("draft")]);
        // Up past the oldest entry stays on it; down with no browsing does nothing.
        let (ev, _) = run(&mut ed, b"\x1b[B\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\r");
        assert_eq!(ev, vec![line("one")]);
        // A recalled line can be edited.
        let (ev, _) = run(&mut ed, b"\x10\x7f\x7f\x7fthree\r");
        assert_eq!(ev, vec![line("three")]);
    }

    #[test]
    fn overlong_line_is_refused_once_and_the_next_line_works() {
        let mut ed = LineEditor::default();
        let mut input = vec![b'x'; MAX_LINE + 500];
        input.extend_from_slice(b"\recho ok\r");
        let (ev, out) = run(&mut ed, &input);
        assert_eq!(ev, vec![Event::Overflowed, line("echo ok")]);
        assert_eq!(out.matches("line too long").count(), 1);
        // Exactly MAX_LINE bytes is fine.
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\r');
        let (ev, _) = run(&mut ed, &exact);
        assert_eq!(ev, vec![Event::Line("y".repeat(MAX_LINE))]);
    }

    #[test]
    fn utf8_is_decoded_and_invalid_bytes_dropped() {
        assert_eq!(lines("echo привет\r".as_bytes()), vec![line("echo привет")]);
        assert_eq!(lines(b"a\xff\xc0\x80b\xe2\x82c\r"), vec![line("abc")]);
        // Backspace removes a whole character.
        assert_eq!(lines("ab\u{e9}\x7f\r".as_bytes()), vec![line("ab")]);
    }

    #[test]
    fn escape_sequences_never_leak_into_the_line() {
        assert_eq!(lines(b"a\x1b[1;5Cb\x1b[15~c\x1bOPd\r"), vec![line("abcd")]);
        // ESC then an ordinary key: the key counts.
        assert_eq!(lines(b"\x1bxy\r"), vec![line("xy")]);
        // An endless CSI is abandoned, the editor recovers.
        let mut input = b"\x1b[".to_vec();
        input.extend(core::iter::repeat_n(b'1', 100));
        input.extend_from_slice(b"\x03ok\r");
        let ev = lines(&input);
        assert_eq!(ev.last(), Some(&line("ok")));
    }

    #[test]
    fn random_garbage_never_breaks_the_editor() {
        let mut ed = LineEditor::default();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut out = String::new();
            if let Some(Event::Line(l)) = ed.feed(x as u8, &mut out) {
                assert!(l.len() <= MAX_LINE);
            }
            assert!(ed.cursor <= ed.line.len());
            assert_eq!(ed.bytes, ed.text().len());
        }
        // Ctrl-C then a command always works afterwards.
        let (ev, _) = run(&mut ed, b"\x03echo ok\r");
        assert_eq!(ev.last(), Some(&line("echo ok")));
    }
}
