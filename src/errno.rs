//! The one error currency inside the library: a positive errno value; and
//! `keep_errno`, which leaves the caller's errno as it was found. Imports
//! nothing of the crate.
//!
//! Every exported function turns `Err(Errno(e))` into the C return `-e` in one
//! place (`abi::ret`), the way libaio does: never -1, never a write to `errno`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

pub type Result<T> = core::result::Result<T, Errno>;

impl Errno {
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EINPROGRESS: Errno = Errno(libc::EINPROGRESS);
    pub const EOPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);

    /// Reads a raw syscall result: negative values are `-errno`.
    pub fn from_ret(ret: i64) -> Result<i64> {
        if ret < 0 { Err(Errno(-ret as i32)) } else { Ok(ret) }
    }
}

/// Runs `f` and puts the caller's `errno` back afterwards: libaio's calls
/// never change errno, while the syscalls underneath do.
#[inline(always)]
pub fn keep_errno<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: __errno_location returns the calling thread's errno cell, valid
    // for the thread's lifetime.
    let cell = unsafe { libc::__errno_location() };
    // SAFETY: as above; a plain int read and write of our own thread's errno.
    let saved = unsafe { *cell };
    let r = f();
    // SAFETY: as above.
    unsafe { *cell = saved };
    r
}
