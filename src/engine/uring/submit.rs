//! io_submit's fast paths: one iocb (`submit_single`, the most common
//! call) and a batch of plain reads and writes whose descriptors' routes are
//! known (`submit_fast`); what they cannot take goes on to the general path
//! (submit_general.rs) with no effect. Leaves errno alone without saving it
//! on the paths that make raw syscalls only.

use std::sync::atomic::Ordering;

use io_uring::squeue;
use super::lock::MutexGuard;

use crate::engine::Engine;
use crate::errno::{Result, keep_errno};
use crate::engine::kernel::{count_kernel_requests, request_bytes};
use crate::stats::StatsRoute;
use crate::kernel_abi::MAX_RW_COUNT;
use crate::kernel_abi::{Iocb, is_read_or_write};
use crate::user_mem::{IocbList, IocbPtr};

use super::UringEngine;
use super::handover::Settled;
use super::inline::{CacheRead, ring_may_take};
use super::routes::{
    ROUTE_KERNEL, ROUTE_UNKNOWN, cached_route, goes_to_ring, one_iovec, performs_inline, plain_entry,
    plain_single,
};

impl UringEngine {
    /// io_submit, for a caller that keeps io_destroy's teardown waiting
    /// until it returns by its own count (the fast index's `submits`, see
    /// ctx_table::remove) instead of the engine's `submitting`. Returns
    /// io_submit's value (the count accepted, or -errno): one register
    /// from every path, where a Result would be joined through memory.
    ///
    /// Leaves errno as it found it without saving it on the fast paths
    /// (inline, cache read, kernel AIO): they make raw syscalls only
    /// (`sys::raw6`), which do not touch errno. Every part that may call
    /// into libc (a lock that may sleep, the io-uring crate's enter, the
    /// ring's push and wait, the batch path) runs inside keep_errno.
    /// The C suite and the fuzzer check errno around every call (T_CALL).
    #[inline(always)]
    pub fn submit_uncounted(&self, iocbs: IocbList) -> i32 {
        let r = self.submit_any(iocbs);
        if r < 0 {
            self.count_submit_error(r);
        }
        r
    }

    /// LIBAIO_RS_STATS: io_submit's error.
    #[cold]
    #[inline(never)]
    fn count_submit_error(&self, r: i32) {
        if let Some(s) = &self.stats {
            s.submitted(i64::from(r));
        }
    }

    /// `submit_uncounted` without the statistics.
    #[inline(always)]
    fn submit_any(&self, iocbs: IocbList) -> i32 {
        if self.usable().is_err() {
            return self.submit_not_live(iocbs);
        }
        let nr = iocbs.nr();
        // One iocb is within every context's ring_nr (at least 2).
        if nr == 1 {
            if let Some(r) = self.submit_single(iocbs) {
                return r;
            }
        }
        if nr < 0 {
            return -libc::EINVAL;
        }
        match keep_errno(|| self.submit_batch(iocbs, (nr as usize).min(self.ring_nr))) {
            Ok(n) => n as i32,
            Err(e) => -e.0,
        }
    }

    /// io_submit on a context that is not live: not yet settled (this
    /// request may hand it over), handed over, or unusable.
    #[cold]
    #[inline(never)]
    pub(super) fn submit_not_live(&self, iocbs: IocbList) -> i32 {
        match self.settle(Some(iocbs)) {
            Settled::Uring => self.submit_any(iocbs),
            // Raw syscalls: errno untouched.
            Settled::Kernel(k) => {
                let r = k.submit(iocbs).map_or_else(|e| -e.0, |n| n as i32);
                if let Some(s) = &self.stats {
                    count_kernel_requests(s, iocbs, i64::from(r));
                }
                r
            }
            Settled::Refused => -libc::EINVAL,
        }
    }

