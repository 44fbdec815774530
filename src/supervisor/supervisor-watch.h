/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

/* Watches a directory and its subdirectories one level deep (as the manifests are laid out:
 * manifests/<component>/) with inotify for files written, created, moved or deleted. Entries whose name
 * starts with '.' (editors' temporary files) do not count. */

typedef struct DirWatch DirWatch;
/* Called once for each batch of relevant events read from the loop. */
typedef void (*DirWatchChanged)(void *userdata);

int dir_watch_new(
        sd_event *event,
        const char *dir,
        const char *description,
        DirWatchChanged changed,
        void *userdata,
        DirWatch **ret);
DirWatch *dir_watch_free(DirWatch *w);
static inline void dir_watch_freep(DirWatch **w) {
        if (*w)
                dir_watch_free(*w);
}
