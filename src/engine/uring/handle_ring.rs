//! The handle: library memory laid out as the kernel's `struct aio_ring`,
//! holding the context's completions as the kernel's ring holds them.
//!
//! Programs read completions at the handle without calling into the library
//! (QEMU reads head, tail, nr and the events after its eventfd fires, and
//! commits by writing head), so the ring must be the kernel's in every
//! detail a reader sees: `nr` events after a 32-byte header, head and tail
//! indices in [0, nr), an event written at tail before tail moves past it
//! (release order), consumed by whoever advances head. Posters (io_submit
//! for inline requests, whoever moves the ring's completions here) are
//! serialised by a lock, as the kernel's are by its completion lock;
//! io_getevents consumes under the engine's reap lock and moves head with a
//! compare-and-swap, so that it never undoes a head the application wrote.
//!
//! Why it never overwrites an unread event: every event posted holds one of
//! the context's places in flight (at most nr - 1) until the library has
//! seen head pass it (`take_consumed`).

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::lock::Mutex;

use crate::kernel_abi::{AioRingHeader, IoEvent};
use crate::user_mem::EventsOut;
use crate::errno::{Errno, Result};

const HEADER: usize = core::mem::size_of::<AioRingHeader>();

pub struct HandleRing {
    addr: usize,
    len: usize,
    nr: u32,
    /// Serialises posters: the event at tail, then tail.
    post_lock: Mutex<()>,
    /// Serialises the accounting of consumed events (`take_consumed`) with
    /// io_getevents' head moves: a leaf lock, so that io_submit can account
    /// whatever other lock it holds.
    account: Mutex<()>,
    /// The head the library last accounted for (`take_consumed`), under `account`.
    seen_head: AtomicU32,
    /// Head has moved past `seen_head` other than by io_getevents: the
    /// application consumes events from the ring itself.
    read_by_app: AtomicBool,
    /// A kernel-AIO context's ring has replaced the mapping (handover.rs):
    /// the kernel's io_destroy unmaps it, not this value's drop.
    kernel_mapped: AtomicBool,
    /// The header's magic, for `restore_if_unmapped`.
    magic: u32,
}

impl HandleRing {
    /// Maps a ring of `nr` events with the given magic.
    pub fn new(nr: u32, magic: u32) -> Result<HandleRing> {
        let len = (HEADER + 32 * nr as usize).div_ceil(4096) * 4096;
        let p = map_empty_ring(core::ptr::null_mut(), len, nr, magic, 0).ok_or(Errno(libc::ENOMEM))?;
        Ok(HandleRing {
            addr: p,
            len,
            nr,
            post_lock: Mutex::new(()),
            account: Mutex::new(()),
            seen_head: AtomicU32::new(0),
            read_by_app: AtomicBool::new(false),
            kernel_mapped: AtomicBool::new(false),
            magic,
        })
    }

    /// The mapping's length in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// After a failed move of a kernel ring onto the handle: if the move
    /// unmapped the handle's pages (mremap unmaps its target before it
    /// moves), maps an empty ring there again. Nothing was posted in it.
    /// (The magic comes from the field: the pages may be gone.)
    pub fn restore_if_unmapped(&self) {
        let _ = map_empty_ring(self.addr as *mut libc::c_void, self.len, self.nr, self.magic, libc::MAP_FIXED_NOREPLACE);
    }

    /// Records that a kernel context's ring now lies at the handle.
    pub fn now_kernel_mapped(&self) {
        self.kernel_mapped.store(true, Ordering::Release);
    }

    /// The handle: the ring's address.
    #[inline(always)]
    pub fn addr(&self) -> usize {
        self.addr
    }

    #[inline(always)]
    fn head(&self) -> &AtomicU32 {
        // SAFETY: offset 8 of the mapping (struct aio_ring's head), 4-aligned,
        // live as long as self; the application may write it too, which is
        // why it is only ever accessed atomically here.
        unsafe { &*((self.addr + 8) as *const AtomicU32) }
    }

    #[inline(always)]
    fn tail(&self) -> &AtomicU32 {
        // SAFETY: offset 12 (tail), as for `head`.
        unsafe { &*((self.addr + 12) as *const AtomicU32) }
    }

