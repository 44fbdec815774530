/* SPDX-License-Identifier: MIT */
/* Integration tests of the Kubernetes client against a real control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok), started by tests/k8s/run-with-control-plane.sh, which
 * passes its kubeconfig in $KUBECONFIG. Each test works in its own namespace and inventory, so they may
 * run in parallel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "build-config.h"
#include "k8s-apply.h"
#include "k8s-client.h"
#include "k8s-health.h"
#include "k8s-kubeconfig.h"
#include "k8s-manifest.h"

#define SEC 1000000ULL

static char *err; /* the last error message (errmsg.h), replaced by each call */

static K8sClient *client_for(const char *kubeconfig_path) {
        K8sKubeconfig *kc = NULL;
        sd_event *e = NULL;
        K8sClient *c = NULL;
        cr_assert_eq(k8s_kubeconfig_load(kubeconfig_path, NULL, &kc, &err), 0, "%s", err);
        cr_assert_eq(sd_event_new(&e), 0);
        cr_assert_eq(k8s_client_new(e, kc, &c), 0);
        sd_event_unref(e);
        return c;
}

static K8sClient *client(void) {
        const char *p = getenv("KUBECONFIG");
        cr_assert_not_null(p, "KUBECONFIG is not set (run through run-with-control-plane.sh)");
        return client_for(p);
}

static void client_free(K8sClient *c) {
        sd_event *e = sd_event_ref(k8s_client_event(c));
        k8s_client_free(c);
        sd_event_unref(e);
}

/* --- synchronous helpers --------------------------------------------------------------------------- */

typedef struct Reply {
        bool done;
        long status;
        K8sResultClass result;
        char message[1024];
        char reason[64];
        cJSON *json;
} Reply;

static void on_reply(K8sClient *c, const K8sResponse *r, void *userdata) {
        Reply *x = userdata;
        x->status = r->status;
        x->result = r->result;
        (void) snprintf(x->message, sizeof x->message, "%s", r->message);
        (void) snprintf(x->reason, sizeof x->reason, "%s", r->reason);
        x->json = r->json ? cJSON_Duplicate(r->json, true) : NULL;
        x->done = true;
}

static Reply request(
        K8sClient *c, const char *method, const char *path, const char *ctype, const char *body) {
        Reply x = {};
        cr_assert_eq(k8s_client_request(c, method, path, ctype, body, on_reply, &x), 0);
        cr_assert_eq(k8s_client_run_until(c, &x.done, 30 * SEC), 0, "%s %s timed out", method, path);
        return x;
}

static void reply_done(Reply *x) {
        cJSON_Delete(x->json);
        x->json = NULL;
}

static const char *jstr(const cJSON *o, const char *a, const char *b) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
        if (b)
                v = cJSON_GetObjectItemCaseSensitive(v, b);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

typedef struct Applied {
        bool done;
        K8sResultClass result;
        char message[2048];
        size_t n_applied, n_pruned;
        char applied[32][2][128]; /* kind/name, resourceVersion */
        char pruned[32][128];     /* kind/name */
} Applied;

static void on_applied(K8sClient *c, const K8sApplyResult *r, void *userdata) {
        Applied *x = userdata;
        x->result = r->result;
        (void) snprintf(x->message, sizeof x->message, "%s", r->message);
        x->n_applied = r->n_applied < 32 ? r->n_applied : 32;
        for (size_t i = 0; i < x->n_applied; i++) {
                (void) snprintf(x->applied[i][0], 128, "%s/%s", r->applied[i].kind, r->applied[i].name);
                (void) snprintf(x->applied[i][1], 128, "%s", r->applied[i].resource_version ?: "");
        }
        x->n_pruned = r->n_pruned < 32 ? r->n_pruned : 32;
        for (size_t i = 0; i < x->n_pruned; i++)
                (void) snprintf(x->pruned[i], 128, "%s/%s", r->pruned[i].kind, r->pruned[i].name);
        x->done = true;
}

static Applied apply_yaml(K8sClient *c, const char *yaml, const char *inventory, bool dry_run) {
        K8sManifestSet set = {};
        Applied x = {};
        cr_assert_eq(k8s_manifest_set_add_buffer(&set, yaml, strlen(yaml), "test.yaml", &err), 0, "%s", err);
        K8sApplyOptions o = {.inventory = inventory, .dry_run = dry_run, .prune = true};
        cr_assert_eq(k8s_apply(c, &set, &o, on_applied, &x), 0);
        k8s_manifest_set_done(&set);
        cr_assert_eq(k8s_client_run_until(c, &x.done, 120 * SEC), 0, "apply timed out");
        return x;
}

