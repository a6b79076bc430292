//! The io_uring engine: libaio's semantics, with io_uring doing the I/O.
//!
//! Mechanism: every ring is set up with a kernel submission thread
//! (IORING_SETUP_SQPOLL), shared by all rings of the process
//! (IORING_SETUP_ATTACH_WQ). Requests then belong to that kernel thread, not
//! to the application thread that called io_submit, which gives kernel AIO's
//! ownership: a request completes normally after its submitter exits, and no
//! completion work is queued on application threads, so their epoll_wait()
//! or raw io_getevents() never see an injected EINTR. (The default and
//! COOP_TASKRUN modes fail both; DEFER_TASKRUN needs a single issuer.)
//!
//! With a submission thread, io_uring reports every error as a completion,
//! after io_submit has returned; kernel AIO reports the argument and
//! descriptor errors synchronously and stops the batch there. So each iocb is
//! checked in user space first, in the kernel's order (`prepare`), and only
//! what passes is queued: pure fields without a syscall, the descriptor's
//! access mode and type with one fcntl and one statx per distinct
//! descriptor in the batch.
//!
//! Each accepted iocb takes a slot that records the iocb's address and
//! aio_data; the io_event is rebuilt from the slot, never from the iocb.
//!
//! The submission thread looks a request's descriptor up only when it takes
//! the entry, so io_submit returns once it has (`wait_taken`, watching the
//! queue's head through sq_head.rs): kernel AIO holds the file from inside
//! io_submit, and a descriptor closed or reused right after must not change
//! the request. Buffered reads that the page cache holds whole are done in
//! io_submit instead (`try_cached_read`), as kernel AIO does them, and so is
//! a regular file's read that is alone in flight, or comes at light load
//! while the submission thread sleeps (`light_load`, `route_when_alone`):
//! waking the thread for it would cost more than it saves.
//!
//! Not every request goes to the ring (routes.rs): reads and writes of files
//! io_uring would hand to a worker thread are performed inline, as kernel
//! AIO performs them (inline.rs; their events go straight to the handle), and O_DIRECT
//! on files with real asynchronous direct I/O goes to a private kernel-AIO
//! context (aio_route.rs). The common cases skip `prepare`: io_submit of one
//! iocb (`submit_single`) and batches of plain reads and writes on a
//! descriptor whose route is known (`submit_fast`). spin.rs decides when
//! io_getevents polls the kernel-AIO route before it sleeps.
//!
//! The parts, in the order a request meets them: setup.rs (io_setup),
//! handover.rs (the first request's choice), submit.rs (the fast paths),
//! submit_general.rs with checks.rs (the general path and the kernel's
//! checks), admission.rs (the decisions all paths share), routes.rs (a
//! descriptor's route), inline.rs (requests done inside io_submit),
//! submission_queue.rs (the ring's queue), slots.rs (what a queued request
//! captured), reap.rs and wait.rs (io_getevents), teardown.rs (io_cancel,
//! io_destroy); handle_ring.rs and mover.rs keep the handle a live ring.

mod admission;
mod checks;
mod eventfd_pins;
pub mod fork_guards;
mod handle_ring;
mod handover;
mod inline;
mod lock;
mod mover;
mod reap;
mod routes;
mod setup;
mod slots;
mod spin;
mod sq_head;
mod submission_queue;
mod submit;
mod submit_general;
mod teardown;
mod wait;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use io_uring::IoUring;
use lock::Mutex;

use crate::engine::aio_route::AioRoute;
use crate::engine::kernel::KernelEngine;
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result};
use crate::fork;
use crate::stats::ContextStats;
use crate::kernel_abi::AIO_RING_MAGIC;
use crate::user_mem::{EventsOut, IocbList, IocbPtr};

use eventfd_pins::EventfdPins;
use handle_ring::HandleRing;
use slots::SlotTable;
use spin::SpinPolicy;
use sq_head::SqHead;

/// handle is a live completion ring (handle_ring.rs, mover.rs); programs
/// that reap from the ring when the magic matches (fio's userspace_reap,
/// SPDK) then save their io_getevents calls, as under kernel AIO.
/// The magic in the handle's aio_ring header: kernel AIO's, since the
/// handle is a live completion ring (handle_ring.rs, mover.rs); programs
/// that reap from the ring when the magic matches (fio's userspace_reap,
/// SPDK) then save their io_getevents calls, as under kernel AIO.
pub const URING_RING_MAGIC: u32 = AIO_RING_MAGIC;