    #[inline(always)]
    fn event_ptr(&self, i: u32) -> *mut IoEvent {
        (self.addr + HEADER + 32 * i as usize) as *mut IoEvent
    }

    /// Head as the kernel reads it: an application may have written any
    /// value there; the kernel takes it modulo nr.
    #[inline(always)]
    fn head_index(&self) -> u32 {
        self.head().load(Ordering::Acquire) % self.nr
    }

    /// Events in the ring not yet consumed. Tail is read with `order` after
    /// head (SeqCst where a waiter announced its sleep before looking).
    #[inline(always)]
    pub fn pending(&self, order: Ordering) -> usize {
        let head = self.head_index();
        let tail = self.tail().load(order);
        ((tail + self.nr - head) % self.nr) as usize
    }

    /// Posts one event. The caller holds a place in flight for it.
    #[inline(always)]
    pub fn post(&self, ev: IoEvent) {
        let _g = self.post_lock.lock();
        let t = self.tail().load(Ordering::Relaxed);
        // SAFETY: t < nr (only posters write tail, always modulo nr), so the
        // event lies inside the mapping; the slot is free (see the module
        // comment), and posters are serialised by post_lock.
        unsafe { self.event_ptr(t).write_volatile(ev) };
        let next = if t + 1 == self.nr { 0 } else { t + 1 };
        // SeqCst: the event before tail for readers (release), and tail
        // before the poster's look at the engine's sleeper count.
        self.tail().store(next, Ordering::SeqCst);
    }

    /// Moves up to `k` of the oldest events to `out[at..]`, which the caller
    /// found writable for `k` events; returns how many, and how many were
    /// consumed in all since the last accounting (those, and any the
    /// application consumed itself before them). The caller holds
    /// the engine's reap lock (one consumer of the library's at a time).
    pub fn take_into(&self, out: EventsOut, at: usize, k: usize) -> (usize, usize) {
        loop {
            let head = self.head().load(Ordering::Acquire);
            let h = head % self.nr;
            let t = self.tail().load(Ordering::Acquire);
            let avail = (t + self.nr - h) % self.nr;
            let n = (avail as usize).min(k) as u32;
            if n == 0 {
                return (0, 0);
            }
            let first = n.min(self.nr - h);
            // SAFETY: [h, h + first) and [0, n - first) lie inside the
            // ring and hold published events (tail was read with Acquire
            // after their writes); posters do not touch them until head
            // has passed them.
            let (a, b) = unsafe {
                (
                    core::slice::from_raw_parts(self.event_ptr(h), first as usize),
                    core::slice::from_raw_parts(self.event_ptr(0), (n - first) as usize),
                )
            };
            // Cannot fail: the caller checked the room.
            out.write_all(at, a);
            out.write_all(at + first as usize, b);
            let next = (h + n) % self.nr;
            let _a = self.account.lock();
            // The application may have consumed some meanwhile: then the
            // copy above is stale, and it is taken again from its head.
            if self.head().compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                let by_app = self.account_to(h, t);
                self.seen_head.store(next, Ordering::Relaxed);
                return (n as usize, (n + by_app) as usize);
            }
        }
    }

    /// How many events were consumed (by io_getevents or by the
    /// application advancing head itself) since the last call. A head the
    /// application set past tail counts no more than the events there were.
    pub fn take_consumed(&self) -> usize {
        // io_getevents accounts for its own takes: with head where it was
        // last seen, nothing happened, and no lock is needed to know it.
        if self.head_index() == self.seen_head.load(Ordering::Relaxed) {
            return 0;
        }
        let _a = self.account.lock();
        let tail = self.tail().load(Ordering::Acquire);
        let d = self.account_to(self.head_index(), tail);
        self.seen_head.store((self.seen_head.load(Ordering::Relaxed) + d) % self.nr, Ordering::Relaxed);
        d as usize
    }

    /// Events between the last accounted head and `head`, which only the
    /// application can have consumed (no more than there were up to
    /// `tail`); notes that it reads the ring. Under `account`.
    fn account_to(&self, head: u32, tail: u32) -> u32 {
        let seen = self.seen_head.load(Ordering::Relaxed);
        let d = ((head + self.nr - seen) % self.nr).min((tail + self.nr - seen) % self.nr);
        if d > 0 {
            self.read_by_app.store(true, Ordering::Relaxed);
        }
        d
    }

    /// Whether the application has been seen consuming events itself.
    pub fn read_by_application(&self) -> bool {
        self.read_by_app.load(Ordering::Relaxed)
    }
}