static const char *applied_rv(const Applied *x, const char *kind_name) {
        for (size_t i = 0; i < x->n_applied; i++)
                if (strcmp(x->applied[i][0], kind_name) == 0)
                        return x->applied[i][1];
        cr_assert_fail("%s not in the apply result", kind_name);
        return NULL;
}

static bool was_pruned(const Applied *x, const char *kind_name) {
        for (size_t i = 0; i < x->n_pruned; i++)
                if (strcmp(x->pruned[i], kind_name) == 0)
                        return true;
        return false;
}

typedef struct Health {
        bool done;
        K8sHealthReport *copy_dst;
        bool ready;
        K8sResultClass result;
        char message[1024];
        char workload_state[8][2][160]; /* "Kind/name", state */
        size_t n_workloads;
        char pods[8][4][512]; /* name, reason, message, container */
        bool pod_ready[8];
        size_t n_pods;
} Health;

static void on_health(K8sClient *c, const K8sHealthReport *r, void *userdata) {
        Health *h = userdata;
        h->result = r->result;
        h->ready = k8s_health_report_ready(r);
        (void) snprintf(h->message, sizeof h->message, "%s", r->message);
        h->n_workloads = r->n_workloads < 8 ? r->n_workloads : 8;
        for (size_t i = 0; i < h->n_workloads; i++) {
                (void) snprintf(
                        h->workload_state[i][0], 160, "%s/%s", r->workloads[i].kind, r->workloads[i].name);
                (void) snprintf(
                        h->workload_state[i][1],
                        160,
                        "%s",
                        k8s_rollout_state_to_string(r->workloads[i].state));
        }
        h->n_pods = r->n_pods < 8 ? r->n_pods : 8;
        for (size_t i = 0; i < h->n_pods; i++) {
                (void) snprintf(h->pods[i][0], 512, "%s", r->pods[i].name);
                (void) snprintf(h->pods[i][1], 512, "%s", r->pods[i].reason ?: "");
                (void) snprintf(h->pods[i][2], 512, "%s", r->pods[i].message ?: "");
                (void) snprintf(h->pods[i][3], 512, "%s", r->pods[i].container ?: "");
                h->pod_ready[i] = r->pods[i].ready;
        }
        h->done = true;
}

static Health health(K8sClient *c, const char *ns) {
        Health h = {};
        cr_assert_eq(k8s_health_check(c, ns, on_health, &h), 0);
        cr_assert_eq(k8s_client_run_until(c, &h.done, 60 * SEC), 0);
        /* A RETRY (a slow answer on a loaded machine) is what the supervisor would retry; so do the polls
         * here: it reads as "not ready yet". */
        cr_assert_neq(h.result, K8S_RESULT_FATAL, "%s", h.message);
        return h;
}

static const char *workload_state(const Health *h, const char *kind_name) {
        for (size_t i = 0; i < h->n_workloads; i++)
                if (strcmp(h->workload_state[i][0], kind_name) == 0)
                        return h->workload_state[i][1];
        return NULL;
}

/* Polls until `pred` holds, at most `seconds` (the controllers and kwok act within a second or two). */
#define POLL_UNTIL(c, seconds, var, expr, cond)                                                             \
        do {                                                                                                \
                bool _ok = false;                                                                           \
                for (unsigned _i = 0; _i < (seconds) *4 && !_ok; _i++) {                                    \
                        var = (expr);                                                                       \
                        _ok = (cond);                                                                       \
                        if (!_ok)                                                                           \
                                usleep(250000);                                                             \
                }                                                                                           \
        } while (0)

/* --- tests ------------------------------------------------------------------------------------------ */

