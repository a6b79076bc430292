/* Description: exec with requests in flight: no descriptor of the library crosses it, libaio works after it.
 *
 * Kernel AIO has no descriptors: a context is part of the mm, and exec
 * drops it. A library that runs contexts on io_uring holds ring fds,
 * eventfds, an epoll fd; each must be O_CLOEXEC, or every program the
 * process (or a forked child of it) executes inherits them, keeping rings,
 * files and kernel threads alive behind the caller's back.
 *
 * The test re-executes its own binary (/proc/self/exe) with an argument
 * naming the role of the new image, and the descriptors its first image
 * found open at start (those of whoever ran it). Every image counts, at
 * the start of main, the descriptors it has beyond those and the ones it
 * was deliberately given (opendir's own is ignored), and the threads it
 * has beyond its own; then it sets up a context, reads a file and destroys
 * the context. The counts print as numbers: 0 is right.
 *
 * first image: a context with 8 polls on a pipe nobody writes, 4 buffered
 *   reads and an O_DIRECT read of a /dev/shm file (completed, not reaped).
 *   (a) A forked child clears FD_CLOEXEC on a pipe's read end holding
 *   "hello" and execs "child": that image must have exactly stdio plus
 *   that descriptor, read "hello" from it, and use libaio. After it exits
 *   the parent fires the polls and reaps 13 events, each request exactly
 *   once; nothing more comes; io_destroy returns 0.
 *   (b1) With the same mix in flight on a new context, the process itself
 *   execs "reexec1".
 * reexec1: the checks above; then the same mix again, and while the main
 *   thread is blocked in io_getevents (waiting for more than can ever
 *   complete), a second thread execs "reexec2".
 * reexec2: the checks above.
 * Under LD_PRELOAD the new image loads the preloaded library afresh, as
 * one linked with the system libaio loads it.
 */
#include "t_util.h"
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define NPOLL 8
#define NREAD 4
#define NREQ (NPOLL + NREAD + 1)
#define BS 4096
#define NR 64

static int base[256], nbase;     /* descriptors of whoever ran the first image */
static char base_arg[1024];      /* the same, as "0,1,2" */
static char *self_argv0;

static int in_list(int fd, const int *l, int n)
{
	for (int i = 0; i < n; i++)
		if (l[i] == fd)
			return 1;
	return 0;
}

/* Descriptors open now that are neither in `base` nor in `allow`; each is
 * named on stderr. With base_from_scratch, fill `base` from what is open
 * instead, leaving out anonymous inodes (which only a library could have
 * opened before main), and count those. */
static int extra_fds(const char *who, const int *allow, int nallow, int base_from_scratch)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	T_ASSERT(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		int fd = atoi(de->d_name);
		if (fd == dirfd(d))
			continue;
		char path[64], target[256];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = 0;
		if (base_from_scratch) {
			if (strncmp(target, "anon_inode:", 11) != 0) {
				T_ASSERT(nbase < (int)(sizeof(base) / sizeof(base[0])));
				base[nbase++] = fd;
				continue;
			}
		} else if (in_list(fd, base, nbase) || in_list(fd, allow, nallow)) {
			continue;
		}
		fprintf(stderr, "%s: unexpected descriptor %d -> %s\n", who, fd, target);
		n++;
	}
	closedir(d);
	return n;
}

static int other_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	T_ASSERT(d);
	while ((de = readdir(d)))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && atoi(de->d_name) != (int)getpid())
			n++;
	closedir(d);
	return n;
}

static void parse_base(const char *s)
{
	snprintf(base_arg, sizeof(base_arg), "%s", s);
	for (const char *p = s; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		T_ASSERT(nbase < (int)(sizeof(base) / sizeof(base[0])));
		base[nbase++] = (int)v;
		p = *end == ',' ? end + 1 : end;
	}
}

static void format_base(void)
{
	size_t off = 0;
	base_arg[0] = 0;
	for (int i = 0; i < nbase; i++)
		off += (size_t)snprintf(base_arg + off, sizeof(base_arg) - off, "%s%d", i ? "," : "",
					base[i]);
	if (nbase == 0)
		snprintf(base_arg, sizeof(base_arg), "-");
}

