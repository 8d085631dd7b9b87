//! The console service: owns the serial line and routes it to its foreground client.
//!
//! Job: take raw bytes from the console device and hand them to the foreground client (the
//! shell); take the client's output and apply the output line discipline (`\n` → `\r\n`, as a
//! terminal's ONLCR does) before it reaches the wire.
//!
//! Invariants: the client only ever sees the host through [`TerminalHost`], so every byte it
//! writes passes the line discipline; the service holds no state that input can corrupt.
#![no_std]
#![forbid(unsafe_code)]

use zb_abi::{ConsoleClient, Error, Host, MemInfo, NativeService, PowerAction, SysInfo};

/// The console service with its foreground client `C`.
pub struct ConsoleService<C: ConsoleClient> {
    client: C,
}

impl<C: ConsoleClient> ConsoleService<C> {
    pub fn new(client: C) -> Self {
        ConsoleService { client }
    }
}

impl<C: ConsoleClient> NativeService for ConsoleService<C> {
    fn name(&self) -> &'static str {
        "console"
    }

    fn start(&mut self, host: &mut dyn Host) {
        self.client.attach(&mut TerminalHost { inner: host });
    }

    fn console_input(&mut self, bytes: &[u8], host: &mut dyn Host) {
        self.client.input(bytes, &mut TerminalHost { inner: host });
    }
}

/// The host as a console client sees it: identical, except that console output passes the
/// output line discipline.
pub struct TerminalHost<'a> {
    inner: &'a mut dyn Host,
}

impl<'a> TerminalHost<'a> {
    pub fn new(inner: &'a mut dyn Host) -> Self {
        TerminalHost { inner }
    }
}

impl Host for TerminalHost<'_> {
    fn console_write(&mut self, bytes: &[u8]) {
        // Write maximal runs without '\n' in one call, then "\r\n" for each '\n'.
        for (i, chunk) in bytes.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.inner.console_write(b"\r\n");
            }
            if !chunk.is_empty() {
                self.inner.console_write(chunk);
            }
        }
    }

    fn clock_us(&self) -> u64 {
        self.inner.clock_us()
    }

    fn sysinfo(&self) -> SysInfo {
        self.inner.sysinfo()
    }

    fn meminfo(&self) -> MemInfo {
        self.inner.meminfo()
    }

    fn power(&mut self, action: PowerAction) -> Error {
        self.inner.power(action)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[derive(Default)]
    struct Wire(Vec<u8>);
    impl Host for Wire {
        fn console_write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        fn clock_us(&self) -> u64 {
            0
        }
        fn sysinfo(&self) -> SysInfo {
            SysInfo {
                version: "0",
                platform: "test",
                machine: "wire",
                profile: "debug",
                boot_us: 0,
            }
        }
        fn meminfo(&self) -> MemInfo {
            MemInfo::default()
        }
        fn power(&mut self, _: PowerAction) -> Error {
            Error::Unsupported
        }
    }

    /// Echoes input back and greets on attach.
    struct Echo;
    impl ConsoleClient for Echo {
        fn attach(&mut self, host: &mut dyn Host) {
            host.console_write(b"hi\n> ");
        }
        fn input(&mut self, bytes: &[u8], host: &mut dyn Host) {
            host.console_write(bytes);
        }
    }

    #[test]
    fn newlines_become_crlf_on_the_wire() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        console.start(&mut wire);
        console.console_input(b"a\nb\n\nc", &mut wire);
        assert_eq!(wire.0, b"hi\r\n> a\r\nb\r\n\r\nc");
    }

    #[test]
    fn other_bytes_pass_unchanged() {
        let mut wire = Wire::default();
        let mut console = ConsoleService::new(Echo);
        let all: Vec<u8> = (0u8..=255).filter(|&b| b != b'\n').collect();
        console.console_input(&all, &mut wire);
        assert_eq!(wire.0, all);
    }
}