Test(k8s_cluster, manifests_pass_dry_run_then_roll_out, .timeout = 240) {
        K8sClient *c = client();
        K8sManifestSet set = {}, ns_only = {};
        char dir[512];
        (void) snprintf(dir, sizeof dir, "%s/manifests", PROJECT_SOURCE_ROOT);
        cr_assert_eq(k8s_manifest_set_add_dir(&set, dir, &err), 0, "%s", err);
        cr_assert_geq(set.n, 11, "only %zu objects under %s", set.n, dir);

        /* The namespace must exist for a dry run of what lives in it (admission checks it), so it alone
         * is applied for real first. */
        for (size_t i = 0; i < set.n; i++)
                if (strcmp(set.items[i].kind, "Namespace") == 0) {
                        char *y = cJSON_Print(set.items[i].obj);
                        cr_assert_eq(k8s_manifest_set_add_buffer(&ns_only, y, strlen(y), "ns", &err), 0);
                        free(y);
                }
        cr_assert_eq(ns_only.n, 1);
        Applied x = {};
        K8sApplyOptions real = {.inventory = "dry-run-ns"};
        cr_assert_eq(k8s_apply(c, &ns_only, &real, on_applied, &x), 0);
        cr_assert_eq(k8s_client_run_until(c, &x.done, 60 * SEC), 0);
        cr_assert_eq(x.result, K8S_RESULT_OK, "%s", x.message);

        x = (Applied){};
        K8sApplyOptions dry = {.inventory = "dry-run", .dry_run = true, .prune = true};
        cr_assert_eq(k8s_apply(c, &set, &dry, on_applied, &x), 0);
        cr_assert_eq(k8s_client_run_until(c, &x.done, 120 * SEC), 0);
        cr_assert_eq(x.result, K8S_RESULT_OK, "%s", x.message);
        cr_assert_eq(x.n_applied, set.n < 32 ? set.n : 32);
        cr_assert_eq(x.n_pruned, 0);

        /* Nothing but the namespace was created. */
        Reply r = request(c, "GET", "/apis/apps/v1/namespaces/otel-demo/deployments", NULL, NULL);
        cr_assert_eq(r.result, K8S_RESULT_OK, "%s", r.message);
        cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 0);
        reply_done(&r);

        /* A broken manifest fails the dry run with the file, line and the server's reason. */
        const char *bad =
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-dry\n---\n"
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: t-dry\n"
                "spec:\n  replicas: -1\n  selector: {matchLabels: {app: xx}}\n"
                "  template:\n    metadata: {labels: {app: yy}}\n"
                "    spec: {containers: [{name: c, image: i}]}\n";
        x = apply_yaml(c, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-dry\n", "t-dry-ns", false);
        cr_assert_eq(x.result, K8S_RESULT_OK, "%s", x.message);
        x = apply_yaml(c, bad, "t-dry", true);
        cr_assert_eq(x.result, K8S_RESULT_FATAL);
        cr_assert(strstr(x.message, "test.yaml:6: Deployment t-dry/broken:"), "%s", x.message);
        cr_assert(strstr(x.message, "replicas"), "%s", x.message);
        cr_assert(strstr(x.message, "selector") || strstr(x.message, "labels"), "%s", x.message);

        /* YAML 1.1, as Kubernetes reads it: an unquoted y is a boolean, which a label value cannot be. The
         * server answers 500 for such a patch; it is still the manifest's fault, so FATAL. */
        const char *bool_label = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yes-no\n"
                                 "  namespace: t-dry\n  labels: {app: y}\n";
        x = apply_yaml(c, bool_label, "t-dry", true);
        cr_assert_eq(x.result, K8S_RESULT_FATAL, "%s", x.message);
        cr_assert(strstr(x.message, "test.yaml:1: ConfigMap t-dry/yes-no:"), "%s", x.message);
        cr_assert(strstr(x.message, "expected string"), "%s", x.message);

        /* Now for real: ClickHouse's claim binds to one of the control plane's "standard" volumes, kwok runs
         * every pod, and every workload of the stack is reported rolled out. */
        x = (Applied){};
        K8sApplyOptions stack = {.inventory = "otel-stack", .prune = true};
        cr_assert_eq(k8s_apply(c, &set, &stack, on_applied, &x), 0);
        cr_assert_eq(k8s_client_run_until(c, &x.done, 120 * SEC), 0);
        cr_assert_eq(x.result, K8S_RESULT_OK, "%s", x.message);
        Health h;
        POLL_UNTIL(c, 90, h, health(c, "otel-demo"), h.ready && h.n_workloads == 5);
        cr_assert(
                h.ready,
                "not ready: %s=%s %s=%s %s=%s %s=%s; pod %s: %s %s",
                h.workload_state[0][0],
                h.workload_state[0][1],
                h.workload_state[1][0],
                h.workload_state[1][1],
                h.workload_state[2][0],
                h.workload_state[2][1],
                h.workload_state[3][0],
                h.workload_state[3][1],
                h.pods[0][0],
                h.pods[0][1],
                h.pods[0][2]);
        cr_assert_str_eq(workload_state(&h, "StatefulSet/clickhouse"), "done");
        cr_assert_str_eq(workload_state(&h, "DaemonSet/shipper"), "done");
        cr_assert_str_eq(workload_state(&h, "Deployment/loggen"), "done");
        cr_assert_str_eq(workload_state(&h, "Deployment/hyperdx"), "done");
        cr_assert_str_eq(workload_state(&h, "Deployment/hyperdx-mongodb"), "done");
        cr_assert_eq(h.n_pods, 5);
        /* Sorted by kind and name (the lists are fetched in parallel and complete in any order): the status
         * reason built from the report does not change from one poll to the next. */
        for (size_t i = 1; i < h.n_workloads; i++)
                cr_assert_lt(
                        strcmp(h.workload_state[i - 1][0], h.workload_state[i][0]),
                        0,
                        "workloads out of order: %s before %s",
                        h.workload_state[i - 1][0],
                        h.workload_state[i][0]);
        for (size_t i = 1; i < h.n_pods; i++)
                cr_assert_lt(
                        strcmp(h.pods[i - 1][0], h.pods[i][0]),
                        0,
                        "pods out of order: %s before %s",
                        h.pods[i - 1][0],
                        h.pods[i][0]);
        Reply pvc =
                request(c,
                        "GET",
                        "/api/v1/namespaces/otel-demo/persistentvolumeclaims/data-clickhouse-0",
                        NULL,
                        NULL);
        cr_assert_eq(pvc.result, K8S_RESULT_OK, "%s", pvc.message);
        cr_assert_str_eq(jstr(pvc.json, "status", "phase"), "Bound");
        cr_assert_str_eq(jstr(pvc.json, "spec", "storageClassName"), "standard");
        reply_done(&pvc);

        /* Applying the unchanged manifests again changes nothing, ConfigMaps included. */
        Applied again = {};
        cr_assert_eq(k8s_apply(c, &set, &stack, on_applied, &again), 0);
        cr_assert_eq(k8s_client_run_until(c, &again.done, 120 * SEC), 0);
        cr_assert_eq(again.result, K8S_RESULT_OK, "%s", again.message);
        cr_assert_eq(again.n_pruned, 0);
        const char *fixed[] = {
                "Namespace/otel-demo",
                "ConfigMap/clickhouse-config",
                "ConfigMap/clickhouse-init",
                "Service/clickhouse",
                "ServiceAccount/shipper"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
                cr_assert_str_eq(
                        applied_rv(&x, fixed[i]), applied_rv(&again, fixed[i]), "%s changed", fixed[i]);

        k8s_manifest_set_done(&set);
        k8s_manifest_set_done(&ns_only);
        client_free(c);
}

#define IDEM_YAML                                                                                           \
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-idem\n---\n"                                 \
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: t-idem\ndata:\n  key: %s\n"  \
        "  port: \"8123\"\n---\n"                                                                           \
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n  namespace: t-idem\nspec:\n"               \
        "  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\n"                \
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: t-idem\nspec:\n"       \
        "  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n"                               \
        "    metadata: {labels: {app: web}}\n"                                                              \
        "    spec: {containers: [{name: web, image: web:1, imagePullPolicy: Never}]}\n"

Test(k8s_cluster, apply_is_idempotent_edits_update_and_removal_prunes, .timeout = 180) {
        K8sClient *c = client();
        char yaml[4096];

        (void) snprintf(yaml, sizeof yaml, IDEM_YAML, "one");
        Applied a1 = apply_yaml(c, yaml, "t-idem", false);
        cr_assert_eq(a1.result, K8S_RESULT_OK, "%s", a1.message);
        cr_assert_eq(a1.n_applied, 4);
        /* Dependency order: Namespace, ConfigMap, Service, Deployment. */
        cr_assert_str_eq(a1.applied[0][0], "Namespace/t-idem");
        cr_assert_str_eq(a1.applied[3][0], "Deployment/web");

        Applied a2 = apply_yaml(c, yaml, "t-idem", false);
        cr_assert_eq(a2.result, K8S_RESULT_OK, "%s", a2.message);
        const char *names[] = {"Namespace/t-idem", "ConfigMap/cfg", "Service/svc"};
        for (size_t i = 0; i < 3; i++)
                cr_assert_str_eq(
                        applied_rv(&a1, names[i]),
                        applied_rv(&a2, names[i]),
                        "%s changed on a second identical apply",
                        names[i]);
        /* The Deployment's status moves as its controller works; its spec did not change: same generation.
         */
        Reply d = request(c, "GET", "/apis/apps/v1/namespaces/t-idem/deployments/web", NULL, NULL);
        cr_assert_eq(
                cJSON_GetObjectItem(cJSON_GetObjectItem(d.json, "metadata"), "generation")->valueint, 1);
        const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(d.json, "metadata"), "labels");
        cr_assert_str_eq(jstr(labels, K8S_INVENTORY_LABEL, NULL), "t-idem");
        cr_assert_str_eq(jstr(labels, K8S_MANAGED_BY_LABEL, NULL), "otel-supervisor");
        reply_done(&d);

        /* Quoted numbers stay strings all the way to the server. */
        Reply cm = request(c, "GET", "/api/v1/namespaces/t-idem/configmaps/cfg", NULL, NULL);
        cr_assert_str_eq(jstr(cm.json, "data", "port"), "8123");
        reply_done(&cm);

        /* Editing a manifest updates the object. */
        (void) snprintf(yaml, sizeof yaml, IDEM_YAML, "two");
        Applied a3 = apply_yaml(c, yaml, "t-idem", false);
        cr_assert_eq(a3.result, K8S_RESULT_OK, "%s", a3.message);
        cr_assert_str_neq(applied_rv(&a3, "ConfigMap/cfg"), applied_rv(&a2, "ConfigMap/cfg"));
        cr_assert_str_eq(applied_rv(&a3, "Service/svc"), applied_rv(&a2, "Service/svc"));
        cm = request(c, "GET", "/api/v1/namespaces/t-idem/configmaps/cfg", NULL, NULL);
        cr_assert_str_eq(jstr(cm.json, "data", "key"), "two");
        reply_done(&cm);

        /* Removing the ConfigMap and the Deployment from the manifests prunes them, and nothing else: not
         * the EndpointSlice that copies the Service's labels, not an object of another inventory. */
        Applied other = apply_yaml(
                c,
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: t-idem\n",
                "t-idem-other",
                false);
        cr_assert_eq(other.result, K8S_RESULT_OK, "%s", other.message);
        const char *fewer =
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-idem\n---\n"
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n  namespace: t-idem\nspec:\n"
                "  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";
        Applied a4 = apply_yaml(c, fewer, "t-idem", false);
        cr_assert_eq(a4.result, K8S_RESULT_OK, "%s", a4.message);
        cr_assert_eq(a4.n_pruned, 2, "pruned %zu: %s %s", a4.n_pruned, a4.pruned[0], a4.pruned[1]);
        cr_assert(was_pruned(&a4, "ConfigMap/cfg"));
        cr_assert(was_pruned(&a4, "Deployment/web"));
        Reply gone = request(c, "GET", "/api/v1/namespaces/t-idem/configmaps/cfg", NULL, NULL);
        cr_assert_eq(gone.status, 404);
        cr_assert_str_eq(gone.reason, "NotFound");
        reply_done(&gone);
        Reply kept = request(c, "GET", "/api/v1/namespaces/t-idem/configmaps/other", NULL, NULL);
        cr_assert_eq(kept.status, 200, "%s", kept.message);
        reply_done(&kept);
        Reply svc = request(c, "GET", "/api/v1/namespaces/t-idem/services/svc", NULL, NULL);
        cr_assert_eq(svc.status, 200);
        reply_done(&svc);
        client_free(c);
}

