//! The kernel-AIO engine: every call is the io_* syscall of the same name.
//!
//! This is the reference behaviour the other engines reproduce, and the
//! fallback where io_uring is missing or refused. The only work done in user
//! space is libaio's own: the zero-timeout shortcut that reads the ring.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernel_abi::{is_read_or_write, is_vectored, sys, AioRingHeader, IoSigset, Iocb, AIO_RING_MAGIC};
use crate::stats::{ContextStats, StatsRoute};
use crate::user_mem::{self, EventsOut, IocbList, IocbPtr};
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result};
use crate::fork;

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

/// LIBAIO_RS_STATS for an io_submit the kernel answered with `ret`: the
/// requests it took, and the bytes they ask for (the iocbs read again, for
/// the statistics only), and its error.
pub fn count_kernel_submit(s: &ContextStats, iocbs: IocbList, ret: i64) {
    count_kernel_requests(s, iocbs, ret);
    s.submitted(ret);
}

/// The requests of `count_kernel_submit`, without io_submit's result.
pub fn count_kernel_requests(s: &ContextStats, iocbs: IocbList, ret: i64) {
    for i in 0..ret.max(0) as usize {
        if let Ok(cb) = iocbs.get(i).and_then(|p| p.read()) {
            s.request(StatsRoute::KernelAio, request_bytes(&cb));
        }
    }
}

/// The bytes a read or write asks for (its iovecs' total for PREADV and
/// PWRITEV, 0 if they cannot be read); 0 for other opcodes.
pub fn request_bytes(cb: &Iocb) -> u64 {
    if !is_read_or_write(cb.aio_lio_opcode) {
        return 0;
    }
    if !is_vectored(cb.aio_lio_opcode) {
        return cb.aio_nbytes;
    }
    let mut iov = Vec::new();
    if cb.aio_nbytes > 1024 || user_mem::read_iovecs(cb.aio_buf, cb.aio_nbytes as usize, &mut iov).is_err() {
        return 0;
    }
    iov.iter().map(|v| v.iov_len as u64).sum()
}

/// LIBAIO_RS_STATS for `n` events io_getevents wrote to `events` (read back).
pub fn count_events(s: &ContextStats, events: EventsOut, n: i64) {
    for i in 0..n.max(0) as usize {
        if let Some(ev) = events.read(i) {
            s.event(ev.res);
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
    /// LIBAIO_RS_STATS' counters (None when it is not set).
    stats: Option<Box<ContextStats>>,
}

impl KernelEngine {
    /// io_setup through the kernel; the new context's id is also its handle.
    pub fn setup(nr_events: i32, ctxp: *mut usize) -> Result<(usize, KernelEngine)> {
        Errno::from_ret(sys::io_setup(nr_events as u32, ctxp))?;
        // The kernel has just written the id there, so the slot is writable
        // and readable; read it back to learn the handle.
        let ctx = user_mem::read_user::<usize>(ctxp as usize).ok_or(Errno::EFAULT)?;
        let stats = ContextStats::for_new_context();
        Ok((ctx, KernelEngine { ctx, epoch: fork::current(), readers: AtomicUsize::new(0), stats }))
    }

    /// The engine of a kernel context this process made whose id is `ctx`
    /// (an io_uring context handed over to kernel AIO, see handover.rs).
    /// Its calls are counted by the io_uring context that adopts it.
    pub fn adopt(ctx: usize) -> KernelEngine {
        KernelEngine { ctx, epoch: fork::current(), readers: AtomicUsize::new(0), stats: None }
    }

    fn ring_header(&self) -> Option<AioRingHeader> {
        if !fork::is_current(self.epoch) {
            // A forked child: the ring may or may not be mapped here (6.18
            // still maps it, newer kernels do not), so read it the checked way.
            return user_mem::read_user::<AioRingHeader>(self.ctx);
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
        let r = sys::io_submit(self.ctx, iocbs.nr(), iocbs.raw());
        if let Some(s) = &self.stats {
            count_kernel_submit(s, iocbs, r);
        }
        Errno::from_ret(r).map(|n| n as usize)
    }

    fn get_events(&self, wait: &Wait) -> Result<usize> {
        let r = get_events_raw(self.ctx, wait);
        if let Some(s) = &self.stats {
            count_events(s, wait.events, r);
        }
        Errno::from_ret(r).map(|n| n as usize)
    }

    fn stats(&self) -> Option<(&'static str, &ContextStats)> {
        // A forked child's copy: the parent reports it.
        if !fork::is_current(self.epoch) {
            return None;
        }
        Some(("kernel", self.stats.as_deref()?))
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
