#!/usr/bin/env python3
"""Benchmark and client checks for libaio_rs; run it through scripts/bench,
which installs fio, sysbench and python3 and builds the library first.

Bench (default): rows R1-R10 of the performance table, each with three
contenders, interleaved A B C A B C ... for --reps repetitions:

  A  libaio     fio ioengine=libaio, system libaio (kernel AIO)
  B  libaio_rs  fio ioengine=libaio, LD_PRELOAD=target/release/libaio_rs.so
  C  io_uring   fio ioengine=io_uring (fio's own engine)

Prints a table of median IOPS, the ratios libaio_rs/libaio and
libaio_rs/io_uring, CPU per I/O and whether each row meets its target
(libaio_rs >= 0.95 x the better of libaio and io_uring; >= 1.0 x for R1, R2,
R4), and saves target/bench/bench-<date>.json (every sample, the medians,
the machine) and .md, plus target/bench/latest.{json,md}.

CPU per I/O, two figures:
  fio      (usr_cpu + sys_cpu)/100 x job runtime / I/Os, from fio's JSON. fio
           measures its job thread only, so kernel threads working for the
           process (libaio_rs's iou-sqp poller, io_uring's io-wq workers) are
           not in it.
  process  user + system time of the whole fio process tree (wait4), which
           includes those threads and fio's start-up, / I/Os.

Files: an ext4 read file (R1-R3, --size, default 4 GiB so that the fastest
contender does not get through it in a run and R1 stays cold) and a 1 GiB
write file (R8, R10) under --dir, laid out once and reused; a 1 GiB file in
/dev/shm (R4-R7, R9), removed at the end. sync before every run; R1 also
gets fio invalidate=1 and a drop_caches. No ramp: every figure covers the
whole run, so fio's and the process's CPU cover the same I/Os.

--verify: data-checking runs of real clients under libaio_rs (fio verify=crc32c
on O_DIRECT random writes, buffered random read/write with fsync=8, 1 MiB
sequential blocks, tmpfs O_DIRECT and buffered, userspace_reap=1; sysbench fileio async rndrw); each prints
PASS or FAIL, exit status 1 on any failure. --short: the same with small
files, in well under a minute (for the test suite).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "target", "release", "libaio_rs.so")
OUT = os.path.join(ROOT, "target", "bench")
SHM = "/dev/shm"
MiB = 1 << 20
GiB = 1 << 30

# file: which file the row uses; ddir: which of fio's read/write figures counts.
ROWS = [
    dict(row="R1", what="buffered, cold cache, ext4, depth 32", file="read", rw="randread",
         direct=0, depth=32, opts=["--invalidate=1"], cold=True, goal=1.0),
    dict(row="R2", what="O_DIRECT, ext4, depth 1", file="read", rw="randread",
         direct=1, depth=1, goal=1.0),
    dict(row="R3", what="O_DIRECT, ext4, depth 32", file="read", rw="randread",
         direct=1, depth=32),
    dict(row="R4", what="O_DIRECT, tmpfs, depth 32", file="shm", rw="randread",
         direct=1, depth=32, goal=1.0),
    dict(row="R5", what="O_DIRECT, tmpfs, depth 1", file="shm", rw="randread",
         direct=1, depth=1),
    dict(row="R6", what="O_DIRECT, tmpfs, depth 32, batch 32/16", file="shm", rw="randread",
         direct=1, depth=32,
         opts=["--iodepth_batch_submit=32", "--iodepth_batch_complete_min=16"]),
    dict(row="R7", what="buffered, hot tmpfs, depth 32", file="shm", rw="randread",
         direct=0, depth=32),
    dict(row="R8", what="writes, O_DIRECT, ext4, depth 32, fdatasync=32", file="write",
         rw="randwrite", direct=1, depth=32, opts=["--fdatasync=32"]),
    dict(row="R9", what="R4 with 2 jobs (2 contexts)", file="shm", rw="randread",
         direct=1, depth=32, numjobs=2),
    dict(row="R10", what="writes, buffered, ext4, depth 32", file="write", rw="randwrite",
         direct=0, depth=32),
]
CONTENDERS = [("libaio", "libaio"), ("libaio_rs", "libaio"), ("io_uring", "io_uring")]


def log(msg=""):
    print(msg, flush=True)


def capture(cmd):
    """stdout of cmd, stripped; '' if it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def child_env(preload):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LIBAIO_RS_LOG")}
    if preload:
        env["LD_PRELOAD"] = LIB
        env["LIBAIO_RS_LOG"] = "1"  # one stderr line per context: proves the preload took
    return env


