/* Description: a process SIGKILLed with requests in flight leaves nothing of itself behind.
 *
 * A library that runs contexts on io_uring owns kernel threads (the
 * submission thread, io-wq workers) and kernel objects (rings, eventfds,
 * in-flight requests holding file references) on behalf of the process;
 * none of it may outlive the process, or keep its files open, once it is
 * killed. Kernel AIO guarantees this: exit_aio cancels or waits for every
 * request at mm teardown and frees the contexts.
 *
 * Five rounds. In each, a forked child sets up two contexts, submits polls
 * that never fire (POLLIN on the write end of the pipe it shares with the
 * parent, and on a pipe of its own nobody writes), then 64 requests per
 * context: uncached buffered reads and buffered writes of an ext4 file,
 * O_DIRECT reads and writes of a /dev/shm file; it then tells the parent
 * it is ready through that pipe and the parent SIGKILLs it:
 *   idle      - while it sleeps in pause();
 *   getevents - while it is blocked in io_getevents (min_nr beyond what
 *               can ever complete);
 *   submit    - while it loops on io_submit of 64 uncached reads and
 *               writes, and io_getevents of them (most likely inside
 *               io_submit);
 *   threads   - while two threads do that loop, each on its own context;
 *   fsync     - at once, with an fsync and an fdatasync of the ext4 file
 *               queued behind the 64 requests of each context.
 * After waitpid the parent prints: the child died of SIGKILL;
 * /proc/<pid>/task is gone (no thread of it left); no "iou-" thread on
 * the system belongs to it; the pipe's write end - held by the child's
 * descriptor table and by its in-flight polls - is released (the parent
 * reads EOF), so no request kept a file of the child; /proc/sys/fs/aio-nr
 * is back to its value before the fork (within 2 s; the counter is
 * system-wide, so a rise is not counted while other processes map kernel
 * AIO rings); the files can be reopened, truncated, written and unlinked.
 * The parent keeps a poll of its own in flight on its own context all
 * along (so the library has state, and threads, when it forks); it
 * completes at the end, and the parent's context still reads. A child that
 * does not get ready within 2 s (its setup takes milliseconds) is reported
 * as such on stdout, killed and checked all the same.
 */
#include "t_util.h"
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define BLK (64u << 10)           /* bytes per request */
#define BFILE (4u << 20)          /* ext4 file */
#define DFILE (2u << 20)          /* /dev/shm file */
#define DEPTH 64                  /* requests per context */
#define NPOLL 16                  /* never-firing polls per context */
#define NR 256                    /* io_setup size */

enum mode { M_IDLE, M_GETEVENTS, M_SUBMIT, M_THREADS, M_FSYNC, M_COUNT };
static const char *const mode_name[M_COUNT] = { "idle", "getevents", "submit", "threads", "fsync" };

static char bpath[4096], dpath[4096];

/* ---- child ---- */

struct cctx {
	io_context_t ctx;
	int bfd, dfd;
	unsigned char *buf;            /* DEPTH * BLK */
	struct iocb cbs[DEPTH + 2], *list[DEPTH + 2];
	struct iocb polls[NPOLL], *plist[NPOLL];
};

static struct cctx cc[2];
static int p_w, q_r;
static atomic_int looping;

static void child_ctx_init(struct cctx *c)
{
	c->ctx = t_setup(NR);
	c->bfd = open(bpath, O_RDWR | O_CLOEXEC);
	T_ASSERT(c->bfd >= 0);
	c->dfd = open(dpath, O_RDWR | O_DIRECT | O_CLOEXEC);
	T_ASSERT(c->dfd >= 0);
	c->buf = t_aligned((size_t)DEPTH * BLK);
	for (int i = 0; i < NPOLL; i++) {
		/* POLLIN on a pipe's write end never fires (only POLLERR would,
		 * and the parent keeps the read end open). */
		if (i % 2)
			io_prep_poll(&c->polls[i], p_w, POLLIN);
		else
			io_prep_poll(&c->polls[i], q_r, POLLIN);
		c->plist[i] = &c->polls[i];
	}
	int r = T_CALL(io_submit(c->ctx, NPOLL, c->plist));
	T_ASSERTF(r == NPOLL, "io_submit polls: %s", t_err(r));
}

/* DEPTH mixed requests: uncached buffered read, buffered write (ext4),
 * O_DIRECT read, O_DIRECT write (tmpfs). */
