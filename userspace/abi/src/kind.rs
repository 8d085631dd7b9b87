//! KindIds: the 32-bit names under which drivers, services, schemes and reducers register
//! (the ZDK catalog, DESIGN.md §4).
//!
//! A KindId is `class(8) | family(8) | variant(16)`: the class says what sort of thing it is
//! (a driver, a service, a scheme, a reducer), the family which kind of that sort (a block
//! driver, a stream driver), the variant which implementation. Values are ABI: once given out
//! they keep their meaning; new ones are appended.

use core::fmt;

/// A registered kind: `class << 24 | family << 16 | variant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KindId(pub u32);

impl KindId {
    pub const fn new(class: Class, family: u8, variant: u16) -> KindId {
        KindId((class as u32) << 24 | (family as u32) << 16 | variant as u32)
    }

    /// The class byte, decoded if known.
    pub fn class(self) -> Option<Class> {
        Class::ALL.into_iter().find(|c| *c as u32 == self.0 >> 24)
    }

    pub const fn family(self) -> u8 {
        (self.0 >> 16) as u8
    }

    pub const fn variant(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for KindId {
    /// `0xCCFFVVVV`, the form `kinds` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// The catalog's classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Class {
    /// Talks to hardware (or QEMU's model of it).
    Driver = 0x01,
    /// A userspace service.
    Service = 0x02,
    /// A URL scheme the kernel routes.
    Scheme = 0x03,
    /// A reducer folding the journal into a view.
    Reducer = 0x04,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Driver, Class::Service, Class::Scheme, Class::Reducer];

    pub const fn name(self) -> &'static str {
        match self {
            Class::Driver => "driver",
            Class::Service => "service",
            Class::Scheme => "scheme",
            Class::Reducer => "reducer",
        }
    }
}

/// Driver families.
pub mod family {
    /// Byte streams (UARTs).
    pub const STREAM: u8 = 0x01;
    /// Block storage (disks, flash).
    pub const BLOCK: u8 = 0x02;
    /// Network interfaces.
    pub const NET: u8 = 0x03;
    /// Clocks and timers.
    pub const TIMER: u8 = 0x04;
    /// Services and schemes use one family: the system's own.
    pub const SYSTEM: u8 = 0x00;
}

use family::{BLOCK, NET, STREAM, SYSTEM, TIMER};

/// The kinds this version of the system knows.
pub mod kinds {
    use super::*;

    pub const UART_16550: KindId = KindId::new(Class::Driver, STREAM, 0x0001);
    pub const STM32_USART: KindId = KindId::new(Class::Driver, STREAM, 0x0002);
    pub const VIRTIO_BLK: KindId = KindId::new(Class::Driver, BLOCK, 0x0001);
    pub const STM32_FLASH: KindId = KindId::new(Class::Driver, BLOCK, 0x0002);
    pub const RAM_FLASH: KindId = KindId::new(Class::Driver, BLOCK, 0x0003);
    pub const VIRTIO_NET: KindId = KindId::new(Class::Driver, NET, 0x0001);
    pub const PIT_TSC: KindId = KindId::new(Class::Driver, TIMER, 0x0001);
    pub const CORTEX_M_SYSTICK: KindId = KindId::new(Class::Driver, TIMER, 0x0002);
    /// The browser platform's terminal (xterm.js in the page, messages to the worker).
    pub const WEB_TERMINAL: KindId = KindId::new(Class::Driver, STREAM, 0x0003);
    /// A file of the browser's Origin Private File System, through a sync access handle.
    pub const OPFS: KindId = KindId::new(Class::Driver, BLOCK, 0x0004);
    /// `performance.now()` and the event loop's timers.
    pub const WEB_CLOCK: KindId = KindId::new(Class::Driver, TIMER, 0x0003);

    pub const CONSOLE: KindId = KindId::new(Class::Service, SYSTEM, 0x0001);
    pub const VFS: KindId = KindId::new(Class::Service, SYSTEM, 0x0002);
    pub const INIT: KindId = KindId::new(Class::Service, SYSTEM, 0x0003);
    pub const NET_SERVICE: KindId = KindId::new(Class::Service, SYSTEM, 0x0004);
    pub const NATS_SERVICE: KindId = KindId::new(Class::Service, SYSTEM, 0x0005);

    pub const SCHEME_FILE: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0001);
    pub const SCHEME_CONSOLE: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0002);
    pub const SCHEME_PROC: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0003);
    pub const SCHEME_MEM: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0004);
    pub const SCHEME_TCP: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0005);
    pub const SCHEME_UDP: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0006);
    pub const SCHEME_NET: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0007);
    pub const SCHEME_NATS: KindId = KindId::new(Class::Scheme, SYSTEM, 0x0008);
}

/// The KindId of a driver by the name its platform reports it under.
pub fn driver_kind(name: &str) -> Option<KindId> {
    Some(match name {
        "uart16550" => kinds::UART_16550,
        "stm32-usart" => kinds::STM32_USART,
        "virtio-blk" => kinds::VIRTIO_BLK,
        "stm32-flash" => kinds::STM32_FLASH,
        "ram-flash" => kinds::RAM_FLASH,
        "virtio-net" => kinds::VIRTIO_NET,
        "pit-tsc" => kinds::PIT_TSC,
        "cortex-m-systick" => kinds::CORTEX_M_SYSTICK,
        "web-terminal" => kinds::WEB_TERMINAL,
        "opfs" => kinds::OPFS,
        "web-clock" => kinds::WEB_CLOCK,
        _ => return None,
    })
}

/// One registry entry as `kinds` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo<'a> {
    pub id: KindId,
    /// What registered it (`virtio-blk`, `vfs`, `file`).
    pub name: &'a str,
    /// The service that provides it, for schemes routed to a service (0 for the kernel).
    pub provider: crate::Pid,
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    #[test]
    fn fields_round_trip() {
        let k = KindId::new(Class::Driver, BLOCK, 0xBEEF);
        assert_eq!(k.class(), Some(Class::Driver));
        assert_eq!(k.family(), BLOCK);
        assert_eq!(k.variant(), 0xBEEF);
        assert_eq!(std::format!("{k}"), "0x0102beef");
        assert_eq!(KindId(0xFF00_0000).class(), None);
        assert_eq!(driver_kind("virtio-blk"), Some(kinds::VIRTIO_BLK));
        assert_eq!(driver_kind("nope"), None);
    }
}
