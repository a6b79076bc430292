/* Description: seeded differential fuzzer for the libaio API.
 *
 * Usage: aio_fuzz SEED STEPS [-x]
 *
 * A small deterministic PRNG (splitmix64) seeded with SEED generates STEPS
 * random actions on up to four io contexts: io_setup / io_queue_init (valid
 * and invalid sizes and pointers), io_submit batches mixing valid and
 * invalid iocbs (every opcode, bad descriptors, access modes, sizes,
 * offsets, O_DIRECT alignment on ext4 and tmpfs, iovec counts, reserved
 * fields, aio_rw_flags, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, bad pointers),
 * POLL on pipes made ready later or never, io_cancel on pending polls, on
 * polls whose file has become ready and on anything else, io_getevents / io_pgetevents with assorted min_nr, nr and
 * timeouts, io_destroy with requests pending, calls on destroyed and foreign
 * handles, and filling a context up to its capacity.
 *
 * The fuzzer keeps a model of which accepted requests must complete (reads,
 * writes, fsyncs, polls whose condition holds, cancelled polls) and which
 * stay pending (polls nothing will wake), and generates only what makes the
 * outcome deterministic: no two in-flight requests touch overlapping file
 * ranges when one of them writes, nothing blocks inside io_submit, return
 * values are printed only where the semantics fix them. The trace on stdout
 * is therefore the same under every correct implementation of libaio; the
 * test runner (tests/fuzz.rs) compares it byte for byte with the system
 * libaio's.
 *
 * Exact capacities are implementation details (kernel AIO keeps part of its
 * free slots in per-CPU pools); the trace prints only what the kernel
 * guarantees (at least nr requests in flight, then -EAGAIN). With -x the
 * exact counts are printed as well.
 *
 * Exit: 0 when the run finished (last line "aio_fuzz: seed S steps N ok"),
 * 1 when a self-check failed, 2 on bad arguments.
 */
#include "../c/t_util.h"
#include <limits.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>

/* ------------------------------------------------------------------------ */
/* PRNG                                                                      */

/*
 * The main stream decides every action. Loops whose number of iterations
 * depends on timing or on implementation details (reaping, filling a
 * context) draw from a private stream seeded from one main draw, so that
 * the main stream, and with it the rest of the trace, stays in step.
 */
static uint64_t rng_state;

static uint64_t splitmix(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd64(void)
{
	return splitmix(&rng_state);
}

static unsigned rnd(unsigned n)
{
	return n ? (unsigned)(rnd64() % n) : 0;
}

static unsigned lrnd(uint64_t *st, unsigned n)
{
	return n ? (unsigned)(splitmix(st) % n) : 0;
}

static int chance(unsigned pct)
{
	return rnd(100) < pct;
}

/* Index chosen with the given weights. */
static int pick(const unsigned *w, int n)
{
	unsigned total = 0;
	for (int i = 0; i < n; i++)
		total += w[i];
	unsigned r = rnd(total);
	for (int i = 0; i < n; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return n - 1;
}

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PICK(w) pick((w), NELEM(w))

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

#define FNV0 1469598103934665603ull

/* ------------------------------------------------------------------------ */
/* Limits and constants                                                      */

#define POOL 1024		/* iocbs the fuzzer owns */
#define MAXCTX 4		/* live contexts at a time */
#define MAXBATCH 16
#define MAXIOV 8
#define NEVENTS (POOL + 64)
#define INITSIZE 65536
#define MAXFILE (2ll << 20)	/* files never grow past this */
#define PIPE_MAX 32768		/* bytes kept in a pipe at most (never full) */
#define INF LLONG_MAX
#define MAX_RW_COUNT 0x7ffff000ll
#define KERNEL_PTR ((uintptr_t)0xffff888000000000ull)
#define EXT4_MAXBYTES (1ll << 44)
#define DESC 256

/* RWF_* values (linux/fs.h), spelled out: older headers lack some */
#define F_HIPRI 0x01
#define F_DSYNC 0x02
#define F_SYNC 0x04
#define F_NOWAIT 0x08
#define F_APPEND 0x10
#define F_NOAPPEND 0x20
#define F_BIT8 0x100

#define POLL_DEFAULT_MASK (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)

/* ------------------------------------------------------------------------ */
/* Descriptors                                                               */

enum fdkind { K_FILE, K_PIPE_R, K_PIPE_W, K_DIR, K_EVENTFD, K_BAD };
enum {
	FD_F0, FD_F0RO, FD_F0WO, FD_F1D, FD_S2D, FD_S2B, FD_P0R, FD_P0W,
	FD_P1R, FD_P1W, FD_PDR, FD_PDW, FD_DIR, FD_E0, FD_E1, FD_CLOSED,
	FD_NEG, NFD
};

struct fdinfo {
	const char *name;
	int fd;
	int kind;
	int inode;	/* data file index, or -1 */
	int pipe;	/* pipe index, or -1 */
	int rd, wr;	/* the access mode allows read / write */
	int direct;	/* opened O_DIRECT */
	int ext4;	/* on the $T_DIR filesystem */
	int buffered;	/* a buffered regular-file descriptor */
};

static struct fdinfo fds[NFD];

/* Data files: f0 (ext4, buffered, plus O_RDONLY and O_WRONLY reopens),
 * f1 (ext4, O_DIRECT), s2 (tmpfs, one O_DIRECT and one buffered fd). */
#define NINODE 3
static long long fsize[NINODE];	/* size of each data file (model) */
/* A request whose result was never reported (its context was destroyed)
 * may have grown the file while others were in flight on it: the size is
 * only known again once nothing is in flight there. */
static int fstale[NINODE];
static const char *inode_name[NINODE] = { "f0", "f1", "s2" };
static int inode_fd[NINODE];	/* buffered descriptor for checks */

/* Pipes p0 and p1 are written and drained; pd is never written. */
#define NPIPE 3
struct pipestate {
	int avail;	/* bytes in the pipe once in-flight writes landed */
	int dead;
	uint64_t wseq;	/* bytes ever written by the fuzzer itself */
};
static struct pipestate pipes[NPIPE];

#define NEFD 2
static long long efd_due[NEFD];	/* eventfd signals owed since the last check */

/* ------------------------------------------------------------------------ */
/* Contexts and slots                                                        */

struct ctxstate {
	io_context_t h;
	int live;
	int nr;
	int id;		/* printed name: c<id> */
};
static struct ctxstate ctxs[MAXCTX];
static int next_ctx_id;

enum { S_RESERVED = -1, S_FREE = 0, S_EXPECT, S_PENDING };
enum { OP_PREAD, OP_PWRITE, OP_PREADV, OP_PWRITEV, OP_FSYNC, OP_FDSYNC,
       OP_POLL, OP_BADOP };

struct slot {
	int state;
	int ctx;		/* index into ctxs[] */
	int op;
	int fdid;
	int is_read, is_write;	/* a transfer the descriptor's mode allows */
	int inode, pipe;	/* what it touches, or -1 */
	long long lo, hi;	/* file range, for conflicts */
	int excl;		/* conflicts with everything on the inode */
	int sync;		/* fsync/fdsync: writeback locks the file's pages */
	int append;
	long long off;
	long long len;		/* transfer length */
	int events;		/* poll */
	int cancelled;
	int fill;		/* a capacity-probe poll */
	int resfd;		/* eventfd index or -1 */
	int refused;		/* a field makes the kernel refuse it up front */
	uint64_t data;
	unsigned char *buf;
	void *mem[MAXIOV + 1];		/* allocations to free */
	struct iovec iov[MAXIOV];	/* what the kernel was given */
	struct iovec oiov[MAXIOV];	/* the original, for checksums */
	int niov;
	/* completion */
	int collected;
	long long res, res2;
	int data_ok;
};

static struct iocb iocbs[POOL];
static struct slot slots[POOL];
static char desc[POOL][DESC];

static unsigned char *prot_none;	/* 4 MiB PROT_NONE region */
static struct iovec big_iov[1025];
static unsigned char small_buf[4096] __attribute__((aligned(4096)));
static unsigned char not_a_ring[4096] __attribute__((aligned(4096)));
static struct io_event evbuf[NEVENTS];
static int exact;
static long step;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static void *xalloc(size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, len ? len : 1) != 0)
		t_fail("out of memory");
	return p;
}

static void dcat(char *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dcat(char *d, const char *fmt, ...)
{
	size_t n = strlen(d);
	va_list ap;
	if (n + 1 >= DESC)
		return;
	va_start(ap, fmt);
	vsnprintf(d + n, DESC - n, fmt, ap);
	va_end(ap);
}

static int live_count(void)
{
	int n = 0;
	for (int c = 0; c < MAXCTX; c++)
		n += ctxs[c].live;
	return n;
}

static int count_state(int c, int state)
{
	int n = 0;
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == state && slots[i].ctx == c)
			n++;
	return n;
}

static int count_pending_nonfill(int c)
{
	int n = 0;
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_PENDING && slots[i].ctx == c && !slots[i].fill)
			n++;
	return n;
}

static int free_slots(void)
{
	int n = 0;
	for (int i = 0; i < POOL; i++)
		n += slots[i].state == S_FREE;
	return n;
}

/* Requests kernel AIO can always hold in a context made with nr (its ring
 * has room for at least 2*max(nr, 4*cpus)). */
static int safe_cap(int nr)
{
	return nr < 8 ? 8 : nr;
}

static int random_live_ctx(void)
{
	int cand[MAXCTX], n = 0;
	for (int c = 0; c < MAXCTX; c++)
		if (ctxs[c].live)
			cand[n++] = c;
	return n ? cand[rnd((unsigned)n)] : -1;
}

static int random_free_slot(void)
{
	int n = free_slots();
	if (n == 0)
		return -1;
	int k = (int)rnd((unsigned)n);
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_FREE && k-- == 0)
			return i;
	return -1;
}

