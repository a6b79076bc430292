/* Soak and context-cycle checks for a libaio implementation.
 *
 * Built against the system <libaio.h> and linked with -laio; run as is for the
 * system libaio, or with LD_PRELOAD=<other libaio> to check a replacement
 * (scripts/bench --verify does both).
 *
 *   soak --seconds S --seed N [--dir D]
 *
 *     8 submitting threads and 4 reaping threads on 2 shared contexts
 *     (submitters 0-3 and reapers 0-1 on context A, the others on context B),
 *     plus one thread that writes to pipes. Each submitter owns 12 regions of
 *     64 KiB in each of two files, one in D (default: the current directory;
 *     meant to be ext4) and one in /dev/shm (tmpfs), so the order of its writes
 *     and reads there is its own. A region's life: a write of a pattern that
 *     names (thread, region, generation, file), then, after its completion, a
 *     read of the same range that must return exactly that pattern. Reads and
 *     writes are buffered or O_DIRECT, plain or vectored (PREADV/PWRITEV with 2-4
 *     segments), 512 B to 64 KiB (multiples of 512 at 512-aligned offsets when
 *     either side is O_DIRECT, any size and offset otherwise). Each submitter
 *     also keeps 4 polls (IO_CMD_POLL for POLLIN on a fresh pipe) going, in four
 *     modes: fired (the pipe thread writes the pipe), cancelled (a pipe nobody
 *     writes; io_cancel after 0-5 ms), and two racing cancels (io_cancel at
 *     about the time the pipe thread writes, or right after the submitter wrote
 *     the pipe itself). Submissions are batches of 1-8 iocbs.
 *
 *     Reapers call io_getevents with min_nr 1-4 (sometimes 0), nr up to 32 and
 *     timeouts of 0.2-20 ms. Every request carries a unique id in iocb->data
 *     (thread, slot, sequence number); an event whose id names no request in
 *     flight is a stray, one for a request already completed a duplicate. For
 *     reads and writes res must be the full length and res2 0, and a read's
 *     data must match; for polls, what the kernel does (fs/aio.c): a fired poll
 *     reports a POLLIN mask; io_cancel of a pending poll returns -EINPROGRESS
 *     and the poll's event still comes through io_getevents with res 0 (a mask
 *     if the pipe was written at the same time); io_cancel of a poll that has
 *     already completed returns -EINVAL. A cancel that returns 0 must put the
 *     request's event in its result argument, which then counts as the
 *     request's one completion. Every request must complete exactly once: at
 *     the end the submitters stop, cancel what will never fire and wait for
 *     the rest; a request still open 20 s after the end is reported as a hang.
 *     Prints one summary line; exit 0 only when clean.
 *
 *   soak --cycles N --threads T [--seed N]
 *
 *     N cycles over T threads, each: io_setup (nr 3-8); an O_DIRECT write and
 *     a buffered PWRITEV on a /dev/shm file and a poll on a pipe that the
 *     thread then writes; io_getevents for the three; an O_DIRECT read and a
 *     buffered PREADV of what was written, checked; io_destroy. One cycle in
 *     eight destroys the context with its writes and a poll that will never
 *     fire still in flight, then checks that the writes are in the file.
 *     Counts the open descriptors (/proc/self/fd), threads (/proc/self/task)
 *     and mappings (/proc/self/maps lines) after one warm-up cycle and after
 *     the cycles; all three must be back to the
 *     warm-up value (waiting up to 7 s for threads that the kernel ends
 *     asynchronously). The warm-up cycle runs on a thread of its own with a
 *     second context open (one write done on it) until the cycle ends, so that
 *     an implementation's single per-process objects, including those made
 *     only once two contexts exist together, are there before the baseline
 *     (and the warm-up thread's own are gone with it). Thread stacks are allocated before the first count
 *     and the C library's malloc keeps a single arena (M_ARENA_MAX 1), so that
 *     neither the C library's stack cache nor per-thread arenas change the
 *     map count. Exit 1 on any error or difference.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libaio.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the data patterns assume a little-endian machine"
#endif

/* ---------------------------------------------------------------- common */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timespec ns_to_ts(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };
	return ts;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = ns_to_ts(ns);

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* splitmix64's finaliser: the hash of the patterns and the RNG's output. */
static uint64_t fin64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t mix64(uint64_t x)
{
	return fin64(x + 0x9e3779b97f4a7c15ull);
}

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return fin64(r->s);
}

