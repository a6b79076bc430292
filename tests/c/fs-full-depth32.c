/* Description: writes kept 32 in flight until the filesystem is full end as under kernel AIO, with no byte lost.
 *
 * The way fio drives a full disk: 32 writes in flight at increasing
 * offsets, each completion answered at once by the next write, until 64
 * writes in a row have failed. On a 320 MiB XFS on a loop device opened
 * with direct I/O (losetup --direct-io=on), 100,000-byte buffered writes
 * end in one short write, then ten whole ones (XFS frees its speculative
 * preallocation and retries once it has hit ENOSPC inside a blocking
 * write), then ENOSPC; a library that let io_uring start buffered writes
 * (a non-blocking try, then a worker thread) ended after the short write.
 * The same with 102,400-byte O_DIRECT writes, and both kinds on a tmpfs
 * mounted with size=48m. Prints, per case, how many writes were whole
 * before the first that was not, and every result from there on; then
 * reads the file back and checks that every byte a write reported is
 * there, and that the file ends where the last byte reported does. Skips
 * where it cannot make the filesystems (not root, no loop devices, no
 * mkfs.xfs).
 */
#include "t_util.h"
#include <sys/mount.h>
#include <sys/stat.h>

#define DEPTH 32
#define MAX_WRITES 8192
#define STOP_AFTER_FAILS 64

static char cmd[2048];

static int sh(const char *fmt, const char *a, const char *b)
{
	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

static char *capture(const char *fmt, const char *a)
{
	static char out[256];
	snprintf(cmd, sizeof(cmd), fmt, a);
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	char *got = fgets(out, sizeof(out), p);
	if (pclose(p) != 0 || !got)
		return NULL;
	out[strcspn(out, "\n")] = 0;
	return out;
}

/* Keeps DEPTH writes of `size` bytes in flight at increasing offsets. */
static void fill(const char *label, const char *dir, int direct, long size)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0600);
	T_ASSERTF(fd >= 0, "open %s: %s", path, strerror(errno));
	io_context_t ctx = t_setup(DEPTH);
	static struct iocb cbs[DEPTH];
	static char *bufs[DEPTH];
	static long results[MAX_WRITES];
	static char seen[MAX_WRITES];
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < DEPTH; i++)
		if (!bufs[i])
			bufs[i] = t_aligned(102400);
	int issued = 0, done = 0, failed_in_row = 0, in_flight = 0;
	unsigned seed = (unsigned)size + (unsigned)direct;
	struct iocb *list[1];
	for (int slot = 0; slot < DEPTH; slot++) {
		t_fill(bufs[slot], size, seed, (size_t)issued * size);
		io_prep_pwrite(&cbs[slot], fd, bufs[slot], size, (long long)issued * size);
		cbs[slot].data = (void *)(intptr_t)issued++;
		list[0] = &cbs[slot];
		int r = T_CALL(io_submit(ctx, 1, list));
		T_ASSERTF(r == 1, "io_submit: %s", t_err(r));
		in_flight++;
	}
	while (in_flight > 0) {
		struct io_event ev;
		t_wait_events(ctx, 1, &ev);
		in_flight--;
		intptr_t i = (intptr_t)ev.data;
		struct iocb *cb = ev.obj;
		T_ASSERTF(cb >= cbs && cb < cbs + DEPTH && i >= 0 && i < issued && !seen[i],
			  "%s: an event that is not one of the writes in flight, or a second one", label);
		seen[i] = 1;
		results[i] = (long)ev.res;
		done++;
		failed_in_row = (long)ev.res <= 0 ? failed_in_row + 1 : 0;
		if (failed_in_row >= STOP_AFTER_FAILS || issued >= MAX_WRITES)
			continue;
		int slot = (int)(cb - cbs);
		t_fill(bufs[slot], size, seed, (size_t)issued * size);
		io_prep_pwrite(cb, fd, bufs[slot], size, (long long)issued * size);
		cb->data = (void *)(intptr_t)issued++;
		list[0] = cb;
		int r = T_CALL(io_submit(ctx, 1, list));
		T_ASSERTF(r == 1, "io_submit: %s", t_err(r));
		in_flight++;
	}
	T_ASSERT(done == issued);
	T_ASSERTF(issued < MAX_WRITES, "%s: the filesystem never filled", label);
	int first = 0;
	while (first < issued && results[first] == size)
		first++;
	/* Runs of equal results as "whole x10". */
	printf("%s: %d whole writes, then:", label, first);
	for (int i = first; i < issued;) {
		const char *what = results[i] >= 0 ? (results[i] == size ? "whole" : "short") : t_err(results[i]);
		int run = 1;
		while (i + run < issued && results[i + run] == results[i])
			run++;
		printf(run > 1 ? " %s x%d" : " %s", what, run);
		i += run;
	}
	printf("\n");

	/* Every byte a write reported is in the file. */
	t_destroy(ctx);
	close(fd);
	fd = open(path, O_RDONLY);
	T_ASSERT(fd >= 0);
	char *back = malloc(size);
	long long end = 0, bad = 0;
	for (int i = 0; i < issued; i++) {
		if (results[i] <= 0)
			continue;
		end = (long long)i * size + results[i];
		ssize_t got = pread(fd, back, results[i], (off_t)i * size);
		if (got != results[i] || !t_check(back, results[i], seed, (size_t)i * size))
			bad++;
	}
	struct stat st;
	T_ASSERT(fstat(fd, &st) == 0);
	printf("%s: writes whose bytes are not all in the file: %lld; the file ends %s the last byte reported\n",
	       label, bad, end == (long long)st.st_size ? "at" : "elsewhere than at");
	free(back);
	close(fd);
	T_ASSERT(unlink(path) == 0);
}

