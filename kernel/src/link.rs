//! The HOST import module as wasmi sees it: one host function per ABI import.
//!
//! Every import except `exit` does the same thing: it leaves the interpreter with a
//! [`Syscall`](crate::task::Syscall) carrying its number and arguments (widened to `i64`), and
//! the kernel serves it with the run's memory, handles and the scheduler at hand
//! ([`crate::sys`]). So there is exactly one place where run-supplied numbers are interpreted,
//! and a call that must block simply leaves the run suspended. `exit` ends the run through
//! wasmi's i32-exit error, which needs no kernel state.

use wasmi::{Caller, Error as WasmError, Linker};
use zb_abi::syscall::{MODULE, nr};

use crate::task::{RunData, syscall};

type Result<T> = core::result::Result<T, WasmError>;
type Cx<'a> = Caller<'a, RunData>;

/// Defines every HOST import in `linker`.
pub fn host_imports(linker: &mut Linker<RunData>) -> Result<()> {
    linker.func_wrap(MODULE, "exit", |_: Cx<'_>, code: i32| -> Result<()> {
        Err(WasmError::i32_exit(code))
    })?;
    linker.func_wrap(MODULE, "yield", |_: Cx<'_>| -> Result<()> {
        Err(syscall(nr::YIELD, [0; 6]))
    })?;
    linker.func_wrap(MODULE, "getpid", |_: Cx<'_>| -> Result<i64> {
        Err(syscall(nr::GETPID, [0; 6]))
    })?;
    linker.func_wrap(MODULE, "clock", |_: Cx<'_>| -> Result<i64> {
        Err(syscall(nr::CLOCK, [0; 6]))
    })?;
    linker.func_wrap(MODULE, "sleep", |_: Cx<'_>, us: i64| -> Result<i64> {
        Err(syscall(nr::SLEEP, [us, 0, 0, 0, 0, 0]))
    })?;
    linker.func_wrap(MODULE, "wait", |_: Cx<'_>, pid: i64| -> Result<i64> {
        Err(syscall(nr::WAIT, [pid, 0, 0, 0, 0, 0]))
    })?;
    linker.func_wrap(
        MODULE,
        "channel_create",
        |_: Cx<'_>, out: i32| -> Result<i64> { Err(syscall(nr::CHANNEL_CREATE, wide([out]))) },
    )?;
    linker.func_wrap(MODULE, "close", |_: Cx<'_>, h: i32| -> Result<i64> {
        Err(syscall(nr::CLOSE, wide([h])))
    })?;
    linker.func_wrap(
        MODULE,
        "args",
        |_: Cx<'_>, p: i32, cap: i32| -> Result<i64> { Err(syscall(nr::ARGS, wide([p, cap]))) },
    )?;
    linker.func_wrap(
        MODULE,
        "grants",
        |_: Cx<'_>, p: i32, cap: i32| -> Result<i64> { Err(syscall(nr::GRANTS, wide([p, cap]))) },
    )?;
    linker.func_wrap(
        MODULE,
        "write",
        |_: Cx<'_>, stream: i32, p: i32, len: i32| -> Result<i64> {
            Err(syscall(nr::WRITE, wide([stream, p, len])))
        },
    )?;
    for (name, number) in [("spawn", nr::SPAWN), ("send", nr::SEND), ("recv", nr::RECV)] {
        linker.func_wrap(
            MODULE,
            name,
            move |_: Cx<'_>, a: i32, b: i32, c: i32, d: i32, e: i32, f: i32| -> Result<i64> {
                Err(syscall(number, wide([a, b, c, d, e, f])))
            },
        )?;
    }
    Ok(())
}

/// Widens i32 arguments (sign-extended, so a negative pointer stays negative and is refused).
fn wide<const N: usize>(args: [i32; N]) -> [i64; 6] {
    let mut out = [0; 6];
    for (o, a) in out.iter_mut().zip(args) {
        *o = i64::from(a);
    }
    out
}
