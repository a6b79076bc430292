#!/usr/bin/env python3
"""Benchmark and client checks for libaio_rs; run it through scripts/bench,
which installs fio, sysbench and python3 and builds the library first.

Bench (default): rows R1-R11 of the performance table, each with three
contenders, interleaved A B C A B C ... for --reps repetitions:

  A  libaio     fio ioengine=libaio, system libaio (kernel AIO)
  B  libaio_rs  fio ioengine=libaio, LD_PRELOAD=target/release/libaio_rs.so
  C  io_uring   fio ioengine=io_uring (fio's own engine)

Prints a table of median IOPS, the ratios libaio_rs/libaio and
libaio_rs/io_uring, CPU per I/O and whether each row meets its target
(libaio_rs >= 0.95 x the better of libaio and io_uring; >= 1.0 x for R1, R2,
R4), and saves target/bench/bench-<date>.json (every sample, the medians,
the machine) and .md, plus target/bench/latest.{json,md}.

Client rows C1-C3 (part of the default run; alone: --rows C1,C2,C3): libaio's
real users, two contenders, interleaved A B A B ... for --reps repetitions:

  A  libaio     the system libaio (no preload)
  B  libaio_rs  LD_PRELOAD=target/release/libaio_rs.so, on the engine of the
                environment (LIBAIO_RS_ENGINE, default auto)

  C1  qemu-img bench -f raw -t none -i native -d 32 -s 4096 (linux-aio,
      O_DIRECT) reading the 1 GiB ext4 file of R8/R10 (written in full with
      random data once): offset step -S 4096 x 100003, an odd number of
      blocks, so the reads spread over the whole file and touch each block at
      most once a run; 40,000 x --runtime requests (a fixed count, about
      --runtime s under the system libaio); IOPS = requests / qemu-img's
      "Run completed in" time.
  C2  the same with writes (-w), 20,000 x --runtime requests.
  C3  MariaDB: a private mariadbd (the one of --verify) with
      innodb_linux_aio=aio, O_DIRECT and a 16M buffer pool over 8 x 50,000
      sysbench rows (about 150 MiB, 9 x the pool, so reads reach the disk); sysbench
      oltp_read_write, 4 threads, --oltp-time s (default 20), --rand-seed
      the repetition's number; TPS. The tables are prepared once per bench
      (mariadbd without the library, clean shutdown); every run starts its
      mariadbd on a fresh cp -a of that datadir after sync and
      drop_caches=3, so both contenders start from the same state.

Target: B >= 0.95 x A. CPU per I/O (C1, C2) or per transaction (C3): user +
system time of the client's whole process tree (wait4, kernel I/O threads
included): qemu-img from start to exit, mariadbd from start-up to shutdown
(not sysbench). A run fails if the library is not in effect on B, or is on A.
There is no buffered (-t writeback) qemu-img row: QEMU 10 refuses aio=native
without O_DIRECT. At --reps 3 the three rows take about 4 minutes.

CPU per I/O of the fio rows, two figures:
  fio      (usr_cpu + sys_cpu)/100 x job runtime / I/Os, from fio's JSON. fio
           measures its job thread only, so kernel threads working for the
           process (libaio_rs's iou-sqp poller, io_uring's io-wq workers) are
           not in it.
  process  user + system time of the whole fio process tree (wait4), which
           includes those threads and fio's start-up, / I/Os.

Files: an ext4 read file (R1-R3, --size, default 4 GiB so that the fastest
contender does not get through it in a run and R1 stays cold) and a 1 GiB
write file (R8, R10; R11 reads it warm: read whole into the page cache
before each run, fio --invalidate=0), laid out once and reused; a 1 GiB file in
/dev/shm (R4-R7, R9), removed at the end. sync before every run; R1 also
gets fio invalidate=1 and a drop_caches. No ramp: every figure covers the
whole run, so fio's and the process's CPU cover the same I/Os.

--verify: data-checking runs of real clients under libaio_rs (fio verify=crc32c
on O_DIRECT random writes, buffered random read/write with fsync=8, 1 MiB
sequential blocks, tmpfs O_DIRECT and buffered, userspace_reap=1; sysbench fileio async rndrw); each prints
PASS or FAIL, exit status 1 on any failure. --short: the same with small
files, in well under a minute (for the test suite). The fio and sysbench
checks run on the engine of the environment (LIBAIO_RS_ENGINE, default auto).

Then the soak and context-cycle checks of tests/soak/soak.c (built with cc
into the work directory), on the system libaio (no preload: the checks' own
baseline) and under LD_PRELOAD on each of auto, uring and kernel, whatever
--client-engines says:
  soak     8 submitting and 4 reaping threads on 2 shared contexts for 4 s
           (long: 300 s), seed 1: buffered and O_DIRECT, plain and vectored
           writes and read-backs of each thread's own regions of an ext4
           (--dir) and a tmpfs file, data checked; polls on pipes, fired by
           another thread, cancelled, and cancelled while being fired; every
           request must complete exactly once (no stray or duplicate event,
           full-length results, sane poll masks; a hang fails).
  cycles   io_setup, two writes and a poll on a tmpfs file and a pipe,
           io_getevents, reads checked, io_destroy (one cycle in eight
           destroys with requests in flight); on 1 thread (2,000 cycles, long
           100,000; on the system libaio and the kernel engine, whose
           io_destroy waits about 33 ms for RCU, 150 / 10,000) and on 32
           threads (2,000 / 100,000). Open fds, threads and mappings must be
           back to their count after a warm-up cycle.
They run in the long form only for now (see verify()); short, about 50 s.

Then, on each engine of --client-engines (default auto,kernel; "system" runs
the system libaio without the library, the checks' own baseline):
  qemu-io    -f raw -i native (linux-aio), -t none and -t directsync (QEMU's
             aio=native needs O_DIRECT: it refuses to open a file without
             it), on ext4 (--dir) and tmpfs: 64 (long: 180) aio_writes of
             seeded random sizes, offsets and patterns in flight at once,
             rewrites of parts of a third of them, then aio_read -P/read -P of
             the whole file, again in a second qemu-io, and the file compared
             with what was written; 3 (long: 20) seeds.
  qemu-img   convert raw -> qcow2 -> raw, every image aio=native and O_DIRECT
             (--image-opts), then qemu-img compare and a byte comparison.
  MariaDB    a private mariadbd with innodb_linux_aio=aio, O_DIRECT and a 16M
             (long: 32M) buffer pool: sysbench oltp_read_write, a clean
             shutdown, a restart without the library, CHECK TABLE, row counts
             and CHECKSUM TABLE unchanged; and a kill -9 under sysbench, then
             recovery without the library, CHECK TABLE, row counts.
Each fails on a client error, a hang (every run has a timeout), or a run
without the library (no LIBAIO_RS_LOG line; for mariadbd, the library not in
/proc/PID/maps). Short form: about 40 s per engine.
"""
import argparse
import contextlib
import ctypes
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# LIBAIO_RS_BENCH_LIB: another build of the library as contender B (to
# compare two versions against the same anchors, one run each).
LIB = os.environ.get("LIBAIO_RS_BENCH_LIB") or os.path.join(ROOT, "target", "release", "libaio_rs.so")
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
    # Two fio processes (no --thread), each its own context, reading a file
    # the page cache holds whole: no read may go to the ring (issue of the
    # route cache's re-check), and the submission thread must not steal the
    # second core.
    dict(row="R11", what="buffered, warm cache, ext4, depth 32, 2 processes", file="write",
         rw="randread", direct=0, depth=32, numjobs=2, opts=["--invalidate=0"], warm=True,
         goal=1.0),
]
CONTENDERS = [("libaio", "libaio"), ("libaio_rs", "libaio"), ("io_uring", "io_uring")]
FIO_KEYS = ("iops", "fio_cpu_us_per_io", "proc_cpu_us_per_io", "lat_mean_us")

