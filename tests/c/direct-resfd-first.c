/* Description: a context whose first request is an O_DIRECT write with IOCB_FLAG_RESFD (QEMU's pattern), then every other kind of call on it.
 *
 * QEMU's linux-aio opens a context per event loop and submits O_DIRECT
 * requests with an eventfd; libaio_rs's auto engine makes such a context a
 * kernel-AIO one at its first request. Whatever serves it, everything after
 * must be kernel AIO's: completions read from the ring at the handle after
 * the eventfd fires (QEMU's io_getevents_peek/commit); a batch of reads
 * checked byte for byte; a buffered write and read of an ext4 file without
 * RESFD, reaped with io_getevents; an O_DIRECT read reaped with a raw
 * syscall(SYS_io_getevents); submit errors (bad descriptor, bad eventfd,
 * a misaligned O_DIRECT read's event); io_cancel of a pending poll and of
 * an unknown iocb; the zero-timeout shortcut; the ring header (nr, magic,
 * header_length, compat features); a thread asleep in io_getevents woken
 * with -EINVAL by io_destroy, and the dead handle after it.
 */
#include "t_util.h"
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <stdint.h>

#define BS 4096
#define NR 8

static io_context_t ctx;
static struct t_aio_ring *ring;
static int efd;

/* Eventfd counts read and events taken from the ring, over the whole test:
 * an event is in the ring before its eventfd is signalled, so the first
 * never exceeds the second; the signal may come a little after the event. */
static unsigned long long efd_total, ring_total;

static void efd_take(void)
{
	uint64_t count;
	if (read(efd, &count, sizeof(count)) == sizeof(count))
		efd_total += count;
}

/* Waits for the eventfd (10 s), then takes every event in the ring as QEMU
 * does; returns how many. */
static int ring_wait_reap(struct io_event *out, int max)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	T_ASSERTF(poll(&pfd, 1, 10000) == 1, "eventfd did not fire in 10 s");
	efd_take();
	int n = 0;
	for (;;) {
		unsigned head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
		unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		T_ASSERTF(head < ring->nr && tail < ring->nr, "ring indices out of range");
		unsigned run = tail >= head ? tail - head : ring->nr - head;
		if (run == 0)
			break;
		for (unsigned k = 0; k < run; k++) {
			T_ASSERTF(n < max, "more events than requests");
			out[n++] = ring->io_events[head + k];
		}
		__atomic_store_n(&ring->head, (head + run) % ring->nr, __ATOMIC_RELEASE);
	}
	ring_total += (unsigned)n;
	T_ASSERTF(efd_total <= ring_total, "eventfd counted %llu, the ring held %llu events",
		  efd_total, ring_total);
	return n;
}

/* The eventfd signals still due for events already taken (10 s). */
static void efd_catch_up(void)
{
	double deadline = t_now() + 10.0;
	while (efd_total < ring_total) {
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		T_ASSERTF(t_now() < deadline, "eventfd counted %llu of %llu", efd_total, ring_total);
		if (poll(&pfd, 1, 100) == 1)
			efd_take();
	}
	T_ASSERTF(efd_total == ring_total, "eventfd counted %llu for %llu events", efd_total, ring_total);
}

static void *sleeper(void *arg)
{
	(void)arg;
	struct io_event ev;
	int r = io_getevents(ctx, 1, 1, &ev, NULL);
	printf("sleeping io_getevents after io_destroy: %s\n", t_err(r));
	return NULL;
}

