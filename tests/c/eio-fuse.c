/* Description: I/O errors (EIO) from a failing FUSE file system, as kernel AIO reports them.
 *
 * A disk that goes bad under a file system turns reads, writes and fsyncs
 * into -EIO, and kernel AIO hands that back in io_event.res exactly as
 * read(2), write(2) and fsync(2) would: a buffered read that reaches a bad
 * block after good ones completes short, one that starts on a bad block
 * fails; nothing the failed request touched is left in the page cache.
 * The machine has no device-mapper to fake such a disk, so the test serves
 * one itself: a child process speaks the raw /dev/fuse protocol (no
 * libfuse) for a file system holding two 1 MiB files with a known pattern,
 * "data" (read through the page cache; O_DIRECT opens go to the file
 * system directly) and "raw" (opened with FOPEN_DIRECT_IO, the mode of
 * network file systems that bypass the page cache). Chosen 4 KiB blocks are
 * bad: a READ or WRITE request touching one fails whole with -EIO (FUSE
 * would take a short READ reply for end of file and shrink the file), and
 * an FSYNC fails with -EIO once after a failed WRITE to that file, as a
 * file system reports a lost write. The kernel is offered asynchronous
 * O_DIRECT (FUSE_ASYNC_DIO): under kernel AIO a read or write on the
 * O_DIRECT descriptor or on the FOPEN_DIRECT_IO file is queued to the
 * server and may complete after io_submit returns, as on a block device,
 * while buffered ones are served inside io_submit. The
 * buffered descriptor is POSIX_FADV_RANDOM, so that no readahead beyond
 * what each request asks for decides which pages a failed READ covered.
 *
 * What kernel AIO reports on this kernel: a buffered read of good blocks
 * followed by a bad one returns the bytes before it (the page cache reads
 * the pages one by one after the failed multi-page READ); an O_DIRECT read
 * or a read of the FOPEN_DIRECT_IO file fails whole; a failed buffered
 * write leaves the old data readable (its pages are not kept up to date).
 *
 * Through libaio the test reads good and bad blocks singly (alone and with
 * another request in flight), in batches of 8 and vectored, buffered and
 * O_DIRECT; reads again after failures (a failed block fails again, its
 * good neighbours read fine); writes good and bad blocks, buffered, in a
 * batch and O_DIRECT, checks that a failed write leaves the old data
 * readable; and runs IO_CMD_FSYNC / IO_CMD_FDSYNC that fail and succeed.
 * Every event's res/res2 is printed, and the bytes of every successful read
 * are checked against what the file holds. Skips (77) where /dev/fuse cannot
 * be opened or mounted (not root).
 */
#include "t_util.h"
#include <linux/fuse.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define BLK 4096
#define NBLK 256
#define FSIZE (NBLK * BLK)
#define INO_DATA 2
#define INO_RAW 3
#define SEED_DATA 1
#define SEED_RAW 3
#define SEED_NEW 2
#define TAG ((void *)(uintptr_t)0xe10)

/*
 * Bad blocks, by region of the files:
 *   0..31    single reads, alone             (5, 6, 20)
 *   32..63   single reads, another in flight (37, 38, 52)
 *   64..95   batches of buffered reads       (66, 68, 70, 75, 82)
 *   96..127  single O_DIRECT reads           (101, 102, 116)
 *   128..159 batches of O_DIRECT reads       (130, 133, 137, 146)
 *   160..199 writes                          (165, 170, 180, 186, 188)
 */
static const int bad_blocks[] = {
	5, 6, 20, 37, 38, 52, 66, 68, 70, 75, 82, 101, 102, 116,
	130, 133, 137, 146, 165, 170, 180, 186, 188,
};

static int is_bad(uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	uint64_t first = off / BLK, last = (off + len - 1) / BLK;
	for (size_t i = 0; i < sizeof(bad_blocks) / sizeof(bad_blocks[0]); i++)
		if ((uint64_t)bad_blocks[i] >= first && (uint64_t)bad_blocks[i] <= last)
			return 1;
	return 0;
}