# Client rows: libaio's real users. metric: the figure compared; per: what
# the client's CPU time is divided by; rate: the requests per --runtime
# second of C1/C2's fixed count (about the system libaio's rate on a 2-vCPU
# cloud disk, so that a run takes about --runtime s).
CLIENT_ROWS = [
    dict(row="C1", what="qemu-img bench reads, raw, -t none -i native, depth 32, ext4",
         client="qemu-img", file="write", write=False, rate=40000, metric="iops", per="io"),
    dict(row="C2", what="qemu-img bench writes, raw, -t none -i native, depth 32, ext4",
         client="qemu-img", file="write", write=True, rate=20000, metric="iops", per="io"),
    dict(row="C3", what="MariaDB sysbench oltp_read_write, 4 threads, 16M pool, O_DIRECT",
         client="mariadb", metric="tps", per="trx"),
]
ALL_ROWS = ROWS + CLIENT_ROWS
# A: the system libaio, no preload; B: libaio_rs on the environment's engine.
CLIENT_CONTENDERS = [("libaio", "system"),
                     ("libaio_rs", os.environ.get("LIBAIO_RS_ENGINE") or "auto")]
# qemu-img bench's offset step: an odd number of 4 KiB blocks, so the offsets
# (step x i modulo the image size, or the size less one block in later QEMU)
# visit every block of the 1 GiB file once before any is read again.
QEMU_STEP = 4096 * 100003
# C3's data: 8 x 50,000 sysbench rows, about 150 MiB: 9 x the 16M buffer pool.
OLTP_TABLES, OLTP_ROWS, OLTP_POOL = 8, 50000, "16M"


def row_contenders(row):
    return CLIENT_CONTENDERS if "client" in row else CONTENDERS


def row_keys(row):
    """The sample keys whose medians a row reports."""
    return (row["metric"], f"proc_cpu_us_per_{row['per']}") if "client" in row else FIO_KEYS


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
    """{'uring': n, 'kernel': m} from libaio_rs's LIBAIO_RS_LOG=1 lines, plus
    'handed over': k for io_uring contexts the auto engine handed over to
    kernel AIO at their first request (O_DIRECT with RESFD)."""
    counts = {}
    for m in re.finditer(r"^libaio_rs: io_setup .*?engine=(\w+)", stderr_text, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    handed = len(re.findall(r"^libaio_rs: io_uring context handed over", stderr_text, re.M))
    if handed:
        counts["handed over"] = handed
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
            cpu = reap(proc)
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), cpu


def reap(proc, timeout=None):
    """Popen.wait(timeout) through wait4: sets proc.returncode and returns the
    user + system CPU seconds of the process and the children it reaped (all
    its threads, kernel I/O threads such as iou-sqp included). Raises
    subprocess.TimeoutExpired after timeout s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.05)


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


def drop_caches(what=1):
    """sync, then drop the page cache (what=1) or also dentries and inodes (3)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write(f"{what}\n")
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
    if row.get("warm"):
        with open(path, "rb") as f:  # the whole file into the page cache
            while f.read(1 << 20):
                pass
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
    """Medians per contender; libaio_rs against the best of the others (for
    the client rows, libaio alone), judged against the row's goal."""
    names = [n for n, _ in row_contenders(row)]
    others = [n for n in names if n != "libaio_rs"]
    metric = row.get("metric", "iops")
    med = {}
    for name in names:
        mine = [s for s in samples if s["contender"] == name]
        med[name] = {k: median(mine, k) for k in row_keys(row)}
    b = med["libaio_rs"][metric]
    goal = row.get("goal", 0.95)
    s = dict(row=row["row"], workload=row["what"], metric=metric, per=row.get("per", "io"),
             median=med, goal=goal)
    if b is not None and all(med[n][metric] for n in others):
        best = max(med[n][metric] for n in others)
        s.update({f"rs_vs_{n}": b / med[n][metric] for n in others})
        s.update(rs_vs_best=b / best, meets_target=b >= goal * best)
    # The same ratio within each repetition (the runs of a repetition are
    # back to back), then its median: shown beside the target, which is
    # judged on the medians, to tell drift of the machine from a real gap.
    per_rep = []
    for rep in sorted({x.get("rep") for x in samples if x.get("rep") is not None}):
        it = {x["contender"]: x.get(metric) for x in samples if x.get("rep") == rep}
        if all(it.get(n) for n in names):
            per_rep.append(it["libaio_rs"] / max(it[n] for n in others))
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


def fmt_medians(med, key):
    """A / B (/ C): the contenders' medians of key."""
    return " / ".join("-" if m[key] is None else f"{m[key]:.2f}" for m in med.values())


def fmt_per_rep(s):
    return f"{s['rs_vs_best_per_rep_median']:.2f}x" if "rs_vs_best_per_rep_median" in s else "-"


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
                     + f"{fmt_per_rep(s)} | {fmt_medians(med, 'fio_cpu_us_per_io')} | "
                     f"{fmt_medians(med, 'proc_cpu_us_per_io')} |")
    return "\n".join(lines)


