/* Description: one context consumed both from the ring in memory and by io_getevents, from two threads.
 *
 * Thread A reads events straight from the struct aio_ring at the
 * io_context_t handle (head to tail, acquire barrier after reading tail,
 * head advanced in user space); thread B calls io_getevents (min_nr 1,
 * 1 ms timeout). The kernel does not lock against a user-space head write,
 * so the two consumers are serialised by a mutex that each holds while it
 * consumes; they take turns, so that neither starves. The main thread
 * submits 2,000 requests over 20 rounds, in batches of 1 to 16, mixed:
 * O_DIRECT reads on tmpfs (/dev/shm) and buffered reads of a cold ext4
 * file. Every completion must be delivered exactly once in total, to one
 * consumer or the other, with its res, obj and data, nothing lost and
 * nothing extra; each consumer must have taken some, and the buffers must
 * hold the file data.
 */
#include "t_util.h"
#include <pthread.h>
#include <stdatomic.h>

#define BS 4096
#define ROUNDS 20
#define PER_ROUND 100
#define TOTAL (ROUNDS * PER_ROUND)
#define FILE_BLOCKS 256

static io_context_t ctx;
static struct t_aio_ring *ring;
static pthread_mutex_t consume_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop;

static struct iocb cbs[TOTAL];
static atomic_int delivered[TOTAL];
static long got_res[TOTAL];
static void *got_data[TOTAL];
static atomic_int strays;     /* events whose obj is none of ours */
static atomic_int total_seen;
static atomic_int by_ring, by_getevents;
static atomic_int ring_broken;
static atomic_int getevents_error;

static void record(const struct io_event *ev)
{
	uintptr_t off = (uintptr_t)ev->obj - (uintptr_t)cbs;
	long i = off % sizeof(cbs[0]) ? -1 : (long)(off / sizeof(cbs[0]));
	if (i < 0 || i >= TOTAL) {
		atomic_fetch_add(&strays, 1);
		return;
	}
	got_res[i] = (long)ev->res;
	got_data[i] = ev->data;
	atomic_fetch_add(&delivered[i], 1);
	atomic_fetch_add(&total_seen, 1);
}

/*
 * The consumers take turns: each holds consume_lock while it consumes and
 * hands the turn to the other afterwards, so that neither starves the
 * other (glibc's mutex is not fair).
 */
static pthread_cond_t turn_cv = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: the ring consumer, 1: the io_getevents consumer */

/* Lock and wait for my turn; 0 (unlocked) once the test is stopping. */
static int take_turn(int me)
{
	pthread_mutex_lock(&consume_lock);
	while (turn != me && !atomic_load(&stop))
		pthread_cond_wait(&turn_cv, &consume_lock);
	if (atomic_load(&stop)) {
		pthread_mutex_unlock(&consume_lock);
		return 0;
	}
	return 1;
}

static void give_turn(int me)
{
	turn = !me;
	pthread_cond_broadcast(&turn_cv);
	pthread_mutex_unlock(&consume_lock);
}

/* Thread A: consume from the ring in memory. */
static void *ring_consumer(void *arg)
{
	struct io_event evs[16];
	(void)arg;
	while (take_turn(0)) {
		int n = 0, broken = 0;
		unsigned head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
		unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);
		unsigned nr = ring->nr;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (nr == 0 || head >= nr || tail >= nr) {
			broken = 1;
		} else {
			while (head != tail && n < 16) {
				evs[n++] = ring->io_events[head];
				head = (head + 1) % nr;
			}
			if (n)
				__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
		}
		give_turn(0);
		if (broken) {
			/* leave the events to io_getevents; report it at the end */
			atomic_store(&ring_broken, 1);
			continue;
		}
		for (int k = 0; k < n; k++)
			record(&evs[k]);
		atomic_fetch_add(&by_ring, n);
	}
	return NULL;
}

/* Thread B: consume with io_getevents (min_nr 1, 1 ms timeout). */
static void *getevents_consumer(void *arg)
{
	struct io_event evs[16];
	(void)arg;
	while (take_turn(1)) {
		struct timespec ts = t_ts(0, 1000000L);
		int n = io_getevents(ctx, 1, 16, evs, &ts);
		give_turn(1);
		if (n < 0) {
			atomic_store(&getevents_error, n);
			t_msleep(1);
			continue;
		}
		for (int k = 0; k < n; k++)
			record(&evs[k]);
		atomic_fetch_add(&by_getevents, n);
	}
	return NULL;
}

