//! Reading JSON straight out of its text, without allocation: [`validate`], [`get`] and [`Raw`].
//!
//! This is the part the wasm programs use: a payload is a `&str` in linear memory, and a field
//! is read by finding its span in that text and converting only what is asked for.
//!
//! Invariants:
//! - A [`Raw`] is only ever made by the reader, so its text is always one complete grammatical
//!   value (no surrounding whitespace) of a document that was checked whole: reading it again
//!   cannot fail, which is why [`Raw::members`], [`Raw::elements`] and the conversions need no
//!   `Result`.
//! - Every function that takes a document checks all of it, not just the part it looks at: a
//!   payload with garbage after the field asked for is an error, not an answer.

use core::fmt;
use core::str::Chars;

use crate::JsonError;
use crate::number;
use crate::reader::{Reader, hex4};

/// Checks that `text` is one JSON value (RFC 8259, strictly; see the crate doc), with nothing
/// but whitespace around it.
pub fn validate(text: &str) -> Result<(), JsonError> {
    Raw::parse(text).map(|_| ())
}

/// The value of member `key` of the object that is the document `text`, or `None` if there is
/// no such member.
///
/// The whole document is checked, in one pass. Errors: `text` is not JSON, its top-level value
/// is not an object (`"expected an object"`), or `key` occurs more than once
/// (`"duplicate key"`, at the second occurrence — which one was meant is unknowable). Keys are
/// compared after unescaping, so `"caf\u00e9"` matches `"café"`.
pub fn get<'a>(text: &'a str, key: &str) -> Result<Option<Raw<'a>>, JsonError> {
    let mut reader = Reader::new(text, 0);
    let found = find_member(&mut reader, key)?;
    reader.finish()?;
    Ok(found)
}

/// Reads the object at the reader's position whole and returns the value of member `key`.
fn find_member<'a>(reader: &mut Reader<'a>, key: &str) -> Result<Option<Raw<'a>>, JsonError> {
    let object_offset = reader.offset_of_next_token();
    if !matches!(reader.next()?, Some(crate::reader::Event::StartObject)) {
        return Err(JsonError::new(object_offset, "expected an object"));
    }
    let mut found = None;
    while let Some((member_key, value)) = reader.member()? {
        if member_key.str_eq(key) {
            if found.is_some() {
                return Err(JsonError::new(member_key.offset(), "duplicate key"));
            }
            found = Some(value);
        }
    }
    Ok(found)
}

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    /// The JSON Schema name of the kind: `null`, `boolean`, `number`, `string`, `array` or
    /// `object`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One JSON value inside a checked document, borrowed from its text.
///
/// Conversions answer `None` (or `false`) when the value is not of the kind asked for.
#[derive(Debug, Clone, Copy)]
pub struct Raw<'a> {
    text: &'a str,
    offset: usize,
}

impl<'a> Raw<'a> {
    pub(crate) fn new(text: &'a str, offset: usize) -> Self {
        Self { text, offset }
    }

    /// Checks the document `text` (like [`validate`]) and returns its top-level value.
    pub fn parse(text: &'a str) -> Result<Self, JsonError> {
        let mut reader = Reader::new(text, 0);
        let value = reader.value()?;
        reader.finish()?;
        // `value` is `None` only if the reader met a closing bracket first, which it refuses.
        value.ok_or(JsonError::new(0, "expected a value"))
    }