static int lowest_free_slot(void)
{
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_FREE)
			return i;
	return -1;
}

static void free_mem(struct slot *s)
{
	for (int k = 0; k <= MAXIOV; k++) {
		free(s->mem[k]);
		s->mem[k] = NULL;
	}
}

static void reset_slot(int i, int c)
{
	struct slot *s = &slots[i];
	free_mem(s);
	memset(s, 0, sizeof(*s));
	s->ctx = c;
	s->inode = -1;
	s->pipe = -1;
	s->resfd = -1;
	desc[i][0] = 0;
	memset(&iocbs[i], 0, sizeof(iocbs[i]));
}

static void release_slot(int i)
{
	free_mem(&slots[i]);
	slots[i].buf = NULL;
	slots[i].state = S_FREE;
	slots[i].collected = 0;
	slots[i].fill = 0;
}

static const char *opname(int op)
{
	static const char *n[] = { "pread", "pwrite", "preadv", "pwritev",
				   "fsync", "fdsync", "poll", "badop" };
	return n[op];
}

static int is_poll(const struct slot *s)
{
	return s->op == OP_POLL;
}

static long long round_down(long long v)
{
	return v < 0 ? 0 : v & ~4095ll;
}

static long long round_up(long long v)
{
	if (v >= INF - 4096)
		return INF;
	return (v + 4095) & ~4095ll;
}

/* ------------------------------------------------------------------------ */
/* Conflicts: what would make results depend on completion order            */

static int touches_file(const struct slot *s)
{
	return !s->refused && s->inode >= 0 && (s->is_read || s->is_write);
}

static int file_conflict(const struct slot *a, const struct slot *b)
{
	if (a->refused || b->refused || a->inode < 0 || a->inode != b->inode)
		return 0;
	/* RWF_NOWAIT fails with -EAGAIN on a locked page or inode: nothing
	 * else may run on the file, not even writeback started by fsync */
	if ((a->excl && (touches_file(b) || b->sync)) || (b->excl && (touches_file(a) || a->sync)))
		return 1;
	if (!touches_file(a) || !touches_file(b))
		return 0;
	if (!a->is_write && !b->is_write)
		return 0;
	return a->lo < b->hi && b->lo < a->hi;
}

/* A read or write on a pipe descriptor (whatever its direction). */
static int pipe_data_op(const struct slot *s)
{
	return s->pipe >= 0 && (s->op == OP_PREAD || s->op == OP_PREADV ||
				s->op == OP_PWRITE || s->op == OP_PWRITEV);
}

static int pipe_read_op(const struct slot *s)
{
	return pipe_data_op(s) && fds[s->fdid].kind == K_PIPE_R &&
	       (s->op == OP_PREAD || s->op == OP_PREADV);
}

static int poll_on_read_end(const struct slot *s, int p)
{
	return is_poll(s) && s->pipe == p && fds[s->fdid].kind == K_PIPE_R;
}

/*
 * May new request n be in flight together with request o? o_expect: o
 * will complete (a poll that is ready, or any other request).
 */
static int compatible(const struct slot *n, const struct slot *o, int o_expect)
{
	if (file_conflict(n, o))
		return 0;
	if (n->pipe >= 0 && n->pipe == o->pipe) {
		/* one data transfer at a time per pipe */
		if (pipe_data_op(n) && pipe_data_op(o))
			return 0;
		/* a read must not un-ready a poll that is completing, and a
		 * poll must not race with a read */
		if (pipe_read_op(n) && poll_on_read_end(o, n->pipe) && o_expect)
			return 0;
		if (pipe_read_op(o) && poll_on_read_end(n, o->pipe))
			return 0;
	}
	return 1;
}

static int compatible_with_all(const struct slot *n, struct slot *const *batch, int nb)
{
	for (int i = 0; i < POOL; i++) {
		const struct slot *o = &slots[i];
		if (o == n)
			continue;
		if (o->state == S_EXPECT && !compatible(n, o, 1))
			return 0;
		if (o->state == S_PENDING && !compatible(n, o, 0))
			return 0;
	}
	for (int i = 0; i < nb; i++)
		if (batch[i] && !compatible(n, batch[i], 1))
			return 0;
	return 1;
}

static int pipe_has_data_op(int p)
{
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_EXPECT && slots[i].pipe == p && pipe_data_op(&slots[i]))
			return 1;
	return 0;
}

static int pipe_has_ready_poll(int p)
{
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_EXPECT && poll_on_read_end(&slots[i], p))
			return 1;
	return 0;
}

static int inode_busy(int ino)
{
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_EXPECT && touches_file(&slots[i]) &&
		    slots[i].inode == ino)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Poll readiness                                                            */

static int poll_ready(const struct slot *s)
{
	const struct fdinfo *f = &fds[s->fdid];
	switch (f->kind) {
	case K_PIPE_R:
		return (s->events & (POLLIN | POLLRDNORM)) && pipes[f->pipe].avail > 0;
	case K_PIPE_W:
		return (s->events & (POLLOUT | POLLWRNORM)) != 0;
	case K_FILE:
	case K_DIR:
		/* no ->poll: DEFAULT_POLLMASK at once, other bits are refused */
		return (s->events & POLL_DEFAULT_MASK) != 0;
	default:
		return 0;
	}
}

/* Data arrived (or will arrive) in pipe p: polls waiting for it complete. */
static void pipe_became_readable(int p)
{
	for (int i = 0; i < POOL; i++) {
		struct slot *s = &slots[i];
		if (s->state == S_PENDING && poll_on_read_end(s, p) &&
		    (s->events & (POLLIN | POLLRDNORM)))
			s->state = S_EXPECT;
	}
}

/* ------------------------------------------------------------------------ */
/* Generating one iocb                                                       */

static long long pick_size(void)
{
	static const long long sz[] = { 0, 1, 511, 512, 1024, 4096, 4097, 8192,
					65536, 1 << 20 };
	static const unsigned w[] = { 3, 4, 4, 8, 4, 20, 3, 8, 4, 2 };
	return sz[PICK(w)];
}

static long long pick_offset(long long size, int ext4)
{
	static const unsigned w[] = { 14, 10, 4, 6, 8, 6, 4, 4, 3, 2, 2, 2, 2, 2, 10 };
	switch (PICK(w)) {
	case 0: return 0;
	case 1: return 4096 * (long long)rnd(16);
	case 2: return 512 * (long long)rnd(64);
	case 3: return (long long)rnd(70000);		/* misaligned */
	case 4: return size;				/* at EOF */
	case 5: return size > 100 ? size - 100 : 0;	/* across EOF */
	case 6: return size + 4096;			/* past EOF */
	case 7: return 1 << 20;
	case 8: return 3ll << 20;			/* far past EOF */
	case 9: return -1;
	case 10: return -4096;
	case 11: return LLONG_MIN;
	case 12: return LLONG_MAX - 100;		/* offset + len overflows */
	case 13: return ext4 ? (1ll << 50) : (5ll << 20); /* ext4: past s_maxbytes */
	default: return round_down(size ? (long long)rnd((unsigned)size) : 0);
	}
}

/* Buffer placement. */
enum { B_ALIGNED, B_OFF1, B_OFF512, B_OFF7, B_KERNEL, B_PROTNONE };

static int pick_bufkind(int allow_protnone)
{
	static const unsigned w[] = { 72, 8, 8, 4, 3, 5 };
	int k = PICK(w);
	if (k == B_PROTNONE && !allow_protnone)
		k = B_ALIGNED;
	return k;
}

static const char *bufkind_name(int k)
{
	static const char *n[] = { "", " buf+1", " buf+512", " buf+7", " buf=kernel",
				   " buf=unmapped" };
	return n[k];
}

/* A buffer of len bytes placed as `kind`; memory goes to s->mem[m].
 * Write buffers get random content, read buffers a 0xee filler. */
static unsigned char *place_buffer(struct slot *s, int m, int kind, long long len, int fill)
{
	static const size_t shift[] = { 0, 1, 512, 7 };
	if (kind == B_KERNEL)
		return (unsigned char *)KERNEL_PTR;
	if (kind == B_PROTNONE)
		return prot_none + 4096 * rnd(16);
	size_t need = (size_t)len + shift[kind] + 8;
	unsigned char *mem = xalloc(need);
	if (fill) {
		for (size_t i = 0; i < need; i += 8) {
			uint64_t v = rnd64();
			memcpy(mem + i, &v, need - i < 8 ? need - i : 8);
		}
	} else {
		memset(mem, 0xee, need);
	}
	s->mem[m] = mem;
	return mem + shift[kind];
}

static int pick_data_fd(int op)
{
	static const int ids[] = { FD_F0, FD_F0RO, FD_F0WO, FD_F1D, FD_S2D, FD_S2B,
				   FD_P0R, FD_P0W, FD_P1R, FD_P1W, FD_PDR, FD_PDW,
				   FD_DIR, FD_CLOSED, FD_NEG };
	static const unsigned rw[] = { 20, 4, 4, 14, 12, 10, 5, 5, 4, 4, 2, 1, 3, 2, 2 };
	static const unsigned sy[] = { 10, 4, 2, 6, 4, 4, 1, 2, 0, 0, 0, 0, 4, 2, 2 };
	static const unsigned pl[] = { 3, 0, 0, 1, 1, 0, 20, 8, 14, 6, 20, 2, 2, 1, 1 };
	const unsigned *w = op == OP_FSYNC || op == OP_FDSYNC ? sy : op == OP_POLL ? pl : rw;
	return ids[pick(w, NELEM(ids))];
}

