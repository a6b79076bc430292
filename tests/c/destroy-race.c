/* Description: io_destroy racing with threads that submit and reap on the same context.
 *
 * For each of three files (tmpfs O_DIRECT, ext4 O_DIRECT, ext4 buffered:
 * an io_uring engine serves them three different ways), 100 rounds: a
 * context, two threads that submit reads of the file
 * to it as fast as they can until io_submit says -EINVAL, and io_destroy
 * from the main thread a moment later. Every io_submit returns 1, -EAGAIN
 * (the context is full: nothing is reaped) or -EINVAL (once destroyed);
 * each thread stops at its first -EINVAL. (No io_getevents in the race:
 * libaio itself reads the ring of the handle, unmapped once destroyed.) No read may land in a buffer
 * after io_destroy returned: the buffers are refilled with a marker right
 * then, and the marker must still be there once the threads have stopped.
 */
#include "t_util.h"
#include <pthread.h>
#include <stdatomic.h>

#define BS 4096
#define THREADS 2
#define ROUNDS 100

static io_context_t ctx;
static int fd;
static char *bufs[THREADS];
static atomic_int bad;

static void *hammer(void *arg)
{
	int t = (int)(uintptr_t)arg;
	struct iocb cb;
	struct iocb *one[1] = { &cb };
	for (;;) {
		io_prep_pread(&cb, fd, bufs[t], BS, (long long)t * BS);
		int r = io_submit(ctx, 1, one);
		if (r == -EINVAL)
			return NULL;
		if (r != 1 && r != -EAGAIN)
			atomic_fetch_add(&bad, 1);
	}
}

static void race(const char *label)
{
	t_write_pattern(fd, THREADS * BS, 5);
	atomic_store(&bad, 0);
	int clean = 0;
	for (int round = 0; round < ROUNDS; round++) {
		ctx = t_setup(64);
		pthread_t th[THREADS];
		for (int t = 0; t < THREADS; t++)
			T_ASSERT(pthread_create(&th[t], NULL, hammer, (void *)(uintptr_t)t) == 0);
		t_msleep(1 + round % 3);
		int r = T_CALL(io_destroy(ctx));
		T_ASSERTF(r == 0, "io_destroy: %s", t_err(r));
		for (int t = 0; t < THREADS; t++)
			memset(bufs[t], 0xA5, BS);
		for (int t = 0; t < THREADS; t++)
			pthread_join(th[t], NULL);
		int intact = 1;
		for (int t = 0; t < THREADS; t++)
			intact &= t_all(bufs[t], BS, 0xA5);
		clean += intact;
	}
	printf("%s: %d rounds: unexpected results %d, buffers untouched after io_destroy in %d\n",
	       label, ROUNDS, atomic_load(&bad), clean);
	close(fd);
}

int main(void)
{
	for (int t = 0; t < THREADS; t++)
		bufs[t] = t_aligned(BS);
	fd = t_tmpfile_direct("/dev/shm", "destroy-race");
	race("tmpfs O_DIRECT");
	fd = t_tmpfile_direct(NULL, "destroy-race");
	race("ext4 O_DIRECT");
	fd = t_tmpfile("destroy-race");
	race("ext4 buffered");
	return 0;
}
