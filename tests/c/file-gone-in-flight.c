/* Description: a file unlinked, closed or truncated while its requests are in flight.
 *
 * Kernel AIO holds the file from io_submit to the event. A file unlinked
 * and its descriptor closed right after io_submit is still read and
 * written whole: the reads return the file's data, and the writes are in
 * the file (read back through /proc/self/fd of a second descriptor kept
 * open for the purpose). Buffered reads are uncached first (a library may
 * queue them), O_DIRECT reads and writes go to ext4 ($T_DIR) and tmpfs
 * (/dev/shm), 32 requests per io_submit, with and without another request
 * in flight.
 *
 * A truncate that races reads has more than one right answer: a read that
 * ran before it returns the whole block, one that ran after returns 0
 * (its offset is past the new end). Kernel AIO does buffered reads inside
 * io_submit, so they all come back whole; a library that completes them
 * later may see the truncate. The test prints how many reads came back
 * either way with the right bytes, and how many came back any other way
 * (a wrong length, wrong bytes, a lost or doubled event), which must be
 * none. O_DIRECT writes in flight across a truncate to half the file:
 * the truncate waits for them (inode_dio_wait), so the file ends at the
 * truncate's size and its first half holds the written bytes.
 */
#include "t_util.h"
#include <sys/stat.h>

#define BS 4096
#define NBLK 32

static char *bufs[NBLK];
static char path[512];