def client_table(summaries):
    lines = ["| row | client | libaio | libaio_rs | rs/libaio | target | met "
             "| rs/libaio, median per rep | CPU µs per I/O or transaction, process (A / B) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        med, metric, per = s["median"], s["metric"], s["per"]
        ratio, met = (f"{s['rs_vs_libaio']:.2f}x", "yes" if s["meets_target"] else "**no**") \
            if "rs_vs_best" in s else ("-", "n/a")
        lines.append(f"| {s['row']} | {s['workload']} | "
                     + " | ".join(f"{fmt_iops(m[metric])} {metric.upper()}" for m in med.values())
                     + f" | {ratio} | ≥ {s['goal']:.2f}x libaio | {met} | {fmt_per_rep(s)} | "
                     f"{fmt_medians(med, f'proc_cpu_us_per_{per}')} µs/{per} |")
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
        qemu_img=capture(["qemu-img", "--version"]).split("\n")[0],
        mariadbd=" ".join(capture(["mariadbd", "--version"]).split()),
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


def markdown(result, fio_tbl, client_tbl):
    m, a = result["machine"], result["settings"]
    text = f"""# libaio_rs bench, {m['date']}

Kernel {m['kernel']}; machine: {machine_line(m)}.
Load average {m['loadavg_start']:.2f} at the start, {m['loadavg_end']:.2f} at the end.
"""
    if fio_tbl:
        text += f"""
Median of {a['reps']} interleaved runs of {a['runtime_s']} s each (A B C A B C ...).
A = fio ioengine=libaio under the system libaio, B = the same under libaio_rs (LD_PRELOAD),
C = fio ioengine=io_uring. Target: B ≥ 0.95 × max(A, C) (R1, R2, R4: ≥ 1.0 ×).

{fio_tbl}

CPU µs/IO, fio: (usr_cpu + sys_cpu)/100 × job runtime ÷ I/Os from fio's JSON; fio counts
its job thread only, not kernel threads working for the process (libaio_rs's iou-sqp
poller, io_uring's io-wq workers). CPU µs/IO, process: user + system time of the whole fio
process tree (wait4), those threads and fio's start-up included, ÷ I/Os.
"""
    if client_tbl:
        text += f"""
Clients: median of {a['reps']} interleaved runs (A B A B ...). A = the system libaio,
B = libaio_rs (LD_PRELOAD, LIBAIO_RS_ENGINE={a['client_contenders']['libaio_rs']}).
Target: B ≥ 0.95 × A. {m['qemu_img']}; {m['mariadbd']}.
qemu-img bench -t none -i native -d 32: 4 KiB requests, offset step {a['qemu_step']} B,
a fixed count worth about {a['runtime_s']} s (C1 {a['qemu_counts']['C1']:,}, C2
{a['qemu_counts']['C2']:,}); IOPS = requests ÷ qemu-img's own run time. MariaDB:
{a['oltp_tables']} × {a['oltp_rows']:,} rows, {a['oltp_pool']} buffer pool, sysbench
oltp_read_write for {a['oltp_time_s']} s with 4 threads, every run on a fresh copy of one
prepared datadir after drop_caches.

{client_tbl}

CPU, process: user + system time of the client's whole process tree (wait4), kernel I/O
threads included: qemu-img from start to exit; mariadbd from start-up to shutdown (not
sysbench), ÷ requests or sysbench transactions.
"""
    return text


def qemu_count(row, args):
    return row["rate"] * args.runtime


def qemu_bench_one(row, engine, files, args):
    """One qemu-img bench run on `engine`: the measured part of a sample."""
    path, _ = files[row["file"]]
    count = qemu_count(row, args)
    cmd = ["qemu-img", "bench", "-f", "raw", "-t", "none", "-i", "native", "-d", "32",
           "-s", "4096", "-S", str(QEMU_STEP), "-c", str(count),
           *(["-w"] if row["write"] else []), path]
    os.sync()
    rc, out, err, cpu = run(cmd, client_env(engine), timeout=30 * args.runtime + 60)
    sample = dict(cmd=cmd, rc=rc)
    if engine != "system":
        sample["engines"] = engines_used(err)
    done = re.search(r"^Run completed in ([\d.]+) seconds", out, re.M)
    problems = engine_problems(engine, err)
    if rc or not done or not float(done.group(1)):
        problems.insert(0, f"qemu-img exit status {rc}, output: {tail_lines(out + err)}")
    if problems:
        sample["error"] = "; ".join(problems)
        return sample
    secs = float(done.group(1))
    sample.update(iops=count / secs, ios=count, seconds=secs, proc_cpu_s=cpu,
                  proc_cpu_us_per_io=cpu * 1e6 / count)
    return sample


@contextlib.contextmanager
def oltp_datadir(args, timeout):
    """A directory under args.dir holding `prepared`, a datadir with C3's
    sysbench tables, made once by mariadbd without the library and cleanly
    shut down; removed at the end."""
    base = tempfile.mkdtemp(prefix="bench-mariadb-", dir=args.dir)
    db = MariaDB(os.path.join(base, "prepared"), OLTP_POOL)
    try:
        os.mkdir(db.base)
        mariadb_prepare(db, "system", OLTP_TABLES, OLTP_ROWS, timeout)
        problems = db.shutdown(timeout)
        if problems:
            raise RuntimeError("; ".join(problems))
        tables = os.path.join(db.datadir, "sbtest")
        log(f"  prepared {OLTP_TABLES} x {OLTP_ROWS:,} rows: " + "{:.0f} MiB".format(
            sum(os.path.getsize(os.path.join(tables, f)) for f in os.listdir(tables)) / MiB)
            + f" of tables, buffer pool {OLTP_POOL}")
        yield base, db.datadir
    finally:
        db.kill()
        shutil.rmtree(base, ignore_errors=True)


def oltp_bench_one(engine, prepared, args, rep, timeout):
    """One sysbench oltp_read_write run against a mariadbd on `engine`,
    started on a fresh copy of the prepared datadir with cold caches."""
    base, datadir = prepared
    run_base = os.path.join(base, "run")
    shutil.rmtree(run_base, ignore_errors=True)
    os.mkdir(run_base)
    db = MariaDB(run_base, OLTP_POOL)
    sample = {}
    try:
        subprocess.run(["cp", "-a", datadir, db.datadir], check=True)
        drop_caches(3)
        problems = db.start(engine, timeout)
        if problems:
            raise RuntimeError("; ".join(problems))
        if engine != "system":
            sample["engines"] = db.engines()
        trx, tps = oltp_run(db, OLTP_TABLES, OLTP_ROWS, args.oltp_time, [f"--rand-seed={rep}"])
        problems = [f"error log: {l}" for l in db.errors()] + db.shutdown(timeout)
        if problems:
            raise RuntimeError("; ".join(problems))
    except (RuntimeError, subprocess.CalledProcessError) as e:
        sample["error"] = str(e)
        return sample
    finally:
        db.kill()
    sample.update(tps=tps, transactions=trx, proc_cpu_s=db.cpu_s,
                  proc_cpu_us_per_trx=db.cpu_s * 1e6 / trx)
    return sample


@contextlib.contextmanager
def row_runner(row, files, args, tmpdir):
    """A function (contender, engine, rep) -> sample for the row, with what the
    row needs around its runs (C3: the prepared datadir)."""
    if row.get("client") == "mariadb":
        timeout = 180
        with oltp_datadir(args, timeout) as prepared:
            yield lambda name, engine, rep: oltp_bench_one(engine, prepared, args, rep, timeout)
    elif row.get("client") == "qemu-img":
        yield lambda name, engine, rep: qemu_bench_one(row, engine, files, args)
    else:
        yield lambda name, engine, rep: bench_one(row, name, engine, files, args, tmpdir)


def sample_line(row, s):
    eng = (" engines " + ",".join(f"{k}x{v}" for k, v in s["engines"].items())
           if "engines" in s else "")
    if "client" not in row:
        return (f"{s['iops']:>11,.0f} IOPS  cpu {s['fio_cpu_us_per_io']:.2f} µs/io "
                f"(process {s['proc_cpu_us_per_io']:.2f}){eng}")
    metric, per = row["metric"], row["per"]
    return (f"{s[metric]:>11,.1f} {metric.upper()}  cpu {s[f'proc_cpu_us_per_{per}']:.2f} "
            f"µs/{per} (process){eng}")


def bench(args):
    rows = [r for r in ALL_ROWS if r["row"] in args.rows]
    fio_rows = [r for r in rows if "client" not in r]
    client_rows = [r for r in rows if "client" in r]
    shm_path = os.path.join(SHM, f"libaio_rs-bench-{os.getpid()}.dat")
    files = {"read": (os.path.join(args.dir, "bench-read.dat"), args.size),
             "write": (os.path.join(args.dir, "bench-write.dat"), GiB),
             "shm": (shm_path, GiB)}
    os.makedirs(args.dir, exist_ok=True)
    os.makedirs(OUT, exist_ok=True)
    info = machine(args)
    log(f"libaio_rs bench: {machine_line(info)}")
    if info["dir_fs"] != "ext4" and any(
            r.get("client") == "mariadb" or files[r["file"]][0].startswith(args.dir) for r in rows):
        log(f"warning: {args.dir} is on {info['dir_fs']}, not ext4")
    runs = [(len(rs) * args.reps * len(row_contenders(rs[0])) if rs else 0)
            for rs in (fio_rows, [r for r in client_rows if r["client"] == "qemu-img"],
                       [r for r in client_rows if r["client"] == "mariadb"])]
    # About: a fio run, its time and a second; a qemu-img run, two more (a
    # slower contender takes longer over its fixed count); a MariaDB run, its
    # sysbench time and 5 s of copying, start-up and shutdown; 20 s to
    # prepare MariaDB's tables.
    secs = runs[0] * (args.runtime + 1) + runs[1] * (args.runtime + 3) \
        + runs[2] * (args.oltp_time + 5) + (20 if runs[2] else 0)
    log(f"{len(rows)} rows x {args.reps} reps: {sum(runs)} runs, about {secs / 60:.0f} min")
    samples, failed = [], 0
    tmpdir = tempfile.mkdtemp(prefix="libaio_rs-bench-")
    try:
        for key in sorted({r["file"] for r in rows if "file" in r}):
            lay_out(*files[key])
        for row in rows:
            log(f"{row['row']}: {row['what']}")
            try:
                with row_runner(row, files, args, tmpdir) as one:
                    for rep in range(1, args.reps + 1):
                        for name, engine in row_contenders(row):
                            s = dict(row=row["row"], contender=name, rep=rep)
                            s.update(one(name, engine, rep))
                            samples.append(s)
                            if "error" in s:
                                failed += 1
                                log(f"  {row['row']:>3} rep {rep}/{args.reps} {name:<9} "
                                    f"FAILED: {s['error']}")
                            else:
                                log(f"  {row['row']:>3} rep {rep}/{args.reps} {name:<9} "
                                    + sample_line(row, s))
            except RuntimeError as e:
                failed += 1
                samples.append(dict(row=row["row"], contender=None, error=str(e)))
                log(f"  {row['row']:>3} FAILED: {e}")
            done = summarize(row, [s for s in samples if s["row"] == row["row"]])
            if "rs_vs_best" in done:
                med = done["median"]
                log(f"  {row['row']:>3} medians: " + ", ".join(
                    f"{n} {fmt_iops(m[done['metric']])}" for n, m in med.items())
                    + f"; libaio_rs/{'best' if len(med) > 2 else 'libaio'} "
                    f"{done['rs_vs_best']:.2f}x, target {done['goal']:.2f}x: "
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
                                client_contenders={n: e for n, e in CLIENT_CONTENDERS},
                                qemu_step=QEMU_STEP,
                                qemu_counts={r["row"]: qemu_count(r, args) for r in CLIENT_ROWS
                                             if r["client"] == "qemu-img"},
                                oltp_time_s=args.oltp_time, oltp_tables=OLTP_TABLES,
                                oltp_rows=OLTP_ROWS, oltp_pool=OLTP_POOL,
                                libaio_rs=LIB),
                  rows=summaries, samples=samples)
    fio_tbl = table([s for s, r in zip(summaries, rows) if "client" not in r]) if fio_rows else ""
    client_tbl = client_table([s for s, r in zip(summaries, rows) if "client" in r]) \
        if client_rows else ""
    log()
    log("\n\n".join(t for t in (fio_tbl, client_tbl) if t))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    md = markdown(result, fio_tbl, client_tbl)
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