static unsigned below(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static const char *errname(long v)
{
	static __thread char b[32];

	if (v >= 0) {
		snprintf(b, sizeof b, "%ld", v);
		return b;
	}
	switch (-v) {
	case EINVAL: return "-EINVAL";
	case EAGAIN: return "-EAGAIN";
	case EINTR: return "-EINTR";
	case EBADF: return "-EBADF";
	case EFAULT: return "-EFAULT";
	case EINPROGRESS: return "-EINPROGRESS";
	case ECANCELED: return "-ECANCELED";
	case ENOENT: return "-ENOENT";
	case EALREADY: return "-EALREADY";
	case ETIME: return "-ETIME";
	case EIO: return "-EIO";
	case ENOMEM: return "-ENOMEM";
	case EOPNOTSUPP: return "-EOPNOTSUPP";
	case ENOSYS: return "-ENOSYS";
	default: break;
	}
	snprintf(b, sizeof b, "-E%ld", -v);
	return b;
}

static atomic_long g_errors;
static pthread_mutex_t g_print_lock = PTHREAD_MUTEX_INITIALIZER;
#define MAX_MESSAGES 40

/* One problem: counted in *counter, and the first MAX_MESSAGES printed. */
static void problem(atomic_long *counter, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(atomic_long *counter, const char *fmt, ...)
{
	static int printed;
	va_list ap;

	atomic_fetch_add(counter, 1);
	pthread_mutex_lock(&g_print_lock);
	if (printed++ < MAX_MESSAGES) {
		va_start(ap, fmt);
		fputs("soak: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	pthread_mutex_unlock(&g_print_lock);
}

/*
 * Data patterns: byte p of a file holds byte p % 8 (little-endian) of
 * mix64(key + p / 8), key naming the writer, region, generation and file.
 */
static uint64_t pattern_key(uint64_t seed, unsigned a, unsigned b, uint64_t gen, unsigned file)
{
	return mix64(seed ^ mix64(((uint64_t)a << 48) ^ ((uint64_t)b << 36) ^ (gen << 4) ^ file));
}

static unsigned char pattern_byte(uint64_t key, uint64_t p)
{
	return (unsigned char)(mix64(key + (p >> 3)) >> ((p & 7) * 8));
}

static void fill(unsigned char *buf, uint64_t off, size_t len, uint64_t key)
{
	size_t i = 0;

	for (; i < len && ((off + i) & 7); i++)
		buf[i] = pattern_byte(key, off + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = mix64(key + ((off + i) >> 3));

		memcpy(buf + i, &w, 8);
	}
	for (; i < len; i++)
		buf[i] = pattern_byte(key, off + i);
}

/* Index of the first byte of buf that differs from the pattern, or -1. */
static long first_diff(const unsigned char *buf, uint64_t off, size_t len, uint64_t key)
{
	size_t i = 0;

	for (; i < len && ((off + i) & 7); i++)
		if (buf[i] != pattern_byte(key, off + i))
			return (long)i;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = mix64(key + ((off + i) >> 3));

		if (memcmp(buf + i, &w, 8))
			break;
	}
	for (; i < len; i++)
		if (buf[i] != pattern_byte(key, off + i))
			return (long)i;
	return -1;
}

static long count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ soak */

#define NSUB 8
#define NREAP 4
#define NCTX 2
#define NRW 12   /* read/write regions (slots) per submitter */
#define NPOLL 4  /* poll slots per submitter */
#define NOPS (NRW + NPOLL)
#define REGION 65536
#define CTX_NR 128
#define MAXBATCH 8
#define GRACE_NS (20ull * 1000000000u)

enum { ST_IDLE, ST_INFLIGHT, ST_REAPING, ST_DONE };
enum { OP_RW, OP_POLL };
enum { PH_WRITE, PH_READ };
enum { PM_FIRE, PM_CANCEL, PM_RACE_POKER, PM_RACE_SELF, PM_COUNT };
enum { F_DISK, F_SHM, NFILES };

static const char *const pmode_name[PM_COUNT] = { "fire", "cancel", "race-poker", "race-self" };

struct sub;

struct op {
	/* seq << 2 | ST_*: the request in flight or last completed. */
	_Atomic uint64_t word;
	uint64_t seq;
	struct sub *sub;
	int slot, type;
	bool pending; /* prepared, waiting for io_submit */
	struct iocb iocb;
	struct iovec iov[4];
	int niov;
	/* read/write */
	int phase, file, aligned, direct;
	uint64_t off, key, gen;
	size_t len;
	unsigned char *wbuf, *rbuf;
	/* poll */
	int pmode, pfd[2];
	uint64_t cancel_at;
	bool cancel_done, via_result, fire_wanted;
	int cancel_rc;
	_Atomic uint64_t fire_at; /* for the pipe thread: 0 = nothing to do */
	atomic_int fired;
	/* written by whoever completes the request (before ST_DONE) */
	long res;
};

struct sub_counts {
	long submitted, writes, reads, direct, vectored, file[NFILES], polls[PM_COUNT];
	long c_inprogress, c_inprogress_mask, c_zero, c_einval, eagain;
};

struct sub {
	int idx, ctxi;
	io_context_t ctx;
	struct rng rng;
	sem_t wake;
	struct op ops[NOPS];
	struct sub_counts c;
	bool finished;
};

static struct sub g_subs[NSUB];
static io_context_t g_ctx[NCTX];
static int g_fd[NFILES][2]; /* [file][direct] */
static bool g_direct_ok[NFILES];
static uint64_t g_seed, g_end_ns;
static atomic_bool g_all_done;
static atomic_long g_inflight[NCTX], g_completed, g_mismatches, g_duplicates, g_strays;
static atomic_long g_getevents_calls, g_getevents_min_gt1;

static uint64_t req_id(const struct sub *s, const struct op *op, uint64_t seq)
{
	return ((uint64_t)(s->idx + 1) << 56) | ((uint64_t)op->slot << 44) | seq;
}

static const char *op_desc(const struct op *op, char *b, size_t n)
{
	if (op->type == OP_POLL)
		snprintf(b, n, "sub %d slot %d poll (%s)", op->sub->idx, op->slot,
			 pmode_name[op->pmode]);
	else
		snprintf(b, n, "sub %d slot %d %s %s %s%s off %" PRIu64 " len %zu gen %" PRIu64,
			 op->sub->idx, op->slot, op->phase == PH_WRITE ? "write" : "read",
			 op->file == F_DISK ? "disk" : "tmpfs",
			 op->direct ? "O_DIRECT" : "buffered", op->niov ? " vectored" : "",
			 op->off, op->len, op->gen);
	return b;
}

/* An event, from io_getevents or from io_cancel's result argument. */
static void complete(const struct io_event *ev, const char *from)
{
	uint64_t id = (uint64_t)(uintptr_t)ev->data;
	unsigned t = (unsigned)(id >> 56), slot = (unsigned)(id >> 44) & 0xfff;
	uint64_t seq = id & ((1ull << 44) - 1);
	struct op *op;
	struct sub *s;
	uint64_t expect;
	char d[160];

	if (t == 0 || t > NSUB || slot >= NOPS) {
		problem(&g_strays, "stray event (%s): data %#" PRIx64 " obj %p res %s",
			from, id, (void *)ev->obj, errname((long)ev->res));
		return;
	}
	s = &g_subs[t - 1];
	op = &s->ops[slot];
	expect = seq << 2 | ST_INFLIGHT;
	if (!atomic_compare_exchange_strong(&op->word, &expect, seq << 2 | ST_REAPING)) {
		uint64_t cur = expect >> 2;
		int st = (int)(expect & 3);

		/* An older request of this op, or this one after its event. */
		if (seq <= cur)
			problem(&g_duplicates, "duplicate event (%s): %s seq %" PRIu64
				" (current %" PRIu64 ") res %s", from, op_desc(op, d, sizeof d),
				seq, cur, errname((long)ev->res));
		else
			problem(&g_strays, "stray event (%s): %s seq %" PRIu64 " (current %"
				PRIu64 ", state %d) res %s", from, op_desc(op, d, sizeof d), seq,
				cur, st, errname((long)ev->res));
		return;
	}
	if (ev->obj != &op->iocb)
		problem(&g_errors, "event (%s) for %s: obj %p, submitted %p", from,
			op_desc(op, d, sizeof d), (void *)ev->obj, (void *)&op->iocb);
	if (ev->res2 != 0)
		problem(&g_errors, "event (%s) for %s: res2 %s", from, op_desc(op, d, sizeof d),
			errname((long)ev->res2));
	op->res = (long)ev->res;
	if (op->type == OP_RW) {
		if (op->res != (long)op->len) {
			problem(&g_errors, "%s: res %s, expected %zu", op_desc(op, d, sizeof d),
				errname(op->res), op->len);
		} else if (op->phase == PH_READ) {
			long at = first_diff(op->rbuf, op->off, op->len, op->key);

			if (at >= 0)
				problem(&g_mismatches, "%s: data differs at byte %ld (file offset %"
					PRIu64 "): %#x, expected %#x", op_desc(op, d, sizeof d), at,
					op->off + (uint64_t)at, op->rbuf[at],
					pattern_byte(op->key, op->off + (uint64_t)at));
		}
	}
	atomic_fetch_sub(&g_inflight[s->ctxi], 1);
	atomic_fetch_add(&g_completed, 1);
	atomic_store(&op->word, seq << 2 | ST_DONE);
	sem_post(&s->wake);
}

/* Splits [buf, buf+len) into 2-4 segments (multiples of 512 when aligned). */
static int split(struct op *op, unsigned char *buf)
{
	struct rng *r = &op->sub->rng;
	unsigned unit = op->aligned ? 512 : 1;
	size_t units = op->len / unit, left = units;
	unsigned n = 2 + below(r, 3), i;
	size_t pos = 0;

	if (units < n)
		n = (unsigned)units;
	if (n < 2)
		return 0;
	for (i = 0; i < n; i++) {
		size_t take = i == n - 1 ? left : 1 + below(r, (unsigned)(left - (n - 1 - i)));

		op->iov[i].iov_base = buf + pos * unit;
		op->iov[i].iov_len = take * unit;
		pos += take;
		left -= take;
	}
	return (int)n;
}

static void prep_rw(struct op *op)
{
	struct rng *r = &op->sub->rng;
	int fd;
	unsigned char *buf;

	op->direct = op->aligned && g_direct_ok[op->file] && below(r, 2);
	fd = g_fd[op->file][op->direct];
	buf = op->phase == PH_WRITE ? op->wbuf : op->rbuf;
	if (op->phase == PH_READ)
		memset(op->rbuf, 0xee, op->len);
	op->niov = below(r, 10) < 3 ? split(op, buf) : 0;
	if (op->phase == PH_WRITE) {
		if (op->niov)
			io_prep_pwritev(&op->iocb, fd, op->iov, op->niov, (long long)op->off);
		else
			io_prep_pwrite(&op->iocb, fd, buf, op->len, (long long)op->off);
	} else {
		if (op->niov)
			io_prep_preadv(&op->iocb, fd, op->iov, op->niov, (long long)op->off);
		else
			io_prep_pread(&op->iocb, fd, buf, op->len, (long long)op->off);
	}
	op->pending = true;
}

static void start_rw(struct sub *s, struct op *op)
{
	struct rng *r = &s->rng;
	uint64_t base;

	op->gen++;
	op->file = (int)below(r, NFILES);
	op->aligned = below(r, 4) != 0;
	if (op->aligned) {
		op->len = 512 * (1 + below(r, REGION / 512));
		op->off = 512 * below(r, (unsigned)((REGION - op->len) / 512 + 1));
	} else {
		op->len = 1 + below(r, REGION);
		op->off = below(r, (unsigned)(REGION - op->len + 1));
	}
	base = (uint64_t)(s->idx * NRW + op->slot) * REGION;
	op->off += base;
	op->key = pattern_key(g_seed, (unsigned)s->idx, (unsigned)op->slot, op->gen,
			      (unsigned)op->file);
	fill(op->wbuf, op->off, op->len, op->key);
	op->phase = PH_WRITE;
	prep_rw(op);
}

static void start_poll(struct sub *s, struct op *op)
{
	unsigned x = below(&s->rng, 100);

	op->pmode = x < 40 ? PM_FIRE : x < 70 ? PM_CANCEL : x < 85 ? PM_RACE_POKER : PM_RACE_SELF;
	if (pipe2(op->pfd, O_NONBLOCK | O_CLOEXEC)) {
		problem(&g_errors, "pipe2: %s", strerror(errno));
		return;
	}
	io_prep_poll(&op->iocb, op->pfd[0], POLLIN);
	op->cancel_done = op->via_result = op->fire_wanted = false;
	op->cancel_rc = 1;
	atomic_store(&op->fired, 0);
	atomic_store(&op->fire_at, 0);
	op->pending = true;
}

static void do_cancel(struct sub *s, struct op *op)
{
	struct io_event r;
	int rc;

	memset(&r, 0, sizeof r);
	rc = io_cancel(s->ctx, &op->iocb, &r);
	op->cancel_done = true;
	op->cancel_rc = rc;
	if (rc == 0) {
		op->via_result = true;
		s->c.c_zero++;
		complete(&r, "io_cancel result");
	} else if (rc == -EINPROGRESS) {
		s->c.c_inprogress++;
	} else if (rc == -EINVAL) {
		s->c.c_einval++;
	}
}

static bool poll_mask_ok(long res)
{
	return res > 0 && (res & POLLIN) && !(res & ~(long)(POLLIN | POLLRDNORM));
}

/* The poll's verdict, once it has completed and nothing else is pending. */
static void judge_poll(struct sub *s, struct op *op)
{
	long res = op->res;
	int rc = op->cancel_rc;
	bool ok;
	char d[160];

	switch (op->pmode) {
	case PM_FIRE:
		ok = poll_mask_ok(res);
		break;
	case PM_CANCEL:
		/* Nobody writes this pipe: only a cancel can complete it. */
		ok = res == 0 && (rc == -EINPROGRESS || (rc == 0 && op->via_result));
		break;
	default:
		if (rc == -EINPROGRESS) {
			/* fs/aio.c: a wake-up already being handled can still
			 * complete the cancelled poll with its mask. */
			ok = res == 0 || poll_mask_ok(res);
			if (res)
				s->c.c_inprogress_mask++;
		} else if (rc == 0) {
			ok = op->via_result && (res == 0 || poll_mask_ok(res));
		} else if (rc == -EINVAL) {
			ok = poll_mask_ok(res);
		} else {
			ok = false;
		}
		break;
	}
	if (!ok)
		problem(&g_errors, "%s: res %s, io_cancel %s%s", op_desc(op, d, sizeof d),
			errname(res), op->cancel_done ? errname(rc) : "not called",
			op->via_result ? " (event in its result)" : "");
}

static void set_idle(struct op *op)
{
	atomic_store(&op->word, op->seq << 2 | ST_IDLE);
}

/* A request of op has completed (ST_DONE): the next step. Returns false if
 * the op must wait (a poll whose pipe the pipe thread has yet to write). */
static bool finish(struct sub *s, struct op *op)
{
	if (op->type == OP_RW) {
		if (op->phase == PH_WRITE && op->res == (long)op->len) {
			op->phase = PH_READ;
			prep_rw(op);
		}
		set_idle(op);
		return true;
	}
	if (op->pmode != PM_FIRE && !op->cancel_done)
		do_cancel(s, op); /* completed before its cancel: -EINVAL expected */
	if (op->fire_wanted && !atomic_load(&op->fired))
		return false;
	judge_poll(s, op);
	close(op->pfd[0]);
	close(op->pfd[1]);
	set_idle(op);
	return true;
}

static void after_submit(struct sub *s, struct op *op, uint64_t now)
{
	struct sub_counts *c = &s->c;

	c->submitted++;
	if (op->type == OP_RW) {
		if (op->phase == PH_WRITE)
			c->writes++;
		else
			c->reads++;
		c->direct += op->direct;
		c->vectored += op->niov != 0;
		c->file[op->file]++;
		return;
	}
	c->polls[op->pmode]++;
	switch (op->pmode) {
	case PM_FIRE:
		op->fire_wanted = true;
		atomic_store(&op->fire_at, now + 1 + below(&s->rng, 1000000));
		break;
	case PM_CANCEL:
		op->cancel_at = now + (below(&s->rng, 4) ? below(&s->rng, 5000000) : 0);
		break;
	case PM_RACE_POKER: {
		uint64_t at = now + 1 + below(&s->rng, 2000000);

		op->fire_wanted = true;
		op->cancel_at = at - 100000 + below(&s->rng, 200000);
		atomic_store(&op->fire_at, at);
		break;
	}
	case PM_RACE_SELF:
		if (write(op->pfd[1], "x", 1) != 1)
			problem(&g_errors, "pipe write: %s", strerror(errno));
		do_cancel(s, op);
		break;
	}
}

/* Submits the batch in chunks of 1-MAXBATCH; false if io_submit took fewer
 * than asked (the rest stay pending). */
static bool submit_batch(struct sub *s, struct op **batch, int nb)
{
	struct iocb *list[NOPS];
	int i = 0;

	while (i < nb) {
		int n = 1 + (int)below(&s->rng, MAXBATCH), k, got;
		uint64_t now;

		if (n > nb - i)
			n = nb - i;
		for (k = 0; k < n; k++) {
			struct op *op = batch[i + k];

			op->seq++;
			op->iocb.data = (void *)(uintptr_t)req_id(s, op, op->seq);
			list[k] = &op->iocb;
			atomic_fetch_add(&g_inflight[s->ctxi], 1);
			atomic_store(&op->word, op->seq << 2 | ST_INFLIGHT);
		}
		got = io_submit(s->ctx, n, list);
		now = now_ns();
		for (k = 0; k < n; k++) {
			struct op *op = batch[i + k];

			if (k < got) {
				op->pending = false;
				after_submit(s, op, now);
				continue;
			}
			set_idle(op);
			atomic_fetch_sub(&g_inflight[s->ctxi], 1);
			if (got < 0 && k == 0 && got != -EAGAIN) {
				char d[160];

				problem(&g_errors, "io_submit of %d: %s for %s", n, errname(got),
					op_desc(op, d, sizeof d));
				op->pending = false; /* dropped */
				if (op->type == OP_POLL) {
					close(op->pfd[0]);
					close(op->pfd[1]);
				}
			}
		}
		if (got < n) {
			if (got == -EAGAIN || got >= 0)
				s->c.eagain++;
			return false; /* the rest next round */
		}
		i += n;
	}
	return true;
}

static void *submitter(void *arg)
{
	struct sub *s = arg;
	struct op *batch[NOPS];

	for (;;) {
		uint64_t now = now_ns(), next = now + 2000000;
		bool stopping = now >= g_end_ns, busy = false, all_idle = true;
		int nb = 0, i;
		bool refused = false;

		for (i = 0; i < NOPS; i++) {
			struct op *op = &s->ops[i];
			int st = (int)(atomic_load(&op->word) & 3);

			if (st == ST_DONE) {
				if (finish(s, op))
					busy = true;
				st = (int)(atomic_load(&op->word) & 3);
			}
			if (st == ST_INFLIGHT && op->type == OP_POLL && op->pmode != PM_FIRE &&
			    !op->cancel_done) {
				if (stopping && op->pmode == PM_CANCEL)
					op->cancel_at = now;
				if (now >= op->cancel_at) {
					do_cancel(s, op);
					busy = true;
				} else if (op->cancel_at < next) {
					next = op->cancel_at;
				}
			}
			if (st == ST_IDLE && !op->pending && !stopping) {
				if (op->type == OP_RW)
					start_rw(s, op);
				else
					start_poll(s, op);
			}
			if (st == ST_IDLE && op->pending)
				batch[nb++] = op;
			if (st != ST_IDLE || op->pending)
				all_idle = false;
		}
		if (nb)
			refused = !submit_batch(s, batch, nb);
		if (stopping && all_idle)
			break;
		if (refused && next > now + 1000000)
			next = now + 1000000; /* the context is full: retry after a completion */
		if (!busy && (!nb || refused)) {
			struct timespec ts = ns_to_ts(next);

			while (sem_clockwait(&s->wake, CLOCK_MONOTONIC, &ts) && errno == EINTR)
				;
		}
	}
	s->finished = true;
	return NULL;
}

struct reaper_arg {
	int idx, ctxi;
	struct rng rng;
};

static void *reaper(void *arg)
{
	struct reaper_arg *a = arg;
	io_context_t ctx = g_ctx[a->ctxi];
	struct io_event ev[32];

	for (;;) {
		bool final = atomic_load(&g_all_done);
		long min_nr, nr;
		struct timespec ts = { 0, 0 };
		int n, i;

		if (final) {
			min_nr = 1;
			nr = 32;
			ts.tv_nsec = 100000000;
		} else if (below(&a->rng, 16) == 0) {
			min_nr = 0;
			nr = 1 + below(&a->rng, 32);
		} else {
			min_nr = 1 + below(&a->rng, 4);
			nr = min_nr + below(&a->rng, (unsigned)(32 - min_nr + 1));
			ts.tv_nsec = 200000 + below(&a->rng, 20000000);
		}
		atomic_fetch_add(&g_getevents_calls, 1);
		if (min_nr > 1)
			atomic_fetch_add(&g_getevents_min_gt1, 1);
		n = io_getevents(ctx, min_nr, nr, ev, &ts);
		if (n < 0) {
			problem(&g_errors, "reaper %d: io_getevents(min_nr %ld, nr %ld): %s", a->idx,
				min_nr, nr, errname(n));
			sleep_ns(1000000);
			continue;
		}
		if (n > nr)
			problem(&g_errors, "reaper %d: io_getevents returned %d > nr %ld", a->idx, n, nr);
		for (i = 0; i < n && i < nr; i++)
			complete(&ev[i], "io_getevents");
		if (final && n == 0)
			break;
	}
	return NULL;
}

/* Writes the pipes of fired and racing polls when their time comes. */
static void *poker(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_all_done)) {
		uint64_t now = now_ns();
		int t, i;

		for (t = 0; t < NSUB; t++)
			for (i = NRW; i < NOPS; i++) {
				struct op *op = &g_subs[t].ops[i];
				uint64_t at = atomic_load(&op->fire_at);

				if (!at || now < at)
					continue;
				atomic_store(&op->fire_at, 0);
				if (write(op->pfd[1], "x", 1) != 1)
					problem(&g_errors, "pipe write: %s", strerror(errno));
				atomic_store(&op->fired, 1);
				sem_post(&g_subs[t].wake);
			}
		sleep_ns(100000);
	}
	return NULL;
}

static void dump_open_requests(void)
{
	int t, i;
	char d[160];

	for (t = 0; t < NSUB; t++)
		for (i = 0; i < NOPS; i++) {
			struct op *op = &g_subs[t].ops[i];
			uint64_t w = atomic_load(&op->word);

			if ((w & 3) == ST_IDLE && !op->pending)
				continue;
			fprintf(stderr, "soak:   open: %s seq %" PRIu64 " state %d pending %d%s%s\n",
				op_desc(op, d, sizeof d), w >> 2, (int)(w & 3), op->pending,
				op->type == OP_POLL && op->cancel_done ? " io_cancel " : "",
				op->type == OP_POLL && op->cancel_done ? errname(op->cancel_rc) : "");
		}
}

static int join_by(pthread_t th, uint64_t deadline, const char *what)
{
	struct timespec ts;
	int rc;

	/* pthread_timedjoin_np's deadline is CLOCK_REALTIME. */
	clock_gettime(CLOCK_REALTIME, &ts);
	{
		uint64_t left = deadline > now_ns() ? deadline - now_ns() : 0;
		uint64_t abs_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + left;

		ts = ns_to_ts(abs_ns);
	}
	rc = pthread_timedjoin_np(th, NULL, &ts);
	if (rc) {
		fflush(stdout);
		fprintf(stderr, "soak: HANG: %s did not finish (%s); %ld requests in flight "
			"(context A %ld, B %ld), %ld completed\n", what, strerror(rc),
			atomic_load(&g_inflight[0]) + atomic_load(&g_inflight[1]),
			atomic_load(&g_inflight[0]), atomic_load(&g_inflight[1]),
			atomic_load(&g_completed));
		dump_open_requests();
		fprintf(stderr, "soak: FAIL (hang)\n");
		_exit(1);
	}
	return 0;
}

static int open_file(const char *path, int i, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	unsigned char *zero;
	size_t done;

	if (fd < 0) {
		fprintf(stderr, "soak: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	g_fd[i][0] = fd;
	g_fd[i][1] = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	g_direct_ok[i] = g_fd[i][1] >= 0;
	if (!g_direct_ok[i]) {
		fprintf(stderr, "soak: note: %s: no O_DIRECT (%s)\n", path, strerror(errno));
		g_fd[i][1] = fd;
	}
	unlink(path);
	zero = calloc(1, 1 << 20);
	if (!zero)
		return -1;
	for (done = 0; done < size; done += 1 << 20)
		if (pwrite(fd, zero, 1 << 20, (off_t)done) != 1 << 20) {
			fprintf(stderr, "soak: writing %s: %s\n", path, strerror(errno));
			free(zero);
			return -1;
		}
	free(zero);
	fsync(fd);
	return 0;
}

static const char *fs_name(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf))
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	default: return "other";
	}
}