/* The read/write part of gen_iocb; returns 0 when unsafe. */
static int gen_rw(int i)
{
	struct iocb *io = &iocbs[i];
	struct slot *s = &slots[i];
	char *d = desc[i];
	const struct fdinfo *f = &fds[s->fdid];
	int write = s->op == OP_PWRITE || s->op == OP_PWRITEV;
	int vec = s->op == OP_PREADV || s->op == OP_PWRITEV;
	int regular = f->kind == K_FILE;
	int pipe = f->kind == K_PIPE_R || f->kind == K_PIPE_W;
	long long size = f->inode >= 0 ? fsize[f->inode] : 0;
	int bufk = pick_bufkind(regular);
	long long off = regular ? pick_offset(size, f->ext4) : (chance(80) ? 0 : pick_offset(0, 0));
	long long len = 0;
	int huge = 0;

	s->is_read = !write && f->rd && (f->kind == K_FILE || f->kind == K_PIPE_R);
	s->is_write = write && f->wr && (f->kind == K_FILE || f->kind == K_PIPE_W);
	s->off = off;
	if (!vec) {
		len = pick_size();
		if (pipe && len > 4096)
			len = 4096;
		/* The same for one buffer (see the iovecs below): an O_DIRECT
		 * write of 4097 bytes at a sector-aligned offset of an ext4
		 * file fails with -EINVAL after its first 4096 bytes reached
		 * the disk when they end an extent, which depends on timing
		 * (measured on Linux 6.18). Misaligned O_DIRECT writes there
		 * stay within one sector. */
		if (write && f->direct && f->ext4 && len > 512 && len % 512)
			len %= 512;
		if (!write && f->buffered && bufk == B_ALIGNED && chance(4)) {
			/* huge nbytes: clamped to MAX_RW_COUNT, the read stops at EOF */
			huge = 1;
			s->mem[0] = xalloc((size_t)MAXFILE + 8192);
			memset(s->mem[0], 0xee, (size_t)MAXFILE + 8192);
			s->buf = s->mem[0];
			io_prep_pread(io, f->fd, s->buf, (size_t)1 << 40, off);
			len = MAX_RW_COUNT;
		} else {
			s->buf = place_buffer(s, 0, bufk, len, write);
			io_prep_pread(io, f->fd, s->buf, (size_t)len, off);
			if (bufk == B_KERNEL)
				s->refused = 1;
		}
		dcat(d, "%s %s len=%s off=%lld%s", opname(s->op), f->name,
		     huge ? "2^40" : t_err(len), off, bufkind_name(bufk));
	} else {
		static const int cnts[] = { 0, 1, 2, 3, 8, 1025, -1, -2 };
		static const unsigned w[] = { 3, 30, 20, 15, 8, 2, 2, 3 };
		int cnt = cnts[PICK(w)];
		dcat(d, "%s %s off=%lld", opname(s->op), f->name, off);
		if (cnt == 1025) {
			io_prep_preadv(io, f->fd, big_iov, 1025, off);
			s->refused = 1;
			dcat(d, " iov=1025");
		} else if (cnt == -1) {
			io_prep_preadv(io, f->fd, big_iov, -1, off);
			s->refused = 1;
			dcat(d, " iovcnt=-1");
		} else if (cnt == -2) {
			int nullarr = chance(50);
			io_prep_preadv(io, f->fd, nullarr ? NULL : (struct iovec *)KERNEL_PTR, 1, off);
			s->refused = 1;
			dcat(d, " iov=%s", nullarr ? "NULL" : "kernel");
		} else {
			int bad_len = cnt > 0 && chance(3);
			s->niov = cnt;
			dcat(d, " iov=[");
			for (int k = 0; k < cnt; k++) {
				static const long long l[] = { 0, 1, 511, 512, 4096, 8192 };
				static const unsigned lw[] = { 2, 2, 3, 8, 20, 6 };
				long long ll = l[PICK(lw)];
				/* Linux 6.18 checks O_DIRECT alignment per bio: on
				 * ext4 a misaligned later iovec makes the write fail
				 * with -EINVAL after part of it may have reached the
				 * disk, depending on timing. Only the first iovec may
				 * be misaligned there. */
				if (write && f->direct && f->ext4 && k > 0 && ll % 512)
					ll = ll < 512 ? 512 : ll - ll % 512;
				int kb = k == 0 ? bufk : (bufk >= B_KERNEL ? B_ALIGNED : bufk);
				s->iov[k].iov_base = place_buffer(s, k, kb, ll, write);
				s->iov[k].iov_len = (size_t)ll;
				if (kb == B_KERNEL)
					s->refused = 1;
				if (bad_len && k == cnt - 1) {
					s->iov[k].iov_len = (size_t)-1;
					s->refused = 1;
				}
				len += ll;
				dcat(d, "%s%s", k ? "," : "", bad_len && k == cnt - 1 ? "-1" : t_err(ll));
			}
			dcat(d, "]%s", cnt ? bufkind_name(bufk) : "");
			memcpy(s->oiov, s->iov, sizeof(s->iov));
			io_prep_preadv(io, f->fd, s->iov, cnt, off);
		}
	}
	if (write)
		io->aio_lio_opcode = vec ? IO_CMD_PWRITEV : IO_CMD_PWRITE;
	s->len = len;

	if (chance(22)) {
		static const unsigned fl[] = { F_HIPRI, F_DSYNC, F_SYNC, F_NOWAIT,
					       F_APPEND, F_NOAPPEND, F_BIT8, 0x200,
					       0x40000000, F_HIPRI | F_NOWAIT,
					       F_DSYNC | F_APPEND };
		static const unsigned w[] = { 8, 4, 2, 12, 8, 4, 3, 3, 2, 3, 2 };
		io->aio_rw_flags = (int)fl[PICK(w)];
		dcat(d, " rwf=0x%x", (unsigned)io->aio_rw_flags);
		if (io->aio_rw_flags & ~0x1ff)
			s->refused = 1;
	}
	unsigned rwf = (unsigned)io->aio_rw_flags;
	s->append = s->is_write && (rwf & F_APPEND);
	s->excl = (rwf & F_NOWAIT) != 0;	/* must not meet contention */
	if (off < 0 || (len > 0 && off > LLONG_MAX - len))
		s->refused = 1;

	/* the file range it may touch; anything crossing EOF reaches to INF */
	if (s->inode >= 0) {
		long long end = off + len;
		if (s->append || ((s->is_write || s->is_read) && end > size)) {
			long long from = s->append ? size : off < size ? off : size;
			s->lo = round_down(from);
			s->hi = INF;
		} else {
			s->lo = round_down(off);
			s->hi = round_up(end);
		}
	}

	/* nothing may block in io_submit, files stay small */
	if (!s->refused && s->append && fstale[s->inode])
		return 0;
	if (!s->refused && s->is_write && s->inode >= 0) {
		long long at = s->append ? size : off;
		if (at + len > MAXFILE && !(f->ext4 && at >= EXT4_MAXBYTES))
			return 0;
		if (bufk == B_PROTNONE && !f->ext4)
			return 0;
	}
	if (f->kind == K_PIPE_R && !write) {
		/* an empty pipe blocks a read without F_NOWAIT */
		if (pipes[s->pipe].avail == 0 && len > 0 && !(rwf & F_NOWAIT))
			return 0;
	}
	if (f->kind == K_PIPE_W && write) {
		if (pipes[s->pipe].dead || pipes[s->pipe].avail + len > PIPE_MAX)
			return 0;
	}
	return 1;
}

/*
 * Fill iocb/slot i with a random request for context c. Returns 0 if the
 * request would be unsafe next to what is in flight or earlier in the
 * batch (the caller draws another).
 */
static int gen_iocb(int i, int c, struct slot *const *batch, int nb)
{
	struct iocb *io = &iocbs[i];
	struct slot *s = &slots[i];
	char *d = desc[i];

	reset_slot(i, c);
	s->state = S_RESERVED;
	static const unsigned opw[] = { 20, 15, 10, 8, 4, 4, 18, 3 };
	s->op = PICK(opw);
	s->fdid = pick_data_fd(s->op);
	const struct fdinfo *f = &fds[s->fdid];
	s->inode = f->inode;
	s->pipe = f->pipe;

	if (s->op == OP_BADOP) {
		static const short bad[] = { 4, 6, 9, 99, -1, 10 };
		io_prep_pread(io, f->fd, small_buf, 512, 0);
		io->aio_lio_opcode = bad[rnd(6)];
		s->refused = 1;
		dcat(d, "opcode=%d %s", io->aio_lio_opcode, f->name);
	} else if (s->op == OP_POLL) {
		static const int evs[] = { POLLIN, POLLRDNORM, POLLIN | POLLRDNORM, POLLOUT,
					   POLLIN | POLLOUT, POLLPRI, POLLIN | POLLPRI, 0,
					   POLLWRNORM, 0x10001 };
		static const unsigned w[] = { 30, 5, 8, 12, 6, 8, 5, 3, 3, 2 };
		s->events = evs[PICK(w)];
		io_prep_poll(io, f->fd, s->events);
		if (s->events & ~0xffff)
			s->refused = 1;
		dcat(d, "poll %s ev=0x%x", f->name, (unsigned)s->events);
		if (chance(4)) {
			static const char *what[] = { "offset", "nbytes", "rw_flags" };
			int k = (int)rnd(3);
			if (k == 0)
				io->u.c.offset = 1;
			else if (k == 1)
				io->u.c.nbytes = 1;
			else
				io->aio_rw_flags = F_NOWAIT;
			s->refused = 1;
			dcat(d, " +%s", what[k]);
		}
	} else if (s->op == OP_FSYNC || s->op == OP_FDSYNC) {
		if (s->op == OP_FSYNC)
			io_prep_fsync(io, f->fd);
		else
			io_prep_fdsync(io, f->fd);
		s->sync = 1;	/* no data effect */
		dcat(d, "%s %s", opname(s->op), f->name);
		if (chance(6)) {
			static const char *what[] = { "buf", "offset", "nbytes", "rw_flags" };
			int k = (int)rnd(4);
			if (k == 0)
				io->u.c.buf = small_buf;
			else if (k == 1)
				io->u.c.offset = 4096;
			else if (k == 2)
				io->u.c.nbytes = 1;
			else
				io->aio_rw_flags = F_SYNC;
			s->refused = 1;
			dcat(d, " +%s", what[k]);
		}
	} else if (!gen_rw(i)) {
		return 0;
	}

	/* fields every opcode has */
	if (chance(3)) {
		io->u.c.__pad3 = chance(50) ? 1 : (long long)1 << 40;
		s->refused = 1;
		dcat(d, " reserved2");
	}
	if (chance(2) && s->op != OP_POLL) {
		io->u.c.nbytes = chance(50) ? (size_t)-1 : (size_t)1 << 63;
		s->refused = 1;
		dcat(d, " nbytes=signbit");
	}
	if (chance(10)) {
		static const int rf[] = { FD_E0, FD_E1, FD_CLOSED, FD_P0R, FD_F0, FD_NEG };
		static const unsigned w[] = { 45, 35, 5, 5, 5, 5 };
		int r = rf[PICK(w)];
		io_set_eventfd(io, fds[r].fd);
		if (r == FD_E0 || r == FD_E1)
			s->resfd = r == FD_E0 ? 0 : 1;
		else
			s->refused = 1;
		dcat(d, " resfd=%s", fds[r].name);
	}
	if (chance(5)) {
		/* whether the kernel takes a value is the oracle's to say */
		static const int pr[] = { 0, 2 << 13, (2 << 13) | 7, (2 << 13) | 8, 3 << 13,
					  1 << 13, 4 << 13, 7 << 13, 0x1234 };
		int v = pr[rnd(NELEM(pr))];
		io->u.c.flags |= T_IOCB_FLAG_IOPRIO;
		io->aio_reqprio = (short)v;
		dcat(d, " ioprio=0x%x", (unsigned)v);
	} else if (chance(4)) {
		io->aio_reqprio = (short)rnd(65536);	/* ignored without the flag */
		dcat(d, " reqprio=junk");
	}
	if (chance(3)) {
		io->u.c.flags |= 0x80;	/* unknown flag bits are ignored */
		dcat(d, " flag0x80");
	}
	if (chance(25)) {
		io->key = 0x5a5a;	/* the kernel clears it once past the fd checks */
		dcat(d, " key");
	}
	s->data = rnd64();
	io->data = (void *)(uintptr_t)s->data;
	return compatible_with_all(s, batch, nb);
}

