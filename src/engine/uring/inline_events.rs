//! The events of requests io_submit performed inline, oldest first, until
//! io_getevents reaps them.
//!
//! Any number of submitting threads post; one reaper at a time (the caller
//! holds the engine's reap lock) takes. A bounded ring with a sequence
//! number per cell: a poster claims a position with one atomic add, waits
//! (never, in practice) until the reaper is a lap behind it, writes the
//! event and publishes it; the reaper takes the published run from the head
//! in position order, copies it out in one or two blocks and moves the
//! head. No lock, no allocation after setup.
//!
//! Why it never fills: every event posted holds one of the context's
//! reserved places in flight until it has been reaped, and the queue has at
//! least as many cells as there are places. The wait for room is only the
//! synchronisation that makes the reaper's copy of the previous lap happen
//! before the next write.

use core::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::{EventsOut, IoEvent};

pub struct InlineEvents {
    events: Box<[UnsafeCell<IoEvent>]>,
    /// `pos + 1` once the event at position `pos` is published (a value
    /// from an earlier lap never matches).
    published: Box<[AtomicUsize]>,
    mask: usize,
    /// The next position a poster claims.
    tail: AtomicUsize,
    /// The next position to reap: written only by the reaper.
    head: AtomicUsize,
}

// SAFETY: an event is written only by the poster that claimed its position,
// once the reaper's head (Acquire, against the reaper's Release store) shows
// the previous lap's event there was copied, and read only by the reaper
// once published (Acquire, against the poster's Release store), before the
// head moves past it. No two threads touch one event at a time.
unsafe impl Sync for InlineEvents {}

impl InlineEvents {
    /// Room for at least `places` events.
    pub fn new(places: usize) -> InlineEvents {
        let n = places.max(1).next_power_of_two();
        InlineEvents {
            events: (0..n).map(|_| UnsafeCell::new(IoEvent::default())).collect(),
            // No position is published: position i would need i + 1.
            published: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            mask: n - 1,
            tail: AtomicUsize::new(0),
            head: AtomicUsize::new(0),
        }
    }

    /// Events posted (or being posted) and not reaped: what waiters look
    /// at. An event still being written counts: whoever sees it reaps again
    /// until it is published, a few instructions later. The tail is read
    /// with `order` after the head, so the count is never negative.
    #[inline(always)]
    pub fn pending(&self, order: Ordering) -> usize {
        let head = self.head.load(Ordering::Acquire);
        self.tail.load(order).wrapping_sub(head)
    }

    /// Posts one event. The caller holds a place in flight for it.
    #[inline(always)]
    pub fn post(&self, ev: IoEvent) {
        // SeqCst: against a waiter's announcement of its sleep (it reads
        // the tail after raising the sleeper count; the poster reads that
        // count after this).
        let pos = self.tail.fetch_add(1, Ordering::SeqCst);
        while pos - self.head.load(Ordering::Acquire) > self.mask {
            core::hint::spin_loop(); // the reaper is still copying the last lap
        }
        let i = pos & self.mask;
        // SAFETY: i <= mask < len (both slices have mask + 1 cells). This
        // thread claimed `pos` and the reaper is past the previous lap (see
        // the Sync impl): nobody else touches the event.
        unsafe {
            *self.events.get_unchecked(i).get() = ev;
            self.published.get_unchecked(i).store(pos + 1, Ordering::Release);
        }
    }

    /// Moves up to `k` of the oldest published events to `events[at..]`,
    /// which the caller found writable for `k` events; returns how many.
    /// The caller holds the engine's reap lock.
    pub fn take_into(&self, out: EventsOut, at: usize, k: usize) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        let (published, mask) = (&*self.published, self.mask);
        let mut n = 0;
        // A claimed but unpublished event ends the run: the rest comes later.
        while n < k {
            // SAFETY: the index is masked below the length.
            let p = unsafe { published.get_unchecked((head + n) & mask) };
            if p.load(Ordering::Acquire) != head + n + 1 {
                break;
            }
            n += 1;
        }
        let start = head & self.mask;
        let first = n.min(self.events.len() - start);
        // SAFETY: cells [start, start + first) and [0, n - first) hold the
        // published events at positions [head, head + n), which only the
        // reaper reads until the head moves; UnsafeCell<IoEvent> has
        // IoEvent's layout.
        let (a, b) = unsafe {
            let base = self.events.as_ptr().cast::<IoEvent>();
            (core::slice::from_raw_parts(base.add(start), first), core::slice::from_raw_parts(base, n - first))
        };
        // Cannot fail: the caller checked the room.
        out.write_all(at, a);
        out.write_all(at + first, b);
        self.head.store(head + n, Ordering::Release);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u64) -> IoEvent {
        IoEvent { data: i, obj: i, res: i as i64, res2: 0 }
    }

    #[test]
    fn takes_in_order_across_laps() {
        let q = InlineEvents::new(3); // 4 cells
        let mut out = vec![IoEvent::default(); 4];
        let mut next = 0;
        for round in 0..10u64 {
            for j in 0..3 {
                q.post(ev(round * 3 + j));
            }
            assert_eq!(q.pending(Ordering::SeqCst), 3);
            let n = q.take_into(EventsOut::library_owned(&mut out), 0, 2);
            assert_eq!(n, 2);
            let m = q.take_into(EventsOut::library_owned(&mut out), 2, 2);
            assert_eq!(m, 1);
            for e in &out[..3] {
                assert_eq!(e.data, next);
                next += 1;
            }
            assert_eq!(q.pending(Ordering::SeqCst), 0);
        }
    }

    #[test]
    fn many_posters_lose_and_duplicate_nothing() {
        let q = std::sync::Arc::new(InlineEvents::new(64));
        let per = 20_000u64;
        let places = std::sync::Arc::new(AtomicUsize::new(0));
        let posters: Vec<_> = (0..3u64)
            .map(|t| {
                let (q, places) = (q.clone(), places.clone());
                std::thread::spawn(move || {
                    for i in 0..per {
                        // Hold a place in flight, as io_submit does.
                        while places.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < 64).then_some(n + 1)).is_err() {
                            std::thread::yield_now();
                        }
                        q.post(ev(t * per + i));
                    }
                })
            })
            .collect();
        let mut seen = vec![0u8; 3 * per as usize];
        let mut last = [None::<u64>; 3];
        let mut out = vec![IoEvent::default(); 64];
        let mut total = 0;
        while total < seen.len() {
            let n = q.take_into(EventsOut::library_owned(&mut out), 0, 64);
            for e in &out[..n] {
                seen[e.data as usize] += 1;
                // One poster's events come out in the order it posted them.
                let t = (e.data / per) as usize;
                assert!(last[t].is_none_or(|l| l < e.data));
                last[t] = Some(e.data);
            }
            places.fetch_sub(n, Ordering::AcqRel);
            total += n;
        }
        for p in posters {
            p.join().unwrap();
        }
        assert!(seen.iter().all(|&c| c == 1));
    }
}
