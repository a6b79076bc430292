/*
 * What it costs to hold a request's file from io_submit on, the ways an
 * io_uring context with a kernel submission thread (SQPOLL) can do it. The
 * thread looks a request's descriptor up only when it takes the entry, where
 * kernel AIO takes its reference inside io_submit; libaio_rs waits for the
 * take. This program measures that wait against the alternatives, outside
 * the library, on the ring route's workload: cold 4 KiB random buffered
 * reads at depth 32, each first tried with preadv2(RWF_NOWAIT) as the
 * library does (which also starts the read-ahead).
 *
 *   ring_pin FILE MODE COUNT      (MODE: wait, fixed, dup or none)
 *
 *   wait   push the entry, then poll the queue's head until the submission
 *          thread has taken it (what the library does);
 *   fixed  put the descriptor in the ring's registered-file table with one
 *          IORING_REGISTER_FILES_UPDATE per request (the same call clears
 *          the entries the thread has already taken) and queue the request
 *          on the table entry;
 *   dup    queue the request on a close-on-exec duplicate of the descriptor,
 *          closed when its completion is reaped;
 *   none   no hold at all: incorrect (a descriptor closed after io_submit
 *          fails the read), the floor the others are measured against.
 *
 * Prints IOPS and the submitting thread's CPU per I/O, user and system (the
 * submission thread excluded: it is the same in every mode). Needs
 * liburing (Debian: liburing-dev):
 *
 *   cc -O2 -o ring_pin benches/ring_pin.c -luring
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define DEPTH 32
#define TABLE 256 /* registered-file entries, used in submission order */

enum mode { WAIT, FIXED, DUP, NONE };

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The calling thread's CPU time so far: user in [0], system in [1]. */
static void thread_cpu(double cpu[2])
{
	struct rusage r;
	getrusage(RUSAGE_THREAD, &r);
	cpu[0] = (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec * 1e-6;
	cpu[1] = (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec * 1e-6;
}

static int files_update(int ring_fd, unsigned off, int *fds, unsigned n)
{
	struct io_uring_rsrc_update up = { .offset = off, .data = (unsigned long)fds };
	return (int)syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_FILES_UPDATE, &up, n);
}

/* Registers fd at table entry seq % TABLE and clears the entries of the
 * requests the submission thread has taken since the last call (it holds
 * what it took); entries it has not taken yet are skipped. */
static void register_for(struct io_uring *ring, int fd, unsigned seq, unsigned *cleared)
{
	unsigned untaken = ring->sq.sqe_tail - io_uring_smp_load_acquire(ring->sq.khead);
	unsigned first_untaken = seq - untaken;
	int fds[TABLE];
	unsigned n = 0;
	for (unsigned k = *cleared; k != seq; k++)
		fds[n++] = k - first_untaken < untaken ? IORING_REGISTER_FILES_SKIP : -1;
	fds[n++] = fd;
	unsigned start = *cleared % TABLE, first = start + n > TABLE ? TABLE - start : n;
	if (files_update(ring->ring_fd, start, fds, first) < 0 ||
	    (first < n && files_update(ring->ring_fd, 0, fds + first, n - first) < 0)) {
		perror("ring_pin: IORING_REGISTER_FILES_UPDATE");
		exit(1);
	}
	*cleared = first_untaken;
}

int main(int argc, char **argv)
{
	static const char *names[] = { "wait", "fixed", "dup", "none" };
	int mode = -1;
	for (int m = 0; argc == 4 && m < 4; m++)
		if (strcmp(argv[2], names[m]) == 0)
			mode = m;
	long count = argc == 4 ? atol(argv[3]) : 0;
	if (mode < 0 || count < 1) {
		fprintf(stderr, "usage: ring_pin FILE wait|fixed|dup|none COUNT\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	off_t size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
	if (size < 64 * BS) {
		fprintf(stderr, "ring_pin: %s: not a file of 256 KiB or more\n", argv[1]);
		return 2;
	}
	long blocks = size / BS;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);

	struct io_uring ring;
	struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 10 };
	if (io_uring_queue_init_params(64, &ring, &p) != 0 ||
	    (mode == FIXED && io_uring_register_files_sparse(&ring, TABLE) != 0)) {
		fprintf(stderr, "ring_pin: io_uring setup failed\n");
		return 1;
	}
	char *bufs;
	if (posix_memalign((void **)&bufs, BS, DEPTH * BS) != 0)
		return 1;
	int free_bufs[DEPTH], nfree = 0, dups[DEPTH];
	for (int i = 0; i < DEPTH; i++)
		free_bufs[nfree++] = i;

	unsigned long long x = 88172645463325252ULL;
	long submitted = 0, done = 0, cached = 0;
	unsigned seq = 0, cleared = 0;
	double cpu0[2], cpu1[2], t0 = seconds();
	thread_cpu(cpu0);
	while (done < count) {
		while (nfree > 0 && submitted < count) {
			int i = free_bufs[--nfree];
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			off_t off = (off_t)(x % (unsigned long long)blocks) * BS;
			struct iovec iov = { bufs + i * BS, BS };
			submitted++;
			if (preadv2(fd, &iov, 1, off, RWF_NOWAIT) == BS) {
				cached++;
				done++;
				free_bufs[nfree++] = i;
				continue;
			}
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (mode == FIXED) {
				register_for(&ring, fd, seq, &cleared);
				io_uring_prep_read(sqe, (int)(seq % TABLE), iov.iov_base, BS, off);
				sqe->flags |= IOSQE_FIXED_FILE;
			} else if (mode == DUP) {
				dups[i] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
				io_uring_prep_read(sqe, dups[i], iov.iov_base, BS, off);
			} else {
				io_uring_prep_read(sqe, fd, iov.iov_base, BS, off);
			}
			io_uring_sqe_set_data64(sqe, (unsigned long long)i);
			io_uring_submit(&ring);
			seq++;
			if (mode == WAIT)
				while ((int)(io_uring_smp_load_acquire(ring.sq.khead) - ring.sq.sqe_tail) < 0)
					cpu_relax();
		}
		if (done >= count)
			break;
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ring, &cqe) != 0) {
			fprintf(stderr, "ring_pin: wait failed\n");
			return 1;
		}
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != BS) {
				fprintf(stderr, "ring_pin: read returned %d\n", cqe->res);
				return 1;
			}
			int i = (int)cqe->user_data;
			if (mode == DUP)
				close(dups[i]);
			free_bufs[nfree++] = i;
			n++;
		}
		io_uring_cq_advance(&ring, n);
		done += n;
	}
	double t = seconds() - t0;
	thread_cpu(cpu1);
	double user = (cpu1[0] - cpu0[0]) / (double)count * 1e6, sys = (cpu1[1] - cpu0[1]) / (double)count * 1e6;
	printf("%-5s %8.0f IOPS  %5.2f us CPU/I/O in the submitting thread (user %.2f, system %.2f)  "
	       "%ld of %ld from the cache\n",
	       names[mode], (double)count / t, user + sys, user, sys, cached, count);
	return 0;
}
