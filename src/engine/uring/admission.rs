//! What every submit path decides the same way: room for the event
//! (`reserve`, as the kernel reserves before it looks at the descriptor),
//! the route of an iocb, whether the kernel-AIO route takes it and when that
//! route is made, and the mover's watch over the context. Decides; performs
//! no request (inline.rs, submission_queue.rs and aio_route.rs do).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use std::sync::Mutex;

use crate::stats::{ContextStats, StatsRoute};
use crate::engine::kernel::count_kernel_requests;
use crate::engine::aio_route::AioRoute;
use crate::errno::{Errno, keep_errno};
use crate::kernel_abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV,
    IOCB_FLAG_RESFD, Iocb,
};
use crate::user_mem::IocbList;

use super::UringEngine;
use super::mover;
use super::wait::now_ns;
use super::routes::{FdCache, ROUTE_INLINE_WRITES, ROUTE_KERNEL, ROUTE_RING, ROUTE_UNKNOWN, cached_route, fd_route, remember_route, route_when_alone};

/// O_DIRECT requests of a context that go to the ring before its
/// kernel-AIO route is made (see `aio_route_when_due`).
pub(super) const KERNEL_ROUTE_AFTER: u32 = 64;

/// Serialises contexts' first registration with the mover (`watched_by_mover`).
/// A std lock, as every process-wide one: see `fork_guards`.
pub(super) static MOVER_REGISTRATION: Mutex<()> = Mutex::new(());

/// Requests kept from the sleeping submission thread (`light_load`),
/// process-wide as the thread is: the current window's start and count.
static KEPT_WINDOW_START: AtomicU64 = AtomicU64::new(0);
static KEPT_IN_WINDOW: AtomicU32 = AtomicU32::new(0);

/// The window, and the most requests per window done inside io_submit
/// while the submission thread sleeps: 50 per 10 ms, 5,000 per second, a
/// third of what buffered reads done one at a time reach on this disk
/// (libaio's 13.5K IOPS at depth 1, cold). Beyond that rate the thread is
/// woken: the load keeps it busy, and the ring overlaps the reads.
const KEPT_WINDOW_NS: u64 = 10_000_000;
const KEPT_PER_WINDOW: u32 = 50;

impl UringEngine {
    /// LIBAIO_RS_STATS: a request accepted on `route`, and the requests
    /// now in flight.
    #[cold]
    pub(super) fn count_request(&self, s: &ContextStats, route: StatsRoute, bytes: u64) {
        s.request(route, bytes);
        s.in_flight(self.in_flight.load(Ordering::Relaxed));
    }

    /// The kernel-AIO route, if this read or write takes it now: its
    /// descriptor's route is kernel AIO, nothing refuses the route here
    /// (`kernel_route_refused`), and the route has been made. The fast
    /// paths ask this; they never make the route.
    #[inline(always)]
    pub(super) fn kernel_route_made(&self, cb: &Iocb, route: u8) -> Option<&AioRoute> {
        if route != ROUTE_KERNEL || self.kernel_route_refused(cb) {
            return None;
        }
        self.aio.get()?.as_ref()
    }

    /// `kernel_route_made` for the general path, which makes the route
    /// once it is due (`aio_route_when_due`).
    pub(super) fn kernel_route_when_due(&self, cb: &Iocb, route: u8) -> Option<&AioRoute> {
        if route != ROUTE_KERNEL || self.kernel_route_refused(cb) {
            return None;
        }
        self.aio_route_when_due()
    }

    /// The route a request takes now: its descriptor's, or `route_when_alone`'s
    /// where its io_submit carried it alone (`single`) and the context is at
    /// light load (`light_load`).
    #[inline(always)]
    pub(super) fn route_now(&self, route: u8, single: bool) -> u8 {
        if single && self.light_load(route) { route_when_alone(route) } else { route }
    }

    /// Takes room for one more request, or says there is none (-EAGAIN).
    #[inline(always)]
    pub(super) fn reserve(&self) -> bool {
        self.try_reserve() || self.reserve_after_reclaim()
    }

