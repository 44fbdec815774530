/* SPDX-License-Identifier: MIT */
/* What the manifests promise, checked on the files themselves (read through the client's own YAML reader);
 * that the API server accepts them is test-k8s-cluster's job. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "build-config.h"
#include "k8s-manifest.h"

static K8sManifestSet set;
static char *err; /* the last error message (errmsg.h), replaced by each call */

static void load(void) {
        char dir[512];
        (void) snprintf(dir, sizeof dir, "%s/manifests", PROJECT_SOURCE_ROOT);
        cr_assert_eq(k8s_manifest_set_add_dir(&set, dir, &err), 0, "%s", err);
}

static void unload(void) {
        k8s_manifest_set_done(&set);
}

TestSuite(k8s_manifests, .init = load, .fini = unload);

static const cJSON *at(const cJSON *o, const char *path) {
        /* Dotted path; [n] is not needed here. */
        char buf[256];
        (void) snprintf(buf, sizeof buf, "%s", path);
        for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
                o = cJSON_GetObjectItemCaseSensitive(o, k);
        return o;
}

static const char *str(const cJSON *o, const char *path) {
        const cJSON *v = at(o, path);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A key taken literally (label keys and file names contain dots). */
static const char *kstr(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const K8sManifest *find(const char *kind, const char *name) {
        for (size_t i = 0; i < set.n; i++)
                if (strcmp(set.items[i].kind, kind) == 0 && strcmp(set.items[i].name, name) == 0)
                        return &set.items[i];
        return NULL;
}

static const cJSON *pod_spec(const K8sManifest *m) {
        return at(m->obj, "spec.template.spec");
}

static bool is_workload(const K8sManifest *m) {
        return strcmp(m->kind, "Deployment") == 0 || strcmp(m->kind, "StatefulSet") == 0 ||
               strcmp(m->kind, "DaemonSet") == 0;
}

Test(k8s_manifests, the_whole_stack_is_there) {
        static const struct {
                const char *kind, *name;
        } want[] = {
                {"Namespace", "otel-demo"},
                {"ConfigMap", "clickhouse-config"},
                {"ConfigMap", "clickhouse-init"},
                {"StatefulSet", "clickhouse"},
                {"Service", "clickhouse"},
                {"Service", "clickhouse-headless"},
                {"Deployment", "loggen"},
                {"ServiceAccount", "shipper"},
                {"DaemonSet", "shipper"},
                {"Deployment", "hyperdx"},
                {"Service", "hyperdx"},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                cr_assert_not_null(
                        find(want[i].kind, want[i].name), "%s %s missing", want[i].kind, want[i].name);
}

Test(k8s_manifests, labels_and_namespace) {
        for (size_t i = 0; i < set.n; i++) {
                const K8sManifest *m = &set.items[i];
                const cJSON *labels = at(m->obj, "metadata.labels");
                cr_assert_not_null(
                        kstr(labels, "app.kubernetes.io/name"),
                        "%s:%u: no app.kubernetes.io/name",
                        m->file,
                        m->line);
                cr_assert_str_eq(
                        kstr(labels, "app.kubernetes.io/part-of"),
                        "otel-appliance",
                        "%s:%u",
                        m->file,
                        m->line);
                cr_assert_null(
                        kstr(labels, "app.kubernetes.io/managed-by"),
                        "%s:%u: managed-by is the supervisor's to set",
                        m->file,
                        m->line);
                if (strcmp(m->kind, "Namespace") != 0)
                        cr_assert_str_eq(m->namespace, "otel-demo", "%s:%u", m->file, m->line);
                if (is_workload(m)) {
                        /* The selector picks the template's own labels. */
                        const cJSON *sel = at(m->obj, "spec.selector.matchLabels"), *l;
                        const cJSON *tl = at(m->obj, "spec.template.metadata.labels");
                        cr_assert(cJSON_GetArraySize(sel) > 0);
                        cJSON_ArrayForEach(l, sel)
                                cr_assert_str_eq(kstr(tl, l->string), l->valuestring, "%s", m->name);
                        cr_assert_str_eq(kstr(tl, "app.kubernetes.io/part-of"), "otel-appliance");
                }
        }
}

Test(k8s_manifests, containers_images_resources_and_references) {
        for (size_t i = 0; i < set.n; i++) {
                const K8sManifest *m = &set.items[i];
                if (!is_workload(m))
                        continue;
                const cJSON *spec = pod_spec(m), *c;
                cJSON_ArrayForEach(c, cJSON_GetObjectItem(spec, "containers")) {
                        const char *image = str(c, "image"), *policy = str(c, "imagePullPolicy");
                        cr_assert_not_null(image);
                        /* The images we build are loaded into the node, never pulled. */
                        if (strncmp(image, "otel/", 5) == 0)
                                cr_assert_str_eq(policy, "Never", "%s: %s", m->name, image);
                        else
                                cr_assert(
                                        strstr(image, "@sha256:"),
                                        "%s: a pulled image is pinned by digest",
                                        image);
                        cr_assert_not_null(str(c, "resources.requests.cpu"), "%s", m->name);
                        cr_assert_not_null(str(c, "resources.requests.memory"), "%s", m->name);
                        cr_assert_not_null(str(c, "resources.limits.memory"), "%s", m->name);
                        cr_assert_not_null(at(c, "readinessProbe"), "%s", m->name);
                        cr_assert_not_null(at(c, "livenessProbe"), "%s", m->name);

                        /* Every secret referenced is one the supervisor creates at first boot (no Secret is
                         * in the manifests), with one of the keys it writes. */
                        const cJSON *e;
                        cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "env")) {
                                const char *sname = str(e, "valueFrom.secretKeyRef.name");
                                if (!sname)
                                        continue;
                                const char *key = str(e, "valueFrom.secretKeyRef.key");
                                bool ch = strcmp(sname, "clickhouse-credentials") == 0,
                                     hdx = strcmp(sname, "hyperdx-credentials") == 0;
                                cr_assert(ch || hdx, "%s: Secret %s", m->name, sname);
                                cr_assert(
                                        key && ((ch && (strcmp(key, "admin-password") == 0 ||
                                                        strcmp(key, "ingest-password") == 0 ||
                                                        strcmp(key, "reader-password") == 0)) ||
                                                (hdx && (strcmp(key, "mongodb-password") == 0 ||
                                                         strcmp(key, "session-secret") == 0))),
                                        "%s: key %s",
                                        m->name,
                                        key ? key : "(none)");
                        }
                }
                const cJSON *v;
                cJSON_ArrayForEach(v, cJSON_GetObjectItem(spec, "volumes")) {
                        const char *cm = str(v, "configMap.name");
                        if (cm)
                                cr_assert_not_null(find("ConfigMap", cm), "%s: ConfigMap %s", m->name, cm);
                }
                const char *sa = str(spec, "serviceAccountName");
                if (sa)
                        cr_assert_not_null(find("ServiceAccount", sa), "%s: ServiceAccount %s", m->name, sa);
        }
}

Test(k8s_manifests, clickhouse_passwords_are_never_in_the_manifests) {
        /* No Secret is committed: the supervisor creates clickhouse-credentials at first boot. */
        for (size_t i = 0; i < set.n; i++)
                cr_assert_neq(
                        strcmp(set.items[i].kind, "Secret"),
                        0,
                        "%s: a Secret in the repository",
                        set.items[i].name);
        /* The users file takes each password from its variable, never inline. */
        const char *users = kstr(at(find("ConfigMap", "clickhouse-config")->obj, "data"), "otel-users.xml");
        cr_assert_not_null(users);
        cr_assert(strstr(users, "<password from_env=\"CLICKHOUSE_ADMIN_PASSWORD\"/>"));
        cr_assert(strstr(users, "<password from_env=\"CLICKHOUSE_INGEST_PASSWORD\"/>"));
        cr_assert(strstr(users, "<password from_env=\"CLICKHOUSE_READER_PASSWORD\"/>"));
        cr_assert_null(strstr(users, "<password></password>"));
        cr_assert_null(strstr(users, "<password/>"));
        cr_assert_null(strstr(users, "<password>"));
}

static const cJSON *container(const char *kind, const char *name) {
        const K8sManifest *m = find(kind, name);
        cr_assert_not_null(m);
        return cJSON_GetArrayItem(cJSON_GetObjectItem(pod_spec(m), "containers"), 0);
}

static const char *env(const cJSON *c, const char *name) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "env"))
                if (strcmp(str(e, "name"), name) == 0)
                        return str(e, "value");
        return NULL;
}