/* ---- the file system (child process) ---- */

static unsigned char *content[2];
static int write_failed[2];

static void fs_reply(int fd, uint64_t unique, int err, const void *p, size_t n)
{
	struct fuse_out_header oh;
	if (err)
		n = 0;
	oh.len = (uint32_t)(sizeof(oh) + n);
	oh.error = err;
	oh.unique = unique;
	struct iovec iov[2] = { { &oh, sizeof(oh) }, { (void *)p, n } };
	/* ENOENT: the request was interrupted meanwhile; nothing to do. */
	if (writev(fd, iov, n ? 2 : 1) < 0 && errno != ENOENT) {
		fprintf(stderr, "eio-fuse server: reply: %s\n", strerror(errno));
		_exit(2);
	}
}

static void fs_attr(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->atime = a->mtime = a->ctime = 1700000000;
	a->uid = getuid();
	a->gid = getgid();
	a->blksize = BLK;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0644;
		a->nlink = 1;
		a->size = FSIZE;
		a->blocks = FSIZE / 512;
	}
}

static int fs_file(uint64_t nodeid)
{
	return nodeid == INO_DATA ? 0 : nodeid == INO_RAW ? 1 : -1;
}

static void fs_serve(int fd)
{
	static unsigned char buf[FSIZE + 65536];

	for (int i = 0; i < 2; i++) {
		content[i] = malloc(FSIZE);
		if (!content[i])
			_exit(2);
		t_fill(content[i], FSIZE, i == 0 ? SEED_DATA : SEED_RAW, 0);
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			if (errno == ENODEV) /* unmounted */
				_exit(0);
			fprintf(stderr, "eio-fuse server: read: %s\n", strerror(errno));
			_exit(2);
		}
		if ((size_t)n < sizeof(struct fuse_in_header)) {
			fprintf(stderr, "eio-fuse server: short request\n");
			_exit(2);
		}
		struct fuse_in_header *in = (void *)buf;
		void *arg = buf + sizeof(*in);
		uint64_t u = in->unique;
		int f = fs_file(in->nodeid);

		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_in *ii = arg;
			struct fuse_init_out io;
			memset(&io, 0, sizeof(io));
			io.major = FUSE_KERNEL_VERSION;
			io.minor = FUSE_KERNEL_MINOR_VERSION;
			if (ii->major != FUSE_KERNEL_VERSION) {
				fs_reply(fd, u, 0, &io, 8); /* let the kernel see our major */
				break;
			}
			if (ii->minor < io.minor)
				io.minor = ii->minor;
			io.max_readahead = ii->max_readahead;
			io.flags = ii->flags & (FUSE_ASYNC_DIO | FUSE_BIG_WRITES | FUSE_MAX_PAGES);
			io.max_background = 16;
			io.congestion_threshold = 12;
			io.max_write = 131072;
			io.time_gran = 1;
			io.max_pages = 32;
			fs_reply(fd, u, 0, &io, sizeof(io));
			break;
		}
		case FUSE_LOOKUP: {
			const char *name = arg;
			struct fuse_entry_out eo;
			uint64_t ino = !strcmp(name, "data") ? INO_DATA : !strcmp(name, "raw") ? INO_RAW : 0;
			if (in->nodeid != FUSE_ROOT_ID || !ino) {
				fs_reply(fd, u, -ENOENT, NULL, 0);
				break;
			}
			memset(&eo, 0, sizeof(eo));
			eo.nodeid = ino;
			eo.generation = 1;
			eo.entry_valid = eo.attr_valid = 3600;
			fs_attr(ino, &eo.attr);
			fs_reply(fd, u, 0, &eo, sizeof(eo));
			break;
		}
		case FUSE_GETATTR:
		case FUSE_SETATTR: {
			struct fuse_attr_out ao;
			if (in->nodeid != FUSE_ROOT_ID && f < 0) {
				fs_reply(fd, u, -ENOENT, NULL, 0);
				break;
			}
			memset(&ao, 0, sizeof(ao));
			ao.attr_valid = 3600;
			fs_attr(in->nodeid, &ao.attr);
			fs_reply(fd, u, 0, &ao, sizeof(ao));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out oo;
			if (f < 0) {
				fs_reply(fd, u, -EISDIR, NULL, 0);
				break;
			}
			memset(&oo, 0, sizeof(oo));
			oo.fh = in->nodeid;
			oo.open_flags = f == 1 ? FOPEN_DIRECT_IO : 0;
			fs_reply(fd, u, 0, &oo, sizeof(oo));
			break;
		}
		case FUSE_READ: {
			struct fuse_read_in *ri = arg;
			uint64_t off = ri->offset, len = ri->size;
			if (f < 0) {
				fs_reply(fd, u, -EBADF, NULL, 0);
				break;
			}
			if (off >= FSIZE)
				len = 0;
			else if (len > FSIZE - off)
				len = FSIZE - off;
			if (is_bad(off, len))
				fs_reply(fd, u, -EIO, NULL, 0);
			else
				fs_reply(fd, u, 0, len ? content[f] + off : NULL, len);
			break;
		}
		case FUSE_WRITE: {
			struct fuse_write_in *wi = arg;
			struct fuse_write_out wo;
			const unsigned char *data = (const unsigned char *)(wi + 1);
			if (f < 0) {
				fs_reply(fd, u, -EBADF, NULL, 0);
				break;
			}
			if (wi->offset > FSIZE || wi->size > FSIZE - wi->offset) {
				fs_reply(fd, u, -ENOSPC, NULL, 0);
				break;
			}
			if (is_bad(wi->offset, wi->size)) {
				write_failed[f] = 1;
				fs_reply(fd, u, -EIO, NULL, 0);
				break;
			}
			memcpy(content[f] + wi->offset, data, wi->size);
			memset(&wo, 0, sizeof(wo));
			wo.size = wi->size;
			fs_reply(fd, u, 0, &wo, sizeof(wo));
			break;
		}
		case FUSE_FSYNC:
			if (f >= 0 && write_failed[f]) {
				write_failed[f] = 0;
				fs_reply(fd, u, -EIO, NULL, 0);
			} else {
				fs_reply(fd, u, 0, NULL, 0);
			}
			break;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			fs_reply(fd, u, 0, NULL, 0);
			break;
		case FUSE_STATFS: {
			struct fuse_statfs_out so;
			memset(&so, 0, sizeof(so));
			so.st.blocks = so.st.bfree = so.st.bavail = 1024;
			so.st.bsize = so.st.frsize = BLK;
			so.st.namelen = 255;
			fs_reply(fd, u, 0, &so, sizeof(so));
			break;
		}
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break; /* no reply */
		case FUSE_DESTROY:
			fs_reply(fd, u, 0, NULL, 0);
			_exit(0);
		default:
			fs_reply(fd, u, -ENOSYS, NULL, 0);
			break;
		}
	}
}