static void child_prep(struct cctx *c, unsigned round)
{
	for (int i = 0; i < DEPTH; i++) {
		unsigned char *b = c->buf + (size_t)i * BLK;
		long long boff = (long long)(((unsigned)i + round) % (BFILE / BLK)) * BLK;
		long long doff = (long long)(((unsigned)i + round) % (DFILE / BLK)) * BLK;
		switch (i % 4) {
		case 0: io_prep_pread(&c->cbs[i], c->bfd, b, BLK, boff); break;
		case 1: io_prep_pwrite(&c->cbs[i], c->bfd, b, BLK, boff); break;
		case 2: io_prep_pread(&c->cbs[i], c->dfd, b, BLK, doff); break;
		default: io_prep_pwrite(&c->cbs[i], c->dfd, b, BLK, doff); break;
		}
		c->list[i] = &c->cbs[i];
	}
}

static void child_submit(struct cctx *c, int n)
{
	int done = 0;
	while (done < n) {
		int r = T_CALL(io_submit(c->ctx, n - done, c->list + done));
		T_ASSERTF(r > 0, "io_submit: %s", t_err(r));
		done += r;
	}
}

/* Submit DEPTH requests and reap them, forever. */
static void child_loop(struct cctx *c)
{
	static __thread struct io_event evs[DEPTH];
	for (unsigned round = 0;; round++) {
		posix_fadvise(c->bfd, 0, 0, POSIX_FADV_DONTNEED);
		child_prep(c, round);
		child_submit(c, DEPTH);
		atomic_fetch_add(&looping, 1);
		int got = 0;
		while (got < DEPTH) {
			int r = T_CALL(io_getevents(c->ctx, DEPTH - got, DEPTH - got, evs, NULL));
			T_ASSERTF(r > 0, "io_getevents: %s", t_err(r));
			got += r;
		}
	}
}

static void *child_thread(void *arg)
{
	child_loop(arg);
	return NULL;
}

static void ready(void)
{
	T_ASSERT(write(p_w, "r", 1) == 1);
}

static void child(enum mode m)
{
	int q[2];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(10);
	T_ASSERT(pipe2(q, O_CLOEXEC) == 0);
	q_r = q[0];
	for (int c = 0; c < 2; c++)
		child_ctx_init(&cc[c]);
	T_ASSERT(posix_fadvise(cc[0].bfd, 0, 0, POSIX_FADV_DONTNEED) == 0);

	switch (m) {
	case M_IDLE:
	case M_GETEVENTS:
		for (int c = 0; c < 2; c++) {
			child_prep(&cc[c], (unsigned)c * 7);
			child_submit(&cc[c], DEPTH);
		}
		ready();
		if (m == M_GETEVENTS) {
			static struct io_event evs[NR];
			/* Only DEPTH of these can ever complete. */
			int r = T_CALL(io_getevents(cc[0].ctx, NR, NR, evs, NULL));
			fprintf(stderr, "child: io_getevents returned %s\n", t_err(r));
			_exit(2);
		}
		break;
	case M_SUBMIT:
		ready();
		child_loop(&cc[0]);
		break;
	case M_THREADS: {
		pthread_t th[2];
		for (int c = 0; c < 2; c++)
			T_ASSERT(pthread_create(&th[c], NULL, child_thread, &cc[c]) == 0);
		while (atomic_load(&looping) < 2)
			t_msleep(1);
		ready();
		break;
	}
	case M_FSYNC:
		for (int c = 0; c < 2; c++) {
			child_prep(&cc[c], (unsigned)c * 11);
			io_prep_fsync(&cc[c].cbs[DEPTH], cc[c].bfd);
			io_prep_fdsync(&cc[c].cbs[DEPTH + 1], cc[c].bfd);
			cc[c].list[DEPTH] = &cc[c].cbs[DEPTH];
			cc[c].list[DEPTH + 1] = &cc[c].cbs[DEPTH + 1];
			child_submit(&cc[c], DEPTH + 2);
		}
		ready();
		break;
	default:
		break;
	}
	for (;;)
		pause();
}

/* ---- parent ---- */

static long aio_nr(void)
{
	return t_proc_long("/proc/sys/fs/aio-nr");
}

/* State letter of /proc/<pid>/task/<pid>/stat, or 0. */
static char task_state(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)pid);
	return t_stat_state(path);
}

