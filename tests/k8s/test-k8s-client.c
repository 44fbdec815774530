/* SPDX-License-Identifier: MIT */
/* Client pieces that need no API server: answer classification, the discovery table, URL paths, manifest
 * loading and ordering, and what happens when the server cannot be reached. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "k8s-apply.h"
#include "k8s-client.h"
#include "k8s-health.h"
#include "k8s-manifest.h"

static char *err; /* the last error message (errmsg.h), replaced by each call */

static K8sResponse classify(CURLcode cc, long status, const char *body) {
        K8sResponse r = {.retry_after = -1};
        cJSON *j = body ? cJSON_Parse(body) : NULL;
        k8s_response_classify(cc, status, j, cc ? "curl says no" : NULL, &r);
        cJSON_Delete(j);
        return r;
}

Test(k8s_client, classification) {
        struct {
                long status;
                K8sResultClass want;
        } cases[] = {
                {200, K8S_RESULT_OK},
                {201, K8S_RESULT_OK},
                {400, K8S_RESULT_FATAL},
                {401, K8S_RESULT_FATAL},
                {403, K8S_RESULT_FATAL},
                {404, K8S_RESULT_FATAL},
                {408, K8S_RESULT_RETRY},
                {409, K8S_RESULT_FATAL},
                {422, K8S_RESULT_FATAL},
                {429, K8S_RESULT_RETRY},
                {500, K8S_RESULT_RETRY},
                {501, K8S_RESULT_FATAL},
                {502, K8S_RESULT_RETRY},
                {503, K8S_RESULT_RETRY},
                {504, K8S_RESULT_RETRY},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                K8sResponse r = classify(CURLE_OK, cases[i].status, NULL);
                cr_assert_eq(r.result, cases[i].want, "HTTP %ld", cases[i].status);
                if (cases[i].status >= 300) {
                        char want[32];
                        (void) snprintf(want, sizeof want, "HTTP %ld", cases[i].status);
                        cr_assert_str_eq(r.message, want);
                }
        }

        /* The server's Status is kept: message, reason, retry hint. */
        K8sResponse r = classify(
                CURLE_OK,
                429,
                "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"too many requests, please "
                "try again later\",\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":"
                "3},\"code\":429}");
        cr_assert_eq(r.result, K8S_RESULT_RETRY);
        cr_assert_str_eq(r.message, "too many requests, please try again later");
        cr_assert_str_eq(r.reason, "TooManyRequests");
        cr_assert_eq(r.retry_after, 3);

        r = classify(
                CURLE_OK,
                422,
                "{\"kind\":\"Status\",\"message\":\"Deployment.apps \\\"x\\\" is invalid\",\"reason\":\"Invalid\"}");
        cr_assert_eq(r.result, K8S_RESULT_FATAL);
        cr_assert_str_eq(r.reason, "Invalid");

        /* Server-side apply's 500 for a patch that does not fit the schema is the manifest's fault. */
        r = classify(
                CURLE_OK,
                500,
                "{\"kind\":\"Status\",\"message\":\"failed to create typed patch object (a/b; apps/v1, "
                "Kind=Deployment): .spec.replicas: expected numeric\",\"code\":500}");
        cr_assert_eq(r.result, K8S_RESULT_FATAL);
        r = classify(CURLE_OK, 500, "{\"kind\":\"Status\",\"message\":\"etcdserver: request timed out\"}");
        cr_assert_eq(r.result, K8S_RESULT_RETRY);

        /* Transport: the server may come back, or the setup is wrong. */
        CURLcode retry[] = {
                CURLE_COULDNT_CONNECT,
                CURLE_OPERATION_TIMEDOUT,
                CURLE_COULDNT_RESOLVE_HOST,
                CURLE_RECV_ERROR,
                CURLE_SEND_ERROR,
                CURLE_GOT_NOTHING,
                CURLE_SSL_CONNECT_ERROR};
        for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
                r = classify(retry[i], 0, NULL);
                cr_assert_eq(r.result, K8S_RESULT_RETRY, "%s", curl_easy_strerror(retry[i]));
                cr_assert_eq(r.status, 0);
                cr_assert_str_eq(r.message, "Kubernetes API: curl says no");
        }
        CURLcode fatal[] = {
                CURLE_PEER_FAILED_VERIFICATION,
                CURLE_SSL_CERTPROBLEM,
                CURLE_SSL_CACERT_BADFILE,
                CURLE_URL_MALFORMAT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
                cr_assert_eq(
                        classify(fatal[i], 0, NULL).result,
                        K8S_RESULT_FATAL,
                        "%s",
                        curl_easy_strerror(fatal[i]));
}