/* A request that is refused whatever is in flight (IO_CMD_NOOP). */
static void gen_fallback(int i, int c)
{
	struct iocb *io = &iocbs[i];
	struct slot *s = &slots[i];
	reset_slot(i, c);
	s->state = S_RESERVED;
	s->op = OP_BADOP;
	s->fdid = FD_F0;
	s->refused = 1;
	io_prep_pread(io, fds[FD_F0].fd, small_buf, 512, 0);
	io->aio_lio_opcode = IO_CMD_NOOP;
	s->data = rnd64();
	io->data = (void *)(uintptr_t)s->data;
	dcat(desc[i], "opcode=6 f0");
}

/* ------------------------------------------------------------------------ */
/* Reaping                                                                   */

static uint64_t slot_checksum(int i)
{
	struct slot *s = &slots[i];
	uint64_t h = FNV0;
	long long left = s->res;
	if (s->op == OP_PREAD) {
		h = fnv(h, s->buf, (size_t)left);
	} else {
		for (int k = 0; k < s->niov && left > 0; k++) {
			long long l = (long long)s->oiov[k].iov_len;
			if (l > left)
				l = left;
			h = fnv(h, s->oiov[k].iov_base, (size_t)l);
			left -= l;
		}
	}
	return h;
}

/* A transfer that was accepted and never reported (its context was
 * destroyed): its effect on a pipe is still known. */
static void pipe_effect_unreported(struct slot *s)
{
	if (!pipe_data_op(s))
		return;
	struct pipestate *p = &pipes[s->pipe];
	if (s->is_read && s->len > 0)
		p->avail -= (int)(s->len < p->avail ? s->len : p->avail);
}

/* The effect of a finished request on the model, and its trace line. */
static void finish(int i)
{
	struct slot *s = &slots[i];
	char extra[64] = "";

	if (is_poll(s) && !s->cancelled && s->res > 0) {
		/* a poll completed by a wake-up may report the waker's mask */
		printf("  i%d res&ev=%s res2=%s data=%s\n", i, t_err(s->res & s->events),
		       t_err(s->res2), t_ok(s->data_ok));
	} else {
		if ((s->op == OP_PREAD || s->op == OP_PREADV) && s->res > 0 && s->res <= s->len &&
		    (fds[s->fdid].kind == K_FILE || fds[s->fdid].kind == K_PIPE_R))
			snprintf(extra, sizeof(extra), " sum=%016llx",
				 (unsigned long long)slot_checksum(i));
		printf("  i%d res=%s res2=%s data=%s%s\n", i, t_err(s->res), t_err(s->res2),
		       t_ok(s->data_ok), extra);
	}
	if (s->res > 0 && s->inode >= 0 && s->is_write && !fstale[s->inode]) {
		int ino = fds[s->fdid].inode;
		long long end = s->append ? fsize[ino] + s->res : s->off + s->res;
		if (end > fsize[ino])
			fsize[ino] = end;
	}
	if (pipe_data_op(s)) {
		struct pipestate *p = &pipes[s->pipe];
		if (s->is_read && s->res > 0)
			p->avail -= (int)s->res;
		if (s->is_write && s->res != s->len)	/* the full length was counted */
			p->avail -= (int)(s->len - (s->res > 0 ? s->res : 0));
	}
	if (s->resfd >= 0)
		efd_due[s->resfd]++;
	release_slot(i);
}

/* With no request in flight on a file, its real size must be the model's. */
static void check_sizes(void)
{
	for (int ino = 0; ino < NINODE; ino++) {
		if (inode_busy(ino))
			continue;
		struct stat st;
		T_ASSERT(fstat(inode_fd[ino], &st) == 0);
		if (st.st_size != fsize[ino] && !fstale[ino])
			printf("  size %s: model %lld, file %lld\n", inode_name[ino], fsize[ino],
			       (long long)st.st_size);
		fsize[ino] = st.st_size;
		fstale[ino] = 0;
	}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * Collect every event of context c that the model says must come, with
 * min_nr / nr / timeouts drawn from a private stream, then print them by
 * iocb index.
 */
static void reap(int c)
{
	int want = count_state(c, S_EXPECT);
	int got = 0;
	int order[POOL], norder = 0;
	uint64_t st = rnd64();
	double deadline = t_now() + 10.0;

	printf("%ld reap c%d want=%d\n", step, ctxs[c].id, want);
	while (got < want) {
		int remaining = want - got;
		long min_nr = 1 + (long)lrnd(&st, (unsigned)remaining);
		long nr = min_nr + (long)lrnd(&st, (unsigned)(remaining - min_nr + 1));
		struct timespec ts, *tsp = &ts;
		int infinite = 0, r;

		if (lrnd(&st, 5) == 0)
			min_nr = nr = remaining;
		if (lrnd(&st, 10) == 0)
			nr = remaining + 4;	/* room for an event that must not come */
		switch (lrnd(&st, 20)) {
		case 0: case 1: tsp = NULL; infinite = 1; break;
		case 2: case 3: ts = t_ts(0, 3000000000l); break;	/* tv_nsec unchecked */
		case 4: case 5: ts = t_ts(-1, 0); infinite = 1; break;	/* negative: forever */
		case 6: case 7: ts = t_ts(0, 50000000l); break;
		case 8: ts = t_ts(0, 0); min_nr = 0; break;		/* poll the ring */
		default: ts = t_ts(5, 0); break;
		}
		if (lrnd(&st, 5) == 0) {
			sigset_t ss;
			sigemptyset(&ss);
			r = T_CALL(io_pgetevents(ctxs[c].h, min_nr, nr, evbuf, tsp,
						 lrnd(&st, 2) ? &ss : NULL));
		} else {
			r = T_CALL(io_getevents(ctxs[c].h, min_nr, nr, evbuf, tsp));
		}
		if (r < 0) {
			printf("  io_getevents(%ld, %ld) = %s\n", min_nr, nr, t_err(r));
			break;
		}
		if (infinite && r < min_nr)
			printf("  io_getevents(%ld, %ld, no timeout) returned only %d\n", min_nr, nr, r);
		for (int k = 0; k < r; k++) {
			struct io_event *ev = &evbuf[k];
			struct iocb *obj = ev->obj;
			long idx = (obj >= iocbs && obj < iocbs + POOL) ? obj - iocbs : -1;
			if (idx < 0 || slots[idx].state != S_EXPECT || slots[idx].ctx != c ||
			    slots[idx].collected) {
				printf("  unexpected event %s%ld state=%d res=%s\n",
				       idx < 0 ? "foreign" : "i", idx < 0 ? 0 : idx,
				       idx < 0 ? -1 : slots[idx].state, t_err((long)ev->res));
				continue;
			}
			struct slot *s = &slots[idx];
			s->collected = 1;
			s->res = (long long)ev->res;
			s->res2 = (long long)ev->res2;
			s->data_ok = (uint64_t)(uintptr_t)ev->data == s->data;
			order[norder++] = (int)idx;
			got++;
		}
		if (got < want && t_now() > deadline) {
			printf("  timed out: %d of %d events\n", got, want);
			break;
		}
	}
	qsort(order, (size_t)norder, sizeof(order[0]), cmp_int);
	for (int k = 0; k < norder; k++)
		finish(order[k]);
	/* what was expected and did not come leaves the model (the trace
	 * already says so) */
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_EXPECT && slots[i].ctx == c)
			release_slot(i);
	/* nothing else may be there: only polls nothing wakes are left */
	if (got == want && chance(50)) {
		struct timespec z = t_ts(0, chance(50) ? 0 : 2000000);
		int r = T_CALL(io_getevents(ctxs[c].h, 1, 4, evbuf, &z));
		if (r != 0)
			printf("  extra events after the expected ones: %s\n", t_err(r));
	}
	check_sizes();
}

