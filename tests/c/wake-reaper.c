/* Description: a thread asleep in io_getevents wakes for requests io_submit completes itself.
 *
 * Kernel AIO performs some requests inside io_submit (buffered reads of
 * cached pages, tmpfs reads and writes) and wakes every waiter as it posts
 * their events. A reaper thread waits (min_nr 2, 5 s timeout) while the main
 * thread, 100 ms later, submits two such requests, one per io_submit or
 * both in one: the reaper must return both events long before its timeout.
 */
#include "t_util.h"
#include <pthread.h>

#define BS 4096

static io_context_t ctx;

struct reap {
	int got;
	double secs;
};

static void *reaper(void *arg)
{
	struct reap *r = arg;
	struct io_event evs[2];
	struct timespec ts = t_ts(5, 0);
	double t0 = t_now();
	int got = 0;
	while (got < 2) {
		int n = io_getevents(ctx, 2 - got, 2 - got, evs, &ts);
		if (n <= 0)
			break;
		got += n;
	}
	r->got = got;
	r->secs = t_now() - t0;
	return NULL;
}

static void one_case(const char *label, int fd, int batch, int write)
{
	unsigned char *buf = t_aligned(2 * BS);
	struct iocb cbs[2], *list[2] = { &cbs[0], &cbs[1] };
	struct reap r = { 0, 0 };
	pthread_t th;

	for (int k = 0; k < 2; k++) {
		if (write)
			io_prep_pwrite(&cbs[k], fd, buf + k * BS, BS, (long long)k * BS);
		else
			io_prep_pread(&cbs[k], fd, buf + k * BS, BS, (long long)k * BS);
	}
	T_ASSERT(pthread_create(&th, NULL, reaper, &r) == 0);
	t_msleep(100);
	if (batch) {
		int n = T_CALL(io_submit(ctx, 2, list));
		T_ASSERTF(n == 2, "io_submit: %s", t_err(n));
	} else {
		t_submit1(ctx, &cbs[0]);
		t_submit1(ctx, &cbs[1]);
	}
	T_ASSERT(pthread_join(th, NULL) == 0);
	printf("%-44s events %d, woken before the timeout %s\n", label, r.got, t_ok(r.secs < 2.5));
	free(buf);
}

int main(void)
{
	ctx = t_setup(8);

	int f = t_tmpfile("wake-reaper");
	t_write_pattern(f, 4 * BS, 3);
	unsigned char tmp[4 * BS];
	T_ASSERT(pread(f, tmp, sizeof(tmp), 0) == (ssize_t)sizeof(tmp)); /* cached */
	one_case("cached ext4 reads, one per io_submit", f, 0, 0);
	one_case("cached ext4 reads, one io_submit", f, 1, 0);
	one_case("ext4 buffered writes, one io_submit", f, 1, 1);
	close(f);

	int s = t_tmpfile_in("/dev/shm", "wake-reaper", O_RDWR);
	T_ASSERT(s >= 0);
	t_write_pattern(s, 4 * BS, 4);
	one_case("tmpfs reads, one per io_submit", s, 0, 0);
	one_case("tmpfs reads, one io_submit", s, 1, 0);
	close(s);

	t_destroy(ctx);
	return 0;
}
