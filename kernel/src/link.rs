//! The HOST import module as wasmi sees it: one host function per ABI import.
//!
//! The functions are made from the ABI's table ([`Sysnum::ALL`] with each call's
//! [`Signature`]): each widens its arguments to `i64` (sign-extended, so a negative pointer
//! stays negative and is refused) and enters the gate ([`crate::gate::enter`]), which does
//! everything else. `exit` alone ends the run here, through wasmi's i32-exit error, which needs
//! no kernel state. So adding a call never touches this file unless it brings a signature no
//! call had before.

use wasmi::{Caller, Error as WasmError, Linker};
use zb_abi::syscall::{MODULE, Signature, Sysnum};

use crate::gate::enter;
use crate::task::RunData;

type Result<T> = core::result::Result<T, WasmError>;
type Cx<'a> = Caller<'a, RunData>;

/// Defines in `linker` the HOST imports `wanted` names (those a module imports: each
/// definition costs kernel heap for as long as the program is loaded, ~200 bytes).
pub fn host_imports(linker: &mut Linker<RunData>, wanted: impl Fn(&str) -> bool) -> Result<()> {
    for call in Sysnum::ALL {
        let name = call.name();
        if !wanted(name) {
            continue;
        }
        match call.signature() {
            Signature::Exit => {
                linker.func_wrap(MODULE, name, |_: Cx<'_>, code: i32| -> Result<()> {
                    Err(WasmError::i32_exit(code))
                })
            }
            Signature::Nothing => {
                linker.func_wrap(MODULE, name, move |mut cx: Cx<'_>| -> Result<()> {
                    enter(&mut cx, call, [0; 6], false).map(|_| ())
                })
            }
            Signature::Returns => {
                linker.func_wrap(MODULE, name, move |mut cx: Cx<'_>| -> Result<i64> {
                    enter(&mut cx, call, [0; 6], true)
                })
            }
            Signature::I64 => {
                linker.func_wrap(MODULE, name, move |mut cx: Cx<'_>, a: i64| -> Result<i64> {
                    enter(&mut cx, call, [a, 0, 0, 0, 0, 0], true)
                })
            }
            Signature::I32x1 => {
                linker.func_wrap(MODULE, name, move |mut cx: Cx<'_>, a: i32| -> Result<i64> {
                    enter(&mut cx, call, wide([a]), true)
                })
            }
            Signature::I32x2 => linker.func_wrap(
                MODULE,
                name,
                move |mut cx: Cx<'_>, a: i32, b: i32| -> Result<i64> {
                    enter(&mut cx, call, wide([a, b]), true)
                },
            ),
            Signature::I32x3 => linker.func_wrap(
                MODULE,
                name,
                move |mut cx: Cx<'_>, a: i32, b: i32, c: i32| -> Result<i64> {
                    enter(&mut cx, call, wide([a, b, c]), true)
                },
            ),
            Signature::I32x4 => linker.func_wrap(
                MODULE,
                name,
                move |mut cx: Cx<'_>, a: i32, b: i32, c: i32, d: i32| -> Result<i64> {
                    enter(&mut cx, call, wide([a, b, c, d]), true)
                },
            ),
            Signature::I32x6 => linker.func_wrap(
                MODULE,
                name,
                move |mut cx: Cx<'_>,
                      a: i32,
                      b: i32,
                      c: i32,
                      d: i32,
                      e: i32,
                      f: i32|
                      -> Result<i64> {
                    enter(&mut cx, call, wide([a, b, c, d, e, f]), true)
                },
            ),
            Signature::HandleI64I32 => linker.func_wrap(
                MODULE,
                name,
                move |mut cx: Cx<'_>, h: i32, v: i64, c: i32| -> Result<i64> {
                    let args = [i64::from(h), v, i64::from(c), 0, 0, 0];
                    enter(&mut cx, call, args, true)
                },
            ),
        }?;
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
