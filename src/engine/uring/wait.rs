//! io_getevents' wait: draining, polling the kernel-AIO route briefly
//! where that pays, sleeping in the kernel (the ring, or the route's
//! context) until min_nr events, the timeout, a signal or io_destroy; and
//! waking the threads asleep there when a completion arrives another way.

use std::sync::atomic::Ordering;

use io_uring::EnterFlags;

use crate::engine::kernel::count_events;
use crate::engine::aio_route::AioRoute;
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result, keep_errno};

use super::CountGuard;
use super::UringEngine;
use super::handover::Settled;
use super::setup::io_err;
use super::spin::PollerSlot;
use super::unusable;

impl UringEngine {
    pub(super) fn wait_for_events(&self, w: &Wait) -> Result<usize> {
        let timeout = w.timeout.read_ns()?;
        // io_pgetevents: the kernel reads the signal mask before it looks
        // for events (-EFAULT where it cannot).
        if let Some(m) = w.sigmask {
            m.check_readable()?;
        }
        let _waiter = CountGuard::new(&self.waiters);
        if self.usable().is_err() {
            return match self.settle(None) {
                Settled::Uring => self.get_events(w),
                Settled::Kernel(k) => {
                    let r = k.get_events(w);
                    if let (Some(s), Ok(n)) = (&self.stats, &r) {
                        count_events(s, w.events, *n as i64);
                    }
                    r
                }
                Settled::Refused => Err(unusable()),
            };
        }
        if w.min_nr < 0 || w.nr < 0 || w.min_nr > w.nr {
            return Err(Errno(libc::EINVAL));
        }
        let (min, nr) = (w.min_nr as usize, w.nr as usize);
        let deadline = timeout.map(|ns| now_ns().saturating_add(ns));
        let sigmask = w.sigmask.map_or(core::ptr::null(), |m| m.raw());
        let mut got = 0;
        let mut waited = false;
        loop {
            if self.is_dead() {
                return if got > 0 { Ok(got) } else { Err(Errno(libc::EINVAL)) };
            }
            got = self.drain(w.events, got, nr)?;
            let aio = self.aio.get().and_then(Option::as_ref);
            if let Some(aio) = aio {
                if got < nr && aio.ready() {
                    if !w.events.slot_writable(got) {
                        return Err(Errno::EFAULT); // as `drain`: an event to copy
                    }
                    got = self.reap_aio(aio, w.events, got, nr, None)?;
                }
            }
            if got >= min || got >= nr || timeout == Some(0) {
                if !waited && !sigmask.is_null() {
                    deliver_unmasked_signals(sigmask);
                }
                return Ok(got);
            }
            let remaining = match deadline {
                None => None,
                Some(d) => {
                    let now = now_ns();
                    if now >= d {
                        return Ok(got);
                    }
                    Some(d - now)
                }
            };
            waited = true;
            // Poll briefly before sleeping, where only kernel AIO can complete
            // what is awaited. Not for io_pgetevents: its mask must be the
            // one in force while the call waits.
            if let Some(aio) = aio {
                if w.sigmask.is_none()
                    && self.ring_pending.load(Ordering::Acquire) == 0
                    && self.spin_until_ready(aio, deadline)
                {
                    continue;
                }
            }
            // An inline completion posted after the drain above must not be
            // slept through: announce the sleep, then look once more.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            if self.handle.pending(Ordering::SeqCst) > 0 {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let r = match aio {
                Some(aio) if w.events.slot_writable(got) => {
                    if self.ring_pending.load(Ordering::SeqCst) > 0 {
                        aio.arm_bridge();
                    }
                    let mask = w.sigmask.map(|m| m.raw());
                    self.reap_aio(aio, w.events, got, nr, Some((remaining, mask))).map(|g| got = g)
                }
                _ => self.wait_kernel(remaining, sigmask),
            };
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            match r {
                Ok(()) => {}
                Err(Errno(libc::EINTR)) if got > 0 => return Ok(got),
                Err(Errno(libc::EINVAL)) if self.is_dead() => {
                    return if got > 0 { Ok(got) } else { Err(Errno(libc::EINVAL)) };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Polls the kernel-AIO route's completion ring (and the inline events)
    /// for up to LIBAIO_RS_SPIN_US or until the deadline; true once an event
    /// is ready. Why: on this machine kind, sleeping in io_getevents and
    /// being woken adds about 30 µs to an O_DIRECT read whose device time
    /// is 25-45 µs; polling first took depth-1 reads (R2) from ~12K to
    /// ~18K IOPS. Polling before the syscall is indistinguishable from the
    /// call starting a little later (a signal that arrives meanwhile is
    /// handled as if it had come just before the call). Where polls keep
    /// ending empty (a slow device), the context sleeps at once for the next
    /// 2^k waits (k <= 10): a slow disk loses at most one poll per ~1000 waits.
    pub(super) fn spin_until_ready(&self, aio: &AioRoute, deadline: Option<u64>) -> bool {
        let spin = crate::config::get().spin_ns;
        if spin == 0 {
            return false;
        }
        if !self.spin.should_poll() {
            return false;
        }
        // Never every CPU polling: the rest of the process, and others, need them.
        let Some(_slot) = PollerSlot::take() else { return false };
        let start = now_ns();
        let limit = start.saturating_add(spin);
        let end = deadline.map_or(limit, |d| d.min(limit));
        loop {
            if aio.ready() || self.handle.pending(Ordering::Acquire) > 0 {
                self.spin.record(true);
                return true;
            }
            let now = now_ns();
            if now >= end || self.is_dead() {
                if now >= limit {
                    self.spin.record(false);
                }
                return false;
            }
            core::hint::spin_loop();
        }
    }

    /// Waits in the kernel for at least one completion, or the timeout.
    pub(super) fn wait_kernel(&self, timeout_ns: Option<u64>, sigmask: *const libc::sigset_t) -> Result<()> {
        let ts = timeout_ns
            .map(|ns| KernelTimespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 });
        let arg = GetEventsArg {
            sigmask: sigmask as u64,
            sigmask_sz: 8,
            min_wait_usec: 0,
            ts: ts.as_ref().map_or(0, |t| t as *const KernelTimespec as u64),
        };
        let flags = (EnterFlags::GETEVENTS | EnterFlags::EXT_ARG).bits();
        // SAFETY: `arg` and the timespec it names live across the call; the
        // sigmask pointer is the caller's (NULL or a sigset_t the kernel
        // reads with copy_from_user).
        match unsafe { self.ring.submitter().enter(0, 1, flags, Some(&arg)) } {
            Ok(_) => Ok(()),
            Err(e) => match io_err(e) {
                Errno(libc::ETIME) | Errno(libc::EBUSY) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Wakes the threads asleep in io_uring_enter after inline completions.
    #[inline(always)]
    pub(super) fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.wake_sleepers_now();
        }
    }

    #[inline(never)]
    pub(super) fn wake_sleepers_now(&self) {
        // io_submit's fast paths call this without an errno save of their own.
        keep_errno(|| match self.aio.get() {
            Some(Some(aio)) => aio.wake(),
            _ => self.wake_waiters(),
        })
    }
}

/// io_pgetevents installs its mask even when events are already there, so a
/// pending signal the mask unblocks is delivered before it returns. Without
/// a wait in the kernel, install and restore the mask to do the same.
pub(super) fn deliver_unmasked_signals(mask: *const libc::sigset_t) {
    let mut old = 0u64;
    // SAFETY: rt_sigprocmask reads 8 bytes at `mask` with copy_from_user (as
    // io_pgetevents does) and writes the old mask into `old`.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, mask, &raw mut old, 8) };
    if r == 0 {
        // SAFETY: restoring the mask just saved.
        unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &raw const old, 0usize, 8) };
    }
}

/// io_uring_getevents_arg.
#[repr(C)]
pub(super) struct GetEventsArg {
    pub(super) sigmask: u64,
    pub(super) sigmask_sz: u32,
    pub(super) min_wait_usec: u32,
    pub(super) ts: u64,
}

#[repr(C)]
pub(super) struct KernelTimespec {
    pub(super) tv_sec: i64,
    pub(super) tv_nsec: i64,
}

pub(super) fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
