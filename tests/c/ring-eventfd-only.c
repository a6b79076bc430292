/* Description: completions consumed from the ring at the handle on an eventfd's signal, never with io_getevents.
 *
 * QEMU's linux-aio backend submits every request with IOCB_FLAG_RESFD to
 * one eventfd, waits for that eventfd, and then reads the events straight
 * from the struct aio_ring at the io_context_t handle (id, nr, head, tail,
 * magic, compat_features, incompat_features, header_length, then nr
 * io_events): from head to tail in contiguous runs
 * (nr = tail >= head ? tail - head : ring->nr - head, an acquire barrier
 * after reading tail), committing each run with head = (head + n) % nr. It
 * never calls io_getevents and never looks at the magic. The kernel writes
 * an event into the ring and publishes tail before it signals the eventfd,
 * so after every eventfd read the events counted so far are all in the
 * ring: the sum of the eventfd counts never exceeds the events seen there.
 * Each iocb's event appears exactly once, with its res, res2 = 0, obj and
 * data, the buffers hold the data, and the eventfd counts exactly one per
 * request.
 *
 * Routes: O_DIRECT writes and reads on tmpfs (/dev/shm); buffered reads of
 * a cold ext4 file, 16 in one io_submit and 16 one per io_submit; buffered
 * writes on ext4; O_DIRECT writes and reads on ext4 (that part is skipped
 * if the filesystem refuses O_DIRECT); polls on pipes written later, one at
 * a time; requests without RESFD found by spinning on the ring (5 s
 * deadline); and enough rounds for head to wrap around the ring twice.
 * A section that fails says why on stdout; the next one runs on a fresh
 * context (none after a timeout).
 */
#include "t_util.h"
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/eventfd.h>

#define BS 4096
#define MAXREQ 40
/* want_res of a poll: POLLIN set, nothing beyond POLLIN | POLLRDNORM */
#define WANT_POLLIN (-100000L)

static io_context_t ctx;
static struct t_aio_ring *ring;
static int efd;

/* The current section's requests. */
static struct iocb cbs[MAXREQ];
static struct iocb *list[MAXREQ];
static long want_res[MAXREQ];
static int seen[MAXREQ];
static struct io_event got[MAXREQ];
static int nreq;
static int ring_events;       /* events taken from the ring in this section */
static unsigned long long efd_count; /* eventfd counts read in this section */
static const char *section;
static int wraps;             /* times head went back to 0 */

/*
 * A failed section prints why and jumps back to main, which replaces the
 * context and goes on with the next section (after a timeout it stops).
 */
static jmp_buf section_jb;
static int timed_out;

static void fail_now(const char *fmt, ...)
{
	va_list ap;
	printf("%s: ", section);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	longjmp(section_jb, 1);
}

/* QEMU's io_getevents_peek: the contiguous run of events from head. */
static unsigned ring_peek(struct io_event **evs)
{
	unsigned head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
	unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);
	unsigned nr = __atomic_load_n(&ring->nr, __ATOMIC_RELAXED);
	/* no loads of the events before tail has been read */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (nr == 0 || head >= nr || tail >= nr)
		fail_now("ring header out of range (nr %u head %u tail %u)", nr, head, tail);
	*evs = &ring->io_events[head];
	return tail >= head ? tail - head : nr - head;
}

/* QEMU's io_getevents_commit. */
static void ring_commit(unsigned n)
{
	if (n) {
		unsigned head = (ring->head + n) % ring->nr;
		if (head == 0)
			wraps++;
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	}
}

/* Take every event the ring holds now; returns how many. */
static int ring_reap(void)
{
	int total = 0;
	struct io_event *evs;
	unsigned n;

	while ((n = ring_peek(&evs)) > 0) {
		for (unsigned k = 0; k < n; k++) {
			struct io_event ev = evs[k];
			uintptr_t off = (uintptr_t)ev.obj - (uintptr_t)cbs;
			long i = off % sizeof(cbs[0]) ? -1 : (long)(off / sizeof(cbs[0]));
			if (i < 0 || i >= nreq)
				fail_now("event for an unknown iocb (data %#lx)", (unsigned long)(uintptr_t)ev.data);
			if (seen[i]++)
				fail_now("request %ld delivered twice", i);
			got[i] = ev;
		}
		ring_commit(n);
		total += (int)n;
		ring_events += (int)n;
	}
	return total;
}