/* Threads on the system named "iou-..." that belong to pid (their thread
 * group is pid, or their name ends in "-<pid>"). */
static int iou_threads_of(pid_t pid)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	char suffix[32];
	int n = 0;

	T_ASSERT(proc);
	snprintf(suffix, sizeof(suffix), "-%d", (int)pid);
	while ((de = readdir(proc))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char tdir[300];
		snprintf(tdir, sizeof(tdir), "/proc/%s/task", de->d_name);
		DIR *tasks = opendir(tdir);
		if (!tasks)
			continue;
		struct dirent *te;
		while ((te = readdir(tasks))) {
			if (te->d_name[0] < '0' || te->d_name[0] > '9')
				continue;
			char spath[600], line[256], name[64] = "";
			long tgid = -1;
			snprintf(spath, sizeof(spath), "%s/%s/status", tdir, te->d_name);
			FILE *f = fopen(spath, "r");
			if (!f)
				continue;
			while (fgets(line, sizeof(line), f)) {
				if (!strncmp(line, "Name:", 5))
					sscanf(line + 5, "%63s", name);
				else if (!strncmp(line, "Tgid:", 5))
					tgid = strtol(line + 5, NULL, 10);
			}
			fclose(f);
			size_t nl = strlen(name), sl = strlen(suffix);
			if (strncmp(name, "iou-", 4) == 0 &&
			    (tgid == pid || (nl > sl && strcmp(name + nl - sl, suffix) == 0))) {
				fprintf(stderr, "left over: %s (tid %s, tgid %ld)\n", name, te->d_name, tgid);
				n++;
			}
		}
		closedir(tasks);
	}
	closedir(proc);
	return n;
}

/* 1 when a process other than this one maps a kernel AIO ring ("/[aio]"). */
static int other_aio_users(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int found = 0;

	T_ASSERT(proc);
	while (!found && (de = readdir(proc))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || atol(de->d_name) == (long)getpid())
			continue;
		char path[300], line[512];
		snprintf(path, sizeof(path), "/proc/%s/maps", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, "/[aio]") != NULL;
		fclose(f);
	}
	closedir(proc);
	return found;
}

/* 1 when a read of fd (nonblocking) says EOF within 2 s. */
static int eof_within_2s(int fd)
{
	double deadline = t_now() + 2.0;
	char c;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, 50);
		if (r > 0) {
			ssize_t n = read(fd, &c, 1);
			if (n == 0)
				return 1;
			if (n > 0) {
				fprintf(stderr, "unexpected byte on the pipe\n");
				return 0;
			}
		}
		if (t_now() > deadline)
			return 0;
	}
}

static const char *yes_no(int v)
{
	return v ? "yes" : "no";
}