int main(void)
{
	t_unbuffered();
	int dfd = t_tmpfile_direct(NULL, "direct-resfd-first");
	int bfd = t_tmpfile("direct-resfd-first-buffered");
	unsigned char *buf = t_aligned(BS * NR);
	unsigned char *rd = t_aligned(BS * NR);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	ctx = t_setup(32);
	ring = (struct t_aio_ring *)ctx;

	/* The first request: an O_DIRECT write with RESFD, reaped from the ring. */
	struct iocb cbs[NR], *list[NR];
	struct io_event evs[NR];
	t_fill(buf, BS * NR, 7, 0);
	io_prep_pwrite(&cbs[0], dfd, buf, BS * NR, 0);
	io_set_eventfd(&cbs[0], efd);
	cbs[0].data = (void *)0x77;
	list[0] = &cbs[0];
	printf("first submit: %d\n", T_CALL(io_submit(ctx, 1, list)));
	int n = ring_wait_reap(evs, NR);
	efd_catch_up();
	printf("first write: %d event(s), res %ld res2 %ld, obj %s, data %s\n", n, (long)evs[0].res,
	       (long)evs[0].res2, t_ok(evs[0].obj == &cbs[0]), t_ok(evs[0].data == (void *)0x77));

	/* A batch of O_DIRECT reads with RESFD, from the ring after each wake-up. */
	for (int i = 0; i < NR; i++) {
		io_prep_pread(&cbs[i], dfd, rd + i * BS, BS, (long long)i * BS);
		io_set_eventfd(&cbs[i], efd);
		list[i] = &cbs[i];
	}
	printf("batch submit: %d\n", T_CALL(io_submit(ctx, NR, list)));
	int got = 0, right = 0;
	while (got < NR) {
		int k = ring_wait_reap(evs + got, NR - got);
		got += k;
	}
	efd_catch_up();
	for (int i = 0; i < NR; i++)
		right += evs[i].res == BS && evs[i].res2 == 0;
	printf("batch: %d events, %d with res %d; data %s\n", got, right, BS,
	       t_ok(t_check(rd, BS * NR, 7, 0)));

	/* A buffered write and read without RESFD, reaped with io_getevents. */
	io_prep_pwrite(&cbs[0], bfd, buf, BS, 0);
	t_submit1(ctx, &cbs[0]);
	t_wait_events(ctx, 1, evs);
	printf("buffered write: res %ld\n", (long)evs[0].res);
	memset(rd, 0, BS);
	io_prep_pread(&cbs[0], bfd, rd, BS, 0);
	t_submit1(ctx, &cbs[0]);
	t_wait_events(ctx, 1, evs);
	printf("buffered read: res %ld, data %s\n", (long)evs[0].res, t_ok(t_check(rd, BS, 7, 0)));

	/* An O_DIRECT read reaped with the raw syscall. */
	io_prep_pread(&cbs[0], dfd, rd, BS, BS);
	t_submit1(ctx, &cbs[0]);
	long r = syscall(SYS_io_getevents, ctx, 1L, 1L, evs, NULL);
	printf("raw io_getevents: %ld, res %ld, obj %s\n", r, (long)evs[0].res, t_ok(evs[0].obj == &cbs[0]));

	/* Errors: at submit, and in the event. */
	io_prep_pread(&cbs[0], 1000, rd, BS, 0);
	printf("bad descriptor: %s\n", t_err(t_submit_one(ctx, &cbs[0])));
	io_prep_pread(&cbs[0], dfd, rd, BS, 0);
	io_set_eventfd(&cbs[0], 1000);
	printf("bad eventfd: %s\n", t_err(t_submit_one(ctx, &cbs[0])));
	io_prep_pread(&cbs[0], dfd, rd + 1, BS, 0);
	io_set_eventfd(&cbs[0], efd);
	int s = t_submit_one(ctx, &cbs[0]);
	if (s == 1) {
		n = ring_wait_reap(evs, 1);
		efd_catch_up();
		printf("misaligned O_DIRECT read: submitted, %d event res %s\n", n, t_err(evs[0].res));
	} else {
		printf("misaligned O_DIRECT read: %s\n", t_err(s));
	}

	/* io_cancel of a pending poll, then of an iocb the context never had. */
	int p[2];
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&cbs[0], p[0], POLLIN);
	t_submit1(ctx, &cbs[0]);
	struct io_event cev;
	printf("cancel pending poll: %s\n", t_err(T_CALL(io_cancel(ctx, &cbs[0], &cev))));
	struct timespec zero = t_ts(0, 0), second = t_ts(1, 0);
	r = T_CALL(io_getevents(ctx, 1, 1, evs, &second));
	printf("after cancel: %ld event(s)%s\n", r, r == 1 && evs[0].obj == &cbs[0] ? " for the poll" : "");
	printf("cancel unknown: %s\n", t_err(T_CALL(io_cancel(ctx, &cbs[1], &cev))));
	printf("zero timeout, nothing ready: %s\n", t_err(T_CALL(io_getevents(ctx, 0, 1, evs, &zero))));
	close(p[0]);
	close(p[1]);

	printf("ring: magic %#x header_length %u compat %u incompat %u, nr %s\n", ring->magic,
	       ring->header_length, ring->compat_features, ring->incompat_features,
	       t_ok(ring->nr >= 32));

	/* io_destroy wakes a thread asleep on the context. */
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, sleeper, NULL) == 0);
	t_msleep(100);
	t_destroy(ctx);
	pthread_join(th, NULL);
	printf("submit after destroy: %s\n", t_err(t_submit_one(ctx, &cbs[1])));
	printf("destroy again: %s\n", t_err(T_CALL(io_destroy(ctx))));
	return 0;
}