    #[inline(always)]
    pub(super) fn try_reserve(&self) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1))
            .is_ok()
    }

    /// No room left as far as the library has counted: the application may
    /// have consumed events by advancing the handle's head itself (QEMU
    /// does), which frees their places, as the kernel's io_submit finds
    /// when it looks at the ring's head.
    #[cold]
    #[inline(never)]
    pub(super) fn reserve_after_reclaim(&self) -> bool {
        keep_errno(|| {
            let consumed = self.handle.take_consumed();
            if consumed > 0 {
                self.in_flight.fetch_sub(consumed, Ordering::Release);
            }
            consumed > 0 && self.try_reserve()
        })
    }

    /// Whether the request just reserved, which `route` would send to the
    /// ring, is done inside io_submit instead, as kernel AIO does it (it then
    /// takes `route_when_alone`): it is the only one the application has in
    /// flight on this context (events not yet reaped included), or the
    /// submission thread sleeps and the process is at light load (at most
    /// KEPT_PER_WINDOW such requests in KEPT_WINDOW_NS). Waking the thread
    /// costs io_submit 0.1-4 ms and the process the thread's idle poll (10
    /// ms of a CPU): at a light load, whose requests overlap now and then
    /// (fio at 2,000 IOPS and depth 8 sends bursts of up to 8 after a slow
    /// read), that would be paid for nearly every overlap. Racy by design:
    /// another thread's request only changes where this one runs, never
    /// its result.
    #[inline(always)]
    pub(super) fn light_load(&self, route: u8) -> bool {
        route == ROUTE_INLINE_WRITES
            && (self.in_flight.load(Ordering::Relaxed) == 1 || (self.sq_head.thread_asleep() && Self::kept_within_rate()))
    }

    /// Counts a request kept from the sleeping submission thread; false
    /// once the window holds more than KEPT_PER_WINDOW.
    #[cold]
    fn kept_within_rate() -> bool {
        let now = now_ns();
        let start = KEPT_WINDOW_START.load(Ordering::Relaxed);
        if now.saturating_sub(start) > KEPT_WINDOW_NS {
            KEPT_WINDOW_START.store(now, Ordering::Relaxed);
            KEPT_IN_WINDOW.store(1, Ordering::Relaxed);
            return true;
        }
        KEPT_IN_WINDOW.fetch_add(1, Ordering::Relaxed) < KEPT_PER_WINDOW
    }

    /// Whether a request the kernel-AIO route would take goes to the ring
    /// instead: a RESFD request (the route's context would signal the
    /// eventfd before the event is in the handle), and every request of a
    /// ring reader (nothing would tell the mover of its completion).
    #[inline(always)]
    pub(super) fn kernel_route_refused(&self, cb: &Iocb) -> bool {
        cb.aio_flags & IOCB_FLAG_RESFD != 0 || self.ring_reader.load(Ordering::Relaxed)
    }

    /// The route of one iocb, from its descriptor's cached route (the slow
    /// path's statx when the cache has nothing or asks for a recheck), for
    /// the opcodes a route can take: reads, writes and syncs. Anything else,
    /// and a descriptor the checks would refuse, is ROUTE_RING (`prepare`
    /// then gives the kernel's answer). Looks, has no effect.
    pub(super) fn iocb_route(cb: &Iocb, fds: &mut Option<FdCache>) -> u8 {
        if !matches!(
            cb.aio_lio_opcode,
            IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV | IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC
        ) {
            return ROUTE_RING;
        }
        let fd = cb.aio_fildes as i32;
        match cached_route(fd) {
            ROUTE_UNKNOWN => match fds.get_or_insert_with(FdCache::default).get(fd) {
                Ok(info) => {
                    let r = fd_route(fd, info);
                    remember_route(fd, r);
                    r
                }
                Err(_) => ROUTE_RING,
            },
            r => r,
        }
    }

    /// The kernel-AIO route for a request that may take it: None, and the
    /// request goes to the ring, for the context's first
    /// KERNEL_ROUTE_AFTER such requests. A kernel-AIO context costs the
    /// process an RCU grace period (35-40 ms here) at its io_destroy or at
    /// exit, which a tool that reads a few blocks and exits would pay
    /// many times over what the route saves it.
    pub(super) fn aio_route_when_due(&self) -> Option<&AioRoute> {
        if let Some(route) = self.aio.get() {
            return route.as_ref();
        }
        if self.direct_before_route.fetch_add(1, Ordering::Relaxed) < KERNEL_ROUTE_AFTER {
            return None;
        }
        self.aio_route()
    }

    /// The kernel-AIO route, made on first use.
    pub(super) fn aio_route(&self) -> Option<&AioRoute> {
        self.aio
            .get_or_init(|| {
                use std::os::fd::AsRawFd;
                let made = AioRoute::new(self.nr_events, self.ring.as_raw_fd());
                if crate::config::get().log {
                    crate::config::log_line(&match &made {
                        Ok(_) => "io_uring context: O_DIRECT requests go to a kernel-AIO context".to_string(),
                        Err(e) => format!(
                            "io_uring context: no kernel-AIO context (errno {}); O_DIRECT stays on io_uring",
                            e.0
                        ),
                    });
                }
                // Threads asleep on the ring now have to move to the route's
                // wait: io_submit wakes them once it holds no lock.
                self.route_made.store(true, Ordering::SeqCst);
                made.ok()
            })
            .as_ref()
    }

    /// Passes iocbs [start, end) to the kernel-AIO route; returns how many
    /// the kernel took and, if it took none of the rest, its error.
    pub(super) fn flush_run(&self, iocbs: IocbList, start: usize, end: usize) -> (usize, Option<Errno>) {
        let n = end - start;
        let Some(aio) = self.aio_route() else { return (0, Some(Errno::EAGAIN)) };
        let r = aio.submit(iocbs.raw().wrapping_add(start), n);
        self.nudge_mover();
        let took = r.max(0) as usize;
        if took < n {
            self.in_flight.fetch_sub(n - took, Ordering::AcqRel);
        }
        if let Some(s) = &self.stats {
            let run = IocbList::new(iocbs.raw().wrapping_add(start), n as i64);
            count_kernel_requests(s, run, took as i64);
            s.in_flight(self.in_flight.load(Ordering::Relaxed));
        }
        (took, (r < 0).then(|| Errno(-r as i32)))
    }

    /// After a request went to the ring or to kernel AIO: the process's
    /// mover must be able to move its completion into the handle should
    /// nobody call io_getevents (registered, and awake).
    #[inline(always)]
    pub(super) fn nudge_mover(&self) {
        if mover::idle() || self.notify.get().is_none() {
            self.nudge_mover_slow();
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn nudge_mover_slow(&self) {
        keep_errno(|| {
            if self.watched_by_mover() {
                mover::wake();
            }
        });
    }

    /// Whether the context has its notify eventfd watched by the process's
    /// mover (registering it at the first call): a RESFD request's event
    /// must reach the handle, and only then its eventfd, even if the
    /// application never calls io_getevents.
    pub(super) fn watched_by_mover(&self) -> bool {
        if self.notify.get().is_none() {
            // Not submit_lock: the general path may hold it here.
            let _once = MOVER_REGISTRATION.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if self.notify.get().is_none() {
                if let Ok(fd) = mover::register(self) {
                    let _ = self.notify.set(fd);
                }
            }
        }
        self.notify.get().is_some()
    }
}
