//! Setting a context up: the probe of what io_uring offers, the process's
//! shared submission thread (and the anchor ring that keeps it), the ring's
//! sizes as kernel AIO computes them, and `UringEngine::setup` itself.
//! Nothing here runs once a context exists, except the ring's forgetting at
//! its drop.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Mutex as StdMutex, OnceLock};

use io_uring::{IoUring, Probe, opcode};
use super::lock::Mutex;

use crate::stats::ContextStats;
use crate::errno::{Errno, Result};
use crate::fork;
use crate::user_mem;

use super::URING_RING_MAGIC;
use super::UringEngine;
use super::eventfd_pins::EventfdPins;
use super::handle_ring::HandleRing;
use super::handover::{MODE_UNDECIDED, MODE_URING, UNDECIDED};
use super::slots::{SlotTable, Slot};
use super::spin::SpinPolicy;
use super::sq_head::SqHead;

/// How long the shared submission thread spins after the last request
/// before it sleeps (then io_submit wakes it with one syscall).
pub(super) const SQ_THREAD_IDLE_MS: u32 = 10;

pub(super) struct AnchorRing {
    pub(super) epoch: u64,
    pub(super) ring: IoUring,
}

/// What the first io_setup learned: whether io_uring is usable here, and why not.
pub(super) static PROBE: OnceLock<core::result::Result<(), (Errno, String)>> = OnceLock::new();

/// Set when the kernel refused a ring with a submission thread (the probe's
/// ring has none, see `probe_once`): later io_setups fall back at once.
pub(super) static SQPOLL_REFUSED: OnceLock<(Errno, String)> = OnceLock::new();

/// The process's submission thread, as the rings to attach new ones to.
pub(super) struct SqThread {
    /// A small ring of the library's own attached to the thread, so that
    /// the thread outlives the application's contexts.
    pub(super) anchor: Option<AnchorRing>,
    /// Until the anchor exists: (epoch, ring fd) of the context whose ring
    /// started the thread. The anchor is attached to it at the next ring:
    /// attaching parks the thread, which right after its creation waits
    /// for its first time slice (1-5 ms here), and a short-lived process's
    /// one io_setup should not pay that.
    pub(super) first: Option<(u64, i32)>,
}

pub(super) static SQ_THREAD: StdMutex<SqThread> = StdMutex::new(SqThread { anchor: None, first: None });

pub(super) fn io_err(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
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
///
/// The thread runs on a stack of the library's own, unmapped once it has
/// been joined: glibc keeps the stacks it allocates for exited threads in a
/// cache (up to 40 MiB), so every io_setup would otherwise leave mappings
/// behind that kernel AIO does not.
pub(super) fn on_own_thread<T: Send, F: FnOnce() -> T + Send>(f: F) -> Option<T> {
    let mut job = Job { f: Some(f), out: None };
    if let Some(stack) = OwnStack::map() {
        if run_on(&stack, &mut job) {
            return job.out;
        }
    }
    // Refused (a process whose static TLS does not fit the stack, which
    // glibc places at its top): a thread of std's, whose stack glibc sizes
    // for it and then keeps in its cache.
    let f = job.f.take()?;
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

/// Runs `job` on a thread of its own on `stack` and joins it; false if
/// the thread could not be made (the job is then still there to run).
fn run_on<T, F: FnOnce() -> T>(stack: &OwnStack, job: &mut Job<F, T>) -> bool {
    // SAFETY: the attribute object is initialised before use and destroyed
    // once; the stack is mapped, writable and outlives the thread (the
    // caller unmaps it only after the join below); `job` outlives the join,
    // and only the new thread touches it until then.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_attr_init(&mut attr) != 0 {
            return false;
        }
        let mut thread: libc::pthread_t = 0;
        let made = libc::pthread_attr_setstack(&mut attr, stack.usable_base(), stack.usable_len()) == 0
            && libc::pthread_create(&mut thread, &attr, run_job::<T, F>, (job as *mut Job<F, T>).cast()) == 0;
        libc::pthread_attr_destroy(&mut attr);
        // Not joined, the thread might still use the stack and `job`
        // (pthread_join fails only on misuse).
        if made && libc::pthread_join(thread, core::ptr::null_mut()) != 0 {
            std::process::abort();
        }
        made
    }
}

