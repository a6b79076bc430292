//! Maps an `io_context_t` handle to the engine that serves it.
//!
//! The handle is untrusted: a context made by a raw syscall, a destroyed one,
//! or garbage is simply not found, and the caller then passes the call to the
//! kernel, which answers as it always did. A lookup takes the read side of a
//! reader-writer lock just long enough to clone an `Arc` — never across a
//! syscall — so a racing `io_destroy` cannot free an engine another thread is
//! using, and a lookup never allocates.
//!
//! Each thread also remembers the last context it used, by a weak reference:
//! a repeated lookup then costs one compare and one reference-count upgrade
//! instead of the lock and the hash probe. A destroyed engine that is still
//! alive (another thread is inside a call on it) answers -EINVAL itself, as
//! the kernel does for the stale handle; once it is freed, the weak
//! reference no longer upgrades and the table decides.
//!
//! io_uring contexts are also published in a small lock-free index (`fast`),
//! looked up with one hash, a load and a per-slot call count instead of the
//! thread cache and the reference count: the hot path of io_submit and
//! io_getevents. io_destroy unpublishes the context first and, once the
//! engine has finished its own teardown, waits for the calls still counted
//! before the engine may be freed. Part of the C boundary: it turns an
//! untrusted handle into a reference.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Once, PoisonError, RwLock, RwLockWriteGuard, Weak};


use crate::engine::Engine;
use crate::engine::uring::UringEngine;
use crate::fork;

type Table = HashMap<usize, Entry, BuildHasherDefault<HandleHasher>>;

struct Entry {
    engine: Arc<dyn Engine>,
    /// Its slot in the fast index, if it has one.
    fast: Option<&'static FastSlot>,
}

/// A std lock, as every process-wide one: see `before_fork`.
static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(|| RwLock::new(Table::default()));

thread_local! {
    /// The table's write guard from the fork's prepare step to its parent
    /// or child step, which run in the same thread.
    static HELD_FOR_FORK: RefCell<Option<RwLockWriteGuard<'static, Table>>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<(usize, Weak<dyn Engine>)>> = const { RefCell::new(None) };
}

/// Finds the engine behind `handle`, if the library made it.
pub fn lookup(handle: usize) -> Option<Arc<dyn Engine>> {
    let hit = LAST.try_with(|last| {
        let last = last.try_borrow().ok()?;
        let (h, weak) = last.as_ref()?;
        if *h == handle { weak.upgrade() } else { None }
    });
    if let Ok(Some(engine)) = hit {
        return Some(engine);
    }
    let engine = TABLE.read().unwrap_or_else(PoisonError::into_inner).get(&handle).map(|e| e.engine.clone())?;
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some((handle, Arc::downgrade(&engine)));
        }
    });
    Some(engine)
}

/// Registers a new context under its handle; an io_uring context is also
/// published in the fast index (if a slot is free near its hash).
pub fn insert(handle: usize, engine: Arc<dyn Engine>, uring: Option<*const UringEngine>) {
    static FORK_HANDLERS: Once = Once::new();
    FORK_HANDLERS.call_once(|| {
        // SAFETY: three extern "C" functions without arguments that live as
        // long as the library; a failure (ENOMEM) leaves fork as it was.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_in_parent), Some(after_fork_in_child)) };
    });
    let mut table = TABLE.write().unwrap_or_else(PoisonError::into_inner);
    let fast = uring.and_then(|e| publish(handle, e));
    table.insert(handle, Entry { engine, fast });
}

/// fork(2): the table's lock and the engines' process-wide locks are taken
/// before the fork and released after it in both processes, so that none
/// stays held in the child by a thread the child does not have (see
/// `uring::fork_guards`). The table first: no path holds it while
/// it waits for an engine's lock, or holds one while it waits for it.
extern "C" fn before_fork() {
    let table = TABLE.write().unwrap_or_else(PoisonError::into_inner);
    let _ = HELD_FOR_FORK.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            *h = Some(table);
        }
    });
    crate::engine::uring::fork_guards::hold_locks_for_fork();
}

extern "C" fn after_fork_in_parent() {
    release_after_fork(false);
}

extern "C" fn after_fork_in_child() {
    release_after_fork(true);
}

fn release_after_fork(child: bool) {
    crate::engine::uring::fork_guards::release_locks_after_fork(child);
    let _ = HELD_FOR_FORK.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            h.take();
        }
    });
}

