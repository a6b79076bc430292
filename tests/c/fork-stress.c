/* Description: fork(2) while other threads keep the library busy: every child works.
 *
 * A process-wide lock held by another thread at the moment of fork stays
 * held in the child, whose copy of that thread does not exist; a library
 * lock of that kind hangs the child's first call that takes it. Kernel AIO
 * has no such state in user space, so a child can always set up and use a
 * context of its own.
 *
 * Four threads share two contexts and never stop while the main thread
 * forks: each submits batches of uncached buffered reads of an ext4 file,
 * O_DIRECT reads and writes of a /dev/shm file, and a poll on a pipe it
 * then writes to (or cancels, every other time), and reaps them with
 * io_getevents (min_nr 1), checking every event comes once with the right
 * result (an event may be reaped by the other thread on its context, and
 * is counted for the thread that submitted it). The main thread forks CHILDREN times, once per millisecond or so.
 * Each child, with those threads' copies gone: io_submit on the parent's
 * context (kernel AIO: -EINVAL, the context is not the child's), then
 * io_setup of its own, a buffered read, an O_DIRECT read, a poll that fires
 * and one that is cancelled, io_destroy, _exit(0). The parent waits for
 * each with a 10 s limit; a child that does not end in time is killed and
 * counted as hung. At the end the threads stop, every request they
 * submitted has come back exactly once, and the counts are printed.
 */
#include "t_util.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define CHILDREN 300
#define THREADS 4
#define BATCH 8
#define BS 4096
#define BFILE (1u << 20)
#define DFILE (1u << 20)

static io_context_t pctx[2];
static int bfd, dfd;
static atomic_int stop;
static atomic_long done_ok, done_bad, dup_or_stray;

struct worker {
	int id;
	io_context_t ctx;
	int pipefd[2];
	unsigned char *buf;
	struct iocb cbs[BATCH + 1];
	atomic_int seen[BATCH + 1];
	atomic_int outstanding;
};

static struct worker ws[THREADS];

/* Counts one event for the thread that submitted it. */
static void record(const struct io_event *ev)
{
	for (int j = 0; j < THREADS; j++) {
		struct worker *w = &ws[j];
		uintptr_t off = (uintptr_t)ev->obj - (uintptr_t)w->cbs;
		if (off >= sizeof w->cbs || off % sizeof w->cbs[0])
			continue;
		int k = (int)(off / sizeof w->cbs[0]);
		if (atomic_fetch_add(&w->seen[k], 1)) {
			atomic_fetch_add(&dup_or_stray, 1);
			return;
		}
		long want = BS;
		if (k == BATCH) /* fired: POLLIN in res; cancelled: 0 */
			want = ev->res == 0 || (ev->res & POLLIN) ? (long)ev->res : -1;
		atomic_fetch_add(ev->data == (void *)(uintptr_t)k && (long)ev->res == want ? &done_ok : &done_bad, 1);
		atomic_fetch_sub(&w->outstanding, 1);
		return;
	}
	atomic_fetch_add(&dup_or_stray, 1);
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	unsigned round = 0;
	while (!atomic_load(&stop)) {
		struct iocb *list[BATCH + 1];
		int n = 0;
		round++;
		if (w->id == 0 && round % 16 == 0)
			T_ASSERT(posix_fadvise(bfd, 0, 0, POSIX_FADV_DONTNEED) == 0);
		for (int k = 0; k < BATCH; k++, n++) {
			unsigned blk = (round * 7 + k * 13 + (unsigned)w->id * 3) % (BFILE / BS);
			unsigned char *b = w->buf + (size_t)k * BS;
			if (k % 3 == 0)
				io_prep_pread(&w->cbs[k], bfd, b, BS, (long long)blk * BS);
			else if (k % 3 == 1)
				io_prep_pread(&w->cbs[k], dfd, b, BS, (long long)(blk % (DFILE / BS)) * BS);
			else {
				t_fill(b, BS, 77, (size_t)blk * BS);
				io_prep_pwrite(&w->cbs[k], dfd, b, BS,
					       (long long)(DFILE / BS / 2 + blk % (DFILE / BS / 2)) * BS);
			}
			w->cbs[k].data = (void *)(uintptr_t)k;
			list[k] = &w->cbs[k];
		}
		io_prep_poll(&w->cbs[BATCH], w->pipefd[0], POLLIN);
		w->cbs[BATCH].data = (void *)(uintptr_t)BATCH;
		list[n++] = &w->cbs[BATCH];
		for (int k = 0; k <= BATCH; k++)
			atomic_store(&w->seen[k], 0);
		atomic_store(&w->outstanding, n);
		int r = io_submit(w->ctx, n, list);
		T_ASSERTF(r == n, "worker %d: io_submit = %s", w->id, t_err(r));
		if (round % 2) {
			struct io_event ev;
			r = io_cancel(w->ctx, &w->cbs[BATCH], &ev);
			/* -EINPROGRESS (its event comes, res 0) or already fired: -EINVAL */
			T_ASSERTF(r == -EINPROGRESS || r == -EINVAL, "worker %d: io_cancel = %s", w->id, t_err(r));
		} else {
			T_ASSERT(write(w->pipefd[1], "x", 1) == 1);
		}
		/* reap (this thread's events or the other one's) until all of this round's are in */
		double deadline = t_now() + 10.0;
		while (atomic_load(&w->outstanding) > 0) {
			struct io_event evs[2 * (BATCH + 1)];
			struct timespec ts = t_ts(0, 10 * 1000 * 1000);
			r = io_getevents(w->ctx, 1, 2 * (BATCH + 1), evs, &ts);
			T_ASSERTF(r >= 0, "worker %d: io_getevents = %s", w->id, t_err(r));
			for (int i = 0; i < r; i++)
				record(&evs[i]);
			T_ASSERTF(t_now() < deadline, "worker %d: %d requests not back after 10 s", w->id,
				  atomic_load(&w->outstanding));
		}
		/* drain the byte written for the poll, if any */
		char c;
		while (read(w->pipefd[0], &c, 1) == 1)
			;
	}
	return NULL;
}

