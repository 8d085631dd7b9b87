//! Stable error codes returned by every system call.
//!
//! A system call returns a non-negative value on success and `-(code)` on failure, where `code`
//! is one of the values below. Codes never change meaning once released; new ones are appended.

use core::fmt;

/// An error a system call can return. `#[repr(i32)]` values are the ABI codes (positive; the
/// wire form is their negation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Error {
    /// An argument is malformed or out of range.
    InvalidArgument = 1,
    /// A pointer/length pair does not lie inside the caller's memory.
    BadAddress = 2,
    /// The named object does not exist.
    NotFound = 3,
    /// A capability or grant does not allow the operation.
    PermissionDenied = 4,
    /// Memory or another resource limit would be exceeded.
    OutOfMemory = 5,
    /// The handle is stale, closed or was never issued.
    BadHandle = 6,
    /// The operation is not supported by this platform, scheme or build.
    Unsupported = 7,
    /// The operation would block and the caller asked it not to.
    WouldBlock = 8,
    /// The peer end of a channel or stream is closed.
    Closed = 9,
    /// The data or request is larger than the limit for it.
    TooLarge = 10,
    /// The object already exists.
    AlreadyExists = 11,
    /// The object is busy.
    Busy = 12,
    /// The operation timed out.
    TimedOut = 13,
    /// Stored or transmitted data failed an integrity check.
    Corrupt = 14,
    /// A path component that must be a directory is not one.
    NotADirectory = 15,
    /// The operation needs a file and the path names a directory.
    IsADirectory = 16,
    /// The directory still has entries.
    DirectoryNotEmpty = 17,
    /// The file system refuses writes.
    ReadOnly = 18,
    /// The file system or device is full.
    NoSpace = 19,
    /// The remote host refused the connection (nothing listens on that port).
    ConnectionRefused = 20,
    /// No route to the host: no network, or nobody answered for its address.
    Unreachable = 21,
    /// The port is already taken by another listener.
    AddressInUse = 22,
}

impl Error {
    /// Every error, in code order (useful for tables and exhaustive tests).
    pub const ALL: [Error; 22] = [
        Error::InvalidArgument,
        Error::BadAddress,
        Error::NotFound,
        Error::PermissionDenied,
        Error::OutOfMemory,
        Error::BadHandle,
        Error::Unsupported,
        Error::WouldBlock,
        Error::Closed,
        Error::TooLarge,
        Error::AlreadyExists,
        Error::Busy,
        Error::TimedOut,
        Error::Corrupt,
        Error::NotADirectory,
        Error::IsADirectory,
        Error::DirectoryNotEmpty,
        Error::ReadOnly,
        Error::NoSpace,
        Error::ConnectionRefused,
        Error::Unreachable,
        Error::AddressInUse,
    ];

    /// The positive ABI code of this error.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// Decodes a positive ABI code; `None` for codes this version does not know.
    pub fn from_code(code: i32) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The message a user sees, lower case, no trailing punctuation.
    pub const fn message(self) -> &'static str {
        match self {
            Error::InvalidArgument => "invalid argument",
            Error::BadAddress => "bad address",
            Error::NotFound => "no such file or directory",
            Error::PermissionDenied => "permission denied",
            Error::OutOfMemory => "out of memory",
            Error::BadHandle => "bad handle",
            Error::Unsupported => "not supported",
            Error::WouldBlock => "operation would block",
            Error::Closed => "closed by peer",
            Error::TooLarge => "too large",
            Error::AlreadyExists => "already exists",
            Error::Busy => "busy",
            Error::TimedOut => "timed out",
            Error::Corrupt => "data corrupt",
            Error::NotADirectory => "not a directory",
            Error::IsADirectory => "is a directory",
            Error::DirectoryNotEmpty => "directory not empty",
            Error::ReadOnly => "read-only file system",
            Error::NoSpace => "no space left",
            Error::ConnectionRefused => "connection refused",
            Error::Unreachable => "host unreachable",
            Error::AddressInUse => "address in use",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(e.code(), i as i32 + 1, "codes are dense and start at 1");
            assert_eq!(Error::from_code(e.code()), Some(*e));
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(-1), None);
        assert_eq!(Error::from_code(999), None);
    }

    #[test]
    fn messages_are_user_facing() {
        for e in Error::ALL {
            let m = e.message();
            assert!(!m.is_empty() && !m.ends_with('.'));
            assert_eq!(m, m.to_ascii_lowercase());
        }
    }
}