    /// `submit_fast` for a batch of one, the most common io_submit (fio at
    /// iodepth_batch 1, most databases' single reads): the same routes with
    /// none of the batch's bookkeeping. None, with no effect, where the
    /// batch paths must decide.
    #[inline(always)]
    pub(super) fn submit_single(&self, iocbs: IocbList) -> Option<i32> {
        // The place in flight first, before any field is read: nothing has
        // to survive the reservation's compare-and-swap loop in a register.
        // Kernel AIO also takes it before it looks at the descriptor; where
        // the batch path must decide, it is given back untouched.
        if !self.reserve() {
            return None;
        }
        let r = self.submit_single_reserved(iocbs);
        if r.is_none() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    #[inline(always)]
    pub(super) fn submit_single_reserved(&self, iocbs: IocbList) -> Option<i32> {
        let p = iocbs.get(0).ok()?;
        let cb = p.read().ok()?;
        if cb.aio_reserved2 != 0 {
            return None;
        }
        let route = cached_route(cb.aio_fildes as i32);
        if route == ROUTE_KERNEL {
            if !is_read_or_write(cb.aio_lio_opcode) {
                return None;
            }
            let aio = self.kernel_route_made(&cb, route)?;
            let r = aio.submit(iocbs.raw(), 1);
            self.nudge_mover();
            if r != 1 {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            } else if let Some(s) = &self.stats {
                self.count_request(s, StatsRoute::KernelAio, request_bytes(&cb));
            }
            // 1, or the kernel's -errno.
            return Some(r as i32);
        }
        // Vectored requests and an unknown route (ROUTE_UNKNOWN performs
        // nothing inline and sends nothing to the ring) go the batch way.
        let write = plain_single(&cb)?;
        if performs_inline(route, write) {
            return self.single_inline(p, &cb, write);
        }
        if !goes_to_ring(route, write) {
            return None;
        }
        let tried = self.cached_read_if_worth(p, &cb, write);
        if tried == CacheRead::Done {
            self.wake_sleepers();
            return Some(1);
        }
        if performs_inline(self.route_now(route, true), write) {
            return self.single_inline(p, &cb, write);
        }
        if !ring_may_take(tried, &cb, write) {
            return None;
        }
        keep_errno(|| self.queue_single(p, &cb))
    }

    /// `submit_single` of a read or write its route (or `route_when_alone`)
    /// performs inline: done here, as under kernel AIO (a read that missed
    /// the page cache waits for the disk). None leaves it to the batch path.
    #[inline(always)]
    pub(super) fn single_inline(&self, p: IocbPtr, cb: &Iocb, write: bool) -> Option<i32> {
        let iov = one_iovec(cb);
        if !self.fast_inline_run(p, cb, write, &raw const iov, 1) {
            return None;
        }
        self.wake_sleepers();
        Some(1)
    }

    /// The ring's part of `submit_single`, out of line: a slot, the entry
    /// pushed and published, the wait until the submission thread took it.
    #[inline(never)]
    pub(super) fn queue_single(&self, p: IocbPtr, cb: &Iocb) -> Option<i32> {
        let entry = self.claim_plain(p, cb)?;
        let guard = self.submit_lock.lock();
        self.ring_pending.fetch_add(1, Ordering::AcqRel);
        let upto = self.push_one_and_publish(guard, &entry);
        if let Some(s) = &self.stats {
            self.count_request(s, StatsRoute::Ring, cb.aio_nbytes.min(MAX_RW_COUNT));
        }
        self.wait_taken(upto);
        Some(1)
    }

    /// io_submit of `nr` iocbs (the context checked), out of line: the
    /// batch of one above stays small enough to keep in registers.
    #[cold]
    #[inline(never)]
    pub(super) fn submit_batch(&self, iocbs: IocbList, nr: usize) -> Result<usize> {
        // The common batch first: iocbs of descriptors with a cached route
        // that go inline or to the kernel-AIO route, with nothing unusual.
        let FastPrefix { end: i, accepted: mut done, mut inlined, run, mut queued_upto } = self.submit_fast(iocbs, nr);
        let mut first_err = None;
        if i < nr {
            // The general path carries on, the fast path's kernel-AIO run included.
            let (n, err, inl, upto) = self.submit_general(iocbs, i - run, i, nr);
            done += n;
            first_err = err;
            inlined |= inl;
            queued_upto = upto.or(queued_upto);
        } else if run > 0 {
            let (n, err) = self.flush_run(iocbs, i - run, i);
            done += n;
            first_err = err;
        }
        if self.route_made.load(Ordering::Acquire) && self.route_made.swap(false, Ordering::SeqCst) {
            self.wake_waiters();
        }
        if inlined {
            self.wake_sleepers();
        }
        if let Some(upto) = queued_upto {
            self.wait_taken(upto);
        }
        match (done, first_err) {
            (0, Some(e)) => Err(e),
            (n, _) => Ok(n),
        }
    }

    /// io_submit's fast path: takes iocbs from the start of the batch while
    /// each is a read or write of a descriptor whose cached route is inline
    /// (performed here, see `fast_inline`), the ring (queued here, see
    /// `fast_ring`) or kernel AIO (reserved and left for the caller to pass
    /// on as one run), and stops, with no effect on that iocb, at the first
    /// one that needs a closer look. Returns what it did (`FastPrefix`).
    #[inline(always)]
    pub(super) fn submit_fast(&self, iocbs: IocbList, nr: usize) -> FastPrefix {
        let mut f = FastPrefix { end: 0, accepted: 0, inlined: false, run: 0, queued_upto: None };
        // Taken at the first request queued to the ring, kept for the batch.
        let mut queued: Option<MutexGuard<'_, ()>> = None;
        while f.end < nr {
            let Ok(p) = iocbs.get(f.end) else { break };
            let Ok(cb) = p.read() else { break };
            if cb.aio_reserved2 != 0 || !is_read_or_write(cb.aio_lio_opcode) {
                break;
            }
            let route = cached_route(cb.aio_fildes as i32);
            if route == ROUTE_KERNEL {
                if self.kernel_route_made(&cb, route).is_none() || !self.reserve() {
                    break;
                }
                f.run += 1;
            } else {
                // Other routes only before a kernel-AIO run: a run that
                // stops short must stop the batch where it stopped.
                if f.run > 0 || route == ROUTE_UNKNOWN || !self.reserve() {
                    break;
                }
                let route = self.route_now(route, nr == 1);
                let took = if self.fast_inline(p, &cb, route) {
                    Some(true)
                } else {
                    plain_single(&cb)
                        .filter(|&write| goes_to_ring(route, write))
                        .and_then(|write| self.fast_ring(p, &cb, write, &mut queued))
                };
                match took {
                    Some(inlined) => f.inlined |= inlined,
                    None => {
                        self.in_flight.fetch_sub(1, Ordering::AcqRel);
                        break;
                    }
                }
                f.accepted += 1;
            }
            f.end += 1;
        }
        if let Some(g) = queued {
            f.queued_upto = Some(self.publish(g));
        }
        f
    }

    /// A plain PREAD or PWRITE (`plain_single`) whose route sends it to the
    /// ring, read from the page cache (`try_cached_read`) or queued after
    /// the slow path's descriptor checks made the cheap way
    /// (`ring_rw_allowed`). Called with a place reserved; takes `queued`
    /// (submit_lock) at the first push. Returns whether the request was
    /// performed (`Some(true)`) or queued (`Some(false)`); None, with no
    /// effect, leaves it to the slow path.
    #[inline(always)]
    pub(super) fn fast_ring<'a>(
        &'a self,
        p: IocbPtr,
        cb: &Iocb,
        write: bool,
        queued: &mut Option<MutexGuard<'a, ()>>,
    ) -> Option<bool> {
        let tried = self.cached_read_if_worth(p, cb, write);
        if tried == CacheRead::Done {
            return Some(true);
        }
        (ring_may_take(tried, cb, write) && self.queue_plain(p, cb, queued)).then_some(false)
    }

