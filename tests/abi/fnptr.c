/*
 * Source-level checks of the libaio API described by <libaio.h>.
 *
 * 1. Every library function is assigned to a pointer of the exact type
 *    libaio declares; a prototype that differs in any parameter or in the
 *    return type is an incompatible-pointer diagnostic (an error with
 *    -Werror in C, always an error in C++).
 * 2. Every static inline helper is called, so that each one compiles in the
 *    language mode at hand.
 * 3. With -DFNPTR_RUN, main() runs the helpers on iocbs pre-filled with a
 *    byte pattern and prints the resulting bytes.  io_submit() is replaced
 *    by a recording stub, so nothing reaches the kernel; running the program
 *    built against two headers and comparing the output compares what their
 *    helpers do.
 *
 * Builds as C99 or later and as C++11 or later:
 *   cc  -std=c99   -Wall -Wextra -Werror -c fnptr.c -I include
 *   c++ -x c++ -std=c++11 -Wall -Wextra -Werror -c fnptr.c -I include
 */

/* <libaio.h> uses sigset_t, which strict ISO C modes hide without this. */
#define _POSIX_C_SOURCE 200809L

#include <libaio.h>
#include <libaio.h> /* a second inclusion must be harmless */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Exported by the library, but not declared by the header. */
extern int io_queue_wait(io_context_t, struct timespec *);
#ifdef __cplusplus
}
#endif

/* The function types, spelt out independently of the header. */
typedef int (*queue_init_fn)(int, io_context_t *);
typedef int (*queue_release_fn)(io_context_t);
typedef int (*queue_run_fn)(io_context_t);
typedef int (*queue_wait_fn)(io_context_t, struct timespec *);
typedef int (*setup_fn)(int, io_context_t *);
typedef int (*destroy_fn)(io_context_t);
typedef int (*submit_fn)(io_context_t, long, struct iocb **);
typedef int (*cancel_fn)(io_context_t, struct iocb *, struct io_event *);
typedef int (*getevents_fn)(io_context_t, long, long, struct io_event *,
			    struct timespec *);
typedef int (*pgetevents_fn)(io_context_t, long, long, struct io_event *,
			     struct timespec *, sigset_t *);
typedef void (*callback_fn)(io_context_t, struct iocb *, long, long);

struct api_table {
	queue_init_fn queue_init;
	queue_release_fn queue_release;
	queue_run_fn queue_run;
	queue_wait_fn queue_wait;
	setup_fn setup;
	destroy_fn destroy;
	submit_fn submit;
	cancel_fn cancel;
	getevents_fn getevents;
	pgetevents_fn pgetevents;
};

struct api_table fnptr_api(void);
int fnptr_helpers(io_context_t ctx, struct iocb *iocb, const struct iovec *iov,
		  io_callback_t cb);

struct api_table fnptr_api(void)
{
	struct api_table t;

	t.queue_init = io_queue_init;
	t.queue_release = io_queue_release;
	t.queue_run = io_queue_run;
	t.queue_wait = io_queue_wait;
	t.setup = io_setup;
	t.destroy = io_destroy;
	t.submit = io_submit;
	t.cancel = io_cancel;
	t.getevents = io_getevents;
	t.pgetevents = io_pgetevents;
	return t;
}

/* Calls each inline helper once; the return values of the submitting ones
 * are summed so that none is discarded. */
int fnptr_helpers(io_context_t ctx, struct iocb *iocb, const struct iovec *iov,
		  io_callback_t cb)
{
	static char buf[16];
	callback_fn typed = cb; /* io_callback_t is exactly this type */
	int sum = 0;

	io_prep_pread(iocb, 0, buf, sizeof(buf), 0);
	io_prep_pwrite(iocb, 0, buf, sizeof(buf), 0);
	io_prep_preadv(iocb, 0, iov, 1, 0);
	io_prep_pwritev(iocb, 0, iov, 1, 0);
	io_prep_preadv2(iocb, 0, iov, 1, 0, 0);
	io_prep_pwritev2(iocb, 0, iov, 1, 0, 0);
	io_prep_poll(iocb, 0, 1);
	io_prep_fsync(iocb, 0);
	io_prep_fdsync(iocb, 0);
	io_set_eventfd(iocb, 0);
	io_set_callback(iocb, typed);
	sum += io_poll(ctx, iocb, cb, 0, 1);
	sum += io_fsync(ctx, iocb, cb, 0);
	sum += io_fdsync(ctx, iocb, cb, 0);
	return sum;
}

#ifdef FNPTR_RUN

/* Replaces the library's io_submit for this program: records its arguments
 * and reports one request submitted. */
static io_context_t seen_ctx;
static long seen_nr;
static struct iocb *seen_iocb;

int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	seen_ctx = ctx;
	seen_nr = nr;
	seen_iocb = nr > 0 ? ios[0] : NULL;
	return (int)nr;
}

static void on_done(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	(void)ctx;
	(void)iocb;
	(void)res;
	(void)res2;
}

