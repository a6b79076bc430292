/* Description: a buffered read or write alone in flight is complete when io_submit returns.
 *
 * Kernel AIO performs buffered reads and writes inside io_submit, so their
 * event is already there when it returns: io_getevents with a zero timeout
 * gets it at once. A library that hands buffered I/O of uncached data to a
 * queue may not do so for the only request in flight on its context
 * without showing it (libaio_rs performs that request inside io_submit
 * too; with other requests in flight it queues, see the README's
 * "timing" difference). Uncached reads of an ext4 file (its cache emptied
 * before each), cached reads, and writes, 50 of each, one per io_submit;
 * prints how many events a zero-timeout io_getevents found at once.
 */
#include "t_util.h"

#define BS 4096
#define ROUNDS 50

int main(void)
{
	io_context_t ctx = t_setup(8);
	unsigned char *buf = t_aligned(BS);
	int fd = t_tmpfile("alone-inline");
	t_write_pattern(fd, (size_t)64 * BS, 3);
	T_ASSERT(fsync(fd) == 0);
	static const char *kinds[] = { "uncached read", "cached read", "write" };
	for (int kind = 0; kind < 3; kind++) {
		int at_once = 0, right = 0;
		for (int r = 0; r < ROUNDS; r++) {
			long long off = (long long)((r * 11) % 64) * BS;
			struct iocb cb;
			struct io_event ev;
			if (kind == 0)
				T_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
			if (kind == 2) {
				t_fill(buf, BS, 3, (size_t)off);
				io_prep_pwrite(&cb, fd, buf, BS, off);
			} else {
				memset(buf, 0, BS);
				io_prep_pread(&cb, fd, buf, BS, off);
			}
			t_submit1(ctx, &cb);
			struct timespec zero = t_ts(0, 0);
			int got = T_CALL(io_getevents(ctx, 1, 1, &ev, &zero));
			T_ASSERTF(got >= 0, "io_getevents: %s", t_err(got));
			at_once += got;
			if (got == 0)
				t_wait_events(ctx, 1, &ev);
			right += (long)ev.res == BS && ev.obj == &cb && t_check(buf, BS, 3, (size_t)off);
		}
		printf("%-14s %d of %d complete at io_submit's return, %d right\n", kinds[kind], at_once,
		       ROUNDS, right);
	}
	close(fd);
	t_destroy(ctx);
	return 0;
}