/* The facts every image checks at start. */
static void image_start(const char *who, const int *allow, int nallow)
{
	printf("%s: unexpected descriptors=%d other threads=%d\n", who,
	       extra_fds(who, allow, nallow, 0), other_threads());
}

/* io_setup, one read of a fresh file, io_destroy. */
static void use_libaio(const char *who)
{
	static unsigned char buf[BS];
	io_context_t ctx = 0;
	struct iocb io;
	struct io_event ev;

	int r = T_CALL(io_setup(4, &ctx));
	printf("%s: io_setup=%s\n", who, t_err(r));
	if (r != 0)
		return;
	int fd = t_tmpfile("exec-inflight-use");
	t_write_pattern(fd, 2 * BS, 61);
	memset(buf, 0, sizeof(buf));
	io_prep_pread(&io, fd, buf, BS, BS);
	io.data = (void *)(uintptr_t)0xe7ec;
	t_submit1(ctx, &io);
	t_wait_events(ctx, 1, &ev);
	char label[128];
	snprintf(label, sizeof(label), "%s: read", who);
	t_print_event(label, &ev, &io, (void *)(uintptr_t)0xe7ec);
	printf("%s: data %s\n", who, t_ok(t_check(buf, BS, 61, BS)));
	r = T_CALL(io_destroy(ctx));
	printf("%s: io_destroy=%s\n", who, t_err(r));
	close(fd);
}

static void exec_self(const char *role, const char *extra)
{
	char *args[5] = { self_argv0, (char *)role, base_arg, (char *)extra, NULL };
	fflush(stdout);
	execv("/proc/self/exe", args);
	t_fail("execv /proc/self/exe: %s", strerror(errno));
}

/* A context with NREQ requests: NPOLL polls on `never` (a pipe's read
 * end nobody writes to), NREAD buffered reads of an ext4 file and an
 * O_DIRECT read of a /dev/shm file; the reads are given time to complete
 * and are not reaped. */
struct inflight {
	io_context_t ctx;
	int file, dfile, p[2];
	unsigned char *bufs;
	struct iocb cbs[NREQ], *list[NREQ];
};

static void inflight_begin(struct inflight *f)
{
	f->ctx = t_setup(NR);
	T_ASSERT(pipe2(f->p, O_CLOEXEC) == 0);
	f->file = t_tmpfile("exec-inflight");
	t_write_pattern(f->file, NREAD * BS, 62);
	f->dfile = t_tmpfile_direct("/dev/shm", "exec-inflight-shm");
	t_write_pattern(f->dfile, BS, 63);
	f->bufs = t_aligned((size_t)NREQ * BS);
	for (int i = 0; i < NREQ; i++) {
		unsigned char *b = f->bufs + (size_t)i * BS;
		if (i < NPOLL)
			io_prep_poll(&f->cbs[i], f->p[0], POLLIN);
		else if (i < NPOLL + NREAD)
			io_prep_pread(&f->cbs[i], f->file, b, BS, (long long)(i - NPOLL) * BS);
		else
			io_prep_pread(&f->cbs[i], f->dfile, b, BS, 0);
		f->cbs[i].data = (void *)(uintptr_t)(0x100 + i);
		f->list[i] = &f->cbs[i];
	}
	int r = T_CALL(io_submit(f->ctx, NREQ, f->list));
	T_ASSERTF(r == NREQ, "io_submit: %s", t_err(r));
	t_msleep(30);
}

/* Fire the polls, reap everything, destroy. */
static void inflight_end(struct inflight *f)
{
	struct io_event evs[NREQ];
	int seen[NREQ] = { 0 }, once = 1, polls_ok = 1, reads_ok = 1;

	T_ASSERT(write(f->p[1], "x", 1) == 1);
	t_wait_events(f->ctx, NREQ, evs);
	for (int i = 0; i < NREQ; i++) {
		int k = t_event_index(&evs[i], f->list, NREQ);
		if (k < 0 || seen[k]++ || evs[i].data != (void *)(uintptr_t)(0x100 + k)) {
			once = 0;
			continue;
		}
		if (k < NPOLL) {
			polls_ok &= (evs[i].res & POLLIN) != 0 && evs[i].res2 == 0;
		} else {
			unsigned char *b = f->bufs + (size_t)k * BS;
			int ok = k < NPOLL + NREAD ? t_check(b, BS, 62, (size_t)(k - NPOLL) * BS)
						   : t_check(b, BS, 63, 0);
			reads_ok &= evs[i].res == BS && evs[i].res2 == 0 && ok;
		}
	}
	printf("parent: %d events, each request once: %s; polls POLLIN: %s; reads: %s\n", NREQ,
	       t_ok(once), t_ok(polls_ok), t_ok(reads_ok));
	t_expect_no_event(f->ctx, 20);
	int r = T_CALL(io_destroy(f->ctx));
	printf("parent: io_destroy=%s\n", t_err(r));
	close(f->p[0]);
	close(f->p[1]);
	close(f->file);
	close(f->dfile);
	free(f->bufs);
}

