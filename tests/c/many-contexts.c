/* Description: many contexts at once, destroyed and made again, each still its own.
 *
 * 1200 one-event contexts are open together (more than any fixed-size
 * index of contexts holds), each reads its own block of a tmpfs file; every
 * 24th one is destroyed, and a stale handle then gets -EINVAL from
 * io_submit and io_destroy (not io_getevents: libaio itself reads the
 * ring header at the handle, unmapped by then); 50 new contexts are made
 * (they may reuse the old addresses) and every live context reads again,
 * each event naming its own iocb and data. The rest are left to process
 * exit: kernel AIO's io_destroy waits about 30 ms each here, exit waits once.
 * A seeded order mixes which contexts are used when.
 */
#include "t_util.h"

#define N 1200
#define STEP 24
#define MORE (N / STEP)
#define BS 4096

static io_context_t ctxs[N + MORE];
static struct iocb cbs[N + MORE];

static unsigned long long rng = 0x2545F4914F6CDD1DULL;
static unsigned next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)rng;
}

/* One read of block `i % 64` through context `i`; checks its event and data. */
static void read_through(int i, int fd, char *buf)
{
	struct iocb *cb = &cbs[i];
	io_prep_pread(cb, fd, buf, BS, (long long)(i % 64) * BS);
	cb->data = (void *)(uintptr_t)(0x10000 + i);
	struct iocb *one[1] = { cb };
	int r = T_CALL(io_submit(ctxs[i], 1, one));
	T_ASSERTF(r == 1, "context %d: io_submit %s", i, t_err(r));
	struct io_event ev;
	r = T_CALL(io_getevents(ctxs[i], 1, 1, &ev, NULL));
	T_ASSERTF(r == 1, "context %d: io_getevents %s", i, t_err(r));
	T_ASSERTF(ev.obj == cb && ev.data == cb->data && ev.res == BS && ev.res2 == 0,
		  "context %d: wrong event (res %ld)", i, (long)ev.res);
	T_ASSERTF(t_check(buf, BS, 7, (size_t)(i % 64) * BS), "context %d: wrong data", i);
}

int main(void)
{
	int fd = t_tmpfile_in("/dev/shm", "many-contexts", O_RDWR);
	t_write_pattern(fd, 64 * BS, 7);
	char *buf = t_aligned(BS);

	for (int i = 0; i < N; i++) {
		int r = T_CALL(io_setup(1, &ctxs[i]));
		if (r == -EAGAIN) {
			t_skip("fs.aio-max-nr too small for 1200 contexts");
		}
		T_ASSERTF(r == 0, "io_setup %d: %s", i, t_err(r));
	}
	printf("opened %d contexts\n", N);

	int order[N];
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(next_rand() % (unsigned)(i + 1));
		int t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < N; k++)
		read_through(order[k], fd, buf);
	printf("each read through its own context\n");

	io_context_t stale = 0;
	for (int i = 0; i < N; i += STEP) {
		int r = T_CALL(io_destroy(ctxs[i]));
		T_ASSERTF(r == 0, "io_destroy %d: %s", i, t_err(r));
		if (i == N / 2)
			stale = ctxs[i];
		ctxs[i] = 0;
	}
	printf("destroyed every %dth context\n", STEP);

	struct iocb *one[1] = { &cbs[0] };
	io_prep_pread(&cbs[0], fd, buf, BS, 0);
	printf("stale io_submit: %s\n", t_err(T_CALL(io_submit(stale, 1, one))));
	printf("stale io_destroy: %s\n", t_err(T_CALL(io_destroy(stale))));

	for (int i = N; i < N + MORE; i++) {
		int r = T_CALL(io_setup(1, &ctxs[i]));
		T_ASSERTF(r == 0, "io_setup %d: %s", i, t_err(r));
	}
	printf("opened %d more\n", MORE);

	int live = 0;
	for (int k = 0; k < N + MORE; k++) {
		int i = (int)(next_rand() % (unsigned)(N + MORE));
		if (ctxs[i] != 0) {
			read_through(i, fd, buf);
			live++;
		}
	}
	for (int i = 0; i < N + MORE; i++)
		if (ctxs[i] != 0)
			read_through(i, fd, buf);
	printf("every live context read again\n");

	printf("%s\n", live > 0 ? "some used in random order" : "none used");
	return 0;
}
