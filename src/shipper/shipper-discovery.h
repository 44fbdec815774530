/* SPDX-License-Identifier: MIT */
#pragma once

/* Discovery: which paths the configured globs match, and inotify watches on the directory part of every
 * glob (when it has no wildcard), so that new and moved files are found at once; everything else is found
 * by the periodic rescan. */

#include <systemd/sd-event.h>

typedef struct Discovery Discovery;

/* changed() is called when a watched directory gains, loses or renames an entry. */
int discovery_new(
        sd_event *e, char *const *globs, void (*changed)(void *userdata), void *userdata, Discovery **ret);
Discovery *discovery_free(Discovery *d);
/* Also watches the directory a tracked file really lives in (the kubelet's /var/log/pods/<pod>/<container>/
 * behind a /var/log/containers symlink): when the file is rotated (renamed), the runtime creates the next
 * generation there, and the glob's directory sees nothing of it. Without the watch the new file would only
 * be found by the periodic rescan, and a generation rotated away again before that (a busy container whose
 * log reaches the rotation size within seconds) would never be read at all. Watches of directories that are
 * gone are dropped by the next scan. Returns 0 or a negative errno (the rescan still finds the file). */
int discovery_watch_file_dir(Discovery *d, const char *path);
/* Calls found() for every path the globs match now. */
void discovery_scan(Discovery *d, void (*found)(const char *path, void *userdata), void *userdata);
