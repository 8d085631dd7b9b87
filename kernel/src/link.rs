//! The HOST import module as wasmi sees it: one host function per ABI import.
//!
//! Every import except `exit` does the same thing: it charges the call's fuel, then serves the
//! call on the spot if it can — with the run's memory and its store data ([`crate::sys::serve`])
//! — and returns the reply straight to wasm. A call that must block or yield, or that needs the
//! run table (`spawn`, `wait`), instead leaves the interpreter ([`crate::task::suspend`]) with a
//! [`Syscall`](crate::task::Syscall) carrying its number and arguments (widened to `i64`), and
//! the kernel serves it ([`crate::sys`]) with the same code (or, for a call found to block or
//! yield, acts on that outcome). So there is exactly one place where
//! run-supplied numbers are interpreted, and a call that must block simply leaves the run
//! suspended. `exit` ends the run through wasmi's i32-exit error, which needs no kernel state.

use wasmi::{Caller, Error as WasmError, IntoFunc, Linker};
use zb_abi::syscall::{MODULE, nr};

use crate::kernel::Outcome;
use crate::replay::Tape;
use crate::sys::{self, SYSCALL_FUEL};
use crate::task::{RunData, suspend};

type Result<T> = core::result::Result<T, WasmError>;

/// A linker that takes only the definitions `wanted` names.
struct Wanted<'a, F> {
    linker: &'a mut Linker<RunData>,
    wanted: F,
}

impl<F: Fn(&str) -> bool> Wanted<'_, F> {
    fn func_wrap<Params, Args>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<RunData, Params, Args>,
    ) -> Result<&mut Self> {
        if (self.wanted)(name) {
            self.linker.func_wrap(module, name, func)?;
        }
        Ok(self)
    }
}
type Cx<'a> = Caller<'a, RunData>;

/// Defines in `linker` the HOST imports `wanted` names (those a module imports: each
/// definition costs kernel heap for as long as the program is loaded, ~200 bytes).
pub fn host_imports(linker: &mut Linker<RunData>, wanted: impl Fn(&str) -> bool) -> Result<()> {
    let linker = &mut Wanted { linker, wanted };
    linker.func_wrap(MODULE, "exit", |_: Cx<'_>, code: i32| -> Result<()> {
        Err(WasmError::i32_exit(code))
    })?;
    linker.func_wrap(MODULE, "yield", |mut cx: Cx<'_>| -> Result<()> {
        kernel_call(&mut cx, nr::YIELD, [0; 6], false).map(|_| ())
    })?;
    linker.func_wrap(MODULE, "getpid", |mut cx: Cx<'_>| -> Result<i64> {
        call(&mut cx, nr::GETPID, [0; 6])
    })?;
    linker.func_wrap(MODULE, "clock", |mut cx: Cx<'_>| -> Result<i64> {
        call(&mut cx, nr::CLOCK, [0; 6])
    })?;
    linker.func_wrap(MODULE, "sleep", |mut cx: Cx<'_>, us: i64| -> Result<i64> {
        call(&mut cx, nr::SLEEP, [us, 0, 0, 0, 0, 0])
    })?;
    linker.func_wrap(MODULE, "wait", |mut cx: Cx<'_>, pid: i64| -> Result<i64> {
        kernel_call(&mut cx, nr::WAIT, [pid, 0, 0, 0, 0, 0], true)
    })?;
    linker.func_wrap(
        MODULE,
        "channel_create",
        |mut cx: Cx<'_>, out: i32| -> Result<i64> {
            call(&mut cx, nr::CHANNEL_CREATE, wide([out]))
        },
    )?;
    linker.func_wrap(MODULE, "close", |mut cx: Cx<'_>, h: i32| -> Result<i64> {
        call(&mut cx, nr::CLOSE, wide([h]))
    })?;
    linker.func_wrap(
        MODULE,
        "args",
        |mut cx: Cx<'_>, p: i32, cap: i32| -> Result<i64> {
            call(&mut cx, nr::ARGS, wide([p, cap]))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "grants",
        |mut cx: Cx<'_>, p: i32, cap: i32| -> Result<i64> {
            call(&mut cx, nr::GRANTS, wide([p, cap]))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "write",
        |mut cx: Cx<'_>, stream: i32, p: i32, len: i32| -> Result<i64> {
            call(&mut cx, nr::WRITE, wide([stream, p, len]))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "spawn",
        |mut cx: Cx<'_>, a: i32, b: i32, c: i32, d: i32, e: i32, f: i32| -> Result<i64> {
            kernel_call(&mut cx, nr::SPAWN, wide([a, b, c, d, e, f]), true)
        },
    )?;
    // URL calls: served by the kernel (the fast path leaves them to it), blocking until the
    // scheme's handler answers.
    for (name, number) in [
        ("unlink", nr::UNLINK),
        ("mkdir", nr::MKDIR),
        ("rmdir", nr::RMDIR),
    ] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut cx: Cx<'_>, a: i32, b: i32| -> Result<i64> {
                call(&mut cx, number, wide([a, b]))
            },
        )?;
    }
    for (name, number) in [
        ("open", nr::OPEN),
        ("read", nr::READ),
        ("stat", nr::STAT),
        ("readdir", nr::READDIR),
        ("statfs", nr::STATFS),
    ] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut cx: Cx<'_>, a: i32, b: i32, c: i32| -> Result<i64> {
                call(&mut cx, number, wide([a, b, c]))
            },
        )?;
    }
    linker.func_wrap(
        MODULE,
        "rename",
        |mut cx: Cx<'_>, a: i32, b: i32, c: i32, d: i32| -> Result<i64> {
            call(&mut cx, nr::RENAME, wide([a, b, c, d]))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "seek",
        |mut cx: Cx<'_>, h: i32, offset: i64, whence: i32| -> Result<i64> {
            call(
                &mut cx,
                nr::SEEK,
                [i64::from(h), offset, i64::from(whence), 0, 0, 0],
            )
        },
    )?;
    // The bus and view calls leave the interpreter: the kernel serves them between slices.
    for (name, number) in [("emit", nr::EMIT), ("scan", nr::SCAN)] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut cx: Cx<'_>, a: i32, b: i32, c: i32, d: i32, e: i32, f: i32| -> Result<i64> {
                kernel_call(&mut cx, number, wide([a, b, c, d, e, f]), true)
            },
        )?;
    }
    for (name, number) in [("subscribe", nr::SUBSCRIBE), ("next", nr::NEXT)] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut cx: Cx<'_>, a: i32, b: i32, c: i32, d: i32| -> Result<i64> {
                kernel_call(&mut cx, number, wide([a, b, c, d]), true)
            },
        )?;
    }
    for (name, number) in [
        ("last_error", nr::LAST_ERROR),
        ("seal", nr::SEAL),
        ("timer", nr::TIMER),
    ] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut cx: Cx<'_>, a: i32, b: i32| -> Result<i64> {
                kernel_call(&mut cx, number, wide([a, b]), true)
            },
        )?;
    }
    linker.func_wrap(
        MODULE,
        "ack",
        |mut cx: Cx<'_>, h: i32, seq: i64, failed: i32| -> Result<i64> {
            let args = [i64::from(h), seq, i64::from(failed), 0, 0, 0];
            kernel_call(&mut cx, nr::ACK, args, true)
        },
    )?;
    for (name, number) in [("send", nr::SEND), ("recv", nr::RECV)] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut cx: Cx<'_>, a: i32, b: i32, c: i32, d: i32, e: i32, f: i32| -> Result<i64> {
                call(&mut cx, number, wide([a, b, c, d, e, f]))
            },
        )?;
    }
    Ok(())
}

