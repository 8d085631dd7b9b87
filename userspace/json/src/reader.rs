//! The RFC 8259 grammar, read as a stream of events by one loop.
//!
//! [`Reader`] is the only code in the crate that knows the JSON grammar; validation, [`get`],
//! [`Raw`]'s iterators and [`Value::parse`] are all drivers of it, so they accept exactly the
//! same documents.
//!
//! Invariants:
//! - No recursion: the open containers are a bit stack in one `u64` (bit `d` set: the
//!   container at depth `d + 1` is an object), and opening one more than [`MAX_DEPTH`] is an
//!   error.
//! - Every [`Raw`] the reader hands out spans exactly one complete, grammatical value (a
//!   string token for keys), with no surrounding whitespace, and carries its offset in the
//!   document, so later reads of it cannot fail and report document offsets.
//! - Whitespace is skipped *before* each token, never after, so the position right after an
//!   event is the end of that token; [`Reader::value`] relies on it to cut a value's span.
//!
//! [`get`]: crate::get
//! [`Value::parse`]: crate::Value::parse

use crate::{JsonError, MAX_DEPTH, Raw};

// The container stack is one `u64`, one bit per level.
const _: () = assert!(MAX_DEPTH <= 64);

/// Reason for nesting past [`MAX_DEPTH`] (a test keeps the number in step with the constant).
pub(crate) const TOO_DEEP: &str = "nesting deeper than 32 levels";
const END_OF_INPUT: &str = "unexpected end of input";

/// One step through a document.
pub(crate) enum Event<'a> {
    /// `{`: members follow as `Key` then the value's events, until the matching `End`.
    StartObject,
    /// `[`: elements follow until the matching `End`.
    StartArray,
    /// `}` or `]`, closing the innermost open container.
    End,
    /// An object member's key (a string token, quotes included); its value follows.
    Key(Raw<'a>),
    /// A string, number, `true`, `false` or `null`.
    Scalar(Raw<'a>),
}

/// What the grammar allows at the current position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value: at the start, after `:`, or after `,` in an array.
    Value,
    /// Just after `[`: a value or `]`.
    FirstElement,
    /// Just after `{`: a key or `}`.
    FirstMember,
    /// After `,` in an object: a key.
    Key,
    /// After a value: `,`, the closing bracket of the open container, or (at depth 0) the end.
    Separator,
    /// The document has been read and checked to the end.
    Done,
}

/// A pull reader over one JSON text: the document, or a [`Raw`] value cut out of one.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    text: &'a str,
    /// Offset of `text` in the whole document, added to every offset reported.
    base: usize,
    pos: usize,
    /// Where the token of the last event starts (separators and whitespace skipped).
    token_start: usize,
    depth: usize,
    /// Bit `d` set: the open container at depth `d + 1` is an object (else an array).
    objects: u64,
    expect: Expect,
}

impl<'a> Reader<'a> {
    /// A reader over `text`, which starts at byte `base` of its document.
    pub(crate) fn new(text: &'a str, base: usize) -> Self {
        Self {
            text,
            base,
            pos: 0,
            token_start: 0,
            depth: 0,
            objects: 0,
            expect: Expect::Value,
        }
    }

    /// Skips whitespace and returns the document offset of the next token (or of the end).
    pub(crate) fn offset_of_next_token(&mut self) -> usize {
        self.skip_whitespace();
        self.base + self.pos
    }

