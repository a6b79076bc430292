/* Description: the descriptor is closed, or its number reused, as soon as io_submit returns.
 *
 * Kernel AIO takes its reference to the file inside io_submit, so a request
 * outlives the descriptor it named: a read whose descriptor is closed right
 * after io_submit still reads the file, and one whose number is at once
 * given to another file (dup2) still reads the first file, never the
 * second. Buffered reads of an ext4 file, cached and uncached (a library
 * may queue them and resolve the descriptor later), one at a time (alone,
 * and with another request in flight: see t_pending_begin) and in batches
 * of 8; fsyncs and fdatasyncs of ext4 and tmpfs files and of a directory
 * (a library may run them on a worker that looks the descriptor up late);
 * then a poll whose pipe end is closed after io_submit: the
 * pipe keeps its reader (a write gets no SIGPIPE) and the poll sees the data.
 */
#include "t_util.h"
#include <poll.h>

#define BS 4096
#define NBLK 64
#define ROUNDS 300

static io_context_t ctx;

/* A scratch file under $T_DIR with NBLK blocks of pattern `seed`. */
static int pattern_file(const char *name, unsigned seed)
{
	int fd = t_tmpfile(name);
	t_write_pattern(fd, (size_t)NBLK * BS, seed);
	return fd;
}

/*
 * ROUNDS rounds of `batch` reads of `file` (pattern 1) through fresh
 * descriptors; right after io_submit each descriptor is closed, or (reuse)
 * its number is taken by a descriptor of `other` (pattern 2). With `cold`,
 * the file's pages are dropped before every round. Prints how many reads
 * completed with the first file's bytes.
 */
static void rounds(const char *label, int file, int other, int batch, int reuse, int cold)
{
	unsigned char *bufs = t_aligned((size_t)8 * BS);
	struct iocb cbs[8], *list[8];
	struct io_event evs[8];
	int fds[8], good = 0, bad_res = 0, bad_data = 0;

	for (int r = 0; r < ROUNDS; r++) {
		if (cold)
			T_ASSERT(posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED) == 0);
		for (int i = 0; i < batch; i++) {
			fds[i] = t_reopen(file, O_RDONLY);
			unsigned blk = (unsigned)(r * 7 + i * 13) % NBLK;
			memset(bufs + (size_t)i * BS, 0, BS);
			io_prep_pread(&cbs[i], fds[i], bufs + (size_t)i * BS, BS, (long long)blk * BS);
			cbs[i].data = (void *)(uintptr_t)blk;
			list[i] = &cbs[i];
		}
		int n = T_CALL(io_submit(ctx, batch, list));
		T_ASSERTF(n == batch, "io_submit: %s", t_err(n));
		for (int i = 0; i < batch; i++) {
			if (reuse)
				T_ASSERT(dup2(other, fds[i]) == fds[i]);
			else
				T_ASSERT(close(fds[i]) == 0);
		}
		t_wait_events(ctx, batch, evs);
		for (int i = 0; i < batch; i++) {
			unsigned blk = (unsigned)(uintptr_t)evs[i].data;
			int k = t_event_index(&evs[i], list, batch);
			T_ASSERT(k >= 0);
			if ((long)evs[i].res != BS)
				bad_res++;
			else if (!t_check(bufs + (size_t)k * BS, BS, 1, (size_t)blk * BS))
				bad_data++;
			else
				good++;
		}
		if (reuse)
			for (int i = 0; i < batch; i++)
				T_ASSERT(close(fds[i]) == 0);
	}
	printf("%-40s %d of %d read the first file (%d errors, %d other data)\n", label, good,
	       ROUNDS * batch, bad_res, bad_data);
	free(bufs);
}

/* ROUNDS fsyncs (fdatasyncs) of `file` through fresh descriptors, each
 * closed right after io_submit. */
static void syncs(const char *label, int file, int data)
{
	struct iocb cb;
	struct io_event ev;
	int good = 0;

	for (int r = 0; r < ROUNDS / 3; r++) {
		int fd = t_reopen(file, O_RDONLY);
		if (data)
			io_prep_fdsync(&cb, fd);
		else
			io_prep_fsync(&cb, fd);
		t_submit1(ctx, &cb);
		T_ASSERT(close(fd) == 0);
		t_wait_events(ctx, 1, &ev);
		good += ev.res == 0 && ev.obj == &cb;
	}
	printf("%-40s %d of %d completed with 0\n", label, good, ROUNDS / 3);
}

static void poll_closed_pipe(void)
{
	int p[2];
	struct iocb cb;
	struct io_event ev;

	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&cb, p[0], POLLIN);
	int r = t_submit_one(ctx, &cb);
	printf("poll, read end closed after io_submit: submit=%s", t_err(r));
	T_ASSERT(close(p[0]) == 0);
	T_ASSERT(write(p[1], "x", 1) == 1);
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		/* The mask a wakeup reports is the waker's (see poll-pipe.c). */
		printf(" POLLIN %s, nothing else but POLLRDNORM %s, obj=%s\n",
		       t_ok(ev.res & POLLIN), t_ok(!(ev.res & ~(long)(POLLIN | POLLRDNORM))),
		       t_ok(ev.obj == &cb));
	} else {
		printf("\n");
	}
	close(p[1]);
}

int main(void)
{
	ctx = t_setup(64);
	int file = pattern_file("close-after-submit-a", 1);
	int other = pattern_file("close-after-submit-b", 2);

	rounds("cached, one per io_submit, close", file, other, 1, 0, 0);
	rounds("cached, one per io_submit, dup2", file, other, 1, 1, 0);
	rounds("cached, 8 per io_submit, close", file, other, 8, 0, 0);
	rounds("cached, 8 per io_submit, dup2", file, other, 8, 1, 0);
	rounds("uncached, one per io_submit, close", file, other, 1, 0, 1);
	rounds("uncached, 8 per io_submit, dup2", file, other, 8, 1, 1);
	/* One per io_submit again, with another request in flight. */
	struct t_pending busy;
	t_pending_begin(ctx, &busy);
	rounds("busy, cached, one per io_submit, close", file, other, 1, 0, 0);
	rounds("busy, cached, one per io_submit, dup2", file, other, 1, 1, 0);
	rounds("busy, uncached, one per io_submit, close", file, other, 1, 0, 1);
	rounds("busy, uncached, one per io_submit, dup2", file, other, 1, 1, 1);
	t_pending_end(ctx, &busy);
	syncs("fsync of an ext4 file, close", file, 0);
	syncs("fdatasync of an ext4 file, close", file, 1);
	int dir = open(t_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ASSERT(dir >= 0);
	syncs("fsync of a directory, close", dir, 0);
	close(dir);
	int shm = t_tmpfile_in("/dev/shm", "close-after-submit-shm", O_RDWR);
	T_ASSERT(shm >= 0);
	syncs("fdatasync of a tmpfs file, close", shm, 1);
	close(shm);
	poll_closed_pipe();

	close(file);
	close(other);
	t_destroy(ctx);
	return 0;
}
