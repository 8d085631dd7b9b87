//! [`JsonError`]: why a document is not (acceptable) JSON, and where.

use core::fmt;

/// A document was refused: `offset` is the byte offset in the document where reading stopped,
/// `reason` a short lower-case phrase. Displayed as `at byte 12: expected ':'`.
///
/// Offsets are always relative to the whole document, also for errors found while reading a
/// [`Raw`](crate::Raw) value out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset in the document (0-based) of the offending byte, or the document's length
    /// when it ended too early.
    pub offset: usize,
    /// What is wrong, e.g. `"expected ':'"` or `"leading zeros are not allowed"`.
    pub reason: &'static str,
}

impl JsonError {
    pub(crate) const fn new(offset: usize, reason: &'static str) -> Self {
        Self { offset, reason }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl core::error::Error for JsonError {}