static long port_named(const cJSON *c, const char *name) {
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(c, "ports"))
                if (strcmp(str(p, "name"), name) == 0)
                        return (long) cJSON_GetObjectItem(p, "containerPort")->valuedouble;
        return -1;
}

Test(k8s_manifests, loggen_as_the_seed_configures_it) {
        const cJSON *c = container("Deployment", "loggen");
        cr_assert_str_eq(env(c, "LOGGEN_MAX_NUMBER"), "100");
        cr_assert_str_eq(env(c, "LOGGEN_NUM_STRINGS"), "10");
        cr_assert_str_eq(env(c, "LOGGEN_SLEEP_DURATION"), "5s");
        cr_assert_str_eq(env(c, "LOGGEN_HEALTH_PORT"), "8081");
        cr_assert_eq(port_named(c, str(c, "livenessProbe.httpGet.port")), 8081);
        cr_assert_eq(port_named(c, str(c, "readinessProbe.httpGet.port")), 8081);
        cr_assert_str_eq(str(c, "livenessProbe.httpGet.path"), "/health");
        cr_assert_str_eq(str(c, "readinessProbe.httpGet.path"), "/ready");
}

Test(k8s_manifests, shipper_mounts_and_rights) {
        const K8sManifest *ds = find("DaemonSet", "shipper");
        const cJSON *v, *spec = pod_spec(ds);
        bool pods = false, containers = false, docker = false, state = false;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(spec, "volumes")) {
                const char *p = str(v, "hostPath.path");
                if (!p)
                        continue;
                pods |= strcmp(p, "/var/log/pods") == 0;
                containers |= strcmp(p, "/var/log/containers") == 0;
                docker |= strcmp(p, "/var/lib/docker/containers") == 0;
                state |= strcmp(p, "/var/lib/otel-shipper") == 0;
        }
        cr_assert(pods && containers && docker && state);
        /* Log directories are read-only; only the state directory is writable. */
        const cJSON *c = container("DaemonSet", "shipper"), *mnt;
        cJSON_ArrayForEach(mnt, cJSON_GetObjectItem(c, "volumeMounts")) {
                bool ro = cJSON_IsTrue(cJSON_GetObjectItem(mnt, "readOnly"));
                cr_assert_eq(ro, strcmp(str(mnt, "name"), "state") != 0, "%s", str(mnt, "name"));
        }
        cr_assert_str_eq(env(c, "SHIPPER_CHECKPOINT_FILE"), "/var/lib/shipper/checkpoints");
        /* A refused password or an unwritable checkpoint fails /health: readiness only, no restart loop. */
        cr_assert_eq(port_named(c, str(c, "livenessProbe.httpGet.port")), 2020);
        cr_assert_eq(port_named(c, str(c, "readinessProbe.httpGet.port")), 2020);
        cr_assert_str_eq(str(c, "livenessProbe.httpGet.path"), "/live");
        cr_assert_str_eq(str(c, "readinessProbe.httpGet.path"), "/health");
        /* No API access: no token, and no Role/ClusterRole binding for it anywhere. */
        cr_assert(cJSON_IsFalse(at(find("ServiceAccount", "shipper")->obj, "automountServiceAccountToken")));
        cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(spec, "automountServiceAccountToken")));
        for (size_t i = 0; i < set.n; i++)
                cr_assert(
                        strcmp(set.items[i].kind, "RoleBinding") != 0 &&
                                strcmp(set.items[i].kind, "ClusterRoleBinding") != 0,
                        "%s grants rights nobody here needs",
                        set.items[i].name);
}

