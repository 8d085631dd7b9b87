//! Command history: a bounded list of submitted lines, oldest first.
//!
//! Invariants: never holds more than [`History::CAPACITY`] entries, never holds an empty line,
//! and never holds the same line twice in a row.

use alloc::collections::VecDeque;
use alloc::string::String;

#[derive(Default)]
pub struct History {
    entries: VecDeque<String>,
}

impl History {
    pub const CAPACITY: usize = 64;

    pub fn push(&mut self, line: &str) {
        if line.trim().is_empty() || self.entries.back().is_some_and(|last| last == line) {
            return;
        }
        if self.entries.len() == Self::CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(String::from(line));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i`, where 0 is the oldest.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.entries.get(i).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_blank_and_repeated_lines() {
        let mut h = History::default();
        h.push("ls");
        h.push("ls");
        h.push("   ");
        h.push("");
        h.push("echo");
        h.push("ls");
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(0), Some("ls"));
        assert_eq!(h.get(1), Some("echo"));
        assert_eq!(h.get(2), Some("ls"));
    }

    #[test]
    fn is_bounded() {
        let mut h = History::default();
        for i in 0..(History::CAPACITY + 10) {
            h.push(&alloc::format!("cmd {i}"));
        }
        assert_eq!(h.len(), History::CAPACITY);
        assert_eq!(h.get(0), Some("cmd 10"));
    }
}
