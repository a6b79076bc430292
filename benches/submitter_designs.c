/*
 * What each way of getting requests into io_uring costs in CPU per I/O, for
 * the whole process (user + system of every thread of its thread group: the
 * application thread, any thread of ours, the kernel's iou-sqp submission
 * thread and iou-wrk workers), against kernel AIO. Outside the library: it
 * models the ring route's designs, one run per invocation, so that a script
 * can interleave the modes.
 *
 *   submitter_designs FILE MODE WORKLOAD [SECONDS]   (default 3 s)
 *
 * MODE:
 *   direct        the application thread submits with io_uring_enter itself
 *                 and reaps with GETEVENTS (fio's io_uring engine). The floor;
 *                 not usable by the library (requests die with their
 *                 submitting thread, completion task work interrupts that
 *                 thread's epoll_wait with EINTR).
 *   sqpoll        what libaio_rs does: IORING_SETUP_SQPOLL, sq_thread_idle
 *                 10 ms; push, then poll the SQ head until the kernel thread
 *                 has taken the entry; reap with GETEVENTS.
 *   thread        a thread of ours, T, is the only submitter of a plain ring
 *                 (default task-run mode). The application thread pushes the
 *                 entry under a mutex, publishes the tail, wakes T with
 *                 FUTEX_WAKE on a doorbell if T is parked (Dekker flags: no
 *                 lost wake-up, no wake-up while T runs), then waits until T
 *                 has taken it: polls the SQ head for SPIN_US (environment,
 *                 default 50 µs; 10 µs lost half the IOPS on w2), then
 *                 FUTEX_WAIT on a word T bumps after each io_uring_enter.
 *                 With nothing to submit, T polls the tail for T_SPIN_US
 *                 (environment, default 0), then parks in FUTEX_WAIT on the
 *                 doorbell;
 *                 completion task work queued on T interrupts that wait, runs,
 *                 and the wait restarts. Reaped with GETEVENTS by the
 *                 application thread (a non-submitter may in default mode).
 *   thread_fixed  as thread, but the application thread holds the file
 *                 itself instead of waiting for the take: one
 *                 IORING_REGISTER_FILES_UPDATE per request into table slot
 *                 seq % 256 (reused in order), IOSQE_FIXED_FILE, and the
 *                 submit returns after the push (and wake-up).
 *   kaio          kernel AIO with raw io_setup/io_submit/io_getevents, one
 *                 iocb per io_submit (the system libaio's cost).
 *
 * WORKLOAD (4 KiB reads at uniformly random block offsets of FILE, the same
 * sequence in every run; the file is fsync'ed and dropped from the page
 * cache with POSIX_FADV_DONTNEED, then marked POSIX_FADV_RANDOM, before the
 * run):
 *   w1  buffered, depth 32, as fast as it goes;
 *   w2  O_DIRECT, depth 32, as fast as it goes;
 *   w3  buffered, at most 8 in flight, 2000 requests per second on a fixed
 *       schedule: between due times the program sleeps (clock_nanosleep
 *       when nothing is in flight, else a wait for a completion with a
 *       timeout at the next due time).
 * In sqpoll, thread and thread_fixed, a buffered read is first tried with
 * preadv2(RWF_NOWAIT) in the application thread, as the library does (that
 * also starts the read from the disk), and goes to the ring, whole, only if
 * it returned -EAGAIN or short. O_DIRECT reads are not tried: for O_DIRECT,
 * RWF_NOWAIT only means "do not block on locks", the read itself would run
 * synchronously in preadv2; the library sends O_DIRECT to kernel AIO.
 * One request per submit call; reaping waits for one completion and takes
 * all that are ready (fio at iodepth=32 with default batch settings).
 *
 * Prints one line: IOPS, whole-process CPU per I/O (getrusage RUSAGE_SELF
 * over the run, which sums every live thread of the group, kernel I/O
 * threads included), user and system parts, the application thread's own
 * CPU per I/O, mean latency (issue to reap), reads served by preadv2, and
 * requests that went to the ring or kernel AIO. VERBOSE=1 also prints each
 * thread's CPU over the run from /proc/self/task/<tid>/stat, the check that
 * RUSAGE_SELF includes the iou-sqp thread. Every completion must be a full
 * 4 KiB; the program fails otherwise, and if the counts do not match.
 *
 * Needs liburing (Debian: liburing-dev):
 *
 *   cc -O2 -Wall -o target/submitter_designs benches/submitter_designs.c -luring -lpthread
 *   target/submitter_designs target/bench-data/bench-read.dat thread w1
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <linux/futex.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define TABLE 256 /* registered-file slots, used in submission order */
#define RING_ENTRIES 64
#define MAX_DEPTH 32