    /// The next event, or `None` once the single top-level value has been read and only
    /// whitespace followed it.
    pub(crate) fn next(&mut self) -> Result<Option<Event<'a>>, JsonError> {
        loop {
            self.skip_whitespace();
            self.token_start = self.pos;
            match self.expect {
                Expect::Done => return Ok(None),
                Expect::Value => return self.value_start().map(Some),
                Expect::FirstElement if self.peek() == Some(b']') => return Ok(Some(self.close())),
                Expect::FirstElement => return self.value_start().map(Some),
                Expect::FirstMember if self.peek() == Some(b'}') => return Ok(Some(self.close())),
                Expect::FirstMember | Expect::Key => return self.key().map(Some),
                Expect::Separator if self.depth == 0 => {
                    if self.pos < self.text.len() {
                        return Err(self.error_here("unexpected data after the value"));
                    }
                    self.expect = Expect::Done;
                    return Ok(None);
                }
                Expect::Separator => {
                    let in_object = self.in_object();
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            self.expect = if in_object {
                                Expect::Key
                            } else {
                                Expect::Value
                            };
                        }
                        Some(b'}') if in_object => return Ok(Some(self.close())),
                        Some(b']') if !in_object => return Ok(Some(self.close())),
                        None => return Err(self.error_here(END_OF_INPUT)),
                        Some(_) if in_object => return Err(self.error_here("expected ',' or '}'")),
                        Some(_) => return Err(self.error_here("expected ',' or ']'")),
                    }
                }
            }
        }
    }

    /// Reads one whole value at a value position and returns its span, or `None` if the
    /// enclosing array closed instead (its `End` is consumed).
    pub(crate) fn value(&mut self) -> Result<Option<Raw<'a>>, JsonError> {
        let outer_depth = self.depth;
        match self.next()? {
            Some(Event::Scalar(raw)) => Ok(Some(raw)),
            Some(Event::StartObject | Event::StartArray) => {
                // Not the position before `next`: a `,` may have been skipped.
                let start = self.token_start;
                // Read events until the container just opened is closed again.
                while self.depth > outer_depth {
                    if self.next()?.is_none() {
                        return Err(self.error_here(END_OF_INPUT));
                    }
                }
                Ok(Some(self.raw(start)))
            }
            Some(Event::End) | None => Ok(None),
            // Only reachable if a caller asks for a value where a key is due.
            Some(Event::Key(key)) => Err(JsonError::new(key.offset(), "expected a value")),
        }
    }

    /// Reads the next member of the open object: its key and value, or `None` if the object
    /// closed instead (its `End` is consumed).
    pub(crate) fn member(&mut self) -> Result<Option<(Raw<'a>, Raw<'a>)>, JsonError> {
        match self.next()? {
            Some(Event::Key(key)) => match self.value()? {
                Some(value) => Ok(Some((key, value))),
                None => Err(self.error_here("expected a value")),
            },
            Some(Event::End) | None => Ok(None),
            Some(_) => Err(self.error_here("expected a key")),
        }
    }

    /// Checks that nothing but whitespace follows the top-level value.
    pub(crate) fn finish(&mut self) -> Result<(), JsonError> {
        match self.next()? {
            None => Ok(()),
            Some(_) => Err(self.error_here("unexpected data after the value")),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, pos: usize) -> Option<u8> {
        self.text.as_bytes().get(pos).copied()
    }

    fn error_at(&self, pos: usize, reason: &'static str) -> JsonError {
        JsonError::new(self.base + pos, reason)
    }

    fn error_here(&self, reason: &'static str) -> JsonError {
        self.error_at(self.pos, reason)
    }

    /// The value from `start` to the current position.
    fn raw(&self, start: usize) -> Raw<'a> {
        // `start` and `pos` sit at token boundaries, which are ASCII, so the slice cannot fail.
        Raw::new(
            self.text.get(start..self.pos).unwrap_or(""),
            self.base + start,
        )
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn in_object(&self) -> bool {
        // depth >= 1 whenever this is asked, and depth - 1 < MAX_DEPTH <= 64.
        let level = self.depth.saturating_sub(1) as u32;
        self.objects.checked_shr(level).unwrap_or(0) & 1 == 1
    }

    fn open(&mut self, object: bool) -> Result<Event<'a>, JsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_here(TOO_DEEP));
        }
        let bit = 1u64.checked_shl(self.depth as u32).unwrap_or(0);
        if object {
            self.objects |= bit;
        } else {
            self.objects &= !bit;
        }
        self.depth += 1;
        self.pos += 1;
        if object {
            self.expect = Expect::FirstMember;
            Ok(Event::StartObject)
        } else {
            self.expect = Expect::FirstElement;
            Ok(Event::StartArray)
        }
    }

    fn close(&mut self) -> Event<'a> {
        self.depth = self.depth.saturating_sub(1);
        self.pos += 1;
        self.expect = Expect::Separator;
        Event::End
    }

    fn value_start(&mut self) -> Result<Event<'a>, JsonError> {
        let start = self.pos;
        match self.peek() {
            Some(b'{') => return self.open(true),
            Some(b'[') => return self.open(false),
            Some(b'"') => self.string()?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            Some(_) => return Err(self.error_here("expected a value")),
            None => return Err(self.error_here(END_OF_INPUT)),
        }
        self.expect = Expect::Separator;
        Ok(Event::Scalar(self.raw(start)))
    }

    fn key(&mut self) -> Result<Event<'a>, JsonError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => self.string()?,
            Some(_) => return Err(self.error_here("expected a string key")),
            None => return Err(self.error_here(END_OF_INPUT)),
        }
        let key = self.raw(start);
        self.skip_whitespace();
        match self.peek() {
            Some(b':') => self.pos += 1,
            Some(_) => return Err(self.error_here("expected ':'")),
            None => return Err(self.error_here(END_OF_INPUT)),
        }
        self.expect = Expect::Value;
        Ok(Event::Key(key))
    }

    fn literal(&mut self, word: &'static str) -> Result<(), JsonError> {
        let rest = self.text.as_bytes().get(self.pos..).unwrap_or(&[]);
        if rest.starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error_here("expected true, false or null"))
        }
    }

    /// A string token, from its opening quote to past its closing one.
    fn string(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.escape()?,
                Some(0x00..=0x1f) => {
                    return Err(self.error_here("control character in string (must be escaped)"));
                }
                // Any other byte, including those of multi-byte UTF-8 sequences: `text` is a
                // `str`, so they are valid.
                Some(_) => self.pos += 1,
                None => return Err(self.error_at(start, "unterminated string")),
            }
        }
    }

    /// One escape sequence, at its backslash.
    fn escape(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        match self.peek_at(start + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                let bytes = self.text.as_bytes();
                let Some(unit) = hex4(bytes.get(start + 2..)) else {
                    return Err(self.error_at(start, "invalid \\u escape (needs 4 hex digits)"));
                };
                self.pos += 6;
                match unit {
                    0xd800..=0xdbff => {
                        // A high surrogate must be followed by an escaped low one.
                        let low = match bytes.get(self.pos..self.pos + 2) {
                            Some(b"\\u") => hex4(bytes.get(self.pos + 2..)),
                            _ => None,
                        };
                        match low {
                            Some(0xdc00..=0xdfff) => {
                                self.pos += 6;
                                Ok(())
                            }
                            _ => Err(self.error_at(start, "unpaired surrogate in \\u escape")),
                        }
                    }
                    0xdc00..=0xdfff => {
                        Err(self.error_at(start, "unpaired surrogate in \\u escape"))
                    }
                    _ => Ok(()),
                }
            }
            Some(_) => Err(self.error_at(start, "invalid escape sequence")),
            // The text ends after the backslash: the string loop reports it as unterminated.
            None => {
                self.pos += 1;
                Ok(())
            }
        }
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error_here("leading zeros are not allowed"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error_here("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_here("expected a digit after '.'"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_here("expected a digit in the exponent"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

/// The 4 hex digits at the start of `bytes` (of a `\u` escape), if they are there.
pub(crate) fn hex4(bytes: Option<&[u8]>) -> Option<u32> {
    let digits = bytes?.get(..4)?;
    digits.iter().try_fold(0u32, |unit, &digit| {
        Some(unit << 4 | char::from(digit).to_digit(16)?)
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn the_depth_message_states_the_limit() {
        assert!(TOO_DEEP.contains(&std::format!(" {MAX_DEPTH} ")));
    }
}
