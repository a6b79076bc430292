/* Description: IO_CMD_FSYNC and IO_CMD_FDSYNC.
 *
 * After buffered writes, FSYNC and FDSYNC complete with res=0 on ext4
 * (regular file, O_RDONLY descriptor, directory) and on tmpfs; they can be
 * batched with writes and used through io_fsync()/io_fdsync(). Files
 * without an fsync method (pipe, /dev/null, eventfd) are refused
 * synchronously with -EINVAL.
 */
#include "t_util.h"
#include <sys/eventfd.h>

static io_context_t ctx;

static void sync_one(const char *label, int fd, int cmd)
{
	struct iocb io;
	struct io_event ev;
	int r;

	if (cmd == IO_CMD_FSYNC)
		io_prep_fsync(&io, fd);
	else
		io_prep_fdsync(&io, fd);
	io.data = (void *)(uintptr_t)0x5ca1ab1e;
	r = t_submit_one(ctx, &io);
	printf("%s %s: submit=%s\n", cmd == IO_CMD_FSYNC ? "fsync" : "fdsync", label, t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, (void *)(uintptr_t)0x5ca1ab1e);
	}
}

static int callbacks;
static void cb(io_context_t c, struct iocb *iocb, long res, long res2)
{
	(void)c;
	(void)iocb;
	(void)res;
	(void)res2;
	callbacks++;
}

int main(void)
{
	struct iocb io[3], *list[3] = { &io[0], &io[1], &io[2] };
	struct io_event evs[3];
	unsigned char *buf = t_aligned(65536);
	int r;

	ctx = t_setup(16);
	int fd = t_tmpfile("fsync");
	int ro = t_reopen(fd, O_RDONLY);
	int shm = t_tmpfile_in("/dev/shm", "fsync", O_RDWR);
	T_ASSERT(shm >= 0);
	int dir = open(t_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ASSERT(dir >= 0);
	int p[2];
	T_ASSERT(pipe(p) == 0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	T_ASSERT(null >= 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);

	/* batch: write, fsync, fdsync */
	t_fill(buf, 65536, 3, 0);
	io_prep_pwrite(&io[0], fd, buf, 65536, 0);
	io_prep_fsync(&io[1], fd);
	io_prep_fdsync(&io[2], fd);
	for (int i = 0; i < 3; i++)
		io[i].data = (void *)(uintptr_t)(0x10 + i);
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit [pwrite, fsync, fdsync] = %s\n", t_err(r));
	T_ASSERT(r == 3);
	t_wait_events(ctx, 3, evs);
	t_sort_events(evs, 3, list, 3);
	t_print_event("pwrite", &evs[0], &io[0], (void *)(uintptr_t)0x10);
	t_print_event("fsync", &evs[1], &io[1], (void *)(uintptr_t)0x11);
	t_print_event("fdsync", &evs[2], &io[2], (void *)(uintptr_t)0x12);

	/* several syncs of the same file in flight at once */
	for (int i = 0; i < 3; i++) {
		if (i % 2)
			io_prep_fdsync(&io[i], fd);
		else
			io_prep_fsync(&io[i], fd);
		io[i].data = (void *)(uintptr_t)(0x20 + i);
	}
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit 3 syncs = %s\n", t_err(r));
	T_ASSERT(r == 3);
	t_wait_events(ctx, 3, evs);
	t_sort_events(evs, 3, list, 3);
	for (int i = 0; i < 3; i++)
		t_print_event("  sync", &evs[i], &io[i], (void *)(uintptr_t)(0x20 + i));

	T_ASSERT(pwrite(shm, buf, 4096, 0) == 4096);
	sync_one("ext4 O_RDONLY fd", ro, IO_CMD_FSYNC);
	sync_one("ext4 O_RDONLY fd", ro, IO_CMD_FDSYNC);
	sync_one("ext4 directory", dir, IO_CMD_FSYNC);
	sync_one("tmpfs file", shm, IO_CMD_FSYNC);
	sync_one("tmpfs file", shm, IO_CMD_FDSYNC);
	sync_one("pipe", p[1], IO_CMD_FSYNC);
	sync_one("pipe", p[0], IO_CMD_FDSYNC);
	sync_one("/dev/null", null, IO_CMD_FSYNC);
	sync_one("eventfd", efd, IO_CMD_FDSYNC);

	/* the inline helpers: callback stored in data */
	r = T_CALL(io_fsync(ctx, &io[0], cb, fd));
	printf("io_fsync = %s\n", t_err(r));
	r = T_CALL(io_fdsync(ctx, &io[1], cb, fd));
	printf("io_fdsync = %s\n", t_err(r));
	t_wait_events(ctx, 2, evs);
	t_sort_events(evs, 2, list, 2);
	t_print_event("io_fsync", &evs[0], &io[0], (void *)cb);
	t_print_event("io_fdsync", &evs[1], &io[1], (void *)cb);
	printf("callbacks run by io_getevents: %d\n", callbacks);

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
