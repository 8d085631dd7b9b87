//! Views (DESIGN.md §6): state folded from the journal by a deterministic reducer, read with
//! `scan`, snapshotted with `seal`.
//!
//! A view is declared in the boot image as `/etc/views/<view>.view`:
//!
//! ```text
//! # the view `ledger.balances`
//! program ledger-view        # /bin/ledger-view, the reducer
//! pattern ledger.>           # the events it folds
//! platform x86_64            # optional: only on these platforms (a small board may not
//!                            # have room for every view)
//! ```
//!
//! The reducer is a wasm module that imports **nothing** (so it can only compute: folding the
//! same events always gives the same state) and exports:
//!
//! | export | signature | does |
//! |---|---|---|
//! | `memory` | memory | its state lives there |
//! | `input` | `() -> i32` | address of a buffer of at least [`INPUT_BYTES`] bytes the kernel writes into |
//! | `reduce` | `(len: i32) -> i32` | fold the event the kernel wrote at `input` (a [`crate::bus::EventView`] encoding, `len` bytes); 0 (a negative result is logged and the event skipped) |
//! | `scan` | `(len: i32) -> i32` | the key is at `input` (`len` bytes of text); write the answer (JSON text) at `input` and return its length, or -1 if there is none |
//!
//! The kernel folds every committed event matching the pattern, in sequence order, each call
//! with a fuel budget; a reducer that traps or runs out of fuel is stopped, and `scan` then
//! says why. `seal` records the reducer's memory and the height (the last sequence number
//! folded) as a snapshot in the journal; at boot a view starts from its newest snapshot and
//! folds what came after, and events below every view's snapshot may be dropped when the
//! journal needs room.

/// Bytes of the reducer's input buffer the kernel may use.
pub const INPUT_BYTES: usize = 1024;
/// Most bytes of a view's name.
pub const MAX_VIEW_NAME: usize = 64;
/// Where view declarations live in the boot image.
pub const VIEW_DIR: &str = "/etc/views/";

/// A parsed `/etc/views/<view>.view` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewSpec<'a> {
    pub program: &'a str,
    pub pattern: &'a str,
    /// The `platform` line's names (blank-separated); `None`: every platform.
    pub platforms: Option<&'a str>,
}

impl ViewSpec<'_> {
    /// Whether the view is loaded on `platform`.
    pub fn on(&self, platform: &str) -> bool {
        self.platforms
            .is_none_or(|p| p.split_whitespace().any(|name| name == platform))
    }
}

impl<'a> ViewSpec<'a> {
    /// Parses a declaration: `program` and `pattern` lines (`#` starts a comment); anything
    /// else is an error naming the line.
    pub fn parse(text: &'a str) -> Result<ViewSpec<'a>, &'a str> {
        let (mut program, mut pattern, mut platforms) = (None, None, None);
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match line.split_once(char::is_whitespace) {
                Some(("program", v)) if !v.trim().is_empty() => program = Some(v.trim()),
                Some(("pattern", v)) if !v.trim().is_empty() => pattern = Some(v.trim()),
                Some(("platform", v)) if !v.trim().is_empty() => platforms = Some(v.trim()),
                _ => return Err(line),
            }
        }
        match (program, pattern) {
            (Some(program), Some(pattern)) => Ok(ViewSpec {
                program,
                pattern,
                platforms,
            }),
            _ => Err("a view needs a `program` and a `pattern` line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_parse_and_errors_name_the_line() {
        let v = ViewSpec::parse("# x\nprogram ledger-view\npattern ledger.>  # all\n").unwrap();
        assert_eq!(v.program, "ledger-view");
        assert_eq!(v.pattern, "ledger.>");
        assert!(v.on("stm32f4"));
        let v = ViewSpec::parse("program a\npattern b\nplatform x86_64 web").unwrap();
        assert!(v.on("x86_64") && v.on("web") && !v.on("stm32f4"));
        assert_eq!(
            ViewSpec::parse("program a\nfrobnicate b"),
            Err("frobnicate b")
        );
        assert!(ViewSpec::parse("program a").is_err());
    }
}
