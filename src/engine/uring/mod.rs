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
//! a regular file's read or write that is alone in flight (`route_alone`):
//! waking the submission thread for it would cost more than it saves.
//!
//! Not every request goes to the ring (routes.rs): reads and writes of files
//! io_uring would hand to a worker thread are performed inline, as kernel
//! AIO performs them (their events wait in inline_events.rs), and O_DIRECT
//! on files with real asynchronous direct I/O goes to a private kernel-AIO
//! context (aio_route.rs). The common cases skip `prepare`: io_submit of one
//! iocb (`submit_single`) and batches of plain reads and writes on a
//! descriptor whose route is known (`submit_fast`). spin.rs decides when
//! io_getevents polls the kernel-AIO route before it sleeps.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex as StdMutex, OnceLock};

use io_uring::types::{CancelBuilder, Fd, FsyncFlags};
use io_uring::{EnterFlags, IoUring, Probe, opcode, squeue};
use parking_lot::{Mutex, MutexGuard};

use crate::engine::aio_route::AioRoute;
use crate::engine::kernel::KernelEngine;
use crate::errno::keep_errno;
use crate::kernel_abi::*;
use crate::user_mem::{self, EventsOut, IocbList, IocbPtr};
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result};

mod eventfd_pins;
mod handle_ring;
mod handover;
mod mover;
mod routes;
mod spin;
mod sq_head;

use eventfd_pins::EventfdPins;
use handle_ring::HandleRing;
use handover::{Settled, MODE_UNDECIDED, MODE_URING, UNDECIDED};
use sq_head::SqHead;
use routes::*;
use spin::{PollerSlot, SpinPolicy};
use crate::fork;

/// The magic in the handle's aio_ring header: kernel AIO's, since the
/// handle is a live completion ring (handle_ring.rs, mover.rs); programs
/// that reap from the ring when the magic matches (fio's userspace_reap,
/// SPDK) then save their io_getevents calls, as under kernel AIO.
pub const URING_RING_MAGIC: u32 = AIO_RING_MAGIC;

/// user_data tags (top byte); the low 32 bits carry the slot index.
const UD_IO: u64 = 0;
const UD_RESFD: u64 = 1 << 56;
const UD_WAKE: u64 = 2 << 56;
const UD_TAG: u64 = 0xff << 56;

/// How long the shared submission thread spins after the last request
/// before it sleeps (then io_submit wakes it with one syscall).
const SQ_THREAD_IDLE_MS: u32 = 10;
/// The most entries of one ring a submission thread serving several rings
/// takes per pass (the kernel's IORING_SQPOLL_CAP_ENTRIES_VALUE).
const SQPOLL_BATCH: usize = 8;
/// O_DIRECT requests of a context that go to the ring before its
/// kernel-AIO route is made (see `aio_route_when_due`).
const KERNEL_ROUTE_AFTER: u32 = 64;
/// Looks at the submission queue `wait_taken` makes before it yields.
const TAKEN_SPINS: u32 = 200;

/// The 8 bytes a RESFD completion adds to the eventfd.
static EVENTFD_ONE: u64 = 1;

/// Serialises contexts' first registration with the mover (`watched_by_mover`).
static MOVER_REGISTRATION: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// Probe and the shared submission thread.

struct Anchor {
    epoch: u64,
    ring: IoUring,
}

/// What the first io_setup learned: whether io_uring is usable here, and why not.
static PROBE: OnceLock<core::result::Result<(), (Errno, String)>> = OnceLock::new();
/// Set when the kernel refused a ring with a submission thread (the probe's
/// ring has none, see `probe_once`): later io_setups fall back at once.
static SQPOLL_REFUSED: OnceLock<(Errno, String)> = OnceLock::new();

/// The process's submission thread, as the rings to attach new ones to.
struct SqThread {
    /// A small ring of the library's own attached to the thread, so that
    /// the thread outlives the application's contexts.
    anchor: Option<Anchor>,
    /// Until the anchor exists: (epoch, ring fd) of the context whose ring
    /// started the thread. The anchor is attached to it at the next ring:
    /// attaching parks the thread, which right after its creation waits
    /// for its first time slice (1-5 ms here), and a short-lived process's
    /// one io_setup should not pay that.
    first: Option<(u64, i32)>,
}

static SQ_THREAD: StdMutex<SqThread> = StdMutex::new(SqThread { anchor: None, first: None });

fn io_err(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Checks once that io_uring offers what the engine needs.
pub fn probe() -> core::result::Result<(), (Errno, String)> {
    if let Some(refused) = SQPOLL_REFUSED.get() {
        return Err(refused.clone());
    }
    PROBE
        .get_or_init(|| {
            on_own_thread(probe_once)
                .unwrap_or_else(|| Err((Errno::EAGAIN, "no thread to set io_uring up on".to_string())))
        })
        .clone()
}

/// Runs `f` on a short-lived thread of its own and returns its result
/// (None if no thread could be made).
///
/// Every ring is created this way: io_uring links the thread that creates a
/// ring to it, and when the ring is torn down the kernel queues work on each
/// linked thread with TWA_SIGNAL, which makes that thread's next
/// interruptible wait (epoll_wait, kernel io_getevents, ...) fail with EINTR.
/// A creator that has exited has no link left, so io_destroy never
/// interrupts an application thread.
fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("libaio_rs-setup".to_string())
            .stack_size(64 * 1024)
            .spawn_scoped(s, f)
            .ok()?
            .join()
            .ok()
    })
}

/// Whether io_uring offers what the engine needs, on a ring without a
/// submission thread (dropping one with a thread would wait for the new
/// thread to run; the first context's ring makes the real one, and a
/// refusal there makes the process fall back, see `SQPOLL_REFUSED`).
fn probe_once() -> core::result::Result<(), (Errno, String)> {
    let ring = IoUring::builder()
        .build(8)
        .map_err(|e| (io_err(e), "io_uring_setup refused".to_string()))?;
    let p = ring.params();
    let needed = [
        (p.is_feature_nodrop(), "FEAT_NODROP"),
        (p.is_feature_submit_stable(), "FEAT_SUBMIT_STABLE"),
        (p.is_feature_ext_arg(), "FEAT_EXT_ARG"),
        (p.is_feature_sqpoll_nonfixed(), "FEAT_SQPOLL_NONFIXED"),
        (p.is_feature_linked_file(), "FEAT_LINKED_FILE"),
    ];
    if let Some((_, name)) = needed.iter().find(|(ok, _)| !ok) {
        return Err((Errno::ENOSYS, format!("io_uring lacks {name}")));
    }
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| (io_err(e), "IORING_REGISTER_PROBE failed".to_string()))?;
    for (code, name) in [
        (opcode::Read::CODE, "READ"),
        (opcode::Write::CODE, "WRITE"),
        (opcode::Readv::CODE, "READV"),
        (opcode::Writev::CODE, "WRITEV"),
        (opcode::Fsync::CODE, "FSYNC"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::Nop::CODE, "NOP"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ] {
        if !probe.is_supported(code) {
            return Err((Errno::ENOSYS, format!("io_uring lacks IORING_OP_{name}")));
        }
    }
    // io_uring_enter itself, with a NOP's round trip: a seccomp profile
    // may allow setup and still refuse enter.
    // SAFETY: a NOP carries no buffer; the queue is ours alone here.
    unsafe {
        let mut sq = ring.submission_shared();
        sq.push(&opcode::Nop::new().build().user_data(7))
            .map_err(|_| (Errno::ENOMEM, "probe ring full".to_string()))?;
    }
    ring.submit_and_wait(1).map_err(|e| (io_err(e), "io_uring_enter refused".to_string()))?;
    // SAFETY: single-threaded use of the probe ring's completion queue.
    let got = unsafe { ring.completion_shared() }.next().map(|c: io_uring::cqueue::Entry| c.user_data());
    if got != Some(7) {
        return Err((Errno::ENOSYS, "io_uring NOP round trip failed".to_string()));
    }
    Ok(())
}

