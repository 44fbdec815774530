/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-libs.h"
#include "cleanup.h"
#include "k8s-apply.h"
#include "log.h"
#include "macro.h"

typedef struct Pending {
        cJSON *obj; /* labelled copy */
        char *file;
        unsigned line;
        const char *api_version, *kind, *name;
        char *namespace;
} Pending;

typedef struct Victim {
        K8sResource res; /* borrowed strings from a copied table entry (owned below) */
        K8sObjectRef ref;
        unsigned rank;
} Victim;

typedef enum Phase {
        PHASE_DISCOVER,
        PHASE_APPLY,
        PHASE_PRUNE_LIST,
        PHASE_PRUNE_DELETE,
} Phase;

typedef struct Apply {
        K8sClient *client;
        K8sOp *op;
        char *field_manager, *inventory, *default_namespace;
        bool dry_run, prune;

        Pending *objs;
        size_t n_objs, next;
        size_t rediscovered_for; /* index+1 of the object that caused the last rediscovery */

        K8sResourceTable scan; /* resource types to list for pruning */
        size_t next_scan;
        Victim *victims;
        size_t n_victims, next_victim;

        Phase phase;
        sd_event_source *start;
        K8sApplyResult result;
        K8sApplyHandler handler;
        void *userdata;
} Apply;

static void object_ref_done(K8sObjectRef *r) {
        free(r->api_version);
        free(r->kind);
        free(r->namespace);
        free(r->name);
        free(r->uid);
        free(r->resource_version);
        *r = (K8sObjectRef){};
}

static void apply_free(Apply *a) {
        if (!a)
                return;
        for (size_t i = 0; i < a->n_objs; i++) {
                cJSON_Delete(a->objs[i].obj);
                free(a->objs[i].file);
                free(a->objs[i].namespace);
        }
        free(a->objs);
        k8s_resource_table_done(&a->scan);
        for (size_t i = 0; i < a->n_victims; i++) {
                free(a->victims[i].res.group);
                free(a->victims[i].res.version);
                free(a->victims[i].res.kind);
                free(a->victims[i].res.resource);
                object_ref_done(&a->victims[i].ref);
        }
        free(a->victims);
        for (size_t i = 0; i < a->result.n_applied; i++)
                object_ref_done(&a->result.applied[i]);
        free(a->result.applied);
        for (size_t i = 0; i < a->result.n_pruned; i++)
                object_ref_done(&a->result.pruned[i]);
        free(a->result.pruned);
        free(a->field_manager);
        free(a->inventory);
        free(a->default_namespace);
        sd_event_source_disable_unref(a->start);
        k8s_client_op_remove(a->client, a->op);
        free(a);
}

/* The client is being freed: its requests are gone, the handler is not called. */
static void apply_destroy(void *userdata) {
        Apply *a = userdata;
        a->op = NULL; /* already unlinked and freed by the client */
        apply_free(a);
}

static void apply_finish(Apply *a) {
        K8sApplyHandler h = a->handler;
        void *ud = a->userdata;
        K8sClient *c = a->client;
        h(c, &a->result, ud);
        apply_free(a);
}

static void apply_fail(Apply *a, K8sResultClass cls, const char *fmt, ...) _printf_(3, 4);
static void apply_fail(Apply *a, K8sResultClass cls, const char *fmt, ...) {
        va_list ap;
        a->result.result = cls;
        va_start(ap, fmt);
        (void) vsnprintf(a->result.message, sizeof a->result.message, fmt, ap);
        va_end(ap);
        log_debug("k8s apply: %s", a->result.message);
        apply_finish(a);
}

static const char *json_str(const cJSON *o, const char *path) {
        /* Dotted path lookup: "metadata.resourceVersion". */
        char key[64];
        const char *p = path;
        const cJSON *cur = o;
        while (cur && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t) (dot - p) : strlen(p);
                if (n >= sizeof key)
                        return NULL;
                memcpy(key, p, n);
                key[n] = '\0';
                cur = cJSON_GetObjectItemCaseSensitive(cur, key);
                p = dot ? dot + 1 : p + n;
        }
        return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static int ref_fill(
        K8sObjectRef *r,
        const char *api_version,
        const char *kind,
        const char *ns,
        const char *name,
        const cJSON *server_obj) {
        const char *uid = json_str(server_obj, "metadata.uid"),
                   *rv = json_str(server_obj, "metadata.resourceVersion");
        *r = (K8sObjectRef){
                .api_version = strdup(api_version),
                .kind = strdup(kind),
                .namespace = ns ? strdup(ns) : NULL,
                .name = strdup(name),
                .uid = uid ? strdup(uid) : NULL,
                .resource_version = rv ? strdup(rv) : NULL,
        };
        if (!r->api_version || !r->kind || (ns && !r->namespace) || !r->name || (uid && !r->uid) ||
            (rv && !r->resource_version)) {
                object_ref_done(r);
                return -ENOMEM;
        }
        return 0;
}