static void reap_all(void)
{
	for (int c = 0; c < MAXCTX; c++)
		if (ctxs[c].live && count_state(c, S_EXPECT) > 0)
			reap(c);
}

/* ------------------------------------------------------------------------ */
/* Actions                                                                   */

static void act_setup(void)
{
	int slot = -1;
	for (int c = 0; c < MAXCTX; c++)
		if (!ctxs[c].live) {
			slot = c;
			break;
		}
	static const unsigned w[] = { 70, 5, 3, 3, 3, 3, 3, 3, 3, 4 };
	int kind = PICK(w);
	if (slot < 0 && kind == 0)
		kind = 1;
	io_context_t h = 0;
	int r;
	switch (kind) {
	case 0: {
		static const int nrs[] = { 1, 2, 7, 16, 64, 128, 1024 };
		static const unsigned nw[] = { 12, 6, 6, 12, 12, 10, 6 };
		int nr = nrs[PICK(nw)];
		int q = chance(30);
		r = q ? T_CALL(io_queue_init(nr, &h)) : T_CALL(io_setup(nr, &h));
		if (r == 0) {
			ctxs[slot].h = h;
			ctxs[slot].live = 1;
			ctxs[slot].nr = nr;
			ctxs[slot].id = next_ctx_id++;
			printf("%ld %s(%d) -> c%d\n", step, q ? "io_queue_init" : "io_setup", nr,
			       ctxs[slot].id);
		} else {
			printf("%ld %s(%d) = %s\n", step, q ? "io_queue_init" : "io_setup", nr,
			       t_err(r));
		}
		return;
	}
	case 1:
		r = T_CALL(io_setup(0, &h));
		printf("%ld io_setup(0) = %s ctx0=%d\n", step, t_err(r), h == 0);
		break;
	case 2:
		r = T_CALL(io_setup(-1, &h));
		printf("%ld io_setup(-1) = %s ctx0=%d\n", step, t_err(r), h == 0);
		break;
	case 3:
		r = T_CALL(io_setup(INT_MIN, &h));
		printf("%ld io_setup(INT_MIN) = %s ctx0=%d\n", step, t_err(r), h == 0);
		break;
	case 4:
		r = T_CALL(io_setup(0x7fffffff, &h));
		printf("%ld io_setup(0x7fffffff) = %s ctx0=%d\n", step, t_err(r), h == 0);
		break;
	case 5:
		r = T_CALL(io_setup(65537, &h));
		printf("%ld io_setup(65537) = %s ctx0=%d\n", step, t_err(r), h == 0);
		break;
	case 6:
		h = (io_context_t)(uintptr_t)0x1234;
		r = T_CALL(io_setup(4, &h));
		printf("%ld io_setup(4, *ctxp!=0) = %s kept=%d\n", step, t_err(r),
		       h == (io_context_t)(uintptr_t)0x1234);
		if (h == (io_context_t)(uintptr_t)0x1234)
			h = 0;
		break;
	case 7:
		r = T_CALL(io_setup(4, NULL));
		printf("%ld io_setup(4, NULL) = %s\n", step, t_err(r));
		break;
	case 8:
		h = (io_context_t)(uintptr_t)0x5678;
		r = T_CALL(io_queue_init(0, &h));
		printf("%ld io_queue_init(0) = %s kept=%d\n", step, t_err(r),
		       h == (io_context_t)(uintptr_t)0x5678);
		if (h == (io_context_t)(uintptr_t)0x5678)
			h = 0;
		break;
	default:
		r = T_CALL(io_queue_init(-3, &h));
		printf("%ld io_queue_init(-3) = %s\n", step, t_err(r));
		break;
	}
	if (r == 0 && h)
		io_destroy(h);	/* should not happen; the trace shows r */
}

/* Calls on a handle that was just destroyed (nothing was mapped since).
 * io_getevents is left out: libaio reads the ring header first. */
static void dead_handle_calls(io_context_t h)
{
	struct iocb io, *list[1] = { &io };
	struct io_event res;
	io_prep_pread(&io, fds[FD_F0].fd, small_buf, 512, 0);
	int r = T_CALL(io_submit(h, 1, list));
	printf("  io_submit(dead) = %s\n", t_err(r));
	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(h, &io, &res));
	printf("  io_cancel(dead) = %s untouched=%d\n", t_err(r), t_all(&res, sizeof(res), 0xa5));
	r = T_CALL(io_destroy(h));
	printf("  io_destroy(dead) = %s\n", t_err(r));
}

static void act_destroy(int c, int final)
{
	int pend = count_pending_nonfill(c), exp = count_state(c, S_EXPECT);
	int rel = chance(20);
	int r = T_CALL(rel ? io_queue_release(ctxs[c].h) : io_destroy(ctxs[c].h));
	printf("%ld %s%s(c%d) pending=%d expected=%d = %s\n", step, final ? "final " : "",
	       rel ? "io_queue_release" : "io_destroy", ctxs[c].id, pend, exp, t_err(r));
	/* every request of the context is over, its events are discarded;
	 * each one still signalled its eventfd */
	int wrote[NINODE] = { 0 };
	for (int i = 0; i < POOL; i++) {
		struct slot *s = &slots[i];
		if (s->ctx != c || (s->state != S_EXPECT && s->state != S_PENDING))
			continue;
		if (s->resfd >= 0)
			efd_due[s->resfd]++;
		if (s->state == S_EXPECT) {
			pipe_effect_unreported(s);
			if (touches_file(s) && s->is_write)
				wrote[s->inode] = 1;
		}
		release_slot(i);
	}
	ctxs[c].live = 0;
	if (!final && chance(60))
		dead_handle_calls(ctxs[c].h);
	/* io_destroy returns once every request of the context is over:
	 * unreported writes have landed, and the file shows it unless other
	 * contexts still have requests in flight on it */
	for (int ino = 0; ino < NINODE; ino++) {
		if (!wrote[ino])
			continue;
		if (inode_busy(ino)) {
			fstale[ino] = 1;
			continue;
		}
		struct stat st;
		T_ASSERT(fstat(inode_fd[ino], &st) == 0);
		fsize[ino] = st.st_size;
		fstale[ino] = 0;
		printf("  %s after io_destroy: size %lld\n", inode_name[ino], fsize[ino]);
	}
}

/* After io_submit returned: the library must not read the iocb again. */
static void scribble(int i)
{
	struct iocb *io = &iocbs[i];
	struct slot *s = &slots[i];
	io->data = (void *)(uintptr_t)rnd64();
	if (s->op == OP_PREADV || s->op == OP_PWRITEV) {
		for (int k = 0; k < s->niov; k++) {
			s->iov[k].iov_base = small_buf;
			s->iov[k].iov_len = 1;
		}
	}
	if (s->op != OP_POLL) {
		io->u.c.offset = 12345;
		io->u.c.nbytes = 3;
	}
	io->aio_reqprio = 0x7fff;
}

/*
 * Right after io_submit returns: closes the descriptor number of each
 * accepted iocb for 50 us, then gives it back (F_DUPFD, close, dup2). Kernel
 * AIO holds the file from inside io_submit, so nothing may change; a
 * library that looked the number up later would find it closed (-EBADF
 * in the event).
 */
static void juggle_fds(struct iocb *const *list, const int *idx, int accepted)
{
	int keep[MAXBATCH], fd[MAXBATCH];
	for (int k = 0; k < accepted; k++) {
		keep[k] = -1;
		fd[k] = idx[k] < 0 ? -1 : (int)list[k]->aio_fildes;
		if (fd[k] < 0 || fcntl(fd[k], F_GETFD) < 0)
			continue;
		for (int j = 0; j < k; j++)
			if (fd[j] == fd[k])
				goto next;	/* already closed */
		/* Above every number the fuzzer uses, so that no copy takes
		 * a number closed here. */
		keep[k] = fcntl(fd[k], F_DUPFD, 900);
		T_ASSERT(keep[k] >= 900);
		T_ASSERT(close(fd[k]) == 0);
next:;
	}
	struct timespec pause = t_ts(0, 50000);
	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
	for (int k = 0; k < accepted; k++) {
		if (keep[k] < 0)
			continue;
		T_ASSERT(dup2(keep[k], fd[k]) == fd[k]);
		T_ASSERT(close(keep[k]) == 0);
	}
}

