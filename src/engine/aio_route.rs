//! The kernel-AIO route of an io_uring context: O_DIRECT reads, writes and
//! syncs of files that can do real asynchronous direct I/O are handed, iocb
//! pointers untouched, to a private kernel-AIO context.
//!
//! Why: for these requests kernel AIO is already asynchronous, owned by the
//! process (no thread-exit or EINTR concerns) and cheaper than going through
//! the shared submission thread, which spins on a CPU the application needs.
//! The kernel checks every such iocb itself, in its own order, so io_submit's
//! results are the oracle's by construction.
//!
//! Waiting: once a context has this route, io_getevents sleeps in the
//! private context's io_getevents. Two library-owned POLL iocbs feed it:
//! the *bridge* polls the io_uring ring fd, so a completion on the ring
//! wakes a sleeper (armed by a sleeper while ring requests are pending), and
//! the *wake* polls an eventfd that is always readable, so another thread's
//! inline completion can wake a sleeper. Their events are filtered out.
//!
//! Teardown: the kernel's io_destroy waits for an RCU grace period even
//! when nothing is in flight (35-40 ms here). A route with no request of
//! the application's outstanding is therefore *retired* instead
//! (`retire_or_destroy`): the application's io_destroy returns at once, and
//! the process's mover makes the kernel's io_destroy right away, so that
//! the grace period runs beside whatever the application does next (a
//! process that exits still waits for it, as exit_aio would). Nothing of
//! the application's can be touched meanwhile: none of its requests is
//! left on the context.

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::kernel_abi::{sys, AioRingHeader, IoEvent, IoSigset, Iocb, AIO_RING_MAGIC, IOCB_CMD_POLL};
use crate::errno::{Errno, Result};
use crate::fork;

/// Extra room in the private context for the bridge and wake polls.
const POLL_SLACK: u32 = 64;
/// At most this many wake polls unreaped at once (they fill ring slots).
const MAX_WAKES: usize = 32;
/// At most this many retired contexts wait at once (each holds its
/// nr_events against fs.aio-max-nr until destroyed); beyond, io_destroy waits.
const MAX_RETIRED: usize = 16;

/// A private context left for the mover to destroy, with what its library
/// polls point at.
pub struct Retired {
    ctx: usize,
    bridge: *mut Iocb,
    wake: *mut Iocb,
    wake_fd: i32,
    epoch: u64,
}

// SAFETY: the pointers are the library's own allocations, only freed by
// whoever takes the entry out of RETIRED.
unsafe impl Send for Retired {}

static RETIRED: StdMutex<Vec<Retired>> = StdMutex::new(Vec::new());
/// RETIRED's length, read without the lock.
static RETIRED_COUNT: AtomicUsize = AtomicUsize::new(0);

pub struct AioRoute {
    ctx: usize,
    /// The library's poll iocbs (Box::into_raw): freed on drop, or, once
    /// retired, after the context's io_destroy.
    bridge: *mut Iocb,
    wake: *mut Iocb,
    wake_fd: i32,
    bridge_armed: AtomicBool,
    wakes: AtomicUsize,
    /// `ready` reads the private ring; `destroy` waits for such readers
    /// before the ring is unmapped, and after it nothing may look (the
    /// context id may then be reused by anyone).
    readers: AtomicUsize,
    destroyed: AtomicBool,
    /// Application requests on this route, submitted and not yet reaped.
    pub outstanding: AtomicUsize,
    /// Handed to RETIRED: the drop frees nothing.
    retired: AtomicBool,
}

// SAFETY: `bridge` and `wake` are owned by the route, written only before
// it is shared, and only their addresses are used afterwards.
unsafe impl Send for AioRoute {}
// SAFETY: as above.
unsafe impl Sync for AioRoute {}