#define WORKLOADS_YAML                                                                                      \
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-roll\n---\n"                                 \
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: good\n  namespace: t-roll\nspec:\n"      \
        "  replicas: 2\n  selector: {matchLabels: {app: good}}\n  template:\n"                              \
        "    metadata: {labels: {app: good}}\n"                                                             \
        "    spec: {containers: [{name: c, image: good:1, imagePullPolicy: Never}]}\n---\n"                 \
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\n  namespace: t-roll\nspec:\n"     \
        "  replicas: 1\n  selector: {matchLabels: {app: stuck}}\n  template:\n"                             \
        "    metadata: {labels: {app: stuck}}\n"                                                            \
        "    spec:\n      nodeSelector: {no-such-node: 'true'}\n"                                           \
        "      containers: [{name: c, image: stuck:1, imagePullPolicy: Never}]\n---\n"                      \
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: t-roll\nspec:\n"       \
        "  serviceName: db\n  replicas: 2\n  selector: {matchLabels: {app: db}}\n  template:\n"             \
        "    metadata: {labels: {app: db}}\n"                                                               \
        "    spec: {containers: [{name: c, image: db:1, imagePullPolicy: Never}]}\n---\n"                   \
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: t-roll\nspec:\n"      \
        "  selector: {matchLabels: {app: agent}}\n  template:\n"                                            \
        "    metadata: {labels: {app: agent}}\n"                                                            \
        "    spec: {containers: [{name: c, image: agent:1, imagePullPolicy: Never}]}\n"