/// Removes `handle`: later lookups miss; calls already inside the engine
/// finish, io_submit calls found through the fast index before this
/// returns. The engine is freed only when the returned value is dropped,
/// which first waits for the other fast-path calls still counted on its
/// slot: drop it after the engine's own teardown has woken its sleepers.
/// Every open context (for the statistics at exit). Gives up, with none,
/// if the table stays locked for writing: exit must not hang on it.
pub fn open_contexts() -> Vec<(usize, Arc<dyn Engine>)> {
    let mut table = TABLE.try_read();
    for _ in 0..100 {
        if table.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        table = TABLE.try_read();
    }
    let Ok(table) = table else { return Vec::new() };
    table.iter().map(|(h, e)| (*h, e.engine.clone())).collect()
}

pub fn remove(handle: usize) -> Option<Removed> {
    let e = TABLE.write().unwrap_or_else(PoisonError::into_inner).remove(&handle)?;
    if let Some(slot) = e.fast {
        // Busy: neither found nor reused until the calls have drained.
        slot.engine.store(core::ptr::null_mut(), Ordering::SeqCst);
        slot.handle.store(BUSY, Ordering::SeqCst);
        // A submit never waits for the teardown, so this ends. In a forked
        // child, the parent's counts never fall: see Removed's drop.
        if slot.epoch.load(Ordering::Acquire) == fork::current() {
            drain(&slot.submits);
        }
    }
    Some(Removed { engine: Some(e.engine), fast: e.fast })
}

/// Waits until `count` (a slot's calls or submits) is 0.
fn drain(count: &AtomicUsize) {
    while count.load(Ordering::SeqCst) > 0 {
        std::thread::yield_now();
    }
}

pub struct Removed {
    engine: Option<Arc<dyn Engine>>,
    fast: Option<&'static FastSlot>,
}

impl Removed {
    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_deref().expect("engine present until drop")
    }
}

impl Drop for Removed {
    fn drop(&mut self) {
        let Some(slot) = self.fast else { return };
        if slot.epoch.load(Ordering::Acquire) != fork::current() {
            // A forked child removing its parent's context: calls counted
            // in the parent will never end here. Keep the slot busy and the
            // engine's memory for good (bounded by the parent's contexts).
            core::mem::forget(self.engine.take());
            return;
        }
        drain(&slot.calls);
        slot.handle.store(FREE, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// The fast index: open addressing over static slots, written under the
// table's write lock, read without any lock.

const FAST_SLOTS: usize = 1024;
/// Probes at most this many slots from the hash: a context that finds no
/// free slot there simply stays on the table path.
const FAST_PROBES: usize = 8;
/// A slot never used: lookups stop here.
const EMPTY: usize = 0;
/// A slot whose context was removed: reusable, lookups probe past it.
const FREE: usize = 1;
/// A slot being removed: lookups probe past it, nobody reuses it yet.
const BUSY: usize = 2;

pub struct FastSlot {
    handle: AtomicUsize,
    engine: AtomicPtr<UringEngine>,
    /// Calls that found this slot and may be using its engine.
    calls: AtomicUsize,
    /// The same for io_submit calls, which io_destroy lets finish before the
    /// engine's teardown (`remove`): they skip the engine's own count.
    submits: AtomicUsize,
    /// The process epoch the slot was published in.
    epoch: AtomicU64,
}

static SLOTS: [FastSlot; FAST_SLOTS] = [const {
    FastSlot {
        handle: AtomicUsize::new(EMPTY),
        engine: AtomicPtr::new(core::ptr::null_mut()),
        calls: AtomicUsize::new(0),
        submits: AtomicUsize::new(0),
        epoch: AtomicU64::new(0),
    }
}; FAST_SLOTS];

/// The handle's page number: the library's handles are its own mappings
/// (`HandleMem`, a page or a few each), which the kernel places next to one
/// another, so the page number spreads them over the slots without a
/// multiply. Handles that do collide probe on, or stay on the table path.
#[inline(always)]
fn fast_hash(handle: usize) -> usize {
    (handle >> 12) % FAST_SLOTS
}

/// Called under the table's write lock. A free slot is taken only while no
/// call is counted on it: a `find` counts for a moment on any slot whose
/// handle it matches, and a fork at that moment leaves the child a count
/// that never falls, on which the child's io_destroy would wait forever.
/// Such a slot is skipped for good (bounded by the parent's threads).
fn publish(handle: usize, engine: *const UringEngine) -> Option<&'static FastSlot> {
    let start = fast_hash(handle);
    for k in 0..FAST_PROBES {
        let slot = &SLOTS[(start + k) % FAST_SLOTS];
        let h = slot.handle.load(Ordering::Acquire);
        let counted = slot.calls.load(Ordering::SeqCst) + slot.submits.load(Ordering::SeqCst);
        if (h == EMPTY || h == FREE) && counted == 0 {
            slot.epoch.store(fork::current(), Ordering::Release);
            // The engine first: a lookup that sees the handle sees the engine.
            slot.engine.store(engine.cast_mut(), Ordering::SeqCst);
            slot.handle.store(handle, Ordering::SeqCst);
            return Some(slot);
        }
    }
    None
}

/// A counted reference to an io_uring engine found in the fast index.
pub struct CountedEngine {
    /// The slot's `calls` or `submits`, raised for this value.
    count: &'static AtomicUsize,
    engine: *const UringEngine,
}

impl core::ops::Deref for CountedEngine {
    type Target = UringEngine;
    fn deref(&self) -> &UringEngine {
        // SAFETY: the engine is owned by the table's Arc, which `Removed`
        // drops only after this slot's call and submit counts have fallen
        // to zero; this value holds one count from before it read the
        // pointer (the count is raised, then the handle and the engine are
        // re-read, both with SeqCst, against remove's SeqCst stores and
        // drain's SeqCst reads).
        unsafe { &*self.engine }
    }
}

impl Drop for CountedEngine {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Release);
    }
}