static void act_submit(int c)
{
	int nb = 1 + (int)rnd(chance(90) ? 6 : MAXBATCH);
	int cap = safe_cap(ctxs[c].nr) - count_state(c, S_EXPECT) - count_state(c, S_PENDING);
	if (nb > cap)
		nb = cap;
	if (nb > free_slots() - 8)
		nb = free_slots() - 8;
	if (nb <= 0) {
		if (count_state(c, S_EXPECT) > 0)
			reap(c);
		return;
	}
	struct iocb *list[MAXBATCH];
	struct slot *batch[MAXBATCH];
	int idx[MAXBATCH];
	unsigned key_before[MAXBATCH];

	for (int k = 0; k < nb; k++) {
		batch[k] = NULL;
		idx[k] = -1;
		key_before[k] = 0;
		if (chance(2)) {
			list[k] = NULL;
			continue;
		}
		if (chance(1)) {
			list[k] = (struct iocb *)KERNEL_PTR;
			continue;
		}
		int i = random_free_slot();
		T_ASSERT(i >= 0);
		int tries = 0;
		while (!gen_iocb(i, c, batch, k)) {
			if (++tries == 30) {
				gen_fallback(i, c);
				break;
			}
		}
		batch[k] = &slots[i];
		idx[k] = i;
		list[k] = &iocbs[i];
		key_before[k] = iocbs[i].key;
	}
	printf("%ld submit c%d n=%d\n", step, ctxs[c].id, nb);
	for (int k = 0; k < nb; k++) {
		if (list[k] == NULL)
			printf("  [%d] NULL\n", k);
		else if (idx[k] < 0)
			printf("  [%d] kernel address\n", k);
		else
			printf("  [%d] i%d %s\n", k, idx[k], desc[idx[k]]);
	}
	int juggle = chance(20);
	int r = T_CALL(io_submit(ctxs[c].h, nb, list));
	if (juggle && r > 0)
		juggle_fds(list, idx, r);
	char keys[MAXBATCH + 1];
	for (int k = 0; k < nb; k++) {
		char ch = '-';
		if (idx[k] >= 0) {
			unsigned kv = iocbs[idx[k]].key;
			ch = kv == 0 ? '0' : kv == key_before[k] ? 'K' : '?';
		}
		keys[k] = ch;
	}
	keys[nb] = 0;
	printf("  -> %s keys=%s\n", t_err(r), keys);

	int accepted = r > 0 ? r : 0;
	if (juggle && accepted > 0)
		printf("  descriptors closed for 50 us and given back\n");
	for (int k = 0; k < nb; k++) {
		int i = idx[k];
		if (i < 0)
			continue;
		struct slot *s = &slots[i];
		if (k >= accepted) {
			release_slot(i);
			continue;
		}
		if (s->op == OP_POLL) {
			s->state = poll_ready(s) ? S_EXPECT : S_PENDING;
		} else {
			s->state = S_EXPECT;
			if (pipe_data_op(s) && s->is_write && s->len > 0) {
				pipes[s->pipe].avail += (int)s->len;
				pipe_became_readable(s->pipe);
			}
		}
		if (chance(25))
			scribble(i);
	}
}

static void act_pipe_write(void)
{
	int p = (int)rnd(2);
	int n = 1 + (int)rnd(chance(80) ? 64 : 3000);
	if (pipes[p].avail + n > PIPE_MAX || pipe_has_data_op(p))
		return;
	unsigned char b[4096];
	for (int k = 0; k < n; k++)
		b[k] = (unsigned char)(pipes[p].wseq + (uint64_t)k * 7);
	T_ASSERT(write(fds[p == 0 ? FD_P0W : FD_P1W].fd, b, (size_t)n) == n);
	pipes[p].wseq += (uint64_t)n;
	pipes[p].avail += n;
	printf("%ld write p%d %d bytes\n", step, p, n);
	pipe_became_readable(p);
}

static void drain_pipe(int p)
{
	int fd = fds[p == 0 ? FD_P0R : FD_P1R].fd;
	int left = pipes[p].avail, total = 0;
	uint64_t h = FNV0;
	unsigned char b[4096];
	while (left > 0) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1)
			break;
		ssize_t n = read(fd, b, (size_t)(left < 4096 ? left : 4096));
		if (n <= 0)
			break;
		h = fnv(h, b, (size_t)n);
		left -= (int)n;
		total += (int)n;
	}
	/* anything beyond the model's count would be a bug somewhere */
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int more = poll(&pf, 1, 0) == 1;
	printf("%ld drain p%d %d bytes sum=%016llx%s\n", step, p, total, (unsigned long long)h,
	       more ? " (more left)" : "");
	pipes[p].avail = 0;
}

static void act_pipe_drain(void)
{
	int p = (int)rnd(2);
	if (pipe_has_data_op(p) || pipe_has_ready_poll(p))
		return;
	drain_pipe(p);
}

static void show_cancel(const char *what, int r, const struct io_event *res, int checked)
{
	if (checked)
		printf("%ld cancel %s = %s untouched=%d\n", step, what, t_err(r),
		       t_all(res, sizeof(*res), 0xa5));
	else
		printf("%ld cancel %s (result NULL) = %s\n", step, what, t_err(r));
}

static void cancelled(int i, int r)
{
	if (r == -EINPROGRESS) {
		slots[i].state = S_EXPECT;
		slots[i].cancelled = 1;
	}
}

static void act_cancel(void)
{
	int c = random_live_ctx();
	if (c < 0)
		return;
	struct io_event res;
	int use_res = chance(80);
	memset(&res, 0xa5, sizeof(res));
	struct io_event *rp = use_res ? &res : NULL;
	char what[96];
	int r;
	static const unsigned w[] = { 40, 8, 6, 12, 10, 4, 4, 4, 6, 12 };
	int kind = PICK(w);

	int pend[POOL], np = 0, done[POOL], nd = 0, fired[POOL], nf = 0;
	for (int i = 0; i < POOL; i++) {
		if (slots[i].ctx != c)
			continue;
		if (slots[i].state == S_PENDING)
			pend[np++] = i;
		if (slots[i].state == S_EXPECT && (!is_poll(&slots[i]) || slots[i].cancelled))
			done[nd++] = i;
		/* its file is ready: kernel AIO completed it in that wake-up */
		if (slots[i].state == S_EXPECT && is_poll(&slots[i]) && !slots[i].cancelled)
			fired[nf++] = i;
	}
	if (kind <= 2 && np == 0)
		kind = 4;
	if (kind == 3 && nd == 0)
		kind = 4;
	if (kind == 9 && nf == 0)
		kind = 4;
	switch (kind) {
	case 9: {	/* a poll whose file became ready: nothing left to cancel */
		int i = fired[rnd((unsigned)nf)];
		r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], rp));
		snprintf(what, sizeof(what), "c%d ready poll i%d", ctxs[c].id, i);
		show_cancel(what, r, &res, use_res);
		return;
	}
	case 0: {	/* a pending poll: -EINPROGRESS, then an event with res 0 */
		int i = pend[rnd((unsigned)np)];
		r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], rp));
		snprintf(what, sizeof(what), "c%d pending poll i%d", ctxs[c].id, i);
		show_cancel(what, r, &res, use_res);
		cancelled(i, r);
		return;
	}
	case 1: {	/* through another context */
		int i = pend[rnd((unsigned)np)];
		int o = -1;
		for (int k = 0; k < MAXCTX; k++)
			if (k != c && ctxs[k].live)
				o = k;
		if (o < 0)
			return;
		r = T_CALL(io_cancel(ctxs[o].h, &iocbs[i], rp));
		snprintf(what, sizeof(what), "c%d's pending poll i%d through c%d", ctxs[c].id, i,
			 ctxs[o].id);
		show_cancel(what, r, &res, use_res);
		cancelled(i, r);
		return;
	}
	case 2: {	/* aio_key scribbled on */
		int i = pend[rnd((unsigned)np)];
		unsigned old = iocbs[i].key;
		iocbs[i].key = 1 + (unsigned)rnd(1000);
		r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], rp));
		iocbs[i].key = old;
		snprintf(what, sizeof(what), "c%d pending poll i%d with aio_key set", ctxs[c].id, i);
		show_cancel(what, r, &res, use_res);
		cancelled(i, r);
		return;
	}
	case 3: {	/* not cancellable, or cancelled already */
		int i = done[rnd((unsigned)nd)];
		r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], rp));
		snprintf(what, sizeof(what), "c%d %s i%d", ctxs[c].id,
			 slots[i].cancelled ? "cancelled poll" : opname(slots[i].op), i);
		show_cancel(what, r, &res, use_res);
		return;
	}
	case 4: {	/* never submitted, refused, or reaped */
		int i = random_free_slot();
		if (i < 0)
			return;
		r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], rp));
		snprintf(what, sizeof(what), "c%d idle iocb i%d", ctxs[c].id, i);
		show_cancel(what, r, &res, use_res);
		return;
	}
	case 5:
		r = T_CALL(io_cancel(ctxs[c].h, NULL, rp));
		snprintf(what, sizeof(what), "c%d NULL iocb", ctxs[c].id);
		show_cancel(what, r, &res, use_res);
		return;
	case 6:
		r = T_CALL(io_cancel(ctxs[c].h, (struct iocb *)KERNEL_PTR, rp));
		snprintf(what, sizeof(what), "c%d kernel-address iocb", ctxs[c].id);
		show_cancel(what, r, &res, use_res);
		return;
	case 7: {
		int i = np ? pend[rnd((unsigned)np)] : lowest_free_slot();
		r = T_CALL(io_cancel(NULL, &iocbs[i], rp));
		snprintf(what, sizeof(what), "NULL ctx i%d", i);
		show_cancel(what, r, &res, use_res);
		cancelled(i, r);
		return;
	}
	case 8: {
		int i = np ? pend[rnd((unsigned)np)] : lowest_free_slot();
		r = T_CALL(io_cancel((io_context_t)(void *)not_a_ring, &iocbs[i], rp));
		snprintf(what, sizeof(what), "foreign handle i%d", i);
		show_cancel(what, r, &res, use_res);
		cancelled(i, r);
		return;
	}
	}
}

