/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "shipper-discovery.h"

struct Discovery {
        sd_event *event;
        char **globs;
        char **dirs; /* watched */
        sd_event_source **watches;
        size_t n_dirs, n_glob_dirs; /* the globs' directories first, then those of tracked files */
        void (*changed)(void *userdata);
        void *userdata;
};

static int on_dir_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Discovery *d = userdata;
        d->changed(d->userdata);
        return 0;
}

static int watch_dir(Discovery *d, const char *dir) {
        sd_event_source **ws;
        char **ds;
        int r;

        for (size_t i = 0; i < d->n_dirs; i++)
                if (streq(d->dirs[i], dir))
                        return 0;
        ws = reallocarray(d->watches, d->n_dirs + 1, sizeof(*ws));
        if (!ws)
                return -ENOMEM;
        d->watches = ws;
        ds = reallocarray(d->dirs, d->n_dirs + 1, sizeof(*ds));
        if (!ds)
                return -ENOMEM;
        d->dirs = ds;
        r = sd_event_add_inotify(
                d->event,
                &ws[d->n_dirs],
                dir,
                IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR,
                on_dir_event,
                d);
        if (r < 0) {
                log_warning_errno(r, "Cannot watch %s (relying on the rescan every few seconds): %m", dir);
                return 0;
        }
        ds[d->n_dirs] = strdup(dir);
        if (!ds[d->n_dirs]) {
                ws[d->n_dirs] = sd_event_source_disable_unref(ws[d->n_dirs]);
                return -ENOMEM;
        }
        d->n_dirs++;
        return 0;
}

int discovery_new(
        sd_event *e, char *const *globs, void (*changed)(void *userdata), void *userdata, Discovery **ret) {
        Discovery *d;
        size_t n = 0;
        int r;

        d = new0(Discovery, 1);
        if (!d)
                return log_oom();
        d->event = sd_event_ref(e);
        d->changed = changed;
        d->userdata = userdata;
        while (globs[n])
                n++;
        d->globs = new0(char *, n + 1);
        if (!d->globs) {
                discovery_free(d);
                return log_oom();
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *copy = strdup(globs[i]);
                const char *dir;

                d->globs[i] = strdup(globs[i]);
                if (!d->globs[i] || !copy) {
                        discovery_free(d);
                        return log_oom();
                }
                dir = dirname(copy);
                if (strpbrk(dir, "*?["))
                        continue;
                r = watch_dir(d, dir);
                if (r < 0) {
                        discovery_free(d);
                        return log_oom();
                }
        }
        d->n_glob_dirs = d->n_dirs;
        *ret = d;
        return 0;
}

Discovery *discovery_free(Discovery *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_dirs; i++) {
                sd_event_source_disable_unref(d->watches[i]);
                free(d->dirs[i]);
        }
        free(d->watches);
        free(d->dirs);
        strv_free(d->globs);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

int discovery_watch_file_dir(Discovery *d, const char *path) {
        _cleanup_free_ char *real = realpath(path, NULL);

        if (!real)
                return -errno;
        return watch_dir(d, dirname(real));
}

/* The watches of tracked files' directories that are gone (a deleted pod's) are dropped. */
static void prune_watches(Discovery *d) {
        for (size_t i = d->n_glob_dirs; i < d->n_dirs;) {
                if (access(d->dirs[i], F_OK) == 0) {
                        i++;
                        continue;
                }
                sd_event_source_disable_unref(d->watches[i]);
                free(d->dirs[i]);
                d->n_dirs--;
                d->watches[i] = d->watches[d->n_dirs];
                d->dirs[i] = d->dirs[d->n_dirs];
        }
}

void discovery_scan(Discovery *d, void (*found)(const char *path, void *userdata), void *userdata) {
        prune_watches(d);
        for (char **g = d->globs; *g; g++) {
                glob_t gl = {0};
                if (glob(*g, GLOB_NOSORT, NULL, &gl) == 0)
                        for (size_t i = 0; i < gl.gl_pathc; i++)
                                found(gl.gl_pathv[i], userdata);
                globfree(&gl);
        }
}