static void apply_step(Apply *a);

static void on_rediscovered(K8sClient *c, K8sResultClass result, const char *message, void *userdata) {
        Apply *a = userdata;
        if (result != K8S_RESULT_OK)
                return apply_fail(a, result, "%s", message);
        if (a->phase == PHASE_DISCOVER)
                a->phase = PHASE_APPLY;
        apply_step(a);
}

static void on_applied(K8sClient *c, const K8sResponse *r, void *userdata) {
        Apply *a = userdata;
        Pending *p = &a->objs[a->next];

        if (r->result != K8S_RESULT_OK) {
                a->result.retry_after = r->retry_after;
                return apply_fail(
                        a,
                        r->result,
                        "%s:%u: %s %s%s%s: %s",
                        p->file,
                        p->line,
                        p->kind,
                        strempty(p->namespace),
                        p->namespace ? "/" : "",
                        p->name,
                        r->message);
        }
        K8sObjectRef *arr = realloc(a->result.applied, (a->result.n_applied + 1) * sizeof(K8sObjectRef));
        if (!arr)
                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
        a->result.applied = arr;
        if (ref_fill(&arr[a->result.n_applied], p->api_version, p->kind, p->namespace, p->name, r->json) < 0)
                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
        a->result.n_applied++;
        a->next++;
        apply_step(a);
}

static int send_apply(Apply *a, Pending *p, const K8sResource *res) {
        _cleanup_free_ char *path = NULL, *url = NULL, *body = NULL, *fm = NULL;
        int r;

        if (res->namespaced && !p->namespace) {
                p->namespace = strdup(a->default_namespace);
                if (!p->namespace)
                        return -ENOMEM;
                cJSON *meta = cJSON_GetObjectItemCaseSensitive(p->obj, "metadata");
                if (!cJSON_AddStringToObject(meta, "namespace", p->namespace))
                        return -ENOMEM;
        }
        r = k8s_resource_path(res, p->namespace, p->name, &path);
        if (r < 0)
                return r;
        fm = k8s_escape(a->field_manager);
        if (!fm)
                return -ENOMEM;
        if (asprintf(&url, "%s?fieldManager=%s&force=true%s", path, fm, a->dry_run ? "&dryRun=All" : "") < 0)
                return -ENOMEM;
        body = cJSON_PrintUnformatted(p->obj);
        if (!body)
                return -ENOMEM;
        return k8s_client_request(
                a->client, "PATCH", url, "application/apply-patch+yaml", body, on_applied, a);
}

static void prune_step(Apply *a);

static int on_start(sd_event_source *s, void *userdata) {
        Apply *a = userdata;
        apply_step(a);
        return 0;
}

