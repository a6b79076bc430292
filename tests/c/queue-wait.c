/* Description: io_queue_wait never waits and never consumes events.
 *
 * libaio exports io_queue_wait (its header only has it commented out); it is
 * io_getevents(ctx, 0, 0, NULL, timeout): with min_nr 0 it returns 0 at once
 * whatever the timeout (NULL, zero, long) and whether or not events are
 * ready, leaving them in the ring; a bad context gives -EINVAL.
 */
#include "t_util.h"

extern int io_queue_wait(io_context_t ctx, struct timespec *timeout);

int main(void)
{
	io_context_t ctx = t_setup(8);
	struct timespec zero = t_ts(0, 0), longer = t_ts(30, 0);
	int r;

	r = T_CALL(io_queue_wait(ctx, NULL));
	printf("empty, NULL timeout = %s\n", t_err(r));
	r = T_CALL(io_queue_wait(ctx, &zero));
	printf("empty, zero timeout = %s\n", t_err(r));
	double t0 = t_now();
	r = T_CALL(io_queue_wait(ctx, &longer));
	printf("empty, 30 s timeout = %s\n", t_err(r));
	T_ASSERTF(t_now() - t0 < 15.0, "io_queue_wait blocked");

	int fd = t_tmpfile("queue-wait");
	t_write_pattern(fd, 4096, 1);
	static unsigned char buf[4096];
	struct iocb io;
	struct io_event ev;
	io_prep_pread(&io, fd, buf, 4096, 0);
	io.data = (void *)(uintptr_t)0x3a18;
	t_submit1(ctx, &io);
	/* buffered reads of cached data complete inside io_submit with kernel
	 * AIO; allow other implementations time to post the event */
	t_msleep(50);
	r = T_CALL(io_queue_wait(ctx, NULL));
	printf("after a read, NULL timeout = %s\n", t_err(r));
	r = T_CALL(io_queue_wait(ctx, &zero));
	printf("after a read, zero timeout = %s\n", t_err(r));
	r = T_CALL(io_queue_wait(ctx, &longer));
	printf("after a read, 30 s timeout = %s\n", t_err(r));
	t_wait_events(ctx, 1, &ev);
	t_print_event("event still there", &ev, &io, (void *)(uintptr_t)0x3a18);

	r = T_CALL(io_queue_wait(NULL, NULL));
	printf("ctx NULL = %s\n", t_err(r));
	r = T_CALL(io_queue_wait(NULL, &zero));
	printf("ctx NULL, zero timeout = %s\n", t_err(r));

	t_destroy(ctx);
	return 0;
}