Test(k8s_manifests, services_select_pods_and_ports) {
        for (size_t i = 0; i < set.n; i++) {
                const K8sManifest *svc = &set.items[i];
                if (strcmp(svc->kind, "Service") != 0)
                        continue;
                const cJSON *sel = at(svc->obj, "spec.selector");
                const K8sManifest *target = NULL;
                for (size_t j = 0; j < set.n && !target; j++) {
                        if (!is_workload(&set.items[j]))
                                continue;
                        const cJSON *tl = at(set.items[j].obj, "spec.template.metadata.labels"), *l;
                        bool all = cJSON_GetArraySize(sel) > 0;
                        cJSON_ArrayForEach(l, sel)
                                all = all && kstr(tl, l->string) &&
                                      strcmp(kstr(tl, l->string), l->valuestring) == 0;
                        if (all)
                                target = &set.items[j];
                }
                cr_assert_not_null(target, "Service %s selects no workload", svc->name);
                const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(pod_spec(target), "containers"), 0),
                            *p;
                cJSON_ArrayForEach(p, at(svc->obj, "spec.ports")) {
                        const char *tp = str(p, "targetPort");
                        if (tp)
                                cr_assert_gt(
                                        port_named(c, tp), 0, "Service %s: no port named %s", svc->name, tp);
                }
        }
        const cJSON *p;
        long want[] = {8123, 9000};
        size_t k = 0;
        cJSON_ArrayForEach(p, at(find("Service", "clickhouse")->obj, "spec.ports")) {
                cr_assert_lt(k, 2);
                cr_assert_eq((long) cJSON_GetObjectItem(p, "port")->valuedouble, want[k++]);
        }
        cr_assert_eq(k, 2);
        cr_assert_str_eq(str(find("Service", "hyperdx")->obj, "spec.type"), "NodePort");
}