struct Job<F, T> {
    f: Option<F>,
    out: Option<T>,
}

/// The thread's body. The crate is built with panic = "abort": nothing
/// unwinds out of it.
extern "C" fn run_job<T, F: FnOnce() -> T>(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Job` of `on_own_thread`, which waits in
    // pthread_join and does not touch it meanwhile.
    let job = unsafe { &mut *arg.cast::<Job<F, T>>() };
    // A new thread inherits its creator's name; this one says whose it is.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"libaio_rs-setup".as_ptr()) };
    if let Some(f) = job.f.take() {
        job.out = Some(f());
    }
    core::ptr::null_mut()
}

/// A thread stack with a guard page below it.
struct OwnStack {
    base: *mut libc::c_void,
}

impl OwnStack {
    /// Room for ring creation (a few KiB deep) plus glibc's thread control
    /// block and the process's static TLS, which glibc places at the top of
    /// a stack it is given; pages never touched cost nothing.
    const LEN: usize = 1024 * 1024;
    const GUARD: usize = 4096;

    fn map() -> Option<OwnStack> {
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let stack = OwnStack { base };
        // SAFETY: the lowest page of the mapping made above.
        if unsafe { libc::mprotect(base, Self::GUARD, libc::PROT_NONE) } != 0 {
            return None;
        }
        Some(stack)
    }

    fn usable_base(&self) -> *mut libc::c_void {
        self.base.wrapping_byte_add(Self::GUARD)
    }

    fn usable_len(&self) -> usize {
        Self::LEN - Self::GUARD
    }
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, no longer used by any thread.
        unsafe { libc::munmap(self.base, Self::LEN) };
    }
}

/// Whether io_uring offers what the engine needs, on a ring without a
/// submission thread (dropping one with a thread would wait for the new
/// thread to run; the first context's ring makes the real one, and a
/// refusal there makes the process fall back, see `SQPOLL_REFUSED`).
pub(super) fn probe_once() -> core::result::Result<(), (Errno, String)> {
    let ring = IoUring::builder().build(8).map_err(|e| (io_err(e), "io_uring_setup refused".to_string()))?;
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
    ring.submitter().register_probe(&mut probe).map_err(|e| (io_err(e), "IORING_REGISTER_PROBE failed".to_string()))?;
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
pub(super) fn build_ring(sq_entries: u32, cq_entries: u32) -> Result<IoUring> {
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
            let small =
                IoUring::builder().setup_sqpoll(SQ_THREAD_IDLE_MS).setup_attach_wq(fd).build(1).map_err(io_err)?;
            sqt.anchor = Some(AnchorRing { epoch, ring: small });
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
pub(super) fn forget_ring(fd: i32) {
    let mut sqt = SQ_THREAD.lock().unwrap_or_else(|e| e.into_inner());
    if sqt.first.is_some_and(|(e, f)| f == fd && e == fork::current()) {
        sqt.first = None;
    }
}

pub(super) fn possible_cpus() -> u32 {
    static N: OnceLock<u32> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *N.get_or_init(|| (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }).clamp(1, 1 << 16) as u32)
}

pub(super) fn aio_max_nr() -> u64 {
    static N: OnceLock<u64> = OnceLock::new();
    *N.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/aio-max-nr").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65536)
    })
}

/// ring->nr for io_setup(nr_events) (aio_setup_ring), or the kernel's error.
pub(super) fn aio_ring_nr(nr_events: u32) -> Result<u32> {
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

impl UringEngine {
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
        let slab = SlotTable { slots, free: (0..nslots as u32).rev().collect() };
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
            slot_table: Mutex::new(slab),
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
            stats: ContextStats::for_new_context(),
            handle,
        };
        if !user_mem::write_user::<usize>(ctxp as usize, engine.handle.addr()) {
            return Err(Errno::EFAULT);
        }
        Ok((engine.handle.addr(), engine))
    }
}

impl Drop for UringEngine {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // Before the ring's descriptor closes with the fields.
        forget_ring(self.ring.as_raw_fd());
    }
}