/// Builds a ring on this process's shared submission thread (starting the
/// thread with the first ring; see `SqThread`).
fn build_ring(sq_entries: u32, cq_entries: u32) -> Result<IoUring> {
    use std::os::fd::AsRawFd;
    let mut sqt = SQ_THREAD.lock().unwrap_or_else(|e| e.into_inner());
    let epoch = fork::current();
    // A forked child: the parent's submission thread is not ours.
    if sqt.anchor.as_ref().is_some_and(|a| a.epoch != epoch) {
        sqt.anchor = None;
    }
    if sqt.first.is_some_and(|(e, _)| e != epoch) {
        sqt.first = None;
    }
    if sqt.anchor.is_none() {
        if let Some((_, fd)) = sqt.first {
            // The thread has run since: attaching parks it at once.
            let small = IoUring::builder().setup_sqpoll(SQ_THREAD_IDLE_MS).setup_attach_wq(fd).build(1).map_err(io_err)?;
            sqt.anchor = Some(Anchor { epoch, ring: small });
            sqt.first = None;
        }
    }
    let mut b = IoUring::builder();
    b.setup_sqpoll(SQ_THREAD_IDLE_MS).setup_cqsize(cq_entries).setup_clamp();
    if let Some(a) = sqt.anchor.as_ref() {
        b.setup_attach_wq(a.ring.as_raw_fd());
    }
    let ring = b.build(sq_entries).map_err(|e| {
        let e = io_err(e);
        if sqt.anchor.is_none() && matches!(e.0, libc::EPERM | libc::EACCES) {
            let _ = SQPOLL_REFUSED.set((e, format!("io_uring_setup with a submission thread refused (errno {})", e.0)));
        }
        e
    })?;
    if sqt.anchor.is_none() {
        sqt.first = Some((epoch, ring.as_raw_fd()));
    }
    Ok(ring)
}

/// Called before a context's ring is closed: a ring that started the
/// submission thread is no longer there to attach the anchor to.
fn forget_ring(fd: i32) {
    let mut sqt = SQ_THREAD.lock().unwrap_or_else(|e| e.into_inner());
    if sqt.first.is_some_and(|(e, f)| f == fd && e == fork::current()) {
        sqt.first = None;
    }
}

// ---------------------------------------------------------------------------
// Sizes, as kernel AIO computes them.

fn possible_cpus() -> u32 {
    static N: OnceLock<u32> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *N.get_or_init(|| (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }).clamp(1, 1 << 16) as u32)
}

fn aio_max_nr() -> u64 {
    static N: OnceLock<u64> = OnceLock::new();
    *N.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/aio-max-nr")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65536)
    })
}

/// ring->nr for io_setup(nr_events) (aio_setup_ring), or the kernel's error.
fn aio_ring_nr(nr_events: u32) -> Result<u32> {
    // ioctx_alloc computes in 32 bits: a doubling that wraps to 0 is -EAGAIN.
    let doubled = nr_events.max(possible_cpus() * 4).wrapping_mul(2);
    if doubled > 0x1000_0000 / 32 {
        return Err(Errno(libc::EINVAL));
    }
    if doubled == 0 || u64::from(nr_events) > aio_max_nr() {
        return Err(Errno(libc::EAGAIN));
    }
    let bytes = 32 + 32 * (u64::from(doubled) + 2);
    let pages = bytes.div_ceil(4096);
    Ok(((pages * 4096 - 32) / 32) as u32)
}

// ---------------------------------------------------------------------------
// Slots: what was captured at submit.

#[derive(Default)]
struct Slot {
    iocb: u64,
    data: u64,
    opcode: u16,
    /// A buffered RWF_NOWAIT write to a file whose filesystem cannot do it
    /// without blocking: kernel AIO reports -EOPNOTSUPP where io_uring says -EAGAIN.
    nowait_unsupported: bool,
    /// The request's own CQE has not been seen yet.
    io_pending: bool,
    /// io_cancel succeeded on it: kernel AIO forgets a cancelled request at
    /// once, so a second io_cancel finds nothing (-EINVAL).
    cancelled: bool,
    /// A write to the context's notify eventfd (mover.rs) is queued behind
    /// the request: the slot stays taken until it has completed.
    resfd_pending: bool,
    /// A private duplicate of the RESFD eventfd, signalled (and closed) once
    /// the request's event is in the handle: kernel AIO pins the eventfd at
    /// submit, and announces an event only after writing it to its ring.
    resfd_dup: i32,
    /// A private duplicate of an FSYNC/FDSYNC's descriptor, closed at its
    /// completion: io_uring runs a sync on a worker thread and looks its
    /// descriptor up only there, after io_submit has returned, where kernel
    /// AIO holds the file from io_submit on.
    pinned: Option<OwnedFd>,
    /// The copy of a PREADV/PWRITEV iovec array, kept until the request
    /// has been consumed (the submission thread imports it asynchronously).
    iov: Vec<libc::iovec>,
}

impl Slot {
    /// Records a request queued to the ring (its iovec copy, if any, is
    /// already in place).
    fn start(&mut self, iocb: u64, data: u64, opcode: u16, nowait_unsupported: bool, resfd_dup: i32) {
        self.iocb = iocb;
        self.data = data;
        self.opcode = opcode;
        self.io_pending = true;
        self.cancelled = false;
        self.nowait_unsupported = nowait_unsupported;
        self.resfd_pending = resfd_dup >= 0;
        self.resfd_dup = resfd_dup;
    }

    /// Neither the request's nor its eventfd write's completion is awaited:
    /// the slot can be reused.
    #[inline(always)]
    fn finished(&self) -> bool {
        !self.io_pending && !self.resfd_pending
    }
}

// SAFETY: the iovec pointers inside a Slot are addresses handed to the
// kernel, never dereferenced by the library; the slab is only used under its lock.
unsafe impl Send for Slot {}

struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Slab {
    /// Takes a slot for a plain request of the ring (no RESFD, no NOWAIT).
    #[inline(always)]
    fn take(&mut self, iocb: u64, data: u64, opcode: u16) -> Option<u32> {
        let idx = self.free.pop()?;
        self.slots[idx as usize].start(iocb, data, opcode, false, -1);
        Some(idx)
    }

    fn release_if_done(&mut self, i: u32) {
        if self.slots[i as usize].finished() {
            self.free.push(i);
        }
    }
}

