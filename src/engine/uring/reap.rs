//! Completions into events: draining the ring's completion queue and the
//! kernel-AIO route into the caller's array or into the handle, accounting
//! for events the application consumed from the handle itself, and the
//! mover's periodic look (`tick`). Never waits: wait.rs does.

use std::sync::atomic::Ordering;

use crate::engine::Engine;
use crate::engine::aio_route::AioRoute;
use crate::errno::{Errno, Result};
use crate::fork;
use crate::kernel_abi::IoEvent;
use crate::user_mem::EventsOut;

use super::UringEngine;
use super::handover::MODE_UNDECIDED;
use super::slots::{EVENTFD_ONE, SlotTable, UD_IO, UD_TAG, complete, internal_completion};

impl UringEngine {
    pub(super) fn nothing_ready_now(&self) -> Option<bool> {
        if !fork::is_current(self.live_epoch.load(Ordering::Acquire)) {
            if let Some(k) = self.handed_over() {
                return k.nothing_ready();
            }
            // Nothing was ever submitted to an undecided context.
            let undecided = self.mode.load(Ordering::Acquire) == MODE_UNDECIDED;
            return (undecided && !self.is_dead() && fork::is_current(self.epoch)).then_some(true);
        }
        if self.handle.pending(Ordering::Acquire) > 0 {
            return Some(false);
        }
        if let Some(Some(aio)) = self.aio.get() {
            if aio.ready() {
                return Some(false);
            }
        }
        let mut stash = self.reap_lock.lock();
        if stash.is_some() {
            return Some(false);
        }
        // The library's own completions (wake-ups, eventfd writes) are not
        // events: consume them, and stop at the first request's completion.
        // SAFETY: the completion queue is only touched under reap_lock.
        let mut cq = unsafe { self.ring.completion_shared() };
        for cqe in &mut cq {
            if cqe.user_data() & UD_TAG == UD_IO {
                *stash = Some(cqe);
                return Some(false);
            }
            internal_completion(&mut self.slot_table.lock(), cqe.user_data());
        }
        cq.sync();
        drop(cq);
        Some(!(self.cq_may_overflow && self.cq_overflowed()))
    }

    /// Signals a RESFD request's pinned eventfd (if any) and lets go of
    /// the pin: called once the request's event is in the handle.
    #[inline(always)]
    pub(super) fn announce(&self, resfd: i32) {
        if resfd >= 0 {
            // SAFETY: writing 8 bytes from a static to the pinned eventfd.
            unsafe { libc::write(resfd, (&raw const EVENTFD_ONE).cast(), 8) };
            self.pins.release(resfd);
        }
    }