/// Finds the io_uring engine behind `handle` in the fast index. Inlined:
/// it is most of what io_submit and io_getevents do before the engine.
#[inline(always)]
pub fn fast(handle: usize) -> Option<CountedEngine> {
    find(handle, |slot| &slot.calls)
}

/// `fast` for io_submit, counted in the slot's `submits`: the engine's own
/// count of submitters is then not needed (`UringEngine::submit_uncounted`).
#[inline(always)]
pub fn fast_submit(handle: usize) -> Option<CountedEngine> {
    find(handle, |slot| &slot.submits)
}

#[inline(always)]
fn find(handle: usize, count_of: impl Fn(&'static FastSlot) -> &'static AtomicUsize) -> Option<CountedEngine> {
    // No filter on the handle: one equal to a marker (EMPTY, FREE, BUSY)
    // can only find a marker slot, whose engine is null: None.
    let start = fast_hash(handle);
    for k in 0..FAST_PROBES {
        let slot = &SLOTS[(start + k) % FAST_SLOTS];
        let h = slot.handle.load(Ordering::Relaxed);
        if h == handle {
            let count = count_of(slot);
            count.fetch_add(1, Ordering::SeqCst);
            let engine = slot.engine.load(Ordering::SeqCst);
            if slot.handle.load(Ordering::SeqCst) == handle && !engine.is_null() {
                return Some(CountedEngine { count, engine });
            }
            count.fetch_sub(1, Ordering::Release);
            return None;
        }
        if h == EMPTY {
            return None;
        }
    }
    None
}

/// Handles are page-aligned addresses: a multiplicative hash of the page
/// number spreads them well and costs two instructions.
#[derive(Default)]
struct HandleHasher(u64);

impl Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = ((n as u64) >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A free slot with a call counted on it, as a fork in the middle of a
    /// `find` leaves it in the child, is not taken: io_destroy would wait
    /// for that count forever.
    #[test]
    fn publish_skips_a_free_slot_with_a_count_left() {
        // A handle no other test uses, hashing to a slot of its own range.
        let handle = 0x5a5_000 + 700 * 4096;
        let first = &SLOTS[fast_hash(handle)];
        first.handle.store(FREE, Ordering::SeqCst);
        first.calls.store(1, Ordering::SeqCst);
        let engine = core::ptr::NonNull::<UringEngine>::dangling().as_ptr();
        let taken = publish(handle, engine).expect("a slot near the hash");
        assert!(!core::ptr::eq(taken, first), "took the slot with a count left");
        assert_eq!(taken.handle.load(Ordering::SeqCst), handle);
        // The same slot once the count is gone.
        taken.handle.store(FREE, Ordering::SeqCst);
        first.calls.store(0, Ordering::SeqCst);
        assert!(core::ptr::eq(publish(handle, engine).expect("a slot"), first));
        first.handle.store(FREE, Ordering::SeqCst);
    }

    #[test]
    fn nearby_pages_hash_apart() {
        let h = |n: usize| {
            let mut s = HandleHasher::default();
            s.write_usize(n);
            s.finish()
        };
        assert_ne!(h(0x7f00_0000_0000), h(0x7f00_0000_1000));
        assert_eq!(h(0x7f00_0000_1000), h(0x7f00_0000_1000));
    }
}