/* Fixed, never dereferenced values, so the output does not depend on where
 * anything is loaded. */
#define FAKE_BUF ((void *)(uintptr_t)0x10203040u)
#define FAKE_IOV ((const struct iovec *)(uintptr_t)0x50607080u)
#define FAKE_CTX ((io_context_t)(uintptr_t)0x0badc0deu)
#define OFFSET 0x0102030405060708LL

static void fill(struct iocb *iocb)
{
	memset(iocb, 0xa5, sizeof(*iocb));
}

/* Prints the iocb's bytes.  If `cb` is given, data must hold it; data is
 * then blanked so that the callback's address stays out of the output. */
static void dump(const char *what, struct iocb *iocb, io_callback_t cb)
{
	const unsigned char *p;
	size_t i;

	if (cb) {
		printf("%s: data holds callback: %s\n", what,
		       iocb->data == (void *)(uintptr_t)cb ? "yes" : "no");
		iocb->data = NULL;
	}
	p = (const unsigned char *)iocb;
	printf("%s:", what);
	for (i = 0; i < sizeof(*iocb); i++)
		printf("%s%02x", i % 8 ? "" : " ", p[i]);
	printf("\n");
}

static void dump_submit(const char *what, int ret, struct iocb *iocb)
{
	printf("%s: ret %d, ctx %s, nr %ld, iocb %s\n", what, ret,
	       seen_ctx == FAKE_CTX ? "passed" : "wrong", seen_nr,
	       seen_iocb == iocb ? "passed" : "wrong");
	seen_ctx = NULL;
	seen_nr = 0;
	seen_iocb = NULL;
}

int main(void)
{
	struct api_table t = fnptr_api();
	struct iocb iocb;
	int ret;

	/* Each pointer must be set (the program links only if they resolve). */
	printf("pointers: %s\n",
	       t.queue_init && t.queue_release && t.queue_run &&
	       t.queue_wait && t.setup && t.destroy && t.submit &&
	       t.cancel && t.getevents && t.pgetevents ? "all set" : "missing");
	printf("sizes: iocb %u, io_event %u\n", (unsigned)sizeof(struct iocb),
	       (unsigned)sizeof(struct io_event));

	fill(&iocb);
	io_prep_pread(&iocb, 7, FAKE_BUF, 0x11223344u, OFFSET);
	dump("io_prep_pread", &iocb, NULL);

	fill(&iocb);
	io_prep_pwrite(&iocb, -3, FAKE_BUF, (size_t)-1, -OFFSET);
	dump("io_prep_pwrite", &iocb, NULL);

	fill(&iocb);
	io_prep_preadv(&iocb, 7, FAKE_IOV, 3, OFFSET);
	dump("io_prep_preadv", &iocb, NULL);

	fill(&iocb);
	io_prep_pwritev(&iocb, 7, FAKE_IOV, -1, OFFSET);
	dump("io_prep_pwritev", &iocb, NULL);

	fill(&iocb);
	io_prep_preadv2(&iocb, 7, FAKE_IOV, 3, OFFSET, 0x8);
	dump("io_prep_preadv2", &iocb, NULL);

	fill(&iocb);
	io_prep_pwritev2(&iocb, 7, FAKE_IOV, 2, OFFSET, -1);
	dump("io_prep_pwritev2", &iocb, NULL);

	fill(&iocb);
	io_prep_poll(&iocb, 9, 0x1 | 0x4);
	dump("io_prep_poll", &iocb, NULL);

	fill(&iocb);
	io_prep_fsync(&iocb, 11);
	dump("io_prep_fsync", &iocb, NULL);

	fill(&iocb);
	io_prep_fdsync(&iocb, 12);
	dump("io_prep_fdsync", &iocb, NULL);

	fill(&iocb);
	io_prep_pread(&iocb, 7, FAKE_BUF, 16, 0);
	io_set_eventfd(&iocb, 42);
	dump("io_set_eventfd after prep", &iocb, NULL);

	fill(&iocb);
	io_set_eventfd(&iocb, 43);
	dump("io_set_eventfd on a pattern", &iocb, NULL);

	fill(&iocb);
	io_set_callback(&iocb, on_done);
	dump("io_set_callback", &iocb, on_done);

	fill(&iocb);
	ret = io_poll(FAKE_CTX, &iocb, on_done, 9, 0x1);
	dump_submit("io_poll", ret, &iocb);
	dump("io_poll", &iocb, on_done);

	fill(&iocb);
	ret = io_fsync(FAKE_CTX, &iocb, on_done, 11);
	dump_submit("io_fsync", ret, &iocb);
	dump("io_fsync", &iocb, on_done);

	fill(&iocb);
	ret = io_fdsync(FAKE_CTX, &iocb, on_done, 12);
	dump_submit("io_fdsync", ret, &iocb);
	dump("io_fdsync", &iocb, on_done);

	return 0;
}

#endif /* FNPTR_RUN */