/* (a) the image a forked child executes. */
static int role_child(const char *fdarg)
{
	int fd = atoi(fdarg);
	char buf[16] = "";
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	image_start("exec'd child", &fd, 1);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	printf("exec'd child: the passed descriptor reads \"%s\"\n", n > 0 ? buf : "");
	close(fd);
	use_libaio("exec'd child");
	return 0;
}

static struct inflight reexec1_io;

static void *execer(void *arg)
{
	(void)arg;
	/* until the main thread sleeps in io_getevents */
	double deadline = t_now() + 2.0;
	while (!t_sleeping((int)getpid()) && t_now() < deadline)
		t_msleep(1);
	t_msleep(20);
	exec_self("reexec2", NULL);
	return NULL;
}

/* (b1) the image the first one became. */
static int role_reexec1(void)
{
	static struct io_event evs[NR];
	pthread_t th;

	image_start("reexec1", NULL, 0);
	use_libaio("reexec1");
	inflight_begin(&reexec1_io);
	printf("reexec1: a thread execs while io_getevents waits, %d requests in flight\n", NREQ);
	T_ASSERT(pthread_create(&th, NULL, execer, NULL) == 0);
	/* Only NREQ - NPOLL of these can ever complete. */
	int r = T_CALL(io_getevents(reexec1_io.ctx, NR, NR, evs, NULL));
	printf("reexec1: io_getevents returned %s\n", t_err(r));
	for (;;)
		pause();
}

static int role_reexec2(void)
{
	image_start("reexec2", NULL, 0);
	use_libaio("reexec2");
	return 0;
}

int main(int argc, char **argv)
{
	t_unbuffered();
	self_argv0 = argv[0];

	if (argc >= 3) {
		alarm(10);
		if (strcmp(argv[2], "-") != 0)
			parse_base(argv[2]);
		if (!strcmp(argv[1], "child") && argc >= 4)
			return role_child(argv[3]);
		if (!strcmp(argv[1], "reexec1"))
			return role_reexec1();
		if (!strcmp(argv[1], "reexec2"))
			return role_reexec2();
		t_fail("unknown role %s", argv[1]);
	}

	alarm(10);
	/* Before any libaio call: whatever is open now came with the process. */
	int lib = extra_fds("first image", NULL, 0, 1);
	format_base();
	printf("first image: anonymous-inode descriptors before main=%d other threads=%d\n", lib,
	       other_threads());

	/* (a) fork + exec with requests in flight */
	struct inflight f;
	inflight_begin(&f);
	int hello[2];
	T_ASSERT(pipe2(hello, O_CLOEXEC) == 0);
	T_ASSERT(write(hello[1], "hello", 5) == 5);
	T_ASSERT(close(hello[1]) == 0);
	printf("parent: fork and exec with %d requests in flight\n", NREQ);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		char fdarg[16];
		if (fcntl(hello[0], F_SETFD, 0) != 0)
			_exit(126);
		snprintf(fdarg, sizeof(fdarg), "%d", hello[0]);
		exec_self("child", fdarg);
	}
	close(hello[0]);
	int status;
	T_ASSERT(waitpid(pid, &status, 0) == pid);
	printf("parent: exec'd child exited normally=%d code=%d\n", WIFEXITED(status),
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	inflight_end(&f);

	/* (b1) exec with requests in flight */
	struct inflight g;
	inflight_begin(&g);
	printf("first image: execve with %d requests in flight\n", NREQ);
	exec_self("reexec1", NULL);
	return 1;
}