static void apply_step(Apply *a) {
        int r;

        if (a->phase == PHASE_DISCOVER) {
                r = k8s_client_discover(a->client, on_rediscovered, a);
                if (r < 0)
                        return apply_fail(a, K8S_RESULT_FATAL, "discovery: %s", strerror(-r));
                return;
        }
        if (a->next < a->n_objs) {
                Pending *p = &a->objs[a->next];
                const K8sResource *res = k8s_client_find_kind(a->client, p->api_version, p->kind);
                if (!res) {
                        if (a->rediscovered_for != a->next + 1) {
                                /* Perhaps a CRD applied a moment ago: ask the server again, once. */
                                a->rediscovered_for = a->next + 1;
                                r = k8s_client_discover(a->client, on_rediscovered, a);
                                if (r < 0)
                                        return apply_fail(
                                                a, K8S_RESULT_FATAL, "discovery: %s", strerror(-r));
                                return;
                        }
                        return apply_fail(
                                a,
                                K8S_RESULT_RETRY,
                                "%s:%u: %s %s: the server has no resource for kind %s in %s "
                                "(not installed, or its CRD is not established yet)",
                                p->file,
                                p->line,
                                p->kind,
                                p->name,
                                p->kind,
                                p->api_version);
                }
                if (!res->namespaced && p->namespace)
                        return apply_fail(
                                a,
                                K8S_RESULT_FATAL,
                                "%s:%u: %s %s is cluster-scoped but sets metadata.namespace",
                                p->file,
                                p->line,
                                p->kind,
                                p->name);
                r = send_apply(a, p, res);
                if (r < 0)
                        return apply_fail(a, K8S_RESULT_FATAL, "%s:%u: %s", p->file, p->line, strerror(-r));
                return;
        }

        if (a->dry_run || !a->prune) {
                a->result.result = K8S_RESULT_OK;
                return apply_finish(a);
        }

        /* Prune: list every deletable resource type once (preferred version first, as discovery orders). */
        const K8sResourceTable *t = k8s_client_resources(a->client);
        for (size_t i = 0; i < t->n; i++) {
                const K8sResource *x = &t->items[i];
                if ((x->verbs & (K8S_VERB_LIST | K8S_VERB_DELETE)) != (K8S_VERB_LIST | K8S_VERB_DELETE))
                        continue;
                if (streq(x->kind, "Event"))
                        continue;
                bool dup = false;
                for (size_t j = 0; j < a->scan.n && !dup; j++)
                        dup = streq(a->scan.items[j].group, x->group) &&
                              streq(a->scan.items[j].resource, x->resource);
                if (dup)
                        continue;
                K8sResource *arr = realloc(a->scan.items, (a->scan.n + 1) * sizeof(K8sResource));
                if (!arr)
                        return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                a->scan.items = arr;
                arr[a->scan.n] = (K8sResource){
                        .group = strdup(x->group),
                        .version = strdup(x->version),
                        .kind = strdup(x->kind),
                        .resource = strdup(x->resource),
                        .namespaced = x->namespaced,
                        .verbs = x->verbs,
                };
                a->scan.n++;
                if (!arr[a->scan.n - 1].group || !arr[a->scan.n - 1].version || !arr[a->scan.n - 1].kind ||
                    !arr[a->scan.n - 1].resource)
                        return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
        }
        a->phase = PHASE_PRUNE_LIST;
        prune_step(a);
}

static bool managed_by(const cJSON *item, const char *manager) {
        const cJSON *mf = cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(item, "metadata"), "managedFields"),
                    *e;
        cJSON_ArrayForEach(e, mf) {
                const char *m = json_str(e, "manager"), *op = json_str(e, "operation");
                if (m && op && streq(m, manager) && streq(op, "Apply"))
                        return true;
        }
        return false;
}

static bool in_applied(Apply *a, const K8sResource *res, const char *ns, const char *name) {
        for (size_t i = 0; i < a->result.n_applied; i++) {
                const K8sObjectRef *r = &a->result.applied[i];
                const char *slash = strchr(r->api_version, '/');
                size_t glen = slash ? (size_t) (slash - r->api_version) : 0;
                if (strlen(res->group) == glen && strncmp(res->group, r->api_version, glen) == 0 &&
                    streq(r->kind, res->kind) && streq(r->name, name) && streq_ptr(r->namespace, ns))
                        return true;
        }
        return false;
}

static void on_listed(K8sClient *c, const K8sResponse *r, void *userdata) {
        Apply *a = userdata;
        const K8sResource *res = &a->scan.items[a->next_scan];

        if (r->result != K8S_RESULT_OK) {
                /* A type that cannot be listed (aggregated API down, 403/404/405) is skipped: pruning is
                 * best effort across types, the applied objects are already in place. */
                if (r->result == K8S_RESULT_RETRY && r->status == 0)
                        return apply_fail(
                                a, K8S_RESULT_RETRY, "prune: listing %s: %s", res->resource, r->message);
                log_debug("k8s apply: not pruning %s: %s", res->resource, r->message);
        } else {
                const cJSON *items = cJSON_GetObjectItemCaseSensitive(r->json, "items"), *it;
                cJSON_ArrayForEach(it, items) {
                        const char *name = json_str(it, "metadata.name"),
                                   *ns = json_str(it, "metadata.namespace");
                        if (!name || in_applied(a, res, ns, name) || !managed_by(it, a->field_manager))
                                continue;
                        if (json_str(it, "metadata.deletionTimestamp"))
                                continue;
                        Victim *v = realloc(a->victims, (a->n_victims + 1) * sizeof(Victim));
                        if (!v)
                                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                        a->victims = v;
                        Victim *x = &v[a->n_victims];
                        *x = (Victim){
                                .res = {.group = strdup(res->group),
                                        .version = strdup(res->version),
                                        .kind = strdup(res->kind),
                                        .resource = strdup(res->resource),
                                        .namespaced = res->namespaced},
                                .rank = k8s_kind_rank(res->kind),
                        };
                        a->n_victims++;
                        _cleanup_free_ char *av = NULL;
                        if (isempty(res->group) ? asprintf(&av, "%s", res->version) < 0
                                                : asprintf(&av, "%s/%s", res->group, res->version) < 0)
                                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                        if (!x->res.group || !x->res.version || !x->res.kind || !x->res.resource ||
                            ref_fill(&x->ref, av, res->kind, ns, name, it) < 0)
                                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                }
        }
        a->next_scan++;
        prune_step(a);
}

