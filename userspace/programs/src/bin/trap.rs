//! `trap`: executes the wasm `unreachable` instruction on purpose, so the run ends with status
//! `panic` (without going through the panic handler: the trap itself is the test).
#![no_std]
#![no_main]

zb_sdk::entry!(main);

fn main() {
    zb_sdk::io::print_str("trap: executing `unreachable`\n");
    core::arch::wasm32::unreachable()
}
