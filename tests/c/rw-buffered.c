/* Description: buffered read/write round trips through io_submit.
 *
 * On an ext4 scratch file under $T_DIR and on tmpfs (/dev/shm): batches of
 * IO_CMD_PWRITE then IO_CMD_PREAD, IO_CMD_PWRITEV/PREADV with differently
 * split iovecs, odd sizes and offsets, zero-length transfers, a write that
 * extends the file, and the accepted aio_rw_flags RWF_HIPRI / RWF_DSYNC /
 * RWF_SYNC / RWF_APPEND. Every event's res/res2/obj/data and the data itself
 * are checked.
 */
#include "t_util.h"
#include <sys/uio.h>

#define BS 4096
#define NB 4

static void run(const char *dir, const char *label)
{
	io_context_t ctx = t_setup(32);
	int fd = t_tmpfile_in(dir, "rw-buffered", O_RDWR);
	struct iocb io[NB], *list[NB];
	struct io_event evs[NB];
	unsigned char *bufs[NB];
	struct stat st;
	int r;

	if (fd < 0) {
		fprintf(stderr, "cannot create a file in %s: %s\n", dir, t_err(fd));
		t_skip("scratch directory unusable");
	}
	printf("== %s\n", label);

	/* batch of writes, each block a different pattern */
	for (int i = 0; i < NB; i++) {
		bufs[i] = t_aligned(BS);
		t_fill(bufs[i], BS, 10 + i, 0);
		io_prep_pwrite(&io[i], fd, bufs[i], BS, (long long)i * BS);
		io[i].data = (void *)(uintptr_t)(0xa000 + i);
		list[i] = &io[i];
	}
	r = T_CALL(io_submit(ctx, NB, list));
	printf("submit %d pwrites = %s\n", NB, t_err(r));
	T_ASSERT(r == NB);
	t_wait_events(ctx, NB, evs);
	t_sort_events(evs, NB, list, NB);
	for (int i = 0; i < NB; i++) {
		char l[32];
		snprintf(l, sizeof(l), "pwrite[%d]", i);
		t_print_event(l, &evs[i], &io[i], (void *)(uintptr_t)(0xa000 + i));
	}
	T_ASSERT(fstat(fd, &st) == 0);
	printf("size after writes = %lld\n", (long long)st.st_size);

	/* read them back in reverse order of offsets */
	for (int i = 0; i < NB; i++) {
		memset(bufs[i], 0, BS);
		io_prep_pread(&io[i], fd, bufs[i], BS, (long long)(NB - 1 - i) * BS);
		io[i].data = (void *)(uintptr_t)(0xb000 + i);
	}
	r = T_CALL(io_submit(ctx, NB, list));
	printf("submit %d preads = %s\n", NB, t_err(r));
	T_ASSERT(r == NB);
	t_wait_events(ctx, NB, evs);
	t_sort_events(evs, NB, list, NB);
	for (int i = 0; i < NB; i++) {
		char l[32];
		snprintf(l, sizeof(l), "pread[%d]", i);
		t_print_event(l, &evs[i], &io[i], (void *)(uintptr_t)(0xb000 + i));
		printf("  data %s\n", t_ok(t_check(bufs[i], BS, 10 + (NB - 1 - i), 0)));
	}

	/* vectored: write 3 pieces at an odd offset, read back split 2 ways */
	static unsigned char src[9100], dst[9100];
	t_fill(src, sizeof(src), 20, 0);
	struct iovec wv[3] = {
		{ src, 100 }, { src + 100, 4000 }, { src + 4100, 5000 },
	};
	io_prep_pwritev(&io[0], fd, wv, 3, 20001);
	io[0].data = (void *)(uintptr_t)0xc0;
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pwritev", &evs[0], &io[0], (void *)(uintptr_t)0xc0);

	memset(dst, 0, sizeof(dst));
	struct iovec rv[2] = { { dst, 4500 }, { dst + 4500, 4600 } };
	io_prep_preadv(&io[0], fd, rv, 2, 20001);
	io[0].data = (void *)(uintptr_t)0xc1;
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("preadv", &evs[0], &io[0], (void *)(uintptr_t)0xc1);
	printf("  data %s\n", t_ok(memcmp(src, dst, sizeof(src)) == 0));
	T_ASSERT(fstat(fd, &st) == 0);
	printf("size after pwritev = %lld\n", (long long)st.st_size);

	/* a preadv with a zero-length iovec in the middle */
	memset(dst, 0, sizeof(dst));
	struct iovec zv[3] = { { dst, 10 }, { dst + 10, 0 }, { dst + 10, 20 } };
	io_prep_preadv(&io[0], fd, zv, 3, 20001);
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("preadv with empty iovec", &evs[0], &io[0], NULL);
	printf("  data %s\n", t_ok(memcmp(src, dst, 30) == 0));

	/* zero-length transfers */
	io_prep_pwrite(&io[0], fd, bufs[0], 0, 100000);
	io_prep_pread(&io[1], fd, bufs[1], 0, 0);
	io_prep_preadv(&io[2], fd, rv, 0, 0);
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit 3 zero-length = %s\n", t_err(r));
	T_ASSERT(r == 3);
	t_wait_events(ctx, 3, evs);
	t_sort_events(evs, 3, list, 3);
	t_print_event("pwrite 0 bytes", &evs[0], &io[0], NULL);
	t_print_event("pread 0 bytes", &evs[1], &io[1], NULL);
	t_print_event("preadv 0 iovecs", &evs[2], &io[2], NULL);
	T_ASSERT(fstat(fd, &st) == 0);
	printf("size unchanged = %lld\n", (long long)st.st_size);

	/* single odd bytes */
	unsigned char one = 0x5a, back = 0;
	io_prep_pwrite(&io[0], fd, &one, 1, 12345);
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pwrite 1 byte", &evs[0], &io[0], NULL);
	io_prep_pread(&io[0], fd, &back, 1, 12345);
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pread 1 byte", &evs[0], &io[0], NULL);
	printf("  data %s\n", t_ok(back == 0x5a));

	/* accepted rw flags */
	static const struct { int flags; const char *name; } fl[] = {
		{ T_RWF_HIPRI, "RWF_HIPRI" },
		{ T_RWF_DSYNC, "RWF_DSYNC" },
		{ T_RWF_SYNC, "RWF_SYNC" },
	};
	for (unsigned i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		t_fill(bufs[0], BS, 30 + i, 0);
		io_prep_pwrite(&io[0], fd, bufs[0], BS, 0);
		io[0].aio_rw_flags = fl[i].flags;
		r = t_submit_one(ctx, &io[0]);
		printf("pwrite %s submit = %s\n", fl[i].name, t_err(r));
		if (r == 1) {
			t_wait_events(ctx, 1, evs);
			t_print_event("  event", &evs[0], &io[0], NULL);
		}
		memset(bufs[1], 0, BS);
		io_prep_pread(&io[0], fd, bufs[1], BS, 0);
		io[0].aio_rw_flags = fl[i].flags;
		r = t_submit_one(ctx, &io[0]);
		printf("pread %s submit = %s\n", fl[i].name, t_err(r));
		if (r == 1) {
			t_wait_events(ctx, 1, evs);
			t_print_event("  event", &evs[0], &io[0], NULL);
			printf("  data %s\n", t_ok(t_check(bufs[1], BS, 30 + i, 0)));
		}
	}

	/* RWF_APPEND: the offset is ignored, the data lands at EOF */
	T_ASSERT(fstat(fd, &st) == 0);
	off_t eof = st.st_size;
	t_fill(bufs[2], 300, 40, 0);
	io_prep_pwrite(&io[0], fd, bufs[2], 300, 0);
	io[0].aio_rw_flags = T_RWF_APPEND;
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pwrite RWF_APPEND", &evs[0], &io[0], NULL);
	T_ASSERT(fstat(fd, &st) == 0);
	printf("  size grew by %lld\n", (long long)(st.st_size - eof));
	memset(bufs[3], 0, BS);
	T_ASSERT(pread(fd, bufs[3], 300, eof) == 300);
	printf("  data at old EOF %s\n", t_ok(t_check(bufs[3], 300, 40, 0)));
	memset(bufs[3], 0, BS);
	T_ASSERT(pread(fd, bufs[3], BS, 0) == BS);
	printf("  offset 0 untouched %s\n", t_ok(t_check(bufs[3], BS, 32, 0)));

	/* RWF_APPEND is accepted on a read and does not change it */
	memset(bufs[3], 0, BS);
	io_prep_pread(&io[0], fd, bufs[3], BS, 0);
	io[0].aio_rw_flags = T_RWF_APPEND;
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pread RWF_APPEND", &evs[0], &io[0], NULL);
	printf("  data %s\n", t_ok(t_check(bufs[3], BS, 32, 0)));

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	for (int i = 0; i < NB; i++)
		free(bufs[i]);
	close(fd);
}

int main(void)
{
	run(NULL, "T_DIR");
	run("/dev/shm", "/dev/shm");
	return 0;
}
