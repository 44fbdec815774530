/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "k8s-client.h"
#include "k8s-manifest.h"

/* Server-side apply of a manifest set, in dependency order, with pruning.
 *
 * Each object is sent as PATCH …?fieldManager=<manager>&force=true with Content-Type
 * application/apply-patch+yaml (JSON being YAML). Objects get two labels: app.kubernetes.io/managed-by
 * (the field manager) and K8S_INVENTORY_LABEL (the inventory name). Pruning then lists every resource type
 * the server lists and deletes, selects the inventory label, and deletes what is no longer in the set and
 * was applied by this field manager (managedFields), so objects that merely copy labels (EndpointSlices)
 * are left alone. A kind the discovery table does not know triggers one rediscovery (a CRD applied just
 * before); if it is still unknown the apply stops with a RETRY result. The first failing object stops the
 * apply; its file:line, kind, name and the server's message make up the result's message. */

#define K8S_FIELD_MANAGER "otel-supervisor"
#define K8S_INVENTORY_LABEL "otel.appliance/inventory"
#define K8S_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"

typedef struct K8sApplyOptions {
        const char *field_manager;     /* NULL: K8S_FIELD_MANAGER */
        const char *inventory;         /* inventory label value; NULL: "default" */
        const char *default_namespace; /* for namespaced objects without one; NULL: the kubeconfig's */
        bool dry_run;                  /* dryRun=All; never prunes */
        bool prune;
} K8sApplyOptions;

typedef struct K8sObjectRef {
        char *api_version;
        char *kind;
        char *namespace; /* NULL for cluster-scoped objects */
        char *name;
        char *uid;
        char *resource_version;
} K8sObjectRef;

typedef struct K8sApplyResult {
        K8sResultClass result;
        char message[2048];
        K8sObjectRef *applied; /* in apply order */
        size_t n_applied;
        K8sObjectRef *pruned;
        size_t n_pruned;
        int64_t retry_after; /* seconds suggested by the server, -1 when none */
} K8sApplyResult;

typedef void (*K8sApplyHandler)(K8sClient *c, const K8sApplyResult *r, void *userdata);

/* Copies what it needs from `set`; the handler is called once, from the loop. Returns -ENODATA for an empty
 * set with pruning (that would delete everything applied before: rather a missing manifests directory). */
int k8s_apply(
        K8sClient *c,
        const K8sManifestSet *set,
        const K8sApplyOptions *opts,
        K8sApplyHandler handler,
        void *userdata);

const K8sObjectRef *k8s_apply_result_find(const K8sApplyResult *r, const char *kind, const char *name);