Test(k8s_cluster, rollout_status_as_kubectl_judges_it, .timeout = 180) {
        K8sClient *c = client();
        Applied a = apply_yaml(c, WORKLOADS_YAML, "t-roll", false);
        cr_assert_eq(a.result, K8S_RESULT_OK, "%s", a.message);

        Health h;
        POLL_UNTIL(
                c,
                60,
                h,
                health(c, "t-roll"),
                workload_state(&h, "Deployment/good") &&
                        strcmp(workload_state(&h, "Deployment/good"), "done") == 0 &&
                        workload_state(&h, "StatefulSet/db") &&
                        strcmp(workload_state(&h, "StatefulSet/db"), "done") == 0 &&
                        workload_state(&h, "DaemonSet/agent") &&
                        strcmp(workload_state(&h, "DaemonSet/agent"), "done") == 0);
        cr_assert_str_eq(workload_state(&h, "Deployment/good"), "done");
        cr_assert_str_eq(workload_state(&h, "StatefulSet/db"), "done");
        cr_assert_str_eq(workload_state(&h, "DaemonSet/agent"), "done");
        /* The Deployment whose pod cannot be scheduled is not rolled out, and its pod says why. */
        cr_assert_str_eq(workload_state(&h, "Deployment/stuck"), "progressing");
        cr_assert(!h.ready);
        bool found = false;
        for (size_t i = 0; i < h.n_pods; i++)
                if (strncmp(h.pods[i][0], "stuck-", 6) == 0) {
                        found = true;
                        cr_assert_str_eq(h.pods[i][1], "Unschedulable");
                        cr_assert(
                                strstr(h.pods[i][2], "node affinity") || strstr(h.pods[i][2], "selector"),
                                "%s",
                                h.pods[i][2]);
                } else
                        cr_assert(h.pod_ready[i], "pod %s not ready", h.pods[i][0]);
        cr_assert(found);
        client_free(c);
}

