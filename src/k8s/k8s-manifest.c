/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "errmsg.h"
#include "k8s-manifest.h"
#include "k8s-yaml.h"
#include "macro.h"

#define MAX_OBJECTS 10000
#define MAX_DIR_DEPTH 8

void k8s_manifest_set_done(K8sManifestSet *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++) {
                cJSON_Delete(s->items[i].obj);
                free(s->items[i].file);
        }
        free(s->items);
        s->items = NULL;
        s->n = 0;
}

static const char *str_at(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Takes ownership of obj. */
static int add_object(K8sManifestSet *s, cJSON *obj, const char *file, unsigned line, char **reterr) {
        if (!cJSON_IsObject(obj)) {
                cJSON_Delete(obj);
                return errmsg_set(reterr, -EINVAL, "%s:%u: a manifest must be a mapping", file, line);
        }
        const char *api_version = str_at(obj, "apiVersion"), *kind = str_at(obj, "kind");
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        const char *name = str_at(meta, "name");
        const char *missing = !api_version ? "apiVersion" : !kind ? "kind" : !name ? "metadata.name" : NULL;
        if (missing) {
                cJSON_Delete(obj);
                return errmsg_set(reterr, -EINVAL, "%s:%u: object has no %s", file, line, missing);
        }
        if (s->n >= MAX_OBJECTS) {
                cJSON_Delete(obj);
                return errmsg_set(reterr, -E2BIG, "%s:%u: more than %d objects", file, line, MAX_OBJECTS);
        }
        K8sManifest *a = realloc(s->items, (s->n + 1) * sizeof(K8sManifest));
        if (!a) {
                cJSON_Delete(obj);
                return -ENOMEM;
        }
        s->items = a;
        char *f = strdup(file);
        if (!f) {
                cJSON_Delete(obj);
                return -ENOMEM;
        }
        s->items[s->n++] = (K8sManifest){
                .obj = obj,
                .file = f,
                .line = line,
                .api_version = api_version,
                .kind = kind,
                .name = name,
                .namespace = str_at(meta, "namespace"),
        };
        return 0;
}

static int add_docs(K8sManifestSet *s, K8sYamlDocs *docs, const char *name, char **reterr) {
        int r;
        for (size_t i = 0; i < docs->n; i++) {
                cJSON *obj = TAKE_PTR(docs->docs[i].json);
                unsigned line = docs->docs[i].line;
                const char *kind = str_at(obj, "kind");
                const cJSON *items = cJSON_GetObjectItemCaseSensitive(obj, "items");
                if (kind && streq(kind, "List") && cJSON_IsArray(items)) {
                        cJSON *item;
                        while ((item = cJSON_DetachItemFromArray(
                                        cJSON_GetObjectItemCaseSensitive(obj, "items"), 0))) {
                                r = add_object(s, item, name, line, reterr);
                                if (r < 0) {
                                        cJSON_Delete(obj);
                                        return r;
                                }
                        }
                        cJSON_Delete(obj);
                        continue;
                }
                r = add_object(s, obj, name, line, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}

int k8s_manifest_set_add_buffer(
        K8sManifestSet *s, const char *buf, size_t len, const char *name, char **reterr) {
        _cleanup_(k8s_yaml_docs_done) K8sYamlDocs docs = {};
        int r = k8s_yaml_parse(buf, len, name, &docs, reterr);
        if (r < 0)
                return r;
        return add_docs(s, &docs, name, reterr);
}

int k8s_manifest_set_add_file(K8sManifestSet *s, const char *path, char **reterr) {
        _cleanup_(k8s_yaml_docs_done) K8sYamlDocs docs = {};
        int r = k8s_yaml_parse_file(path, &docs, reterr);
        if (r < 0)
                return r;
        return add_docs(s, &docs, path, reterr);
}

static bool is_yaml_name(const char *n) {
        size_t l = strlen(n);
        return (l > 5 && streq(n + l - 5, ".yaml")) || (l > 4 && streq(n + l - 4, ".yml"));
}

static int filter_visible(const struct dirent *d) {
        return d->d_name[0] != '.';
}

static int add_dir(K8sManifestSet *s, const char *dir, unsigned depth, char **reterr) {
        struct dirent **list = NULL;
        int n, r = 0;

        if (depth > MAX_DIR_DEPTH)
                return errmsg_set(
                        reterr, -ELOOP, "%s: directories nested deeper than %d", dir, MAX_DIR_DEPTH);
        n = scandir(dir, &list, filter_visible, alphasort);
        if (n < 0)
                return errmsg_set(reterr, -errno, "%s: %m", dir);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                if (r >= 0 && asprintf(&p, "%s/%s", dir, list[i]->d_name) < 0) {
                        p = NULL;
                        r = -ENOMEM;
                }
                if (r >= 0 && stat(p, &st) < 0)
                        r = errmsg_set(reterr, -errno, "%s: %m", p);
                if (r >= 0 && S_ISDIR(st.st_mode))
                        r = add_dir(s, p, depth + 1, reterr);
                else if (r >= 0 && S_ISREG(st.st_mode) && is_yaml_name(list[i]->d_name))
                        r = k8s_manifest_set_add_file(s, p, reterr);
                free(list[i]);
        }
        free(list);
        return r;
}

int k8s_manifest_set_add_dir(K8sManifestSet *s, const char *dir, char **reterr) {
        return add_dir(s, dir, 0, reterr);
}

unsigned k8s_kind_rank(const char *kind) {
        static const char *const order[] = {
                "Namespace",
                "CustomResourceDefinition",
                "PriorityClass",
                "StorageClass",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "ConfigMap",
                "Secret",
                "Service",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "Deployment",
                "StatefulSet",
                "DaemonSet",
                "ReplicaSet",
                "Job",
                "CronJob",
                "Pod",
        };
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (streq(kind, order[i]))
                        return (unsigned) i;
        return (unsigned) ELEMENTSOF(order);
}

void k8s_manifest_set_sort(K8sManifestSet *s) {
        /* Insertion sort: stable, and manifest sets are small. */
        for (size_t i = 1; i < s->n; i++) {
                K8sManifest m = s->items[i];
                unsigned rank = k8s_kind_rank(m.kind);
                size_t j = i;
                while (j > 0 && k8s_kind_rank(s->items[j - 1].kind) > rank) {
                        s->items[j] = s->items[j - 1];
                        j--;
                }
                s->items[j] = m;
        }
}
