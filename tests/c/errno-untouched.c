/* Description: library calls return -errno and never modify errno.
 *
 * Each failing call returns a negative errno value (never -1 with errno
 * set) and leaves errno exactly as it was, whatever it was (0, a large
 * value, a real error code). Successful calls leave errno alone too.
 */
#include "t_util.h"

static const int presets[] = { 0, T_ERRNO_MAGIC, EAGAIN, -7 };

/* Run expr once per preset; print its result and whether errno survived. */
#define CHECK(label, expr)                                                    \
	do {                                                                  \
		int kept_ = 1;                                                \
		long first_ = 0;                                              \
		for (unsigned i_ = 0; i_ < sizeof(presets) / sizeof(presets[0]); i_++) { \
			errno = presets[i_];                                  \
			long r_ = (long)(expr);                               \
			if (errno != presets[i_])                             \
				kept_ = 0;                                    \
			if (i_ == 0)                                          \
				first_ = r_;                                  \
			T_ASSERTF(r_ == first_, "%s: result changed", label); \
		}                                                             \
		printf("%-44s %-8s errno_kept=%d\n", label, t_err(first_), kept_); \
	} while (0)

/*
 * Successful reads on every way a request can take through the library
 * (performed in io_submit, read from the page cache, handed to the ring,
 * passed to kernel AIO), one per io_submit and two at a time (buffered:
 * also with another request in flight, see t_pending_begin), each
 * submission and reap under every errno preset. fd holds 64 KiB of
 * pattern 7, written back so that it can be dropped from the page cache.
 */
static void reads_keep_errno(io_context_t ctx, const char *label, int fd, int drop)
{
	static unsigned char bufs[2][4096] __attribute__((aligned(4096)));
	struct iocb ios[2], *list[2] = { &ios[0], &ios[1] };
	struct io_event evs[2];
	int kept = 1, ok = 1;
	for (unsigned p = 0; p < sizeof(presets) / sizeof(presets[0]); p++) {
		for (int n = 1; n <= 2; n++) {
			/* The whole file: a large folio goes only whole. */
			if (drop)
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			for (int i = 0; i < n; i++)
				io_prep_pread(&ios[i], fd, bufs[i], 4096, (off_t)(p * 2 + i) * 4096);
			errno = presets[p];
			int r = io_submit(ctx, n, list);
			kept &= errno == presets[p];
			ok &= r == n;
			for (int got = 0; got < n && r == n;) {
				struct timespec ten = t_ts(10, 0);
				errno = presets[p];
				int g = io_getevents(ctx, 1, 2, evs, &ten);
				kept &= errno == presets[p];
				T_ASSERTF(g > 0, "%s: io_getevents: %s", label, t_err(g));
				for (int e = 0; e < g; e++)
					ok &= evs[e].res == 4096;
				got += g;
			}
			for (int i = 0; i < n; i++)
				ok &= t_check(bufs[i], 4096, 7, (size_t)(p * 2 + i) * 4096);
		}
	}
	printf("%-44s ok=%d errno_kept=%d\n", label, ok, kept);
}

/* An unlinked file in dir (NULL = $T_DIR) holding 64 KiB of pattern 7. */
static int pattern_file(const char *dir, const char *name, int flags)
{
	int fd = t_tmpfile_in(dir, name, O_RDWR);
	T_ASSERTF(fd >= 0, "%s: %s", name, t_err(fd));
	t_write_pattern(fd, 65536, 7);
	T_ASSERT(fsync(fd) == 0);
	if (!flags)
		return fd;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int d = open(path, O_RDWR | O_CLOEXEC | flags);
	close(fd);
	return d; /* -1 where the filesystem refuses the flags */
}

/* io_setup + io_destroy of a fresh context; 0 when both succeed. */
static int setup_destroy(void)
{
	io_context_t c = 0;
	int r = io_setup(4, &c);
	if (r != 0)
		return r;
	return io_destroy(c);
}