int main(void)
{
	ctx = t_setup(128);
	ring = (struct t_aio_ring *)(void *)ctx;
	unsigned char *bufs = t_aligned((size_t)PER_ROUND * BS);

	int shm = t_tmpfile_direct("/dev/shm", "ring-mixed");
	t_write_pattern(shm, (size_t)FILE_BLOCKS * BS, 61);
	int cold = t_tmpfile("ring-mixed-cold");
	t_write_pattern(cold, (size_t)FILE_BLOCKS * BS, 62);
	T_ASSERT(fsync(cold) == 0);
	T_ASSERT(posix_fadvise(cold, 0, 0, POSIX_FADV_RANDOM) == 0);

	pthread_t ta, tb;
	T_ASSERT(pthread_create(&ta, NULL, ring_consumer, NULL) == 0);
	T_ASSERT(pthread_create(&tb, NULL, getevents_consumer, NULL) == 0);

	int data_bad = 0, lost_rounds = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int base = round * PER_ROUND;
		T_ASSERT(posix_fadvise(cold, 0, 0, POSIX_FADV_DONTNEED) == 0);
		memset(bufs, 0, (size_t)PER_ROUND * BS);
		struct iocb *list[PER_ROUND];
		for (int k = 0; k < PER_ROUND; k++) {
			int i = base + k;
			int blk = (k * 37 + round * 11) % FILE_BLOCKS;
			/* tmpfs O_DIRECT and cold ext4 reads, interleaved in runs */
			int fd = ((k / 5) + round) % 2 ? cold : shm;
			io_prep_pread(&cbs[i], fd, bufs + (size_t)k * BS, BS, (long long)blk * BS);
			cbs[i].data = (void *)(uintptr_t)(0x10000 + i);
			list[k] = &cbs[i];
		}
		/* submitted in batches of 1 to 16 while both consumers run */
		for (int k = 0, step = 1; k < PER_ROUND; step = step % 16 + 1) {
			int n = PER_ROUND - k < step ? PER_ROUND - k : step;
			int r = T_CALL(io_submit(ctx, n, &list[k]));
			T_ASSERTF(r == n, "round %d: io_submit(%d) = %s", round, n, t_err(r));
			k += n;
		}
		/* wait until this round's requests were all delivered (5 s) */
		double deadline = t_now() + 5.0;
		while (atomic_load(&total_seen) < base + PER_ROUND && t_now() < deadline)
			usleep(100);
		if (atomic_load(&total_seen) < base + PER_ROUND) {
			lost_rounds++;
			printf("round %d: timeout, %d of %d events delivered (ring header %s, io_getevents %s)\n",
			       round, atomic_load(&total_seen) - base, PER_ROUND,
			       atomic_load(&ring_broken) ? "out of range" : "ok",
			       t_err(atomic_load(&getevents_error)));
			break;
		}
		for (int k = 0; k < PER_ROUND; k++) {
			int i = base + k;
			int blk = (k * 37 + round * 11) % FILE_BLOCKS;
			unsigned seed = cbs[i].aio_fildes == cold ? 62 : 61;
			data_bad += atomic_load(&delivered[i]) == 1 &&
				    !t_check(bufs + (size_t)k * BS, BS, seed, (size_t)blk * BS);
		}
	}
	/* let both consumers look once more for anything extra */
	t_msleep(20);
	pthread_mutex_lock(&consume_lock);
	atomic_store(&stop, 1);
	pthread_cond_broadcast(&turn_cv);
	pthread_mutex_unlock(&consume_lock);
	T_ASSERT(pthread_join(ta, NULL) == 0);
	T_ASSERT(pthread_join(tb, NULL) == 0);

	int once = 0, twice = 0, never = 0, res_ok = 0;
	for (int i = 0; i < TOTAL; i++) {
		int d = atomic_load(&delivered[i]);
		once += d == 1;
		twice += d > 1;
		never += d == 0;
		res_ok += d == 1 && got_res[i] == BS && got_data[i] == (void *)(uintptr_t)(0x10000 + i);
	}
	int a = atomic_load(&by_ring), b = atomic_load(&by_getevents);
	printf("requests %d: delivered once %d, more than once %d, never %d, unknown events %d\n", TOTAL,
	       once, twice, never, atomic_load(&strays));
	printf("results right %d, data wrong %d, timed-out rounds %d\n", res_ok, data_bad, lost_rounds);
	fprintf(stderr, "(from the ring %d, from io_getevents %d)\n", a, b);
	printf("consumed in total %d, some from the ring in memory %d, some by io_getevents %d\n", a + b,
	       a > 0, b > 0);
	printf("ring header in range %d, io_getevents errors %s\n", !atomic_load(&ring_broken),
	       t_err(atomic_load(&getevents_error)));

	struct io_event ev;
	struct timespec zero = t_ts(0, 0);
	int r = T_CALL(io_getevents(ctx, 1, 1, &ev, &zero));
	printf("afterwards: io_getevents = %s, ring empty %d\n", t_err(r), ring->head == ring->tail);

	T_ASSERT(once == TOTAL && res_ok == TOTAL && data_bad == 0 && a + b == TOTAL && a > 0 && b > 0);
	close(shm);
	close(cold);
	t_destroy(ctx);
	return 0;
}