/* Read the eventfd once (non-blocking); 0 when it is at 0. */
static uint64_t efd_read(void)
{
	uint64_t v;
	ssize_t rr = read(efd, &v, sizeof(v));
	if (rr < 0 && errno == EAGAIN)
		return 0;
	T_ASSERTF(rr == sizeof(v), "eventfd read: %s", strerror(errno));
	return v;
}

/*
 * Wait on the eventfd and consume the ring after each wake-up until `upto`
 * of this section's requests are accounted for both ways.
 */
static void collect(int upto)
{
	while (ring_events < upto || efd_count < (unsigned long long)upto) {
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		int pr = poll(&pfd, 1, 5000);
		if (pr == 0) {
			ring_reap();
			timed_out = 1;
			fail_now("timeout: after 5 s the eventfd has counted %llu and the ring held %d of %d events",
				 efd_count, ring_events, upto);
		}
		T_ASSERT(pr == 1);
		efd_count += efd_read();
		ring_reap();
		if (efd_count > (unsigned long long)ring_events)
			fail_now("eventfd counted %llu completions, the ring held only %d events",
				 efd_count, ring_events);
		if (ring_events > upto)
			fail_now("%d events for %d requests", ring_events, upto);
	}
	if (efd_count != (unsigned long long)upto)
		fail_now("eventfd counted %llu for %d requests", efd_count, upto);
}

static void begin(const char *name)
{
	section = name;
	nreq = 0;
	ring_events = 0;
	efd_count = 0;
	memset(seen, 0, sizeof(seen));
	memset(got, 0, sizeof(got));
}

/* Add a request (already prepared in cbs[nreq]) expecting result `res`. */
static void add(long res, int resfd)
{
	int i = nreq++;
	T_ASSERT(nreq <= MAXREQ);
	cbs[i].data = (void *)(uintptr_t)(0x5000 + i);
	if (resfd)
		io_set_eventfd(&cbs[i], efd);
	list[i] = &cbs[i];
	want_res[i] = res;
}

static void submit_range(int from, int to, int per_call)
{
	for (int i = from; i < to; i += per_call) {
		int n = to - i < per_call ? to - i : per_call;
		int r = T_CALL(io_submit(ctx, n, &list[i]));
		if (r != n)
			fail_now("io_submit(%d) = %s", n, t_err(r));
	}
}

static int res_right(long res, long want)
{
	if (want == WANT_POLLIN)
		return (res & POLLIN) && !(res & ~(long)(POLLIN | POLLRDNORM));
	return res == want;
}

/* Print the section's summary: every request once, right res/res2/data. */
static void report(const char *what, int data_ok)
{
	int once = 0, res_ok = 0;
	for (int i = 0; i < nreq; i++) {
		once += seen[i] == 1;
		res_ok += seen[i] == 1 && res_right((long)got[i].res, want_res[i]) && got[i].res2 == 0 &&
			  got[i].obj == &cbs[i] && got[i].data == (void *)(uintptr_t)(0x5000 + i);
	}
	printf("%s: %d requests, %d events from the ring, eventfd counted %llu, each once %d, results right %d, data %s\n",
	       what, nreq, ring_events, efd_count, once, res_ok, t_ok(data_ok));
	if (once != nreq || res_ok != nreq) {
		for (int i = 0; i < nreq; i++)
			if (seen[i] != 1 || !res_right((long)got[i].res, want_res[i]))
				fprintf(stderr, "  request %d: seen %d res %s (want %s)\n", i, seen[i],
					t_err((long)got[i].res), t_err(want_res[i]));
		fail_now("wrong events");
	}
	if (!data_ok)
		fail_now("wrong data");
}

/* Nothing left behind: the ring is empty and the eventfd counted nothing more. */
static void quiet(void)
{
	t_msleep(10);
	int extra = ring_reap();
	uint64_t more = efd_read();
	printf("  then: ring empty %d, eventfd quiet %d\n", extra == 0, more == 0);
	if (extra || more)
		fail_now("%d more events in the ring, eventfd counted %llu more", extra,
			 (unsigned long long)more);
}

