/* Description: RWF_NOWAIT in aio_rw_flags.
 *
 * On a file whose filesystem does not support non-blocking I/O (tmpfs),
 * RWF_NOWAIT is refused by io_submit with -EOPNOTSUPP, buffered or
 * O_DIRECT, with or without an eventfd (which is then never signalled). On
 * ext4 it is accepted: a read of cached data completes normally; a
 * buffered write reports -EOPNOTSUPP in the event. On an empty pipe a
 * RWF_NOWAIT read completes at once with res=-EAGAIN.
 */
#include "t_util.h"
#include <sys/eventfd.h>

static io_context_t ctx;

static void try_rw(const char *label, int fd, int write_op, void *buf, size_t len, int efd)
{
	struct iocb io;
	struct io_event ev;

	if (write_op)
		io_prep_pwrite(&io, fd, buf, len, 0);
	else
		io_prep_pread(&io, fd, buf, len, 0);
	io.aio_rw_flags = T_RWF_NOWAIT;
	if (efd >= 0)
		io_set_eventfd(&io, efd);
	int r = t_submit_one(ctx, &io);
	printf("%-40s submit=%s\n", label, t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, NULL);
	}
}

int main(void)
{
	ctx = t_setup(8);
	unsigned char *buf = t_aligned(4096);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd >= 0);

	int shm = t_tmpfile_in("/dev/shm", "nowait", O_RDWR);
	T_ASSERT(shm >= 0);
	t_write_pattern(shm, 8192, 3);
	try_rw("tmpfs buffered read", shm, 0, buf, 4096, -1);
	try_rw("tmpfs buffered write", shm, 1, buf, 4096, -1);
	try_rw("tmpfs buffered read + eventfd", shm, 0, buf, 4096, efd);
	int shm_direct = t_tmpfile_direct("/dev/shm", "nowait-direct");
	t_write_pattern(shm_direct, 8192, 3);
	try_rw("tmpfs O_DIRECT read", shm_direct, 0, buf, 4096, -1);
	try_rw("tmpfs O_DIRECT write + eventfd", shm_direct, 1, buf, 4096, efd);
	uint64_t v;
	printf("eventfd signalled: %d\n", read(efd, &v, sizeof(v)) == sizeof(v));

	int fd = t_tmpfile("nowait");
	t_write_pattern(fd, 8192, 4);
	memset(buf, 0, 4096);
	try_rw("ext4 cached buffered read", fd, 0, buf, 4096, -1);
	printf("  data %s\n", t_ok(t_check(buf, 4096, 4, 0)));
	try_rw("ext4 buffered write", fd, 1, buf, 4096, -1);

	int p[2];
	T_ASSERT(pipe(p) == 0);
	try_rw("empty pipe read", p[0], 0, buf, 10, -1);

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
