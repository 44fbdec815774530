/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/* A set of Kubernetes objects read from YAML files, each remembering where it came from, so every later
 * error can name the file and line. */

typedef struct K8sManifest {
        cJSON *obj;
        char *file;
        unsigned line;
        /* Convenience views into obj (never NULL after loading). */
        const char *api_version;
        const char *kind;
        const char *name;
        const char *namespace; /* NULL when not set */
} K8sManifest;

typedef struct K8sManifestSet {
        K8sManifest *items;
        size_t n;
} K8sManifestSet;

void k8s_manifest_set_done(K8sManifestSet *s);

/* Adds every document of one YAML file. A `kind: List` is flattened into its items. Each object must have
 * apiVersion, kind and metadata.name (strings). Errors name file:line in *reterr (errmsg.h). */
int k8s_manifest_set_add_file(K8sManifestSet *s, const char *path, char **reterr);
/* Adds an in-memory YAML stream; `name` stands for the file in messages. */
int k8s_manifest_set_add_buffer(
        K8sManifestSet *s, const char *buf, size_t len, const char *name, char **reterr);
/* Adds every *.yaml / *.yml file below `dir` (recursively, in name order; hidden entries skipped). */
int k8s_manifest_set_add_dir(K8sManifestSet *s, const char *dir, char **reterr);

/* Apply order: Namespaces, CRDs, ServiceAccounts and RBAC, ConfigMaps and Secrets, Services, PVCs,
 * workloads, anything else last. Lower applies first. */
unsigned k8s_kind_rank(const char *kind);
/* Stable sort of the set into apply order. */
void k8s_manifest_set_sort(K8sManifestSet *s);