def engines_used(stderr_text):
    """{'uring': n, 'kernel': m} from libaio_rs's LIBAIO_RS_LOG=1 lines."""
    counts = {}
    for m in re.finditer(r"^libaio_rs: io_setup .*?engine=(\w+)", stderr_text, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def run(cmd, env, timeout, workdir=None):
    """Runs cmd in its own process group; returns (rc, stdout, stderr, cpu seconds
    of the whole process tree from wait4). Kills the group after timeout s."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)

        def kill():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), usage.ru_utime + usage.ru_stime


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMGT]?)(i?B)?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 4G, 512M)")
    return int(m.group(1)) << (10 * " KMGT".index((m.group(2) or " ").upper()))


def lay_out(path, size):
    """Writes path with fio's (random) data once; reused while its size matches."""
    if os.path.isfile(path) and os.path.getsize(path) == size:
        log(f"reusing {path} ({size // MiB} MiB)")
        return
    log(f"laying out {path} ({size // MiB} MiB)...")
    subprocess.run(["fio", "--name=layout", f"--filename={path}", f"--size={size}",
                    "--rw=write", "--bs=1M", "--ioengine=psync", "--end_fsync=1",
                    "--output=/dev/null"], check=True, env=child_env(False))


def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass  # not root: fio's invalidate=1 still drops the file's pages


def fio_numbers(doc, ddir):
    """iops, ios, fio CPU seconds, mean latency (us) summed/averaged over jobs."""
    jobs = doc["jobs"]
    errors = [j["error"] for j in jobs if j.get("error")]
    if errors:
        raise RuntimeError(f"fio job error {errors}")
    iops = sum(j[ddir]["iops"] for j in jobs)
    ios = sum(j[ddir]["total_ios"] for j in jobs)
    cpu = sum((j["usr_cpu"] + j["sys_cpu"]) / 100 * j["job_runtime"] / 1000 for j in jobs)
    lat = statistics.mean(j[ddir]["lat_ns"]["mean"] for j in jobs) / 1000
    return iops, ios, cpu, lat


def bench_one(row, contender, engine, files, args, tmpdir):
    path, size = files[row["file"]]
    ddir = "write" if "write" in row["rw"] else "read"
    out = os.path.join(tmpdir, "fio.json")
    cmd = ["fio", f"--name={row['row']}", f"--filename={path}", f"--size={size}",
           f"--rw={row['rw']}", "--bs=4k", f"--iodepth={row['depth']}",
           f"--direct={row['direct']}", f"--ioengine={engine}",
           "--time_based", f"--runtime={args.runtime}",
           f"--numjobs={row.get('numjobs', 1)}",
           *row.get("opts", []), "--output-format=json", f"--output={out}"]
    if row.get("cold"):
        drop_caches()
    else:
        os.sync()
    if os.path.exists(out):
        os.unlink(out)
    preload = contender == "libaio_rs"
    rc, _, err, proc_cpu = run(cmd, child_env(preload), timeout=args.runtime + 120)
    sample = dict(row=row["row"], contender=contender, cmd=cmd, rc=rc)
    if preload:
        sample["engines"] = engines_used(err)
    try:
        if rc != 0:
            raise RuntimeError(f"fio exit status {rc}")
        if preload and not sample["engines"]:
            raise RuntimeError("no libaio_rs context was created (preload not in effect?)")
        with open(out) as f:
            iops, ios, fio_cpu, lat = fio_numbers(json.load(f), ddir)
        if ios == 0:
            raise RuntimeError("no I/O done")
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        sample["error"] = f"{e}; stderr: {err.strip()[-400:]}"
        return sample
    sample.update(iops=iops, ios=ios, fio_cpu_s=fio_cpu, proc_cpu_s=proc_cpu,
                  fio_cpu_us_per_io=fio_cpu * 1e6 / ios,
                  proc_cpu_us_per_io=proc_cpu * 1e6 / ios, lat_mean_us=lat)
    return sample


def median(samples, key):
    values = [s[key] for s in samples if key in s]
    return statistics.median(values) if values else None


def summarize(row, samples):
    med = {}
    for name, _ in CONTENDERS:
        mine = [s for s in samples if s["contender"] == name]
        med[name] = {k: median(mine, k) for k in
                     ("iops", "fio_cpu_us_per_io", "proc_cpu_us_per_io", "lat_mean_us")}
    a, b, c = (med[n]["iops"] for n, _ in CONTENDERS)
    goal = row.get("goal", 0.95)
    s = dict(row=row["row"], workload=row["what"], median=med, goal=goal)
    if a and c and b is not None:
        best = max(a, c)
        s.update(rs_vs_libaio=b / a, rs_vs_io_uring=b / c, rs_vs_best=b / best,
                 meets_target=b >= goal * best)
    # The same ratio within each repetition (the three runs of a repetition
    # are back to back), then its median: shown beside the target, which is
    # judged on the medians, to tell drift of the machine from a real gap.
    per_rep = []
    for rep in sorted({x.get("rep") for x in samples if x.get("rep") is not None}):
        it = {x["contender"]: x.get("iops") for x in samples if x.get("rep") == rep}
        ra, rb, rc = (it.get(n) for n, _ in CONTENDERS)
        if ra and rb and rc:
            per_rep.append(rb / max(ra, rc))
    if per_rep:
        s["rs_vs_best_per_rep"] = per_rep
        s["rs_vs_best_per_rep_median"] = statistics.median(per_rep)
    return s


def fmt_iops(x):
    if x is None:
        return "fail"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        k = x / 1e3
        return f"{k:.0f}K" if k >= 100 else f"{k:.1f}K" if k >= 10 else f"{k:.2f}K"
    return f"{x:.0f}"


def fmt_triple(med, key):
    return " / ".join("-" if med[n][key] is None else f"{med[n][key]:.2f}"
                      for n, _ in CONTENDERS)


def table(summaries):
    lines = ["| row | workload (4 KiB random) | libaio | libaio_rs | io_uring | rs/libaio "
             "| rs/io_uring | target | met | rs/best, median per rep | CPU µs/IO, fio (A / B / C) "
             "| CPU µs/IO, process (A / B / C) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        med = s["median"]
        ratios = (f"{s['rs_vs_libaio']:.2f}x", f"{s['rs_vs_io_uring']:.2f}x",
                  "yes" if s["meets_target"] else "**no**") if "rs_vs_best" in s \
            else ("-", "-", "n/a")
        lines.append(f"| {s['row']} | {s['workload']} | "
                     + " | ".join(fmt_iops(med[n]["iops"]) for n, _ in CONTENDERS)
                     + f" | {ratios[0]} | {ratios[1]} | ≥ {s['goal']:.2f}x best | {ratios[2]} | "
                     + (f"{s['rs_vs_best_per_rep_median']:.2f}x | " if "rs_vs_best_per_rep_median" in s
                        else "- | ")
                     + f"{fmt_triple(med, 'fio_cpu_us_per_io')} | "
                     f"{fmt_triple(med, 'proc_cpu_us_per_io')} |")
    return "\n".join(lines)


def machine(args):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    commit = capture(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"]) or "unknown"
    if capture(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]):
        commit += "-dirty"
    libaio = capture(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", "libaio1", "libaio1t64"])
    fs = capture(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", args.dir]).split()
    return dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        kernel=platform.release(), nproc=os.cpu_count(), cpu_model=cpu,
        mem_gib=round(mem_kib / (1 << 20), 1), fio=capture(["fio", "--version"]),
        system_libaio=libaio.replace("\n", ", "), libaio_rs_commit=commit,
        libaio_rs_engine=os.environ.get("LIBAIO_RS_ENGINE", "auto (default)"),
        dir=os.path.abspath(args.dir), dir_fs=fs[0] if fs else "unknown",
        dir_device=fs[1] if len(fs) > 1 else "unknown",
        loadavg_start=os.getloadavg()[0], python=platform.python_version())


def machine_line(m):
    return (f"{m['nproc']} vCPUs ({m['cpu_model']}), {m['mem_gib']} GiB RAM, "
            f"Linux {m['kernel']}, {m['fio']}, {m['system_libaio']}, "
            f"{m['dir_fs']} on {m['dir_device']}, libaio_rs {m['libaio_rs_commit']}, "
            f"LIBAIO_RS_ENGINE={m['libaio_rs_engine']}")


def markdown(result, tbl):
    m, a = result["machine"], result["settings"]
    return f"""# libaio_rs bench, {m['date']}

Kernel {m['kernel']}; machine: {machine_line(m)}.
Median of {a['reps']} interleaved runs of {a['runtime_s']} s each (A B C A B C ...),
load average {m['loadavg_start']:.2f} at the start, {m['loadavg_end']:.2f} at the end.
A = fio ioengine=libaio under the system libaio, B = the same under libaio_rs (LD_PRELOAD),
C = fio ioengine=io_uring. Target: B ≥ 0.95 × max(A, C) (R1, R2, R4: ≥ 1.0 ×).

{tbl}

CPU µs/IO, fio: (usr_cpu + sys_cpu)/100 × job runtime ÷ I/Os from fio's JSON; fio counts
its job thread only, not kernel threads working for the process (libaio_rs's iou-sqp
poller, io_uring's io-wq workers). CPU µs/IO, process: user + system time of the whole fio
process tree (wait4), those threads and fio's start-up included, ÷ I/Os.
"""


def bench(args):
    rows = [r for r in ROWS if r["row"] in args.rows]
    shm_path = os.path.join(SHM, f"libaio_rs-bench-{os.getpid()}.dat")
    files = {"read": (os.path.join(args.dir, "bench-read.dat"), args.size),
             "write": (os.path.join(args.dir, "bench-write.dat"), GiB),
             "shm": (shm_path, GiB)}
    os.makedirs(args.dir, exist_ok=True)
    os.makedirs(OUT, exist_ok=True)
    info = machine(args)
    log(f"libaio_rs bench: {machine_line(info)}")
    if info["dir_fs"] != "ext4" and any(files[r["file"]][0].startswith(args.dir) for r in rows):
        log(f"warning: {args.dir} is on {info['dir_fs']}, not ext4")
    runs = len(rows) * args.reps * len(CONTENDERS)
    log(f"{len(rows)} rows x {args.reps} reps x {len(CONTENDERS)} contenders = {runs} runs "
        f"of {args.runtime} s (about {runs * (args.runtime + 1) / 60:.0f} min)")
    samples, failed = [], 0
    tmpdir = tempfile.mkdtemp(prefix="libaio_rs-bench-")
    try:
        for key in sorted({r["file"] for r in rows}):
            lay_out(*files[key])
        for row in rows:
            log(f"{row['row']}: {row['what']}")
            for rep in range(1, args.reps + 1):
                for name, engine in CONTENDERS:
                    s = bench_one(row, name, engine, files, args, tmpdir)
                    s["rep"] = rep
                    samples.append(s)
                    if "error" in s:
                        failed += 1
                        log(f"  {row['row']:>3} rep {rep}/{args.reps} {name:<9} FAILED: {s['error']}")
                    else:
                        eng = (" engines " + ",".join(f"{k}x{v}" for k, v in s["engines"].items())
                               if "engines" in s else "")
                        log(f"  {row['row']:>3} rep {rep}/{args.reps} {name:<9} "
                            f"{s['iops']:>11,.0f} IOPS  cpu {s['fio_cpu_us_per_io']:.2f} µs/io "
                            f"(process {s['proc_cpu_us_per_io']:.2f}){eng}")
            done = summarize(row, [s for s in samples if s["row"] == row["row"]])
            if "rs_vs_best" in done:
                log(f"  {row['row']:>3} medians: " + ", ".join(
                    f"{n} {fmt_iops(done['median'][n]['iops'])}" for n, _ in CONTENDERS)
                    + f"; libaio_rs/best {done['rs_vs_best']:.2f}x, target {done['goal']:.2f}x: "
                    + ("met" if done["meets_target"] else "NOT met"))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        if os.path.exists(shm_path):
            os.unlink(shm_path)
    info["loadavg_end"] = os.getloadavg()[0]
    summaries = [summarize(r, [s for s in samples if s["row"] == r["row"]]) for r in rows]
    result = dict(machine=info,
                  settings=dict(rows=[r["row"] for r in rows], reps=args.reps,
                                runtime_s=args.runtime, read_file_bytes=args.size,
                                contenders={n: e for n, e in CONTENDERS},
                                libaio_rs=LIB),
                  rows=summaries, samples=samples)
    tbl = table(summaries)
    log()
    log(tbl)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    md = markdown(result, tbl)
    for name in (f"bench-{stamp}", "latest"):
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        with open(os.path.join(OUT, name + ".md"), "w") as f:
            f.write(md)
    log(f"\nsaved {os.path.relpath(OUT, ROOT)}/bench-{stamp}.json and .md (and latest.*)")
    if failed:
        log(f"{failed} run(s) failed")
        return 1
    return 0


# --verify ------------------------------------------------------------------

def fio_check(workdir, name, opts, timeout, datadir=None):
    """One fio job under libaio_rs; passes when fio exits 0 with no job error,
    wrote and read back (verify) something, and libaio_rs served its contexts.
    The data file goes in datadir (default: workdir) and is removed after."""
    out = os.path.join(workdir, f"{name}.json")
    data = os.path.join(datadir or workdir, f"libaio_rs-verify-{os.getpid()}-{name}.dat")
    try:
        return fio_check_file(workdir, name, opts, timeout, out, data)
    finally:
        if datadir:
            try:
                os.unlink(data)
            except OSError:
                pass


def fio_check_file(workdir, name, opts, timeout, out, data):
    cmd = ["fio", f"--name={name}", f"--filename={data}",
           "--ioengine=libaio", "--verify=crc32c", "--verify_fatal=1",
           "--output-format=json", f"--output={out}", *opts]
    rc, _, err, _ = run(cmd, child_env(True), timeout, workdir)
    engines = engines_used(err)
    problems = []
    if rc != 0:
        problems.append(f"fio exit status {rc}")
    if not engines:
        problems.append("no libaio_rs context")
    written = read = 0
    try:
        with open(out) as f:
            jobs = json.load(f)["jobs"]
        problems += [f"job error {j['error']}" for j in jobs if j.get("error")]
        written = sum(j["write"]["total_ios"] for j in jobs)
        read = sum(j["read"]["total_ios"] for j in jobs)
        if not (written and read):
            problems.append(f"nothing verified (writes {written}, reads {read})")
    except (OSError, ValueError, KeyError) as e:
        problems.append(f"no fio result ({e})")
    detail = f"{written} writes, {read} reads, engines {engines}"
    if problems:
        detail += "; " + "; ".join(problems) + "; stderr: " + err.strip()[-600:]
    return not problems, detail


def sysbench_check(workdir, total, seconds, extra):
    """sysbench fileio async rndrw under libaio_rs. sysbench's own --validate
    cannot be used in async mode (it checks the buffer right after io_submit, before
    the read completes; it fails under the system libaio too), so this checks that
    the run completes with reads and writes and no error."""
    base = ["sysbench", "fileio", f"--file-total-size={total}", "--file-num=4"]
    problems = []
    rc, out, err, _ = run(base + ["prepare"], child_env(False), 300, workdir)
    if rc != 0:
        return False, f"prepare failed ({rc}): {(out + err).strip()[-400:]}"
    try:
        rc, out, err, _ = run(base + ["--file-test-mode=rndrw", "--file-io-mode=async",
                                      f"--time={seconds}", *extra, "run"],
                              child_env(True), seconds + 120, workdir)
    finally:
        run(base + ["cleanup"], child_env(False), 120, workdir)
    engines = engines_used(err)
    text = out + err
    if rc != 0:
        problems.append(f"exit status {rc}")
    if re.search(r"FATAL|error", text, re.I):
        problems.append("error reported")
    if not engines:
        problems.append("no libaio_rs context")
    rates = dict(re.findall(r"^\s*(reads|writes|fsyncs)/s:\s*([\d.]+)", out, re.M))
    if not (float(rates.get("reads", 0)) and float(rates.get("writes", 0))):
        problems.append("no reads or writes done")
    detail = f"reads/s {rates.get('reads')}, writes/s {rates.get('writes')}, " \
             f"fsyncs/s {rates.get('fsyncs')}, engines {engines}"
    if problems:
        detail += "; " + "; ".join(problems) + "; output: " + text.strip()[-600:]
    return not problems, detail


def verify(args):
    small, seq, sb_size, sb_time = ("64M", "256M", "64M", 2) if args.short \
        else ("1G", "2G", "1G", 15)
    workdir = os.path.join(args.dir, f"verify-{os.getpid()}")
    os.makedirs(workdir, exist_ok=True)
    rnd = ["--bs=4k", "--iodepth=32", f"--size={small}"]
    checks = [
        ("fio O_DIRECT random writes, depth 32, verify=crc32c",
         lambda: fio_check(workdir, "direct-randwrite", rnd + ["--rw=randwrite", "--direct=1"], 600)),
        ("fio buffered random read/write, fsync=8, verify=crc32c",
         lambda: fio_check(workdir, "buffered-randrw-fsync",
                           rnd + ["--rw=randrw", "--direct=0", "--fsync=8"], 600)),
        ("fio tmpfs O_DIRECT random read/write, depth 32, verify=crc32c",
         lambda: fio_check(workdir, "tmpfs-direct-randrw",
                           rnd + ["--rw=randrw", "--direct=1"], 600, SHM)),
        ("fio tmpfs buffered random writes, depth 32, verify=crc32c",
         lambda: fio_check(workdir, "tmpfs-buffered-randwrite",
                           rnd + ["--rw=randwrite", "--direct=0"], 600, SHM)),
        ("fio sequential 1 MiB blocks, O_DIRECT, verify=crc32c",
         lambda: fio_check(workdir, "seq-1m-direct", ["--bs=1M", "--iodepth=16", f"--size={seq}",
                                                      "--rw=write", "--direct=1"], 600)),
        ("fio sequential 1 MiB blocks, buffered, verify=crc32c",
         lambda: fio_check(workdir, "seq-1m-buffered", ["--bs=1M", "--iodepth=16", f"--size={seq}",
                                                        "--rw=write", "--direct=0"], 600)),
        ("fio userspace_reap=1 (iodepth_batch_complete_min=0), O_DIRECT random writes, verify",
         lambda: fio_check(workdir, "userspace-reap",
                           rnd + ["--rw=randwrite", "--direct=1", "--userspace_reap=1",
                                  "--iodepth_batch_complete_min=0"], 600)),
        (f"sysbench fileio rndrw async, O_DIRECT, {sb_time} s",
         lambda: sysbench_check(workdir, sb_size, sb_time, ["--file-extra-flags=direct"])),
        (f"sysbench fileio rndrw async, buffered, {sb_time} s",
         lambda: sysbench_check(workdir, sb_size, sb_time, [])),
    ]
    log(f"libaio_rs client checks ({'short' if args.short else 'long'} form) in {workdir}, "
        f"LIBAIO_RS_ENGINE={os.environ.get('LIBAIO_RS_ENGINE', 'auto')}")
    failures = 0
    try:
        for title, check in checks:
            start = datetime.datetime.now()
            ok, detail = check()
            secs = (datetime.datetime.now() - start).total_seconds()
            failures += not ok
            log(f"{'PASS' if ok else 'FAIL'}  {title} ({secs:.1f} s): {detail}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"{len(checks) - failures}/{len(checks)} passed")
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default=",".join(r["row"] for r in ROWS),
                   help="comma-separated subset, e.g. R1,R4 (default: all)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per contender (default 3)")
    p.add_argument("--runtime", type=int, default=4, help="seconds per run (default 4)")
    p.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-data"),
                   help="ext4 directory for the files (default target/bench-data)")
    p.add_argument("--size", type=parse_size, default=4 * GiB,
                   help="size of the ext4 read file for R1-R3 (default 4G; at least 1G)")
    p.add_argument("--verify", action="store_true",
                   help="run the client checks under libaio_rs instead of the bench")
    p.add_argument("--short", action="store_true", help="with --verify: small, quick form")
    args = p.parse_args()
    wanted = [("R" + r.strip().upper().lstrip("R")) for r in args.rows.split(",") if r.strip()]
    unknown = set(wanted) - {r["row"] for r in ROWS}
    if unknown or not wanted:
        p.error(f"unknown rows {sorted(unknown)}; rows are R1..R10")
    if args.reps < 1 or args.runtime < 1:
        p.error("--reps and --runtime must be at least 1")
    if args.short and not args.verify:
        p.error("--short goes with --verify")
    args.rows = set(wanted)
    args.dir = os.path.abspath(args.dir)
    if not os.path.exists(LIB):
        p.error(f"{LIB} is missing: run cargo build --release (scripts/bench does)")
    try:
        return verify(args) if args.verify else bench(args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
