//! The engine's per-context lock: a futex word and nothing else (std's
//! algorithm, without its poisoning: the crate aborts on panic).
//!
//! Why not parking_lot's: it parks its waiters in a table shared by the
//! whole process, whose bucket locks another thread may hold at the moment
//! of fork(2). The child's copy of that table keeps them held, and the
//! child's first contended lock whose address falls in such a bucket would
//! wait forever; kernel AIO has no such state, and a child can always use a
//! context of its own. std's mutex has no table either, but checks for a
//! panic in progress at every lock and unlock: 36 more instructions per I/O
//! on the inline path (scripts/insn-count: 202 -> 238).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and a thread may be waiting in futex_wait.
const CONTENDED: u32 = 2;

#[derive(Default)]
pub(super) struct Mutex<T> {
    state: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists
// at a time (the state word's LOCKED/CONTENDED), as for std's Mutex.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: as above; moving the lock moves the value.
unsafe impl<T: Send> Send for Mutex<T> {}

pub(super) struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    pub(super) const fn new(value: T) -> Mutex<T> {
        Mutex { state: AtomicU32::new(UNLOCKED), value: UnsafeCell::new(value) }
    }

    #[inline(always)]
    pub(super) fn lock(&self) -> MutexGuard<'_, T> {
        if self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
        MutexGuard { lock: self }
    }

    #[inline(always)]
    pub(super) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard { lock: self })
    }

    pub(super) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    #[cold]
    fn lock_contended(&self) {
        // A short spin first: the holders here keep it for a few hundred
        // instructions at most.
        let mut state = self.spin();
        if state == UNLOCKED {
            match self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return,
                Err(s) => state = s,
            }
        }
        loop {
            // Marked contended, so the holder's unlock wakes a sleeper;
            // whoever takes it this way keeps the mark (there may be more).
            if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return;
            }
            futex(&self.state, libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, CONTENDED);
            state = self.spin();
        }
    }

    fn spin(&self) -> u32 {
        let mut spins = 100;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state != LOCKED || spins == 0 {
                return state;
            }
            core::hint::spin_loop();
            spins -= 1;
        }
    }

    #[inline(always)]
    fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex(&self.state, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }
}

/// FUTEX_WAIT (while the word is `val`) or FUTEX_WAKE (`val` threads) on
/// `word`; spurious returns and EINTR are the callers' loops' business.
#[cold]
fn futex(word: &AtomicU32, op: i32, val: u32) {
    // SAFETY: `word` is a live, aligned u32 for the whole call; no timeout
    // and no second address are passed.
    crate::errno::keep_errno(|| unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), op, val, core::ptr::null::<libc::timespec>())
    });
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock: no other reference to the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.lock.unlock();
    }
}