impl AioRoute {
    /// A private kernel-AIO context for `nr_events`, bridged to `ring_fd`.
    pub fn new(nr_events: u32, ring_fd: i32) -> Result<AioRoute> {
        // SAFETY: eventfd has no memory arguments.
        let wake_fd = unsafe { libc::eventfd(1, libc::EFD_CLOEXEC) };
        if wake_fd < 0 {
            return Err(Errno(libc::EMFILE));
        }
        let mut ctx = 0usize;
        let r = sys::io_setup(nr_events.saturating_add(POLL_SLACK), &raw mut ctx);
        if r < 0 {
            // SAFETY: closing the eventfd made above.
            unsafe { libc::close(wake_fd) };
            return Err(Errno(-r as i32));
        }
        let poll = |fd: i32| {
            Box::into_raw(Box::new(Iocb {
                aio_data: 0,
                aio_key: 0,
                aio_rw_flags: 0,
                aio_lio_opcode: IOCB_CMD_POLL,
                aio_reqprio: 0,
                aio_fildes: fd as u32,
                aio_buf: libc::POLLIN as u64,
                aio_nbytes: 0,
                aio_offset: 0,
                aio_reserved2: 0,
                aio_flags: 0,
                aio_resfd: 0,
            }))
        };
        Ok(AioRoute {
            ctx,
            bridge: poll(ring_fd),
            wake: poll(wake_fd),
            wake_fd,
            bridge_armed: AtomicBool::new(false),
            wakes: AtomicUsize::new(0),
            readers: AtomicUsize::new(0),
            destroyed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
        })
    }

    /// io_submit of the caller's own iocb pointers: the kernel's answer.
    pub fn submit(&self, iocbs: *mut *mut Iocb, n: usize) -> i64 {
        let r = sys::io_submit(self.ctx, n as i64, iocbs);
        if r > 0 {
            self.outstanding.fetch_add(r as usize, Ordering::AcqRel);
        }
        r
    }

    /// Whether an application event is waiting in the private ring, read
    /// without a syscall (the library's own poll events do not count).
    pub fn ready(&self) -> bool {
        self.readers.fetch_add(1, Ordering::SeqCst);
        let ready = !self.destroyed.load(Ordering::SeqCst) && self.app_event_in_ring();
        self.readers.fetch_sub(1, Ordering::SeqCst);
        ready
    }

    fn app_event_in_ring(&self) -> bool {
        // SAFETY: the private context's ring (header, then `nr` io_events)
        // is mapped at its id until `destroy`, which waits for the readers
        // `ready` counts; entries between head and tail are not rewritten
        // until they are reaped.
        let h = unsafe { core::ptr::read_volatile(self.ctx as *const AioRingHeader) };
        if h.magic != AIO_RING_MAGIC || h.nr == 0 || h.head >= h.nr || h.tail >= h.nr {
            return false;
        }
        let own = [self.bridge as u64, self.wake as u64];
        let events = (self.ctx + core::mem::size_of::<AioRingHeader>()) as *const IoEvent;
        let mut i = h.head;
        while i != h.tail {
            // SAFETY: i < nr, inside the ring mapping (see above).
            let ev = unsafe { core::ptr::read_volatile(events.add(i as usize)) };
            if !own.contains(&ev.obj) {
                return true;
            }
            i = (i + 1) % h.nr;
        }
        false
    }

    /// Makes a completion on the io_uring ring wake a sleeper here.
    pub fn arm_bridge(&self) {
        if !self.bridge_armed.swap(true, Ordering::AcqRel) {
            let mut p = self.bridge;
            if sys::io_submit(self.ctx, 1, &raw mut p) != 1 {
                self.bridge_armed.store(false, Ordering::Release);
            }
        }
    }

    /// Wakes a thread asleep in `reap`.
    pub fn wake(&self) {
        // After io_destroy the id may be anyone's new context.
        if self.destroyed.load(Ordering::SeqCst) {
            return;
        }
        if self.wakes.fetch_add(1, Ordering::AcqRel) < MAX_WAKES {
            let mut p = self.wake;
            if sys::io_submit(self.ctx, 1, &raw mut p) == 1 {
                return;
            }
        }
        self.wakes.fetch_sub(1, Ordering::AcqRel);
    }