# --verify: QEMU and MariaDB --------------------------------------------------
#
# Each of these runs on one engine: a LIBAIO_RS_ENGINE value (auto, uring,
# kernel) under LD_PRELOAD with LIBAIO_RS_LOG=1, or "system": the system libaio,
# no preload, which checks the checks. A client that fails, hangs (every step
# has a timeout) or runs without the library (no LIBAIO_RS_LOG line, the
# library missing from mariadbd's /proc/PID/maps) fails the check.

# The default of --client-engines.
CLIENT_ENGINES = ("auto", "uring", "kernel")
ENGINE_NAMES = ("auto", "uring", "kernel", "system")


def client_env(engine):
    """The environment of a client on `engine` (see above)."""
    env = child_env(engine != "system")
    env.pop("LIBAIO_RS_ENGINE", None)
    if engine != "system":
        env["LIBAIO_RS_ENGINE"] = engine
    return env


def engine_problems(engine, text):
    """What is wrong with the LIBAIO_RS_LOG lines in a client's stderr (or
    error log) `text` for a run on `engine`: under preload at least one
    context, every one served by the engine asked for (any under auto); under
    system, none."""
    used = engines_used(text)
    if engine == "system":
        return [f"libaio_rs served contexts {used} without LD_PRELOAD"] if used else []
    if not used:
        return ["library not loaded: no LIBAIO_RS_LOG io_setup line"]
    if engine == "uring" and "handed over" in used:
        return [f"contexts handed over to kernel AIO under LIBAIO_RS_ENGINE=uring: {used}"]
    if engine != "auto" and set(used) - {"handed over"} != {engine}:
        return [f"contexts served by {used}, not all by {engine}"]
    return []


def run_client(cmd, env, timeout, workdir=None):
    """run(), plus whether it was killed at its timeout."""
    start = time.monotonic()
    rc, out, err, _ = run(cmd, env, timeout, workdir)
    return rc, out, err, rc == -signal.SIGKILL and time.monotonic() - start >= timeout


def status_problem(what, rc, timed_out, timeout):
    """'<what> hung: ...' or '<what> exit status N', or None when it exited 0."""
    if timed_out:
        return f"{what} hung: killed after {timeout} s".lstrip()
    return f"{what} exit status {rc}".lstrip() if rc else None


def tail_lines(text, n=8, width=600):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])[-width:]


def qemu_opts(path, driver="raw"):
    """--image-opts string for `path` over the file driver with aio=native
    (linux-aio, through libaio) and O_DIRECT."""
    path = path.replace(",", ",,")
    return (f"driver={driver},file.driver=file,file.filename={path},"
            "file.aio=native,file.cache.direct=on")


