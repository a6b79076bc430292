/*
 * The library's own cost per I/O, in instructions: a fixed libaio workload
 * run under `valgrind --tool=callgrind --toggle-collect=io_submit
 * --toggle-collect=io_getevents`, which counts what the library's io_submit
 * and io_getevents execute in user space (valgrind cannot see the kernel),
 * and nothing of this program. Run by scripts/insn-count, which divides by
 * the number of I/Os.
 *
 *   insn_per_io FILE DEPTH COUNT [direct|cold]
 *
 * Reads 4 KiB blocks of FILE at pseudo-random offsets, keeping DEPTH in
 * flight (submitting one iocb per io_submit and reaping what is ready, as
 * fio does at that depth) until COUNT I/Os have completed. `direct` opens
 * FILE with O_DIRECT; `cold` drops the whole file from the page cache
 * (POSIX_FADV_DONTNEED, outside the counted calls) before each read, so
 * that every read needs the disk: after dropping only the block, the cache
 * still held it for some of the reads (readahead of a neighbour, or a
 * folio larger than the block). Where cachestat(2) exists, `cold` checks
 * that the block is gone and fails if more than 1 in 100 reads found theirs
 * still cached (a read still in flight can hold one).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libaio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BS 4096

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

/* How many pages of [off, off + len) the page cache holds, or -1 where
 * cachestat(2) is missing. */
static long cached_pages(int fd, long long off, long long len)
{
	struct {
		unsigned long long off, len;
	} range = { (unsigned long long)off, (unsigned long long)len };
	unsigned long long cs[5] = { 0 }; /* nr_cache is the first field */
	if (syscall(__NR_cachestat, fd, &range, cs, 0) != 0)
		return -1;
	return (long)cs[0];
}

__attribute__((noinline)) int do_submit(io_context_t ctx, struct iocb *cb)
{
	return io_submit(ctx, 1, &cb);
}

__attribute__((noinline)) int do_reap(io_context_t ctx, int min, int nr, struct io_event *evs)
{
	return io_getevents(ctx, min, nr, evs, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: insn_per_io FILE DEPTH COUNT [direct|cold]\n");
		return 2;
	}
	int depth = atoi(argv[2]);
	long count = atol(argv[3]);
	int direct = argc > 4 && strcmp(argv[4], "direct") == 0;
	int cold = argc > 4 && strcmp(argv[4], "cold") == 0;
	int fd = open(argv[1], O_RDONLY | (direct ? O_DIRECT : 0));
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 64 * BS || depth < 1 || depth > 256) {
		perror("insn_per_io: open");
		return 2;
	}
	long blocks = st.st_size / BS;
	io_context_t ctx = 0;
	if (io_setup(depth, &ctx) != 0) {
		fprintf(stderr, "insn_per_io: io_setup failed\n");
		return 2;
	}
	struct iocb *cbs = calloc((size_t)depth, sizeof(*cbs));
	struct iocb **free_cbs = calloc((size_t)depth, sizeof(*free_cbs));
	char *bufs;
	struct io_event evs[256];
	if (!cbs || !free_cbs || posix_memalign((void **)&bufs, BS, (size_t)depth * BS))
		return 2;
	for (int i = 0; i < depth; i++)
		free_cbs[i] = &cbs[i];
	int nfree = depth;
	unsigned long long x = 88172645463325252ULL;
	long submitted = 0, done = 0, still_cached = 0;
	while (done < count) {
		while (nfree > 0 && submitted < count) {
			struct iocb *cb = free_cbs[--nfree];
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			long i = cb - cbs;
			long long off = (long long)(x % (unsigned long long)blocks) * BS;
			if (cold) {
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
				still_cached += cached_pages(fd, off, BS) > 0;
			}
			io_prep_pread(cb, fd, bufs + i * BS, BS, off);
			if (do_submit(ctx, cb) != 1) {
				fprintf(stderr, "insn_per_io: io_submit failed\n");
				return 1;
			}
			submitted++;
		}
		int r = do_reap(ctx, 1, depth, evs);
		if (r < 1) {
			fprintf(stderr, "insn_per_io: io_getevents failed\n");
			return 1;
		}
		for (int k = 0; k < r; k++) {
			if (evs[k].res != BS) {
				fprintf(stderr, "insn_per_io: read returned %ld\n", (long)evs[k].res);
				return 1;
			}
			free_cbs[nfree++] = evs[k].obj;
		}
		done += r;
	}
	io_destroy(ctx);
	if (still_cached * 100 > count) {
		fprintf(stderr, "insn_per_io: %ld of %ld blocks still cached after the drop\n", still_cached,
			count);
		return 1;
	}
	printf("%ld\n", done);
	return 0;
}
