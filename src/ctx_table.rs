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

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::RwLock;

use crate::engine::Engine;

type Table = HashMap<usize, Arc<dyn Engine>, BuildHasherDefault<HandleHasher>>;

static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(|| RwLock::new(Table::default()));

thread_local! {
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
    let engine = TABLE.read().get(&handle).cloned()?;
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some((handle, Arc::downgrade(&engine)));
        }
    });
    Some(engine)
}

/// Registers a new context under its handle.
pub fn insert(handle: usize, engine: Arc<dyn Engine>) {
    TABLE.write().insert(handle, engine);
}

/// Removes `handle`; later lookups miss, calls already holding the engine finish.
pub fn remove(handle: usize) -> Option<Arc<dyn Engine>> {
    TABLE.write().remove(&handle)
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