Test(k8s_cluster, crash_looping_pod_is_named_with_its_reason, .timeout = 180) {
        K8sClient *c = client();
        const char *yaml =
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-crash\n---\n"
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: crasher\n  namespace: t-crash\n"
                "spec:\n  replicas: 1\n  selector: {matchLabels: {app: crasher}}\n  template:\n"
                "    metadata: {labels: {app: crasher}}\n"
                "    spec: {containers: [{name: main, image: crasher:1, imagePullPolicy: Never}]}\n";
        Applied a = apply_yaml(c, yaml, "t-crash", false);
        cr_assert_eq(a.result, K8S_RESULT_OK, "%s", a.message);
        Health h;
        POLL_UNTIL(c, 60, h, health(c, "t-crash"), h.ready && h.n_pods == 1);
        cr_assert(h.ready, "never ready: %s", h.n_workloads ? h.workload_state[0][1] : "");

        /* The kubelet would report this; here it is written through the status subresource. */
        char path[1024], body[1024];
        (void) snprintf(path, sizeof path, "/api/v1/namespaces/t-crash/pods/%s/status", h.pods[0][0]);
        (void) snprintf(
                body,
                sizeof body,
                "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}],"
                "\"containerStatuses\":[{\"name\":\"main\",\"image\":\"crasher:1\",\"imageID\":\"\","
                "\"ready\":false,\"restartCount\":7,\"started\":false,"
                "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\","
                "\"message\":\"back-off 5m0s restarting failed container=main\"}}}]}}");
        Reply r = request(c, "PATCH", path, "application/merge-patch+json", body);
        cr_assert_eq(r.result, K8S_RESULT_OK, "%s", r.message);
        reply_done(&r);

        h = health(c, "t-crash");
        cr_assert(!h.ready);
        cr_assert_eq(h.n_pods, 1);
        cr_assert_str_eq(h.pods[0][1], "CrashLoopBackOff");
        cr_assert_str_eq(h.pods[0][3], "main");
        cr_assert(strstr(h.pods[0][2], "back-off"), "%s", h.pods[0][2]);
        client_free(c);
}

