/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "shipper-manager.h"
#include "util.h"

static int on_file_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        ShipperFile *f = userdata;
        Manager *m = f->manager;

        if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB | IN_IGNORED))
                manager_schedule_rescan(m);
        /* A paused file is not read, but a copytruncate must be noticed at
         * once: the copy is only found while it still has this generation's
         * first bytes, i.e. before the next rotation. */
        if (f->paused && !f->rotated)
                (void) shipper_file_check(f);
        manager_mark_ready(m, f);
        return 0;
}

static int on_dir_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        manager_schedule_rescan(userdata);
        return 0;
}

static bool dir_watched(Manager *m, const char *dir) {
        for (size_t i = 0; i < m->n_watched_dirs; i++)
                if (streq(m->watched_dirs[i], dir))
                        return true;
        return false;
}

/* Adds an inotify watch for new and moved files in dir; every event schedules a rescan. */
static int watch_dir(Manager *m, const char *dir) {
        sd_event_source **ws;
        char **ds;
        int r;

        if (dir_watched(m, dir))
                return 0;
        ws = reallocarray(m->dir_watches, m->n_watched_dirs + 1, sizeof(*ws));
        if (!ws)
                return log_oom();
        m->dir_watches = ws;
        ds = reallocarray(m->watched_dirs, m->n_watched_dirs + 1, sizeof(*ds));
        if (!ds)
                return log_oom();
        m->watched_dirs = ds;
        ds[m->n_watched_dirs] = strdup(dir);
        if (!ds[m->n_watched_dirs])
                return log_oom();
        r = sd_event_add_inotify(
                m->event,
                &ws[m->n_watched_dirs],
                dir,
                IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR,
                on_dir_event,
                m);
        if (r < 0) {
                free(ds[m->n_watched_dirs]);
                return r;
        }
        m->n_watched_dirs++;
        return 0;
}

/* Watches the directory part of every glob (when it has no wildcard) for new
 * and moved files; everything else is found by the periodic rescan. */
int manager_watch_dirs(Manager *m) {
        for (char **g = m->globs; *g; g++) {
                _cleanup_free_ char *copy = strdup(*g);
                const char *dir;
                int r;

                if (!copy)
                        return log_oom();
                dir = dirname(copy);
                if (strpbrk(dir, "*?["))
                        continue;
                r = watch_dir(m, dir);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_warning_errno(
                                r, "Cannot watch %s (relying on the rescan every few seconds): %m", dir);
        }
        m->n_glob_dirs = m->n_watched_dirs;
        return 0;
}

/* The directory a tracked file really lives in (the kubelet's /var/log/pods/<pod>/<container>/ behind
 * a /var/log/containers symlink) is watched too: when the file is rotated (renamed), the runtime
 * creates the next generation there, and the glob's directory sees nothing of it. Without the watch the
 * new file would only be found by the periodic rescan — and a generation that is itself rotated away
 * before that (a busy container whose log reaches the rotation size within seconds) would never be read
 * at all. Watches of directories that are gone are dropped by the rescan. */
static void watch_real_dir(Manager *m, const char *path) {
        _cleanup_free_ char *real = realpath(path, NULL);
        const char *dir;
        int r;

        if (!real)
                return;
        dir = dirname(real);
        r = watch_dir(m, dir);
        if (r < 0)
                log_debug_errno(r, "Cannot watch %s (relying on the rescan): %m", dir);
}

static void prune_dir_watches(Manager *m) {
        for (size_t i = m->n_glob_dirs; i < m->n_watched_dirs;) {
                struct stat st;
                if (stat(m->watched_dirs[i], &st) == 0) {
                        i++;
                        continue;
                }
                sd_event_source_disable_unref(m->dir_watches[i]);
                free(m->watched_dirs[i]);
                m->n_watched_dirs--;
                m->dir_watches[i] = m->dir_watches[m->n_watched_dirs];
                m->watched_dirs[i] = m->watched_dirs[m->n_watched_dirs];
        }
}

static ShipperFile *find_file(Manager *m, dev_t dev, ino_t ino) {
        for (ShipperFile *f = m->files; f; f = f->next)
                if (f->dev == dev && f->ino == ino)
                        return f;
        return NULL;
}

static int add_file(Manager *m, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        ShipperFile *f;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return log_debug_errno(errno, "%s: cannot open: %m", path);
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return 0;
        f = find_file(m, st.st_dev, st.st_ino);
        if (f) {
                f->seen = true;
                return 0;
        }
        r = shipper_file_open(m, path, fd, &st, &f);
        if (r < 0)
                return log_error_errno(r, "%s: cannot track: %m", path);
        TAKE_FD(fd);
        f->seen = true;
        f->next = m->files;
        m->files = f;
        m->n_files++;
        m->stats.files_opened++;
        r = sd_event_add_inotify(
                m->event,
                &f->watch,
                path,
                IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB,
                on_file_event,
                f);
        if (r < 0)
                log_debug_errno(r, "%s: no inotify watch, polling: %m", path);
        watch_real_dir(m, path);
        log_info("Tracking %s from offset %llu", path, (unsigned long long) f->committed);
        manager_mark_ready(m, f);
        manager_schedule_commit(m);
        return 0;
}

static void remove_file(Manager *m, ShipperFile *f) {
        ShipperFile **p = &m->files;
        while (*p && *p != f)
                p = &(*p)->next;
        if (!*p)
                return;
        *p = f->next;
        if (f->ready) {
                /* Rebuild the ready list without it. */
                ShipperFile *l = m->ready_head;
                m->ready_head = m->ready_tail = NULL;
                while (l) {
                        ShipperFile *n = l->ready_next;
                        l->ready = false;
                        if (l != f)
                                manager_mark_ready(m, l);
                        l = n;
                }
        }
        m->n_files--;
        m->stats.files_closed++;
        log_info("Done with %s (rotated or deleted, read to its end)", f->path);
        shipper_file_free(f);
        manager_schedule_commit(m);
}

int manager_rescan(Manager *m) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        prune_dir_watches(m);
        for (ShipperFile *f = m->files; f; f = f->next)
                f->seen = false;
        for (char **g = m->globs; *g; g++) {
                glob_t gl = {0};
                int k = glob(*g, GLOB_NOSORT, NULL, &gl);
                if (k == 0)
                        for (size_t i = 0; i < gl.gl_pathc; i++)
                                (void) add_file(m, gl.gl_pathv[i]);
                globfree(&gl);
        }

        for (ShipperFile *f = m->files, *next; f; f = next) {
                struct stat st, fst;
                next = f->next;
                if (!f->rotated)
                        (void) shipper_file_check(f);
                if (!f->rotated) {
                        bool gone = stat(f->path, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino ||
                                    (fstat(f->fd, &fst) == 0 && fst.st_nlink == 0);
                        if (gone) {
                                log_info(
                                        "%s was rotated or deleted; reading the old file to its end",
                                        f->path);
                                f->rotated = true;
                                m->stats.rotations++;
                                manager_mark_ready(m, f);
                        }
                }
                /* A rotated file is let go once it was read to the end, all of
                 * it was acknowledged and nothing was written for rotate-wait. */
                if (f->rotated && f->at_eof && !f->filling && !f->queue_head && !f->reader.asm_.pending &&
                    now >= f->last_data_usec + (uint64_t) m->config->rotate_wait_nsec / 1000) {
                        /* One last read: a writer may still have appended. */
                        if (shipper_file_read(f, SIZE_MAX) == 1 && !f->filling)
                                remove_file(m, f);
                }
        }
        return 0;
}