enum mode { DIRECT, SQPOLL, THREAD, THREAD_FIXED, KAIO, NMODES };
static const char *mode_names[] = { "direct", "sqpoll", "thread", "thread_fixed", "kaio" };

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static void die(const char *what, long err)
{
	fprintf(stderr, "submitter_designs: %s: %s\n", what, strerror((int)(err < 0 ? -err : err)));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static double tv_sec(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

static long futex(_Atomic unsigned *word, int op, unsigned val)
{
	return syscall(SYS_futex, (unsigned *)word, op, val, NULL, NULL, 0);
}

static int enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, void *arg, size_t argsz)
{
	long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
	return r < 0 ? -errno : (int)r;
}

/* ---- the engine: one of the five ways ---- */

static int mode;
static struct io_uring ring;
static aio_context_t kctx;
static long spin_ns = 50000;  /* SPIN_US: the application's poll for the take */
static long t_spin_ns = 0;     /* T_SPIN_US: T's poll for new entries before it parks */

/* thread, thread_fixed */
static pthread_t submitter;
static pthread_mutex_t push_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned bell;    /* doorbell: T futex-waits on it */
static _Atomic unsigned parked;  /* T is (about to be) asleep on bell */
static _Atomic unsigned taken;   /* bumped by T after each io_uring_enter */
static _Atomic unsigned waiters; /* application threads asleep on taken */
static _Atomic unsigned stop;
static unsigned seq;             /* pushes, under push_lock (slot numbers) */
static long t_enters, t_parks;   /* T's io_uring_enter calls and futex waits */
static long app_take_sleeps;     /* application futex waits for the take */
static long bell_rings;          /* FUTEX_WAKEs of T */

static void *submitter_main(void *arg)
{
	(void)arg;
	unsigned submitted = 0;
	for (;;) {
		unsigned tail = io_uring_smp_load_acquire(ring.sq.ktail);
		if (tail != submitted) {
			int r = enter(ring.ring_fd, tail - submitted, 0, 0, NULL, 0);
			if (r == -EINTR || r == -EAGAIN || r == -EBUSY)
				continue;
			if (r <= 0)
				die("io_uring_enter (submit, thread T)", r < 0 ? r : EIO);
			t_enters++;
			submitted += (unsigned)r;
			atomic_fetch_add(&taken, 1); /* seq_cst: also orders the load below */
			if (atomic_load(&waiters) != 0)
				futex(&taken, FUTEX_WAKE_PRIVATE, INT_MAX);
			continue;
		}
		if (atomic_load(&stop))
			break;
		if (t_spin_ns > 0) {
			long long until = now_ns() + t_spin_ns;
			while (io_uring_smp_load_acquire(ring.sq.ktail) == submitted && !atomic_load(&stop) &&
			       now_ns() < until)
				cpu_relax();
			if (io_uring_smp_load_acquire(ring.sq.ktail) != submitted)
				continue;
		}
		unsigned b = atomic_load(&bell);
		atomic_store(&parked, 1); /* seq_cst store, then seq_cst loads */
		if (io_uring_smp_load_acquire(ring.sq.ktail) != submitted || atomic_load(&stop)) {
			atomic_store(&parked, 0);
			continue;
		}
		t_parks++;
		/* Completion task work (TWA_SIGNAL) interrupts this wait; the
		 * kernel runs it on the way out and restarts the call. */
		long r = futex(&bell, FUTEX_WAIT_PRIVATE, b);
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			die("FUTEX_WAIT (doorbell)", errno);
		atomic_store(&parked, 0);
	}
	return NULL;
}

static void ring_bell(void)
{
	/* After the tail store: Dekker with T's parked store and tail load. */
	atomic_thread_fence(memory_order_seq_cst);
	unsigned one = 1;
	if (atomic_load_explicit(&parked, memory_order_relaxed) &&
	    atomic_compare_exchange_strong(&parked, &one, 0)) {
		atomic_fetch_add(&bell, 1);
		futex(&bell, FUTEX_WAKE_PRIVATE, 1);
		bell_rings++;
	}
}

static void wait_taken(unsigned my_tail)
{
	long long until = spin_ns > 0 ? now_ns() + spin_ns : 0;
	unsigned n = 0;
	while ((int)(io_uring_smp_load_acquire(ring.sq.khead) - my_tail) < 0) {
		if (spin_ns > 0 && (++n & 15) != 0) {
			cpu_relax();
			continue;
		}
		if (spin_ns > 0 && now_ns() < until) {
			cpu_relax();
			continue;
		}
		unsigned t = atomic_load(&taken);
		atomic_fetch_add(&waiters, 1); /* seq_cst: Dekker with T's taken bump */
		if ((int)(io_uring_smp_load_acquire(ring.sq.khead) - my_tail) < 0) {
			app_take_sleeps++;
			long r = futex(&taken, FUTEX_WAIT_PRIVATE, t);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				die("FUTEX_WAIT (taken)", errno);
		}
		atomic_fetch_sub(&waiters, 1);
	}
}

static void files_update(unsigned slot, int fd)
{
	struct io_uring_rsrc_update up = { .offset = slot, .data = (unsigned long)&fd };
	long r = syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_FILES_UPDATE, &up, 1);
	if (r != 1)
		die("IORING_REGISTER_FILES_UPDATE", r < 0 ? errno : EIO);
}

