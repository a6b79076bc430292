//! LIBAIO_RS_STATS: what each context did, reported at its io_destroy and
//! at process exit.
//!
//! A context has a `ContextStats` only when the variable is set; the
//! engines' hooks are `if let Some(s) = &self.stats`, one load and one
//! branch when it is not. Counted at io_submit: requests and the bytes they
//! ask for, by route; the error io_submit returned. Counted where the
//! library makes or reads an event: events with an error, by errno. Also
//! the most requests in flight after a request was accepted (io_uring
//! engine), and how long io_submit waited for the submission thread to
//! take ring requests.
//!
//! Knows the kernel's types and nothing of the engines.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::config::StatsSink;

/// Where a request went (the io_uring engine's routes; the kernel engine's
/// requests are all `KernelAio`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsRoute {
    Inline = 0,
    PageCache = 1,
    Ring = 2,
    KernelAio = 3,
}

const ROUTE_NAMES: [&str; 4] = ["inline", "page cache", "ring", "kernel AIO"];
const ROUTE_KEYS: [&str; 4] = ["inline", "page_cache", "ring", "kernel_aio"];
/// errno values above this are counted together as "other".
const ERRNO_MAX: usize = 134;

/// The sink, if LIBAIO_RS_STATS is set (config.rs reads it).
pub fn sink() -> Option<&'static StatsSink> {
    crate::config::get().stats.as_ref()
}

pub struct ContextStats {
    requests: [AtomicU64; 4],
    bytes: [AtomicU64; 4],
    submit_errors: [AtomicU64; ERRNO_MAX + 1],
    event_errors: [AtomicU64; ERRNO_MAX + 1],
    max_in_flight: AtomicU64,
    ring_waits: AtomicU64,
    ring_wait_ns: AtomicU64,
    ring_wait_max_ns: AtomicU64,
}

impl ContextStats {
    /// A context's counters if LIBAIO_RS_STATS is set, else None; and the
    /// exit report registered with the first of them.
    pub fn for_new_context() -> Option<Box<ContextStats>> {
        sink()?;
        register_exit_report();
        Some(Box::new(ContextStats::zero()))
    }

    fn zero() -> ContextStats {
        ContextStats {
            requests: Default::default(),
            bytes: Default::default(),
            submit_errors: [const { AtomicU64::new(0) }; ERRNO_MAX + 1],
            event_errors: [const { AtomicU64::new(0) }; ERRNO_MAX + 1],
            max_in_flight: AtomicU64::new(0),
            ring_waits: AtomicU64::new(0),
            ring_wait_ns: AtomicU64::new(0),
            ring_wait_max_ns: AtomicU64::new(0),
        }
    }

    /// One request accepted on `route`, asking for `bytes`.
    #[cold]
    pub fn request(&self, route: StatsRoute, bytes: u64) {
        self.requests[route as usize].fetch_add(1, Ordering::Relaxed);
        self.bytes[route as usize].fetch_add(bytes, Ordering::Relaxed);
    }