// ---------------------------------------------------------------------------
// The engine.

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
    /// Entries pushed to the submission queue so far (wrapping, like the
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
    slab: Mutex<Slab>,
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
    /// io_setup on io_uring. `ctxp` is written with the handle on success.
    /// With `may_hand_over`, the first request may make the context a
    /// kernel-AIO one (handover.rs).
    pub fn setup(nr_events: i32, ctxp: *mut usize, may_hand_over: bool) -> Result<(usize, UringEngine)> {
        let cur = user_mem::read_user::<usize>(ctxp as usize).ok_or(Errno::EFAULT)?;
        if cur != 0 || nr_events == 0 {
            return Err(Errno(libc::EINVAL));
        }
        let ring_nr = aio_ring_nr(nr_events as u32)?;
        let capacity = ring_nr as usize - 1;
        // Each request may use two queue entries (RESFD) and two completions.
        let sq = (2 * capacity).next_power_of_two().min(32768) as u32;
        let cq = (4 * capacity + 8).next_power_of_two().min(65536) as u32;
        let ring = on_own_thread(|| build_ring(sq, cq)).unwrap_or(Err(Errno::EAGAIN))?;
        let sq_head = SqHead::new(&ring).ok_or(Errno::EAGAIN)?;
        let nslots = 2 * capacity;
        let cq_may_overflow = capacity + nslots > ring.params().cq_entries() as usize;
        let handle = HandleRing::new(ring_nr, URING_RING_MAGIC)?;
        let mut slots = Vec::new();
        slots.resize_with(nslots, Slot::default);
        let slab = Slab { slots, free: (0..nslots as u32).rev().collect() };
        let epoch = fork::current();
        let engine = UringEngine {
            ring,
            epoch,
            // Not live until settled, where the first request may decide.
            live_epoch: AtomicU64::new(if may_hand_over { UNDECIDED } else { epoch }),
            ring_nr: ring_nr as usize,
            capacity,
            in_flight: AtomicUsize::new(0),
            submit_lock: Mutex::new(()),
            pushed: AtomicU32::new(0),
            sq_head,
            reap_lock: Mutex::new(None),
            cq_may_overflow,
            slab: Mutex::new(slab),
            destroying: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            submitting: AtomicUsize::new(0),
            ring_pending: AtomicUsize::new(0),
            aio: OnceLock::new(),
            route_made: AtomicBool::new(false),
            nr_events: nr_events as u32,
            spin: SpinPolicy::default(),
            notify: OnceLock::new(),
            ring_reader: AtomicBool::new(false),
            pins: EventfdPins::new(),
            reaped: AtomicBool::new(false),
            mode: AtomicU8::new(if may_hand_over { MODE_UNDECIDED } else { MODE_URING }),
            mode_lock: Mutex::new(()),
            kernel: OnceLock::new(),
            may_hand_over,
            direct_before_route: AtomicU32::new(0),
            handle,
        };
        if !user_mem::write_user::<usize>(ctxp as usize, engine.handle.addr()) {
            return Err(Errno::EFAULT);
        }
        Ok((engine.handle.addr(), engine))
    }

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

    /// Pushes the entries of one request together (a linked pair must reach
    /// the submission thread in one publication of the tail), waiting for
    /// the submission thread to make room.
    fn push(&self, entries: &[squeue::Entry]) {
        if entries.len() > 1 {
            self.room_for_link(entries.len());
        }
        loop {
            // SAFETY: pushes are serialised by submit_lock (held by the
            // caller); every buffer an entry names stays valid until its
            // completion (caller's buffers by contract; iovec copies and
            // EVENTFD_ONE owned by the library).
            let pushed = unsafe { self.ring.submission_shared().push_multiple(entries) };
            if pushed.is_ok() {
                self.count_pushed(entries.len() as u32);
                return;
            }
            let _ = self.ring.submitter().squeue_wait();
        }
    }

    /// Waits (submit_lock held) until a chain of `n` entries pushed now
    /// lands in one batch of the submission thread. A thread serving several
    /// rings takes at most SQPOLL_BATCH entries of a ring per pass, and a
    /// chain split across passes is no chain: its tail runs at once. The
    /// fuzzer caught that as an eventfd signalled for a RESFD poll still
    /// pending. With at most SQPOLL_BATCH - n entries ahead of it when it is
    /// published (in one tail update), every pass that sees the chain sees
    /// all of it.
    fn room_for_link(&self, n: usize) {
        while !self.sq_holds_at_most(SQPOLL_BATCH - n) {
            std::thread::yield_now();
        }
    }

    /// Whether at most `max` entries wait in the submission queue; if not,
    /// wakes the submission thread should it sleep. Called under submit_lock.
    fn sq_holds_at_most(&self, max: usize) -> bool {
        // SAFETY: under submit_lock (held by the caller); only the kernel's
        // head is read and our own tail published.
        let mut sq = unsafe { self.ring.submission_shared() };
        sq.sync();
        if sq.len() <= max {
            return true;
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        let sleeping = sq.need_wakeup();
        drop(sq);
        if sleeping {
            let _ = self.ring.submitter().submit();
        }
        false
    }

    #[inline(always)]
    fn count_pushed(&self, n: u32) {
        // Under submit_lock: a plain read-modify-write is enough.
        self.pushed.store(self.pushed.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Ends a batch of pushes: publishes them, releases submit_lock, and
    /// makes sure a thread asleep on the kernel-AIO route will hear of
    /// their completions. Returns where the batch's last entry stands (see
    /// `wait_taken`).
    fn publish(&self, guard: MutexGuard<'_, ()>) -> u32 {
        self.kick();
        self.unlock_published(guard)
    }

    /// Waits until the submission thread has taken every entry up to
    /// `upto` (a value of `pushed`). It looks a request's descriptor up
    /// when it takes the entry, where kernel AIO takes its reference to
    /// the file inside io_submit: until then, a descriptor closed once
    /// io_submit has returned would fail the request (-EBADF), and its
    /// number reused for another file would redirect it there.
    #[inline(never)]
    fn wait_taken(&self, upto: u32) {
        let mut tries = 0u32;
        // `upto` is at most 2^31 entries ahead of the head.
        while (self.sq_head.load().wrapping_sub(upto) as i32) < 0 {
            // The publication woke the submission thread if it slept, and
            // it takes an entry within microseconds once awake.
            tries += 1;
            if tries < TAKEN_SPINS {
                std::hint::spin_loop();
                continue;
            }
            // Long enough to look again, under the lock, whether it sleeps
            // (as `sq_holds_at_most` does), and to give it the CPU.
            {
                let _g = self.submit_lock.lock();
                let behind = self.pushed.load(Ordering::Relaxed).wrapping_sub(upto);
                if self.sq_holds_at_most(behind as usize) {
                    return;
                }
            }
            std::thread::yield_now();
        }
    }

    /// The end of `publish`, once the entries are published.
    #[inline(always)]
    fn unlock_published(&self, guard: MutexGuard<'_, ()>) -> u32 {
        let upto = self.pushed.load(Ordering::Relaxed);
        drop(guard);
        self.nudge_mover();
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.arm_bridge();
        }
        upto
    }

    /// `push` of one entry and `publish`, with one look at the queue when
    /// it has room (the common case).
    #[inline(always)]
    fn push_one_and_publish(&self, guard: MutexGuard<'_, ()>, entry: &squeue::Entry) -> u32 {
        // SAFETY: under submit_lock (`guard`); the entry's buffers stay
        // valid until its completion, as in `push`.
        let mut sq = unsafe { self.ring.submission_shared() };
        // SAFETY: as above.
        if unsafe { sq.push(entry) }.is_err() {
            drop(sq);
            self.push(core::slice::from_ref(entry));
            return self.publish(guard);
        }
        self.count_pushed(1);
        self.kick_with(sq);
        self.unlock_published(guard)
    }

    #[inline(never)]
    fn arm_bridge(&self) {
        if let Some(Some(aio)) = self.aio.get() {
            aio.arm_bridge();
        }
    }

    /// Publishes the pushed entries and wakes the submission thread if it sleeps.
    fn kick(&self) {
        // SAFETY: under submit_lock (held by the caller).
        self.kick_with(unsafe { self.ring.submission_shared() });
    }

    /// `kick` with a view of the queue the caller already holds.
    #[inline(always)]
    fn kick_with(&self, mut sq: io_uring::squeue::SubmissionQueue<'_>) {
        sq.sync();
        std::sync::atomic::fence(Ordering::SeqCst);
        if sq.need_wakeup() {
            drop(sq);
            let _ = self.ring.submitter().submit();
        }
    }

    /// Checks one iocb as the kernel's io_submit_one does, in its order, and
    /// builds its queue entries. Takes a slot on success. `single`: the
    /// io_submit call carries this iocb only (see `alone`).
    fn prepare(
        &self,
        p: IocbPtr,
        cb: &Iocb,
        route: u8,
        single: bool,
        fds: &mut Option<FdCache>,
        out: &mut Entries,
    ) -> Result<Route> {
        if cb.aio_reserved2 != 0 || (cb.aio_nbytes as i64) < 0 {
            return Err(Errno(libc::EINVAL));
        }
        // Reserve room for the event, as the kernel does before it looks at the fd.
        if !self.reserve() {
            return Err(Errno::EAGAIN);
        }
        let alone = single && self.alone();
        if self.fast_inline(p, cb, if alone { route_alone(route) } else { route }) {
            return Ok(Route::Done);
        }
        if cb.aio_flags & IOCB_FLAG_RESFD != 0 && !self.watched_by_mover() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Errno::EAGAIN);
        }
        let fds = fds.get_or_insert_with(FdCache::default);
        let r = self.prepare_reserved(p, cb, alone, fds, &mut self.slab.lock(), out);
        if r.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    fn prepare_reserved(
        &self,
        p: IocbPtr,
        cb: &Iocb,
        alone: bool,
        fds: &mut FdCache,
        slab: &mut Slab,
        out: &mut Entries,
    ) -> Result<Route> {
        let fd = cb.aio_fildes as i32;
        let info = fds.get(fd)?;
        let mut resfd_dup = -1;
        if cb.aio_flags & IOCB_FLAG_RESFD != 0 {
            resfd_dup = self.pins.pin(cb.aio_resfd as i32)?;
        }
        // The kernel writes aio_key before it looks at the opcode.
        p.clear_key();
        let built = self.build_entry(cb, fd, info, slab);
        let (entry, idx) = match built {
            Ok(x) => x,
            Err(e) => {
                self.pins.release(resfd_dup);
                return Err(e);
            }
        };
        let write = matches!(cb.aio_lio_opcode, IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV);
        let rw = write || matches!(cb.aio_lio_opcode, IOCB_CMD_PREAD | IOCB_CMD_PREADV);
        let route = fd_route(fd, info);
        remember_route(fd, route);
        let route = if alone { route_alone(route) } else { route };
        // RWF_NOWAIT stays on the ring: preadv2/pwritev2 return 0 for an
        // empty transfer before the filesystem can refuse the flag, where
        // kernel AIO's event says -EOPNOTSUPP (ext4 buffered writes).
        let nowait = cb.aio_rw_flags & RWF_NOWAIT != 0;
        if rw && !nowait && (route == ROUTE_INLINE || (route == ROUTE_INLINE_WRITES && write)) {
            return Ok(Route::Inline(Inline {
                idx,
                opcode: cb.aio_lio_opcode,
                fd,
                buf: cb.aio_buf,
                len: cb.aio_nbytes.min(MAX_RW_COUNT),
                off: cb.aio_offset,
                rw_flags: cb.aio_rw_flags as i32,
                iocb: p.addr(),
                data: cb.aio_data,
                resfd_dup,
            }));
        }
        let nowait_unsupported = cb.aio_rw_flags & RWF_NOWAIT != 0
            && matches!(cb.aio_lio_opcode, IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV)
            && info.is(libc::S_IFREG)
            && info.flags & libc::O_DIRECT == 0
            && !buffered_nowait_writes(fd);
        slab.slots[idx as usize].start(p.addr(), cb.aio_data, cb.aio_lio_opcode, nowait_unsupported, resfd_dup);
        let ud = UD_IO | u64::from(idx);
        // A ring reader's ring wakes the mover at every completion already.
        let link = resfd_dup >= 0 && !self.ring_reader.load(Ordering::Relaxed);
        slab.slots[idx as usize].resfd_pending = link;
        if link {
            // Wakes the mover, which puts the event in the handle and then
            // signals the application's eventfd.
            let notify = self.notify.get().copied().unwrap_or(-1);
            let w = opcode::Write::new(Fd(notify), (&raw const EVENTFD_ONE).cast(), 8).build();
            *out = Entries::Linked([
                entry.user_data(ud).flags(squeue::Flags::IO_HARDLINK),
                w.user_data(UD_RESFD | u64::from(idx)),
            ]);
        } else {
            *out = Entries::One([entry.user_data(ud)]);
        }
        Ok(Route::Ring)
    }

    /// Signals a RESFD request's pinned eventfd (if any) and lets go of
    /// the pin: called once the request's event is in the handle.
    #[inline(always)]
    fn announce(&self, resfd: i32) {
        if resfd >= 0 {
            // SAFETY: writing 8 bytes from a static to the pinned eventfd.
            unsafe { libc::write(resfd, (&raw const EVENTFD_ONE).cast(), 8) };
            self.pins.release(resfd);
        }
    }

    /// Takes room for one more request, or says there is none (-EAGAIN).
    #[inline(always)]
    fn reserve(&self) -> bool {
        self.try_reserve() || self.reserve_after_reclaim()
    }

    #[inline(always)]
    fn try_reserve(&self) -> bool {
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
    fn reserve_after_reclaim(&self) -> bool {
        keep_errno(|| {
            let consumed = self.handle.take_consumed();
            if consumed > 0 {
                self.in_flight.fetch_sub(consumed, Ordering::Release);
            }
            consumed > 0 && self.try_reserve()
        })
    }

    /// Whether a request the kernel-AIO route would take goes to the ring
    /// instead: a RESFD request (the route's context would signal the
    /// eventfd before the event is in the handle), and every request of a
    /// ring reader (nothing would tell the mover of its completion).
    #[inline(always)]
    fn kernel_route_refused(&self, cb: &Iocb) -> bool {
        cb.aio_flags & IOCB_FLAG_RESFD != 0 || self.ring_reader.load(Ordering::Relaxed)
    }

    /// After a request went to the ring or to kernel AIO: the process's
    /// mover must be able to move its completion into the handle should
    /// nobody call io_getevents (registered, and awake).
    #[inline(always)]
    fn nudge_mover(&self) {
        if mover::idle() || self.notify.get().is_none() {
            self.nudge_mover_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn nudge_mover_slow(&self) {
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
    fn watched_by_mover(&self) -> bool {
        if self.notify.get().is_none() {
            // Not submit_lock: the general path may hold it here.
            let _once = MOVER_REGISTRATION.lock();
            if self.notify.get().is_none() {
                if let Ok(fd) = mover::register(self) {
                    let _ = self.notify.set(fd);
                }
            }
        }
        self.notify.get().is_some()
    }

    /// Whether the request just reserved is the only one the application
    /// has in flight on this context (events not yet reaped included): it
    /// then takes `route_alone`. Racy by design: another thread's request
    /// only changes where this one runs, never its result.
    #[inline(always)]
    fn alone(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 1
    }

    /// The route of one iocb, from its descriptor's cached route (the slow
    /// path's statx when the cache has nothing or asks for a recheck), for
    /// the opcodes a route can take: reads, writes and syncs. Anything else,
    /// and a descriptor the checks would refuse, is ROUTE_RING (`prepare`
    /// then gives the kernel's answer). Looks, has no effect.
    fn iocb_route(cb: &Iocb, fds: &mut Option<FdCache>) -> u8 {
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
    fn aio_route_when_due(&self) -> Option<&AioRoute> {
        if let Some(route) = self.aio.get() {
            return route.as_ref();
        }
        if self.direct_before_route.fetch_add(1, Ordering::Relaxed) < KERNEL_ROUTE_AFTER {
            return None;
        }
        self.aio_route()
    }

    /// The kernel-AIO route, made on first use.
    fn aio_route(&self) -> Option<&AioRoute> {
        self.aio
            .get_or_init(|| {
                use std::os::fd::AsRawFd;
                let made = AioRoute::new(self.nr_events, self.ring.as_raw_fd());
                if crate::config::get().log {
                    crate::config::log_line(&match &made {
                        Ok(_) => "io_uring context: O_DIRECT requests go to a kernel-AIO context".to_string(),
                        Err(e) => format!("io_uring context: no kernel-AIO context (errno {}); O_DIRECT stays on io_uring", e.0),
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
    fn flush_run(&self, iocbs: IocbList, start: usize, end: usize) -> (usize, Option<Errno>) {
        let n = end - start;
        let Some(aio) = self.aio_route() else { return (0, Some(Errno::EAGAIN)) };
        let r = aio.submit(iocbs.raw().wrapping_add(start), n);
        self.nudge_mover();
        let took = r.max(0) as usize;
        if took < n {
            self.in_flight.fetch_sub(n - took, Ordering::AcqRel);
        }
        (took, (r < 0).then(|| Errno(-r as i32)))
    }

    /// The inline route without a syscall of its own, for a descriptor the
    /// slow path recently found to be an inline file (`FD_ROUTES`): its
    /// descriptor checks are left to the read or write itself. If that
    /// reports the descriptor bad (-EBADF: closed, O_PATH, wrong access
    /// mode), not seekable (-ESPIPE) or a directory (-EISDIR), nothing has
    /// been transferred: the key is put back and the slow path redoes the
    /// iocb with the kernel's checks in the kernel's order. Anything unusual
    /// (RESFD, IOCB_FLAG_IOPRIO, RWF_NOWAIT/ATOMIC, more than 8 iovecs, a
    /// field the checks would refuse) goes to the slow path before any
    /// effect. Returns whether the request was performed and its event posted.
    #[inline(always)]
    fn fast_inline(&self, p: IocbPtr, cb: &Iocb, route: u8) -> bool {
        if !matches!(cb.aio_lio_opcode, IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV) {
            return false;
        }
        match inline_kind(cb, route) {
            Some((write, false)) if plain_buffer(cb) => {
                let iov = one_iovec(cb);
                self.fast_inline_run(p, cb, write, &raw const iov, 1)
            }
            Some((write, true)) => self.fast_inline_vectored(p, cb, write),
            _ => false,
        }
    }

    /// A plain PREAD or PWRITE (`plain_single`) whose route sends it to the
    /// ring, read from the page cache (`try_cached_read`) or queued after
    /// the slow path's descriptor checks made the cheap way
    /// (`ring_rw_allowed`). Called with a place reserved; takes `queued`
    /// (submit_lock) at the first push. Returns whether the request was
    /// performed (`Some(true)`) or queued (`Some(false)`); None, with no
    /// effect, leaves it to the slow path.
    #[inline(always)]
    fn fast_ring<'a>(
        &'a self,
        p: IocbPtr,
        cb: &Iocb,
        write: bool,
        queued: &mut Option<MutexGuard<'a, ()>>,
    ) -> Option<bool> {
        let tried = if cache_read_first(cb, write) { self.try_cached_read(p, cb) } else { CacheRead::Unchecked };
        if tried == CacheRead::Done {
            return Some(true);
        }
        let fd_ok = tried == CacheRead::Missed || ring_rw_allowed(cb.aio_fildes as i32, write);
        (fd_ok && self.queue_plain(p, cb, queued)).then_some(false)
    }

    /// A buffered read whose bytes are all in the page cache, performed
    /// here (preadv2 with RWF_NOWAIT) and its event posted, as kernel AIO
    /// performs it inside io_submit; anything else (some bytes not cached,
    /// an error) is left, with no effect, to the ring, which repeats the
    /// whole read. Handing a read to the submission thread costs io_submit
    /// the wait until the thread has taken it (`wait_taken`): about 1.5 µs
    /// here, where a cached 4 KiB read takes half of that.
    ///
    /// No descriptor check comes first (see `cache_read_first`): the
    /// read itself fails on every descriptor kernel AIO refuses at submit
    /// (closed or O_PATH, not opened for reading: -EBADF; a directory:
    /// -EISDIR), on pipes and sockets (-ESPIPE) and on files without
    /// FMODE_NOWAIT (-EOPNOTSUPP), and those go the checked way. A read
    /// that got as far as the page cache (-EAGAIN, or some bytes) has made
    /// the ring's descriptor checks itself (`CacheRead::Missed`).
    #[inline(always)]
    fn try_cached_read(&self, p: IocbPtr, cb: &Iocb) -> CacheRead {
        let iov = one_iovec(cb);
        // The kernel writes the key once it has the file: before the read
        // completes, and put back if it is refused.
        p.clear_key();
        // SAFETY: one iovec on this frame, naming the caller's buffer, which
        // passed access_ok and belongs to the caller by libaio's contract.
        let res = unsafe { rw_syscall(false, cb.aio_fildes as i32, &raw const iov, 1, cb.aio_offset, RWF_NOWAIT) };
        // 0 is end of file (the length is not 0): with RWF_NOWAIT a read
        // that finds its first page missing fails with -EAGAIN instead.
        if res != cb.aio_nbytes as i64 && res != 0 {
            p.set_key(cb.aio_key);
            return if res > 0 || res == -i64::from(libc::EAGAIN) { CacheRead::Missed } else { CacheRead::Unchecked };
        }
        self.handle.post(IoEvent { data: cb.aio_data, obj: p.addr(), res, res2: 0 });
        CacheRead::Done
    }

    /// Queues a PREAD or PWRITE that passed `ring_rw_allowed`: takes a slot,
    /// clears the key, pushes the entry. False, with no effect, if no slot
    /// is free (the slow path then says -EAGAIN).
    #[inline(always)]
    fn queue_plain<'a>(&'a self, p: IocbPtr, cb: &Iocb, queued: &mut Option<MutexGuard<'a, ()>>) -> bool {
        let Some(entry) = self.claim_plain(p, cb) else { return false };
        if queued.is_none() {
            *queued = Some(self.submit_lock.lock());
        }
        self.ring_pending.fetch_add(1, Ordering::AcqRel);
        self.push(core::slice::from_ref(&entry));
        true
    }

    /// The part of queueing a plain PREAD/PWRITE before the push: a slot,
    /// the key cleared, the entry. None, with no effect, if no slot is free.
    #[inline(always)]
    fn claim_plain(&self, p: IocbPtr, cb: &Iocb) -> Option<squeue::Entry> {
        let idx = self.slab.lock().take(p.addr(), cb.aio_data, cb.aio_lio_opcode)?;
        p.clear_key();
        Some(plain_entry(cb, idx))
    }

    /// `fast_inline` for PREADV/PWRITEV of up to FAST_IOVECS iovecs.
    #[inline(never)]
    fn fast_inline_vectored(&self, p: IocbPtr, cb: &Iocb, write: bool) -> bool {
        let mut iov = [libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; FAST_IOVECS];
        let n = cb.aio_nbytes as usize;
        if n == 0 || n > FAST_IOVECS || !user_mem::copy_iovecs(cb.aio_buf, &mut iov[..n]) {
            return false;
        }
        let mut total = 0u64;
        for v in &iov[..n] {
            total += v.iov_len as u64;
            if !user_mem::access_ok(v.iov_base as u64, v.iov_len as u64) || total > MAX_RW_COUNT {
                return false;
            }
        }
        if cb.aio_offset.checked_add(total as i64).is_none() {
            return false;
        }
        self.fast_inline_run(p, cb, write, iov.as_ptr(), n as i32)
    }

    /// The read or write of `fast_inline`, once every check has passed.
    #[inline(always)]
    fn fast_inline_run(&self, p: IocbPtr, cb: &Iocb, write: bool, iov: *const libc::iovec, cnt: i32) -> bool {
        let fd = cb.aio_fildes as i32;
        p.clear_key();
        // SAFETY: `iov` names `cnt` iovecs on the caller's stack frame; their
        // buffers passed access_ok and belong to the caller by libaio's contract.
        let res = unsafe { rw_syscall(write, fd, iov, cnt, cb.aio_offset, cb.aio_rw_flags) };
        if matches!(-res as i32, libc::EBADF | libc::ESPIPE | libc::EISDIR) {
            forget_route(fd);
            p.set_key(cb.aio_key);
            return false;
        }
        self.handle.post(IoEvent { data: cb.aio_data, obj: p.addr(), res, res2: 0 });
        true
    }

    /// Performs an inline request with the synchronous syscall kernel AIO's
    /// own path amounts to, and posts its event. Every check the kernel
    /// makes at submit has been made, so whatever the syscall returns is
    /// the request's result, as kernel AIO would put it in the event.
    fn run_inline(&self, io: &Inline) {
        let vectored = matches!(io.opcode, IOCB_CMD_PREADV | IOCB_CMD_PWRITEV);
        let write = matches!(io.opcode, IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV);
        let one = libc::iovec { iov_base: io.buf as *mut libc::c_void, iov_len: io.len as usize };
        let slab = self.slab.lock();
        let (iov, cnt) = if vectored {
            let v = &slab.slots[io.idx as usize].iov;
            (v.as_ptr(), v.len() as i32)
        } else {
            (&raw const one, 1)
        };
        drop(slab);
        // The slot (and its iovec copy) stays ours until it is released
        // below: no other thread touches a slot it did not take.
        // SAFETY: `iov` names `cnt` iovecs that live until the call returns
        // (the slot's copy or `one`); their buffers were checked with
        // access_ok and belong to the caller by libaio's contract, and the
        // kernel validates them again (a bad one is -EFAULT, as in AIO).
        let res = unsafe { rw_syscall(write, io.fd, iov, cnt, io.off, io.rw_flags as u32) };
        self.slab.lock().free.push(io.idx);
        self.handle.post(IoEvent { data: io.data, obj: io.iocb, res, res2: 0 });
        self.announce(io.resfd_dup);
    }

    /// Wakes the threads asleep in io_uring_enter after inline completions.
    #[inline(always)]
    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.wake_sleepers_now();
        }
    }

    #[inline(never)]
    fn wake_sleepers_now(&self) {
        // io_submit's fast paths call this without an errno save of their own.
        keep_errno(|| match self.aio.get() {
            Some(Some(aio)) => aio.wake(),
            _ => self.wake_waiters(),
        })
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
    fn spin_until_ready(&self, aio: &AioRoute, deadline: Option<u64>) -> bool {
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

    /// Reaps events of the kernel-AIO route into `events[got..nr]`, waiting
    /// (for any event, the route's own wake-ups included) if `wait` is given.
    fn reap_aio(
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
        while room > 0 && !events.can_write(got + room - 1) {
            room /= 2;
        }
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
        self.in_flight.fetch_sub(k, Ordering::AcqRel);
        Ok(got + k)
    }

    /// The opcode-specific checks and the io_uring entry; takes the slot.
    fn build_entry(
        &self,
        cb: &Iocb,
        fd: i32,
        info: FdInfo,
        slab: &mut Slab,
    ) -> Result<(squeue::Entry, u32)> {
        let einval = Errno(libc::EINVAL);
        let ebadf = Errno(libc::EBADF);
        match cb.aio_lio_opcode {
            IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV => {
                let write = matches!(cb.aio_lio_opcode, IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV);
                // aio_prep_rw: priority, then RWF_* flags.
                let ioprio = if cb.aio_flags & IOCB_FLAG_IOPRIO != 0 {
                    check_ioprio(cb.aio_reqprio)?;
                    cb.aio_reqprio as u16
                } else {
                    0
                };
                let rw = cb.aio_rw_flags;
                if rw & !RWF_SUPPORTED != 0 || (rw & RWF_ATOMIC != 0 && !write) {
                    return Err(Errno::EOPNOTSUPP);
                }
                if rw & RWF_NOWAIT != 0 && !supports_nowait(fd, info) {
                    return Err(Errno::EOPNOTSUPP);
                }
                // The access mode (FMODE_READ / FMODE_WRITE).
                if !info.opened_for(write) {
                    return Err(ebadf);
                }
                // A directory has no read_iter/write_iter.
                if info.is(libc::S_IFDIR) {
                    return Err(einval);
                }
                let rw_flags = (rw & !RWF_HIPRI) as i32;
                let vectored = matches!(cb.aio_lio_opcode, IOCB_CMD_PREADV | IOCB_CMD_PWRITEV);
                let idx = *slab.free.last().ok_or(Errno::EAGAIN)?;
                let count = if vectored {
                    if cb.aio_nbytes > UIO_MAXIOV {
                        return Err(einval);
                    }
                    let iov = &mut slab.slots[idx as usize].iov;
                    user_mem::read_iovecs(cb.aio_buf, cb.aio_nbytes as usize, iov)?;
                    // The copy refuses a negative length in any segment
                    // before a buffer is looked at.
                    if iov.iter().any(|v| (v.iov_len as isize) < 0) {
                        return Err(einval);
                    }
                    let mut total = 0u64;
                    for v in iov.iter_mut() {
                        if !user_mem::access_ok(v.iov_base as u64, v.iov_len as u64) {
                            return Err(Errno::EFAULT);
                        }
                        let len = (v.iov_len as u64).min(MAX_RW_COUNT - total);
                        v.iov_len = len as usize;
                        total += len;
                    }
                    total
                } else {
                    let len = cb.aio_nbytes.min(MAX_RW_COUNT);
                    if !user_mem::access_ok(cb.aio_buf, len) {
                        return Err(Errno::EFAULT);
                    }
                    len
                };
                // rw_verify_area.
                if cb.aio_offset < 0 || cb.aio_offset.checked_add(count as i64).is_none() {
                    return Err(einval);
                }
                let off = cb.aio_offset as u64;
                let e = match (vectored, write) {
                    (false, _) => rw_entry(write, fd, cb.aio_buf, count as u32, off, ioprio, rw_flags),
                    (true, false) => {
                        let iov = &slab.slots[idx as usize].iov;
                        opcode::Readv::new(Fd(fd), iov.as_ptr(), iov.len() as u32)
                            .offset(off)
                            .ioprio(ioprio)
                            .rw_flags(rw_flags)
                            .build()
                    }
                    (true, true) => {
                        let iov = &slab.slots[idx as usize].iov;
                        opcode::Writev::new(Fd(fd), iov.as_ptr(), iov.len() as u32)
                            .offset(off)
                            .ioprio(ioprio)
                            .rw_flags(rw_flags)
                            .build()
                    }
                };
                slab.free.pop();
                Ok((e, idx))
            }
            IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => {
                if cb.aio_buf != 0 || cb.aio_offset != 0 || cb.aio_nbytes != 0 || cb.aio_rw_flags != 0 {
                    return Err(einval);
                }
                // Regular files, directories and block devices have ->fsync;
                // pipes, sockets, character devices and anonymous files do not.
                if !(info.is(libc::S_IFREG) || info.is(libc::S_IFDIR) || info.is(libc::S_IFBLK)) {
                    return Err(einval);
                }
                let flags = if cb.aio_lio_opcode == IOCB_CMD_FDSYNC {
                    FsyncFlags::DATASYNC
                } else {
                    FsyncFlags::empty()
                };
                let idx = slab.free.pop().ok_or(Errno::EAGAIN)?;
                // SAFETY: duplicating a descriptor the caller owns (checked
                // open above); the copy is the slot's.
                let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
                // No descriptor left for the copy (EMFILE): the sync still
                // runs, on the caller's descriptor.
                let target = if dup < 0 {
                    fd
                } else {
                    // SAFETY: `dup` is a new descriptor nothing else owns.
                    slab.slots[idx as usize].pinned = Some(unsafe { OwnedFd::from_raw_fd(dup) });
                    dup
                };
                Ok((opcode::Fsync::new(Fd(target)).flags(flags).build(), idx))
            }
            IOCB_CMD_POLL => {
                if cb.aio_buf > 0xffff || cb.aio_offset != 0 || cb.aio_nbytes != 0 || cb.aio_rw_flags != 0 {
                    return Err(einval);
                }
                // A file without ->poll is always ready for DEFAULT_POLLMASK;
                // a poll for other bits could never complete: -EINVAL.
                let always_ready = (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM) as u64;
                if (info.is(libc::S_IFREG) || info.is(libc::S_IFDIR)) && cb.aio_buf & always_ready == 0 {
                    return Err(einval);
                }
                let idx = slab.free.pop().ok_or(Errno::EAGAIN)?;
                Ok((opcode::PollAdd::new(Fd(fd), cb.aio_buf as u32).build(), idx))
            }
            _ => Err(einval),
        }
    }

    /// The completion queue, under reap_lock (held by the caller), with
    /// any completions the kernel kept aside on overflow moved back into it.
    fn completions<'a>(&'a self) -> io_uring::CompletionQueue<'a> {
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
    /// caller holds reap_lock and found `events[got]` writable.
    fn take_from_handle(&self, events: EventsOut, mut got: usize, nr: usize) -> usize {
        let pending = self.handle.pending(Ordering::Acquire);
        if pending > 0 && got < nr {
            let room = events.writable(got, (got + pending).min(nr));
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
    fn drain(&self, events: EventsOut, mut got: usize, nr: usize) -> Result<usize> {
        self.reaped.store(true, Ordering::Relaxed);
        let mut stash = self.reap_lock.lock();
        let mut cq = self.completions();
        // copy_to_user of the first event would fail: -EFAULT, events or not.
        if got < nr && !events.can_write(got) {
            return Err(Errno::EFAULT);
        }
        got = self.take_from_handle(events, got, nr);
        if got >= nr || (stash.is_none() && cq.is_empty()) {
            return Ok(got);
        }
        let mut slab = self.slab.lock();
        // Internal completions do not count; a request's completion is
        // taken only while there is room for its event: up to the end of
        // the writable run (copy_to_user would stop there).
        let end = events.writable(got, nr);
        let start = got;
        let mut posted = 0;
        while got < end {
            let Some(cqe) = stash.take().or_else(|| cq.next()) else { break };
            let Some((ev, resfd)) = complete(&mut slab, &cqe) else { continue };
            if resfd >= 0 {
                self.handle.post(ev);
                self.announce(resfd);
                posted += 1;
            } else {
                // SAFETY: got < end, the end of the writable run from `start`.
                unsafe { events.write_in_run(got, ev) };
                got += 1;
            }
        }
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
        Ok(got)
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
    fn become_ring_reader(&self) {
        if let Some(&fd) = self.notify.get() {
            if self.ring.submitter().register_eventfd(fd).is_ok() {
                self.ring_reader.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Moves the ring's completions to the handle (announcing RESFD
    /// requests'); returns how many requests' events it moved. The caller
    /// holds reap_lock (`stash` is its content).
    fn move_ring_locked(&self, stash: &mut Option<io_uring::cqueue::Entry>) -> usize {
        let mut cq = self.completions();
        let mut slab = self.slab.lock();
        let mut moved = 0;
        while let Some(cqe) = stash.take().or_else(|| cq.next()) {
            let Some((ev, resfd)) = complete(&mut slab, &cqe) else { continue };
            self.handle.post(ev);
            self.announce(resfd);
            moved += 1;
        }
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
    fn move_aio_locked(&self) -> usize {
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
                self.handle.post(unsafe { e.assume_init() });
            }
            moved += k;
        }
        moved
    }

    /// Waits in the kernel for at least one completion, or the timeout.
    fn wait_kernel(&self, timeout_ns: Option<u64>, sigmask: *const libc::sigset_t) -> Result<()> {
        let ts = timeout_ns.map(|ns| KernelTimespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        });
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

    /// The kernel's "completions overflowed" flag, read under submit_lock:
    /// the io-uring crate's queue snapshots store their cached tail (head)
    /// back when dropped, so a snapshot taken outside its lock can undo
    /// another thread's push (pop). That once lost requests under load.
    fn cq_overflowed(&self) -> bool {
        let _g = self.submit_lock.lock();
        // SAFETY: the submission queue is only touched under submit_lock.
        unsafe { self.ring.submission_shared() }.cq_overflow()
    }

    /// Waits until the submission thread has taken every entry queued so far.
    fn wait_consumed(&self) {
        let upto = {
            let _g = self.submit_lock.lock();
            self.pushed.load(Ordering::Relaxed)
        };
        self.wait_taken(upto);
    }

    fn wake_waiters(&self) {
        let _g = self.submit_lock.lock();
        self.push(&[opcode::Nop::new().build().user_data(UD_WAKE)]);
        self.kick();
    }

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
    fn submit_not_live(&self, iocbs: IocbList) -> i32 {
        match self.settle(Some(iocbs)) {
            Settled::Uring => self.submit_uncounted(iocbs),
            // Raw syscalls: errno untouched.
            Settled::Kernel(k) => k.submit(iocbs).map_or_else(|e| -e.0, |n| n as i32),
            Settled::Refused => -libc::EINVAL,
        }
    }

    /// io_submit's fast path: takes iocbs from the start of the batch while
    /// each is a read or write of a descriptor whose cached route is inline
    /// (performed here, see `fast_inline`), the ring (queued here, see
    /// `fast_ring`) or kernel AIO (reserved and left for the caller to pass
    /// on as one run), and stops, with no effect on that iocb, at the first
    /// one that needs a closer look. Returns what it did (`Fast`).
    #[inline(always)]
    fn submit_fast(&self, iocbs: IocbList, nr: usize) -> Fast {
        let mut f = Fast { end: 0, accepted: 0, inlined: false, run: 0, queued_upto: None };
        // Taken at the first request queued to the ring, kept for the batch.
        let mut queued: Option<MutexGuard<'_, ()>> = None;
        while f.end < nr {
            let Ok(p) = iocbs.get(f.end) else { break };
            let Ok(cb) = p.read() else { break };
            if cb.aio_reserved2 != 0
                || !matches!(cb.aio_lio_opcode, IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV)
            {
                break;
            }
            let route = cached_route(cb.aio_fildes as i32);
            if route == ROUTE_KERNEL {
                if self.kernel_route_refused(&cb) || !matches!(self.aio.get(), Some(Some(_))) || !self.reserve() {
                    break;
                }
                f.run += 1;
            } else {
                // Other routes only before a kernel-AIO run: a run that
                // stops short must stop the batch where it stopped.
                if f.run > 0 || route == ROUTE_UNKNOWN || !self.reserve() {
                    break;
                }
                let route = if nr == 1 && self.alone() { route_alone(route) } else { route };
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

    /// io_submit of `nr` iocbs (the context checked), out of line: the
    /// batch of one above stays small enough to keep in registers.
    #[cold]
    #[inline(never)]
    fn submit_batch(&self, iocbs: IocbList, nr: usize) -> Result<usize> {
        // The common batch first: iocbs of descriptors with a cached route
        // that go inline or to the kernel-AIO route, with nothing unusual.
        let Fast { end: i, accepted: mut done, mut inlined, run, mut queued_upto } = self.submit_fast(iocbs, nr);
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

    /// `submit_fast` for a batch of one, the most common io_submit (fio at
    /// iodepth_batch 1, most databases' single reads): the same routes with
    /// none of the batch's bookkeeping. None, with no effect, where the
    /// batch paths must decide.
    #[inline(always)]
    fn submit_single(&self, iocbs: IocbList) -> Option<i32> {
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
    fn submit_single_reserved(&self, iocbs: IocbList) -> Option<i32> {
        let p = iocbs.get(0).ok()?;
        let cb = p.read().ok()?;
        if cb.aio_reserved2 != 0 {
            return None;
        }
        let route = cached_route(cb.aio_fildes as i32);
        if route == ROUTE_KERNEL {
            if !matches!(cb.aio_lio_opcode, IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV)
                || self.kernel_route_refused(&cb)
            {
                return None;
            }
            let Some(Some(aio)) = self.aio.get() else { return None };
            let r = aio.submit(iocbs.raw(), 1);
            self.nudge_mover();
            if r != 1 {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
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
        let tried = if cache_read_first(&cb, write) { self.try_cached_read(p, &cb) } else { CacheRead::Unchecked };
        if tried == CacheRead::Done {
            self.wake_sleepers();
            return Some(1);
        }
        if self.alone() && performs_inline(route_alone(route), write) {
            return self.single_inline(p, &cb, write);
        }
        if tried != CacheRead::Missed && !ring_rw_allowed(cb.aio_fildes as i32, write) {
            return None;
        }
        keep_errno(|| self.queue_single(p, &cb))
    }

    /// `submit_single` of a read or write its route (or `route_alone`)
    /// performs inline: done here, as under kernel AIO (a read that missed
    /// the page cache waits for the disk). None leaves it to the batch path.
    #[inline(always)]
    fn single_inline(&self, p: IocbPtr, cb: &Iocb, write: bool) -> Option<i32> {
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
    fn queue_single(&self, p: IocbPtr, cb: &Iocb) -> Option<i32> {
        let entry = self.claim_plain(p, cb)?;
        let guard = self.submit_lock.lock();
        self.ring_pending.fetch_add(1, Ordering::AcqRel);
        let upto = self.push_one_and_publish(guard, &entry);
        self.wait_taken(upto);
        Some(1)
    }

    /// io_submit's general path for iocbs [from, nr): every check in the
    /// kernel's order, every route. Iocbs [run_start, from) are a run for
    /// the kernel-AIO route already reserved (by `submit_fast`). Returns how
    /// many were accepted, the error that stopped the batch, whether any
    /// was performed inline, and where the last entry queued stands (see
    /// `wait_taken`).
    #[inline(never)]
    fn submit_general(
        &self,
        iocbs: IocbList,
        run_start: usize,
        from: usize,
        nr: usize,
    ) -> (usize, Option<Errno>, bool, Option<u32>) {
        // Filled only by the slow path: the fast one looks at no descriptor.
        let mut fds: Option<FdCache> = None;
        let mut entries = Entries::None;
        let mut done = 0;
        let mut first_err = None;
        let mut inlined = false;
        // Taken for the first queued request and kept for the batch; inline
        // requests run without it, so they never hold up other submitters.
        let mut submit_guard = None;
        // A run of consecutive iocbs for the kernel-AIO route, passed on in
        // one io_submit when the run ends; their room is already reserved.
        let mut run: Option<usize> = (run_start < from).then_some(run_start);
        let mut i = from;
        while i < nr {
            // Each iocb is read once; a bad pointer is the kernel's -EFAULT.
            let (p, cb) = match iocbs.get(i).and_then(|p| Ok((p, p.read()?))) {
                Ok(x) => x,
                Err(e) => {
                    // The run before it is still passed on.
                    first_err = Some(e);
                    break;
                }
            };
            let route = Self::iocb_route(&cb, &mut fds);
            // A RESFD request goes to the ring: the kernel-AIO route's
            // context would signal the eventfd before the event is in the handle.
            let kernel = route == ROUTE_KERNEL && !self.kernel_route_refused(&cb) && self.aio_route_when_due().is_some();
            if kernel && self.reserve() {
                run.get_or_insert(i);
                i += 1;
                continue;
            }
            if let Some(start) = run.take() {
                let (n, err) = self.flush_run(iocbs, start, i);
                done += n;
                if n < i - start {
                    first_err = err;
                    break;
                }
            }
            if kernel {
                first_err = Some(Errno::EAGAIN); // no room left
                break;
            }
            match self.prepare(p, &cb, route, nr == 1, &mut fds, &mut entries) {
                Err(e) => {
                    first_err = Some(e);
                    break;
                }
                Ok(Route::Ring) => {
                    submit_guard.get_or_insert_with(|| self.submit_lock.lock());
                    self.ring_pending.fetch_add(1, Ordering::AcqRel);
                    self.push(entries.as_slice());
                }
                Ok(Route::Inline(io)) => {
                    self.run_inline(&io);
                    inlined = true;
                }
                Ok(Route::Done) => inlined = true,
            }
            done += 1;
            i += 1;
        }
        if let Some(start) = run.take() {
            let (n, err) = self.flush_run(iocbs, start, i);
            done += n;
            if n < i - start {
                first_err = err;
            }
        }
        let upto = submit_guard.map(|g| self.publish(g));
        (done, first_err, inlined, upto)
    }
}

/// A forked child's or a destroyed context: -EINVAL, off the hot path.
#[cold]
fn unusable() -> Errno {
    Errno(libc::EINVAL)
}

/// What io_submit's fast path did: it stopped at iocb `end`, having
/// accepted `accepted` iocbs (inline or queued to the ring), and left the
/// last `run` iocbs before `end` reserved for the kernel-AIO route.
/// `queued_upto`: where its last entry queued to the ring stands.
struct Fast {
    end: usize,
    accepted: usize,
    inlined: bool,
    run: usize,
    queued_upto: Option<u32>,
}

/// io_pgetevents installs its mask even when events are already there, so a
/// pending signal the mask unblocks is delivered before it returns. Without
/// a wait in the kernel, install and restore the mask to do the same.
fn deliver_unmasked_signals(mask: *const libc::sigset_t) {
    let mut old = 0u64;
    // SAFETY: rt_sigprocmask reads 8 bytes at `mask` with copy_from_user (as
    // io_pgetevents does) and writes the old mask into `old`.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, mask, &raw mut old, 8) };
    if r == 0 {
        // SAFETY: restoring the mask just saved.
        unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &raw const old, 0usize, 8) };
    }
}

/// The queue entries of one request: the I/O, or the I/O hard-linked to its
/// eventfd write. Kept on the stack: io_submit allocates nothing.
enum Entries {
    None,
    One([squeue::Entry; 1]),
    Linked([squeue::Entry; 2]),
}

impl Entries {
    fn as_slice(&self) -> &[squeue::Entry] {
        match self {
            Entries::None => &[],
            Entries::One(e) => e,
            Entries::Linked(e) => e,
        }
    }
}

/// io_uring_getevents_arg.
#[repr(C)]
struct GetEventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

impl Drop for UringEngine {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // Before the ring's descriptor closes with the fields.
        forget_ring(self.ring.as_raw_fd());
    }
}

impl Engine for UringEngine {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn submit(&self, iocbs: IocbList) -> Result<usize> {
        let _busy = CountGuard::new(&self.submitting);
        Errno::from_ret(i64::from(self.submit_uncounted(iocbs))).map(|n| n as usize)
    }

    fn get_events(&self, w: &Wait) -> Result<usize> {
        let timeout = w.timeout.read_ns()?;
        let _waiter = CountGuard::new(&self.waiters);
        if self.usable().is_err() {
            return match self.settle(None) {
                Settled::Uring => self.get_events(w),
                Settled::Kernel(k) => k.get_events(w),
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
                if got < nr && aio.ready() && w.events.can_write(got) {
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
                Some(aio) if w.events.can_write(got) => {
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

    fn nothing_ready(&self) -> Option<bool> {
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
            internal_completion(&mut self.slab.lock(), cqe.user_data());
        }
        cq.sync();
        drop(cq);
        Some(!(self.cq_may_overflow && self.cq_overflowed()))
    }

    fn cancel(&self, iocb: IocbPtr, _result: EventsOut) -> Result<()> {
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
        let target = {
            let slab = self.slab.lock();
            slab.slots
                .iter()
                .position(|s| s.io_pending && !s.cancelled && s.iocb == iocb.addr() && s.opcode == IOCB_CMD_POLL)
        };
        let Some(idx) = target else { return Err(Errno(libc::EINVAL)) };
        // Kernel AIO arms a poll inside io_submit; here the submission
        // thread may not have taken it yet.
        self.wait_consumed();
        match self
            .ring
            .submitter()
            .register_sync_cancel(None, CancelBuilder::user_data(UD_IO | idx as u64))
        {
            Ok(()) => {
                self.slab.lock().slots[idx].cancelled = true;
                Err(Errno::EINPROGRESS)
            }
            Err(_) => Err(Errno(libc::EINVAL)),
        }
    }

    fn destroy(&self) -> Result<()> {
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
        let mut sink = Discard::new();
        let mut polls = Vec::new();
        loop {
            polls.clear();
            let outstanding = {
                let slab = self.slab.lock();
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
struct Discard(Vec<IoEvent>);

impl Discard {
    fn new() -> Discard {
        Discard(vec![IoEvent::default(); 256])
    }
    fn out(&mut self) -> EventsOut {
        EventsOut::library_owned(&mut self.0)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}


fn close_quiet(fd: i32) {
    if fd >= 0 {
        // SAFETY: closing a descriptor the library duplicated and owns.
        unsafe { libc::close(fd) };
    }
}

/// ioprio_check_cap for IOCB_FLAG_IOPRIO.
fn check_ioprio(prio: i16) -> Result<()> {
    let p = i32::from(prio);
    let class = (p >> 13) & 0x7;
    let level = p & 0x7;
    match class {
        1 => {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                return Err(Errno(libc::EPERM));
            }
            Ok(())
        }
        2 | 3 => Ok(()),
        0 if level == 0 => Ok(()),
        _ => Err(Errno(libc::EINVAL)),
    }
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A completion of the library's own: the notify write behind a RESFD
/// request (its slot may now be reused) or a wake-up NOP.
fn internal_completion(slab: &mut Slab, ud: u64) {
    if ud & UD_TAG == UD_RESFD {
        let idx = (ud & 0xffff_ffff) as u32;
        slab.slots[idx as usize].resfd_pending = false;
        slab.release_if_done(idx);
    }
}

/// A request's completion: its event, rebuilt from the slot, and the
/// pinned eventfd to announce it on once it is in the handle (-1 if none);
/// the slot is released if nothing else of it is awaited. None for the
/// library's own completions.
#[inline(always)]
fn complete(slab: &mut Slab, cqe: &io_uring::cqueue::Entry) -> Option<(IoEvent, i32)> {
    let ud = cqe.user_data();
    let idx = (ud & 0xffff_ffff) as u32;
    if ud & UD_TAG != UD_IO {
        internal_completion(slab, ud);
        return None;
    }
    let s = &mut slab.slots[idx as usize];
    let mut res = i64::from(cqe.result());
    if res < 0 {
        if s.opcode == IOCB_CMD_POLL && res == -i64::from(libc::ECANCELED) {
            res = 0; // a cancelled AIO poll completes with 0
        }
        if s.nowait_unsupported && res == -i64::from(libc::EAGAIN) {
            res = -i64::from(libc::EOPNOTSUPP);
        }
    }
    let ev = IoEvent { data: s.data, obj: s.iocb, res, res2: 0 };
    s.io_pending = false;
    if s.pinned.is_some() {
        s.pinned = None; // closes the sync's private duplicate
    }
    let resfd = core::mem::replace(&mut s.resfd_dup, -1);
    // release_if_done without indexing the slot again (per event).
    if s.finished() {
        slab.free.push(idx);
    }
    Some((ev, resfd))
}

/// What a read tried from the page cache in io_submit found (`try_cached_read`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum CacheRead {
    /// Every byte, or end of file: performed, its event posted.
    Done,
    /// Some byte was not cached (-EAGAIN, or fewer bytes): nothing done.
    /// The read got past the descriptor: open, not O_PATH, opened for
    /// reading, not a directory, which is all the ring's checks ask.
    Missed,
    /// Refused for another reason, or not tried: nothing done, nothing known.
    Unchecked,
}

/// Where an accepted request goes.
enum Route {
    /// Queued to the ring (the entries are in `out`).
    Ring,
    /// To be performed by io_submit itself.
    Inline(Inline),
    /// Performed by io_submit itself already (`fast_inline`).
    Done,
}

/// A read or write performed synchronously inside io_submit, as kernel AIO
/// performs it, on files where io_uring would hand it to a worker thread
/// (two cross-CPU wake-ups per request): files without FMODE_NOWAIT
/// (tmpfs, procfs, sysfs) and buffered writes on filesystems whose buffered
/// writes cannot be tried without blocking (ext4 and most others).
struct Inline {
    idx: u32,
    opcode: u16,
    fd: i32,
    buf: u64,
    len: u64,
    off: i64,
    rw_flags: i32,
    iocb: u64,
    data: u64,
    resfd_dup: i32,
}

/// preadv2/pwritev2 as the raw syscall, returning the result or -errno.
/// Not libc's wrappers: those are pthread cancellation points (io_submit
/// is not one in libaio) and cost more than the rest of the fast path.
///
/// # Safety
/// `iov` must point to `cnt` iovecs readable for the duration of the call;
/// the buffers they name are the kernel's to check.
#[inline(always)]
unsafe fn rw_syscall(write: bool, fd: i32, iov: *const libc::iovec, cnt: i32, off: i64, flags: u32) -> i64 {
    let nr = if write { libc::SYS_pwritev2 } else { libc::SYS_preadv2 };
    // SAFETY: per this function's contract; on 64-bit targets the offset is
    // passed whole in pos_l, pos_h is 0.
    unsafe { sys::raw6(nr, fd as usize, iov as usize, cnt as usize, off as usize, 0, flags as usize) }
}