static int run_soak(unsigned seconds, uint64_t seed, const char *dir)
{
	size_t size = (size_t)NSUB * NRW * REGION;
	char path[NFILES][PATH_MAX];
	pthread_t sth[NSUB], rth[NREAP], pth;
	struct reaper_arg ra[NREAP];
	uint64_t start, deadline;
	struct sub_counts tot;
	long submitted, completed, errors, mism, dups, strays;
	int t, i, c;

	g_seed = seed;
	snprintf(path[F_DISK], PATH_MAX, "%s/soak-%d.dat", dir, (int)getpid());
	snprintf(path[F_SHM], PATH_MAX, "/dev/shm/soak-%d.dat", (int)getpid());
	for (i = 0; i < NFILES; i++)
		if (open_file(path[i], i, size))
			return 1;
	for (c = 0; c < NCTX; c++) {
		int rc = io_setup(CTX_NR, &g_ctx[c]);

		if (rc) {
			fprintf(stderr, "soak: io_setup(%d): %s\n", CTX_NR, errname(rc));
			return 1;
		}
	}
	for (t = 0; t < NSUB; t++) {
		struct sub *s = &g_subs[t];

		s->idx = t;
		s->ctxi = t / (NSUB / NCTX);
		s->ctx = g_ctx[s->ctxi];
		s->rng.s = mix64(seed * 1000003u + (uint64_t)t);
		sem_init(&s->wake, 0, 0);
		for (i = 0; i < NOPS; i++) {
			struct op *op = &s->ops[i];

			op->sub = s;
			op->slot = i;
			op->type = i < NRW ? OP_RW : OP_POLL;
			if (op->type == OP_RW &&
			    (posix_memalign((void **)&op->wbuf, 4096, REGION) ||
			     posix_memalign((void **)&op->rbuf, 4096, REGION))) {
				fprintf(stderr, "soak: out of memory\n");
				return 1;
			}
		}
	}
	start = now_ns();
	g_end_ns = start + (uint64_t)seconds * 1000000000u;
	for (i = 0; i < NREAP; i++) {
		ra[i].idx = i;
		ra[i].ctxi = i / (NREAP / NCTX);
		ra[i].rng.s = mix64(seed * 1000003u + 100 + (uint64_t)i);
		pthread_create(&rth[i], NULL, reaper, &ra[i]);
	}
	pthread_create(&pth, NULL, poker, NULL);
	for (t = 0; t < NSUB; t++)
		pthread_create(&sth[t], NULL, submitter, &g_subs[t]);

	deadline = g_end_ns + GRACE_NS;
	for (t = 0; t < NSUB; t++) {
		char what[64];

		snprintf(what, sizeof what, "submitter %d (waiting for its requests)", t);
		join_by(sth[t], deadline, what);
	}
	atomic_store(&g_all_done, true);
	deadline = now_ns() + 10ull * 1000000000u;
	for (i = 0; i < NREAP; i++)
		join_by(rth[i], deadline, "a reaper");
	join_by(pth, deadline, "the pipe thread");
	for (c = 0; c < NCTX; c++) {
		int rc = io_destroy(g_ctx[c]);

		if (rc)
			problem(&g_errors, "io_destroy: %s", errname(rc));
	}
	for (i = 0; i < NFILES; i++) {
		if (g_fd[i][1] != g_fd[i][0])
			close(g_fd[i][1]);
		close(g_fd[i][0]);
	}

	memset(&tot, 0, sizeof tot);
	for (t = 0; t < NSUB; t++) {
		struct sub_counts *x = &g_subs[t].c;

		tot.submitted += x->submitted;
		tot.writes += x->writes;
		tot.reads += x->reads;
		tot.direct += x->direct;
		tot.vectored += x->vectored;
		for (i = 0; i < NFILES; i++)
			tot.file[i] += x->file[i];
		for (i = 0; i < PM_COUNT; i++)
			tot.polls[i] += x->polls[i];
		tot.c_inprogress += x->c_inprogress;
		tot.c_inprogress_mask += x->c_inprogress_mask;
		tot.c_zero += x->c_zero;
		tot.c_einval += x->c_einval;
		tot.eagain += x->eagain;
	}
	submitted = tot.submitted;
	completed = atomic_load(&g_completed);
	if (completed != submitted)
		problem(&g_errors, "%ld requests submitted, %ld completed", submitted, completed);
	errors = atomic_load(&g_errors);
	mism = atomic_load(&g_mismatches);
	dups = atomic_load(&g_duplicates);
	strays = atomic_load(&g_strays);
	printf("soak: %.1f s, seed %" PRIu64 ", dir %s (%s): requests=%ld completed=%ld "
	       "writes=%ld reads=%ld (O_DIRECT %ld, vectored %ld; %s %ld, tmpfs %ld) "
	       "polls=%ld (fired %ld, cancelled %ld, racing cancel %ld + %ld) "
	       "io_cancel: -EINPROGRESS=%ld (then a mask %ld) 0=%ld -EINVAL=%ld; "
	       "io_getevents calls=%ld (min_nr>1: %ld), io_submit short/-EAGAIN=%ld; "
	       "errors=%ld mismatches=%ld duplicates=%ld strays=%ld\n",
	       (double)(now_ns() - start) / 1e9, seed, dir, fs_name(dir), submitted, completed,
	       tot.writes, tot.reads, tot.direct, tot.vectored, fs_name(dir), tot.file[F_DISK],
	       tot.file[F_SHM], tot.polls[PM_FIRE] + tot.polls[PM_CANCEL] +
	       tot.polls[PM_RACE_POKER] + tot.polls[PM_RACE_SELF], tot.polls[PM_FIRE],
	       tot.polls[PM_CANCEL], tot.polls[PM_RACE_POKER], tot.polls[PM_RACE_SELF],
	       tot.c_inprogress, tot.c_inprogress_mask, tot.c_zero, tot.c_einval,
	       atomic_load(&g_getevents_calls), atomic_load(&g_getevents_min_gt1), tot.eagain,
	       errors, mism, dups, strays);
	if (errors || mism || dups || strays || !submitted) {
		printf("soak: FAIL\n");
		return 1;
	}
	printf("soak: PASS\n");
	return 0;
}