    /// Queues a PREAD or PWRITE that passed `ring_rw_allowed`: takes a slot,
    /// clears the key, pushes the entry. False, with no effect, if no slot
    /// is free (the slow path then says -EAGAIN).
    #[inline(always)]
    pub(super) fn queue_plain<'a>(&'a self, p: IocbPtr, cb: &Iocb, queued: &mut Option<MutexGuard<'a, ()>>) -> bool {
        let Some(entry) = self.claim_plain(p, cb) else { return false };
        if queued.is_none() {
            *queued = Some(self.submit_lock.lock());
        }
        self.ring_pending.fetch_add(1, Ordering::AcqRel);
        self.push(core::slice::from_ref(&entry));
        if let Some(s) = &self.stats {
            self.count_request(s, StatsRoute::Ring, cb.aio_nbytes.min(MAX_RW_COUNT));
        }
        true
    }

    /// The part of queueing a plain PREAD/PWRITE before the push: a slot,
    /// the key cleared, the entry. None, with no effect, if no slot is free.
    #[inline(always)]
    pub(super) fn claim_plain(&self, p: IocbPtr, cb: &Iocb) -> Option<squeue::Entry> {
        let idx = self.slot_table.lock().take(p.addr(), cb.aio_data, cb.aio_lio_opcode)?;
        p.clear_key();
        Some(plain_entry(cb, idx))
    }
}

/// What io_submit's fast path did: it stopped at iocb `end`, having
/// accepted `accepted` iocbs (inline or queued to the ring), and left the
/// last `run` iocbs before `end` reserved for the kernel-AIO route.
/// `queued_upto`: where its last entry queued to the ring stands.
pub(super) struct FastPrefix {
    pub(super) end: usize,
    pub(super) accepted: usize,
    pub(super) inlined: bool,
    pub(super) run: usize,
    pub(super) queued_upto: Option<u32>,
}