def qemu_io_script(rng, size, count):
    """One qemu-io job on a zeroed file of `size` bytes: (write commands,
    read commands, expected content, bytes written).

    Round 1: `count` aio_writes, each with its own pattern byte, on disjoint
    regions (one in each of `count` equal slots, at a random 512-byte-aligned
    place, 512 B to the whole slot; a third split over 2-4 buffers, i.e.
    pwritev), all in flight together until aio_flush, then a flush. Round 2: a
    sub-range of a third of the regions rewritten with new patterns, in flight
    together again. The reads cover the whole file, one per run of equal bytes
    (the gaps must still read as zeros), at most 4 MiB each, mostly aio_read
    (concurrent until aio_flush), every fifth a synchronous read."""
    sector = 512
    slot = size // count // sector * sector
    patterns = rng.sample(range(1, 256), count + count // 3)  # so count <= 191
    model = bytearray(size)
    writes, cmds = [], []

    def write(off, length, pattern):
        lens = [length]
        if length >= 2 * sector and rng.random() < 1 / 3:
            cuts = sorted(rng.sample(range(1, length // sector), min(rng.randint(1, 3),
                                                                     length // sector - 1)))
            lens = [(b - a) * sector for a, b in zip([0] + cuts, cuts + [length // sector])]
        cmds.append(f"aio_write -P {pattern:#04x} {off} " + " ".join(map(str, lens)))
        model[off:off + length] = bytes([pattern]) * length
        writes.append((off, length))

    regions = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.4:
            length = sector * rng.randint(1, 16)           # 512 B - 8 KiB
        elif kind < 0.8:
            length = 4096 * rng.randint(2, 32)             # 8 KiB - 128 KiB
        else:
            length = sector * rng.randint(slot // sector // 4, slot // sector)
        length = min(length, slot)
        off = i * slot + sector * rng.randint(0, (slot - length) // sector)
        regions.append((off, length))
        write(off, length, patterns[i])
    cmds += ["aio_flush", "flush"]
    for j, (off, length) in enumerate(rng.sample(regions, count // 3)):
        start = off + sector * rng.randint(0, length // sector - 1)
        write(start, sector * rng.randint(1, (off + length - start) // sector),
              patterns[count + j])
    cmds.append("aio_flush")

    bounds = sorted({0, size} | {o for o, _ in writes} | {o + n for o, n in writes})
    runs = []
    for a, b in zip(bounds, bounds[1:]):
        if runs and runs[-1][2] == model[a] and runs[-1][0] + runs[-1][1] == a:
            runs[-1][1] += b - a
        else:
            runs.append([a, b - a, model[a]])
    reads = []
    for a, n, byte in runs:
        for off in range(a, a + n, 4 * MiB):
            cmd = "read" if len(reads) % 5 == 4 else "aio_read"
            reads.append(f"{cmd} -P {byte:#04x} {off} {min(4 * MiB, a + n - off)}")
    reads.append("aio_flush")
    return cmds, reads, model, sum(n for _, n in writes)


def qemu_io_outcome(out, err, n_writes, n_reads):
    """Problems in qemu-io's output: a failed pattern check or command, or
    fewer completions than commands."""
    problems = []
    text = out + err
    bad = [l for l in text.splitlines() if not l.startswith("libaio_rs: ")
           and ("Pattern verification failed" in l or re.search(r"fail|error|qemu-io:", l, re.I))]
    if bad:
        problems.append(f"{len(bad)} error line(s): " + " | ".join(bad[:4])[:400])
    wrote = re.findall(r"^wrote (\d+)/(\d+) bytes", out, re.M)
    read = re.findall(r"^read (\d+)/(\d+) bytes", out, re.M)
    short = [x for x in wrote + read if x[0] != x[1]]
    if short:
        problems.append(f"{len(short)} short transfer(s)")
    if len(wrote) != n_writes or len(read) != n_reads:
        problems.append(f"completions: {len(wrote)}/{n_writes} writes, "
                        f"{len(read)}/{n_reads} reads")
    return problems


def qemu_io_check(engine, datadir, cache, seeds, size, count, timeout):
    """qemu-io -f raw -i native (linux-aio) -t `cache` on a zeroed file in
    datadir on `engine`, once per seed: the job of qemu_io_script, then its
    reads again in a second qemu-io, then the file compared with the expected
    content. Stops at the first seed that fails."""
    path = os.path.join(datadir, f"libaio_rs-verify-{os.getpid()}-qemu-io.raw")
    base = ["qemu-io", "-f", "raw", "-i", "native", "-t", cache]
    env = client_env(engine)
    problems, engines = [], {}
    n_writes = n_reads = written = 0
    try:
        for seed in seeds:
            writes, reads, model, nbytes = qemu_io_script(random.Random(seed), size, count)
            nw = sum(c.startswith("aio_write") for c in writes)
            nr = sum(c.startswith(("aio_read", "read")) for c in reads)
            with open(path, "wb") as f:
                f.truncate(size)
            for what, cmds, w in (("qemu-io (writes, reads)", writes + reads, nw),
                                  ("second qemu-io (reads)", reads, 0)):
                rc, out, err, hung = run_client(
                    base + [a for c in cmds for a in ("-c", c)] + [path], env, timeout)
                for k, v in engines_used(err).items():
                    engines[k] = engines.get(k, 0) + v
                mine = [p for p in (status_problem("", rc, hung, timeout),) if p]
                if hung:
                    mine.append(f"completions before the kill: "
                                f"{len(re.findall(r'^wrote ', out, re.M))}/{w} writes, "
                                f"{len(re.findall(r'^read ', out, re.M))}/{nr} reads")
                else:
                    mine += qemu_io_outcome(out, err, w, nr)
                mine += engine_problems(engine, err)
                if mine:
                    problems.append(f"seed {seed}, {what}: " + "; ".join(mine)
                                    + f"; stderr: {tail_lines(err)}")
                    break
            else:
                with open(path, "rb") as f:
                    data = f.read()
                if data != model:
                    first = next(i for i in range(size) if data[i] != model[i])
                    problems.append(f"seed {seed}: file differs from the writes at offset "
                                    f"{first} ({data[first]:#04x}, expected {model[first]:#04x})")
            if problems:
                break
            n_writes, n_reads, written = n_writes + nw, n_reads + nr, written + nbytes
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    detail = (f"seeds {seeds[0]}-{seeds[-1]}: {n_writes} writes ({written // MiB} MiB), "
              f"{n_reads} verifying reads x2 passed, engines {engines}")
    if problems:
        detail += "; " + "; ".join(problems)
    return not problems, detail


def qemu_img_check(engine, datadir, seed, size, timeout):
    """qemu-img convert raw -> qcow2 -> raw, every image opened with
    aio=native and cache.direct=on (--image-opts / --target-image-opts onto
    pre-created targets, -n), 16 coroutines, out-of-order writes; then qemu-img
    compare of the source with both copies (on `engine` too), and the final
    raw file compared byte for byte with the source. The source: 1 MiB chunks
    of random data, written zeros and holes."""
    rng = random.Random(seed)
    stem = os.path.join(datadir, f"libaio_rs-verify-{os.getpid()}-qemu-img")
    src, mid, dst = stem + "-src.raw", stem + "-mid.qcow2", stem + "-dst.raw"
    env = client_env(engine)
    problems, engines = [], {}
    chunks = {"data": 0, "zeros": 0, "hole": 0}
    try:
        with open(src, "wb") as f:
            f.truncate(size)
            for off in range(0, size, MiB):
                kind = rng.choices(list(chunks), weights=(70, 15, 15))[0]
                chunks[kind] += 1
                if kind != "hole":
                    f.seek(off)
                    f.write(rng.randbytes(MiB) if kind == "data" else bytes(MiB))
        with open(dst, "wb") as f:
            f.truncate(size)
        rc, out, err, _ = run(["qemu-img", "create", "-q", "-f", "qcow2", mid, str(size)],
                              child_env(False), 60)
        if rc:
            raise RuntimeError(f"qemu-img create failed ({rc}): {tail_lines(out + err)}")
        conv = ["qemu-img", "convert", "-m", "16", "-W", "--image-opts"]
        steps = [("convert raw -> qcow2",
                  conv + [qemu_opts(src), "-n", "--target-image-opts", qemu_opts(mid, "qcow2")]),
                 ("convert qcow2 -> raw",
                  conv + [qemu_opts(mid, "qcow2"), "-n", "--target-image-opts", qemu_opts(dst)]),
                 ("compare source, qcow2",
                  ["qemu-img", "compare", "--image-opts", qemu_opts(src), qemu_opts(mid, "qcow2")]),
                 ("compare source, raw copy",
                  ["qemu-img", "compare", "--image-opts", qemu_opts(src), qemu_opts(dst)])]
        for what, cmd in steps:
            rc, out, err, hung = run_client(cmd, env, timeout)
            for k, v in engines_used(err).items():
                engines[k] = engines.get(k, 0) + v
            mine = [p for p in (status_problem("", rc, hung, timeout),) if p]
            if what.startswith("compare") and not hung and "Images are identical" not in out:
                mine.append("not reported identical")
            mine += engine_problems(engine, err)
            if mine:
                problems.append(f"{what}: " + "; ".join(mine)
                                + f"; output: {tail_lines(out + err)}")
                break
        else:
            differ = first_difference(src, dst)
            if differ is not None:
                problems.append(f"the raw copy differs from the source at offset {differ}")
    except (RuntimeError, OSError) as e:
        problems.append(str(e))
    finally:
        for p in (src, mid, dst):
            try:
                os.unlink(p)
            except OSError:
                pass
    detail = (f"{size // MiB} MiB ({chunks['data']} random, {chunks['zeros']} zero, "
              f"{chunks['hole']} hole chunks), seed {seed}, engines {engines}")
    if problems:
        detail += "; " + "; ".join(problems)
    return not problems, detail


def first_difference(a, b):
    """The first offset at which files a and b differ (a size difference
    counts), or None."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        off = 0
        while True:
            x, y = fa.read(MiB), fb.read(MiB)
            if x != y:
                return off + next((i for i, (p, q) in enumerate(zip(x, y)) if p != q),
                                  min(len(x), len(y)))
            if not x:
                return None
            off += len(x)


def die_with_parent():
    """preexec_fn: SIGKILL the child when this script dies, however it dies,
    so that no mariadbd or sysbench outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    """A private mariadbd (Debian's mariadb-server): its own datadir, socket,
    error log and a free port on 127.0.0.1, all under `base`; InnoDB on
    libaio (innodb_linux_aio=aio), O_DIRECT, a buffer pool smaller than the
    data so that pages are read and flushed all the time. Each start() runs
    on an engine and checks that InnoDB uses Linux native AIO and that the
    library is (or, on "system", is not) in the process."""

    def __init__(self, base, pool):
        self.base, self.pool = base, pool
        self.datadir = os.path.join(base, "data")
        self.sock = os.path.join(base, "mariadb.sock")
        self.errlog = os.path.join(base, "error.log")
        self.port = free_port()
        self.proc = None
        self.cpu_s = None  # CPU seconds of the last mariadbd, once shut down
        self.starts = 0
        self.log_from = 0

    def install(self):
        rc, out, err, _ = run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                               "--user=root", "--auth-root-authentication-method=normal",
                               "--skip-test-db"], child_env(False), 180)
        if rc:
            raise RuntimeError(f"mariadb-install-db failed ({rc}): {tail_lines(out + err)}")

    def log_text(self):
        """The error log (and the server's own stderr) since the last start."""
        text = ""
        for path, start in ((self.errlog, self.log_from),
                            (os.path.join(self.base, f"stderr-{self.starts}.txt"), 0)):
            try:
                with open(path, errors="replace") as f:
                    f.seek(start)
                    text += f.read()
            except OSError:
                pass
        return text

    def log_excerpt(self):
        keep = [l for l in self.log_text().splitlines()
                if re.search(r"\[ERROR\]|libaio_rs|io_getevents|io_submit|got signal|"
                             r"Assertion|corrupt|native AIO|uring", l, re.I)]
        return " | ".join(keep[-10:])[-900:]

    def start(self, engine, timeout):
        """Starts mariadbd on `engine`. Raises RuntimeError if it does not
        become ready for connections; returns a list of problems, empty when
        it runs on Linux native AIO with the library in place as asked."""
        self.starts += 1
        try:
            self.log_from = os.path.getsize(self.errlog)
        except OSError:
            self.log_from = 0
        cmd = ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
               f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
               f"--pid-file={os.path.join(self.base, 'mariadbd.pid')}",
               f"--log-error={self.errlog}", f"--tmpdir={self.base}",
               "--innodb-linux-aio=aio", "--innodb-use-native-aio=ON",
               "--innodb-flush-method=O_DIRECT", f"--innodb-buffer-pool-size={self.pool}"]
        with open(os.path.join(self.base, f"stderr-{self.starts}.txt"), "w") as out:
            self.proc = subprocess.Popen(cmd, env=client_env(engine), stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while "ready for connections" not in self.log_text():
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
                raise RuntimeError(f"mariadbd ({engine}) died during start-up ({how}); "
                                   f"log: {self.log_excerpt()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mariadbd ({engine}) not ready after {timeout} s (hung?); "
                                   f"log: {self.log_excerpt()}")
            time.sleep(0.1)
        problems = []
        text = self.log_text()
        if "Using Linux native AIO" not in text:
            problems.append(f"the error log does not say 'Using Linux native AIO' ({engine}); "
                            f"log: {self.log_excerpt()}")
        problems += [f"mariadbd ({engine}): {p}" for p in engine_problems(engine, text)]
        try:
            with open(f"/proc/{self.proc.pid}/maps") as f:
                mapped = os.path.realpath(LIB) in f.read()
        except OSError as e:
            mapped = None
            problems.append(f"cannot read /proc/{self.proc.pid}/maps: {e}")
        if mapped is not None and mapped != (engine != "system"):
            problems.append(f"mariadbd ({engine}): library {'in' if mapped else 'not in'} "
                            f"/proc/{self.proc.pid}/maps")
        return problems

    def engines(self):
        return engines_used(self.log_text())

    def errors(self):
        """[ERROR] lines of the error log since the last start."""
        return [l for l in self.log_text().splitlines() if "[ERROR]" in l]

    def sql(self, query, timeout=180):
        """Rows (lists of columns) of `query`; raises RuntimeError on failure."""
        rc, out, err, hung = run_client(
            ["mariadb", "--no-defaults", "-uroot", f"--socket={self.sock}", "--batch",
             "--skip-column-names", "-e", query], child_env(False), timeout)
        if rc or hung:
            raise RuntimeError(f"{status_problem('mariadb client', rc, hung, timeout)} "
                               f"on {query[:80]!r}: {tail_lines(out + err)}")
        return [l.split("\t") for l in out.splitlines()]

    def shutdown(self, timeout):
        """Clean shutdown; returns a list of problems."""
        rc, out, err, hung = run_client(
            ["mariadb-admin", "--no-defaults", "-uroot", f"--socket={self.sock}", "shutdown"],
            child_env(False), timeout)
        problems = [p for p in (status_problem("mariadb-admin shutdown", rc, hung, timeout),) if p]
        try:
            self.cpu_s = reap(self.proc, timeout)
            status = self.proc.returncode
        except subprocess.TimeoutExpired:
            self.kill()
            return problems + [f"mariadbd did not exit within {timeout} s of shutdown; "
                               f"log: {self.log_excerpt()}"]
        if status != 0:
            problems.append(f"mariadbd exit status {status} at shutdown; log: {self.log_excerpt()}")
        elif "Shutdown complete" not in self.log_text():
            problems.append("no 'Shutdown complete' in the error log")
        return problems

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def tables(self):
        return [f"sbtest.{r[0]}" for r in self.sql("SHOW TABLES FROM sbtest")]

    def state(self):
        """{table: (rows, checksum)}."""
        tables = self.tables()
        sums = dict(self.sql("CHECKSUM TABLE " + ", ".join(tables)))
        return {t: (int(self.sql(f"SELECT COUNT(*) FROM {t}")[0][0]), sums.get(t))
                for t in tables}

    def check_tables(self):
        """Problems reported by CHECK TABLE on every sysbench table."""
        rows = self.sql("CHECK TABLE " + ", ".join(self.tables()))
        bad = [" ".join(r) for r in rows if len(r) < 4 or r[2] != "status" or r[3] != "OK"]
        return [f"CHECK TABLE: {' | '.join(bad)[:400]}"] if bad else []


def sysbench_oltp(db, tables, rows):
    return ["sysbench", "oltp_read_write", "--db-driver=mysql", f"--mysql-socket={db.sock}",
            "--mysql-user=root", "--mysql-db=sbtest", f"--tables={tables}",
            f"--table-size={rows}"]


def oltp_run(db, tables, rows, seconds, extra=()):
    """sysbench oltp_read_write on db, 4 threads, for `seconds`: (transactions,
    transactions per second). Raises RuntimeError if it fails, hangs or
    commits nothing."""
    timeout = seconds + 120
    rc, out, err, hung = run_client(
        sysbench_oltp(db, tables, rows) + ["--threads=4", f"--time={seconds}", *extra, "run"],
        child_env(False), timeout)
    trx = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", out)
    if rc or hung or not trx or not int(trx.group(1)) or "FATAL" in out + err:
        raise RuntimeError(f"sysbench run: "
                           f"{status_problem('sysbench', rc, hung, timeout) or 'no transactions'}"
                           f"; {tail_lines(out + err)}; log: {db.log_excerpt()}")
    return int(trx.group(1)), float(trx.group(2))


def mariadb_prepare(db, engine, tables, rows, timeout):
    """A fresh datadir, mariadbd started on `engine`, the sysbench tables."""
    db.install()
    problems = db.start(engine, timeout)
    if problems:
        raise RuntimeError("; ".join(problems))
    db.sql("CREATE DATABASE sbtest")
    rc, out, err, hung = run_client(sysbench_oltp(db, tables, rows) + ["--threads=2", "prepare"],
                                    child_env(False), 600)
    if rc or hung:
        raise RuntimeError(f"{status_problem('sysbench prepare', rc, hung, 600)}: "
                           f"{tail_lines(out + err)}; log: {db.log_excerpt()}")


def mariadb_clean_check(engine, workdir, tables, rows, seconds, pool, timeout):
    """mariadbd on `engine`: sysbench oltp_read_write for `seconds`, a clean
    shutdown, then mariadbd without the library: CHECK TABLE of every table,
    and every table's row count and CHECKSUM TABLE the same as before the
    shutdown (and the row count still `rows`: each oltp_read_write
    transaction deletes and re-inserts one row)."""
    base = tempfile.mkdtemp(prefix=f"mariadb-clean-{engine}-", dir=workdir)
    db = MariaDB(base, pool)
    problems, detail = [], ""
    try:
        mariadb_prepare(db, engine, tables, rows, timeout)
        trx, tps = oltp_run(db, tables, rows, seconds)
        detail = f"{tables} tables x {rows} rows, {trx} transactions ({tps:.0f}/s)"
        before = db.state()
        engines = db.engines()
        problems += [f"error log ({engine}): {l}" for l in db.errors()]
        problems += db.shutdown(timeout)
        detail += f", engines {engines}"
        problems += db.start("system", timeout)
        problems += db.check_tables()
        after = db.state()
        if after != before:
            problems.append(f"tables changed across the restart: before {before}, after {after}")
        wrong = {t: n for t, (n, _) in after.items() if n != rows}
        if len(after) != tables or wrong:
            problems.append(f"{len(after)} tables, row counts {wrong or 'ok'}, expected "
                            f"{tables} x {rows}")
        problems += [f"error log (system): {l}" for l in db.errors()]
        problems += db.shutdown(timeout)
        if not problems:
            detail += ("; after a clean shutdown and a restart without the library: "
                       "CHECK TABLE ok, row counts and checksums unchanged")
    except RuntimeError as e:
        problems.append(str(e))
    finally:
        db.kill()
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        detail = "; ".join(([detail] if detail else []) + problems)
    return not problems, detail


def mariadb_crash_check(engine, workdir, tables, rows, seconds, pool, timeout):
    """mariadbd on `engine` killed with SIGKILL `seconds` into a sysbench
    oltp_read_write run; mariadbd without the library must then recover
    (crash recovery in its log, ready for connections), CHECK TABLE every
    table, and find `rows` rows in each (committed transactions keep the
    count, the others are rolled back)."""
    base = tempfile.mkdtemp(prefix=f"mariadb-crash-{engine}-", dir=workdir)
    db = MariaDB(base, pool)
    problems, detail, bench = [], "", None
    try:
        mariadb_prepare(db, engine, tables, rows, timeout)
        engines = db.engines()
        out_path = os.path.join(base, "sysbench.txt")
        with open(out_path, "w") as out:
            bench = subprocess.Popen(
                sysbench_oltp(db, tables, rows) + ["--threads=4", f"--time={seconds + 600}",
                                                   "--report-interval=1", "run"],
                env=child_env(False), stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent)
        time.sleep(seconds)
        with open(out_path) as f:
            progress = f.read()
        tps = [float(x) for x in re.findall(r"tps: ([\d.]+)", progress)]
        if bench.poll() is not None or db.proc.poll() is not None or not any(tps):
            raise RuntimeError(f"sysbench not running before the kill (sysbench status "
                               f"{bench.poll()}, mariadbd status {db.proc.poll()}, "
                               f"tps {tps}): {tail_lines(progress)}; log: {db.log_excerpt()}")
        problems += [f"error log ({engine}): {l}" for l in db.errors()]
        os.kill(db.proc.pid, signal.SIGKILL)
        db.proc.wait()
        try:
            bench.wait(60)
        except subprocess.TimeoutExpired:
            pass
        detail = (f"{tables} tables x {rows} rows, killed after {seconds} s of sysbench "
                  f"(about {statistics.mean(tps):.0f} tps), engines {engines}")
        problems += db.start("system", timeout)
        if "Starting crash recovery" not in db.log_text():
            problems.append("no crash recovery in the error log after the kill")
        problems += db.check_tables()
        after = db.state()
        wrong = {t: n for t, (n, _) in after.items() if n != rows}
        if len(after) != tables or wrong:
            problems.append(f"after recovery: {len(after)} tables, row counts {wrong}, "
                            f"expected {tables} x {rows}")
        problems += [f"error log (recovery): {l}" for l in db.errors()]
        problems += db.shutdown(timeout)
        if not problems:
            detail += "; restart without the library recovered, CHECK TABLE ok, row counts ok"
    except RuntimeError as e:
        problems.append(str(e))
    finally:
        if bench and bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
        db.kill()
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        detail = "; ".join(([detail] if detail else []) + problems)
    return not problems, detail


def client_checks(args, workdir):
    """(title, check) of the QEMU and MariaDB checks on each of
    args.client_engines."""
    if args.short:
        q_size, q_count, q_seeds, img_size, tables, rows, run_s, kill_s, pool = \
            32 * MiB, 64, 3, 64 * MiB, 4, 20000, 15, 8, "16M"
    else:
        q_size, q_count, q_seeds, img_size, tables, rows, run_s, kill_s, pool = \
            128 * MiB, 180, 20, 512 * MiB, 8, 100000, 60, 30, "32M"
    # Timeouts: a QEMU run takes a second or two, a mariadbd start a few.
    qt, t = (60, 120) if args.short else (120, 600)
    checks = []
    for engine in args.client_engines:
        tag = f"[{engine}]"
        places = (("ext4", workdir), ("tmpfs", SHM))
        for i, ((where, d), (cache, how)) in enumerate(
                (p, c) for p in places
                for c in (("none", "O_DIRECT"), ("directsync", "O_DIRECT, RWF_DSYNC writes"))):
            seeds = range(100 * i + 1, 100 * i + 1 + q_seeds)
            checks.append((f"qemu-io -i native -t {cache} ({how}), {where}, {q_count} "
                           f"concurrent aio_writes, read back, {q_seeds} seeds {tag}",
                           lambda e=engine, d=d, c=cache, s=seeds:
                           qemu_io_check(e, d, c, s, q_size, q_count, qt)))
        for i, (where, d) in enumerate(places):
            checks.append((f"qemu-img convert raw->qcow2->raw aio=native O_DIRECT + compare, "
                           f"{where} {tag}",
                           lambda e=engine, d=d, s=11 + i: qemu_img_check(e, d, s, img_size, qt)))
        checks.append((f"MariaDB InnoDB on libaio, sysbench oltp_read_write {run_s} s, clean "
                       f"restart without the library, CHECK TABLE {tag}",
                       lambda e=engine: mariadb_clean_check(e, workdir, tables, rows, run_s,
                                                            pool, t)))
        checks.append((f"MariaDB kill -9 under sysbench after {kill_s} s, recovery without the "
                       f"library, CHECK TABLE {tag}",
                       lambda e=engine: mariadb_crash_check(e, workdir, tables, rows, kill_s,
                                                            pool, t)))
    return checks


# --verify: soak and context cycles ------------------------------------------
#
# tests/soak/soak.c, built here with cc against the system <libaio.h> and run
# on the system libaio (no preload: the checker's own baseline) and on each
# engine under LD_PRELOAD. See the comment at the top of soak.c.

SOAK_SRC = os.path.join(ROOT, "tests", "soak", "soak.c")
SOAK_ENGINES = ("system", "auto", "uring", "kernel")
SOAK_SEED = 1
# Cycles per run, (short, long). io_destroy of a kernel-AIO context waits for
# an RCU grace period (about 33 ms here), so on one thread the system libaio
# and the kernel engine do about 30 cycles a second (2,000 would take 67 s):
# they get fewer cycles there. 32 threads' destroys overlap (2,000 in 2 s).
CYCLES_ONE_THREAD = {"kernel-aio": (150, 10000), "uring": (2000, 100000)}
CYCLES_THREADS = 32
CYCLES_MANY_THREADS = (2000, 100000)
_soak_binary = {}


def soak_binary(workdir):
    """(path of the soak binary built in workdir, None), or (None, why not)."""
    if workdir not in _soak_binary:
        exe = os.path.join(workdir, "soak")
        cmd = ["cc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread",
               "-D_GNU_SOURCE", SOAK_SRC, "-o", exe, "-laio"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
            ok, why = r.returncode == 0, f"cc failed: {tail_lines(r.stdout + r.stderr)}"
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, why = False, f"cc failed: {e}"
        _soak_binary[workdir] = (exe, None) if ok else (None, why)
    return _soak_binary[workdir]


def soak_run(engine, workdir, args, timeout, tag):
    """Runs the soak binary with args on `engine`: (ok, detail); detail is
    the lines of stdout that start with tag, plus what went wrong."""
    exe, why = soak_binary(workdir)
    if not exe:
        return False, why
    rc, out, err, timed_out = run_client([exe, *args], client_env(engine), timeout, workdir)
    problems = [p for p in [status_problem(tag, rc, timed_out, timeout)] if p]
    problems += engine_problems(engine, err)
    lines = [l[len(tag) + 2:] for l in out.splitlines() if l.startswith(tag + ": ")]
    if not any(l in ("PASS", "FAIL") for l in lines):
        problems.append("no verdict line")
    detail = "; ".join(l for l in lines if l not in ("PASS", "FAIL"))
    if problems:
        own = "\n".join(l for l in err.splitlines() if not l.startswith("libaio_rs: "))
        env = "" if engine == "system" else f"LD_PRELOAD={LIB} LIBAIO_RS_ENGINE={engine} "
        detail += "; " + "; ".join(problems) + f"; stderr: {tail_lines(own, 12, 1500)}" \
            f"; reproduce: {env}<cc {os.path.relpath(SOAK_SRC, ROOT)} -laio> {' '.join(args)}"
    return not problems, detail


def soak_checks(args, workdir):
    """(title, check) of the soak and the context cycles on the system
    libaio and on each engine."""
    seconds = 4 if args.short else 300
    form = 0 if args.short else 1
    checks = []
    for engine in SOAK_ENGINES:
        tag = f"[{engine}]"
        checks.append((f"soak {seconds} s, seed {SOAK_SEED}: 8 submitters + 4 reapers on 2 shared "
                       f"contexts, ext4/tmpfs buffered/O_DIRECT/vectored read-back, polls, "
                       f"cancels, each request completed once {tag}",
                       lambda e=engine: soak_run(
                           e, workdir, ["--seconds", str(seconds), "--seed", str(SOAK_SEED),
                                        "--dir", workdir], seconds + 90, "soak")))
        kind = "kernel-aio" if engine in ("system", "kernel") else "uring"
        for threads, n in ((1, CYCLES_ONE_THREAD[kind][form]),
                           (CYCLES_THREADS, CYCLES_MANY_THREADS[form])):
            # A hang fails: well above the expected time (33 ms a cycle at worst).
            timeout = 120 + int(n * 0.05 / min(threads, 4))
            checks.append((f"cycles: {n} io_setup/I/O/io_destroy cycles on {threads} "
                           f"thread{'s' if threads > 1 else ''}, fds/threads/maps back to the "
                           f"warm-up count {tag}",
                           lambda e=engine, n=n, t=threads, to=timeout: soak_run(
                               e, workdir, ["--cycles", str(n), "--threads", str(t),
                                            "--seed", str(SOAK_SEED)], to, "cycles")))
    return checks


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
    checks += soak_checks(args, workdir)
    checks += client_checks(args, workdir)
    if args.only:
        checks = [c for c in checks if re.search(args.only, c[0], re.I)]
    log(f"libaio_rs client checks ({'short' if args.short else 'long'} form) in {workdir}, "
        f"fio/sysbench on LIBAIO_RS_ENGINE={os.environ.get('LIBAIO_RS_ENGINE', 'auto')}, "
        f"soak/cycles on {','.join(SOAK_ENGINES)}, "
        f"QEMU/MariaDB on {','.join(args.client_engines) or 'none'}")
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
    p.add_argument("--rows", default=",".join(r["row"] for r in ALL_ROWS),
                   help="comma-separated subset, e.g. R1,R4 or C1,C2,C3 (default: all, "
                        "R1-R11 and C1-C3)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per contender (default 3)")
    p.add_argument("--runtime", type=int, default=4,
                   help="seconds per fio run; C1/C2 do a fixed count of requests worth "
                        "about this many seconds (default 4)")
    p.add_argument("--oltp-time", type=int, default=20,
                   help="seconds of sysbench per C3 run (default 20)")
    p.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-data"),
                   help="ext4 directory for the files (default target/bench-data)")
    p.add_argument("--size", type=parse_size, default=4 * GiB,
                   help="size of the ext4 read file for R1-R3 (default 4G; at least 1G)")
    p.add_argument("--verify", action="store_true",
                   help="run the client checks under libaio_rs instead of the bench")
    p.add_argument("--short", action="store_true", help="with --verify: small, quick form")
    p.add_argument("--client-engines", default=",".join(CLIENT_ENGINES),
                   help="with --verify: engines the QEMU and MariaDB checks run on, "
                        "comma-separated LIBAIO_RS_ENGINE values (auto, uring, kernel) or "
                        "'system' (the system libaio, no preload); '' for none "
                        f"(default {','.join(CLIENT_ENGINES)})")
    p.add_argument("--only", metavar="REGEX",
                   help="with --verify: only the checks whose title matches REGEX")
    args = p.parse_args()
    # A bare number is a fio row: 4 is R4.
    wanted = [("R" + r if r.isdigit() else r) for r in
              (r.strip().upper() for r in args.rows.split(",")) if r]
    unknown = set(wanted) - {r["row"] for r in ALL_ROWS}
    if unknown or not wanted:
        p.error(f"unknown rows {sorted(unknown)}; rows are R1..R11, C1..C3")
    if args.reps < 1 or args.runtime < 1 or args.oltp_time < 1:
        p.error("--reps, --runtime and --oltp-time must be at least 1")
    if args.short and not args.verify:
        p.error("--short goes with --verify")
    args.rows = set(wanted)
    args.client_engines = [e.strip() for e in args.client_engines.split(",") if e.strip()]
    bad = [e for e in args.client_engines if e not in ENGINE_NAMES]
    if bad:
        p.error(f"unknown engines {bad}; engines are {', '.join(ENGINE_NAMES)}")
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