/* ---- the test (parent process) ---- */

static char mnt[512];
static pid_t server = -1;
static io_context_t ctx;

static pid_t test_pid;

/* On a failed check or a timeout: stop the server first (its death aborts
 * the connection, so requests still waiting on it fail instead of
 * blocking), then detach the mount and remove its directory. Only calls
 * that are safe in a signal handler. */
static void cleanup(void)
{
	if (getpid() != test_pid || server <= 0)
		return;
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	server = -1;
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: timed out (FUSE server not answering?)\n";
	(void)sig;
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	cleanup();
	_exit(1);
}

static void mount_fs(void)
{
	char opts[256];

	snprintf(mnt, sizeof(mnt), "%s/eio-fuse-%d", t_dir(), (int)getpid());
	T_ASSERTF(mkdir(mnt, 0700) == 0, "mkdir %s: %s", mnt, strerror(errno));
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "open /dev/fuse: %s\n", strerror(errno));
		rmdir(mnt);
		t_skip("cannot open /dev/fuse");
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,group_id=%u", fd,
		 (unsigned)getuid(), (unsigned)getgid());
	if (mount("eio-fuse", mnt, "fuse", MS_NOSUID | MS_NODEV, opts) != 0) {
		fprintf(stderr, "mount fuse: %s\n", strerror(errno));
		close(fd);
		rmdir(mnt);
		t_skip("cannot mount a FUSE file system (needs root)");
	}
	pid_t parent = getpid();
	test_pid = parent;
	server = fork();
	T_ASSERT(server >= 0);
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(2);
		alarm(12); /* never outlive a stuck test */
		fs_serve(fd);
		_exit(0);
	}
	/* Only the server may hold the device: if it dies, the connection
	 * aborts and every request fails instead of hanging. */
	close(fd);
	atexit(cleanup);
	signal(SIGALRM, on_alarm);
	alarm(10);
}

