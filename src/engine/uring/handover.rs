//! Handing a context over to kernel AIO at its first request.
//!
//! A program that asks for an eventfd (IOCB_FLAG_RESFD) on an O_DIRECT
//! request of a file with real asynchronous direct I/O is an event loop
//! that may read completions from the handle itself (QEMU's linux-aio).
//! Kernel AIO already does such requests asynchronously and writes their
//! events into a ring at the context's address before it signals the
//! eventfd; io_uring would add the submission thread and the mover's hop
//! (mover.rs) to every completion. So, under the auto engine, a context
//! whose very first request is such a read or write becomes a kernel-AIO
//! context: a kernel context of the same size is made and its ring moved
//! (mremap; the kernel follows, and the context's id becomes the handle)
//! onto the handle's memory, and every later call on the context is the
//! kernel engine's. Its buffered requests are then performed inside
//! io_submit, as under the system libaio.
//!
//! Until the first request decides, the context's `live_epoch` holds
//! `UNDECIDED`, which the hot paths' one check (`usable`) refuses: their
//! cold side settles the mode (`settle`), so deciding costs the hot paths
//! nothing. io_getevents or io_cancel before any request settles on
//! io_uring (a thread may be asleep on the ring; it must stay there).
//!
//! Must not: hand over a context after anything was submitted to it or
//! posted in its ring (the two rings' indices would disagree under a reader).

use core::sync::atomic::Ordering;

use crate::engine::kernel::KernelEngine;
use crate::kernel_abi::{AioRingHeader, IOCB_FLAG_RESFD, Iocb, is_read_or_write, sys};
use crate::user_mem::IocbList;
use crate::fork;

use super::UringEngine;
use super::routes::ROUTE_KERNEL;

/// `live_epoch` of a context whose mode is not decided yet: no process's
/// epoch, and not `fork::NO_EPOCH` (dead).
pub(super) const UNDECIDED: u64 = u64::MAX - 1;

/// `UringEngine::mode`.
pub(super) const MODE_UNDECIDED: u8 = 0;
pub(super) const MODE_URING: u8 = 1;
pub(super) const MODE_KERNEL: u8 = 2;

/// What a call that found the context not live (`usable` failed) does.
pub(super) enum Settled<'a> {
    /// Served by io_uring: the call goes on as a live one.
    Uring,
    /// Handed over: the call is the kernel engine's.
    Kernel(&'a KernelEngine),
    /// Destroyed, or a forked child's: -EINVAL.
    Refused,
}

impl UringEngine {
    /// Decides the context's mode if nothing has yet (a request in `first`
    /// may hand it over), and says how a call that found it not live goes on.
    #[cold]
    #[inline(never)]
    pub(super) fn settle(&self, first: Option<IocbList>) -> Settled<'_> {
        if !fork::is_current(self.epoch) {
            return Settled::Refused;
        }
        // Every call on a handed-over context comes here: no lock for it.
        if let Some(k) = self.handed_over() {
            return Settled::Kernel(k);
        }
        let _decide = self.mode_lock.lock();
        match self.mode.load(Ordering::Acquire) {
            MODE_KERNEL => return self.kernel.get().map_or(Settled::Refused, Settled::Kernel),
            MODE_URING => return if self.is_dead() { Settled::Refused } else { Settled::Uring },
            _ => {}
        }
        if self.is_dead() {
            return Settled::Refused;
        }
        if let Some(k) = first.filter(|l| self.hands_over(*l)).and_then(|_| self.kernel_context()) {
            // Set before the mode, which readers without the lock look at first.
            let _ = self.kernel.set(k);
            self.mode.store(MODE_KERNEL, Ordering::Release);
            if crate::config::get().log {
                crate::config::log_line(
                    "io_uring context handed over to kernel AIO: its first request is O_DIRECT with IOCB_FLAG_RESFD",
                );
            }
            return self.kernel.get().map_or(Settled::Refused, Settled::Kernel);
        }
        self.mode.store(MODE_URING, Ordering::Release);
        // Not over io_destroy's NO_EPOCH.
        match self.live_epoch.compare_exchange(UNDECIDED, self.epoch, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Settled::Uring,
            Err(_) => Settled::Refused,
        }
    }

    /// The kernel engine of a handed-over context, looked up without the lock.
    #[inline]
    pub(super) fn handed_over(&self) -> Option<&KernelEngine> {
        if self.mode.load(Ordering::Acquire) == MODE_KERNEL { self.kernel.get() } else { None }
    }

    /// Whether the batch's first iocb makes the context a kernel-AIO one: a
    /// read or write with RESFD of a descriptor on the kernel-AIO route.
    fn hands_over(&self, iocbs: IocbList) -> bool {
        if !self.may_hand_over || iocbs.nr() < 1 {
            return false;
        }
        let Ok(cb) = iocbs.get(0).and_then(|p| p.read()) else { return false };
        is_event_loop_direct_io(&cb) && Self::iocb_route(&cb, &mut None) == ROUTE_KERNEL
    }

    /// A kernel-AIO context of the handle's size whose ring now lies at the
    /// handle (the handle's own pages are replaced), or None, with nothing
    /// changed, if the kernel refused any step.
    fn kernel_context(&self) -> Option<KernelEngine> {
        crate::errno::keep_errno(|| {
            let mut ctx = 0usize;
            if sys::io_setup(self.nr_events, &raw mut ctx) < 0 {
                return None;
            }
            // SAFETY: io_setup mapped the new context's ring at `ctx`; its
            // header is plain u32s.
            let nr = unsafe { core::ptr::read_volatile(ctx as *const AioRingHeader) }.nr;
            let len = self.handle.len();
            if nr as usize != self.ring_nr {
                sys::io_destroy(ctx);
                return None;
            }
            // SAFETY: moves the kernel's ring mapping (same length: the same
            // nr, computed alike) onto the handle's own mapping, which
            // MREMAP_FIXED unmaps first. Nothing has been posted in the
            // handle and no thread waits on it (`settle`, under mode_lock,
            // with the context undecided), and both rings read as empty
            // (head = tail = 0) to a reader at any instant of the move. The
            // kernel moves the context's id to the new address
            // (aio_ring_mremap).
            let moved = unsafe {
                libc::mremap(
                    ctx as *mut libc::c_void,
                    len,
                    len,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    self.handle.addr() as *mut libc::c_void,
                )
            };
            if moved as usize != self.handle.addr() {
                sys::io_destroy(ctx);
                self.handle.restore_if_unmapped();
                return None;
            }
            self.handle.now_kernel_mapped();
            Some(KernelEngine::adopt(self.handle.addr()))
        })
    }
}

/// A read or write with an eventfd to signal: how event loops submit.
fn is_event_loop_direct_io(cb: &Iocb) -> bool {
    is_read_or_write(cb.aio_lio_opcode)
        && cb.aio_flags & IOCB_FLAG_RESFD != 0
        && cb.aio_reserved2 == 0
}