static const char DISCOVERY[] =
        "{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":\"apidiscovery.k8s.io/v2\",\"items\":["
        "{\"metadata\":{\"name\":\"apps\"},\"versions\":[{\"version\":\"v1\",\"resources\":["
        "{\"resource\":\"deployments\",\"responseKind\":{\"group\":\"\",\"version\":\"\",\"kind\":\"Deployment\"},"
        "\"scope\":\"Namespaced\",\"verbs\":[\"create\",\"delete\",\"get\",\"list\",\"patch\"],"
        "\"subresources\":[{\"subresource\":\"status\",\"responseKind\":{\"kind\":\"Deployment\"}}]}]}]},"
        "{\"metadata\":{\"name\":\"example.com\"},\"versions\":["
        "{\"version\":\"v2\",\"resources\":[{\"resource\":\"gizmos\",\"responseKind\":{\"kind\":\"Gizmo\"},"
        "\"scope\":\"Cluster\",\"verbs\":[\"get\",\"list\"]}]},"
        "{\"version\":\"v1\",\"resources\":[{\"resource\":\"gizmos\",\"responseKind\":{\"kind\":\"Gizmo\"},"
        "\"scope\":\"Cluster\",\"verbs\":[\"get\"]}]}]}]}";

static const char CORE[] =
        "{\"kind\":\"APIGroupDiscoveryList\",\"items\":[{\"metadata\":{},\"versions\":["
        "{\"version\":\"v1\",\"resources\":[{\"resource\":\"configmaps\",\"responseKind\":"
        "{\"kind\":\"ConfigMap\"},\"scope\":\"Namespaced\",\"verbs\":[\"delete\",\"list\"]},"
        "{\"resource\":\"namespaces\",\"responseKind\":{\"kind\":\"Namespace\"},"
        "\"scope\":\"Cluster\",\"verbs\":[\"get\"]}]}]}]}";

Test(k8s_client, discovery_table) {
        K8sResourceTable t = {};
        cJSON *doc = cJSON_Parse(DISCOVERY), *core = cJSON_Parse(CORE);
        cr_assert_eq(k8s_resource_table_add_discovery(&t, doc, &err), 0, "%s", err);
        cr_assert_eq(k8s_resource_table_add_discovery(&t, core, &err), 0, "%s", err);
        cr_assert_eq(t.n, 5);

        const K8sResource *r = k8s_resource_table_find(&t, "apps/v1", "Deployment");
        cr_assert_not_null(r);
        cr_assert_str_eq(r->resource, "deployments");
        cr_assert(r->namespaced);
        cr_assert_eq(
                r->verbs, K8S_VERB_CREATE | K8S_VERB_DELETE | K8S_VERB_GET | K8S_VERB_LIST | K8S_VERB_PATCH);
        r = k8s_resource_table_find(&t, "v1", "ConfigMap");
        cr_assert_not_null(r);
        cr_assert_str_eq(r->group, "");
        r = k8s_resource_table_find(&t, "example.com/v1", "Gizmo");
        cr_assert_not_null(r);
        cr_assert(!r->namespaced);
        cr_assert_eq(r->verbs, K8S_VERB_GET);
        cr_assert_not_null(k8s_resource_table_find(&t, "example.com/v2", "Gizmo"));
        cr_assert_null(k8s_resource_table_find(&t, "example.com/v3", "Gizmo"));
        cr_assert_null(k8s_resource_table_find(&t, "v1", "Deployment"));
        cr_assert_null(k8s_resource_table_find(&t, "apps/v1", "ConfigMap"));
        cr_assert_null(k8s_resource_table_find(&t, "ps/v1", "Deployment"));

        char *path;
        cr_assert_eq(
                k8s_resource_path(
                        k8s_resource_table_find(&t, "apps/v1", "Deployment"), "otel-demo", "loggen", &path),
                0);
        cr_assert_str_eq(path, "/apis/apps/v1/namespaces/otel-demo/deployments/loggen");
        free(path);
        cr_assert_eq(
                k8s_resource_path(
                        k8s_resource_table_find(&t, "v1", "Namespace"), "ignored", "otel-demo", &path),
                0);
        cr_assert_str_eq(path, "/api/v1/namespaces/otel-demo");
        free(path);
        cr_assert_eq(
                k8s_resource_path(k8s_resource_table_find(&t, "v1", "ConfigMap"), NULL, NULL, &path), 0);
        cr_assert_str_eq(path, "/api/v1/configmaps");
        free(path);
        k8s_resource_table_done(&t);

        /* An old server (plain APIGroupList) is refused with a reason. */
        cJSON *old = cJSON_Parse("{\"kind\":\"APIGroupList\",\"groups\":[]}");
        cr_assert_eq(k8s_resource_table_add_discovery(&t, old, &err), -EPROTO);
        cr_assert(err && strstr(err, "aggregated discovery"), "%s", err);
        cJSON_Delete(old);
        cJSON_Delete(doc);
        cJSON_Delete(core);
}