/// An anonymous mapping of `len` bytes holding an empty ring's header, at
/// `at` if `extra` says MAP_FIXED_NOREPLACE; None if it could not be made there.
fn map_empty_ring(at: *mut libc::c_void, len: usize, nr: u32, magic: u32, extra: i32) -> Option<usize> {
    // SAFETY: an anonymous mapping that replaces nothing (no MAP_FIXED;
    // MAP_FIXED_NOREPLACE fails where anything is mapped).
    let p = unsafe {
        libc::mmap(at, len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra, -1, 0)
    };
    if p == libc::MAP_FAILED || (!at.is_null() && p != at) {
        return None;
    }
    let hdr = AioRingHeader {
        id: 0,
        nr,
        head: 0,
        tail: 0,
        magic,
        compat_features: 1,
        incompat_features: 0,
        header_length: HEADER as u32,
    };
    // SAFETY: the mapping is page-aligned, writable and at least one page long.
    unsafe { (p as *mut AioRingHeader).write(hdr) };
    Some(p as usize)
}

impl Drop for HandleRing {
    fn drop(&mut self) {
        if self.kernel_mapped.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: unmapping exactly the mapping made in `new`, which nothing
        // else references once the engine is dropped.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u64) -> IoEvent {
        IoEvent { data: i, obj: i, res: i as i64, res2: 0 }
    }

    #[test]
    fn takes_in_order_across_laps_and_counts_consumption() {
        let r = HandleRing::new(4, 0).unwrap();
        let mut out = vec![IoEvent::default(); 4];
        let mut next = 0;
        for round in 0..10u64 {
            for j in 0..3 {
                r.post(ev(round * 3 + j));
            }
            assert_eq!(r.pending(Ordering::SeqCst), 3);
            assert_eq!(r.take_into(EventsOut::library_owned(&mut out), 0, 2), (2, 2));
            assert_eq!(r.take_into(EventsOut::library_owned(&mut out), 2, 2), (1, 1));
            for e in &out[..3] {
                assert_eq!(e.data, next);
                next += 1;
            }
            assert_eq!(r.pending(Ordering::SeqCst), 0);
            // Accounted by the takes themselves: nothing left, no reader.
            assert_eq!(r.take_consumed(), 0);
            assert!(!r.read_by_application());
        }
    }

    #[test]
    fn a_head_written_by_the_application_counts_as_consumed() {
        let r = HandleRing::new(8, 0).unwrap();
        for j in 0..5 {
            r.post(ev(j));
        }
        // The application reads two events and commits, as QEMU does.
        r.head().store(2, Ordering::Release);
        assert!(!r.read_by_application());
        assert_eq!(r.take_consumed(), 2);
        assert!(r.read_by_application());
        let mut out = vec![IoEvent::default(); 8];
        assert_eq!(r.take_into(EventsOut::library_owned(&mut out), 0, 8), (3, 3));
        assert_eq!(out[0].data, 2);
        assert_eq!(r.take_consumed(), 0);
        // The application consumes one more, then io_getevents takes the
        // rest: the take accounts for both.
        r.post(ev(5));
        r.post(ev(6));
        r.head().store(6, Ordering::Release);
        assert_eq!(r.take_into(EventsOut::library_owned(&mut out), 0, 8), (1, 2));
        assert_eq!(out[0].data, 6);
        assert_eq!(r.take_consumed(), 0);
        // A head past tail counts only the events there were.
        r.post(ev(9));
        r.head().store(2, Ordering::Release);
        assert_eq!(r.take_consumed(), 1);
    }
}