static void unmount_fs(void)
{
	if (umount2(mnt, 0) != 0) {
		T_ASSERTF(errno == EBUSY, "umount %s: %s", mnt, strerror(errno));
		T_ASSERT(umount2(mnt, MNT_DETACH) == 0);
	}
	int status = 0;
	double deadline = t_now() + 5.0;
	pid_t r;
	while ((r = waitpid(server, &status, WNOHANG)) == 0 && t_now() < deadline)
		t_msleep(5);
	if (r == 0) {
		kill(server, SIGKILL);
		waitpid(server, &status, 0);
		t_fail("the FUSE server did not exit after umount");
	}
	server = -1;
	alarm(0);
	T_ASSERTF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the FUSE server failed (status 0x%x)", status);
	T_ASSERT(rmdir(mnt) == 0);
}

static int open_file(const char *name, int flags)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", mnt, name);
	int fd = open(path, flags | O_CLOEXEC);
	T_ASSERTF(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

/* What the file system holds: the files' patterns, plus the writes that
 * succeeded (kept here as a mirror, per 4 KiB block: its seed). */
static unsigned block_seed[2][NBLK];

static int content_ok(int file, const unsigned char *buf, long len, long long off)
{
	for (long i = 0; i < len; i++) {
		long long o = off + i;
		if (buf[i] != t_pattern_byte(block_seed[file][o / BLK], (size_t)o))
			return 0;
	}
	return 1;
}

struct req {
	const char *label;
	int file;          /* 0 data, 1 raw */
	int fd;
	int op;            /* IO_CMD_PREAD, IO_CMD_PREADV, IO_CMD_PWRITE, IO_CMD_FSYNC, IO_CMD_FDSYNC */
	long long blk;     /* first block */
	int nblk;
	unsigned char *buf;
	struct iovec iov[2];
	struct iocb cb;
};

static void prep(struct req *r)
{
	size_t len = (size_t)r->nblk * BLK;
	long long off = r->blk * BLK;

	switch (r->op) {
	case IO_CMD_PREAD:
		r->buf = t_aligned(len);
		memset(r->buf, 0xcc, len);
		io_prep_pread(&r->cb, r->fd, r->buf, len, off);
		break;
	case IO_CMD_PREADV:
		r->buf = t_aligned(len);
		memset(r->buf, 0xcc, len);
		r->iov[0].iov_base = r->buf;
		r->iov[0].iov_len = BLK;
		r->iov[1].iov_base = r->buf + BLK;
		r->iov[1].iov_len = len - BLK;
		io_prep_preadv(&r->cb, r->fd, r->iov, 2, off);
		break;
	case IO_CMD_PWRITE:
		r->buf = t_aligned(len);
		t_fill(r->buf, len, SEED_NEW, (size_t)off);
		io_prep_pwrite(&r->cb, r->fd, r->buf, len, off);
		break;
	case IO_CMD_FSYNC:
		r->buf = NULL;
		io_prep_fsync(&r->cb, r->fd);
		break;
	case IO_CMD_FDSYNC:
		r->buf = NULL;
		io_prep_fdsync(&r->cb, r->fd);
		break;
	}
	r->cb.data = TAG;
}

/* Self-checks over the whole run: failures were really seen, and no read
 * returned bytes other than the file's. */
static int n_eio_read, n_eio_write, n_eio_sync, n_bad_data;

static void report(struct req *r, const struct io_event *ev)
{
	long res = (long)ev->res;
	size_t len = (size_t)r->nblk * BLK;

	t_print_event(r->label, ev, &r->cb, TAG);
	if (r->op == IO_CMD_PREAD || r->op == IO_CMD_PREADV) {
		long got = res > 0 ? res : 0;
		int data = content_ok(r->file, r->buf, got, r->blk * BLK);
		int rest = t_all(r->buf + got, len - (size_t)got, 0xcc);
		printf("  data %s, rest untouched %s\n", t_ok(data), t_ok(rest));
		n_bad_data += !data || !rest;
		n_eio_read += res == -EIO;
	}
	if (r->op == IO_CMD_PWRITE)
		n_eio_write += res == -EIO;
	if (r->op == IO_CMD_FSYNC || r->op == IO_CMD_FDSYNC)
		n_eio_sync += res == -EIO;
	if (r->op == IO_CMD_PWRITE && res > 0) {
		T_ASSERT(res % BLK == 0);
		for (long b = 0; b < res / BLK; b++)
			block_seed[r->file][r->blk + b] = SEED_NEW;
	}
	free(r->buf);
	r->buf = NULL;
}

/* One request, submitted alone (or beside the pending poll). */
static void one(struct req *r)
{
	struct io_event ev;
	prep(r);
	int s = t_submit_one(ctx, &r->cb);
	if (s != 1) {
		printf("%s: submit=%s\n", r->label, t_err(s));
		free(r->buf);
		return;
	}
	t_wait_events(ctx, 1, &ev);
	report(r, &ev);
}

static void rd(const char *label, int file, int fd, long long blk, int nblk)
{
	struct req r = { .label = label, .file = file, .fd = fd, .op = IO_CMD_PREAD,
			 .blk = blk, .nblk = nblk };
	one(&r);
}

static void wr(const char *label, int file, int fd, long long blk, int nblk)
{
	struct req r = { .label = label, .file = file, .fd = fd, .op = IO_CMD_PWRITE,
			 .blk = blk, .nblk = nblk };
	one(&r);
}

static void sync1(const char *label, int fd, int op)
{
	struct req r = { .label = label, .fd = fd, .op = op };
	one(&r);
}

/* n requests in one io_submit; events printed in submission order. */
static void batch(struct req *rs, int n)
{
	struct iocb *list[8];
	struct io_event evs[8];

	T_ASSERT(n <= 8);
	for (int i = 0; i < n; i++) {
		prep(&rs[i]);
		list[i] = &rs[i].cb;
	}
	int s = T_CALL(io_submit(ctx, n, list));
	T_ASSERTF(s == n, "io_submit of %d: %s", n, t_err(s));
	t_wait_events(ctx, n, evs);
	t_sort_events(evs, n, list, n);
	for (int i = 0; i < n; i++) {
		int k = t_event_index(&evs[i], list, n);
		T_ASSERT(k == i);
		report(&rs[k], &evs[i]);
	}
}

/* The same reads, relative to `base`, whose blocks +5, +6 and +20 are bad. */
static void singles(int file, int fd, long long base)
{
	struct req rv = { .label = "readv [4K,4K] +19 (good, bad)", .file = file, .fd = fd,
			  .op = IO_CMD_PREADV, .blk = base + 19, .nblk = 2 };

	rd("read 4K +0", file, fd, base + 0, 1);
	rd("read 4K +5 (bad)", file, fd, base + 5, 1);
	rd("read 4K +5 (bad) again", file, fd, base + 5, 1);
	rd("read 8K +4 (good, bad)", file, fd, base + 4, 2);
	rd("read 8K +6 (bad, good)", file, fd, base + 6, 2);
	rd("read 4K +7 (after bad)", file, fd, base + 7, 1);
	rd("read 4K +4 (before bad)", file, fd, base + 4, 1);
	rd("read 8K +3 (good, good)", file, fd, base + 3, 2);
	rd("read 64K +12 (8 good, bad, 7 good)", file, fd, base + 12, 16);
	one(&rv);
	rd("read 8K +21 (after bad)", file, fd, base + 21, 2);
	rd("read 4K +6 (bad) again", file, fd, base + 6, 1);
}

static const char *goodbad(long long blk)
{
	return is_bad((uint64_t)blk * BLK, BLK) ? "bad" : "good";
}

/* 8 reads of nblk blocks each, from block `first` on, in one io_submit;
 * with again, the same reads once more. */
static void read_batch(int file, int fd, long long first, int nblk, int again)
{
	static char labels[8][64];
	struct req a[8];
	for (int i = 0; i < 8; i++) {
		long long b = first + (long long)i * nblk;
		if (nblk == 1)
			snprintf(labels[i], sizeof(labels[i]), "batch read 4K %lld (%s)", b,
				 goodbad(b));
		else
			snprintf(labels[i], sizeof(labels[i]), "batch read 8K %lld (%s, %s)", b,
				 goodbad(b), goodbad(b + 1));
		a[i] = (struct req){ .label = labels[i], .file = file, .fd = fd, .op = IO_CMD_PREAD,
				     .blk = b, .nblk = nblk };
	}
	batch(a, 8);
	if (again) {
		printf("again:\n");
		for (int i = 0; i < 8; i++)
			a[i].cb = (struct iocb){ 0 };
		batch(a, 8);
	}
}

int main(void)
{
	struct t_pending pend;

	for (int f = 0; f < 2; f++)
		for (int b = 0; b < NBLK; b++)
			block_seed[f][b] = f == 0 ? SEED_DATA : SEED_RAW;

	mount_fs();

	char path[600];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data", mnt);
	T_ASSERTF(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	T_ASSERT(st.st_size == FSIZE);

	ctx = t_setup(16);

	/* Buffered: page cache, no readahead beyond what is read (so that
	 * which pages a failed READ covered does not depend on timing). */
	int bfd = open_file("data", O_RDWR);
	T_ASSERT(posix_fadvise(bfd, 0, 0, POSIX_FADV_RANDOM) == 0);

	printf("-- buffered reads, alone (blocks 0..31)\n");
	singles(0, bfd, 0);
	printf("-- buffered reads, another request in flight (blocks 32..63)\n");
	t_pending_begin(ctx, &pend);
	singles(0, bfd, 32);
	t_pending_end(ctx, &pend);
	printf("-- buffered read batches (blocks 64..95)\n");
	read_batch(0, bfd, 64, 1, 1);
	read_batch(0, bfd, 72, 2, 0);
	printf("-- end of file\n");
	rd("read 4K at last block", 0, bfd, NBLK - 1, 1);
	rd("read 8K at last block", 0, bfd, NBLK - 1, 2);
	rd("read 4K at EOF", 0, bfd, NBLK, 1);

	printf("-- O_DIRECT\n");
	int dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	printf("open O_DIRECT: %s\n", dfd >= 0 ? "ok" : t_err(-errno));
	if (dfd >= 0) {
		printf("-- O_DIRECT reads, alone (blocks 96..127)\n");
		singles(0, dfd, 96);
		printf("-- O_DIRECT read batches (blocks 128..159)\n");
		read_batch(0, dfd, 128, 1, 1);
		read_batch(0, dfd, 136, 2, 0);
		read_batch(0, dfd, 128, 2, 0);
	}

	printf("-- FOPEN_DIRECT_IO file, reads (blocks 0..31)\n");
	int rfd = open_file("raw", O_RDWR);
	singles(1, rfd, 0);
	printf("-- FOPEN_DIRECT_IO file, read batches (blocks 64..87)\n");
	read_batch(1, rfd, 64, 1, 1);
	read_batch(1, rfd, 72, 2, 0);

	printf("-- writes (blocks 160..199)\n");
	wr("write 4K 160", 0, bfd, 160, 1);
	rd("read 4K 160", 0, bfd, 160, 1);
	sync1("fsync", bfd, IO_CMD_FSYNC);
	wr("write 4K 165 (bad)", 0, bfd, 165, 1);
	sync1("fsync after failed write", bfd, IO_CMD_FSYNC);
	sync1("fsync again", bfd, IO_CMD_FSYNC);
	rd("read 4K 169 (cache it)", 0, bfd, 169, 1);
	wr("write 8K 169 (good, bad)", 0, bfd, 169, 2);
	rd("read 4K 169 (old data)", 0, bfd, 169, 1);
	sync1("fdatasync after failed write", bfd, IO_CMD_FDSYNC);
	sync1("fdatasync again", bfd, IO_CMD_FDSYNC);
	wr("write 8K 163 (good, good)", 0, bfd, 163, 2);
	rd("read 8K 163", 0, bfd, 163, 2);
	{
		static char labels[8][64];
		struct req w[8];
		for (int i = 0; i < 8; i++) {
			int b = 176 + i;
			snprintf(labels[i], sizeof(labels[i]), "batch write 4K %d (%s)", b,
				 goodbad(b));
			w[i] = (struct req){ .label = labels[i], .file = 0, .fd = bfd,
					     .op = IO_CMD_PWRITE, .blk = b, .nblk = 1 };
		}
		batch(w, 8);
	}
	sync1("fsync after batch", bfd, IO_CMD_FSYNC);
	rd("read 32K 176 (after batch)", 0, bfd, 176, 8);
	rd("read 16K 176 (after batch)", 0, bfd, 176, 4);
	if (dfd >= 0) {
		wr("O_DIRECT write 4K 185", 0, dfd, 185, 1);
		wr("O_DIRECT write 4K 186 (bad)", 0, dfd, 186, 1);
		wr("O_DIRECT write 8K 187 (good, bad)", 0, dfd, 187, 2);
		sync1("fsync (O_DIRECT fd)", dfd, IO_CMD_FSYNC);
		sync1("fsync again (O_DIRECT fd)", dfd, IO_CMD_FSYNC);
		rd("O_DIRECT read 4K 185", 0, dfd, 185, 1);
		rd("O_DIRECT read 4K 187", 0, dfd, 187, 1);
		rd("read 4K 185", 0, bfd, 185, 1);
		rd("read 4K 187", 0, bfd, 187, 1);
	}
	wr("FOPEN_DIRECT_IO write 4K 160", 1, rfd, 160, 1);
	wr("FOPEN_DIRECT_IO write 8K 164 (good, bad)", 1, rfd, 164, 2);
	rd("FOPEN_DIRECT_IO read 4K 164", 1, rfd, 164, 1);
	sync1("fsync (FOPEN_DIRECT_IO file)", rfd, IO_CMD_FSYNC);
	sync1("fsync again (FOPEN_DIRECT_IO file)", rfd, IO_CMD_FSYNC);

	t_destroy(ctx);
	close(bfd);
	if (dfd >= 0)
		close(dfd);
	close(rfd);
	unmount_fs();
	T_ASSERTF(n_bad_data == 0, "%d reads returned wrong data", n_bad_data);
	T_ASSERT(n_eio_read > 0 && n_eio_write > 0 && n_eio_sync > 0);
	return 0;
}
