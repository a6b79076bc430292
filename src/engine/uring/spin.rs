//! Whether io_getevents polls the kernel-AIO route's completion ring
//! before it sleeps (see `UringEngine::spin_until_ready`): a per-context
//! backoff for devices slower than the poll, and a process-wide cap on the
//! threads polling at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// When io_getevents should poll before it sleeps: always, until
/// SPIN_MISSES_TOLERATED polls in a row have ended empty; then it sleeps at
/// once for the next 2^k waits (k = misses beyond that, at most
/// SPIN_BACKOFF_MAX), polls once more, and so on. A hit starts over. So a
/// device slower than the poll loses at most one poll per 2^10 waits.
#[derive(Default)]
pub(super) struct SpinPolicy {
    misses: AtomicU32,
    skip: AtomicU32,
}

const SPIN_MISSES_TOLERATED: u32 = 4;
const SPIN_BACKOFF_MAX: u32 = 10;

impl SpinPolicy {
    /// Whether this wait polls (a skipped wait counts down the backoff).
    /// Racy between threads by design: a lost update only moves one poll.
    pub(super) fn should_poll(&self) -> bool {
        let skip = self.skip.load(Ordering::Relaxed);
        if skip > 0 {
            self.skip.store(skip - 1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The outcome of a poll that ran its full length (`hit`: an event came).
    pub(super) fn record(&self, hit: bool) {
        if hit {
            self.misses.store(0, Ordering::Relaxed);
            return;
        }
        let misses = self.misses.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if misses >= SPIN_MISSES_TOLERATED {
            let k = (misses - SPIN_MISSES_TOLERATED).min(SPIN_BACKOFF_MAX);
            self.skip.store(1 << k, Ordering::Relaxed);
        }
    }
}

/// Threads of the process polling in io_getevents right now, at most one
/// fewer than the CPUs it may run on (none on a single CPU, where a poller
/// would only hold up the work that completes the I/O).
static POLLERS: AtomicUsize = AtomicUsize::new(0);

pub(super) struct PollerSlot;

impl PollerSlot {
    pub(super) fn take() -> Option<PollerSlot> {
        static MAX: OnceLock<usize> = OnceLock::new();
        let max = *MAX.get_or_init(|| {
            std::thread::available_parallelism().map_or(0, |n| n.get() - 1)
        });
        if POLLERS.fetch_add(1, Ordering::AcqRel) >= max {
            POLLERS.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(PollerSlot)
    }
}

impl Drop for PollerSlot {
    fn drop(&mut self) {
        POLLERS.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls a policy over `outcomes` (one per wait that polls) and returns
    /// how many waits slept at once in between.
    fn skipped_between(p: &SpinPolicy, outcomes: &[bool]) -> Vec<u32> {
        let mut out = Vec::new();
        for &hit in outcomes {
            let mut skipped = 0;
            while !p.should_poll() {
                skipped += 1;
            }
            out.push(skipped);
            p.record(hit);
        }
        out
    }

    #[test]
    fn spin_policy_backs_off_on_misses_and_recovers_on_a_hit() {
        let p = SpinPolicy::default();
        // Hits never back off.
        assert_eq!(skipped_between(&p, &[true; 5]), vec![0; 5]);
        // Four misses are tolerated, then 1, 2, 4, ... waits sleep at once.
        assert_eq!(skipped_between(&p, &[false; 7]), vec![0, 0, 0, 0, 1, 2, 4]);
        // The backoff is capped at 2^10.
        let p = SpinPolicy::default();
        let s = skipped_between(&p, &[false; 20]);
        assert_eq!(*s.last().unwrap(), 1 << SPIN_BACKOFF_MAX);
        // A hit starts over.
        let p = SpinPolicy::default();
        skipped_between(&p, &[false; 6]);
        let s = skipped_between(&p, &[true, false, false, false, false, false]);
        assert_eq!(s, vec![4, 0, 0, 0, 0, 1]);
    }
}