Test(k8s_client, escape) {
        char *s = k8s_escape("otel.appliance/inventory=a b&c");
        cr_assert_str_eq(s, "otel.appliance%2Finventory%3Da%20b%26c");
        free(s);
}

static char dir[] = "/tmp/test-k8s-client-XXXXXX";

static void write_file(const char *name, const char *content) {
        char p[512];
        (void) snprintf(p, sizeof p, "%s/%s", dir, name);
        FILE *f = fopen(p, "we");
        cr_assert_not_null(f, "%s", p);
        fputs(content, f);
        fclose(f);
}

static void mkd(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void rmd(void) {
        char cmd[128];
        (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        int r = system(cmd);
        (void) r;
}

Test(k8s_client, manifest_sets, .init = mkd, .fini = rmd) {
        char sub[512];
        (void) snprintf(sub, sizeof sub, "%s/b-app", dir);
        cr_assert_eq(mkdir(sub, 0755), 0);
        (void) snprintf(sub, sizeof sub, "%s/.hidden", dir);
        cr_assert_eq(mkdir(sub, 0755), 0);
        write_file(
                "b-app/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: ns}\n---\n"
                "apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: ns}\n");
        write_file("a-ns.yml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n");
        write_file(
                "c-list.yaml",
                "apiVersion: v1\nkind: List\nitems:\n"
                "- {apiVersion: v1, kind: ConfigMap, metadata: {name: one, namespace: ns}}\n"
                "- {apiVersion: v1, kind: Secret, metadata: {name: two}}\n");
        write_file("notes.txt", "not yaml: [");
        write_file(".hidden/x.yaml", "not: [valid");

        K8sManifestSet s = {};
        cr_assert_eq(k8s_manifest_set_add_dir(&s, dir, &err), 0, "%s", err);
        cr_assert_eq(s.n, 5);
        cr_assert_str_eq(s.items[0].kind, "Namespace");
        cr_assert_str_eq(s.items[1].kind, "Deployment");
        cr_assert_eq(s.items[2].line, 5);
        cr_assert(strstr(s.items[2].file, "b-app/deploy.yaml"));
        cr_assert_str_eq(s.items[3].name, "one");
        cr_assert_str_eq(s.items[3].namespace, "ns");
        cr_assert_null(s.items[4].namespace);

        k8s_manifest_set_sort(&s);
        const char *order[] = {"Namespace", "ConfigMap", "Secret", "Service", "Deployment"};
        for (size_t i = 0; i < 5; i++)
                cr_assert_str_eq(s.items[i].kind, order[i]);
        k8s_manifest_set_done(&s);

        cr_assert_lt(k8s_kind_rank("Namespace"), k8s_kind_rank("CustomResourceDefinition"));
        cr_assert_lt(k8s_kind_rank("CustomResourceDefinition"), k8s_kind_rank("ServiceAccount"));
        cr_assert_lt(k8s_kind_rank("ClusterRoleBinding"), k8s_kind_rank("ConfigMap"));
        cr_assert_lt(k8s_kind_rank("Secret"), k8s_kind_rank("Service"));
        cr_assert_lt(k8s_kind_rank("Service"), k8s_kind_rank("PersistentVolumeClaim"));
        cr_assert_lt(k8s_kind_rank("PersistentVolumeClaim"), k8s_kind_rank("StatefulSet"));
        cr_assert_lt(k8s_kind_rank("DaemonSet"), k8s_kind_rank("Widget"));
}

Test(k8s_client, bad_manifests_name_file_and_line, .init = mkd, .fini = rmd) {
        K8sManifestSet s = {};
        write_file("ok.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n");
        write_file(
                "z-bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n c: d\n");
        cr_assert_eq(k8s_manifest_set_add_dir(&s, dir, &err), -EINVAL);
        cr_assert(err && strstr(err, "z-bad.yaml:7:"), "%s", err);
        k8s_manifest_set_done(&s);

        struct {
                const char *yaml, *want;
        } cases[] = {
                {"kind: ConfigMap\nmetadata: {name: x}\n", "m.yaml:1: object has no apiVersion"},
                {"apiVersion: v1\nmetadata: {name: x}\n", "m.yaml:1: object has no kind"},
                {"---\n# c\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: y}\n",
                 "m.yaml:4: object has no metadata.name"},
                {"- a\n- b\n", "m.yaml:1: a manifest must be a mapping"},
                {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1, a: 2}\n",
                 "m.yaml:4:14: duplicate key 'a'"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                s = (K8sManifestSet){};
                cr_assert_lt(
                        k8s_manifest_set_add_buffer(
                                &s, cases[i].yaml, strlen(cases[i].yaml), "m.yaml", &err),
                        0);
                cr_assert(err && strstr(err, cases[i].want), "want '%s', got '%s'", cases[i].want, err);
                k8s_manifest_set_done(&s);
        }
        cr_assert_eq(k8s_manifest_set_add_dir(&s, "/nonexistent-dir", &err), -ENOENT);
        cr_assert(err && strstr(err, "/nonexistent-dir"), "%s", err);
}

/* A port nothing listens on: bind, read the number, close. */
static int closed_port(void) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof a;
        cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &l), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static K8sClient *unreachable_client(void) {
        K8sKubeconfig *kc = calloc(1, sizeof *kc);
        cr_assert_not_null(kc);
        cr_assert_geq(asprintf(&kc->server, "https://127.0.0.1:%d", closed_port()), 0);
        kc->namespace = strdup("default");
        kc->context = strdup("t");
        sd_event *e;
        cr_assert_eq(sd_event_new(&e), 0);
        K8sClient *c;
        cr_assert_eq(k8s_client_new(e, kc, &c), 0);
        sd_event_unref(e);
        return c;
}

static void client_free(K8sClient *c) {
        sd_event *e = sd_event_ref(k8s_client_event(c));
        k8s_client_free(c);
        sd_event_unref(e);
}

typedef struct Got {
        bool done;
        K8sResultClass result;
        long status;
        char message[2048];
} Got;

static void on_response(K8sClient *c, const K8sResponse *r, void *userdata) {
        Got *g = userdata;
        g->result = r->result;
        g->status = r->status;
        (void) snprintf(g->message, sizeof g->message, "%s", r->message);
        g->done = true;
}

static void on_apply(K8sClient *c, const K8sApplyResult *r, void *userdata) {
        Got *g = userdata;
        g->result = r->result;
        (void) snprintf(g->message, sizeof g->message, "%s", r->message);
        g->done = true;
}

static void on_health(K8sClient *c, const K8sHealthReport *r, void *userdata) {
        Got *g = userdata;
        g->result = r->result;
        (void) snprintf(g->message, sizeof g->message, "%s", r->message);
        g->done = true;
}

static void on_discover(K8sClient *c, K8sResultClass result, const char *message, void *userdata) {
        *(bool *) userdata = true;
}

Test(k8s_client, unreachable_server_is_retryable) {
        K8sClient *c = unreachable_client();
        Got g = {};
        cr_assert_eq(k8s_client_request(c, "GET", "/version", NULL, NULL, on_response, &g), 0);
        cr_assert_eq(k8s_client_in_flight(c), 1);
        cr_assert_eq(k8s_client_run_until(c, &g.done, 30000000), 0);
        cr_assert_eq(g.result, K8S_RESULT_RETRY);
        cr_assert_eq(g.status, 0);
        cr_assert(strstr(g.message, "onnect"), "%s", g.message);
        cr_assert_eq(k8s_client_in_flight(c), 0);

        /* An apply fails the same way, at its first step (discovery), and says so. */
        K8sManifestSet s = {};
        const char *y = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
        cr_assert_eq(k8s_manifest_set_add_buffer(&s, y, strlen(y), "m.yaml", &err), 0);
        g = (Got){};
        cr_assert_eq(k8s_apply(c, &s, NULL, on_apply, &g), 0);
        cr_assert_eq(k8s_client_run_until(c, &g.done, 30000000), 0);
        cr_assert_eq(g.result, K8S_RESULT_RETRY);
        cr_assert(strstr(g.message, "discovery"), "%s", g.message);
        k8s_manifest_set_done(&s);

        /* An empty set with pruning is refused at once: it would delete everything. */
        K8sManifestSet empty = {};
        K8sApplyOptions prune = {.prune = true};
        cr_assert_eq(k8s_apply(c, &empty, &prune, on_apply, &g), -ENODATA);
        prune.dry_run = true;
        g = (Got){};
        cr_assert_eq(k8s_apply(c, &empty, &prune, on_apply, &g), 0);
        cr_assert_eq(k8s_client_run_until(c, &g.done, 30000000), 0);

        /* So does a health check: a report marked RETRY, saying which list failed. */
        g = (Got){};
        cr_assert_eq(k8s_health_check(c, "otel-demo", on_health, &g), 0);
        cr_assert_eq(k8s_client_run_until(c, &g.done, 30000000), 0);
        cr_assert_eq(g.result, K8S_RESULT_RETRY);
        cr_assert(strstr(g.message, "listing "), "%s", g.message);
        client_free(c);
}

Test(k8s_client, freeing_the_client_cancels_requests) {
        K8sClient *c = unreachable_client();
        Got g = {};
        /* A listening socket that never answers: the request stays in flight. */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof a;
        cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        cr_assert_eq(listen(fd, 1), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &l), 0);
        client_free(c);

        K8sKubeconfig *kc = calloc(1, sizeof *kc);
        cr_assert_geq(asprintf(&kc->server, "https://127.0.0.1:%d", ntohs(a.sin_port)), 0);
        kc->namespace = strdup("default");
        sd_event *e;
        cr_assert_eq(sd_event_new(&e), 0);
        cr_assert_eq(k8s_client_new(e, kc, &c), 0);
        k8s_client_set_timeouts(c, 300000, 300000);
        cr_assert_eq(k8s_client_request(c, "GET", "/version", NULL, NULL, on_response, &g), 0);
        /* The 0.3 s request limit turns into a RETRY (the wait is only a bound). */
        cr_assert_eq(k8s_client_run_until(c, &g.done, 30000000), 0);
        cr_assert_eq(g.result, K8S_RESULT_RETRY, "%s", g.message);

        /* A request, a discovery, an apply and a health check in flight when the client goes: no handler
         * runs, nothing leaks (LeakSanitizer checks under --sanitize). */
        g = (Got){};
        Got ga = {}, gh = {};
        bool discovered = false;
        K8sManifestSet s = {};
        const char *y = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
        cr_assert_eq(k8s_manifest_set_add_buffer(&s, y, strlen(y), "m.yaml", &err), 0);
        k8s_client_set_timeouts(c, 30000000, 30000000);
        cr_assert_eq(k8s_client_request(c, "GET", "/version", NULL, NULL, on_response, &g), 0);
        cr_assert_eq(k8s_client_discover(c, on_discover, &discovered), 0);
        cr_assert_eq(k8s_apply(c, &s, NULL, on_apply, &ga), 0);
        cr_assert_eq(k8s_health_check(c, "otel-demo", on_health, &gh), 0);
        k8s_manifest_set_done(&s);
        for (int i = 0; i < 20; i++)
                (void) sd_event_run(e, 1000);
        cr_assert_geq(k8s_client_in_flight(c), 4);
        k8s_client_free(c);
        cr_assert(!g.done && !ga.done && !gh.done && !discovered);
        sd_event_unref(e);
        close(fd);
}