static int make_file(const char *dir, const char *name, unsigned seed)
{
	snprintf(path, sizeof(path), "%s/t-gone-%s-%d", dir, name, getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_ASSERTF(fd >= 0, "open %s: %s", path, strerror(errno));
	char *b = t_aligned(BS);
	for (int i = 0; i < NBLK; i++) {
		t_fill(b, BS, seed, (size_t)i * BS);
		T_ASSERT(pwrite(fd, b, BS, (off_t)i * BS) == BS);
	}
	free(b);
	T_ASSERT(fsync(fd) == 0);
	T_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	return fd;
}

/* Submits NBLK reads or writes of the file at fd in one io_submit. */
static void submit_all(io_context_t ctx, struct iocb *cbs, int fd, int write, unsigned seed)
{
	struct iocb *list[NBLK];
	for (int i = 0; i < NBLK; i++) {
		if (write) {
			t_fill(bufs[i], BS, seed, (size_t)i * BS);
			io_prep_pwrite(&cbs[i], fd, bufs[i], BS, (long long)i * BS);
		} else {
			memset(bufs[i], 0, BS);
			io_prep_pread(&cbs[i], fd, bufs[i], BS, (long long)i * BS);
		}
		cbs[i].data = (void *)(intptr_t)i;
		list[i] = &cbs[i];
	}
	int r = T_CALL(io_submit(ctx, NBLK, list));
	T_ASSERTF(r == NBLK, "io_submit: %s", t_err(r));
}

/* Waits for NBLK events; returns how many were not whole or not unique. */
static int reap_all(io_context_t ctx, struct iocb *cbs, int write, unsigned seed)
{
	struct io_event evs[NBLK];
	int seen[NBLK] = { 0 }, bad = 0;
	t_wait_events(ctx, NBLK, evs);
	t_expect_no_event(ctx, 0);
	for (int i = 0; i < NBLK; i++) {
		int k = (int)(evs[i].obj - cbs);
		if (k < 0 || k >= NBLK || seen[k]++ || evs[i].res != BS || evs[i].res2 != 0) {
			bad++;
			continue;
		}
		if (!write && !t_check(bufs[k], BS, seed, (size_t)k * BS))
			bad++;
	}
	return bad;
}

/* Unlink, then close: the requests still read or write the file. */
static void unlink_and_close(io_context_t ctx, const char *dir, const char *label, int direct, int pending)
{
	static struct iocb cbs[NBLK];
	struct t_pending p;
	for (int write = 0; write <= 1; write++) {
		unsigned seed = 11 + write + 2 * direct;
		int fd = make_file(dir, label, seed);
		int keep = t_reopen(fd, O_RDONLY);
		if (direct) {
			close(fd);
			fd = open(path, O_RDWR | O_DIRECT);
			T_ASSERTF(fd >= 0, "open O_DIRECT %s: %s", path, strerror(errno));
		}
		if (pending)
			t_pending_begin(ctx, &p);
		submit_all(ctx, cbs, fd, write, seed + 100 * write);
		T_ASSERT(unlink(path) == 0);
		T_ASSERT(close(fd) == 0);
		int bad = reap_all(ctx, cbs, write, seed);
		if (pending)
			t_pending_end(ctx, &p);
		int wrong_bytes = 0;
		if (write) {
			char *b = t_aligned(BS);
			for (int i = 0; i < NBLK; i++)
				if (pread(keep, b, BS, (off_t)i * BS) != BS ||
				    !t_check(b, BS, seed + 100, (size_t)i * BS))
					wrong_bytes++;
			free(b);
		}
		printf("%s%s, %s, unlinked and closed after io_submit: %d of %d not whole or not once%s",
		       label, direct ? " O_DIRECT" : " buffered", write ? "writes" : "reads", bad, NBLK,
		       pending ? ", another request in flight" : "");
		if (write)
			printf("; blocks not in the file: %d", wrong_bytes);
		printf("\n");
		close(keep);
	}
}

/* Reads racing a truncate to 0: whole or 0, with the right bytes, once. */
static void truncate_under_reads(io_context_t ctx, const char *dir, const char *label)
{
	static struct iocb cbs[NBLK];
	unsigned seed = 31;
	int fd = make_file(dir, label, seed);
	submit_all(ctx, cbs, fd, 0, seed);
	T_ASSERT(ftruncate(fd, 0) == 0);
	struct io_event evs[NBLK];
	int seen[NBLK] = { 0 }, right = 0, other = 0;
	t_wait_events(ctx, NBLK, evs);
	t_expect_no_event(ctx, 0);
	for (int i = 0; i < NBLK; i++) {
		int k = (int)(evs[i].obj - cbs);
		if (k < 0 || k >= NBLK || seen[k]++ || evs[i].res2 != 0)
			other++;
		else if (evs[i].res == 0 || (evs[i].res == BS && t_check(bufs[k], BS, seed, (size_t)k * BS)))
			right++;
		else
			other++;
	}
	printf("%s buffered reads, truncated to 0 after io_submit: %d of %d whole or empty as the truncate "
	       "came after or before, %d otherwise\n", label, right, NBLK, other);
	T_ASSERT(unlink(path) == 0);
	close(fd);
}

/* O_DIRECT writes, then a truncate to half: it waits for them. */
static void truncate_after_direct_writes(io_context_t ctx, const char *dir, const char *label)
{
	static struct iocb cbs[NBLK];
	unsigned seed = 41;
	int fd = make_file(dir, label, seed);
	close(fd);
	fd = open(path, O_RDWR | O_DIRECT);
	T_ASSERT(fd >= 0);
	submit_all(ctx, cbs, fd, 1, seed + 1);
	T_ASSERT(ftruncate(fd, NBLK / 2 * BS) == 0);
	int bad = reap_all(ctx, cbs, 1, seed + 1);
	struct stat st;
	T_ASSERT(fstat(fd, &st) == 0);
	int wrong = 0;
	for (int i = 0; i < NBLK / 2; i++)
		if (pread(fd, bufs[0], BS, (off_t)i * BS) != BS || !t_check(bufs[0], BS, seed + 1, (size_t)i * BS))
			wrong++;
	printf("%s O_DIRECT writes, truncated to half after io_submit: %d of %d not whole or not once; "
	       "size %lld blocks; blocks of the first half not written: %d\n",
	       label, bad, NBLK, (long long)st.st_size / BS, wrong);
	T_ASSERT(unlink(path) == 0);
	close(fd);
}

int main(void)
{
	for (int i = 0; i < NBLK; i++)
		bufs[i] = t_aligned(BS);
	io_context_t ctx = t_setup(NBLK + 1);
	const char *dirs[2][2] = { { t_dir(), "ext4" }, { "/dev/shm", "tmpfs" } };
	for (int d = 0; d < 2; d++) {
		for (int direct = 0; direct <= 1; direct++)
			for (int pending = 0; pending <= 1; pending++)
				unlink_and_close(ctx, dirs[d][0], dirs[d][1], direct, pending);
		truncate_under_reads(ctx, dirs[d][0], dirs[d][1]);
		truncate_after_direct_writes(ctx, dirs[d][0], dirs[d][1]);
	}
	t_destroy(ctx);
	return 0;
}
