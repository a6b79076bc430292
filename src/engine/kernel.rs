//! The kernel-AIO engine: every call is the io_* syscall of the same name.
//!
//! This is the reference behaviour the other engines reproduce, and the
//! fallback where io_uring is missing or refused. The only work done in user
//! space is libaio's own: the zero-timeout shortcut that reads the ring.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::{self, EventsOut, IocbList, IocbPtr, IoSigset};
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result};
use crate::fork;

/// The kernel's `struct aio_ring` header, at the context's address.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AioRingHeader {
    pub id: u32,
    pub nr: u32,
    pub head: u32,
    pub tail: u32,
    pub magic: u32,
    pub compat_features: u32,
    pub incompat_features: u32,
    pub header_length: u32,
}

pub const AIO_RING_MAGIC: u32 = 0xa10a_10a1;

/// The raw syscalls, returning the kernel's value (`-errno` on failure).
/// They only pass the caller's pointers on; the kernel validates them.
pub mod sys {
    use crate::abi::{IoEvent, IoSigset, Iocb};

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
        crate::abi::keep_errno(|| {
            // SAFETY: per this function's contract.
            let r = unsafe { libc::syscall(nr, a, b, c, d, e, f) };
            if r < 0 {
                // SAFETY: __errno_location returns the calling thread's errno cell.
                -i64::from(unsafe { *libc::__errno_location() })
            } else {
                r
            }
        })
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
}

/// io_getevents / io_pgetevents straight to the kernel, for any context id.
pub fn get_events_raw(ctx: usize, w: &Wait) -> i64 {
    match w.sigmask {
        None => sys::io_getevents(ctx, w.min_nr, w.nr, w.events.raw(), w.timeout.raw()),
        Some(mask) => {
            // libaio always passes the pair {mask, _NSIG/8}, even for a NULL mask.
            let usig = IoSigset { ss: mask.raw() as u64, ss_len: 8 };
            sys::io_pgetevents(ctx, w.min_nr, w.nr, w.events.raw(), w.timeout.raw(), &usig)
        }
    }
}

/// Set in `KernelEngine::readers` once io_destroy has begun.
const DYING: usize = 1 << (usize::BITS - 1);

pub struct KernelEngine {
    ctx: usize,
    /// The process epoch the context was made in (see `fork`).
    epoch: u64,
    /// Threads reading the ring for the shortcut, plus the DYING bit: the
    /// kernel unmaps the ring in io_destroy, so destroy waits for readers.
    readers: AtomicUsize,
}

impl KernelEngine {
    /// io_setup through the kernel; the new context's id is also its handle.
    pub fn setup(nr_events: i32, ctxp: *mut usize) -> Result<(usize, KernelEngine)> {
        Errno::from_ret(sys::io_setup(nr_events as u32, ctxp))?;
        // The kernel has just written the id there, so the slot is writable
        // and readable; read it back to learn the handle.
        let ctx = abi::read_user::<usize>(ctxp as usize).ok_or(Errno::EFAULT)?;
        Ok((ctx, KernelEngine { ctx, epoch: fork::current(), readers: AtomicUsize::new(0) }))
    }

    /// The engine of a kernel context this process made whose id is `ctx`
    /// (an io_uring context handed over to kernel AIO, see handover.rs).
    pub fn adopt(ctx: usize) -> KernelEngine {
        KernelEngine { ctx, epoch: fork::current(), readers: AtomicUsize::new(0) }
    }

    fn ring_header(&self) -> Option<AioRingHeader> {
        if !fork::is_current(self.epoch) {
            // A forked child: the ring may or may not be mapped here (6.18
            // still maps it, newer kernels do not), so read it the checked way.
            return abi::read_user::<AioRingHeader>(self.ctx);
        }
        let prev = self.readers.fetch_add(1, Ordering::Acquire);
        let hdr = if prev & DYING != 0 {
            None
        } else {
            // SAFETY: the kernel mapped the ring at `ctx` in io_setup and
            // unmaps it only in io_destroy, which waits for `readers` to drain
            // after setting DYING; the fields are plain u32s that the kernel
            // updates concurrently, hence a volatile read.
            Some(unsafe { core::ptr::read_volatile(self.ctx as *const AioRingHeader) })
        };
        self.readers.fetch_sub(1, Ordering::Release);
        hdr
    }
}

impl Engine for KernelEngine {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn submit(&self, iocbs: IocbList) -> Result<usize> {
        Errno::from_ret(sys::io_submit(self.ctx, iocbs.nr(), iocbs.raw())).map(|n| n as usize)
    }

    fn get_events(&self, wait: &Wait) -> Result<usize> {
        Errno::from_ret(get_events_raw(self.ctx, wait)).map(|n| n as usize)
    }

    fn nothing_ready(&self) -> Option<bool> {
        let h = self.ring_header()?;
        (h.magic == AIO_RING_MAGIC).then_some(h.head == h.tail)
    }

    fn cancel(&self, iocb: IocbPtr, result: EventsOut) -> Result<()> {
        Errno::from_ret(sys::io_cancel(self.ctx, iocb.raw(), result.raw())).map(|_| ())
    }

    fn destroy(&self) -> Result<()> {
        self.readers.fetch_or(DYING, Ordering::AcqRel);
        while self.readers.load(Ordering::Acquire) & !DYING != 0 {
            std::hint::spin_loop();
        }
        Errno::from_ret(sys::io_destroy(self.ctx)).map(|_| ())
    }
}
