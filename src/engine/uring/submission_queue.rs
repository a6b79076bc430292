//! The submission queue: pushing a request's entries (a linked pair in one
//! batch of the submission thread), publishing them and waking the thread,
//! and the wait until it has taken them (`wait_taken`: kernel AIO holds the
//! file from inside io_submit). Everything here runs under submit_lock or
//! takes it; it decides nothing about where a request goes.

use std::sync::atomic::Ordering;

use io_uring::{opcode, squeue};
use super::lock::MutexGuard;

use super::wait::now_ns;
use super::UringEngine;
use super::slots::UD_WAKE;

/// The most entries of one ring a submission thread serving several rings
/// takes per pass (the kernel's IORING_SQPOLL_CAP_ENTRIES_VALUE).
pub(super) const SQPOLL_BATCH: usize = 8;

/// Looks at the submission queue `wait_taken` makes before it yields.
pub(super) const TAKEN_SPINS: u32 = 200;

impl UringEngine {
    /// Pushes the entries of one request together (a linked pair must reach
    /// the submission thread in one publication of the tail), waiting for
    /// the submission thread to make room.
    pub(super) fn push(&self, entries: &[squeue::Entry]) {
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
    pub(super) fn room_for_link(&self, n: usize) {
        while !self.sq_holds_at_most(SQPOLL_BATCH - n) {
            std::thread::yield_now();
        }
    }

    /// Whether at most `max` entries wait in the submission queue; if not,
    /// wakes the submission thread should it sleep. Called under submit_lock.
    pub(super) fn sq_holds_at_most(&self, max: usize) -> bool {
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
    pub(super) fn count_pushed(&self, n: u32) {
        // Under submit_lock: a plain read-modify-write is enough.
        self.pushed.store(self.pushed.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Ends a batch of pushes: publishes them, releases submit_lock, and
    /// makes sure a thread asleep on the kernel-AIO route will hear of
    /// their completions. Returns where the batch's last entry stands (see
    /// `wait_taken`).
    pub(super) fn publish(&self, guard: MutexGuard<'_, ()>) -> u32 {
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
    pub(super) fn wait_taken(&self, upto: u32) {
        match &self.stats {
            None => self.wait_taken_untimed(upto),
            Some(s) => {
                let start = now_ns();
                self.wait_taken_untimed(upto);
                s.ring_wait(now_ns().saturating_sub(start));
            }
        }
    }

    #[inline(always)]
    fn wait_taken_untimed(&self, upto: u32) {
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
    pub(super) fn unlock_published(&self, guard: MutexGuard<'_, ()>) -> u32 {
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
    pub(super) fn push_one_and_publish(&self, guard: MutexGuard<'_, ()>, entry: &squeue::Entry) -> u32 {
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
    pub(super) fn arm_bridge(&self) {
        if let Some(Some(aio)) = self.aio.get() {
            aio.arm_bridge();
        }
    }

    /// Publishes the pushed entries and wakes the submission thread if it sleeps.
    pub(super) fn kick(&self) {
        // SAFETY: under submit_lock (held by the caller).
        self.kick_with(unsafe { self.ring.submission_shared() });
    }

    /// `kick` with a view of the queue the caller already holds.
    #[inline(always)]
    pub(super) fn kick_with(&self, mut sq: io_uring::squeue::SubmissionQueue<'_>) {
        sq.sync();
        std::sync::atomic::fence(Ordering::SeqCst);
        if sq.need_wakeup() {
            drop(sq);
            let _ = self.ring.submitter().submit();
        }
    }

    /// The kernel's "completions overflowed" flag, read under submit_lock:
    /// the io-uring crate's queue snapshots store their cached tail (head)
    /// back when dropped, so a snapshot taken outside its lock can undo
    /// another thread's push (pop). That once lost requests under load.
    pub(super) fn cq_overflowed(&self) -> bool {
        let _g = self.submit_lock.lock();
        // SAFETY: the submission queue is only touched under submit_lock.
        unsafe { self.ring.submission_shared() }.cq_overflow()
    }

    /// Waits until the submission thread has taken every entry queued so far.
    pub(super) fn wait_consumed(&self) {
        let upto = {
            let _g = self.submit_lock.lock();
            self.pushed.load(Ordering::Relaxed)
        };
        self.wait_taken(upto);
    }

    pub(super) fn wake_waiters(&self) {
        let _g = self.submit_lock.lock();
        self.push(&[opcode::Nop::new().build().user_data(UD_WAKE)]);
        self.kick();
    }
}

/// The queue entries of one request: the I/O, or the I/O hard-linked to its
/// eventfd write. Kept on the stack: io_submit allocates nothing.
pub(super) enum RequestEntries {
    None,
    One([squeue::Entry; 1]),
    Linked([squeue::Entry; 2]),
}

impl RequestEntries {
    pub(super) fn as_slice(&self) -> &[squeue::Entry] {
        match self {
            RequestEntries::None => &[],
            RequestEntries::One(e) => e,
            RequestEntries::Linked(e) => e,
        }
    }
}
