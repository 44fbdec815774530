/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for the integration tests: every fsync() and fdatasync() takes SLOW_FSYNC_MS longer, as on
 * a disk under load. It makes the window between a checkpoint write's start and its end wide enough for a
 * test to kill the shipper inside it at will. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void slow_down(void) {
        const char *s = getenv("SLOW_FSYNC_MS");
        char *end;
        long ms;

        if (!s)
                return;
        errno = 0;
        ms = strtol(s, &end, 10);
        if (errno != 0 || *end || ms <= 0)
                return;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int fsync(int fd) {
        static int (*real)(int);

        if (!real)
                real = (int (*)(int)) dlsym(RTLD_NEXT, "fsync");
        slow_down();
        return real(fd);
}

int fdatasync(int fd) {
        static int (*real)(int);

        if (!real)
                real = (int (*)(int)) dlsym(RTLD_NEXT, "fdatasync");
        slow_down();
        return real(fd);
}
