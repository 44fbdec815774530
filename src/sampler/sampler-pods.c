/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "sampler-pods.h"

/* The pod uid in a cgroup directory name: "kubepods-burstable-pod<uid>.slice" (systemd driver, '_' for
 * '-') or "pod<uid>" (cgroupfs driver). */
static bool pod_uid_of(const char *name, char *uid, size_t size) {
        const char *p, *end;
        size_t n;

        if (startswith(name, "pod"))
                p = name + 3;
        else {
                p = strstr(name, "-pod");
                if (!p)
                        return false;
                p += 4;
        }
        /* ".slice" ends the name: "…pod<uid>.slice.old" (a directory being replaced) is no pod. */
        end = strstr(p, ".slice");
        if (end && end[strlen(".slice")] != 0)
                return false;
        n = end ? (size_t) (end - p) : strlen(p);
        if (n < 8 || n >= size)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                if (c == '_')
                        c = '-';
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
                        return false;
                uid[i] = c;
        }
        uid[n] = 0;
        return true;
}

typedef struct PodNames {
        char **entries; /* "<namespace>_<name>_<uid>" */
        size_t n;
} PodNames;

static void pod_names_done(PodNames *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->entries[i]);
        free(p->entries);
}

static int pod_names_load(const char *dir, PodNames *ret) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                char **a;
                if (de->d_name[0] == '.' || !strchr(de->d_name, '_'))
                        continue;
                a = realloc(ret->entries, (ret->n + 1) * sizeof(char *));
                if (!a)
                        return -ENOMEM;
                ret->entries = a;
                a[ret->n] = strdup(de->d_name);
                if (!a[ret->n])
                        return -ENOMEM;
                ret->n++;
        }
        return 0;
}

typedef struct PodWalk {
        const PodNames *names;
        ResourcePodFound found;
        void *userdata;
} PodWalk;

static int pod_report(PodWalk *w, const char *uid, const char *dir) {
        size_t ul = strlen(uid);

        for (size_t i = 0; i < w->names->n; i++) {
                const char *e = w->names->entries[i], *u1, *u2;
                size_t el = strlen(e);
                char ns[256], name[256];

                if (el <= ul + 1 || strcmp(e + el - ul, uid) != 0 || e[el - ul - 1] != '_')
                        continue;
                u1 = strchr(e, '_');
                u2 = e + el - ul - 1;
                if (u1 >= u2 || (size_t) (u1 - e) >= sizeof(ns) || (size_t) (u2 - u1 - 1) >= sizeof(name))
                        continue;
                memcpy(ns, e, (size_t) (u1 - e));
                ns[u1 - e] = 0;
                memcpy(name, u1 + 1, (size_t) (u2 - u1 - 1));
                name[u2 - u1 - 1] = 0;
                return w->found(ns, name, uid, dir, w->userdata);
        }
        return w->found("unknown", uid, uid, dir, w->userdata);
}

static int pod_walk(PodWalk *w, const char *dir, unsigned depth, bool in_kubepods) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        int r;

        if (!d)
                return depth == 0 ? -errno : 0;
        while ((de = readdir(d))) {
                char path[PATH_MAX], uid[64];
                bool kube;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
                        continue;
                kube = in_kubepods || startswith(de->d_name, "kubepods");
                if (in_kubepods && pod_uid_of(de->d_name, uid, sizeof(uid))) {
                        r = pod_report(w, uid, path);
                        if (r < 0)
                                return r;
                        continue; /* containers below belong to the pod */
                }
                if (depth < 4 && (kube || depth == 0)) {
                        r = pod_walk(w, path, depth + 1, kube);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int resources_find_pods(
        const char *cgroup_root, const char *pods_log_dir, ResourcePodFound found, void *userdata) {
        PodNames names = {0};
        PodWalk w = {.names = &names, .found = found, .userdata = userdata};
        int r;

        r = pods_log_dir ? pod_names_load(pods_log_dir, &names) : 0;
        if (r >= 0) {
                /* cgroup v1 mounts one hierarchy per controller below the root: the pods are found in the
                 * memory hierarchy (every controller has the same tree). v2 has one tree, with
                 * cgroup.controllers at its root. */
                char v1[PATH_MAX], probe[PATH_MAX];
                struct stat st;
                if ((size_t) snprintf(probe, sizeof(probe), "%s/cgroup.controllers", cgroup_root) <
                            sizeof(probe) &&
                    access(probe, F_OK) < 0 &&
                    (size_t) snprintf(v1, sizeof(v1), "%s/memory", cgroup_root) < sizeof(v1) &&
                    stat(v1, &st) == 0 && S_ISDIR(st.st_mode))
                        r = pod_walk(&w, v1, 0, false);
                else
                        r = pod_walk(&w, cgroup_root, 0, false);
        }
        pod_names_done(&names);
        return r;
}