/* ---------------------------------------------------------------- cycles */

#define CYC_STACK (1u << 20)
#define CYC_REGION 16384
#define CYC_WAIT_S 10

struct cyc {
	int idx;
	long cycles, done, flights;
	struct rng rng;
	unsigned char *buf; /* 4 x 4096, aligned */
	int pfd[2], quiet[2];
	bool second; /* warm-up: keep a second context open during the cycle */
	pthread_t th;
};

static int g_cyc_fd[2]; /* buffered, O_DIRECT */
static atomic_long g_cyc_errors;

static int cyc_reap(struct cyc *c, io_context_t ctx, struct iocb **iocbs, int n, long cycle)
{
	struct io_event ev[4];
	struct timespec ts = { CYC_WAIT_S, 0 };
	bool seen[4] = { false };
	int got = 0, i, k;

	while (got < n) {
		int r = io_getevents(ctx, n - got, n - got, ev, &ts);

		if (r <= 0) {
			problem(&g_cyc_errors, "thread %d cycle %ld: io_getevents: %s after %d of %d "
				"events", c->idx, cycle, r ? errname(r) : "nothing in 10 s", got, n);
			return -1;
		}
		for (i = 0; i < r; i++) {
			for (k = 0; k < n; k++)
				if (ev[i].obj == iocbs[k])
					break;
			if (k == n || seen[k] || ev[i].data != iocbs[k]->data) {
				problem(&g_cyc_errors, "thread %d cycle %ld: %s event obj %p data %p",
					c->idx, cycle, k < n && seen[k] ? "duplicate" : "stray",
					(void *)ev[i].obj, ev[i].data);
				return -1;
			}
			seen[k] = true;
			if (iocbs[k]->aio_lio_opcode == IO_CMD_POLL ? !poll_mask_ok((long)ev[i].res)
			    : (long)ev[i].res != 4096) {
				problem(&g_cyc_errors, "thread %d cycle %ld: request %d (opcode %d): "
					"res %s", c->idx, cycle, k, iocbs[k]->aio_lio_opcode,
					errname((long)ev[i].res));
				return -1;
			}
			if (ev[i].res2)
				problem(&g_cyc_errors, "thread %d cycle %ld: res2 %s", c->idx, cycle,
					errname((long)ev[i].res2));
		}
		got += r;
	}
	return 0;
}

