/* A libaio program for scripts/check-install: writes and reads back a
 * block of FILE through io_submit/io_getevents, submits one iocb with a bad
 * descriptor (io_submit must return -EBADF), and prints "ok" and the path
 * of the libaio it runs on (from /proc/self/maps: the mapping that holds
 * io_submit). Built against whichever <libaio.h> and library the build
 * command names. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int r)
{
    fprintf(stderr, "app: %s: %d\n", what, r);
    return 1;
}

/* The file mapped at `addr`, from /proc/self/maps. */
static void mapping_of(const void *addr, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    snprintf(out, len, "?");
    while (f && fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        char path[900] = "";
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %899s", &lo, &hi, path) >= 2 &&
            (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            snprintf(out, len, "%s", path);
            break;
        }
    }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fail("usage: app FILE", 2);
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return fail("open", -1);
    io_context_t ctx = 0;
    int r = io_setup(8, &ctx);
    if (r)
        return fail("io_setup", r);
    char wbuf[4096], rbuf[4096];
    memset(wbuf, 0x5a, sizeof wbuf);
    memset(rbuf, 0, sizeof rbuf);
    struct iocb cb, *list[1] = {&cb};
    struct io_event ev;
    io_prep_pwrite(&cb, fd, wbuf, sizeof wbuf, 0);
    if ((r = io_submit(ctx, 1, list)) != 1)
        return fail("io_submit write", r);
    if ((r = io_getevents(ctx, 1, 1, &ev, NULL)) != 1 || ev.res != sizeof wbuf)
        return fail("write event", r);
    io_prep_pread(&cb, fd, rbuf, sizeof rbuf, 0);
    if ((r = io_submit(ctx, 1, list)) != 1)
        return fail("io_submit read", r);
    if ((r = io_getevents(ctx, 1, 1, &ev, NULL)) != 1 || ev.res != sizeof rbuf)
        return fail("read event", r);
    if (memcmp(wbuf, rbuf, sizeof rbuf))
        return fail("read back differs", 0);
    io_prep_pread(&cb, -1, rbuf, sizeof rbuf, 0);
    if ((r = io_submit(ctx, 1, list)) != -EBADF)
        return fail("io_submit with a bad descriptor", r);
    if ((r = io_destroy(ctx)))
        return fail("io_destroy", r);
    char lib[900];
    mapping_of(dlsym(RTLD_DEFAULT, "io_submit"), lib, sizeof lib);
    printf("ok %s\n", lib);
    return 0;
}
