/* Description: io_submit errors that are reported synchronously.
 *
 * A bad iocb makes io_submit return -errno when it is the first of the batch
 * (and no event is ever produced for it), or the number of iocbs accepted
 * before it: submission stops at the first failing iocb and the ones after it
 * are never looked at. Covers bad fds, wrong access modes (access mode 3
 * too), unknown opcodes (incl. IO_CMD_NOOP), negative/overflowing offsets,
 * unsupported aio_rw_flags, reserved fields, nbytes with the sign bit,
 * fsync/poll with fields they do not take, bad RESFD, vectored limits, a file
 * without read_iter, bad contexts/arrays, and which error wins when several
 * apply.
 */
#include "t_util.h"
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#define FILE_SIZE 8192

static io_context_t ctx;
static int fd, rdonly_fd, wronly_fd, noacc_fd, pipefd[2], dir_fd, efd;
static unsigned char buf[FILE_SIZE];
static struct iovec iov[1025];

/* Submit one iocb expected to fail; require that no event shows up. */
static void try1(const char *label, struct iocb *iocb)
{
	void *data = iocb->data;
	int r = t_submit_one(ctx, iocb);

	printf("%-40s %s\n", label, t_err(r));
	if (r == 1) {
		struct io_event ev;
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, iocb, data);
	}
}

/* PREAD, PWRITE, PREADV and PWRITEV, the reads of rfd and the writes of
 * wfd, each expected to fail for its access mode. */
static void try_access(const char *rname, int rfd, const char *wname, int wfd)
{
	struct iocb io;
	char label[64];

	io_prep_pread(&io, rfd, buf, 4096, 0);
	snprintf(label, sizeof(label), "pread on %s fd", rname);
	try1(label, &io);
	io_prep_pwrite(&io, wfd, buf, 4096, 0);
	snprintf(label, sizeof(label), "pwrite on %s fd", wname);
	try1(label, &io);
	io_prep_preadv(&io, rfd, iov, 1, 0);
	snprintf(label, sizeof(label), "preadv on %s fd", rname);
	try1(label, &io);
	io_prep_pwritev(&io, wfd, iov, 1, 0);
	snprintf(label, sizeof(label), "pwritev on %s fd", wname);
	try1(label, &io);
}

static void prep_read(struct iocb *io)
{
	io_prep_pread(io, fd, buf, 4096, 0);
	io->data = (void *)(uintptr_t)0x5151;
}

