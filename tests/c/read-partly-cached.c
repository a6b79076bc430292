/* Description: buffered reads of a file whose pages are partly in the page cache.
 *
 * Kernel AIO performs a buffered read inside io_submit and returns every
 * byte asked for, however much of the range was cached. A library that
 * serves cached reads at once and hands the rest to a queue must not
 * return the cached part alone: each read below covers cached and uncached
 * pages in a different pattern (the cache emptied with POSIX_FADV_DONTNEED
 * and readahead turned off with POSIX_FADV_RANDOM, then chosen pages read
 * back with pread), one per io_submit (alone, and with another request in
 * flight) and in batches.
 */
#include "t_util.h"

#define BS 4096
#define NBLK 32

static io_context_t ctx;

/* Empties the file's cache, then caches the blocks whose bit is set in `mask`. */
static void cache_only(int fd, unsigned mask)
{
	unsigned char tmp[BS];
	T_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	for (int b = 0; b < NBLK; b++)
		if (mask >> b & 1)
			T_ASSERT(pread(fd, tmp, BS, (off_t)b * BS) == BS);
}

int main(void)
{
	unsigned char *buf = t_aligned((size_t)4 * 4 * BS);
	struct iocb cbs[4], *list[4];
	struct io_event evs[4];

	ctx = t_setup(16);
	int fd = t_tmpfile("read-partly-cached");
	t_write_pattern(fd, (size_t)NBLK * BS, 5);
	T_ASSERT(fsync(fd) == 0);
	T_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) == 0);

	/* Which of the 4 blocks of each read are cached: first, last, middle, none, all. */
	static const unsigned patterns[] = { 0x1, 0x8, 0x6, 0x0, 0xf, 0x5, 0xa };
	for (unsigned i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		unsigned pat = patterns[i];
		/* One read of 4 blocks at block 0, one per io_submit: alone,
		 * then with another request in flight (see t_pending_begin). */
		for (int busy = 0; busy <= 1; busy++) {
			struct t_pending other;
			if (busy)
				t_pending_begin(ctx, &other);
			cache_only(fd, pat);
			memset(buf, 0, 4 * BS);
			io_prep_pread(&cbs[0], fd, buf, 4 * BS, 0);
			t_submit1(ctx, &cbs[0]);
			t_wait_events(ctx, 1, evs);
			printf("cached blocks 0x%x, one read%s: res=%s data %s\n", pat, busy ? ", busy" : "",
			       t_err((long)evs[0].res), t_ok(t_check(buf, 4 * BS, 5, 0)));
			if (busy)
				t_pending_end(ctx, &other);
		}

		/* Four such reads at blocks 0, 8, 16, 24 in one io_submit. */
		cache_only(fd, pat | pat << 8 | pat << 16 | pat << 24);
		memset(buf, 0, 16 * BS);
		for (int k = 0; k < 4; k++) {
			io_prep_pread(&cbs[k], fd, buf + (size_t)k * 4 * BS, 4 * BS, (long long)k * 8 * BS);
			list[k] = &cbs[k];
		}
		int n = T_CALL(io_submit(ctx, 4, list));
		T_ASSERTF(n == 4, "io_submit: %s", t_err(n));
		t_wait_events(ctx, 4, evs);
		int good = 0;
		for (int k = 0; k < 4; k++) {
			int j = t_event_index(&evs[k], list, 4);
			T_ASSERT(j >= 0);
			good += (long)evs[k].res == 4 * BS &&
				t_check(buf + (size_t)j * 4 * BS, 4 * BS, 5, (size_t)j * 8 * BS);
		}
		printf("cached blocks 0x%x, batch of 4: %d whole and right\n", pat, good);
	}
	close(fd);
	t_destroy(ctx);
	return 0;
}
