//! Runs every tests/c/*.c three ways and requires identical results:
//!
//! - oracle: built against the system <libaio.h>, linked with the system libaio;
//! - preload: the same binary with LD_PRELOAD=libaio_rs.so;
//! - linked: built against include/libaio.h and linked with -laio_rs;
//!
//! the last two once per engine. "Identical" means the same exit code and the
//! same standard output as the oracle. Arguments filter tests by substring;
//! LIBAIO_RS_TEST_ENGINES overrides the engine list (comma-separated).
//!
//! A test whose header comment has a line `Engines: kernel[,uring]` checks a
//! behaviour only those engines provide yet; the others are not run on it,
//! and the runner says so on every run.
//!
//! The closing line is "N passed, N failed, N skipped".

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CFLAGS: &[&str] =
    &["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-D_GNU_SOURCE"];
const TIMEOUT: Duration = Duration::from_secs(30);
const ENGINES: &[&str] = &["kernel", "uring", "auto"];

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib = find_library();
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c_suite");
    let _ = fs::remove_dir_all(&work);
    for d in ["oracle", "linked", "lib", "tmp"] {
        fs::create_dir_all(work.join(d)).expect("create work dirs");
    }
    // The linked binaries need libaio_rs.so to link and libaio_rs.so.1 (the SONAME) to run.
    let libdir = work.join("lib");
    fs::copy(&lib, libdir.join("libaio_rs.so")).expect("copy library");
    fs::copy(&lib, libdir.join("libaio_rs.so.1")).expect("copy library");
    assert!(
        Path::new("/usr/include/libaio.h").exists(),
        "the oracle needs the system libaio: apt-get install libaio-dev"
    );

    let engines: Vec<String> = match std::env::var("LIBAIO_RS_TEST_ENGINES") {
        Ok(v) if !v.is_empty() => v.split(',').map(str::to_owned).collect(),
        _ => ENGINES.iter().map(|s| s.to_string()).collect(),
    };

    let mut sources: Vec<PathBuf> = fs::read_dir(root.join("tests/c"))
        .expect("tests/c")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .filter(|p| {
            let n = p.file_stem().unwrap().to_string_lossy();
            filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str()))
        })
        .collect();
    sources.sort();

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for src in &sources {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        match run_one(&root, &work, &engines, src, &name) {
            Ok(true) => {
                passed += 1;
                println!("PASS {name}");
            }
            Ok(false) => {
                skipped += 1;
                println!("SKIP {name}");
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {name}\n{why}");
            }
        }
    }
    println!("c_suite: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}

/// Ok(true) = all runs agree and passed, Ok(false) = all agree on a skip (77).
fn run_one(
    root: &Path,
    work: &Path,
    engines: &[String],
    src: &Path,
    name: &str,
) -> Result<bool, String> {
    let libdir = work.join("lib");
    let oracle_bin = work.join("oracle").join(name);
    let linked_bin = work.join("linked").join(name);
    compile(src, &oracle_bin, &[], &["-laio"])?;
    let inc = format!("-I{}", root.join("include").display());
    let ldir = format!("-L{}", libdir.display());
    let rpath = format!("-Wl,-rpath,{}", libdir.display());
    compile(src, &linked_bin, &[&inc], &[&ldir, &rpath, "-laio_rs"])?;

    let only = engines_directive(src);
    let tmp = work.join("tmp");
    let oracle = run(&oracle_bin, &[("T_DIR", tmp.as_os_str().to_str().unwrap())])?;
    let preload = libdir.join("libaio_rs.so");
    let mut report = String::new();
    for engine in engines {
        if let Some(only) = &only {
            if !only.iter().any(|e| e == engine) {
                println!("  {name}: engine {engine} not run (test header: Engines: {})", only.join(","));
                continue;
            }
        }
        let env_preload = [
            ("T_DIR", tmp.to_str().unwrap()),
            ("LD_PRELOAD", preload.to_str().unwrap()),
            ("LIBAIO_RS_ENGINE", engine.as_str()),
        ];
        let env_linked =
            [("T_DIR", tmp.to_str().unwrap()), ("LIBAIO_RS_ENGINE", engine.as_str())];
        for (way, out) in [
            ("preload", run(&oracle_bin, &env_preload)?),
            ("linked", run(&linked_bin, &env_linked)?),
        ] {
            if out.code != oracle.code || out.stdout != oracle.stdout {
                report.push_str(&format!(
                    "  {way}/{engine} differs from the oracle\n{}",
                    diff(&oracle, &out)
                ));
            }
        }
    }
    if !report.is_empty() {
        return Err(report);
    }
    match oracle.code {
        Some(0) => Ok(true),
        Some(77) => Ok(false),
        _ => Err(format!(
            "  all runs agree, but the oracle itself failed (exit {:?})\n  stderr: {}",
            oracle.code, oracle.stderr
        )),
    }
}

/// The `Engines:` line of a test's header comment, if any.
fn engines_directive(src: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(src).ok()?;
    let header = &text[..text.find("*/")?];
    header.lines().find_map(|l| {
        let l = l.trim_start_matches([' ', '*', '/']).trim();
        l.strip_prefix("Engines:").map(|v| v.split(',').map(|e| e.trim().to_owned()).collect())
    })
}

fn compile(src: &Path, out: &Path, pre: &[&str], libs: &[&str]) -> Result<(), String> {
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
        Err(format!("  compile failed ({}):\n{}", out.display(), String::from_utf8_lossy(&o.stderr)))
    }
}

fn run(bin: &Path, env: &[(&str, &str)]) -> Result<Outcome, String> {
    let mut cmd = Command::new(bin);
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
        if start.elapsed() > TIMEOUT {
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

fn diff(want: &Outcome, got: &Outcome) -> String {
    let mut s = String::new();
    if want.code != got.code {
        s.push_str(&format!("    exit: oracle {:?}, got {:?} (-1000 = timeout, negative = signal)\n", want.code, got.code));
    }
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

/// The libaio_rs.so built by this `cargo test` invocation (same profile).
fn find_library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let lib = profile_dir.join("libaio_rs.so");
    assert!(lib.exists(), "{} is missing: build the library first", lib.display());
    lib
}
