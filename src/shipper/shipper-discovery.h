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
/* Calls found() for every path the globs match now. */
void discovery_scan(Discovery *d, void (*found)(const char *path, void *userdata), void *userdata);