/* Kubernetes expands $(VAR) from earlier variables; the JSON must hold whatever the password is. */
static cJSON *expanded_json(const cJSON *c, const char *name) {
        const char *v = env(c, name);
        cr_assert_not_null(v, "%s", name);
        char buf[8192];
        size_t o = 0;
        for (const char *p = v; *p && o + 64 < sizeof buf;) {
                if (p[0] == '$' && p[1] == '(') {
                        const char *end = strchr(p, ')');
                        cr_assert_not_null(end);
                        o += (size_t) snprintf(buf + o, sizeof buf - o, "secret-value");
                        p = end + 1;
                } else
                        buf[o++] = *p++;
        }
        buf[o] = '\0';
        cJSON *j = cJSON_Parse(buf);
        cr_assert_not_null(j, "%s is not JSON: %s", name, buf);
        return j;
}

Test(k8s_manifests, hyperdx_preset_for_otel_logs) {
        const cJSON *c = container("Deployment", "hyperdx");
        cJSON *conns = expanded_json(c, "DEFAULT_CONNECTIONS"), *srcs = expanded_json(c, "DEFAULT_SOURCES");
        const cJSON *conn = cJSON_GetArrayItem(conns, 0), *src = cJSON_GetArrayItem(srcs, 0);
        cr_assert_str_eq(str(conn, "host"), "http://clickhouse.otel-demo.svc:8123");
        cr_assert_str_eq(str(conn, "password"), "secret-value");
        cr_assert_str_eq(str(src, "kind"), "log");
        cr_assert_str_eq(str(src, "connection"), str(conn, "name"));
        cr_assert_str_eq(str(src, "from.tableName"), "otel_logs");
        cr_assert_str_eq(str(src, "from.databaseName"), "default");
        cJSON_Delete(conns);
        cJSON_Delete(srcs);
        /* Both variables used in the expansion are defined before it. */
        const cJSON *e;
        int seen = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "env")) {
                if (strcmp(str(e, "name"), "OTEL_CLICKHOUSE_USER") == 0 ||
                    strcmp(str(e, "name"), "OTEL_CLICKHOUSE_PASSWORD") == 0)
                        seen++;
                if (strcmp(str(e, "name"), "DEFAULT_CONNECTIONS") == 0)
                        cr_assert_eq(seen, 2);
        }
        cr_assert_eq(port_named(c, "ui"), 8080);
        cr_assert_eq(port_named(c, "api"), 8000);
}

static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = calloc(1, 1 << 20);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

Test(k8s_manifests, clickhouse_init_holds_the_schema) {
        const K8sManifest *init = find("ConfigMap", "clickhouse-init");
        const cJSON *data = at(init->obj, "data"), *d;
        cr_assert_gt(cJSON_GetArraySize(data), 0);
        char dir[512];
        (void) snprintf(dir, sizeof dir, "%s/manifests/clickhouse/schema", PROJECT_SOURCE_ROOT);
        struct stat st;
        if (stat(dir, &st) < 0) {
                /* Stand-in input (see gen-clickhouse-init.py): still the otel_logs DDL. */
                cr_assert(strstr(
                        kstr(data, "10-otel_logs.sql"), "CREATE TABLE IF NOT EXISTS default.otel_logs"));
                return;
        }
        /* Each data entry is, byte for byte, the SQL file of that name (as read back by our YAML reader). */
        cJSON_ArrayForEach(d, data) {
                char p[768];
                (void) snprintf(p, sizeof p, "%s/%s", dir, d->string);
                char *want = slurp(p);
                cr_assert_not_null(want, "%s has no source file", d->string);
                size_t n = strlen(want);
                while (n > 0 && want[n - 1] == '\n')
                        want[--n] = '\0';
                cr_assert_eq(strncmp(d->valuestring, want, n), 0, "%s differs from its SQL file", d->string);
                cr_assert_str_eq(d->valuestring + n, "\n");
                free(want);
        }
}

Test(k8s_manifests, images_match_the_image_list) {
        char p[512];
        (void) snprintf(p, sizeof p, "%s/images/images.txt", PROJECT_SOURCE_ROOT);
        char *list = slurp(p);
        if (!list)
                cr_skip_test("images/images.txt not present");
        static const struct {
                const char *role, *kind, *name;
        } roles[] = {
                {"loggen", "Deployment", "loggen"},
                {"shipper", "DaemonSet", "shipper"},
                {"clickhouse", "StatefulSet", "clickhouse"},
                {"hyperdx", "Deployment", "hyperdx"},
        };
        for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
                char want[512];
                (void) snprintf(
                        want,
                        sizeof want,
                        "\n%s %s\n",
                        roles[i].role,
                        str(container(roles[i].kind, roles[i].name), "image"));
                cr_assert(strstr(list, want), "images.txt has no line '%s'", want + 1);
        }
        free(list);
}