static void cyc_check(struct cyc *c, const unsigned char *buf, uint64_t off, uint64_t key,
		      long cycle, const char *what)
{
	long at = first_diff(buf, off, 4096, key);

	if (at >= 0)
		problem(&g_cyc_errors, "thread %d cycle %ld: %s: data differs at byte %ld",
			c->idx, cycle, what, at);
}

static void one_cycle(struct cyc *c, long cycle)
{
	io_context_t ctx = 0;
	struct iocb cb[3], *list[3];
	struct iovec iov[2];
	unsigned char *w1 = c->buf, *w2 = c->buf + 4096, *r1 = c->buf + 8192,
		      *r2 = c->buf + 12288;
	uint64_t off = (uint64_t)c->idx * CYC_REGION;
	uint64_t key = pattern_key(g_seed, (unsigned)c->idx, 0, (uint64_t)cycle, 7);
	int nr = 3 + (int)below(&c->rng, 6), rc, i;
	bool flight = below(&c->rng, 8) == 0 && !c->second;
	char byte;

	rc = io_setup(nr, &ctx);
	if (rc) {
		problem(&g_cyc_errors, "thread %d cycle %ld: io_setup(%d): %s", c->idx, cycle, nr,
			errname(rc));
		return;
	}
	fill(w1, off, 4096, key);
	fill(w2, off + 4096, 4096, key);
	io_prep_pwrite(&cb[0], g_cyc_fd[1], w1, 4096, (long long)off);
	iov[0].iov_base = w2;
	iov[0].iov_len = 1000;
	iov[1].iov_base = w2 + 1000;
	iov[1].iov_len = 4096 - 1000;
	io_prep_pwritev(&cb[1], g_cyc_fd[0], iov, 2, (long long)(off + 4096));
	io_prep_poll(&cb[2], flight ? c->quiet[0] : c->pfd[0], POLLIN);
	for (i = 0; i < 3; i++) {
		cb[i].data = (void *)(uintptr_t)(((uint64_t)cycle << 8) | (uint64_t)i << 4 | 1);
		list[i] = &cb[i];
	}
	rc = io_submit(ctx, 3, list);
	if (rc != 3) {
		problem(&g_cyc_errors, "thread %d cycle %ld: io_submit of 3: %s", c->idx, cycle,
			errname(rc));
		goto destroy;
	}
	if (flight) {
		/* Destroy with the poll (and perhaps the writes) in flight: io_destroy
		 * waits for them, so the data must be in the file when it returns. */
		c->flights++;
		rc = io_destroy(ctx);
		if (rc)
			problem(&g_cyc_errors, "thread %d cycle %ld: io_destroy in flight: %s",
				c->idx, cycle, errname(rc));
		memset(r1, 0xee, 8192);
		if (pread(g_cyc_fd[0], r1, 8192, (off_t)off) != 8192)
			problem(&g_cyc_errors, "thread %d cycle %ld: pread: %s", c->idx, cycle,
				strerror(errno));
		cyc_check(c, r1, off, key, cycle, "after io_destroy, first write");
		cyc_check(c, r2, off + 4096, key, cycle, "after io_destroy, second write");
		return;
	}
	if (write(c->pfd[1], "x", 1) != 1)
		problem(&g_cyc_errors, "pipe write: %s", strerror(errno));
	if (cyc_reap(c, ctx, list, 3, cycle))
		goto destroy;
	if (read(c->pfd[0], &byte, 1) != 1)
		problem(&g_cyc_errors, "thread %d cycle %ld: pipe empty after its poll", c->idx,
			cycle);
	memset(r1, 0xee, 8192);
	io_prep_pread(&cb[0], g_cyc_fd[1], r1, 4096, (long long)off);
	iov[0].iov_base = r2;
	iov[0].iov_len = 2048;
	iov[1].iov_base = r2 + 2048;
	iov[1].iov_len = 2048;
	io_prep_preadv(&cb[1], g_cyc_fd[0], iov, 2, (long long)(off + 4096));
	for (i = 0; i < 2; i++)
		cb[i].data = (void *)(uintptr_t)(((uint64_t)cycle << 8) | (uint64_t)i << 4 | 2);
	rc = io_submit(ctx, 2, list);
	if (rc != 2) {
		problem(&g_cyc_errors, "thread %d cycle %ld: io_submit of 2 reads: %s", c->idx,
			cycle, errname(rc));
		goto destroy;
	}
	if (cyc_reap(c, ctx, list, 2, cycle) == 0) {
		cyc_check(c, r1, off, key, cycle, "O_DIRECT read");
		cyc_check(c, r2, off + 4096, key, cycle, "PREADV");
	}
destroy:
	rc = io_destroy(ctx);
	if (rc)
		problem(&g_cyc_errors, "thread %d cycle %ld: io_destroy: %s", c->idx, cycle,
			errname(rc));
}

