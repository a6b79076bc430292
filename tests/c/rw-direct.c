/* Description: O_DIRECT read/write round trips through io_submit.
 *
 * On an ext4 file under $T_DIR and on tmpfs (/dev/shm), both opened with
 * O_DIRECT and driven with 4096-aligned buffers: a batch of block writes
 * (extending the file), a batch of reads at shuffled offsets, PWRITEV/PREADV
 * with aligned iovecs, one 1 MiB transfer, RWF_HIPRI (accepted, then
 * completed like any request). On ext4 a misaligned buffer,
 * offset or length is reported in the event (res=-EINVAL), not by
 * io_submit; tmpfs copies through the page cache and accepts them.
 */
#include "t_util.h"
#include <sys/uio.h>

#define BS 4096
#define NB 8
#define BIG (1 << 20)

static void misaligned(io_context_t ctx, int fd, unsigned char *abuf)
{
	struct iocb io;
	struct io_event ev;
	int r;

	/* buffer address off by one */
	io_prep_pread(&io, fd, abuf + 1, BS, 0);
	r = t_submit_one(ctx, &io);
	printf("pread buf+1: submit=%s\n", t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, NULL);
	}
	/* offset not a multiple of the block size */
	io_prep_pread(&io, fd, abuf, BS, 1);
	r = t_submit_one(ctx, &io);
	printf("pread offset 1: submit=%s\n", t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, NULL);
	}
	/* length not a multiple of the block size */
	io_prep_pread(&io, fd, abuf, 100, 0);
	r = t_submit_one(ctx, &io);
	printf("pread length 100: submit=%s\n", t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, NULL);
	}
	/* misaligned write (beyond the data checked afterwards) */
	io_prep_pwrite(&io, fd, abuf + 1, BS, 512 * BS);
	r = t_submit_one(ctx, &io);
	printf("pwrite buf+1: submit=%s\n", t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, NULL);
	}
}

static void run(const char *dir, const char *label)
{
	io_context_t ctx = t_setup(64);
	int fd = t_tmpfile_direct(dir, "rw-direct");
	struct iocb io[NB], *list[NB];
	struct io_event evs[NB];
	unsigned char *bufs[NB];
	int r;

	printf("== %s\n", label);
	for (int i = 0; i < NB; i++) {
		bufs[i] = t_aligned(BS);
		t_fill(bufs[i], BS, 50 + i, 0);
		io_prep_pwrite(&io[i], fd, bufs[i], BS, (long long)i * BS);
		io[i].data = (void *)(uintptr_t)(0xd000 + i);
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
		t_print_event(l, &evs[i], &io[i], (void *)(uintptr_t)(0xd000 + i));
	}

	/* read back with a shuffled block order */
	for (int i = 0; i < NB; i++) {
		int blk = (i * 5 + 3) % NB;
		memset(bufs[i], 0xee, BS);
		io_prep_pread(&io[i], fd, bufs[i], BS, (long long)blk * BS);
		io[i].data = (void *)(uintptr_t)(0xe000 + i);
	}
	r = T_CALL(io_submit(ctx, NB, list));
	printf("submit %d preads = %s\n", NB, t_err(r));
	T_ASSERT(r == NB);
	t_wait_events(ctx, NB, evs);
	t_sort_events(evs, NB, list, NB);
	for (int i = 0; i < NB; i++) {
		char l[32];
		snprintf(l, sizeof(l), "pread[%d]", i);
		t_print_event(l, &evs[i], &io[i], (void *)(uintptr_t)(0xe000 + i));
		printf("  data %s\n", t_ok(t_check(bufs[i], BS, 50 + (i * 5 + 3) % NB, 0)));
	}

	/* vectored, aligned: 3 iovecs written, read back as 2 */
	unsigned char *v = t_aligned(4 * BS), *w = t_aligned(4 * BS);
	t_fill(v, 4 * BS, 60, 0);
	struct iovec wv[3] = { { v, BS }, { v + BS, 2 * BS }, { v + 3 * BS, BS } };
	io_prep_pwritev(&io[0], fd, wv, 3, 16 * BS);
	io[0].data = (void *)(uintptr_t)0xf0;
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pwritev", &evs[0], &io[0], (void *)(uintptr_t)0xf0);
	memset(w, 0, 4 * BS);
	struct iovec rv[2] = { { w, 3 * BS }, { w + 3 * BS, BS } };
	io_prep_preadv(&io[0], fd, rv, 2, 16 * BS);
	io[0].data = (void *)(uintptr_t)0xf1;
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("preadv", &evs[0], &io[0], (void *)(uintptr_t)0xf1);
	printf("  data %s\n", t_ok(memcmp(v, w, 4 * BS) == 0));

	/* one large transfer */
	unsigned char *big = t_aligned(BIG);
	t_fill(big, BIG, 70, 0);
	io_prep_pwrite(&io[0], fd, big, BIG, 32 * BS);
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pwrite 1MiB", &evs[0], &io[0], NULL);
	memset(big, 0, BIG);
	io_prep_pread(&io[0], fd, big, BIG, 32 * BS);
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pread 1MiB", &evs[0], &io[0], NULL);
	printf("  data %s\n", t_ok(t_check(big, BIG, 70, 0)));

	/* RWF_HIPRI is accepted (and ignored: nobody polls for completion) */
	memset(bufs[1], 0, BS);
	io_prep_pread(&io[0], fd, bufs[1], BS, 3 * BS);
	io[0].aio_rw_flags = T_RWF_HIPRI;
	r = t_submit_one(ctx, &io[0]);
	printf("pread RWF_HIPRI: submit=%s\n", t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, evs);
		t_print_event("  event", &evs[0], &io[0], NULL);
		printf("  data %s\n", t_ok(t_check(bufs[1], BS, 53, 0)));
	}
	t_fill(bufs[1], BS, 80, 0);
	io_prep_pwrite(&io[0], fd, bufs[1], BS, 600 * BS);
	io[0].aio_rw_flags = T_RWF_HIPRI | T_RWF_DSYNC;
	r = t_submit_one(ctx, &io[0]);
	printf("pwrite RWF_HIPRI|RWF_DSYNC: submit=%s\n", t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, evs);
		t_print_event("  event", &evs[0], &io[0], NULL);
	}

	misaligned(ctx, fd, big);

	/* the file content was not disturbed by the misaligned attempts */
	memset(bufs[0], 0, BS);
	io_prep_pread(&io[0], fd, bufs[0], BS, 0);
	t_submit1(ctx, &io[0]);
	t_wait_events(ctx, 1, evs);
	t_print_event("pread block 0", &evs[0], &io[0], NULL);
	printf("  data %s\n", t_ok(t_check(bufs[0], BS, 50, 0)));

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	for (int i = 0; i < NB; i++)
		free(bufs[i]);
	free(v);
	free(w);
	free(big);
	close(fd);
}

int main(void)
{
	run(NULL, "T_DIR");
	run("/dev/shm", "/dev/shm");
	return 0;
}