/* Writes of pattern `seed` to blocks 0..n-1, then reads of them, on fd. */
static void write_then_read(const char *what, int fd, int n, unsigned seed, unsigned char *buf)
{
	char label[96];

	begin(what);
	for (int i = 0; i < n; i++) {
		t_fill(buf + (size_t)i * BS, BS, seed, (size_t)i * BS);
		io_prep_pwrite(&cbs[nreq], fd, buf + (size_t)i * BS, BS, (long long)i * BS);
		add(BS, 1);
	}
	submit_range(0, nreq, nreq);
	collect(nreq);
	snprintf(label, sizeof(label), "%s, writes", what);
	report(label, 1);

	begin(what);
	memset(buf, 0, (size_t)n * BS);
	for (int i = 0; i < n; i++) {
		io_prep_pread(&cbs[nreq], fd, buf + (size_t)i * BS, BS, (long long)i * BS);
		add(BS, 1);
	}
	submit_range(0, nreq, nreq);
	collect(nreq);
	snprintf(label, sizeof(label), "%s, reads", what);
	report(label, t_check(buf, (size_t)n * BS, seed, 0));
	quiet();
}

/* 16 reads of a cold file (cache dropped, readahead off), per_call per io_submit. */
static void cold_reads(const char *what, int fd, unsigned seed, unsigned char *buf, int per_call)
{
	begin(what);
	T_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	memset(buf, 0, 16 * BS);
	for (int i = 0; i < 16; i++) {
		io_prep_pread(&cbs[nreq], fd, buf + (size_t)i * BS, BS, (long long)i * 8 * BS);
		add(BS, 1);
	}
	submit_range(0, nreq, per_call);
	collect(nreq);
	int ok = 1;
	for (int i = 0; i < 16; i++)
		ok &= t_check(buf + (size_t)i * BS, BS, seed, (size_t)i * 8 * BS);
	report(what, ok);
	quiet();
}

static unsigned char *buf;
static int shm, cold, bw;

/* (a) O_DIRECT on tmpfs */
static void sec_tmpfs(void)
{
	write_then_read("tmpfs O_DIRECT", shm, 16, 51, buf);
}

/* (b) buffered reads of a cold ext4 file */
static void sec_cold_batch(void)
{
	cold_reads("ext4 cold buffered reads, 16 in one io_submit", cold, 52, buf, 16);
}

static void sec_cold_single(void)
{
	cold_reads("ext4 cold buffered reads, one per io_submit", cold, 52, buf, 1);
}

/* (c) buffered writes on ext4 */
static void sec_buffered_writes(void)
{
	begin("ext4 buffered writes");
	for (int i = 0; i < 16; i++) {
		t_fill(buf + (size_t)i * BS, BS, 53, (size_t)i * BS);
		io_prep_pwrite(&cbs[nreq], bw, buf + (size_t)i * BS, BS, (long long)i * BS);
		add(BS, 1);
	}
	submit_range(0, nreq, 16);
	collect(nreq);
	memset(buf, 0, 16 * BS);
	T_ASSERT(pread(bw, buf, 16 * BS, 0) == 16 * BS);
	report("ext4 buffered writes", t_check(buf, 16 * BS, 53, 0));
	quiet();
}

/* (d) O_DIRECT on ext4 */
static void sec_ext4_direct(void)
{
	section = "ext4 O_DIRECT";
	int ed = t_tmpfile_in(NULL, "ring-efd-direct", O_RDWR | O_DIRECT);
	if (ed < 0) {
		printf("ext4 O_DIRECT: open failed (%s), part skipped\n", t_err(ed));
		return;
	}
	write_then_read("ext4 O_DIRECT", ed, 16, 54, buf);
	close(ed);
}