static void make_files(int round)
{
	snprintf(bpath, sizeof(bpath), "%s/t-sigkill-inflight-%ld-%d", t_dir(), (long)getpid(), round);
	snprintf(dpath, sizeof(dpath), "/dev/shm/t-sigkill-inflight-%ld-%d", (long)getpid(), round);
	int fd = open(bpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	T_ASSERTF(fd >= 0, "create %s: %s", bpath, strerror(errno));
	t_write_pattern(fd, BFILE, 40 + (unsigned)round);
	T_ASSERT(fsync(fd) == 0);
	close(fd);
	fd = open(dpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	T_ASSERTF(fd >= 0, "create %s: %s", dpath, strerror(errno));
	t_write_pattern(fd, DFILE, 50 + (unsigned)round);
	close(fd);
	fd = open(dpath, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
		unlink(bpath);
		unlink(dpath);
		t_skip("no O_DIRECT on /dev/shm");
	}
	T_ASSERT(fd >= 0);
	close(fd);
}

/* Reopen, truncate, write and read back, unlink. */
static void check_files(void)
{
	unsigned char w[4096], r[4096];
	int fd = open(bpath, O_RDWR | O_CLOEXEC);
	int tr = fd >= 0 ? (ftruncate(fd, 0) == 0 ? 0 : -errno) : -errno;
	int rw = 0;
	if (fd >= 0) {
		t_fill(w, sizeof(w), 77, 0);
		rw = pwrite(fd, w, sizeof(w), 0) == (ssize_t)sizeof(w) && fsync(fd) == 0 &&
		     pread(fd, r, sizeof(r), 0) == (ssize_t)sizeof(r) && !memcmp(w, r, sizeof(w));
		struct stat st;
		rw = rw && fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(w);
		close(fd);
	}
	int ub = unlink(bpath) == 0 ? 0 : -errno;
	int ud = unlink(dpath) == 0 ? 0 : -errno;
	printf("  ext4 file: ftruncate=%s rewrite=%s unlink=%s; shm file: unlink=%s\n", t_err(tr),
	       t_ok(rw), t_err(ub), t_err(ud));
}

static int round_(int round, enum mode m)
{
	int p[2], status, bad = 0;

	make_files(round);
	T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
	long nr_before = aio_nr();
	T_ASSERT(nr_before >= 0);

	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		p_w = p[1];
		child(m);
		_exit(3);
	}
	close(p[1]);

	char c;
	enum mode delay = m;
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	if (poll(&pfd, 1, 2000) != 1 || read(p[0], &c, 1) != 1) {
		/* Its setup takes milliseconds: it is stuck (or died). Kill it
		 * all the same and check what it left. */
		printf("round %d (%s): the child did not get ready within 2 s\n", round,
		       mode_name[m]);
		bad = 1;
		delay = M_FSYNC; /* none */
	}
	switch (delay) {
	case M_GETEVENTS: {
		/* until its main thread sleeps (in io_getevents) */
		double deadline = t_now() + 2.0;
		while (task_state(pid) != 'S' && t_now() < deadline)
			t_msleep(1);
		t_msleep(20);
		break;
	}
	case M_IDLE:
		t_msleep(10);
		break;
	case M_SUBMIT:
	case M_THREADS:
		t_msleep(40);
		break;
	default:
		break;
	}
	T_ASSERT(kill(pid, SIGKILL) == 0);
	T_ASSERT(waitpid(pid, &status, 0) == pid);

	char tpath[64];
	struct stat st;
	snprintf(tpath, sizeof(tpath), "/proc/%d/task", (int)pid);
	int killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	int gone = stat(tpath, &st) != 0 && errno == ENOENT;
	int iou = iou_threads_of(pid);
	int eof = eof_within_2s(p[0]);
	double deadline = t_now() + 2.0;
	long nr_after;
	while ((nr_after = aio_nr()) > nr_before && t_now() < deadline)
		t_msleep(5);
	int nr_back = nr_after <= nr_before;
	if (!nr_back && other_aio_users()) {
		/* aio-nr counts the whole system: someone else's contexts
		 * may be what keeps it up. */
		fprintf(stderr, "round %d: aio-nr %ld before, %ld after, other processes use "
			"kernel AIO: not counted\n", round, nr_before, nr_after);
		nr_back = 1;
	} else if (!nr_back) {
		fprintf(stderr, "round %d: aio-nr %ld before, %ld after\n", round, nr_before, nr_after);
	}

	printf("round %d (%s): killed by SIGKILL=%s task dir gone=%s iou- threads left=%d "
	       "pipe EOF=%s aio-nr back=%s\n",
	       round, mode_name[m], yes_no(killed), yes_no(gone), iou, yes_no(eof), yes_no(nr_back));
	bad |= !killed || !gone || iou || !eof || !nr_back;
	close(p[0]);
	check_files();
	return bad;
}

int main(void)
{
	static unsigned char buf[4096];
	struct t_pending busy;
	struct iocb io;
	struct io_event ev;
	int bad = 0;

	t_unbuffered();
	alarm(20);
	if (access("/proc/sys/fs/aio-nr", R_OK) != 0)
		t_skip("no /proc/sys/fs/aio-nr");

	/* The parent has a context with a poll in flight throughout. */
	io_context_t ctx = t_setup(8);
	t_pending_begin(ctx, &busy);

	for (int round = 0; round < M_COUNT; round++)
		bad |= round_(round, (enum mode)round);

	t_pending_end(ctx, &busy);
	printf("parent: its own poll completed\n");
	int fd = t_tmpfile("sigkill-inflight-parent");
	t_write_pattern(fd, 8192, 9);
	io_prep_pread(&io, fd, buf, sizeof(buf), 4096);
	io.data = (void *)(uintptr_t)0x5e1f;
	t_submit1(ctx, &io);
	t_wait_events(ctx, 1, &ev);
	t_print_event("parent: read", &ev, &io, (void *)(uintptr_t)0x5e1f);
	printf("parent: data %s\n", t_ok(t_check(buf, sizeof(buf), 9, 4096)));
	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	close(fd);
	return bad;
}
