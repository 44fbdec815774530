/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "supervisor-watch.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)

struct DirWatch {
        int fd;
        sd_event_source *source;
        DirWatchChanged changed;
        void *userdata;
};

DirWatch *dir_watch_free(DirWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->source);
        safe_close(w->fd);
        free(w);
        return NULL;
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DirWatch *w = userdata;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool relevant = false;
        ssize_t k;

        while ((k = read(fd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p + sizeof(struct inotify_event) <= buf + k;) {
                        struct inotify_event e;

                        /* Copied out rather than cast: the compiler cannot see the buffer's alignment. */
                        memcpy(&e, p, sizeof(e));
                        if (e.len == 0 || p[sizeof(e)] != '.')
                                relevant = true;
                        p += sizeof(e) + e.len;
                }
        if (relevant)
                w->changed(w->userdata);
        return 0;
}

int dir_watch_new(
        sd_event *event,
        const char *dir,
        const char *description,
        DirWatchChanged changed,
        void *userdata,
        DirWatch **ret) {
        _cleanup_(dir_watch_freep) DirWatch *w = NULL;
        struct dirent **list = NULL;
        int n, r;

        w = new0(DirWatch, 1);
        if (!w)
                return -ENOMEM;
        w->changed = changed;
        w->userdata = userdata;
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0)
                return -errno;
        if (inotify_add_watch(w->fd, dir, WATCH_MASK) < 0)
                return -errno;
        n = scandir(dir, &list, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;

                if (list[i]->d_name[0] != '.' &&
                    snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) < (int) sizeof(path) &&
                    stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                        (void) inotify_add_watch(w->fd, path, WATCH_MASK);
                free(list[i]);
        }
        free(list);
        r = sd_event_add_io(event, &w->source, w->fd, EPOLLIN, on_inotify, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, description);
        *ret = TAKE_PTR(w);
        return 0;
}