Test(k8s_cluster, crd_applied_mid_run_is_discovered, .timeout = 180) {
        K8sClient *c = client();
        /* A first apply fills the discovery table, without the kind. */
        Applied a =
                apply_yaml(c, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-crd\n", "t-crd", false);
        cr_assert_eq(a.result, K8S_RESULT_OK, "%s", a.message);
        cr_assert_null(k8s_client_find_kind(c, "otel.appliance/v1", "Widget"));

        const char *yaml =
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-crd\n---\n"
                "apiVersion: otel.appliance/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: t-crd\n"
                "spec:\n  size: 3\n---\n"
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                "metadata:\n  name: widgets.otel.appliance\nspec:\n  group: otel.appliance\n"
                "  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n"
                "  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n"
                "    schema:\n      openAPIV3Schema:\n        type: object\n"
                "        x-kubernetes-preserve-unknown-fields: true\n";
        /* The CRD is applied before the Widget (dependency order, although it comes last in the file); the
         * Widget's kind is then looked up again. Until the API server serves the new kind the result is
         * RETRY, never FATAL. */
        Applied b = {};
        unsigned attempts = 0;
        for (; attempts < 40; attempts++) {
                b = apply_yaml(c, yaml, "t-crd", false);
                if (b.result == K8S_RESULT_OK)
                        break;
                cr_assert_eq(b.result, K8S_RESULT_RETRY, "%s", b.message);
                cr_assert(strstr(b.message, "Widget"), "%s", b.message);
                usleep(250000);
        }
        cr_assert_eq(b.result, K8S_RESULT_OK, "%s", b.message);
        cr_assert_str_eq(b.applied[1][0], "CustomResourceDefinition/widgets.otel.appliance");
        const K8sResource *res = k8s_client_find_kind(c, "otel.appliance/v1", "Widget");
        cr_assert_not_null(res);
        cr_assert_str_eq(res->resource, "widgets");
        cr_assert(res->namespaced);
        Reply w = request(c, "GET", "/apis/otel.appliance/v1/namespaces/t-crd/widgets/w1", NULL, NULL);
        cr_assert_eq(w.status, 200, "%s", w.message);
        cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(w.json, "spec"), "size")->valueint, 3);
        reply_done(&w);
        client_free(c);
}

typedef struct Discovered {
        bool done;
        K8sResultClass result;
} Discovered;

static void on_discovered(K8sClient *c, K8sResultClass result, const char *message, void *userdata) {
        Discovered *d = userdata;
        d->result = result;
        d->done = true;
}