    /// The completion queue, under reap_lock (held by the caller), with
    /// any completions the kernel kept aside on overflow moved back into it.
    pub(super) fn completions<'a>(&'a self) -> io_uring::CompletionQueue<'a> {
        // SAFETY: the completion queue is only read under reap_lock.
        let cq = unsafe { self.ring.completion_shared() };
        if cq.is_empty() && self.cq_may_overflow && self.cq_overflowed() {
            drop(cq);
            // An enter with GETEVENTS moves overflowed completions into the ring.
            let _ = self.ring.submitter().submit_and_wait(0);
            // SAFETY: as above.
            return unsafe { self.ring.completion_shared() };
        }
        cq
    }

    /// Moves the handle's events to `events[got..nr]` and accounts for
    /// every event consumed since the last look (by this or by the
    /// application advancing head itself); returns the new count. The
    /// caller holds reap_lock and found `events[got..nr]` writable.
    pub(super) fn take_from_handle(&self, events: EventsOut, mut got: usize, nr: usize) -> usize {
        let pending = self.handle.pending(Ordering::Acquire);
        if pending > 0 && got < nr {
            // Below `nr`, the caller checked the run (`drain`).
            let room = (got + pending).min(nr);
            // Cannot fail to write: below `room`, under reap_lock.
            let (taken, consumed) = self.handle.take_into(events, got, room - got);
            got += taken;
            if consumed > 0 {
                self.in_flight.fetch_sub(consumed, Ordering::Release);
            }
        }
        let consumed = self.handle.take_consumed();
        if consumed > 0 {
            self.in_flight.fetch_sub(consumed, Ordering::Release);
        }
        got
    }

    /// Moves completions to `events[got..nr]`, the handle's first; returns
    /// the new count. A request's CQE is consumed only when its event can
    /// be written, or when it goes to the handle (a RESFD request's, whose
    /// eventfd announces it in the handle, as kernel AIO's does).
    pub(super) fn drain(&self, events: EventsOut, mut got: usize, nr: usize) -> Result<usize> {
        self.reaped.store(true, Ordering::Relaxed);
        let mut stash = self.reap_lock.lock();
        let mut cq = self.completions();
        // copy_to_user of an event that is ready would fail: -EFAULT, and
        // the events stay for a later call, as the kernel's
        // aio_read_events_ring (which copies them in one run); with none
        // ready, the call waits like any other. Ready is counted high here
        // (the library's own completions among them): a bad slot just past
        // the last real event then gets -EFAULT where the kernel delivers.
        // Events are written up to `nr` only, the run checked here.
        if got >= nr {
            return Ok(got);
        }
        let ready = self.handle.pending(Ordering::Acquire) + cq.len() + usize::from(stash.is_some());
        let nr = got + (nr - got).min(ready.max(1));
        if events.writable(got, nr) < nr {
            return if self.event_ready(&mut stash, &mut cq) { Err(Errno::EFAULT) } else { Ok(got) };
        }
        got = self.take_from_handle(events, got, nr);
        if got >= nr || (stash.is_none() && cq.is_empty()) {
            return Ok(got);
        }
        let mut slab = self.slot_table.lock();
        // Internal completions do not count; a request's completion is
        // taken only while there is room for its event: up to `nr`, the
        // end of the run checked above.
        let start = got;
        let mut posted = 0;
        while got < nr {
            let Some(cqe) = stash.take().or_else(|| cq.next()) else { break };
            let Some((ev, resfd)) = complete(&mut slab, &cqe) else { continue };
            if let Some(s) = &self.stats {
                s.event(ev.res);
            }
            if resfd >= 0 {
                self.handle.post(ev);
                self.announce(resfd);
                posted += 1;
            } else {
                // SAFETY: got < nr, the end of the writable run from `start`.
                unsafe { events.write_in_run(got, ev) };
                got += 1;
            }
        }
        // Kernel AIO has every completed event in the ring at the handle,
        // and a program reading the ring there finds what io_getevents left
        // (fio's userspace_reap, a second thread): so does it here.
        posted += self.post_rest(&mut stash, &mut cq, &mut slab);
        drop(slab);
        cq.sync();
        drop(cq);
        let reaped = got - start;
        if reaped > 0 {
            self.in_flight.fetch_sub(reaped, Ordering::Release);
        }
        if reaped + posted > 0 {
            self.ring_pending.fetch_sub(reaped + posted, Ordering::AcqRel);
        }
        if posted > 0 {
            got = self.take_from_handle(events, got, nr);
        }
        drop(stash);
        // A thread that found the handle empty and is about to sleep on the
        // ring would sleep through events moved to the handle here: the
        // ring's wake-up was for completions this call consumed.
        if posted > 0 {
            self.wake_sleepers();
        }
        Ok(got)
    }

    /// Whether an event could be reaped now (the handle's, or a request's
    /// completion on the ring), without taking it: internal completions met
    /// on the way are consumed, the first request's is kept in `stash`.
    fn event_ready(&self, stash: &mut Option<io_uring::cqueue::Entry>, cq: &mut io_uring::CompletionQueue<'_>) -> bool {
        if self.handle.pending(Ordering::Acquire) > 0 || stash.is_some() {
            return true;
        }
        let mut slab = self.slot_table.lock();
        for cqe in cq.by_ref() {
            if cqe.user_data() & UD_TAG == UD_IO {
                *stash = Some(cqe);
                return true;
            }
            let _ = complete(&mut slab, &cqe);
        }
        false
    }

    /// Reaps events of the kernel-AIO route into `events[got..nr]`, waiting
    /// (for any event, the route's own wake-ups included) if `wait` is given.
    pub(super) fn reap_aio(
        &self,
        aio: &AioRoute,
        events: EventsOut,
        got: usize,
        nr: usize,
        wait: Option<(Option<u64>, Option<*const libc::sigset_t>)>,
    ) -> Result<usize> {
        let mut buf = [const { core::mem::MaybeUninit::<IoEvent>::uninit() }; 64];
        // Take from the kernel no more events than can be handed on: the
        // caller's array is one range, so its last slot decides.
        let mut room = (nr - got).min(buf.len());
        room = events.writable(got, got + room) - got;
        if room == 0 {
            return Err(Errno::EFAULT);
        }
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        let (min, ts, mask, tspec);
        match wait {
            None => (min, ts, mask) = (0, &raw const zero, None),
            Some((timeout, sigmask)) => {
                tspec = timeout.map(|ns| libc::timespec {
                    tv_sec: (ns / 1_000_000_000) as libc::time_t,
                    tv_nsec: (ns % 1_000_000_000) as libc::c_long,
                });
                let t = tspec.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
                (min, ts, mask) = (1, t, sigmask);
            }
        }
        // SAFETY: `buf` holds 64 >= room events.
        let k = unsafe { aio.reap(min, buf.as_mut_ptr().cast(), room, ts, mask) }?;
        // SAFETY: reap initialised buf[..k].
        let kept = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<IoEvent>(), k) };
        // Cannot fail: every slot up to got + room was checked above.
        events.write_all(got, kept);
        if let Some(s) = &self.stats {
            kept.iter().for_each(|e| s.event(e.res));
        }
        self.in_flight.fetch_sub(k, Ordering::AcqRel);
        Ok(got + k)
    }

    /// Moves every completion of the ring to the handle, announcing RESFD
    /// requests' once their event is there: what makes the handle a live
    /// ring for programs that never call io_getevents (QEMU reads it when
    /// its eventfd fires). Called by the mover (mover.rs) when the
    /// context's notify eventfd fires.
    pub(super) fn move_to_handle(&self) {
        let mut stash = self.reap_lock.lock();
        let moved = self.move_ring_locked(&mut stash);
        drop(stash);
        if moved > 0 {
            self.wake_sleepers();
        }
    }

    /// The mover's periodic look (every mover::TICK_MS while it is busy):
    /// accounts for events the application consumed from the handle, moves
    /// the completions nobody reaped since the last look into the handle,
    /// and makes a context whose application reads the handle itself a ring
    /// reader. Returns whether requests are still outstanding.
    pub(super) fn tick(&self) -> bool {
        if self.is_dead() {
            return false;
        }
        // A reaper at work: look again next time.
        let Some(mut stash) = self.reap_lock.try_lock() else { return true };
        let consumed = self.handle.take_consumed();
        if consumed > 0 {
            self.in_flight.fetch_sub(consumed, Ordering::Release);
        }
        let mut moved = 0;
        if !self.reaped.swap(false, Ordering::Relaxed) && self.waiters.load(Ordering::SeqCst) == 0 {
            moved = self.move_ring_locked(&mut stash) + self.move_aio_locked();
        }
        drop(stash);
        if self.handle.read_by_application() && !self.ring_reader.load(Ordering::Relaxed) {
            self.become_ring_reader();
        }
        if moved > 0 {
            self.wake_sleepers();
        }
        self.in_flight.load(Ordering::Acquire) > self.handle.pending(Ordering::Acquire)
    }

    /// From now on every completion of the ring wakes the mover at once,
    /// and O_DIRECT requests go to the ring (`kernel_route_refused`).
    #[cold]
    pub(super) fn become_ring_reader(&self) {
        if let Some(&fd) = self.notify.get() {
            if self.ring.submitter().register_eventfd(fd).is_ok() {
                self.ring_reader.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Posts the stashed completion and the rest of the completion queue
    /// to the handle, announcing RESFD requests' once their event is there;
    /// returns how many requests' events it posted. The caller holds
    /// reap_lock (`stash` is its content) and the slot table's lock.
    fn post_rest(
        &self,
        stash: &mut Option<io_uring::cqueue::Entry>,
        cq: &mut io_uring::CompletionQueue<'_>,
        slab: &mut SlotTable,
    ) -> usize {
        let mut posted = 0;
        while let Some(cqe) = stash.take().or_else(|| cq.next()) {
            let Some((ev, resfd)) = complete(slab, &cqe) else { continue };
            if let Some(s) = &self.stats {
                s.event(ev.res);
            }
            self.handle.post(ev);
            self.announce(resfd);
            posted += 1;
        }
        posted
    }

    /// Moves the ring's completions to the handle (announcing RESFD
    /// requests'); returns how many requests' events it moved. The caller
    /// holds reap_lock (`stash` is its content).
    pub(super) fn move_ring_locked(&self, stash: &mut Option<io_uring::cqueue::Entry>) -> usize {
        let mut cq = self.completions();
        let mut slab = self.slot_table.lock();
        let moved = self.post_rest(stash, &mut cq, &mut slab);
        drop(slab);
        cq.sync();
        if moved > 0 {
            self.ring_pending.fetch_sub(moved, Ordering::AcqRel);
        }
        moved
    }

    /// Moves the kernel-AIO route's completions to the handle; returns how
    /// many. The caller holds reap_lock, and no thread waits in io_getevents
    /// on the context (which would otherwise sleep through a wake-up taken here).
    pub(super) fn move_aio_locked(&self) -> usize {
        let Some(Some(aio)) = self.aio.get() else { return 0 };
        let mut moved = 0;
        while aio.ready() {
            let mut buf = [const { core::mem::MaybeUninit::<IoEvent>::uninit() }; 64];
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `buf` holds 64 events.
            let Ok(k) = (unsafe { aio.reap(0, buf.as_mut_ptr().cast(), buf.len(), &zero, None) }) else { break };
            if k == 0 {
                break;
            }
            for e in &buf[..k] {
                // SAFETY: reap initialised buf[..k].
                let e = unsafe { e.assume_init() };
                if let Some(s) = &self.stats {
                    s.event(e.res);
                }
                self.handle.post(e);
            }
            moved += k;
        }
        moved
    }
}
