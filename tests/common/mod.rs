//! Helpers shared by the runners that build C programs against the system
//! libaio and against libaio_rs and compare their runs (`c_suite`, `fuzz`).

#![allow(dead_code)] // each runner uses its own subset

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const CFLAGS: &[&str] =
    &["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-D_GNU_SOURCE"];
pub const ENGINES: &[&str] = &["kernel", "uring", "auto"];

pub struct Outcome {
    /// Exit code; a signal is reported as its negated number, a timeout as -1000.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The libaio_rs.so built by this `cargo test` invocation (same profile).
pub fn find_library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let lib = profile_dir.join("libaio_rs.so");
    assert!(lib.exists(), "{} is missing: build the library first", lib.display());
    lib
}

/// A work directory of this run's own, `target/tmp/<name>/<pid>`, so that
/// runs at the same time (two suites, a suite and a single test) never
/// delete or overwrite each other's binaries, library or scratch files.
/// Directories left by runs that have ended are removed first.
pub fn run_workdir(name: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if let Ok(entries) = fs::read_dir(&base) {
        for e in entries.flatten() {
            let pid = e.file_name().to_string_lossy().parse::<u32>();
            if pid.is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let work = base.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("create the work directory");
    work
}

/// Creates `work/lib` with copies of the library under both names: the
/// linked binaries need libaio_rs.so to link and libaio_rs.so.1 (the
/// SONAME) to run. Returns the directory.
pub fn prepare_libdir(work: &Path) -> PathBuf {
    let lib = find_library();
    let libdir = work.join("lib");
    fs::create_dir_all(&libdir).expect("create lib dir");
    fs::copy(&lib, libdir.join("libaio_rs.so")).expect("copy library");
    fs::copy(&lib, libdir.join("libaio_rs.so.1")).expect("copy library");
    assert!(
        Path::new("/usr/include/libaio.h").exists(),
        "the oracle needs the system libaio: apt-get install libaio-dev"
    );
    libdir
}

/// LIBAIO_RS_TEST_ENGINES (comma-separated), or all engines.
pub fn engines() -> Vec<String> {
    match std::env::var("LIBAIO_RS_TEST_ENGINES") {
        Ok(v) if !v.is_empty() => v.split(',').map(str::to_owned).collect(),
        _ => ENGINES.iter().map(|s| s.to_string()).collect(),
    }
}

/// Builds `src` twice: the oracle against the system header and libaio, the
/// linked binary against include/libaio.h and libaio_rs in `libdir`.
pub fn compile_both(
    root: &Path,
    libdir: &Path,
    src: &Path,
    oracle_bin: &Path,
    linked_bin: &Path,
) -> Result<(), String> {
    compile(src, oracle_bin, &[], &["-laio"])?;
    let inc = format!("-I{}", root.join("include").display());
    let ldir = format!("-L{}", libdir.display());
    let rpath = format!("-Wl,-rpath,{}", libdir.display());
    compile(src, linked_bin, &[&inc], &[&ldir, &rpath, "-laio_rs"])
}

pub fn compile(src: &Path, out: &Path, pre: &[&str], libs: &[&str]) -> Result<(), String> {
    let o = Command::new("cc")
        .args(CFLAGS)
        .args(pre)
        .arg("-o")
        .arg(out)
        .arg(src)
        .args(libs)
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "  compile failed ({}):\n{}",
            out.display(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Runs `bin args` with only the given LD_PRELOAD / LIBAIO_RS_* settings,
/// killing it after `timeout`.
pub fn run(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Outcome, String> {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    cmd.env_remove("LD_PRELOAD").env_remove("LIBAIO_RS_ENGINE").env_remove("LIBAIO_RS_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    let code = match status {
        None => Some(-1000), // timed out
        Some(st) => st.code().or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            st.signal().map(|s| -s)
        }),
    };
    Ok(Outcome { code, stdout, stderr })
}

/// The report line for differing exit codes, or nothing.
pub fn exit_difference(want: &Outcome, got: &Outcome) -> String {
    if want.code == got.code {
        return String::new();
    }
    format!(
        "    exit: oracle {:?}, got {:?} (-1000 = timeout, negative = signal)\n",
        want.code, got.code
    )
}

/// Every line where `got` differs from `want`, plus the exit codes and
/// `got`'s stderr.
pub fn diff(want: &Outcome, got: &Outcome) -> String {
    let mut s = exit_difference(want, got);
    let (w, g): (Vec<_>, Vec<_>) = (want.stdout.lines().collect(), got.stdout.lines().collect());
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i).copied(), g.get(i).copied());
        if a != b {
            s.push_str(&format!(
                "    line {}: oracle {:?}\n    line {}:    got {:?}\n",
                i + 1,
                a.unwrap_or("<none>"),
                i + 1,
                b.unwrap_or("<none>")
            ));
        }
    }
    if !got.stderr.is_empty() {
        s.push_str(&format!("    stderr: {}\n", got.stderr.trim_end()));
    }
    s
}