static void engine_setup(void)
{
	if (mode == KAIO) {
		long r = syscall(SYS_io_setup, RING_ENTRIES, &kctx);
		if (r != 0)
			die("io_setup", errno);
		return;
	}
	struct io_uring_params p = { 0 };
	if (mode == SQPOLL) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 10;
	}
	int r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
	if (r != 0)
		die("io_uring_queue_init_params", r);
	if (mode == THREAD_FIXED && (r = io_uring_register_files_sparse(&ring, TABLE)) != 0)
		die("io_uring_register_files_sparse", r);
	if (mode == THREAD || mode == THREAD_FIXED) {
		/* T blocks no signals of its own; it inherits ours. */
		if ((r = pthread_create(&submitter, NULL, submitter_main, NULL)) != 0)
			die("pthread_create", r);
	}
}

static void engine_teardown(void)
{
	if (mode == KAIO) {
		if (syscall(SYS_io_destroy, kctx) != 0)
			die("io_destroy", errno);
		return;
	}
	if (mode == THREAD || mode == THREAD_FIXED) {
		atomic_store(&stop, 1);
		atomic_fetch_add(&bell, 1);
		futex(&bell, FUTEX_WAKE_PRIVATE, 1);
		int r = pthread_join(submitter, NULL);
		if (r != 0)
			die("pthread_join", r);
	}
	io_uring_queue_exit(&ring);
}