int main(void)
{
	io_context_t ctx = 0, bad = 0;
	struct io_event evs[2];
	struct timespec zero = t_ts(0, 0), ts = t_ts(0, 1000000L);
	static char not_a_ring[4096] __attribute__((aligned(4096)));
	io_context_t fake = (io_context_t)(void *)not_a_ring;
	struct iocb io, *list[1] = { &io };

	CHECK("io_setup(0)", io_setup(0, &ctx));
	CHECK("io_setup(-1)", io_setup(-1, &ctx));
	CHECK("io_setup(ctxp NULL)", io_setup(1, NULL));
	bad = (io_context_t)(uintptr_t)1;
	CHECK("io_setup(*ctxp != 0)", io_setup(1, &bad));
	CHECK("io_queue_init(0)", io_queue_init(0, &ctx));
	CHECK("io_destroy(NULL)", io_destroy(NULL));
	CHECK("io_destroy(fake)", io_destroy(fake));
	CHECK("io_queue_release(NULL)", io_queue_release(NULL));
	CHECK("io_queue_run(NULL)", io_queue_run(NULL));
	CHECK("io_submit(NULL ctx)", io_submit(NULL, 1, list));
	CHECK("io_getevents(NULL ctx)", io_getevents(NULL, 1, 1, evs, &ts));
	CHECK("io_getevents(fake ctx)", io_getevents(fake, 1, 1, evs, &ts));
	CHECK("io_pgetevents(NULL ctx)", io_pgetevents(NULL, 1, 1, evs, &ts, NULL));
	CHECK("io_cancel(NULL ctx)", io_cancel(NULL, &io, evs));

	ctx = 0;
	CHECK("io_setup(4) + io_destroy success", setup_destroy());
	errno = T_ERRNO_MAGIC;
	int r0 = io_setup(4, &ctx);
	printf("%-44s %-8s errno_kept=%d\n", "io_setup(4) success", t_err(r0),
	       errno == T_ERRNO_MAGIC);
	T_ASSERT(r0 == 0 && ctx != 0);
	int fd = t_tmpfile("errno");
	t_write_pattern(fd, 4096, 1);
	static unsigned char buf[4096];

	io_prep_pread(&io, -1, buf, 4096, 0);
	CHECK("io_submit(bad fd)", io_submit(ctx, 1, list));
	io_prep_pread(&io, fd, buf, 4096, -1);
	CHECK("io_submit(offset -1)", io_submit(ctx, 1, list));
	io_prep_pread(&io, fd, buf, 4096, 0);
	io.aio_lio_opcode = IO_CMD_NOOP;
	CHECK("io_submit(NOOP)", io_submit(ctx, 1, list));
	CHECK("io_submit(nr -1)", io_submit(ctx, -1, list));
	CHECK("io_submit(NULL array)", io_submit(ctx, 1, NULL));
	CHECK("io_getevents(min_nr > nr)", io_getevents(ctx, 2, 1, evs, &ts));
	CHECK("io_getevents(nr -1)", io_getevents(ctx, 0, -1, evs, &ts));
	CHECK("io_pgetevents(min_nr > nr)", io_pgetevents(ctx, 2, 1, evs, &ts, NULL));
	io_prep_pread(&io, fd, buf, 4096, 0);
	CHECK("io_cancel(never submitted)", io_cancel(ctx, &io, evs));
	CHECK("io_cancel(NULL iocb)", io_cancel(ctx, NULL, evs));

	CHECK("io_getevents(empty, zero timeout)", io_getevents(ctx, 1, 1, evs, &zero));
	CHECK("io_getevents(empty, 1 ms)", io_getevents(ctx, 1, 1, evs, &ts));
	CHECK("io_queue_run(empty)", io_queue_run(ctx));

	/* successes, one submission per preset */
	int nsub = 0;
	io_prep_pread(&io, fd, buf, 4096, 0);
	CHECK("io_submit(ok)", (nsub++, io_submit(ctx, 1, list)));
	int got = 0;
	while (got < nsub) {
		struct timespec longer = t_ts(10, 0);
		errno = T_ERRNO_MAGIC;
		int r = io_getevents(ctx, 1, 2, evs, &longer);
		T_ASSERT(errno == T_ERRNO_MAGIC);
		T_ASSERTF(r > 0, "io_getevents: %s", t_err(r));
		got += r;
	}
	printf("%-44s %-8d errno_kept=1\n", "io_getevents(ok) total", got);

	int ext4 = pattern_file(NULL, "errno-buffered", 0);
	reads_keep_errno(ctx, "reads, buffered, cached", ext4, 0);
	reads_keep_errno(ctx, "reads, buffered, dropped from the cache", ext4, 1);
	struct t_pending busy;
	t_pending_begin(ctx, &busy);
	reads_keep_errno(ctx, "busy: reads, buffered, cached", ext4, 0);
	reads_keep_errno(ctx, "busy: reads, buffered, dropped from the cache", ext4, 1);
	t_pending_end(ctx, &busy);
	int shm = pattern_file("/dev/shm", "errno-shm", 0);
	reads_keep_errno(ctx, "reads, tmpfs", shm, 0);
	int direct = pattern_file(NULL, "errno-direct", O_DIRECT);
	if (direct >= 0)
		reads_keep_errno(ctx, "reads, O_DIRECT", direct, 0);
	else
		printf("%-44s no O_DIRECT here\n", "reads, O_DIRECT");

	errno = T_ERRNO_MAGIC;
	r0 = io_destroy(ctx);
	printf("%-44s %-8s errno_kept=%d\n", "io_destroy(ok)", t_err(r0),
	       errno == T_ERRNO_MAGIC);
	CHECK("io_destroy(destroyed)", io_destroy(ctx));
	return 0;
}