/* The warm-up's second context, with one write done on it. */
static io_context_t second_context(struct cyc *c)
{
	io_context_t ctx = 0;
	struct iocb cb, *list[1] = { &cb };
	unsigned char *w = c->buf;
	int rc;

	rc = io_setup(4, &ctx);
	if (rc) {
		problem(&g_cyc_errors, "warm-up: io_setup of a second context: %s", errname(rc));
		return 0;
	}
	memset(w, 0x5a, 4096);
	io_prep_pwrite(&cb, g_cyc_fd[0], w, 4096, (long long)c->idx * CYC_REGION);
	cb.data = &cb;
	rc = io_submit(ctx, 1, list);
	if (rc != 1 || cyc_reap(c, ctx, list, 1, -1))
		problem(&g_cyc_errors, "warm-up: write on a second context: %s", errname(rc));
	return ctx;
}

static void *cyc_thread(void *arg)
{
	struct cyc *c = arg;
	io_context_t second = 0;
	long i;

	if (pipe2(c->pfd, O_NONBLOCK | O_CLOEXEC) || pipe2(c->quiet, O_NONBLOCK | O_CLOEXEC)) {
		problem(&g_cyc_errors, "pipe2: %s", strerror(errno));
		return NULL;
	}
	if (c->second)
		second = second_context(c);
	for (i = 0; i < c->cycles; i++) {
		one_cycle(c, i);
		c->done++;
	}
	if (second && io_destroy(second))
		problem(&g_cyc_errors, "warm-up: io_destroy of the second context failed");
	close(c->pfd[0]);
	close(c->pfd[1]);
	close(c->quiet[0]);
	close(c->quiet[1]);
	return NULL;
}