int main(void)
{
	struct iocb io;
	struct io_event ev;
	int r;

	ctx = t_setup(16);
	fd = t_tmpfile("sync-errors");
	t_write_pattern(fd, FILE_SIZE, 1);
	rdonly_fd = t_reopen(fd, O_RDONLY);
	wronly_fd = t_reopen(fd, O_WRONLY);
	noacc_fd = t_reopen(fd, O_ACCMODE); /* access mode 3: neither read nor write */
	T_ASSERT(pipe(pipefd) == 0);
	dir_fd = open(t_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ASSERT(dir_fd >= 0);
	efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	for (int i = 0; i < 1025; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 1;
	}

	printf("-- file descriptors\n");
	prep_read(&io);
	io.aio_fildes = -1;
	try1("pread fd -1", &io);

	prep_read(&io);
	io.aio_fildes = 1000; /* not open */
	try1("pread fd 1000 (closed)", &io);

	try_access("O_WRONLY", wronly_fd, "O_RDONLY", rdonly_fd);

	io_prep_pread(&io, dir_fd, buf, 4096, 0);
	try1("pread on a directory", &io);

	/* twice: the second time finds the descriptor's route cached */
	for (int k = 0; k < 2; k++)
		try_access("an access-mode-3", noacc_fd, "an access-mode-3", noacc_fd);

	printf("-- opcodes\n");
	prep_read(&io);
	io.aio_lio_opcode = IO_CMD_NOOP;
	try1("IO_CMD_NOOP (6)", &io);

	prep_read(&io);
	io.aio_lio_opcode = 4;
	try1("opcode 4", &io);

	prep_read(&io);
	io.aio_lio_opcode = 9;
	try1("opcode 9", &io);

	prep_read(&io);
	io.aio_lio_opcode = 99;
	try1("opcode 99", &io);

	prep_read(&io);
	io.aio_lio_opcode = -1;
	try1("opcode -1", &io);

	printf("-- offsets and sizes\n");
	io_prep_pread(&io, fd, buf, 4096, -1);
	try1("pread offset -1", &io);

	io_prep_pwrite(&io, fd, buf, 4096, -4096);
	try1("pwrite offset -4096", &io);

	io_prep_pread(&io, fd, buf, 4096, LLONG_MAX - 100);
	try1("pread offset+len overflows", &io);

	io_prep_pwrite(&io, fd, buf, 4096, LLONG_MAX - 100);
	try1("pwrite offset+len overflows", &io);

	io_prep_preadv(&io, fd, iov, 1, -1);
	try1("preadv offset -1", &io);

	prep_read(&io);
	io.u.c.nbytes = (size_t)-1;
	try1("pread nbytes (size_t)-1", &io);

	prep_read(&io);
	io.u.c.nbytes = (size_t)1 << 63;
	try1("pread nbytes 1<<63", &io);

	io_prep_pwrite(&io, fd, buf, (size_t)-4096, 0);
	try1("pwrite nbytes (size_t)-4096", &io);

	printf("-- reserved fields and flags\n");
	prep_read(&io);
	io.u.c.__pad3 = 1; /* aio_reserved2, offset 48 */
	try1("aio_reserved2 = 1", &io);

	prep_read(&io);
	io.u.c.__pad3 = (long long)1 << 40;
	try1("aio_reserved2 = 1<<40", &io);

	prep_read(&io);
	io.aio_rw_flags = 0x40000000;
	try1("aio_rw_flags 0x40000000", &io);

	/* The highest bit the running kernel knows (6.18: 0x100) and the first
	 * one it does not: an up-front check must follow the kernel's set. */
	prep_read(&io);
	io.aio_rw_flags = 0x100;
	try1("aio_rw_flags 0x100", &io);

	prep_read(&io);
	io.aio_rw_flags = 0x200;
	try1("aio_rw_flags 0x200", &io);

	printf("-- fsync / fdsync\n");
	io_prep_fsync(&io, fd);
	io.u.c.buf = buf;
	try1("fsync with buf", &io);

	io_prep_fsync(&io, fd);
	io.u.c.offset = 4096;
	try1("fsync with offset", &io);

	io_prep_fdsync(&io, fd);
	io.u.c.nbytes = 1;
	try1("fdsync with nbytes", &io);

	io_prep_fdsync(&io, fd);
	io.aio_rw_flags = T_RWF_SYNC;
	try1("fdsync with rw_flags", &io);

	io_prep_fsync(&io, pipefd[1]);
	try1("fsync on a pipe", &io);

	printf("-- poll\n");
	io_prep_poll(&io, pipefd[0], POLLIN);
	io.u.c.offset = 1;
	try1("poll with offset", &io);

	io_prep_poll(&io, pipefd[0], POLLIN);
	io.u.c.nbytes = 1;
	try1("poll with nbytes", &io);

	io_prep_poll(&io, pipefd[0], POLLIN);
	io.aio_rw_flags = T_RWF_NOWAIT;
	try1("poll with rw_flags", &io);

	io_prep_poll(&io, pipefd[0], 0x10000 | POLLIN);
	try1("poll events 0x10001", &io);

	printf("-- resfd\n");
	prep_read(&io);
	io_set_eventfd(&io, 1000);
	try1("resfd not open", &io);

	prep_read(&io);
	io_set_eventfd(&io, pipefd[0]);
	try1("resfd is a pipe", &io);

	printf("-- vectored\n");
	io_prep_preadv(&io, fd, iov, 1025, 0);
	try1("preadv 1025 iovecs", &io);

	io_prep_pwritev(&io, fd, iov, 1025, 0);
	try1("pwritev 1025 iovecs", &io);

	io_prep_preadv(&io, fd, NULL, 1, 0);
	try1("preadv iovec array NULL", &io);

	io_prep_preadv(&io, fd, iov, -1, 0);
	try1("preadv iovcnt -1", &io);

	printf("-- which error wins\n");
	prep_read(&io);
	io.aio_fildes = -1;
	io.aio_lio_opcode = 99;
	try1("bad fd + opcode 99", &io);

	prep_read(&io);
	io.aio_fildes = -1;
	io.u.c.__pad3 = 1;
	try1("bad fd + aio_reserved2", &io);

	prep_read(&io);
	io.aio_fildes = -1;
	io.u.c.nbytes = (size_t)-1;
	try1("bad fd + nbytes (size_t)-1", &io);

	prep_read(&io);
	io.aio_lio_opcode = 99;
	io_set_eventfd(&io, 1000);
	try1("bad resfd + opcode 99", &io);

	prep_read(&io);
	io.aio_fildes = -1;
	io_set_eventfd(&io, 1000);
	try1("bad fd + bad resfd", &io);

	io_prep_pread(&io, wronly_fd, buf, 4096, -1);
	try1("O_WRONLY pread + offset -1", &io);

	io_prep_pread(&io, fd, buf, 4096, -1);
	io.aio_rw_flags = 0x40000000;
	try1("offset -1 + rw_flags 0x40000000", &io);

	printf("-- arrays, counts, contexts\n");
	prep_read(&io);
	struct iocb *one[1] = { &io };
	r = T_CALL(io_submit(ctx, 0, one));
	printf("%-40s %s\n", "nr 0", t_err(r));
	r = T_CALL(io_submit(ctx, -1, one));
	printf("%-40s %s\n", "nr -1", t_err(r));
	r = T_CALL(io_submit(ctx, LONG_MIN, one));
	printf("%-40s %s\n", "nr LONG_MIN", t_err(r));
	r = T_CALL(io_submit(ctx, 1, NULL));
	printf("%-40s %s\n", "iocb array NULL", t_err(r));
	r = T_CALL(io_submit(ctx, 0, NULL));
	printf("%-40s %s\n", "iocb array NULL, nr 0", t_err(r));
	struct iocb *nullp[1] = { NULL };
	r = T_CALL(io_submit(ctx, 1, nullp));
	printf("%-40s %s\n", "iocb pointer NULL", t_err(r));
	r = T_CALL(io_submit(NULL, 1, one));
	printf("%-40s %s\n", "ctx NULL", t_err(r));
	static char not_a_ring[4096] __attribute__((aligned(4096)));
	r = T_CALL(io_submit((io_context_t)(void *)not_a_ring, 1, one));
	printf("%-40s %s\n", "ctx not a context", t_err(r));
	t_expect_no_event(ctx, 20);

	printf("-- batches\n");
	struct iocb b[3];
	struct iocb *list[3] = { &b[0], &b[1], &b[2] };
	for (int i = 0; i < 3; i++) {
		io_prep_pread(&b[i], fd, buf + i * 2048, 1024, i * 1024);
		b[i].data = (void *)(uintptr_t)(0x100 + i);
	}
	b[1].aio_fildes = -1;
	r = T_CALL(io_submit(ctx, 3, list));
	printf("%-40s %s\n", "[ok, bad fd, ok]", t_err(r));
	t_wait_events(ctx, 1, &ev);
	printf("  event for iocb %d\n", t_event_index(&ev, list, 3));
	t_print_event("  event", &ev, &b[0], (void *)(uintptr_t)0x100);
	t_expect_no_event(ctx, 100);
	printf("  no further event\n");

	for (int i = 0; i < 3; i++) {
		io_prep_pread(&b[i], fd, buf + i * 2048, 1024, i * 1024);
		b[i].data = (void *)(uintptr_t)(0x100 + i);
	}
	b[0].aio_lio_opcode = IO_CMD_NOOP;
	r = T_CALL(io_submit(ctx, 3, list));
	printf("%-40s %s\n", "[NOOP, ok, ok]", t_err(r));
	t_expect_no_event(ctx, 100);
	printf("  no event\n");

	for (int i = 0; i < 3; i++) {
		io_prep_pread(&b[i], fd, buf + i * 2048, 1024, i * 1024);
		b[i].data = (void *)(uintptr_t)(0x100 + i);
	}
	b[2].u.c.offset = -1;
	r = T_CALL(io_submit(ctx, 3, list));
	printf("%-40s %s\n", "[ok, ok, offset -1]", t_err(r));
	struct io_event evs[2];
	t_wait_events(ctx, 2, evs);
	t_sort_events(evs, 2, list, 3);
	for (int i = 0; i < 2; i++) {
		printf("  event for iocb %d\n", t_event_index(&evs[i], list, 3));
		t_print_event("  event", &evs[i], &b[i], (void *)(uintptr_t)(0x100 + i));
	}
	t_expect_no_event(ctx, 100);
	printf("  no further event\n");

	for (int i = 0; i < 2; i++) {
		io_prep_pread(&b[i], fd, buf + i * 2048, 1024, i * 1024);
		b[i].data = (void *)(uintptr_t)(0x100 + i);
	}
	list[1] = NULL;
	r = T_CALL(io_submit(ctx, 2, list));
	printf("%-40s %s\n", "[ok, NULL]", t_err(r));
	t_wait_events(ctx, 1, &ev);
	t_print_event("  event", &ev, &b[0], (void *)(uintptr_t)0x100);
	t_expect_no_event(ctx, 100);
	printf("  no further event\n");

	/* the context is still fully usable */
	io_prep_pread(&io, fd, buf, 4096, 4096);
	io.data = (void *)(uintptr_t)0x77;
	t_submit1(ctx, &io);
	t_wait_events(ctx, 1, &ev);
	t_print_event("final read", &ev, &io, (void *)(uintptr_t)0x77);
	printf("final data %s\n", t_ok(t_check(buf, 4096, 1, 4096)));

	t_destroy(ctx);
	return 0;
}
