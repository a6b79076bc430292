/* Description: requests outlive the thread that submitted them.
 *
 * A thread submits a poll on an empty pipe, a large O_DIRECT read, a
 * buffered write, an fsync and a buffered read of uncached data, then
 * exits. The main thread joins it, makes the pipe readable, and reaps all
 * five events: they complete normally (no cancellation, no fault) with
 * their own obj/data, and the read buffers hold the file data.
 */
#include "t_util.h"
#include <pthread.h>

#define SZ (4u << 20)

static io_context_t ctx;
static int dfd, bfd, ufd, p[2];
static unsigned char *rbuf, *wbuf, *ubuf;
static struct iocb ios[5];

static void *submitter(void *arg)
{
	(void)arg;
	struct iocb *list[5] = { &ios[0], &ios[1], &ios[2], &ios[3], &ios[4] };
	io_prep_poll(&ios[0], p[0], POLLIN);
	io_prep_pread(&ios[1], dfd, rbuf, SZ, 0);
	io_prep_pwrite(&ios[2], bfd, wbuf, 4096, SZ);
	io_prep_fsync(&ios[3], bfd);
	io_prep_pread(&ios[4], ufd, ubuf, SZ, 0);
	for (int i = 0; i < 5; i++)
		ios[i].data = (void *)(uintptr_t)(0xe0 + i);
	int r = T_CALL(io_submit(ctx, 5, list));
	printf("thread: io_submit = %s\n", t_err(r));
	fflush(stdout);
	return NULL;
}

int main(void)
{
	struct iocb *list[5] = { &ios[0], &ios[1], &ios[2], &ios[3], &ios[4] };
	struct io_event evs[5];
	pthread_t th;

	ctx = t_setup(8);
	T_ASSERT(pipe(p) == 0);
	dfd = t_tmpfile_direct(NULL, "thread-exit");
	bfd = t_reopen(dfd, O_RDWR);
	t_write_pattern(bfd, SZ, 17);
	T_ASSERT(fsync(bfd) == 0);
	rbuf = t_aligned(SZ);
	wbuf = t_aligned(4096);
	t_fill(wbuf, 4096, 18, 0);
	/* a buffered file whose pages are dropped from the cache */
	ufd = t_tmpfile("thread-exit-uncached");
	t_write_pattern(ufd, SZ, 19);
	T_ASSERT(fsync(ufd) == 0);
	T_ASSERT(posix_fadvise(ufd, 0, SZ, POSIX_FADV_DONTNEED) == 0);
	ubuf = t_aligned(SZ);

	T_ASSERT(pthread_create(&th, NULL, submitter, NULL) == 0);
	T_ASSERT(pthread_join(th, NULL) == 0);
	printf("thread exited\n");
	t_msleep(20);
	T_ASSERT(write(p[1], "x", 1) == 1);

	t_wait_events(ctx, 5, evs);
	t_sort_events(evs, 5, list, 5);
	printf("poll: res_has_POLLIN=%d res2=%s obj=%s data=%s\n",
	       ((long)evs[0].res & POLLIN) != 0, t_err((long)evs[0].res2),
	       t_ok(evs[0].obj == &ios[0]), t_ok(evs[0].data == (void *)(uintptr_t)0xe0));
	t_print_event("O_DIRECT read", &evs[1], &ios[1], (void *)(uintptr_t)0xe1);
	t_print_event("buffered write", &evs[2], &ios[2], (void *)(uintptr_t)0xe2);
	t_print_event("fsync", &evs[3], &ios[3], (void *)(uintptr_t)0xe3);
	t_print_event("uncached buffered read", &evs[4], &ios[4], (void *)(uintptr_t)0xe4);
	printf("O_DIRECT read data %s\n", t_ok(t_check(rbuf, SZ, 17, 0)));
	printf("buffered read data %s\n", t_ok(t_check(ubuf, SZ, 19, 0)));

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
