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

mod common;

use common::{Outcome, compile_both, diff};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = common::run_workdir("c_suite");
    for d in ["oracle", "linked", "tmp"] {
        fs::create_dir_all(work.join(d)).expect("create work dirs");
    }
    common::prepare_libdir(&work);
    let engines = common::engines();

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
        println!("binaries kept in {}", work.display());
        std::process::exit(1);
    }
    let _ = fs::remove_dir_all(&work);
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
    compile_both(root, &libdir, src, &oracle_bin, &linked_bin)?;

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

fn run(bin: &Path, env: &[(&str, &str)]) -> Result<Outcome, String> {
    common::run(bin, &[], env, TIMEOUT)
}
