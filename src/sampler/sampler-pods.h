/* SPDX-License-Identifier: MIT */
#pragma once

/* Which pods run on the node: the kubepods cgroups below the cgroup root, named through the kubelet's
 * <namespace>_<name>_<uid> directories of /var/log/pods. */

/* Calls found() for every pod cgroup below cgroup_root (kubepods…/…pod<uid>…), with namespace
 * and name from pods_log_dir (<namespace>_<name>_<uid>; "unknown" and the uid when absent). */
typedef int (*ResourcePodFound)(
        const char *namespace_, const char *name, const char *uid, const char *dir, void *userdata);
int resources_find_pods(
        const char *cgroup_root, const char *pods_log_dir, ResourcePodFound found, void *userdata);
