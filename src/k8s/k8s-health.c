/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-libs.h"
#include "cleanup.h"
#include "k8s-health.h"
#include "macro.h"

const char *k8s_rollout_state_to_string(K8sRolloutState s) {
        switch (s) {
        case K8S_ROLLOUT_PROGRESSING:
                return "progressing";
        case K8S_ROLLOUT_DONE:
                return "done";
        case K8S_ROLLOUT_FAILED:
                return "failed";
        default:
                return "invalid";
        }
}

static const cJSON *get(const cJSON *o, const char *a, const char *b) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
        return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

/* Integer field, with a default when absent (the API omits zero counts). */
static long long num(const cJSON *o, const char *a, const char *b, long long def) {
        const cJSON *v = get(o, a, b);
        return cJSON_IsNumber(v) ? (long long) v->valuedouble : def;
}

static const char *str(const cJSON *o, const char *a, const char *b) {
        const cJSON *v = get(o, a, b);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int deployment_status(const cJSON *d, const char *name, char *msg, size_t n) {
        long long generation = num(d, "metadata", "generation", 0);
        long long observed = num(d, "status", "observedGeneration", 0);
        const cJSON *spec_replicas = get(d, "spec", "replicas");

        if (generation > observed) {
                (void) snprintf(msg, n, "Waiting for deployment spec update to be observed...");
                return K8S_ROLLOUT_PROGRESSING;
        }
        const cJSON *cond;
        cJSON_ArrayForEach(cond, get(d, "status", "conditions")) {
                const char *type = str(cond, "type", NULL), *reason = str(cond, "reason", NULL);
                if (type && reason && streq(type, "Progressing") &&
                    streq(reason, "ProgressDeadlineExceeded")) {
                        (void) snprintf(msg, n, "deployment \"%s\" exceeded its progress deadline", name);
                        return K8S_ROLLOUT_FAILED;
                }
        }
        long long updated = num(d, "status", "updatedReplicas", 0);
        long long replicas = num(d, "status", "replicas", 0);
        long long available = num(d, "status", "availableReplicas", 0);
        if (cJSON_IsNumber(spec_replicas) && updated < (long long) spec_replicas->valuedouble) {
                (void) snprintf(
                        msg,
                        n,
                        "Waiting for deployment \"%s\" rollout to finish: %lld out of %lld new replicas "
                        "have been updated...",
                        name,
                        updated,
                        (long long) spec_replicas->valuedouble);
                return K8S_ROLLOUT_PROGRESSING;
        }
        if (replicas > updated) {
                (void) snprintf(
                        msg,
                        n,
                        "Waiting for deployment \"%s\" rollout to finish: %lld old replicas are pending "
                        "termination...",
                        name,
                        replicas - updated);
                return K8S_ROLLOUT_PROGRESSING;
        }
        if (available < updated) {
                (void) snprintf(
                        msg,
                        n,
                        "Waiting for deployment \"%s\" rollout to finish: %lld of %lld updated replicas "
                        "are available...",
                        name,
                        available,
                        updated);
                return K8S_ROLLOUT_PROGRESSING;
        }
        (void) snprintf(msg, n, "deployment \"%s\" successfully rolled out", name);
        return K8S_ROLLOUT_DONE;
}

static int daemonset_status(const cJSON *d, const char *name, char *msg, size_t n) {
        const char *strategy = str(get(d, "spec", "updateStrategy"), "type", NULL);
        if (strategy && !streq(strategy, "RollingUpdate")) {
                (void) snprintf(msg, n, "rollout status is only available for RollingUpdate strategy type");
                return K8S_ROLLOUT_FAILED;
        }
        if (num(d, "metadata", "generation", 0) > num(d, "status", "observedGeneration", 0)) {
                (void) snprintf(msg, n, "Waiting for daemon set spec update to be observed...");
                return K8S_ROLLOUT_PROGRESSING;
        }
        long long desired = num(d, "status", "desiredNumberScheduled", 0);
        long long updated = num(d, "status", "updatedNumberScheduled", 0);
        long long available = num(d, "status", "numberAvailable", 0);
        if (updated < desired) {
                (void) snprintf(
                        msg,
                        n,
                        "Waiting for daemon set \"%s\" rollout to finish: %lld out of %lld new pods have "
                        "been updated...",
                        name,
                        updated,
                        desired);
                return K8S_ROLLOUT_PROGRESSING;
        }
        if (available < desired) {
                (void) snprintf(
                        msg,
                        n,
                        "Waiting for daemon set \"%s\" rollout to finish: %lld of %lld updated pods are "
                        "available...",
                        name,
                        available,
                        desired);
                return K8S_ROLLOUT_PROGRESSING;
        }
        (void) snprintf(msg, n, "daemon set \"%s\" successfully rolled out", name);
        return K8S_ROLLOUT_DONE;
}

static int statefulset_status(const cJSON *s, char *msg, size_t n) {
        const cJSON *strategy = get(s, "spec", "updateStrategy");
        const char *type = str(strategy, "type", NULL);
        if (type && !streq(type, "RollingUpdate")) {
                (void) snprintf(msg, n, "rollout status is only available for RollingUpdate strategy type");
                return K8S_ROLLOUT_FAILED;
        }
        long long observed = num(s, "status", "observedGeneration", 0);
        if (observed == 0 || num(s, "metadata", "generation", 0) > observed) {
                (void) snprintf(msg, n, "Waiting for statefulset spec update to be observed...");
                return K8S_ROLLOUT_PROGRESSING;
        }
        const cJSON *spec_replicas = get(s, "spec", "replicas");
        long long ready = num(s, "status", "readyReplicas", 0);
        if (cJSON_IsNumber(spec_replicas) && ready < (long long) spec_replicas->valuedouble) {
                (void) snprintf(
                        msg,
                        n,
                        "Waiting for %lld pods to be ready...",
                        (long long) spec_replicas->valuedouble - ready);
                return K8S_ROLLOUT_PROGRESSING;
        }
        const cJSON *ru = get(strategy, "rollingUpdate", NULL);
        if (type && streq(type, "RollingUpdate") && cJSON_IsObject(ru)) {
                const cJSON *partition = get(ru, "partition", NULL);
                long long updated = num(s, "status", "updatedReplicas", 0);
                if (cJSON_IsNumber(spec_replicas) && cJSON_IsNumber(partition)) {
                        long long want =
                                (long long) spec_replicas->valuedouble - (long long) partition->valuedouble;
                        if (updated < want) {
                                (void) snprintf(
                                        msg,
                                        n,
                                        "Waiting for partitioned roll out to finish: %lld out of %lld new "
                                        "pods have been updated...",
                                        updated,
                                        want);
                                return K8S_ROLLOUT_PROGRESSING;
                        }
                }
                (void) snprintf(
                        msg,
                        n,
                        "partitioned roll out complete: %lld new pods have been updated...",
                        updated);
                return K8S_ROLLOUT_DONE;
        }
        const char *update_rev = str(s, "status", "updateRevision"),
                   *current_rev = str(s, "status", "currentRevision");
        if (!streq_ptr(update_rev, current_rev)) {
                (void) snprintf(
                        msg,
                        n,
                        "waiting for statefulset rolling update to complete %lld pods at revision %s...",
                        num(s, "status", "updatedReplicas", 0),
                        strempty(update_rev));
                return K8S_ROLLOUT_PROGRESSING;
        }
        (void) snprintf(
                msg,
                n,
                "statefulset rolling update complete %lld pods at revision %s...",
                num(s, "status", "currentReplicas", 0),
                strempty(current_rev));
        return K8S_ROLLOUT_DONE;
}

int k8s_rollout_status(const cJSON *obj, char *message, size_t message_size) {
        const char *kind = str(obj, "kind", NULL), *name = str(obj, "metadata", "name");
        char dummy[8];

        if (!message) {
                message = dummy;
                message_size = sizeof dummy;
        }
        if (!kind || !name)
                return -EINVAL;
        if (streq(kind, "Deployment"))
                return deployment_status(obj, name, message, message_size);
        if (streq(kind, "DaemonSet"))
                return daemonset_status(obj, name, message, message_size);
        if (streq(kind, "StatefulSet"))
                return statefulset_status(obj, message, message_size);
        return -EOPNOTSUPP;
}

void k8s_pod_health_done(K8sPodHealth *p) {
        free(p->name);
        free(p->phase);
        free(p->container);
        free(p->reason);
        free(p->message);
        *p = (K8sPodHealth){};
}

static bool benign_waiting(const char *reason) {
        return streq(reason, "ContainerCreating") || streq(reason, "PodInitializing");
}

static int set_problem(K8sPodHealth *p, const char *container, const char *reason, const char *message) {
        if (p->reason)
                return 0; /* the first problem found is reported */
        p->reason = strdup(reason);
        p->container = container ? strdup(container) : NULL;
        p->message = message ? strdup(message) : NULL;
        if (!p->reason || (container && !p->container) || (message && !p->message))
                return -ENOMEM;
        return 0;
}

static int scan_containers(const cJSON *statuses, K8sPodHealth *p) {
        const cJSON *cs;
        int r;
        cJSON_ArrayForEach(cs, statuses) {
                const char *cname = str(cs, "name", NULL);
                long long restarts = num(cs, "restartCount", NULL, 0);
                if (restarts > 0)
                        p->restarts += (unsigned) MIN(restarts, 1000000LL);
                const cJSON *waiting = get(cs, "state", "waiting");
                const char *wreason = str(waiting, "reason", NULL);
                if (wreason && !benign_waiting(wreason)) {
                        r = set_problem(p, cname, wreason, str(waiting, "message", NULL));
                        if (r < 0)
                                return r;
                }
                const cJSON *term = get(cs, "state", "terminated");
                const char *treason = str(term, "reason", NULL);
                if (term && num(term, "exitCode", NULL, 0) != 0 && !p->ready) {
                        r = set_problem(p, cname, treason ?: "Error", str(term, "message", NULL));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int k8s_pod_health(const cJSON *pod, K8sPodHealth *ret) {
        _cleanup_(k8s_pod_health_done) K8sPodHealth p = {};
        const char *name = str(pod, "metadata", "name"), *phase = str(pod, "status", "phase");
        const cJSON *cond;
        int r;

        if (!name)
                return -EINVAL;
        p.name = strdup(name);
        p.phase = strdup(phase ?: "Unknown");
        if (!p.name || !p.phase)
                return -ENOMEM;

        cJSON_ArrayForEach(cond, get(pod, "status", "conditions")) {
                const char *type = str(cond, "type", NULL), *status = str(cond, "status", NULL);
                if (!type || !status)
                        continue;
                if (streq(type, "Ready"))
                        p.ready = streq(status, "True");
                if (streq(type, "PodScheduled") && streq(status, "False")) {
                        r = set_problem(
                                &p,
                                NULL,
                                str(cond, "reason", NULL) ?: "Unschedulable",
                                str(cond, "message", NULL));
                        if (r < 0)
                                return r;
                }
        }
        r = scan_containers(get(pod, "status", "initContainerStatuses"), &p);
        if (r < 0)
                return r;
        r = scan_containers(get(pod, "status", "containerStatuses"), &p);
        if (r < 0)
                return r;
        if (phase && streq(phase, "Failed")) {
                r = set_problem(
                        &p, NULL, str(pod, "status", "reason") ?: "Failed", str(pod, "status", "message"));
                if (r < 0)
                        return r;
        }
        *ret = p;
        p = (K8sPodHealth){};
        return 0;
}

void k8s_health_report_done(K8sHealthReport *r) {
        for (size_t i = 0; i < r->n_workloads; i++) {
                free(r->workloads[i].kind);
                free(r->workloads[i].name);
        }
        free(r->workloads);
        for (size_t i = 0; i < r->n_pods; i++)
                k8s_pod_health_done(&r->pods[i]);
        free(r->pods);
        *r = (K8sHealthReport){};
}

bool k8s_health_report_ready(const K8sHealthReport *r) {
        if (r->result != K8S_RESULT_OK)
                return false;
        for (size_t i = 0; i < r->n_workloads; i++)
                if (r->workloads[i].state != K8S_ROLLOUT_DONE)
                        return false;
        for (size_t i = 0; i < r->n_pods; i++)
                if (r->pods[i].reason)
                        return false;
        return true;
}

const K8sWorkloadHealth *k8s_health_report_workload(
        const K8sHealthReport *r, const char *kind, const char *name) {
        for (size_t i = 0; i < r->n_workloads; i++)
                if (streq(r->workloads[i].kind, kind) && streq(r->workloads[i].name, name))
                        return &r->workloads[i];
        return NULL;
}

const K8sPodHealth *k8s_health_report_pod(const K8sHealthReport *r, const char *name) {
        for (size_t i = 0; i < r->n_pods; i++)
                if (streq(r->pods[i].name, name))
                        return &r->pods[i];
        return NULL;
}

typedef struct HealthCheck HealthCheck;

typedef struct HealthPart {
        HealthCheck *check;
        const char *kind; /* NULL for pods */
} HealthPart;

struct HealthCheck {
        K8sOp *op;
        K8sHealthReport report;
        HealthPart parts[4];
        unsigned pending;
        K8sHealthHandler handler;
        void *userdata;
};

static void health_check_destroy(void *userdata) {
        HealthCheck *h = userdata;
        k8s_health_report_done(&h->report);
        free(h);
}

static int add_items(HealthCheck *h, const char *kind, const cJSON *list) {
        const cJSON *it;
        int r;
        cJSON_ArrayForEach(it, get(list, "items", NULL)) {
                if (!kind) {
                        K8sPodHealth *a =
                                realloc(h->report.pods, (h->report.n_pods + 1) * sizeof(K8sPodHealth));
                        if (!a)
                                return -ENOMEM;
                        h->report.pods = a;
                        r = k8s_pod_health(it, &a[h->report.n_pods]);
                        if (r == -EINVAL)
                                continue;
                        if (r < 0)
                                return r;
                        h->report.n_pods++;
                        continue;
                }
                /* List items carry no kind; the list's kind says what they are. */
                _cleanup_json_ cJSON *copy = cJSON_Duplicate(it, /* recurse= */ true);
                if (!copy)
                        return -ENOMEM;
                cJSON_DeleteItemFromObjectCaseSensitive(copy, "kind");
                if (!cJSON_AddStringToObject(copy, "kind", kind))
                        return -ENOMEM;
                K8sWorkloadHealth *a = realloc(
                        h->report.workloads, (h->report.n_workloads + 1) * sizeof(K8sWorkloadHealth));
                if (!a)
                        return -ENOMEM;
                h->report.workloads = a;
                K8sWorkloadHealth *w = &a[h->report.n_workloads];
                *w = (K8sWorkloadHealth){};
                r = k8s_rollout_status(copy, w->message, sizeof w->message);
                if (r < 0)
                        continue;
                w->state = r;
                w->kind = strdup(kind);
                w->name = strdup(str(copy, "metadata", "name"));
                h->report.n_workloads++;
                if (!w->kind || !w->name)
                        return -ENOMEM;
        }
        return 0;
}

/* The lists complete in any order: sorted, the report (and the status reason built from it) reads the same
 * from one check to the next while nothing changes. */
static int workload_cmp(const void *a, const void *b) {
        const K8sWorkloadHealth *x = a, *y = b;
        int r = strcmp(x->kind, y->kind);
        return r != 0 ? r : strcmp(x->name, y->name);
}

static int pod_cmp(const void *a, const void *b) {
        const K8sPodHealth *x = a, *y = b;
        return strcmp(strempty(x->name), strempty(y->name));
}

static void on_list(K8sClient *c, const K8sResponse *resp, void *userdata) {
        HealthPart *part = userdata;
        HealthCheck *h = part->check;

        if (resp->result != K8S_RESULT_OK) {
                if (h->report.result == K8S_RESULT_OK || resp->result == K8S_RESULT_FATAL) {
                        h->report.result = resp->result;
                        (void) snprintf(
                                h->report.message,
                                sizeof h->report.message,
                                "listing %s: %.900s",
                                part->kind ?: "Pod",
                                resp->message);
                }
        } else if (add_items(h, part->kind, resp->json) < 0) {
                h->report.result = K8S_RESULT_FATAL;
                (void) snprintf(h->report.message, sizeof h->report.message, "out of memory");
        }
        if (--h->pending > 0)
                return;
        if (h->report.n_workloads > 1)
                qsort(h->report.workloads, h->report.n_workloads, sizeof(K8sWorkloadHealth), workload_cmp);
        if (h->report.n_pods > 1)
                qsort(h->report.pods, h->report.n_pods, sizeof(K8sPodHealth), pod_cmp);
        k8s_client_op_remove(c, h->op);
        h->handler(c, &h->report, h->userdata);
        k8s_health_report_done(&h->report);
        free(h);
}

int k8s_health_check(K8sClient *c, const char *namespace, K8sHealthHandler handler, void *userdata) {
        static const struct {
                const char *kind, *path;
        } lists[] = {
                {"Deployment", "/apis/apps/v1/namespaces/%s/deployments"},
                {"StatefulSet", "/apis/apps/v1/namespaces/%s/statefulsets"},
                {"DaemonSet", "/apis/apps/v1/namespaces/%s/daemonsets"},
                {NULL, "/api/v1/namespaces/%s/pods"},
        };
        _cleanup_free_ char *ns = k8s_escape(namespace);
        int r;

        if (!ns)
                return -ENOMEM;
        HealthCheck *h = new0(HealthCheck, 1);
        if (!h)
                return -ENOMEM;
        h->handler = handler;
        h->userdata = userdata;
        h->op = k8s_client_op_add(c, health_check_destroy, h);
        if (!h->op) {
                free(h);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                _cleanup_free_ char *path = NULL;
                h->parts[i] = (HealthPart){.check = h, .kind = lists[i].kind};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                r = asprintf(&path, lists[i].path, ns);
#pragma GCC diagnostic pop
                if (r < 0) {
                        path = NULL;
                        r = -ENOMEM;
                } else
                        r = k8s_client_request(c, "GET", path, NULL, NULL, on_list, &h->parts[i]);
                if (r < 0) {
                        if (h->pending == 0) {
                                k8s_client_op_remove(c, h->op);
                                free(h);
                                return r;
                        }
                        /* Some lists are on their way: they finish into a report marked failed. */
                        h->report.result = K8S_RESULT_FATAL;
                        (void) snprintf(h->report.message, sizeof h->report.message, "%.200s", strerror(-r));
                        return 0;
                }
                h->pending++;
        }
        return 0;
}
