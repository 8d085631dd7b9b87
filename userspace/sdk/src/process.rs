//! Children: starting them ([`spawn`]), waiting for them ([`wait`]), and the handles a parent
//! granted this run ([`grants`]).

use zb_abi::syscall::{GRANT_SIZE, Grant, MAX_GRANTS, StatusKind, decode_status};

use crate::{Error, Handle, Pid, decode, len32, ptr32, sys};

/// Most bytes of arguments (wire form, NULs included) [`spawn`] encodes on the stack; use
/// [`spawn_raw`] for more (up to `zb_abi::syscall::MAX_ARGS`).
pub const MAX_SPAWN_ARGS: usize = 256;

/// Starts `/bin/<name>` as a child with `args` and `grants`; its pid.
///
/// Each grant *moves* its handle into the child (so a [`crate::Channel`] should be turned
/// into a grant with [`crate::Channel::into_grant`]); on error nothing moved. Errors:
/// `NotFound` (no such program), `InvalidArgument` (bad name, an argument containing NUL),
/// `TooLarge` (arguments over [`MAX_SPAWN_ARGS`], more than `MAX_GRANTS` grants), `BadHandle`
/// and `PermissionDenied` (a grant), `Busy`/`OutOfMemory` (no room for another run).
pub fn spawn(name: &str, args: &[&str], grants: &[Grant]) -> Result<Pid, Error> {
    let mut buf = [0u8; MAX_SPAWN_ARGS];
    let wire = crate::encode_args(args, &mut buf)?;
    spawn_raw(name.as_bytes(), wire, grants)
}

/// [`spawn`] with the arguments already in wire form (each followed by NUL).
pub fn spawn_raw(name: &[u8], args: &[u8], grants: &[Grant]) -> Result<Pid, Error> {
    if grants.len() > MAX_GRANTS {
        return Err(Error::TooLarge);
    }
    let mut wire = [0u8; MAX_GRANTS * GRANT_SIZE];
    for (slot, g) in wire.as_chunks_mut::<GRANT_SIZE>().0.iter_mut().zip(grants) {
        for (dst, src) in slot.iter_mut().zip(grant_bytes(g)) {
            *dst = src;
        }
    }
    let wire = wire.get(..grants.len() * GRANT_SIZE).unwrap_or(&[]);
    let (name_len, args_len) = (len32(name.len())?, len32(args.len())?);
    // `grants.len() <= MAX_GRANTS` fits an i32.
    let ngrants = grants.len() as i32;
    // SAFETY: the kernel reads `name`, `args` and `wire` within their lengths; all three are
    // borrowed for the call.
    let pid = decode(unsafe {
        sys::spawn(
            ptr32(name.as_ptr()),
            name_len,
            ptr32(args.as_ptr()),
            args_len,
            ptr32(wire.as_ptr()),
            ngrants,
        )
    })?;
    Pid::try_from(pid).map_err(|_| Error::Corrupt)
}

/// A grant's wire form: [`Grant::to_bytes`], spelled out so that no slice-length check (and
/// so no panic path) is linked into programs.
fn grant_bytes(g: &Grant) -> impl Iterator<Item = u8> {
    g.handle
        .to_le_bytes()
        .into_iter()
        .chain(g.rights.to_le_bytes())
}

/// Blocks until child `pid` ends and reaps it: how it ended and its exit code (0 unless
/// `Ok`). `NotFound` if `pid` is not a child of this run (or was already reaped).
pub fn wait(pid: Pid) -> Result<(StatusKind, i32), Error> {
    let raw = sys::wait(i64::from(pid));
    decode(raw)?;
    Ok(decode_status(raw))
}

/// Writes the handles the parent granted this run (in grant order) into `out`; returns how
/// many there are, which may exceed `out.len()` (then only the first `out.len()` are written).
pub fn grants(out: &mut [Handle]) -> Result<usize, Error> {
    let cap = len32(out.len())?;
    // SAFETY: the kernel writes at most `cap` `u32`s at `out`, which we borrow mutably;
    // `Handle` is a `repr(transparent)` `u32`, valid for any bit pattern.
    let n = decode(unsafe { sys::grants(ptr32(out.as_mut_ptr()), cap) })?;
    usize::try_from(n).map_err(|_| Error::Corrupt)
}

/// The `i`-th handle the parent granted this run, if there is one.
pub fn grant(i: usize) -> Option<Handle> {
    let mut all = [Handle::from_raw(0); MAX_GRANTS];
    let n = grants(&mut all).ok()?;
    all.get(i).copied().filter(|_| i < n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_encode_as_the_abi_says() {
        let g = Grant {
            handle: 0x0102_0304,
            rights: 0x0A0B_0C0D,
        };
        let mut wire = [0u8; GRANT_SIZE];
        for (d, s) in wire.iter_mut().zip(grant_bytes(&g)) {
            *d = s;
        }
        assert_eq!(wire, g.to_bytes());
        assert_eq!(grant_bytes(&g).count(), GRANT_SIZE);
    }
}
