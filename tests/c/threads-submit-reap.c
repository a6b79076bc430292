/* Description: one context shared by several submitting and reaping threads.
 *
 * Four threads each submit 256 small reads (in batches of 8) to the same
 * context while two other threads reap with io_getevents. Every request
 * produces exactly one event, delivered to exactly one reaper, with its own
 * obj, data and result, and every buffer holds the right bytes.
 */
#include "t_util.h"
#include <pthread.h>
#include <stdatomic.h>

#define NSUB 4
#define PER 256
#define TOTAL (NSUB * PER)
#define CHUNK 512

static io_context_t ctx;
static int fd;
static struct iocb ios[TOTAL];
static unsigned char bufs[TOTAL][CHUNK];
static atomic_int seen[TOTAL];
static atomic_int reaped, bad;

static void *submitter(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int b = 0; b < PER; b += 8) {
		struct iocb *list[8];
		for (int k = 0; k < 8; k++) {
			int i = t * PER + b + k;
			io_prep_pread(&ios[i], fd, bufs[i], CHUNK, (long long)(i % 64) * CHUNK);
			ios[i].data = (void *)(uintptr_t)(i + 1);
			list[k] = &ios[i];
		}
		int done = 0;
		while (done < 8) {
			int r = T_CALL(io_submit(ctx, 8 - done, list + done));
			T_ASSERTF(r > 0 || r == -EAGAIN, "io_submit: %s", t_err(r));
			if (r > 0)
				done += r;
			else
				t_msleep(1);
		}
	}
	return NULL;
}

static void *reaper(void *arg)
{
	(void)arg;
	struct io_event evs[16];
	double deadline = t_now() + 20.0;
	while (atomic_load(&reaped) < TOTAL) {
		struct timespec ts = t_ts(0, 20 * 1000000L);
		int r = T_CALL(io_getevents(ctx, 1, 16, evs, &ts));
		T_ASSERTF(r >= 0, "io_getevents: %s", t_err(r));
		for (int k = 0; k < r; k++) {
			long i = (long)(uintptr_t)evs[k].data - 1;
			if (i < 0 || i >= TOTAL || evs[k].obj != &ios[i] ||
			    (long)evs[k].res != CHUNK || evs[k].res2 != 0) {
				atomic_fetch_add(&bad, 1);
				continue;
			}
			atomic_fetch_add(&seen[i], 1);
		}
		atomic_fetch_add(&reaped, r);
		T_ASSERTF(t_now() < deadline, "reaping timed out at %d", atomic_load(&reaped));
	}
	return NULL;
}

int main(void)
{
	pthread_t s[NSUB], r[2];

	ctx = t_setup(TOTAL);
	fd = t_tmpfile("threads");
	t_write_pattern(fd, 64 * CHUNK, 31);

	for (int i = 0; i < 2; i++)
		T_ASSERT(pthread_create(&r[i], NULL, reaper, NULL) == 0);
	for (int i = 0; i < NSUB; i++)
		T_ASSERT(pthread_create(&s[i], NULL, submitter, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < NSUB; i++)
		T_ASSERT(pthread_join(s[i], NULL) == 0);
	for (int i = 0; i < 2; i++)
		T_ASSERT(pthread_join(r[i], NULL) == 0);

	int once = 0, data_ok = 0;
	for (int i = 0; i < TOTAL; i++) {
		once += atomic_load(&seen[i]) == 1;
		data_ok += t_check(bufs[i], CHUNK, 31, (size_t)(i % 64) * CHUNK);
	}
	printf("events reaped: %d\n", atomic_load(&reaped));
	printf("requests seen exactly once: %d of %d\n", once, TOTAL);
	printf("bad events: %d\n", atomic_load(&bad));
	printf("buffers with the right data: %d\n", data_ok);
	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