static char loop[256];
static char image[600];

/* A fresh filesystem per case, so that no case starts on space another
 * case is still freeing (XFS frees an unlinked file's blocks later). */
static int mount_fresh(const char *fs, const char *dir)
{
	if (strcmp(fs, "tmpfs") == 0)
		return mount("fs-full32", dir, "tmpfs", 0, "size=48m");
	return sh("mkfs.xfs -q -f %s >/dev/null 2>&1", loop, "") != 0 ||
	       sh("mount %s %s >/dev/null 2>&1", loop, dir) != 0 ? -1 : 0;
}

static void run_case(const char *label, const char *fs, const char *dir, int direct, long size)
{
	T_ASSERTF(mount_fresh(fs, dir) == 0, "%s: cannot mount", label);
	fill(label, dir, direct, size);
	T_ASSERT(umount(dir) == 0);
}

int main(void)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/fs-full32-%d", t_dir(), getpid());
	snprintf(image, sizeof(image), "%s.img", dir);
	T_ASSERT(mkdir(dir, 0700) == 0);
	int img = open(image, O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_ASSERT(img >= 0 && ftruncate(img, 320 << 20) == 0);
	close(img);
	char *dev = capture("losetup --direct-io=on -f --show %s 2>/dev/null", image);
	if (dev)
		snprintf(loop, sizeof(loop), "%s", dev);
	if (!dev || mount_fresh("xfs", dir) != 0) {
		if (loop[0])
			sh("losetup -d %s", loop, "");
		rmdir(dir);
		unlink(image);
		t_skip("cannot make XFS on a loop device (needs root, loop devices, mkfs.xfs)");
	}
	T_ASSERT(umount(dir) == 0);
	run_case("xfs buffered 100000", "xfs", dir, 0, 100000);
	run_case("xfs O_DIRECT 102400", "xfs", dir, 1, 102400);
	run_case("tmpfs buffered 100000", "tmpfs", dir, 0, 100000);
	run_case("tmpfs O_DIRECT 102400", "tmpfs", dir, 1, 102400);
	sh("losetup -d %s", loop, "");
	rmdir(dir);
	unlink(image);
	return 0;
}