struct census {
	long fds, threads, maps;
};

static char g_maps_before[1 << 20], g_maps_now[1 << 20];

static long read_maps(char *buf, size_t size)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	long lines = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (len < size - 1 && (r = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = 0;
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	return lines;
}

static struct census take_census(char *maps)
{
	struct census c;

	c.fds = count_dir("/proc/self/fd") - 1; /* less the directory's own */
	c.threads = count_dir("/proc/self/task");
	c.maps = read_maps(maps, sizeof g_maps_now);
	return c;
}

static bool census_eq(struct census a, struct census b)
{
	return a.fds == b.fds && a.threads == b.threads && a.maps == b.maps;
}

/* Waits (up to max_ms) until the census stops changing or equals *want. */
static struct census settle(const struct census *want, int max_ms, int *waited)
{
	struct census prev = take_census(g_maps_now), cur;
	int ms = 0, same = 0;

	for (;;) {
		if (want && census_eq(prev, *want))
			break;
		if (ms >= max_ms)
			break;
		sleep_ns(20000000);
		ms += 20;
		cur = take_census(g_maps_now);
		same = census_eq(cur, prev) ? same + 1 : 0;
		prev = cur;
		if (!want && same >= 10)
			break;
	}
	*waited = ms;
	return prev;
}

static void print_new_lines(const char *before, const char *now)
{
	const char *p = now;
	int shown = 0;

	while (*p && shown < 20) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *q = before;
		bool found = false;

		while (*q) {
			const char *f = strchr(q, '\n');
			size_t m = f ? (size_t)(f - q) : strlen(q);

			if (m == n && !memcmp(p, q, n)) {
				found = true;
				break;
			}
			q += m + (f != NULL);
		}
		if (!found) {
			fprintf(stderr, "cycles:   new mapping: %.*s\n", (int)n, p);
			shown++;
		}
		p += n + (e != NULL);
	}
}