    /// The value's JSON text, exactly as in the document (strings with quotes and escapes).
    pub fn raw(&self) -> &'a str {
        self.text
    }

    /// Where the value starts in its document (a byte offset).
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn kind(&self) -> Kind {
        match self.text.as_bytes().first() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }

    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// The number, if it is an integer in the `i64` range. Integers are recognised by value,
    /// not spelling: `100`, `1e2` and `100.0` are all 100; `1.5` is `None`.
    pub fn as_i64(&self) -> Option<i64> {
        self.number_token().and_then(number::as_i64)
    }

    /// The number, if it is an integer in the `u64` range (see [`Raw::as_i64`]).
    pub fn as_u64(&self) -> Option<u64> {
        self.number_token().and_then(number::as_u64)
    }

    /// The number as an `f64`, correctly rounded (the nearest one, ties to even): bit for bit
    /// what `str::parse::<f64>` gives, by the crate's own small converter (the one
    /// [`Value`](crate::Value) uses too, so both agree). Magnitudes beyond the `f64` range
    /// become infinite or zero, with the number's sign; integers beyond 2^53 are rounded.
    pub fn as_f64(&self) -> Option<f64> {
        self.number_token().map(number::to_f64)
    }

    fn number_token(&self) -> Option<&'a str> {
        (self.kind() == Kind::Number).then_some(self.text)
    }

    /// The text between a string's quotes, escapes not decoded.
    fn string_content(&self) -> Option<&'a str> {
        if self.kind() != Kind::String {
            return None;
        }
        self.text.get(1..self.text.len().saturating_sub(1))
    }

    /// A string's value borrowed from the document, if it contains no escape sequence (then
    /// the text between the quotes *is* the value). `None` for other strings and non-strings:
    /// use [`Raw::str_chars`], [`Raw::str_eq`] or [`Raw::write_str_unescaped`] for those.
    pub fn as_plain_str(&self) -> Option<&'a str> {
        self.string_content()
            .filter(|content| !content.contains('\\'))
    }

    /// The characters of a string's value, escapes decoded; `None` if this is not a string.
    pub fn str_chars(&self) -> Option<StrChars<'a>> {
        self.string_content().map(|content| StrChars {
            rest: content.chars(),
        })
    }

    /// Whether this is a string whose value (escapes decoded) is `s`.
    pub fn str_eq(&self, s: &str) -> bool {
        self.str_chars().is_some_and(|chars| chars.eq(s.chars()))
    }

    /// Writes a string's value, escapes decoded, to `out`. Writes nothing and returns
    /// `Err(fmt::Error)` if this is not a string.
    pub fn write_str_unescaped(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if let Some(plain) = self.as_plain_str() {
            return out.write_str(plain);
        }
        let mut chars = self.str_chars().ok_or(fmt::Error)?;
        chars.try_for_each(|c| out.write_char(c))
    }

    /// A string's value, escapes decoded, as an owned `String`.
    #[cfg(feature = "alloc")]
    pub fn as_string(&self) -> Option<alloc::string::String> {
        self.str_chars().map(Iterator::collect)
    }

    /// The value of member `key` of this object, or `None` if there is no such member.
    /// Errors (offsets in the whole document): this is not an object (`"expected an
    /// object"`), or `key` occurs in it more than once (`"duplicate key"`).
    pub fn get(&self, key: &str) -> Result<Option<Raw<'a>>, JsonError> {
        find_member(&mut Reader::new(self.text, self.offset), key)
    }

    /// The members (key, value) of an object in document order; none if this is not an
    /// object. Keys are string values: compare them with [`Raw::str_eq`].
    pub fn members(&self) -> Members<'a> {
        Members {
            reader: self.opened(Kind::Object),
        }
    }

    /// The elements of an array in order; none if this is not an array.
    pub fn elements(&self) -> Elements<'a> {
        Elements {
            reader: self.opened(Kind::Array),
        }
    }

    /// A reader positioned just inside this container, if it is one of `kind`.
    fn opened(&self, kind: Kind) -> Option<Reader<'a>> {
        if self.kind() != kind {
            return None;
        }
        let mut reader = Reader::new(self.text, self.offset);
        reader.next().ok()?;
        Some(reader)
    }
}

/// The members of an object [`Raw`], from [`Raw::members`].
#[derive(Debug, Clone)]
pub struct Members<'a> {
    /// `None` once the object is exhausted (or was not one).
    reader: Option<Reader<'a>>,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Raw<'a>, Raw<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let member = self.reader.as_mut()?.member();
        // The text was checked when the Raw was made, so only the end stops the iteration.
        if let Ok(Some(member)) = member {
            return Some(member);
        }
        self.reader = None;
        None
    }
}

/// The elements of an array [`Raw`], from [`Raw::elements`].
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    /// `None` once the array is exhausted (or was not one).
    reader: Option<Reader<'a>>,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Raw<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let element = self.reader.as_mut()?.value();
        if let Ok(Some(element)) = element {
            return Some(element);
        }
        self.reader = None;
        None
    }
}

/// The characters of a JSON string's value, escapes decoded, from [`Raw::str_chars`].
#[derive(Debug, Clone)]
pub struct StrChars<'a> {
    /// The rest of the text between the quotes (checked by the reader).
    rest: Chars<'a>,
}

impl Iterator for StrChars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c != '\\' {
            return Some(c);
        }
        let decoded = match self.rest.next()? {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => self.unicode_escape(),
            // `"`, `\` and `/` stand for themselves; the reader allowed no other escape.
            other => other,
        };
        Some(decoded)
    }
}

impl StrChars<'_> {
    /// The rest of a `\u` escape (after `\u`), with the low half of a surrogate pair. The
    /// reader checked both, so the replacement character below is never produced.
    fn unicode_escape(&mut self) -> char {
        let unit = self.take_hex4();
        let scalar = match unit {
            0xd800..=0xdbff => {
                // Skip the `\u` of the low surrogate.
                self.rest.next();
                self.rest.next();
                let low = self.take_hex4();
                0x10000 + ((unit - 0xd800) << 10) + (low.wrapping_sub(0xdc00) & 0x3ff)
            }
            _ => unit,
        };
        char::from_u32(scalar).unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    fn take_hex4(&mut self) -> u32 {
        let unit = hex4(Some(self.rest.as_str().as_bytes())).unwrap_or(0xfffd);
        for _ in 0..4 {
            self.rest.next();
        }
        unit
    }
}