static void on_deleted(K8sClient *c, const K8sResponse *r, void *userdata) {
        Apply *a = userdata;
        Victim *v = &a->victims[a->next_victim];

        if (r->result != K8S_RESULT_OK && r->status != 404)
                return apply_fail(
                        a,
                        r->result,
                        "prune: deleting %s %s%s%s: %s",
                        v->ref.kind,
                        strempty(v->ref.namespace),
                        v->ref.namespace ? "/" : "",
                        v->ref.name,
                        r->message);
        K8sObjectRef *arr = realloc(a->result.pruned, (a->result.n_pruned + 1) * sizeof(K8sObjectRef));
        if (!arr)
                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
        a->result.pruned = arr;
        arr[a->result.n_pruned++] = v->ref;
        v->ref = (K8sObjectRef){};
        a->next_victim++;
        prune_step(a);
}

static void prune_step(Apply *a) {
        int r;

        if (a->phase == PHASE_PRUNE_LIST) {
                if (a->next_scan < a->scan.n) {
                        _cleanup_free_ char *path = NULL, *url = NULL, *sel = NULL, *sel_esc = NULL;
                        r = k8s_resource_path(&a->scan.items[a->next_scan], NULL, NULL, &path);
                        if (r < 0)
                                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                        if (asprintf(&sel, "%s=%s", K8S_INVENTORY_LABEL, a->inventory) < 0)
                                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                        sel_esc = k8s_escape(sel);
                        if (!sel_esc || asprintf(&url, "%s?labelSelector=%s", path, sel_esc) < 0)
                                return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                        r = k8s_client_request(a->client, "GET", url, NULL, NULL, on_listed, a);
                        if (r < 0)
                                return apply_fail(a, K8S_RESULT_FATAL, "prune: %s", strerror(-r));
                        return;
                }
                /* Delete dependents first: workloads before their config, namespaces last. */
                for (size_t i = 1; i < a->n_victims; i++) {
                        Victim v = a->victims[i];
                        size_t j = i;
                        while (j > 0 && a->victims[j - 1].rank < v.rank) {
                                a->victims[j] = a->victims[j - 1];
                                j--;
                        }
                        a->victims[j] = v;
                }
                a->phase = PHASE_PRUNE_DELETE;
        }
        if (a->next_victim < a->n_victims) {
                Victim *v = &a->victims[a->next_victim];
                _cleanup_free_ char *path = NULL, *url = NULL;
                r = k8s_resource_path(&v->res, v->ref.namespace, v->ref.name, &path);
                if (r < 0 || asprintf(&url, "%s?propagationPolicy=Background", path) < 0)
                        return apply_fail(a, K8S_RESULT_FATAL, "out of memory");
                log_debug("k8s apply: pruning %s %s", v->ref.kind, v->ref.name);
                r = k8s_client_request(a->client, "DELETE", url, NULL, NULL, on_deleted, a);
                if (r < 0)
                        return apply_fail(a, K8S_RESULT_FATAL, "prune: %s", strerror(-r));
                return;
        }
        a->result.result = K8S_RESULT_OK;
        apply_finish(a);
}

static int label(cJSON *obj, const char *key, const char *value) {
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
        if (!labels || cJSON_IsNull(labels)) {
                cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
                labels = cJSON_AddObjectToObject(meta, "labels");
                if (!labels)
                        return -ENOMEM;
        }
        if (!cJSON_IsObject(labels))
                return -EINVAL;
        cJSON_DeleteItemFromObjectCaseSensitive(labels, key);
        return cJSON_AddStringToObject(labels, key, value) ? 0 : -ENOMEM;
}

