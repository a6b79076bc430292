//! io_cancel (polls only, as kernel AIO cancels nothing else) and
//! io_destroy: cancel the polls, wait for every other request, discard the
//! events still pending, wake every waiter, and only then return, so that
//! nothing of the context can touch the caller's memory afterwards.

use std::sync::atomic::Ordering;

use io_uring::types::CancelBuilder;

use crate::engine::Engine;
use crate::engine::aio_route::AioRoute;
use crate::errno::{Errno, Result, keep_errno};
use crate::fork;
use crate::kernel_abi::{IOCB_CMD_POLL, IoEvent, Iocb};
use crate::user_mem::{EventsOut, IocbPtr, read_user};

use super::UringEngine;
use super::handover::Settled;
use super::mover;
use super::slots::UD_IO;
use super::unusable;

/// Whether the file of the poll `iocb` is ready for what it asks (POLLERR
/// and POLLHUP are always asked, as kernel AIO's aio_poll adds them): its
/// completion is then on its way, as kernel AIO's would be already. Looks
/// at the descriptor number the iocb names, with a zero-timeout poll().
fn poll_fired(iocb: IocbPtr) -> bool {
    let Some(cb) = read_user::<Iocb>(iocb.addr() as usize) else { return false };
    let events = (cb.aio_buf as u16 as i16) | libc::POLLERR | libc::POLLHUP;
    let mut pfd = libc::pollfd { fd: cb.aio_fildes as i32, events, revents: 0 };
    // SAFETY: one pollfd, owned here; a zero timeout never blocks.
    let n = keep_errno(|| unsafe { libc::poll(&mut pfd, 1, 0) });
    n == 1 && pfd.revents & events != 0
}

impl UringEngine {
    pub(super) fn cancel_poll(&self, iocb: IocbPtr, _result: EventsOut) -> Result<()> {
        let key = iocb.key().ok_or(Errno::EFAULT)?;
        if self.usable().is_err() {
            return match self.settle(None) {
                Settled::Uring => self.cancel(iocb, _result),
                Settled::Kernel(k) => k.cancel(iocb, _result),
                Settled::Refused => Err(unusable()),
            };
        }
        if key != 0 {
            return Err(Errno(libc::EINVAL));
        }
        let find = |slab: &super::slots::SlotTable| {
            slab.slots
                .iter()
                .position(|s| s.io_pending && !s.cancelled && s.iocb == iocb.addr() && s.opcode == IOCB_CMD_POLL)
        };
        if find(&self.slot_table.lock()).is_none() {
            return Err(Errno(libc::EINVAL));
        }
        // Kernel AIO arms a poll inside io_submit; here the submission
        // thread may not have taken it yet.
        self.wait_consumed();
        // Kernel AIO completes a poll in the wake-up that makes its file
        // ready, so a cancel after that finds nothing; io_uring completes it
        // later, on the submission thread, and a cancel in between would win.
        if poll_fired(iocb) {
            return Err(Errno(libc::EINVAL));
        }
        // The slot is looked up again and cancelled under the table's lock:
        // released, the poll could complete and its slot go to another
        // thread's request, which the cancel would then hit instead.
        let mut slab = self.slot_table.lock();
        let Some(idx) = find(&slab) else { return Err(Errno(libc::EINVAL)) };
        match self.ring.submitter().register_sync_cancel(None, CancelBuilder::user_data(UD_IO | idx as u64)) {
            Ok(()) => {
                slab.slots[idx].cancelled = true;
                Err(Errno::EINPROGRESS)
            }
            Err(_) => Err(Errno(libc::EINVAL)),
        }
    }

    pub(super) fn tear_down(&self) -> Result<()> {
        if !fork::is_current(self.epoch) || self.destroying.swap(true, Ordering::AcqRel) {
            return Err(Errno(libc::EINVAL));
        }
        self.live_epoch.store(fork::NO_EPOCH, Ordering::SeqCst);
        // io_submit calls that got past their check finish first.
        while self.submitting.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        // A handed-over context is the kernel's to destroy (which also
        // unmaps the handle); settle's lock: no handover is half done.
        let handed_over = {
            let _settled = self.mode_lock.lock();
            self.handed_over()
        };
        if let Some(k) = handed_over {
            return k.destroy();
        }
        // The mover lets go of the context; completions still to come are
        // reaped (and announced) by the wait below.
        if let Some(&fd) = self.notify.get() {
            mover::unregister(fd, self);
        }
        // With requests of the application's on the kernel-AIO route, its
        // io_destroy waits for them and wakes its sleepers (-EINVAL); with
        // none, it is retired at the end instead (aio_route.rs).
        let aio = self.aio.get().and_then(Option::as_ref);
        if let Some(aio) = aio.filter(|a| a.outstanding.load(Ordering::SeqCst) > 0) {
            aio.destroy();
        }
        // Kernel AIO cancels its polls and waits for everything else; events
        // still pending are discarded. A poll may still sit in the submission
        // queue when the first cancel runs, so cancel on every round.
        let mut sink = DiscardedEvents::new();
        let mut polls = Vec::new();
        loop {
            polls.clear();
            let outstanding = {
                let slab = self.slot_table.lock();
                for (i, s) in slab.slots.iter().enumerate() {
                    if s.io_pending && s.opcode == IOCB_CMD_POLL {
                        polls.push(UD_IO | i as u64);
                    }
                }
                slab.slots.iter().any(|s| s.io_pending || s.resfd_pending)
            };
            if !outstanding {
                break;
            }
            for &ud in &polls {
                let _ = self.ring.submitter().register_sync_cancel(None, CancelBuilder::user_data(ud));
            }
            let _ = self.drain(sink.out(), 0, sink.len());
            let _ = self.wait_kernel(Some(10_000_000), core::ptr::null());
        }
        // Wake every thread still waiting: nobody drains after `dead`, so a
        // wake-up completion stays in the ring and also stops any thread
        // that was just about to go to sleep.
        while self.waiters.load(Ordering::Acquire) > 0 {
            self.wake_waiters();
            if let Some(aio) = aio {
                aio.wake();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Nobody waits on the route any more (a later call finds the
        // context dead before it would sleep).
        if aio.is_some_and(AioRoute::retire_or_destroy) {
            mover::wake();
        }
        Ok(())
    }
}

/// Scratch room for the events io_destroy throws away.
pub(super) struct DiscardedEvents(pub(super) Vec<IoEvent>);

impl DiscardedEvents {
    pub(super) fn new() -> DiscardedEvents {
        DiscardedEvents(vec![IoEvent::default(); 256])
    }
    pub(super) fn out(&mut self) -> EventsOut {
        EventsOut::library_owned(&mut self.0)
    }
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}