/* Queues one read of fd; its completion carries tag. */
static void engine_submit(int fd, void *buf, off_t off, unsigned tag)
{
	if (mode == KAIO) {
		struct iocb cb = { .aio_data = tag, .aio_lio_opcode = IOCB_CMD_PREAD, .aio_fildes = (unsigned)fd,
				   .aio_buf = (unsigned long)buf, .aio_nbytes = BS, .aio_offset = off };
		struct iocb *cbp = &cb;
		long r = syscall(SYS_io_submit, kctx, 1, &cbp);
		if (r != 1)
			die("io_submit", r < 0 ? errno : EIO);
		return;
	}
	if (mode == DIRECT || mode == SQPOLL) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (sqe == NULL)
			die("io_uring_get_sqe", EBUSY);
		io_uring_prep_read(sqe, fd, buf, BS, off);
		io_uring_sqe_set_data64(sqe, tag);
		int r = io_uring_submit(&ring);
		if (r != 1)
			die("io_uring_submit", r < 0 ? r : EIO);
		if (mode == SQPOLL)
			while ((int)(io_uring_smp_load_acquire(ring.sq.khead) - ring.sq.sqe_tail) < 0)
				cpu_relax();
		return;
	}
	/* thread, thread_fixed */
	int r = pthread_mutex_lock(&push_lock);
	if (r != 0)
		die("pthread_mutex_lock", r);
	unsigned slot = seq++ % TABLE;
	if (mode == THREAD_FIXED)
		files_update(slot, fd);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (sqe == NULL)
		die("io_uring_get_sqe", EBUSY);
	if (mode == THREAD_FIXED) {
		io_uring_prep_read(sqe, (int)slot, buf, BS, off);
		sqe->flags |= IOSQE_FIXED_FILE;
	} else {
		io_uring_prep_read(sqe, fd, buf, BS, off);
	}
	io_uring_sqe_set_data64(sqe, tag);
	unsigned my_tail = ring.sq.sqe_tail;
	ring.sq.array[(my_tail - 1) & *ring.sq.kring_mask] = (my_tail - 1) & *ring.sq.kring_mask;
	ring.sq.sqe_head = my_tail;
	io_uring_smp_store_release(ring.sq.ktail, my_tail);
	if ((r = pthread_mutex_unlock(&push_lock)) != 0)
		die("pthread_mutex_unlock", r);
	ring_bell();
	if (mode == THREAD)
		wait_taken(my_tail);
}

/* Reaps what is ready into tags[] (at most max); if nothing is and wait_ns
 * is not 0, first waits for one completion (wait_ns < 0: without limit).
 * Returns the number reaped (0 on a timeout). */
static int engine_reap(unsigned *tags, int max, long long wait_ns)
{
	if (mode == KAIO) {
		struct io_event ev[MAX_DEPTH];
		struct timespec ts = { wait_ns / 1000000000LL, wait_ns % 1000000000LL }, zero = { 0, 0 };
		long r;
		do
			r = syscall(SYS_io_getevents, kctx, wait_ns != 0 ? 1 : 0, max, ev,
				    wait_ns < 0 ? NULL : wait_ns == 0 ? &zero : &ts);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			die("io_getevents", errno);
		for (long i = 0; i < r; i++) {
			if (ev[i].res != BS) {
				fprintf(stderr, "submitter_designs: read returned %lld\n", (long long)ev[i].res);
				exit(1);
			}
			tags[i] = (unsigned)ev[i].data;
		}
		return (int)r;
	}
	for (;;) {
		unsigned head, n = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (n == (unsigned)max)
				break;
			if (cqe->res != BS) {
				fprintf(stderr, "submitter_designs: read returned %d\n", cqe->res);
				exit(1);
			}
			tags[n++] = (unsigned)cqe->user_data;
		}
		if (n > 0) {
			io_uring_cq_advance(&ring, n);
			return (int)n;
		}
		if (wait_ns == 0)
			return 0;
		int r;
		if (wait_ns < 0) {
			r = enter(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		} else {
			struct __kernel_timespec ts = { wait_ns / 1000000000LL, wait_ns % 1000000000LL };
			struct io_uring_getevents_arg arg = { .sigmask = 0, .sigmask_sz = _NSIG / 8,
							      .ts = (unsigned long)&ts };
			r = enter(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
			if (r == -ETIME)
				return 0;
		}
		if (r < 0 && r != -EINTR && r != -EAGAIN)
			die("io_uring_enter (GETEVENTS)", r);
		if (wait_ns > 0) /* one timed wait only: the caller recomputes its deadline */
			wait_ns = 0;
	}
}

/* ---- per-thread CPU from /proc, for VERBOSE=1 ---- */

#define MAX_TASKS 64
struct task_cpu {
	int tid;
	char comm[32];
	unsigned long long ticks;
};

static int read_tasks(struct task_cpu *t)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		die("opendir /proc/self/task", errno);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < MAX_TASKS) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue; /* gone meanwhile */
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = 0;
		char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		if (open == NULL || close == NULL)
			continue;
		t[n].tid = atoi(e->d_name);
		snprintf(t[n].comm, sizeof t[n].comm, "%.*s", (int)(close - open - 1), open + 1);
		/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime: utime is the 12th field after it */
		unsigned long long ut = 0, st = 0;
		char *p = close + 2;
		for (int k = 0; k < 11 && p != NULL; k++) {
			p = strchr(p, ' ');
			if (p != NULL)
				p++;
		}
		if (p == NULL || sscanf(p, "%llu %llu", &ut, &st) != 2)
			continue;
		t[n].ticks = ut + st;
		n++;
	}
	closedir(d);
	return n;
}

