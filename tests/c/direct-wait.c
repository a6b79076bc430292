/* Description: waiting on O_DIRECT reads of ext4: events, timeouts and signals.
 *
 * libaio_rs can poll a context's kernel-AIO completions briefly before it
 * sleeps in io_getevents (LIBAIO_RS_SPIN_US, off by default, set to 50 µs
 * here before the first call; the system libaio ignores it); none of that
 * may show. On an ext4 O_DIRECT file:
 * reads at depth 1 and 4, each waited for with no timeout, deliver their
 * own events and data; with nothing in flight, a 30 ms timeout returns 0
 * no sooner than 30 ms, a 1 µs timeout returns 0 at once, and a signal that
 * arrives 20 ms into an unbounded wait makes it return -EINTR; a read
 * submitted after all that is still delivered. Then three threads, each
 * with its own context, wait for depth-1 reads at the same time (only
 * some of them may poll at once).
 */
#include "t_util.h"
#include <pthread.h>
#include <signal.h>

#define BS 4096
#define BLOCKS 256

static volatile sig_atomic_t handled;
static pthread_t waiter;

static void on_sig(int sig)
{
	(void)sig;
	handled++;
}

static void *interrupt_later(void *arg)
{
	(void)arg;
	t_msleep(20);
	pthread_kill(waiter, SIGUSR1);
	return NULL;
}

static __thread unsigned long long rng = 88172645463325252ULL;
static long next_block(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (long)(rng % BLOCKS);
}

/* Reads `n` random blocks at once and waits for them with no timeout. */
static void read_batch(io_context_t ctx, int fd, int n, char *bufs)
{
	struct iocb cbs[4], *ptrs[4];
	long blk[4];
	for (int i = 0; i < n; i++) {
		blk[i] = next_block();
		io_prep_pread(&cbs[i], fd, bufs + i * BS, BS, blk[i] * BS);
		cbs[i].data = (void *)(uintptr_t)(i + 1);
		ptrs[i] = &cbs[i];
	}
	int r = T_CALL(io_submit(ctx, n, ptrs));
	T_ASSERTF(r == n, "io_submit: %s", t_err(r));
	struct io_event evs[4];
	int got = 0;
	while (got < n) {
		r = T_CALL(io_getevents(ctx, 1, n - got, evs + got, NULL));
		T_ASSERTF(r >= 1, "io_getevents: %s", t_err(r));
		got += r;
	}
	for (int k = 0; k < n; k++) {
		int i = (int)(uintptr_t)evs[k].data - 1;
		T_ASSERT(i >= 0 && i < n && evs[k].obj == &cbs[i] && evs[k].res == BS);
		T_ASSERTF(t_check(bufs + i * BS, BS, 3, (size_t)blk[i] * BS), "wrong data");
	}
}

static int shared_fd;

static void *reader(void *arg)
{
	rng += (uintptr_t)arg * 7919;
	io_context_t ctx = t_setup(4);
	char *bufs = t_aligned(4 * BS);
	for (int i = 0; i < 100; i++)
		read_batch(ctx, shared_fd, 1, bufs);
	t_destroy(ctx);
	free(bufs);
	return NULL;
}

int main(void)
{
	setenv("LIBAIO_RS_SPIN_US", "50", 1);
	io_context_t ctx = t_setup(8);
	int fd = t_tmpfile_direct(NULL, "direct-wait");
	char *bufs = t_aligned(4 * BS);
	{
		int plain = t_reopen(fd, O_RDWR);
		t_write_pattern(plain, BLOCKS * BS, 3);
		T_ASSERT(fsync(plain) == 0);
		close(plain);
	}

	for (int i = 0; i < 200; i++)
		read_batch(ctx, fd, 1, bufs);
	for (int i = 0; i < 50; i++)
		read_batch(ctx, fd, 4, bufs);
	printf("250 waits: every event and its data\n");

	struct io_event ev;
	struct timespec ts = t_ts(0, 30 * 1000 * 1000);
	double t0 = t_now();
	int r = T_CALL(io_getevents(ctx, 1, 1, &ev, &ts));
	double took = t_now() - t0;
	printf("30 ms timeout, nothing in flight: %s\n", t_err(r));
	T_ASSERTF(took >= 0.029, "returned after %.4f s", took);

	ts = t_ts(0, 1000);
	t0 = t_now();
	r = T_CALL(io_getevents(ctx, 1, 1, &ev, &ts));
	took = t_now() - t0;
	printf("1 us timeout, nothing in flight: %s\n", t_err(r));
	T_ASSERTF(took < 0.02, "returned after %.4f s", took);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	T_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);
	waiter = pthread_self();
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, interrupt_later, NULL) == 0);
	r = T_CALL(io_getevents(ctx, 1, 1, &ev, NULL));
	printf("signal during an unbounded wait: %s, handler ran %d time(s)\n", t_err(r), (int)handled);
	pthread_join(th, NULL);

	read_batch(ctx, fd, 1, bufs);
	printf("a read after that: delivered\n");
	t_destroy(ctx);

	shared_fd = fd;
	pthread_t th3[3];
	for (int i = 0; i < 3; i++)
		T_ASSERT(pthread_create(&th3[i], NULL, reader, (void *)(uintptr_t)(i + 1)) == 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th3[i], NULL);
	printf("3 threads x 100 waits on their own contexts: every event and its data\n");
	return 0;
}