static void print_fds_and_tasks(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[PATH_MAX];

	while (d && (e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		fprintf(stderr, "cycles:   fd %s -> %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
	d = opendir("/proc/self/task");
	while (d && (e = readdir(d))) {
		int fd;
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, target, sizeof target - 1) : -1;
		if (fd >= 0)
			close(fd);
		target[n > 0 ? n - 1 : 0] = 0;
		fprintf(stderr, "cycles:   task %s %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
}

static int run_cycles(long cycles, int threads, uint64_t seed)
{
	char path[PATH_MAX];
	struct cyc *cs;
	unsigned char *stacks, *bufs;
	struct census start, base, after;
	pthread_attr_t attr;
	uint64_t t0;
	long done = 0, flights = 0;
	int waited, i, errors;

	g_seed = seed;
	/* One malloc arena for every thread: per-thread arenas would add
	 * mappings that outlive the threads, whatever the libaio. */
	mallopt(M_ARENA_MAX, 1);
	snprintf(path, sizeof path, "/dev/shm/soak-cycles-%d.dat", (int)getpid());
	g_cyc_fd[0] = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (g_cyc_fd[0] < 0) {
		fprintf(stderr, "cycles: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	g_cyc_fd[1] = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	unlink(path);
	if (g_cyc_fd[1] < 0) {
		fprintf(stderr, "cycles: O_DIRECT on %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (ftruncate(g_cyc_fd[0], (off_t)(threads + 1) * CYC_REGION)) {
		fprintf(stderr, "cycles: ftruncate: %s\n", strerror(errno));
		return 1;
	}
	/* Stacks and buffers of every thread (the warm-up's too), made now. */
	stacks = mmap(NULL, (size_t)(threads + 1) * CYC_STACK, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cs = calloc((size_t)threads + 1, sizeof *cs);
	if (stacks == MAP_FAILED || !cs ||
	    posix_memalign((void **)&bufs, 4096, (size_t)(threads + 1) * 16384)) {
		fprintf(stderr, "cycles: out of memory\n");
		return 1;
	}
	for (i = 0; i <= threads; i++) {
		cs[i].idx = i;
		cs[i].rng.s = mix64(seed * 1000003u + (uint64_t)i);
		cs[i].buf = bufs + (size_t)i * 16384;
		cs[i].cycles = i == threads ? 1 : cycles / threads + (i < cycles % threads);
		cs[i].second = i == threads;
	}
	start = take_census(g_maps_before);

	/* Warm-up: one cycle on a thread of its own (the last slot). */
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, stacks + (size_t)threads * CYC_STACK, CYC_STACK);
	if (pthread_create(&cs[threads].th, &attr, cyc_thread, &cs[threads])) {
		fprintf(stderr, "cycles: pthread_create failed\n");
		return 1;
	}
	pthread_join(cs[threads].th, NULL);
	pthread_attr_destroy(&attr);
	settle(NULL, 3000, &waited);
	base = take_census(g_maps_before);

	t0 = now_ns();
	for (i = 0; i < threads; i++) {
		pthread_attr_init(&attr);
		pthread_attr_setstack(&attr, stacks + (size_t)i * CYC_STACK, CYC_STACK);
		if (pthread_create(&cs[i].th, &attr, cyc_thread, &cs[i])) {
			fprintf(stderr, "cycles: pthread_create failed\n");
			return 1;
		}
		pthread_attr_destroy(&attr);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(cs[i].th, NULL);
		done += cs[i].done;
		flights += cs[i].flights;
	}
	{
		double secs = (double)(now_ns() - t0) / 1e9;

		/* Threads the kernel ends after a ring is closed (io_uring's) exit
		 * asynchronously: wait up to 7 s for the census to come back. */
		after = settle(&base, 7000, &waited);
		errors = (int)atomic_load(&g_cyc_errors);
		printf("cycles: %ld cycles on %d thread%s in %.1f s (%ld destroyed in flight), "
		       "errors=%d\n", done, threads, threads == 1 ? "" : "s", secs, flights, errors);
	}
	printf("cycles: fds %ld -> %ld, threads %ld -> %ld, maps %ld -> %ld "
	       "(before the warm-up: fds %ld, threads %ld, maps %ld; settled after %d ms)\n",
	       base.fds, after.fds, base.threads, after.threads, base.maps, after.maps,
	       start.fds, start.threads, start.maps, waited);
	if (!census_eq(base, after)) {
		fprintf(stderr, "cycles: not back to the warm-up census\n");
		if (after.fds != base.fds || after.threads != base.threads)
			print_fds_and_tasks();
		if (after.maps != base.maps)
			print_new_lines(g_maps_before, g_maps_now);
	}
	close(g_cyc_fd[0]);
	close(g_cyc_fd[1]);
	if (errors || done != cycles || !census_eq(base, after)) {
		printf("cycles: FAIL\n");
		return 1;
	}
	printf("cycles: PASS\n");
	return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr, "usage: soak --seconds S --seed N [--dir D]\n"
			"       soak --cycles N --threads T [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long seconds = -1, cycles = -1, threads = 1;
	uint64_t seed = 1;
	const char *dir = ".";
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(a, "--seconds"))
			seconds = atol(v);
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--dir"))
			dir = v;
		else if (!strcmp(a, "--cycles"))
			cycles = atol(v);
		else if (!strcmp(a, "--threads"))
			threads = atol(v);
		else
			usage();
		i++;
	}
	if ((seconds >= 0) == (cycles >= 0) || threads < 1 || threads > 1024)
		usage();
	if (cycles >= 0)
		return run_cycles(cycles, (int)threads, seed);
	return run_soak((unsigned)seconds, seed, dir);
}