/* io_getevents calls whose result the semantics fix. */
static void act_getevents(void)
{
	int c = random_live_ctx();
	if (c < 0)
		return;
	int idle = count_state(c, S_EXPECT) == 0;	/* the ring is and stays empty */
	struct timespec ts;
	int r;
	static const unsigned w[] = { 10, 10, 10, 8, 8, 8, 6, 6, 6, 4 };
	int kind = PICK(w);
	const char *what;

	if (!idle && kind <= 2)
		kind = 3 + (int)rnd(7);
	switch (kind) {
	case 0:
		ts = t_ts(0, 1000000l * (1 + rnd(3)));
		r = T_CALL(io_getevents(ctxs[c].h, 1, 1 + rnd(8), evbuf, &ts));
		what = "min 1, short timeout, nothing due";
		break;
	case 1:
		r = T_CALL(io_getevents(ctxs[c].h, 0, 1 + rnd(8), evbuf, NULL));
		what = "min 0, no timeout, nothing due";
		break;
	case 2:
		ts = t_ts(0, 0);
		r = T_CALL(io_getevents(ctxs[c].h, rnd(3), (long)rnd(3) - 1, evbuf, &ts));
		what = "zero timeout, empty ring, any args";
		break;
	case 3:
		ts = t_ts(0, 1000000);
		r = T_CALL(io_getevents(ctxs[c].h, 2, 1, evbuf, chance(50) ? &ts : NULL));
		what = "min_nr > nr";
		break;
	case 4:
		ts = t_ts(1, 0);
		r = T_CALL(io_getevents(ctxs[c].h, -1, 4, evbuf, chance(50) ? &ts : NULL));
		what = "min_nr < 0";
		break;
	case 5:
		ts = t_ts(1, 0);
		r = T_CALL(io_getevents(ctxs[c].h, 0, -1, evbuf, chance(50) ? &ts : NULL));
		what = "nr < 0";
		break;
	case 6:
		r = T_CALL(io_getevents(ctxs[c].h, 0, 0, NULL, NULL));
		what = "nr 0";
		break;
	case 7:
		ts = t_ts(0, 1000000);
		r = T_CALL(io_getevents(NULL, 1, 1, evbuf, chance(50) ? &ts : NULL));
		what = "NULL ctx";
		break;
	case 8:
		ts = t_ts(0, 1000000);
		r = T_CALL(io_getevents((io_context_t)(void *)not_a_ring, 1, 1, evbuf,
					chance(50) ? &ts : NULL));
		what = "foreign handle";
		break;
	default: {
		sigset_t ss;
		sigemptyset(&ss);
		ts = t_ts(0, 1000000);
		r = T_CALL(io_pgetevents(ctxs[c].h, 3, 2, evbuf, &ts, &ss));
		what = "io_pgetevents min_nr > nr";
		break;
	}
	}
	printf("%ld getevents c%d %s = %s\n", step, ctxs[c].id, what, t_err(r));
}

static void act_submit_args(void)
{
	int c = random_live_ctx();
	struct iocb io, *list[1] = { &io };
	int r;
	io_prep_pread(&io, fds[FD_F0].fd, small_buf, 512, 0);
	static const unsigned w[] = { 4, 4, 3, 3, 3, 3 };
	switch (PICK(w)) {
	case 0:
		if (c < 0)
			return;
		r = T_CALL(io_submit(ctxs[c].h, 0, list));
		printf("%ld io_submit(c%d, nr 0) = %s\n", step, ctxs[c].id, t_err(r));
		break;
	case 1:
		if (c < 0)
			return;
		r = T_CALL(io_submit(ctxs[c].h, chance(50) ? -1 : LONG_MIN, list));
		printf("%ld io_submit(c%d, nr < 0) = %s\n", step, ctxs[c].id, t_err(r));
		break;
	case 2:
		if (c < 0)
			return;
		r = T_CALL(io_submit(ctxs[c].h, 1, NULL));
		printf("%ld io_submit(c%d, NULL array) = %s\n", step, ctxs[c].id, t_err(r));
		break;
	case 3:
		r = T_CALL(io_submit(NULL, 1, list));
		printf("%ld io_submit(NULL ctx) = %s\n", step, t_err(r));
		break;
	case 4:
		r = T_CALL(io_submit((io_context_t)(void *)not_a_ring, 1, list));
		printf("%ld io_submit(foreign handle) = %s\n", step, t_err(r));
		break;
	default: {
		int null = chance(50);
		r = T_CALL(io_destroy(null ? NULL : (io_context_t)(void *)not_a_ring));
		printf("%ld io_destroy(%s) = %s\n", step, null ? "NULL" : "foreign handle", t_err(r));
		break;
	}
	}
}

/* Wait until eventfd e has been signalled as often as the model says. */
static void check_eventfd(int e, int quiet_if_nothing)
{
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_EXPECT && slots[i].resfd == e)
			return;	/* signals still on their way */
	int fd = fds[e == 0 ? FD_E0 : FD_E1].fd;
	long long total = 0;
	double deadline = t_now() + 5.0;
	for (;;) {
		uint64_t v;
		if (read(fd, &v, 8) == 8)
			total += (long long)v;
		if (total >= efd_due[e] || t_now() > deadline)
			break;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		poll(&pf, 1, 20);
	}
	if (!quiet_if_nothing || total || efd_due[e])
		printf("%ld eventfd e%d = %lld (due %lld)\n", step, e, total, efd_due[e]);
	efd_due[e] = 0;
}

/* ------------------------------------------------------------------------ */
/* Capacity                                                                  */

/* Slot i as a poll on the never-written pipe (pending forever). */
static void prep_fill_poll(int i, int c)
{
	reset_slot(i, c);
	struct slot *s = &slots[i];
	s->state = S_RESERVED;
	s->op = OP_POLL;
	s->fdid = FD_PDR;
	s->pipe = fds[FD_PDR].pipe;
	s->events = POLLIN;
	s->fill = 1;
	s->data = 0xf111000000000000ull + (uint64_t)i;
	io_prep_poll(&iocbs[i], fds[FD_PDR].fd, POLLIN);
	iocbs[i].data = (void *)(uintptr_t)s->data;
}

/* Cancel every fill poll of c and reap them without a line per event
 * (their number is implementation-defined). Other requests of c must
 * have been reaped. */
static void fill_cleanup(int c)
{
	int n = 0, bad = 0;
	for (int i = 0; i < POOL; i++) {
		if (slots[i].state != S_PENDING || slots[i].ctx != c || !slots[i].fill)
			continue;
		int r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], NULL));
		if (r == -EINPROGRESS) {
			slots[i].state = S_EXPECT;
			slots[i].cancelled = 1;
		} else {
			bad++;
		}
		n++;
	}
	int want = count_state(c, S_EXPECT), got = 0, wrong = 0;
	double deadline = t_now() + 10.0;
	while (got < want && t_now() < deadline) {
		struct timespec ts = t_ts(1, 0);
		int r = T_CALL(io_getevents(ctxs[c].h, 1, want - got, evbuf, &ts));
		if (r < 0)
			break;
		for (int k = 0; k < r; k++) {
			struct iocb *obj = evbuf[k].obj;
			long idx = (obj >= iocbs && obj < iocbs + POOL) ? obj - iocbs : -1;
			if (idx < 0 || slots[idx].state != S_EXPECT || slots[idx].ctx != c ||
			    !slots[idx].fill || evbuf[k].res != 0 || evbuf[k].res2 != 0 ||
			    (uint64_t)(uintptr_t)evbuf[k].data != slots[idx].data) {
				wrong++;
				continue;
			}
			release_slot((int)idx);
			got++;
		}
	}
	for (int i = 0; i < POOL; i++)
		if (slots[i].state == S_EXPECT && slots[i].ctx == c)
			release_slot(i);
	printf("  fill polls cancelled: cancel failures=%d missing events=%d wrong events=%d\n",
	       bad, want - got, wrong);
	if (exact)
		printf("  exact: %d cancelled\n", n);
}

/*
 * Fill context c with polls nothing wakes until io_submit refuses, then
 * check the accounting: a freed slot takes exactly one request, and one
 * batch larger than the capacity is taken partially. Slot choice and batch
 * sizes do not use the main stream (their number depends on the capacity).
 */
static void act_fill(void)
{
	int c = random_live_ctx();
	if (c < 0 || ctxs[c].nr > 128 || free_slots() < 750)
		return;
	uint64_t st = rnd64();
	int dispose = (int)rnd(10);
	if (count_state(c, S_EXPECT) > 0)
		reap(c);
	int before = count_state(c, S_PENDING);
	int nm = 0, first = -1, last = 0;
	printf("%ld fill c%d (nr %d, %d polls pending)\n", step, ctxs[c].id, ctxs[c].nr, before);
	for (;;) {
		int b = lrnd(&st, 2) ? 1 : 1 + (int)lrnd(&st, 16);
		struct iocb *list[16];
		int ids[16];
		for (int k = 0; k < b; k++) {
			int i = lowest_free_slot();
			prep_fill_poll(i, c);
			list[k] = &iocbs[i];
			ids[k] = i;
		}
		int r = T_CALL(io_submit(ctxs[c].h, b, list));
		for (int k = 0; k < b; k++) {
			if (k < r) {
				slots[ids[k]].state = S_PENDING;
				if (first < 0)
					first = ids[k];
				nm++;
			} else {
				release_slot(ids[k]);
			}
		}
		if (r <= 0 || nm > POOL - 300) {
			last = r;
			break;
		}
	}
	int held = before + nm;
	printf("  held>=nr:%d then %s\n", held >= ctxs[c].nr, t_err(last));
	if (exact)
		printf("  exact: %d held (%d fill polls)\n", held, nm);
	if (first < 0)
		return;

	/* one freed (cancelled and reaped) slot takes one request, no more */
	int r = T_CALL(io_cancel(ctxs[c].h, &iocbs[first], NULL));
	printf("  cancel one = %s\n", t_err(r));
	if (r == -EINPROGRESS) {
		slots[first].state = S_EXPECT;
		slots[first].cancelled = 1;
		reap(c);
		int v = lowest_free_slot();
		prep_fill_poll(v, c);
		struct iocb *one[1] = { &iocbs[v] };
		r = T_CALL(io_submit(ctxs[c].h, 1, one));
		printf("  submit after reaping = %s\n", t_err(r));
		slots[v].state = S_PENDING;
		if (r != 1)
			release_slot(v);
		if (r == 1) {
			int w2 = lowest_free_slot();
			prep_fill_poll(w2, c);
			struct iocb *two[1] = { &iocbs[w2] };
			r = T_CALL(io_submit(ctxs[c].h, 1, two));
			printf("  submit once more = %s\n", t_err(r));
			slots[w2].state = S_PENDING;
			if (r != 1)
				release_slot(w2);
		}
	}
	if (dispose < 3) {	/* leave them to io_destroy */
		act_destroy(c, 0);
		return;
	}
	fill_cleanup(c);

	/* one batch larger than the capacity */
	int b = held + 50 - count_state(c, S_PENDING);
	if (b > free_slots() - 8 || b > 600)
		return;
	struct iocb *list[600];
	int ids[600];
	for (int k = 0; k < b; k++) {
		int i = lowest_free_slot();
		prep_fill_poll(i, c);
		list[k] = &iocbs[i];
		ids[k] = i;
	}
	r = T_CALL(io_submit(ctxs[c].h, b, list));
	printf("  batch over capacity: partial=%d\n", r > 0 && r < b);
	if (exact)
		printf("  exact: %d of %d\n", r, b);
	for (int k = 0; k < b; k++) {
		if (k < r)
			slots[ids[k]].state = S_PENDING;
		else
			release_slot(ids[k]);
	}
	if (dispose < 5)
		act_destroy(c, 0);
	else
		fill_cleanup(c);
}