/// Charges a host call's fuel (down to 0: the run is then preempted at its next instruction,
/// or by the kernel right after serving the call).
fn charge(cx: &mut Cx<'_>) {
    if let Ok(fuel) = cx.get_fuel() {
        // Cannot fail: fuel metering is on (`get_fuel` just succeeded).
        let _ = cx.set_fuel(fuel.saturating_sub(SYSCALL_FUEL));
    }
}

/// Serves call `number` here if it completes at once; otherwise leaves it to the kernel.
fn call(cx: &mut Cx<'_>, number: u32, args: [i64; 6]) -> Result<i64> {
    charge(cx);
    let (mem, data) = parts(cx);
    if let Some(answer) = taped(mem, data, number, &args)? {
        return Ok(answer);
    }
    match sys::serve(mem, data, number, &args) {
        Some(Outcome::Reply(v)) => {
            if let Tape::Record(r) = &mut data.tape {
                r.end(mem, v);
            }
            Ok(v)
        }
        // Blocks or yields (having changed nothing), or needs the kernel.
        served => Err(leave(data, number, args, true, served)),
    }
}

/// Leaves the interpreter with call `number` for the kernel to serve (`returns`: the host
/// function returns its result).
fn kernel_call(cx: &mut Cx<'_>, number: u32, args: [i64; 6], returns: bool) -> Result<i64> {
    charge(cx);
    let (mem, data) = parts(cx);
    if let Some(answer) = taped(mem, data, number, &args)? {
        return Ok(answer);
    }
    Err(leave(data, number, args, returns, None))
}

/// The run's memory and store data at once.
fn parts<'a>(cx: &'a mut Cx<'_>) -> (&'a mut [u8], &'a mut RunData) {
    match cx.data().memory {
        Some(m) => m.data_and_store_mut(&mut *cx),
        None => (&mut [][..], cx.data_mut()),
    }
}

/// The tape's part in a call (`crate::replay`): a recorded run's call is noted as made (its
/// answer is recorded when it returns: here, or in `Task::resume`); a replayed run's call is
/// answered from the recording (`Some`), and a call that differs stops the replay.
fn taped(mem: &mut [u8], data: &mut RunData, number: u32, args: &[i64; 6]) -> Result<Option<i64>> {
    match &mut data.tape {
        Tape::Off => Ok(None),
        Tape::Record(r) => {
            r.begin(mem, number, args);
            Ok(None)
        }
        Tape::Replay(r) => r.call(mem, number, args).map(Some).map_err(WasmError::host),
    }
}

/// Leaves the interpreter with call `number` for the kernel, with the outcome already found
/// for it (`None`: the kernel serves it).
fn leave(
    data: &mut RunData,
    number: u32,
    args: [i64; 6],
    returns: bool,
    served: Option<Outcome>,
) -> WasmError {
    data.sys.served = served;
    suspend(data, number, args, returns)
}

/// Widens i32 arguments (sign-extended, so a negative pointer stays negative and is refused).
fn wide<const N: usize>(args: [i32; N]) -> [i64; 6] {
    let mut out = [0; 6];
    for (o, a) in out.iter_mut().zip(args) {
        *o = i64::from(a);
    }
    out
}
