//! glibc's `syscall()`, exported so that raw io_* system calls on the
//! library's own contexts reach the library.
//!
//! Programs may pass a handle from libaio's io_setup to
//! `syscall(SYS_io_getevents, ctx, ...)` (MariaDB's thread pool reaps that
//! way, and relies on io_destroy from another thread making the call return
//! EINVAL). The kernel does not know the library's io_uring contexts, so
//! `syscall` is defined here with glibc's version: io_submit, io_getevents,
//! io_pgetevents, io_cancel and io_destroy on a handle the library made are
//! served by its engine, with the raw call's convention (-1 and errno, no
//! user-space shortcut); every other call, and every other handle, goes to
//! the kernel unchanged, as glibc's `syscall` sends it. A `syscall`
//! instruction the program issues itself cannot be seen (README).

use core::ffi::c_long;

use super::ctx_table;
use crate::engine::Wait;
use crate::kernel_abi::{sys, IoEvent, Iocb};
use crate::user_mem::{read_user, EventsOut, IocbList, IocbPtr, SigmaskPtr, TimeoutPtr};
use crate::errno::{Errno, Result};

/// io_pgetevents' sixth argument: `struct __aio_sigset`.
#[repr(C)]
#[derive(Clone, Copy)]
struct AioSigset {
    sigmask: usize,
    sigsetsize: usize,
}

/// `syscall(number, a1, ..., a6)`. Variadic in C; on x86_64 a variadic
/// call passes integer arguments exactly as a call with six fixed ones
/// does, and arguments the caller did not pass are never looked at by the
/// kernel for a call that takes fewer.
pub extern "C" fn syscall(nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> c_long {
    let r = match nr {
        libc::SYS_io_submit
        | libc::SYS_io_getevents
        | sys::SYS_IO_PGETEVENTS
        | libc::SYS_io_cancel
        | libc::SYS_io_destroy => match library_io(nr, [a1, a2, a3, a4, a5, a6]) {
            Some(r) => r,
            // SAFETY: the program's own system call, passed on as glibc would.
            None => unsafe { sys::raw6(nr, a1, a2, a3, a4, a5, a6) },
        },
        // SAFETY: as above.
        _ => unsafe { sys::raw6(nr, a1, a2, a3, a4, a5, a6) },
    };
    if (-4095..0).contains(&r) {
        // SAFETY: __errno_location returns the calling thread's errno cell.
        unsafe { *libc::__errno_location() = -r as i32 };
        return -1;
    }
    r as c_long
}

/// The io_* call on one of the library's contexts, as the kernel would
/// answer it (the result or -errno); None for a handle the library did not
/// make, which is the kernel's.
#[cold]
#[inline(never)]
fn library_io(nr: c_long, a: [usize; 6]) -> Option<i64> {
    let ctx = a[0];
    let r: Result<usize> = crate::errno::keep_errno(|| {
        if nr == libc::SYS_io_destroy {
            // Removed first, as libaio's io_destroy does; Ok(None) if unknown.
            return ctx_table::remove(ctx).map(|removed| removed.engine().destroy().map(|()| 0)).transpose();
        }
        let Some(engine) = ctx_table::lookup(ctx) else { return Ok(None) };
        let r = match nr {
            libc::SYS_io_submit => engine.submit(IocbList::new(a[2] as *mut *mut Iocb, a[1] as i64)),
            libc::SYS_io_cancel => {
                engine.cancel(IocbPtr::new(a[1] as *mut Iocb), EventsOut::new(a[2] as *mut IoEvent)).map(|()| 0)
            }
            _ => wait_of(nr, a).and_then(|w| engine.get_events(&w)),
        };
        r.map(Some)
    })
    .transpose()?;
    Some(match r {
        Ok(n) => n as i64,
        Err(Errno(e)) => -i64::from(e),
    })
}

/// io_getevents' or io_pgetevents' arguments, checked as the kernel checks
/// the signal set of io_pgetevents (-EFAULT unreadable, -EINVAL wrong size).
fn wait_of(nr: c_long, a: [usize; 6]) -> Result<Wait> {
    let sigmask = if nr == sys::SYS_IO_PGETEVENTS {
        let mask = match a[5] {
            0 => 0,
            p => {
                let s = read_user::<AioSigset>(p).ok_or(Errno::EFAULT)?;
                if s.sigmask != 0 && s.sigsetsize != 8 {
                    return Err(Errno(libc::EINVAL));
                }
                s.sigmask
            }
        };
        Some(SigmaskPtr::new(mask as *const libc::sigset_t))
    } else {
        None
    };
    Ok(Wait {
        min_nr: a[1] as i64,
        nr: a[2] as i64,
        events: EventsOut::new(a[3] as *mut IoEvent),
        timeout: TimeoutPtr::new(a[4] as *const libc::timespec),
        sigmask,
    })
}