Test(k8s_cluster, discovery_maps_kinds_without_a_table, .timeout = 60) {
        K8sClient *c = client();
        Discovered st = {.result = _K8S_RESULT_INVALID};
        cr_assert_eq(k8s_client_discover(c, on_discovered, &st), 0);
        cr_assert_eq(k8s_client_run_until(c, &st.done, 30 * SEC), 0);
        cr_assert_eq(st.result, K8S_RESULT_OK);
        static const struct {
                const char *av, *kind, *res;
                bool ns;
        } want[] = {
                {"v1", "Namespace", "namespaces", false},
                {"v1", "ConfigMap", "configmaps", true},
                {"v1", "PersistentVolumeClaim", "persistentvolumeclaims", true},
                {"apps/v1", "Deployment", "deployments", true},
                {"apps/v1", "DaemonSet", "daemonsets", true},
                {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false},
                {"apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false},
                {"networking.k8s.io/v1", "Ingress", "ingresses", true},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                const K8sResource *r = k8s_client_find_kind(c, want[i].av, want[i].kind);
                cr_assert_not_null(r, "%s %s", want[i].av, want[i].kind);
                cr_assert_str_eq(r->resource, want[i].res);
                cr_assert_eq(r->namespaced, want[i].ns, "%s", want[i].kind);
        }
        cr_assert_null(k8s_client_find_kind(c, "apps/v2", "Deployment"));
        cr_assert_null(k8s_client_find_kind(c, "v1", "Deployment"));
        client_free(c);
}

static char *b64_file(const char *path) {
        char cmd[1024];
        (void) snprintf(cmd, sizeof cmd, "base64 -w0 '%s'", path);
        FILE *p = popen(cmd, "re");
        cr_assert_not_null(p);
        char *buf = calloc(1, 65536);
        size_t n = fread(buf, 1, 65535, p);
        buf[n] = '\0';
        cr_assert_eq(pclose(p), 0);
        return buf;
}

Test(k8s_cluster, inline_credentials_and_bearer_tokens_work, .timeout = 120) {
        const char *state = getenv("OTEL_K8S_STATE");
        cr_assert_not_null(state);
        K8sClient *admin = client();
        const K8sKubeconfig *akc = k8s_client_kubeconfig(admin);
        char p[600];
        (void) snprintf(p, sizeof p, "%s/pki/ca.crt", state);
        char *ca = b64_file(p);
        (void) snprintf(p, sizeof p, "%s/pki/admin.crt", state);
        char *crt = b64_file(p);
        (void) snprintf(p, sizeof p, "%s/pki/admin.key", state);
        char *key = b64_file(p);

        char kpath[] = "/tmp/test-k8s-inline-XXXXXX";
        int fd = mkstemp(kpath);
        cr_assert_geq(fd, 0);
        FILE *f = fdopen(fd, "w");
        fprintf(f,
                "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                "clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"
                "users:\n- name: u\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n"
                "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
                akc->server,
                ca,
                crt,
                key);
        fclose(f);
        K8sClient *c = client_for(kpath);
        cr_assert_not_null(k8s_client_kubeconfig(c)->cert_data);
        Reply r = request(c, "GET", "/version", NULL, NULL);
        cr_assert_eq(r.result, K8S_RESULT_OK, "%s", r.message);
        cr_assert_str_eq(jstr(r.json, "gitVersion", NULL), "v1.34.4");
        reply_done(&r);
        client_free(c);

        /* A ServiceAccount token: authenticated, but without rights to read secrets → FATAL 403 with the
         * server's message. */
        Applied a = apply_yaml(
                admin,
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t-token\n---\n"
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: reader\n  namespace: t-token\n",
                "t-token",
                false);
        cr_assert_eq(a.result, K8S_RESULT_OK, "%s", a.message);
        Reply t =
                request(admin,
                        "POST",
                        "/api/v1/namespaces/t-token/serviceaccounts/reader/token",
                        "application/json",
                        "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                        "\"spec\":{\"expirationSeconds\":600}}");
        cr_assert_eq(t.result, K8S_RESULT_OK, "%s", t.message);
        const char *token = jstr(t.json, "status", "token");
        cr_assert_not_null(token);
        f = fopen(kpath, "we");
        fprintf(f,
                "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                "clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"
                "users:\n- name: u\n  user:\n    token: %s\n"
                "contexts:\n- name: x\n  context: {cluster: c, user: u, namespace: t-token}\n",
                akc->server,
                ca,
                token);
        fclose(f);
        reply_done(&t);
        c = client_for(kpath);
        r = request(c, "GET", "/api", NULL, NULL);
        cr_assert_eq(r.result, K8S_RESULT_OK, "%s", r.message);
        reply_done(&r);
        r = request(c, "GET", "/api/v1/namespaces/t-token/secrets", NULL, NULL);
        cr_assert_eq(r.status, 403);
        cr_assert_eq(r.result, K8S_RESULT_FATAL);
        cr_assert_str_eq(r.reason, "Forbidden");
        cr_assert(strstr(r.message, "system:serviceaccount:t-token:reader"), "%s", r.message);
        reply_done(&r);
        client_free(c);

        /* A CA the server's certificate does not chain to: FATAL, not retried forever. */
        f = fopen(kpath, "we");
        fprintf(f,
                "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                "clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"
                "users:\n- name: u\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n"
                "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
                akc->server,
                crt, /* a client certificate, not the CA */
                crt,
                key);
        fclose(f);
        c = client_for(kpath);
        r = request(c, "GET", "/version", NULL, NULL);
        cr_assert_eq(r.status, 0);
        cr_assert_eq(r.result, K8S_RESULT_FATAL, "%s", r.message);
        reply_done(&r);
        client_free(c);

        unlink(kpath);
        free(ca);
        free(crt);
        free(key);
        client_free(admin);
}