    /// Reaps up to `n` application events into `out`, waiting for at least
    /// `min_nr` events of any kind (the library's own count as a wake-up)
    /// until `ts`. Returns the application events only, at `out[..k]`.
    ///
    /// # Safety
    /// `out` must be valid for writes of `n` events (it need not be initialised).
    pub unsafe fn reap(
        &self,
        min_nr: usize,
        out: *mut IoEvent,
        n: usize,
        ts: *const libc::timespec,
        sigmask: Option<*const libc::sigset_t>,
    ) -> Result<usize> {
        let r = match sigmask {
            None => sys::io_getevents(self.ctx, min_nr as i64, n as i64, out, ts),
            Some(mask) => {
                let sig = IoSigset { ss: mask as u64, ss_len: 8 };
                sys::io_pgetevents(self.ctx, min_nr as i64, n as i64, out, ts, &raw const sig)
            }
        };
        if r < 0 {
            return Err(Errno(-r as i32));
        }
        // SAFETY: the kernel wrote the first r (<= n) events of `out`.
        let got = unsafe { core::slice::from_raw_parts_mut(out, r as usize) };
        let (bridge, wake) = (self.bridge as u64, self.wake as u64);
        // Usually none of the library's own events is there: one look each.
        let Some(first) = got.iter().position(|ev| ev.obj == bridge || ev.obj == wake) else {
            self.outstanding.fetch_sub(got.len(), Ordering::AcqRel);
            return Ok(got.len());
        };
        let mut kept = first;
        for i in first..got.len() {
            let ev = got[i];
            if ev.obj == bridge {
                self.bridge_armed.store(false, Ordering::Release);
            } else if ev.obj == wake {
                self.wakes.fetch_sub(1, Ordering::AcqRel);
            } else {
                got[kept] = ev;
                kept += 1;
            }
        }
        self.outstanding.fetch_sub(kept, Ordering::AcqRel);
        Ok(kept)
    }

    /// io_destroy of the private context: returns once the kernel is done
    /// with every request on it; threads asleep in `reap` get -EINVAL.
    pub fn destroy(&self) {
        if self.stop_readers() {
            sys::io_destroy(self.ctx);
        }
    }

    /// `destroy` without waiting for the kernel where nothing of the
    /// application's is on the context (see the module comment). Called
    /// last in the engine's io_destroy, when no thread waits here. Returns
    /// whether the context waits for `destroy_retired`.
    pub fn retire_or_destroy(&self) -> bool {
        let mut list = RETIRED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.outstanding.load(Ordering::SeqCst) > 0 || list.len() >= MAX_RETIRED {
            drop(list);
            self.destroy();
            return false;
        }
        if !self.stop_readers() {
            return false;
        }
        self.retired.store(true, Ordering::SeqCst);
        list.push(Retired {
            ctx: self.ctx,
            bridge: self.bridge,
            wake: self.wake,
            wake_fd: self.wake_fd,
            epoch: fork::current(),
        });
        RETIRED_COUNT.store(list.len(), Ordering::SeqCst);
        true
    }

    /// Marks the route destroyed and waits for `ready`'s readers; false if
    /// it already was.
    fn stop_readers(&self) -> bool {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return false;
        }
        while self.readers.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        true
    }
}

impl Drop for AioRoute {
    fn drop(&mut self) {
        if self.retired.load(Ordering::SeqCst) {
            return;
        }
        self.destroy();
        free_polls(self.bridge, self.wake, self.wake_fd);
    }
}

fn free_polls(bridge: *mut Iocb, wake: *mut Iocb, wake_fd: i32) {
    // SAFETY: both came from Box::into_raw in `new` and are freed once,
    // after their context's io_destroy (or in a forked child, where the
    // parent's context is not this process's); the eventfd is the route's.
    unsafe {
        drop(Box::from_raw(bridge));
        drop(Box::from_raw(wake));
        libc::close(wake_fd);
    }
}

/// The lock, held across fork(2) (`uring::fork_guards`).
pub fn lock_for_fork() -> std::sync::MutexGuard<'static, Vec<Retired>> {
    RETIRED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether retired contexts wait for `destroy_retired`.
pub fn retired_pending() -> bool {
    RETIRED_COUNT.load(Ordering::Acquire) > 0
}

/// io_destroy of the retired contexts (a forked child only forgets its
/// parent's): the mover's work, which may wait out a grace period here.
pub fn destroy_retired() {
    let due = {
        let mut list = RETIRED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        RETIRED_COUNT.store(0, Ordering::SeqCst);
        core::mem::take(&mut *list)
    };
    let epoch = fork::current();
    for r in due {
        if r.epoch == epoch {
            sys::io_destroy(r.ctx);
        }
        free_polls(r.bridge, r.wake, r.wake_fd);
    }
}