/* Cancel every pending poll of c (keeps contexts from filling up). */
static void cancel_all_pending(int c)
{
	int n = 0, bad = 0;
	for (int i = 0; i < POOL; i++) {
		if (slots[i].state != S_PENDING || slots[i].ctx != c)
			continue;
		int r = T_CALL(io_cancel(ctxs[c].h, &iocbs[i], NULL));
		if (r == -EINPROGRESS) {
			slots[i].state = S_EXPECT;
			slots[i].cancelled = 1;
		} else {
			bad++;
		}
		n++;
	}
	printf("%ld cancel all pending of c%d: %d, failures=%d\n", step, ctxs[c].id, n, bad);
}

/* ------------------------------------------------------------------------ */
/* Setup and teardown                                                        */

/* Kernel AIO keeps free slots in per-CPU pools: one CPU keeps the slot
 * accounting of the capacity checks independent of scheduling. */
static void pin_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	int n = CPU_COUNT(&set), want = (int)(getpid() % (n ? n : 1));
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set) && want-- == 0) {
			CPU_ZERO(&set);
			CPU_SET(c, &set);
			if (sched_setaffinity(0, sizeof(set), &set) != 0)
				fprintf(stderr, "note: cannot pin to CPU %d\n", c);
			return;
		}
	}
}

static void set_fd(int id, const char *name, int fd, int kind, int inode, int pipe,
		   int rd, int wr, int direct, int ext4)
{
	fds[id] = (struct fdinfo){ .name = name, .fd = fd, .kind = kind, .inode = inode,
				   .pipe = pipe, .rd = rd, .wr = wr, .direct = direct,
				   .ext4 = ext4, .buffered = kind == K_FILE && !direct };
}

static void fill_file(int fd, long long len)
{
	unsigned char *b = xalloc((size_t)len);
	for (long long i = 0; i < len; i += 8) {
		uint64_t v = rnd64();
		memcpy(b + i, &v, 8);
	}
	T_ASSERT(pwrite(fd, b, (size_t)len, 0) == len);
	free(b);
}

static void setup_files(void)
{
	int f0 = t_tmpfile("fuzz-f0");
	fill_file(f0, INITSIZE);
	set_fd(FD_F0, "f0", f0, K_FILE, 0, -1, 1, 1, 0, 1);
	set_fd(FD_F0RO, "f0ro", t_reopen(f0, O_RDONLY), K_FILE, 0, -1, 1, 0, 0, 1);
	set_fd(FD_F0WO, "f0wo", t_reopen(f0, O_WRONLY), K_FILE, 0, -1, 0, 1, 0, 1);
	inode_fd[0] = f0;

	int f1 = t_tmpfile_in(NULL, "fuzz-f1", O_RDWR | O_DIRECT);
	int f1direct = 1;
	if (f1 < 0) {
		f1 = t_tmpfile("fuzz-f1");
		f1direct = 0;
	}
	int f1b = t_reopen(f1, O_RDWR);
	fill_file(f1b, INITSIZE);
	T_ASSERT(fsync(f1b) == 0);
	set_fd(FD_F1D, "f1d", f1, K_FILE, 1, -1, 1, 1, f1direct, 1);
	inode_fd[1] = f1b;

	int s2 = t_tmpfile_in("/dev/shm", "fuzz-s2", O_RDWR | O_DIRECT);
	int s2direct = 1;
	if (s2 < 0) {
		s2 = t_tmpfile_in("/dev/shm", "fuzz-s2", O_RDWR);
		s2direct = 0;
	}
	T_ASSERTF(s2 >= 0, "cannot create a file in /dev/shm: %s", t_err(s2));
	int s2b = t_reopen(s2, O_RDWR);
	fill_file(s2b, INITSIZE);
	set_fd(FD_S2D, "s2d", s2, K_FILE, 2, -1, 1, 1, s2direct, 0);
	set_fd(FD_S2B, "s2b", s2b, K_FILE, 2, -1, 1, 1, 0, 0);
	inode_fd[2] = s2b;
	for (int i = 0; i < NINODE; i++)
		fsize[i] = INITSIZE;
	/* O_DIRECT availability changes the trace; say so */
	printf("o_direct ext4=%d tmpfs=%d\n", f1direct, s2direct);

	int p[2];
	static const char *pn[NPIPE][2] = { { "p0r", "p0w" }, { "p1r", "p1w" }, { "pdr", "pdw" } };
	for (int k = 0; k < NPIPE; k++) {
		T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
		set_fd(FD_P0R + 2 * k, pn[k][0], p[0], K_PIPE_R, -1, k, 1, 0, 0, 0);
		set_fd(FD_P0W + 2 * k, pn[k][1], p[1], K_PIPE_W, -1, k, 0, 1, 0, 0);
	}
	pipes[2].dead = 1;

	int dfd = open(t_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ASSERT(dfd >= 0);
	set_fd(FD_DIR, "dir", dfd, K_DIR, -1, -1, 1, 0, 0, 1);
	for (int e = 0; e < NEFD; e++) {
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		T_ASSERT(efd >= 0);
		set_fd(FD_E0 + e, e ? "e1" : "e0", efd, K_EVENTFD, -1, -1, 0, 0, 0, 0);
	}
	/* far above anything the process (or a library) opens */
	T_ASSERT(fcntl(1000, F_GETFD) == -1);
	set_fd(FD_CLOSED, "closed", 1000, K_BAD, -1, -1, 0, 0, 0, 0);
	set_fd(FD_NEG, "-1", -1, K_BAD, -1, -1, 0, 0, 0, 0);

	prot_none = mmap(NULL, 4u << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(prot_none != MAP_FAILED);
	for (int i = 0; i < 1025; i++) {
		big_iov[i].iov_base = small_buf;
		big_iov[i].iov_len = 1;
	}
}

static void final_checks(void)
{
	for (int c = 0; c < MAXCTX; c++) {
		if (!ctxs[c].live)
			continue;
		if (count_state(c, S_EXPECT) > 0)
			reap(c);
		if (chance(50) && count_state(c, S_PENDING) > 0) {
			cancel_all_pending(c);
			reap(c);
		}
		act_destroy(c, 1);
	}
	for (int e = 0; e < NEFD; e++)
		check_eventfd(e, 0);
	for (int p = 0; p < 2; p++)
		drain_pipe(p);
	unsigned char *b = xalloc(65536);
	for (int ino = 0; ino < NINODE; ino++) {
		struct stat st;
		T_ASSERT(fstat(inode_fd[ino], &st) == 0);
		uint64_t h = FNV0;
		for (off_t o = 0; o < st.st_size;) {
			ssize_t n = pread(inode_fd[ino], b, 65536, o);
			T_ASSERT(n > 0);
			h = fnv(h, b, (size_t)n);
			o += n;
		}
		printf("file %s size=%lld sum=%016llx\n", inode_name[ino], (long long)st.st_size,
		       (unsigned long long)h);
	}
	free(b);
}

int main(int argc, char **argv)
{
	if (argc < 3 || (argc > 3 && strcmp(argv[3], "-x") != 0)) {
		fprintf(stderr, "usage: %s SEED STEPS [-x]\n", argv[0]);
		return 2;
	}
	unsigned long long seed = strtoull(argv[1], NULL, 0);
	long steps = strtol(argv[2], NULL, 0);
	exact = argc > 3;
	rng_state = seed * 0x2545f4914f6cdd1dull + 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	pin_cpu();
	printf("aio_fuzz: seed %llu steps %ld\n", seed, steps);
	setup_files();
	for (int i = 0; i < POOL; i++)
		reset_slot(i, -1);

	for (step = 0; step < steps; step++) {
		static const unsigned w[] = { 40, 14, 6, 4, 10, 6, 3, 5, 2, 1, 3, 2 };
		int act = PICK(w);
		if (live_count() == 0)
			act = 7;
		switch (act) {
		case 0: {
			int c = random_live_ctx();
			if (free_slots() < 64)
				reap_all();
			act_submit(c);
			break;
		}
		case 1: {
			int c = random_live_ctx();
			reap(c);
			break;
		}
		case 2: act_pipe_write(); break;
		case 3: act_pipe_drain(); break;
		case 4: act_cancel(); break;
		case 5: act_getevents(); break;
		case 6: check_eventfd((int)rnd(2), 1); break;
		case 7: act_setup(); break;
		case 8: act_destroy(random_live_ctx(), 0); break;
		case 9: act_fill(); break;
		case 10: act_submit_args(); break;
		default: {
			int c = random_live_ctx();
			if (count_state(c, S_PENDING) > 0)
				cancel_all_pending(c);
			break;
		}
		}
	}
	step = steps;
	final_checks();
	printf("aio_fuzz: seed %llu steps %ld ok\n", seed, steps);
	return 0;
}
