/* Description: io_destroy with requests still in flight.
 *
 * With a pending poll, a large O_DIRECT read and a large O_DIRECT write in
 * flight, io_destroy returns 0 only once the I/O is over: the read buffer
 * already holds the file data and never changes afterwards, the written
 * data is in the file. Polls are cancelled. Afterwards the handle is dead:
 * io_submit, io_cancel and io_destroy on it return -EINVAL.
 */
#include "t_util.h"

#define SZ (8u << 20)

static uint64_t sum(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		h = (h ^ v) * 1099511628211ull;
	}
	return h;
}

int main(void)
{
	io_context_t ctx = t_setup(8);
	int p[2];
	struct iocb poll_io, rd, wr, *list[3] = { &poll_io, &rd, &wr };
	int r;

	T_ASSERT(pipe(p) == 0);
	int dfd = t_tmpfile_direct(NULL, "destroy-pending");
	int bfd = t_reopen(dfd, O_RDWR);
	t_write_pattern(bfd, SZ, 11);
	T_ASSERT(fsync(bfd) == 0);

	unsigned char *rbuf = t_aligned(SZ);
	unsigned char *wbuf = t_aligned(SZ);
	memset(rbuf, 0xee, SZ);
	t_fill(wbuf, SZ, 12, 0);

	io_prep_poll(&poll_io, p[0], POLLIN);
	io_prep_pread(&rd, dfd, rbuf, SZ, 0);
	io_prep_pwrite(&wr, dfd, wbuf, SZ, SZ);
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit [poll, 8MiB read, 8MiB write] = %s\n", t_err(r));
	T_ASSERT(r == 3);

	r = T_CALL(io_destroy(ctx));
	printf("io_destroy = %s\n", t_err(r));

	uint64_t h1 = sum(rbuf, SZ);
	printf("read buffer holds the file data: %d\n", t_check(rbuf, SZ, 11, 0));
	t_msleep(100);
	uint64_t h2 = sum(rbuf, SZ);
	printf("read buffer stable afterwards: %d\n", h1 == h2);

	unsigned char *chk = t_aligned(SZ);
	T_ASSERT(pread(bfd, chk, SZ, SZ) == (ssize_t)SZ);
	printf("written data in the file: %d\n", t_check(chk, SZ, 12, 0));

	/* the pipe end is still usable; nothing reads the poll any more */
	T_ASSERT(write(p[1], "x", 1) == 1);

	struct iocb again, *one[1] = { &again };
	io_prep_pread(&again, bfd, chk, 4096, 0);
	r = T_CALL(io_submit(ctx, 1, one));
	printf("io_submit on destroyed ctx = %s\n", t_err(r));
	struct io_event res;
	r = T_CALL(io_cancel(ctx, &poll_io, &res));
	printf("io_cancel on destroyed ctx = %s\n", t_err(r));
	r = T_CALL(io_destroy(ctx));
	printf("io_destroy on destroyed ctx = %s\n", t_err(r));
	r = T_CALL(io_queue_release(ctx));
	printf("io_queue_release on destroyed ctx = %s\n", t_err(r));

	/* a new context works normally */
	io_context_t ctx2 = t_setup(8);
	struct io_event ev;
	t_submit1(ctx2, &again);
	t_wait_events(ctx2, 1, &ev);
	t_print_event("new ctx read", &ev, &again, NULL);
	t_destroy(ctx2);
	return 0;
}
