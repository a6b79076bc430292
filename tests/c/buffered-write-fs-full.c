/* Description: buffered writes on XFS and btrfs, up to a full filesystem, as kernel AIO does them.
 *
 * Kernel AIO performs a buffered write inside io_submit on every
 * filesystem: its event is there when io_submit returns, and near ENOSPC
 * it comes back short or whole exactly as write(2) would. Each filesystem
 * is made on a 320 MiB loop device (mkfs.xfs, mkfs.btrfs; the test skips
 * where it cannot mount one: not root, no loop devices, no mkfs), then
 * batches of 8 writes of 131,072 bytes (each batch one io_submit, so that
 * several writes are in flight at once) fill a file until 16 writes in a row
 * fail. Prints how many events a zero-timeout io_getevents found at once
 * after each io_submit (all of them, under kernel AIO), and, from the first
 * write that was not whole on, every result, and whether the bytes the
 * writes reported add up to the file's size.
 */
#include "t_util.h"
#include <sys/mount.h>
#include <sys/stat.h>

#define WRITE_SIZE 131072
#define BATCH 8
#define MAX_WRITES 8192

static char dir[512];
static char image[600];
static char cmd[2048];

static int sh(const char *fmt, const char *a, const char *b)
{
	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

static void fill(const char *fs)
{
	snprintf(dir, sizeof(dir), "%s/fs-full-%s-%d", t_dir(), fs, getpid());
	snprintf(image, sizeof(image), "%s.img", dir);
	T_ASSERT(mkdir(dir, 0700) == 0);
	int img = open(image, O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_ASSERT(img >= 0 && ftruncate(img, 320 << 20) == 0);
	close(img);
	if (sh("mkfs.%s -q %s >/dev/null 2>&1", fs, image) != 0 ||
	    sh("mount -o loop %s %s >/dev/null 2>&1", image, dir) != 0) {
		rmdir(dir);
		unlink(image);
		t_skip("cannot make and loop-mount a filesystem (needs root, loop devices, mkfs)");
	}
	char path[600];
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_ASSERT(fd >= 0);
	io_context_t ctx = t_setup(BATCH);
	char *buf = t_aligned(WRITE_SIZE);
	memset(buf, 0x5a, WRITE_SIZE);
	static long results[MAX_WRITES];
	int n = 0, failed_in_row = 0, at_once = 0, batches = 0;
	long long off = 0, reported = 0;
	while (failed_in_row < 16 && n + BATCH <= MAX_WRITES) {
		struct iocb cbs[BATCH], *list[BATCH];
		for (int i = 0; i < BATCH; i++) {
			io_prep_pwrite(&cbs[i], fd, buf, WRITE_SIZE, off);
			cbs[i].data = (void *)(intptr_t)(n + i);
			off += WRITE_SIZE;
			list[i] = &cbs[i];
		}
		int r = T_CALL(io_submit(ctx, BATCH, list));
		T_ASSERTF(r == BATCH, "io_submit: %s", t_err(r));
		struct io_event evs[BATCH];
		struct timespec zero = t_ts(0, 0);
		int got = T_CALL(io_getevents(ctx, BATCH, BATCH, evs, &zero));
		T_ASSERTF(got >= 0, "io_getevents: %s", t_err(got));
		at_once += got;
		batches++;
		if (got < BATCH)
			t_wait_events(ctx, BATCH - got, evs + got);
		for (int i = 0; i < BATCH; i++)
			results[(intptr_t)evs[i].data] = (long)evs[i].res;
		for (int i = n; i < n + BATCH; i++) {
			failed_in_row = results[i] < 0 ? failed_in_row + 1 : 0;
			if (results[i] > 0)
				reported += results[i];
		}
		n += BATCH;
	}
	int first_short = 0;
	while (first_short < n && results[first_short] == WRITE_SIZE)
		first_short++;
	printf("%s: %d of %d writes complete when io_submit returned\n", fs, at_once, batches * BATCH);
	printf("%s: from the first write not whole on:", fs);
	for (int i = first_short; i < n; i++)
		printf(" %s", results[i] >= 0 ? (results[i] == WRITE_SIZE ? "whole" : "short") : t_err(results[i]));
	printf("\n");
	struct stat st;
	T_ASSERT(fstat(fd, &st) == 0);
	printf("%s: bytes reported %s the file's size\n", fs, reported == (long long)st.st_size ? "==" : "!=");
	t_destroy(ctx);
	close(fd);
	T_ASSERT(umount(dir) == 0);
	rmdir(dir);
	unlink(image);
}

int main(void)
{
	fill("xfs");
	fill("btrfs");
	return 0;
}