/* (e) polls on pipes that become readable later, one at a time */
static void sec_poll(void)
{
	int pipes[4][2];
	begin("poll");
	for (int i = 0; i < 4; i++) {
		T_ASSERT(pipe(pipes[i]) == 0);
		io_prep_poll(&cbs[nreq], pipes[i][0], POLLIN);
		add(WANT_POLLIN, 1);
	}
	submit_range(0, nreq, 4);
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	int early = poll(&pfd, 1, 30);
	printf("poll: eventfd readable before any write %d, ring events %d\n", early, ring_reap());
	for (int i = 0; i < 4; i++) {
		T_ASSERT(write(pipes[i][1], "x", 1) == 1);
		collect(i + 1);
		printf("  pipe %d written: poll %d completed %d, others pending %d\n", i, i, seen[i] == 1,
		       (i == 3 || !seen[i + 1]));
	}
	report("poll", 1);
	quiet();
	for (int i = 0; i < 4; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
}

/* requests without RESFD, found by spinning on the ring */
static void sec_spin(void)
{
	int sp[2];
	begin("no eventfd, spinning on the ring");
	T_ASSERT(posix_fadvise(cold, 0, 0, POSIX_FADV_DONTNEED) == 0);
	memset(buf, 0, (size_t)MAXREQ * BS);
	for (int i = 0; i < 16; i++) {
		io_prep_pread(&cbs[nreq], shm, buf + (size_t)i * BS, BS, (long long)i * BS);
		add(BS, 0);
	}
	for (int i = 0; i < 16; i++) {
		io_prep_pread(&cbs[nreq], cold, buf + (size_t)(16 + i) * BS, BS, (long long)i * 8 * BS);
		add(BS, 0);
	}
	T_ASSERT(pipe(sp) == 0);
	io_prep_poll(&cbs[nreq], sp[0], POLLIN);
	add(WANT_POLLIN, 0);
	submit_range(0, nreq, 11);
	T_ASSERT(write(sp[1], "x", 1) == 1);
	double deadline = t_now() + 5.0;
	while (ring_events < nreq) {
		if (ring_reap() == 0) {
			if (t_now() > deadline) {
				timed_out = 1;
				fail_now("timeout: the ring held %d of %d events after 5 s", ring_events, nreq);
			}
			sched_yield();
		}
	}
	int ok = t_check(buf, 16 * BS, 51, 0);
	for (int i = 0; i < 16; i++)
		ok &= t_check(buf + (size_t)(16 + i) * BS, BS, 52, (size_t)i * 8 * BS);
	report("no eventfd, spinning on the ring", ok);
	quiet();
	close(sp[0]);
	close(sp[1]);
}

/* rounds of tmpfs reads until head has wrapped around the ring twice */
static void sec_wrap(void)
{
	int rounds = 0, all_ok = 1;
	wraps = 0;
	while (wraps < 2) {
		section = "wrap";
		if (++rounds > 2000)
			fail_now("head did not wrap twice in %d requests", 16 * rounds);
		begin("wrap");
		memset(buf, 0, 16 * BS);
		for (int i = 0; i < 16; i++) {
			int blk = (rounds + i) % 16;
			io_prep_pread(&cbs[nreq], shm, buf + (size_t)i * BS, BS, (long long)blk * BS);
			add(BS, 1);
		}
		submit_range(0, nreq, rounds % 2 ? 16 : 4);
		collect(nreq);
		for (int i = 0; i < 16; i++) {
			int blk = (rounds + i) % 16;
			all_ok &= seen[i] == 1 && (long)got[i].res == BS &&
				  got[i].data == (void *)(uintptr_t)(0x5000 + i) &&
				  t_check(buf + (size_t)i * BS, BS, 51, (size_t)blk * BS);
		}
	}
	printf("head wrapped around the ring twice, every round right: %d\n", all_ok);
	if (!all_ok)
		fail_now("wrong events or data");
	quiet();
}

static void new_context(void)
{
	ctx = t_setup(64);
	ring = (struct t_aio_ring *)(void *)ctx;
}

static void on_alarm(int sig)
{
	static const char msg[] = "timeout: io_destroy after a failed section did not return in 10 s\n";
	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* After a failed section: a fresh context, the eventfd back at 0. */
static void recover(void)
{
	signal(SIGALRM, on_alarm);
	alarm(10); /* io_destroy waits for what is still in flight */
	int r = T_CALL(io_destroy(ctx));
	alarm(0);
	T_ASSERTF(r == 0, "io_destroy after a failed section: %s", t_err(r));
	efd_read();
	new_context();
}

int main(void)
{
	static void (*const sections[])(void) = {
		sec_tmpfs, sec_cold_batch, sec_cold_single, sec_buffered_writes,
		sec_ext4_direct, sec_poll, sec_spin, sec_wrap,
	};
	static volatile int failures;

	buf = t_aligned((size_t)MAXREQ * BS);
	new_context();
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	section = "setup";
	printf("ring nr >= 64: %d\n", ring->nr >= 64);

	shm = t_tmpfile_direct("/dev/shm", "ring-efd");
	cold = t_tmpfile("ring-efd-cold");
	t_write_pattern(cold, (size_t)128 * BS, 52);
	T_ASSERT(fsync(cold) == 0);
	T_ASSERT(posix_fadvise(cold, 0, 0, POSIX_FADV_RANDOM) == 0);
	bw = t_tmpfile("ring-efd-bw");

	for (unsigned k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
		if (setjmp(section_jb) == 0) {
			sections[k]();
			continue;
		}
		failures++;
		if (timed_out) {
			printf("the remaining sections are not run after a timeout\n");
			break;
		}
		recover();
	}

	close(shm);
	close(cold);
	close(bw);
	if (failures)
		return 1;
	t_destroy(ctx);
	return 0;
}
