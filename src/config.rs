//! Every `LIBAIO_RS_*` variable, parsed once.
//!
//! A bad value warns once on stderr and the default is used; the host program
//! is never aborted. A setuid/setgid program (AT_SECURE) ignores them all.

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// io_uring when the kernel offers what the engine needs, kernel AIO otherwise.
    Auto,
    /// io_uring only: io_setup fails with io_uring's error instead of falling back.
    Uring,
    /// Kernel AIO only: every call goes to the io_* syscalls.
    Kernel,
}

/// Where LIBAIO_RS_STATS sends the statistics (stats.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsSink {
    /// `1`: a block of lines per context on stderr.
    Stderr,
    /// A path: one JSON line per context, appended.
    JsonLines(String),
}

#[derive(Debug)]
pub struct Config {
    pub engine: EngineChoice,
    /// True when the engine was chosen by LIBAIO_RS_ENGINE rather than defaulted.
    pub engine_from_env: bool,
    pub log: bool,
    /// How long io_getevents may poll a context's kernel-AIO completions
    /// before it sleeps (LIBAIO_RS_SPIN_US), in nanoseconds; 0 never polls.
    pub spin_ns: u64,
    /// LIBAIO_RS_STATS: None (unset, empty or 0) counts nothing.
    pub stats: Option<StatsSink>,
}

/// The default poll before sleeping: none. A poll of 50 µs (long enough
/// for an O_DIRECT read of this machine's disk, 25-45 µs) made depth-1
/// reads 1.1-1.25x faster for 1.6x the CPU per read (R2); kernel AIO
/// sleeps at once, and so does the library unless asked
/// (`UringEngine::spin_until_ready`).
pub const DEFAULT_SPIN_US: u64 = 0;

pub fn get() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(Config::from_env)
}

/// Writes one diagnostic line to stderr with a single write(2), prefixed
/// with the library's name. Used for LIBAIO_RS_LOG and for bad values.
pub fn log_line(msg: &str) {
    let line = format!("libaio_rs: {msg}\n");
    // SAFETY: the pointer and length describe `line`, which lives across the call.
    let _ = unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

impl Config {
    fn from_env() -> Config {
        let mut cfg = Config {
            engine: EngineChoice::Auto,
            engine_from_env: false,
            log: false,
            spin_ns: DEFAULT_SPIN_US * 1000,
            stats: None,
        };
        // SAFETY: getauxval has no preconditions.
        if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
            return cfg;
        }
        if let Some(v) = var("LIBAIO_RS_ENGINE") {
            match v.as_str() {
                "auto" => cfg.engine_from_env = true,
                "uring" => (cfg.engine, cfg.engine_from_env) = (EngineChoice::Uring, true),
                "kernel" => (cfg.engine, cfg.engine_from_env) = (EngineChoice::Kernel, true),
                _ => warn_bad("LIBAIO_RS_ENGINE", &v, "auto|uring|kernel", "auto"),
            }
        }
        if let Some(v) = var("LIBAIO_RS_LOG") {
            match v.as_str() {
                "0" | "" => {}
                "1" => cfg.log = true,
                _ => warn_bad("LIBAIO_RS_LOG", &v, "0|1", "0"),
            }
        }
        if let Some(v) = var("LIBAIO_RS_SPIN_US") {
            match v.parse::<u64>() {
                Ok(us) if us <= 1_000_000 => cfg.spin_ns = us * 1000,
                _ => warn_bad("LIBAIO_RS_SPIN_US", &v, "0..1000000", &DEFAULT_SPIN_US.to_string()),
            }
        }
        if let Some(v) = var("LIBAIO_RS_STATS") {
            cfg.stats = match v.as_str() {
                "" | "0" => None,
                "1" => Some(StatsSink::Stderr),
                path => Some(StatsSink::JsonLines(path.to_string())),
            };
        }
        cfg
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn warn_bad(name: &str, value: &str, accepted: &str, default: &str) {
    log_line(&format!("ignoring {name}={value:?} (accepted: {accepted}); using {default}"));
}