int k8s_apply(
        K8sClient *c,
        const K8sManifestSet *set,
        const K8sApplyOptions *opts,
        K8sApplyHandler handler,
        void *userdata) {
        Apply *a;
        int r;

        assert(c);
        assert(set);
        assert(handler);

        /* An empty set with pruning would delete everything ever applied: far more likely a wrong or
         * unmounted manifests directory than an intent. */
        if (set->n == 0 && opts && opts->prune && !opts->dry_run)
                return -ENODATA;

        a = new0(Apply, 1);
        if (!a)
                return -ENOMEM;
        a->client = c;
        a->op = k8s_client_op_add(c, apply_destroy, a);
        if (!a->op) {
                free(a);
                return -ENOMEM;
        }
        a->handler = handler;
        a->userdata = userdata;
        a->result.retry_after = -1;
        a->dry_run = opts && opts->dry_run;
        a->prune = opts && opts->prune;
        a->field_manager = strdup(opts && opts->field_manager ? opts->field_manager : K8S_FIELD_MANAGER);
        a->inventory = strdup(opts && opts->inventory ? opts->inventory : "default");
        a->default_namespace =
                strdup(opts && opts->default_namespace ? opts->default_namespace
                                                       : k8s_client_kubeconfig(c)->namespace);
        if (!a->field_manager || !a->inventory || !a->default_namespace) {
                apply_free(a);
                return -ENOMEM;
        }

        /* Copy, label and order the objects. */
        K8sManifestSet sorted = {.items = new0(K8sManifest, set->n), .n = set->n};
        if (!sorted.items && set->n > 0) {
                apply_free(a);
                return -ENOMEM;
        }
        if (set->n > 0)
                memcpy(sorted.items, set->items, set->n * sizeof(K8sManifest));
        k8s_manifest_set_sort(&sorted);
        a->objs = new0(Pending, set->n);
        if (!a->objs && set->n > 0) {
                free(sorted.items);
                apply_free(a);
                return -ENOMEM;
        }
        for (size_t i = 0; i < set->n; i++) {
                const K8sManifest *m = &sorted.items[i];
                Pending *p = &a->objs[i];
                p->obj = cJSON_Duplicate(m->obj, /* recurse= */ true);
                p->file = strdup(m->file);
                p->namespace = m->namespace ? strdup(m->namespace) : NULL;
                a->n_objs++;
                if (!p->obj || !p->file || (m->namespace && !p->namespace)) {
                        free(sorted.items);
                        apply_free(a);
                        return -ENOMEM;
                }
                p->line = m->line;
                p->api_version = cJSON_GetObjectItemCaseSensitive(p->obj, "apiVersion")->valuestring;
                p->kind = cJSON_GetObjectItemCaseSensitive(p->obj, "kind")->valuestring;
                p->name = json_str(p->obj, "metadata.name");
                r = label(p->obj, K8S_MANAGED_BY_LABEL, a->field_manager);
                if (r >= 0)
                        r = label(p->obj, K8S_INVENTORY_LABEL, a->inventory);
                if (r < 0) {
                        free(sorted.items);
                        apply_free(a);
                        return r;
                }
        }
        free(sorted.items);

        a->phase = k8s_client_discovered_at(c) == 0 ? PHASE_DISCOVER : PHASE_APPLY;
        if (a->phase == PHASE_DISCOVER) {
                r = k8s_client_discover(c, on_rediscovered, a);
                if (r < 0) {
                        apply_free(a);
                        return r;
                }
                return 0;
        }
        /* Start from the loop, so the handler never runs inside this call. */
        r = sd_event_add_defer(k8s_client_event(c), &a->start, on_start, a);
        if (r < 0) {
                apply_free(a);
                return r;
        }
        (void) sd_event_source_set_description(a->start, "k8s-apply-start");
        (void) sd_event_source_set_enabled(a->start, SD_EVENT_ONESHOT);
        return 0;
}

const K8sObjectRef *k8s_apply_result_find(const K8sApplyResult *r, const char *kind, const char *name) {
        for (size_t i = 0; i < r->n_applied; i++)
                if (streq(r->applied[i].kind, kind) && streq(r->applied[i].name, name))
                        return &r->applied[i];
        return NULL;
}