pub struct UringEngine {
    ring: IoUring,
    /// The handle: the context's completions, as the kernel's aio_ring holds them.
    handle: HandleRing,
    /// The epoch of the process that made the context (see `fork`).
    epoch: u64,
    /// `epoch` until io_destroy begins, then fork::NO_EPOCH: the one value
    /// io_submit's check (`usable`) reads for "this process's, and alive".
    live_epoch: AtomicU64,
    /// io_setup's ring->nr: io_submit looks at no more iocbs than this.
    ring_nr: usize,
    /// Requests admitted and not yet reaped by the application.
    capacity: usize,
    in_flight: AtomicUsize,
    /// Serialises pushes to the submission queue.
    submit_lock: Mutex<()>,
    /// RequestEntries pushed to the submission queue so far (wrapping, like the
    /// queue's tail; written under submit_lock): where a submitter's last
    /// entry stands, for `wait_taken`.
    pushed: AtomicU32,
    /// The queue's head, read without submit_lock by `wait_taken`.
    sq_head: SqHead,
    /// Serialises draining the completion queue.
    /// Holds at most one request completion taken off the queue by
    /// `nothing_ready` (which has nowhere to put it); drain delivers it first.
    reap_lock: Mutex<Option<io_uring::cqueue::Entry>>,
    /// The completion queue is too small for the worst case (every request
    /// and every pending eventfd write completed and not reaped): only then
    /// can completions overflow, and only then is the flag worth a look.
    cq_may_overflow: bool,
    slot_table: Mutex<SlotTable>,
    /// Set by the first io_destroy; a second one gets -EINVAL.
    destroying: AtomicBool,
    /// Threads inside io_getevents on this context: io_destroy returns only
    /// after each has been woken and has left.
    waiters: AtomicUsize,
    /// Threads asleep in io_uring_enter waiting for completions: an inline
    /// completion must wake them with a completion of its own (a NOP).
    sleepers: AtomicUsize,
    /// Threads inside io_submit: io_destroy waits for them, as the kernel's
    /// waits for requests still being submitted (an inline read may be
    /// writing into a buffer right now).
    submitting: AtomicUsize,
    /// Requests queued to the ring and not yet drained.
    ring_pending: AtomicUsize,
    /// The kernel-AIO route (see aio_route.rs), made at the first request
    /// that takes it; None if kernel AIO refused (fs.aio-max-nr used up).
    aio: OnceLock<Option<AioRoute>>,
    route_made: AtomicBool,
    nr_events: u32,
    /// Whether io_getevents polls before it sleeps (see `spin_until_ready`).
    spin: SpinPolicy,
    /// The eventfd that wakes the mover for this context (mover.rs): the
    /// target of the notify write behind RESFD requests, and of every
    /// completion once the context is a ring reader. Made, and the context
    /// registered with the mover, at its first request for the ring or
    /// kernel AIO.
    notify: OnceLock<i32>,
    /// The application has consumed events from the handle itself: every
    /// completion wakes the mover, and O_DIRECT stays off the kernel-AIO
    /// route, whose completions nothing would announce.
    ring_reader: AtomicBool,
    /// The RESFD eventfds held by requests in flight.
    pins: EventfdPins,
    /// io_getevents has looked for completions since the mover's last
    /// tick: the tick then leaves them to it.
    reaped: AtomicBool,
    /// MODE_UNDECIDED until the first call settles it (handover.rs), then
    /// MODE_URING or MODE_KERNEL for good; written under mode_lock.
    mode: AtomicU8,
    mode_lock: Mutex<()>,
    /// The kernel-AIO context the handle now is, once handed over.
    kernel: OnceLock<KernelEngine>,
    /// The auto engine: the first request may hand the context over.
    may_hand_over: bool,
    /// Requests that could have taken the kernel-AIO route before it was
    /// made (see `aio_route_when_due`).
    direct_before_route: AtomicU32,
    /// LIBAIO_RS_STATS' counters (None when it is not set).
    stats: Option<Box<ContextStats>>,
}

/// Counts a thread inside a call (io_getevents, io_submit) for as long as it lives.
struct CountGuard<'a>(&'a AtomicUsize);

impl<'a> CountGuard<'a> {
    fn new(n: &'a AtomicUsize) -> CountGuard<'a> {
        n.fetch_add(1, Ordering::SeqCst);
        CountGuard(n)
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl UringEngine {
    #[inline(always)]
    fn usable(&self) -> Result<()> {
        // SeqCst: against destroy's store, before it reads `submitting`.
        if !fork::is_current(self.live_epoch.load(Ordering::SeqCst)) {
            return Err(unusable());
        }
        Ok(())
    }

    /// Whether io_destroy has begun.
    #[inline(always)]
    fn is_dead(&self) -> bool {
        self.live_epoch.load(Ordering::Acquire) == fork::NO_EPOCH
    }
}

/// A forked child's or a destroyed context: -EINVAL, off the hot path.
#[cold]
fn unusable() -> Errno {
    Errno(libc::EINVAL)
}

/// The engine's calls, each in the part that owns it.
impl Engine for UringEngine {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn submit(&self, iocbs: IocbList) -> Result<usize> {
        let _busy = CountGuard::new(&self.submitting);
        Errno::from_ret(i64::from(self.submit_uncounted(iocbs))).map(|n| n as usize)
    }

    /// wait.rs
    fn get_events(&self, w: &Wait) -> Result<usize> {
        self.wait_for_events(w)
    }

    /// reap.rs
    fn nothing_ready(&self) -> Option<bool> {
        self.nothing_ready_now()
    }

    /// teardown.rs
    fn cancel(&self, iocb: IocbPtr, result: EventsOut) -> Result<()> {
        self.cancel_poll(iocb, result)
    }

    /// teardown.rs
    fn destroy(&self) -> Result<()> {
        self.tear_down()
    }

    fn stats(&self) -> Option<(&'static str, &ContextStats)> {
        // A forked child's copy: the parent reports it.
        if !fork::is_current(self.epoch) {
            return None;
        }
        // `kernel` is set at the handover only.
        let name = if self.kernel.get().is_some() { "kernel (handed over)" } else { "uring" };
        Some((name, self.stats.as_deref()?))
    }
}