static int child(void)
{
	struct iocb cb, *list[1] = { &cb };
	unsigned char *buf = t_aligned(BS);
	io_prep_pread(&cb, dfd, buf, BS, 0);
	int on_parent = io_submit(pctx[0], 1, list);
	if (on_parent != -EINVAL)
		return 10;
	io_context_t ctx = 0;
	if (io_setup(8, &ctx) != 0)
		return 11;
	io_prep_pread(&cb, bfd, buf, BS, 0);
	if (io_submit(ctx, 1, list) != 1)
		return 12;
	struct io_event ev;
	struct timespec ts = t_ts(5, 0);
	if (io_getevents(ctx, 1, 1, &ev, &ts) != 1 || ev.res != BS || !t_check(buf, BS, 76, 0))
		return 13;
	io_prep_pread(&cb, dfd, buf, BS, 0);
	if (io_submit(ctx, 1, list) != 1 || io_getevents(ctx, 1, 1, &ev, &ts) != 1 || ev.res != BS ||
	    !t_check(buf, BS, 75, 0))
		return 14;
	int p[2];
	if (pipe(p) != 0)
		return 15;
	io_prep_poll(&cb, p[0], POLLIN);
	if (io_submit(ctx, 1, list) != 1 || io_cancel(ctx, &cb, &ev) != -EINPROGRESS ||
	    io_getevents(ctx, 1, 1, &ev, &ts) != 1 || ev.res != 0)
		return 16;
	io_prep_poll(&cb, p[0], POLLIN);
	if (io_submit(ctx, 1, list) != 1 || write(p[1], "x", 1) != 1 ||
	    io_getevents(ctx, 1, 1, &ev, &ts) != 1 || !(ev.res & POLLIN))
		return 17;
	if (io_destroy(ctx) != 0)
		return 18;
	return 0;
}

int main(void)
{
	t_unbuffered();
	bfd = t_tmpfile("fork-stress-b");
	t_write_pattern(bfd, BFILE, 76);
	T_ASSERT(fsync(bfd) == 0);
	dfd = t_tmpfile_direct("/dev/shm", "fork-stress-d");
	t_write_pattern(dfd, DFILE / 2, 75);
	T_ASSERT(ftruncate(dfd, DFILE) == 0);
	pctx[0] = t_setup(64);
	pctx[1] = t_setup(64);

	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		ws[i].id = i;
		ws[i].ctx = pctx[i % 2];
		T_ASSERT(pipe2(ws[i].pipefd, O_NONBLOCK) == 0);
		ws[i].buf = t_aligned((size_t)BATCH * BS);
		T_ASSERT(pthread_create(&th[i], NULL, worker, &ws[i]) == 0);
	}
	t_msleep(20);

	int ok = 0, hung = 0, failed = 0, first_code = 0;
	for (int i = 0; i < CHILDREN; i++) {
		pid_t pid = fork();
		T_ASSERT(pid >= 0);
		if (pid == 0)
			_exit(child());
		int status = 0;
		double deadline = t_now() + 10.0;
		pid_t w;
		while ((w = waitpid(pid, &status, WNOHANG)) == 0 && t_now() < deadline)
			usleep(200);
		if (w == 0) {
			hung++;
			kill(pid, SIGKILL);
			T_ASSERT(waitpid(pid, &status, 0) == pid);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			ok++;
		} else {
			failed++;
			if (!first_code)
				first_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < THREADS; i++)
		T_ASSERT(pthread_join(th[i], NULL) == 0);

	printf("children %d: exited 0 %d, hung %d, failed %d (first failure: %d)\n", CHILDREN, ok, hung,
	       failed, first_code);
	printf("parent's threads: wrong results %ld, duplicate or unknown events %ld, some done %d\n",
	       atomic_load(&done_bad), atomic_load(&dup_or_stray), atomic_load(&done_ok) > 0);
	fprintf(stderr, "(parent's requests done %ld)\n", atomic_load(&done_ok));
	T_ASSERT(ok == CHILDREN && atomic_load(&done_bad) == 0 && atomic_load(&dup_or_stray) == 0);
	t_destroy(pctx[0]);
	t_destroy(pctx[1]);
	close(bfd);
	close(dfd);
	return 0;
}