/* ---- the workload ---- */

int main(int argc, char **argv)
{
	mode = -1;
	for (int m = 0; argc >= 4 && m < NMODES; m++)
		if (strcmp(argv[2], mode_names[m]) == 0)
			mode = m;
	int wl = argc >= 4 && argv[3][0] == 'w' && argv[3][1] >= '1' && argv[3][1] <= '3' && !argv[3][2]
			 ? argv[3][1] - '0'
			 : 0;
	double secs = argc >= 5 ? atof(argv[4]) : 3.0;
	if (mode < 0 || wl == 0 || secs <= 0 || argc > 5) {
		fprintf(stderr, "usage: submitter_designs FILE direct|sqpoll|thread|thread_fixed|kaio w1|w2|w3 [SECONDS]\n");
		return 2;
	}
	const char *s = getenv("SPIN_US");
	if (s != NULL)
		spin_ns = atol(s) * 1000;
	if ((s = getenv("T_SPIN_US")) != NULL)
		t_spin_ns = atol(s) * 1000;
	int verbose = getenv("VERBOSE") != NULL && atoi(getenv("VERBOSE")) > 0;
	int odirect = wl == 2, depth = wl == 3 ? 8 : 32;
	long long interval = wl == 3 ? 500000 : 0; /* 2000 requests per second */
	int try_cache = !odirect && mode != DIRECT && mode != KAIO;

	int fd = open(argv[1], O_RDONLY | (odirect ? O_DIRECT : 0));
	if (fd < 0)
		die(argv[1], errno);
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < (off_t)2 << 30) {
		fprintf(stderr, "submitter_designs: %s: want a file of 2 GiB or more\n", argv[1]);
		return 2;
	}
	long long blocks = size / BS;
	int r;
	if (fsync(fd) != 0)
		die("fsync", errno);
	if ((r = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) != 0)
		die("POSIX_FADV_DONTNEED", r);
	if ((r = posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM)) != 0)
		die("POSIX_FADV_RANDOM", r);

	char *bufs;
	if (posix_memalign((void **)&bufs, BS, MAX_DEPTH * BS) != 0)
		die("posix_memalign", ENOMEM);
	memset(bufs, 0, MAX_DEPTH * BS);
	unsigned free_bufs[MAX_DEPTH], tags[MAX_DEPTH];
	int nfree = 0;
	for (int i = 0; i < depth; i++)
		free_bufs[nfree++] = (unsigned)i;
	long long issued_at[MAX_DEPTH];

	engine_setup();

	struct task_cpu before[MAX_TASKS], after[MAX_TASKS];
	int nbefore = verbose ? read_tasks(before) : 0;
	struct rusage ru0, ru1, th0, th1;
	getrusage(RUSAGE_SELF, &ru0);
	getrusage(RUSAGE_THREAD, &th0);
	long long t0 = now_ns(), end = t0 + (long long)(secs * 1e9), next_due = t0;
	unsigned long long x = 88172645463325252ULL;
	long issued = 0, done = 0, cached = 0, queued = 0, reaped = 0, inflight = 0;
	long double lat_sum = 0;

	for (;;) {
		long long now = now_ns();
		int stopping = now >= end;
		while (!stopping && nfree > 0 && (interval == 0 || next_due <= now)) {
			unsigned i = free_bufs[--nfree];
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			off_t off = (off_t)(x % (unsigned long long)blocks) * BS;
			char *buf = bufs + (size_t)i * BS;
			issued++;
			next_due += interval;
			if (interval != 0)
				issued_at[i] = now_ns();
			if (try_cache) {
				struct iovec iov = { buf, BS };
				ssize_t got = preadv2(fd, &iov, 1, off, RWF_NOWAIT);
				if (got == BS) {
					cached++;
					done++;
					if (interval != 0)
						lat_sum += now_ns() - issued_at[i];
					free_bufs[nfree++] = i;
					continue;
				}
				if (got < 0 && errno != EAGAIN)
					die("preadv2", errno);
			}
			engine_submit(fd, buf, off, i);
			queued++;
			inflight++;
		}
		if (stopping && inflight == 0)
			break;
		long long wait = -1; /* unthrottled, or stopping: wait for one */
		if (interval != 0 && !stopping && nfree > 0) {
			now = now_ns();
			if (next_due > now && inflight == 0) {
				struct timespec ts = { next_due / 1000000000LL, next_due % 1000000000LL };
				while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
					;
				if (r != 0)
					die("clock_nanosleep", r);
				continue;
			}
			wait = next_due > now ? next_due - now : 0;
		}
		if (inflight == 0)
			continue;
		int n = engine_reap(tags, MAX_DEPTH, wait);
		long long t = interval != 0 && n > 0 ? now_ns() : 0;
		for (int k = 0; k < n; k++) {
			if (tags[k] >= (unsigned)depth) {
				fprintf(stderr, "submitter_designs: bad completion tag %u\n", tags[k]);
				return 1;
			}
			if (interval != 0)
				lat_sum += t - issued_at[tags[k]];
			free_bufs[nfree++] = tags[k];
		}
		reaped += n;
		done += n;
		inflight -= n;
	}
	long long t1 = now_ns();
	getrusage(RUSAGE_THREAD, &th1);
	getrusage(RUSAGE_SELF, &ru1);
	int nafter = verbose ? read_tasks(after) : 0;

	/* Nothing may be left over, or have come twice. */
	if (done != issued || reaped != queued || inflight != 0 || nfree != depth) {
		fprintf(stderr, "submitter_designs: count mismatch: issued %ld done %ld queued %ld reaped %ld\n", issued,
			done, queued, reaped);
		return 1;
	}
	unsigned tag_check[MAX_DEPTH] = { 0 };
	for (int k = 0; k < nfree; k++)
		if (tag_check[free_bufs[k]]++ != 0) {
			fprintf(stderr, "submitter_designs: buffer %u freed twice\n", free_bufs[k]);
			return 1;
		}
	if (mode != KAIO && io_uring_cq_ready(&ring) != 0) {
		fprintf(stderr, "submitter_designs: %u completions left over\n", io_uring_cq_ready(&ring));
		return 1;
	}
	engine_teardown();

	double wall = (double)(t1 - t0) * 1e-9;
	double user = tv_sec(ru1.ru_utime) - tv_sec(ru0.ru_utime);
	double sys = tv_sec(ru1.ru_stime) - tv_sec(ru0.ru_stime);
	double app = tv_sec(th1.ru_utime) + tv_sec(th1.ru_stime) - tv_sec(th0.ru_utime) - tv_sec(th0.ru_stime);
	printf("%-12s %s  %8.0f IOPS  CPU/IO %6.2f us (user %5.2f sys %5.2f; app thread %5.2f)  CPU %4.2f s in %4.2f s"
	       "  lat %7.1f us  ios %ld cached %ld queued %ld",
	       mode_names[mode], argv[3], (double)done / wall, (user + sys) / (double)done * 1e6,
	       user / (double)done * 1e6, sys / (double)done * 1e6, app / (double)done * 1e6, user + sys, wall,
	       interval != 0 ? (double)(lat_sum / done) / 1e3 : 0.0, done, cached, queued);
	if (mode == THREAD || mode == THREAD_FIXED)
		printf("  T: enters %ld parks %ld; bell rings %ld; take sleeps %ld", t_enters, t_parks, bell_rings,
		       app_take_sleeps);
	printf("\n");
	if (verbose) {
		long tck = sysconf(_SC_CLK_TCK);
		double sum = 0;
		for (int a = 0; a < nafter; a++) {
			unsigned long long b = 0;
			for (int k = 0; k < nbefore; k++)
				if (before[k].tid == after[a].tid)
					b = before[k].ticks;
			double c = (double)(after[a].ticks - b) / (double)tck;
			sum += c;
			printf("    thread %-7d %-16s %6.2f s\n", after[a].tid, after[a].comm, c);
		}
		printf("    sum of threads %6.2f s; RUSAGE_SELF %6.2f s; RUSAGE_THREAD (app) %6.2f s\n", sum, user + sys,
		       app);
	}
	return 0;
}