    /// io_submit's result: an error is counted by its errno.
    #[cold]
    pub fn submitted(&self, ret: i64) {
        if ret < 0 {
            self.submit_errors[errno_slot(-ret)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The requests in flight after a request was accepted.
    #[cold]
    pub fn in_flight(&self, n: usize) {
        self.max_in_flight.fetch_max(n as u64, Ordering::Relaxed);
    }

    /// An event's result (`res`): an error is counted by its errno.
    #[inline]
    pub fn event(&self, res: i64) {
        if res < 0 {
            self.event_errors[errno_slot(-res)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// io_submit waited `ns` for the submission thread to take its entries.
    #[cold]
    pub fn ring_wait(&self, ns: u64) {
        self.ring_waits.fetch_add(1, Ordering::Relaxed);
        self.ring_wait_ns.fetch_add(ns, Ordering::Relaxed);
        self.ring_wait_max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    fn did_io(&self) -> bool {
        self.requests.iter().any(|r| r.load(Ordering::Relaxed) > 0)
            || self.submit_errors.iter().any(|r| r.load(Ordering::Relaxed) > 0)
    }

    /// The report of one context, as text (a block of lines) or as one JSON line.
    pub fn render(&self, handle: usize, engine: &str, json: bool) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let req: Vec<u64> = self.requests.iter().map(load).collect();
        let bytes: Vec<u64> = self.bytes.iter().map(load).collect();
        let errors = |table: &[AtomicU64]| -> Vec<(usize, u64)> {
            table.iter().enumerate().map(|(e, n)| (e, load(n))).filter(|&(_, n)| n > 0).collect()
        };
        let (submit_errors, event_errors) = (errors(&self.submit_errors), errors(&self.event_errors));
        let (waits, wait_ns, wait_max) =
            (load(&self.ring_waits), load(&self.ring_wait_ns), load(&self.ring_wait_max_ns));
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let mut s = String::new();
        if json {
            let _ = write!(s, "{{\"pid\":{pid},\"context\":\"{handle:#x}\",\"engine\":\"{engine}\",\"routes\":{{");
            for (i, key) in ROUTE_KEYS.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                let _ = write!(s, "{sep}\"{key}\":{{\"requests\":{},\"bytes\":{}}}", req[i], bytes[i]);
            }
            let table = |errs: &[(usize, u64)]| -> String {
                let items: Vec<String> = errs.iter().map(|(e, n)| format!("\"{}\":{n}", errno_name(*e))).collect();
                format!("{{{}}}", items.join(","))
            };
            let _ = write!(
                s,
                "}},\"submit_errors\":{},\"event_errors\":{},\"max_in_flight\":{},\"ring_waits\":{waits},\"ring_wait_ns\":{wait_ns},\"ring_wait_max_ns\":{wait_max}}}",
                table(&submit_errors),
                table(&event_errors),
                load(&self.max_in_flight),
            );
            s.push('\n');
            return s;
        }
        let total: u64 = req.iter().sum();
        let _ = writeln!(
            s,
            "libaio_rs: context {handle:#x} (pid {pid}), engine {engine}: {total} requests, {}",
            human_bytes(bytes.iter().sum())
        );
        for (i, name) in ROUTE_NAMES.iter().enumerate() {
            if req[i] > 0 {
                let _ = writeln!(s, "libaio_rs:   {name:<11} {:>10} requests {:>12}", req[i], human_bytes(bytes[i]));
            }
        }
        let list = |errs: &[(usize, u64)]| -> String {
            errs.iter().map(|(e, n)| format!("{} {n}", errno_name(*e))).collect::<Vec<_>>().join(", ")
        };
        if !submit_errors.is_empty() || !event_errors.is_empty() {
            let none = || "none".to_string();
            let sub = if submit_errors.is_empty() { none() } else { list(&submit_errors) };
            let ev = if event_errors.is_empty() { none() } else { list(&event_errors) };
            let _ = writeln!(s, "libaio_rs:   errors      io_submit: {sub}; in events: {ev}");
        }
        let _ = write!(s, "libaio_rs:   most in flight {}", load(&self.max_in_flight));
        if waits > 0 {
            let _ = write!(
                s,
                "; io_submit waited for the submission thread {waits} times, {} µs in all, at most {} µs",
                wait_ns / 1000,
                wait_max / 1000
            );
        }
        s.push('\n');
        s
    }
}

/// Reports one context (at its io_destroy, or at exit), if it did I/O.
pub fn report(handle: usize, engine: &str, stats: &ContextStats) {
    let Some(sink) = sink() else { return };
    if !stats.did_io() {
        return;
    }
    crate::errno::keep_errno(|| match sink {
        StatsSink::Stderr => write_all(2, stats.render(handle, engine, false).as_bytes()),
        StatsSink::JsonLines(path) => {
            let line = stats.render(handle, engine, true);
            // One append per line: lines of several processes do not mix.
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
            if let Err(e) = written {
                crate::config::log_line(&format!("LIBAIO_RS_STATS: cannot append to {path}: {e}"));
            }
        }
    });
}

fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: the pointer and length describe `buf`.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        buf = &buf[n as usize..];
    }
}

fn errno_slot(e: i64) -> usize {
    if (1..=ERRNO_MAX as i64).contains(&e) { e as usize } else { 0 }
}

fn errno_name(e: usize) -> String {
    let name = match e as i32 {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EPIPE => "EPIPE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECANCELED => "ECANCELED",
        libc::EDQUOT => "EDQUOT",
        libc::EINPROGRESS => "EINPROGRESS",
        0 => "other",
        _ => return format!("E{e}"),
    };
    name.to_string()
}

fn human_bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b} B"),
        1024..1_048_576 => format!("{:.1} KiB", b as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b as f64 / 1_048_576.0),
        _ => format!("{:.2} GiB", b as f64 / 1_073_741_824.0),
    }
}

