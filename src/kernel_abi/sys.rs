//! The raw syscalls, returning the kernel's value (`-errno` on failure).
//! They only pass the caller's pointers on; the kernel validates them.

use super::{IoEvent, IoSigset, Iocb};

/// x86_64 syscall number of io_pgetevents (libc does not name it).
pub const SYS_IO_PGETEVENTS: libc::c_long = 333;

/// A raw system call with up to six arguments: the result, or -errno.
/// Not libc's syscall(): that one goes through errno and costs more than
/// the rest of a fast io_submit.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers the kernel
/// dereferences are checked by it with the user-copy routines).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn raw6(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> i64 {
    let r: i64;
    // SAFETY: per this function's contract. The x86_64 syscall ABI:
    // number in rax, arguments in rdi, rsi, rdx, r10, r8, r9, result or
    // -errno in rax; the instruction clobbers rcx and r11 and no stack.
    // Memory is not declared untouched: the kernel may write through
    // the pointer arguments.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => r,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            in("r8") e,
            in("r9") f,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// The same through libc's syscall(), with errno put back: io_submit's
/// fast paths rely on raw6 leaving errno alone (see
/// `UringEngine::submit_uncounted`).
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn raw6(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> i64 {
    // SAFETY: __errno_location returns the calling thread's errno cell.
    let cell = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *cell };
    // SAFETY: per this function's contract.
    let r = unsafe { libc::syscall(nr, a, b, c, d, e, f) };
    // SAFETY: as above.
    let r = if r < 0 { -i64::from(unsafe { *cell }) } else { r };
    // SAFETY: as above.
    unsafe { *cell = saved };
    r
}

pub fn io_setup(nr: u32, ctxp: *mut usize) -> i64 {
    // SAFETY: the kernel checks `ctxp` (get_user/put_user) and fails with -EFAULT.
    unsafe { raw6(libc::SYS_io_setup, nr as usize, ctxp as usize, 0, 0, 0, 0) }
}
pub fn io_destroy(ctx: usize) -> i64 {
    // SAFETY: a context id is only a number to the kernel.
    unsafe { raw6(libc::SYS_io_destroy, ctx, 0, 0, 0, 0, 0) }
}
pub fn io_submit(ctx: usize, nr: i64, iocbpp: *mut *mut Iocb) -> i64 {
    // SAFETY: the kernel reads the array and each iocb with copy_from_user.
    unsafe { raw6(libc::SYS_io_submit, ctx, nr as usize, iocbpp as usize, 0, 0, 0) }
}
pub fn io_getevents(
    ctx: usize,
    min_nr: i64,
    nr: i64,
    events: *mut IoEvent,
    ts: *const libc::timespec,
) -> i64 {
    // SAFETY: the kernel writes events and reads ts with user-copy routines.
    unsafe { raw6(libc::SYS_io_getevents, ctx, min_nr as usize, nr as usize, events as usize, ts as usize, 0) }
}
pub fn io_pgetevents(
    ctx: usize,
    min_nr: i64,
    nr: i64,
    events: *mut IoEvent,
    ts: *const libc::timespec,
    usig: *const IoSigset,
) -> i64 {
    // SAFETY: as io_getevents; `usig` and the mask it names are read with copy_from_user.
    unsafe { raw6(SYS_IO_PGETEVENTS, ctx, min_nr as usize, nr as usize, events as usize, ts as usize, usig as usize) }
}
pub fn io_cancel(ctx: usize, iocb: *mut Iocb, result: *mut IoEvent) -> i64 {
    // SAFETY: the kernel reads the iocb's key with get_user.
    unsafe { raw6(libc::SYS_io_cancel, ctx, iocb as usize, result as usize, 0, 0, 0) }
}

/// Closes a descriptor the library made and owns, ignoring the result
/// (nothing useful can be done about a failed close of our own duplicate).
pub fn close_quiet(fd: i32) {
    if fd >= 0 {
        // SAFETY: a descriptor number is only a number to the kernel; the
        // caller owns this one.
        unsafe { raw6(libc::SYS_close, fd as usize, 0, 0, 0, 0, 0) };
    }
}
