//! `ledger-view`: the reducer of the view `ledger.balances` (`/etc/views/ledger.balances.view`).
//!
//! A reducer imports nothing (`zb_abi::view`): the kernel calls `reduce` with each ledger
//! event and `scan` with an account name, so the balances are a pure fold of the journal.
//! - `ledger.deposited {"account","amount"}` credits an account;
//! - `ledger.transfer.completed {"from","to","amount"}` moves money (the command handler,
//!   `ledger`, emits it only when `from` can pay);
//! - `scan <account>` answers `{"account":"alice","balance":5}`.
//!
//! State: up to [`ACCOUNTS`] accounts in a table in linear memory — which is what `seal`
//! snapshots. No SDK (it would import the HOST calls), no panics (a panic handler that traps).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;

#[path = "../text.rs"]
mod text;

use text::Text;
use zb_abi::bus::EventView;
use zb_abi::view::INPUT_BYTES;

/// Most accounts.
const ACCOUNTS: usize = 32;
/// Most bytes of an account name.
const NAME: usize = 24;

#[derive(Clone, Copy)]
struct Account {
    name: [u8; NAME],
    len: u8,
    balance: i64,
}

struct State {
    input: [u8; INPUT_BYTES],
    table: Table,
}

struct Table {
    accounts: [Account; ACCOUNTS],
    used: usize,
}

/// The reducer's memory, touched only by the exports below, one call at a time.
struct Cell(UnsafeCell<State>);

// SAFETY: a wasm run has one thread; the kernel calls one export at a time.
unsafe impl Sync for Cell {}

static STATE: Cell = Cell(UnsafeCell::new(State {
    input: [0; INPUT_BYTES],
    table: Table {
        accounts: [Account {
            name: [0; NAME],
            len: 0,
            balance: 0,
        }; ACCOUNTS],
        used: 0,
    },
}));

fn state() -> &'static mut State {
    // SAFETY: single-threaded, and no export keeps a reference across calls or calls another
    // export, so this is the only live reference while an export runs.
    unsafe { &mut *STATE.0.get() }
}

#[unsafe(no_mangle)]
pub extern "C" fn input() -> i32 {
    state().input.as_ptr().expose_provenance() as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn reduce(len: i32) -> i32 {
    let State { input, table } = state();
    let Some(bytes) = input.get(..len.max(0) as usize) else {
        return -1;
    };
    let Ok(event) = EventView::decode(bytes) else {
        return -1;
    };
    let Ok(payload) = core::str::from_utf8(event.payload) else {
        return -1;
    };
    let field = |key| zb_json::get(payload, key).ok().flatten();
    let amount = field("amount").and_then(|a| a.as_i64()).unwrap_or(0);
    match event.name {
        "ledger.deposited" => {
            let Some(account) = field("account").and_then(|a| a.as_plain_str()) else {
                return -1;
            };
            credit(table, account, amount)
        }
        "ledger.transfer.completed" => {
            let (Some(from), Some(to)) = (
                field("from").and_then(|a| a.as_plain_str()),
                field("to").and_then(|a| a.as_plain_str()),
            ) else {
                return -1;
            };
            credit(table, from, -amount).min(credit(table, to, amount))
        }
        _ => 0,
    }
}

/// Adds `amount` to `name`'s balance (opening the account); -1 if the table is full or the
/// name too long.
fn credit(s: &mut Table, name: &str, amount: i64) -> i32 {
    let Some(i) = find(s, name).or_else(|| open(s, name)) else {
        return -1;
    };
    if let Some(a) = s.accounts.get_mut(i) {
        a.balance = a.balance.saturating_add(amount);
    }
    0
}

fn find(s: &Table, name: &str) -> Option<usize> {
    s.accounts
        .get(..s.used)?
        .iter()
        .position(|a| a.name.get(..a.len as usize) == Some(name.as_bytes()))
}

fn open(s: &mut Table, name: &str) -> Option<usize> {
    if name.is_empty() || name.len() > NAME || s.used >= ACCOUNTS {
        return None;
    }
    let a = s.accounts.get_mut(s.used)?;
    a.name
        .get_mut(..name.len())?
        .copy_from_slice(name.as_bytes());
    a.len = name.len() as u8;
    a.balance = 0;
    s.used += 1;
    Some(s.used - 1)
}

#[unsafe(no_mangle)]
pub extern "C" fn scan(len: i32) -> i32 {
    let State { input, table } = state();
    let mut key = [0u8; NAME];
    let n = len.max(0) as usize;
    let (Some(src), Some(dst)) = (input.get(..n), key.get_mut(..n)) else {
        return -1;
    };
    dst.copy_from_slice(src);
    let Ok(name) = core::str::from_utf8(key.get(..n).unwrap_or(&[])) else {
        return -1;
    };
    let Some(a) = find(table, name).and_then(|i| table.accounts.get(i).copied()) else {
        return -1;
    };
    let mut out = Text::new(input);
    out.push(b"{\"account\":\"")
        .push(a.name.get(..a.len as usize).unwrap_or(&[]))
        .push(b"\",\"balance\":")
        .push_i64(a.balance)
        .push(b"}");
    out.len() as i32
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