/// The contexts still open at exit, reported by the atexit handler: set
/// by whoever holds the context table (abi.rs) at the first io_setup.
static EXIT_REPORT: OnceLock<fn()> = OnceLock::new();
static REGISTERED: Mutex<bool> = Mutex::new(false);

/// Sets what the exit report does (abi.rs: report every open context).
pub fn set_exit_report(f: fn()) {
    let _ = EXIT_REPORT.set(f);
}

fn register_exit_report() {
    let mut done = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        *done = true;
        // SAFETY: registering a plain extern "C" function with no arguments.
        unsafe { libc::atexit(at_exit) };
    }
}

extern "C" fn at_exit() {
    if let Some(f) = EXIT_REPORT.get() {
        f();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> ContextStats {
        ContextStats::zero()
    }

    #[test]
    fn counts_render_as_text_and_json() {
        let s = blank();
        assert!(!s.did_io());
        s.request(StatsRoute::Ring, 4096);
        s.request(StatsRoute::Ring, 4096);
        s.request(StatsRoute::Inline, 512);
        s.submitted(-i64::from(libc::EAGAIN));
        s.submitted(2);
        s.in_flight(3);
        s.in_flight(7);
        s.event(-i64::from(libc::EIO));
        s.event(10);
        s.ring_wait(3000);
        s.ring_wait(9000);
        assert!(s.did_io());
        let text = s.render(0x1000, "uring", false);
        assert!(text.contains("engine uring: 3 requests, 8.5 KiB"), "{text}");
        assert!(text.contains("ring                 2 requests      8.0 KiB"), "{text}");
        assert!(text.contains("io_submit: EAGAIN 1; in events: EIO 1"), "{text}");
        assert!(
            text.contains(
                "most in flight 7; io_submit waited for the submission thread 2 times, 12 µs in all, at most 9 µs"
            ),
            "{text}"
        );
        assert!(!text.contains("kernel AIO"), "{text}");
        let json = s.render(0x1000, "uring", true);
        assert!(json.contains("\"ring\":{\"requests\":2,\"bytes\":8192}"), "{json}");
        assert!(json.contains("\"submit_errors\":{\"EAGAIN\":1},\"event_errors\":{\"EIO\":1}"), "{json}");
        assert!(
            json.contains("\"max_in_flight\":7,\"ring_waits\":2,\"ring_wait_ns\":12000,\"ring_wait_max_ns\":9000}"),
            "{json}"
        );
        assert!(json.ends_with("}\n"));
    }

    #[test]
    fn odd_errnos_are_counted() {
        let s = blank();
        s.event(-10_000);
        s.event(-133);
        let json = s.render(1, "kernel", true);
        assert!(json.contains("\"event_errors\":{\"other\":1,\"E133\":1}"), "{json}");
    }
}
