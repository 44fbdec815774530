/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "k8s-kubeconfig.h"

static char dir[] = "/tmp/test-k8s-kubeconfig-XXXXXX";
static char *err; /* the last error message (errmsg.h), replaced by each call */

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];
        (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        int r = system(cmd);
        (void) r;
}

static char *write_file(const char *name, const char *content) {
        char *p;
        cr_assert_geq(asprintf(&p, "%s/%s", dir, name), 0);
        FILE *f = fopen(p, "we");
        cr_assert_not_null(f);
        fputs(content, f);
        fclose(f);
        return p;
}

/* "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n" in base64 */
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="

#define MINIKUBE_STYLE                                                                                      \
        "apiVersion: v1\n"                                                                                  \
        "kind: Config\n"                                                                                    \
        "clusters:\n"                                                                                       \
        "- name: other\n"                                                                                   \
        "  cluster:\n"                                                                                      \
        "    server: https://10.0.0.1:6443\n"                                                               \
        "- name: otel\n"                                                                                    \
        "  cluster:\n"                                                                                      \
        "    server: https://192.168.49.2:8443/\n"                                                          \
        "    certificate-authority: ca.crt\n"                                                               \
        "contexts:\n"                                                                                       \
        "- name: otel\n"                                                                                    \
        "  context:\n"                                                                                      \
        "    cluster: otel\n"                                                                               \
        "    user: otel\n"                                                                                  \
        "    namespace: otel-demo\n"                                                                        \
        "- name: other\n"                                                                                   \
        "  context:\n"                                                                                      \
        "    cluster: other\n"                                                                              \
        "    user: tok\n"                                                                                   \
        "current-context: otel\n"                                                                           \
        "users:\n"                                                                                          \
        "- name: otel\n"                                                                                    \
        "  user:\n"                                                                                         \
        "    client-certificate: profiles/otel/client.crt\n"                                                \
        "    client-key: /ABSKEY\n"                                                                         \
        "- name: tok\n"                                                                                     \
        "  user:\n"                                                                                         \
        "    token: sekret\n"

TestSuite(k8s_kubeconfig, .init = setup, .fini = teardown);

Test(k8s_kubeconfig, files_current_context_and_relative_paths) {
        free(write_file("ca.crt", CERT_PEM));
        char sub[300];
        (void) snprintf(sub, sizeof sub, "%s/profiles/otel", dir);
        char cmd[400];
        (void) snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
        cr_assert_eq(system(cmd), 0);
        free(write_file("profiles/otel/client.crt", CERT_PEM));
        char *key = write_file("client.key", "KEY");

        char yaml[4096];
        const char *abs = strstr(MINIKUBE_STYLE, "/ABSKEY");
        (void) snprintf(
                yaml,
                sizeof yaml,
                "%.*s%s%s",
                (int) (abs - MINIKUBE_STYLE),
                MINIKUBE_STYLE,
                key,
                abs + strlen("/ABSKEY"));
        char *path = write_file("config", yaml);

        K8sKubeconfig *k = NULL;
        cr_assert_eq(k8s_kubeconfig_load(path, NULL, &k, &err), 0, "%s", err);
        cr_assert_str_eq(k->context, "otel");
        cr_assert_str_eq(k->server, "https://192.168.49.2:8443");
        cr_assert_str_eq(k->namespace, "otel-demo");
        char want[400];
        (void) snprintf(want, sizeof want, "%s/ca.crt", dir);
        cr_assert_str_eq(k->ca_file, want);
        (void) snprintf(want, sizeof want, "%s/profiles/otel/client.crt", dir);
        cr_assert_str_eq(k->cert_file, want);
        cr_assert_str_eq(k->key_file, key);
        cr_assert_null(k->token);
        cr_assert_null(k->ca_data);
        k8s_kubeconfig_free(k);

        /* Another context by name: bearer token, namespace defaults. */
        cr_assert_eq(k8s_kubeconfig_load(path, "other", &k, &err), 0, "%s", err);
        cr_assert_str_eq(k->server, "https://10.0.0.1:6443");
        cr_assert_str_eq(k->token, "sekret");
        cr_assert_str_eq(k->namespace, "default");
        cr_assert_null(k->cert_file);
        k8s_kubeconfig_free(k);

        cr_assert_eq(k8s_kubeconfig_load(path, "nope", &k, &err), -ENOENT);
        cr_assert(err && strstr(err, "context \"nope\" not found"), "%s", err);
        free(path);
        free(key);
}

Test(k8s_kubeconfig, inline_data_is_decoded) {
        char *path = write_file(
                "config",
                "apiVersion: v1\n"
                "clusters:\n"
                "- name: c\n"
                "  cluster:\n"
                "    server: https://127.0.0.1:1234\n"
                "    certificate-authority-data: " CERT_B64 "\n"
                "contexts:\n"
                "- name: x\n"
                "  context: {cluster: c, user: u}\n"
                "current-context: x\n"
                "users:\n"
                "- name: u\n"
                "  user:\n"
                "    client-certificate-data: " CERT_B64 "\n"
                "    client-key-data: S0VZ\n");
        K8sKubeconfig *k = NULL;
        cr_assert_eq(k8s_kubeconfig_load(path, NULL, &k, &err), 0, "%s", err);
        cr_assert_str_eq(k->ca_data, CERT_PEM);
        cr_assert_eq(k->ca_data_size, strlen(CERT_PEM));
        cr_assert_str_eq(k->cert_data, CERT_PEM);
        cr_assert_str_eq(k->key_data, "KEY");
        cr_assert_eq(k->key_data_size, 3);
        cr_assert_null(k->ca_file);
        k8s_kubeconfig_free(k);
        free(path);
}

Test(k8s_kubeconfig, token_file_and_insecure) {
        free(write_file("tok", "abc.def\n"));
        char *path = write_file(
                "config",
                "clusters:\n"
                "- name: c\n"
                "  cluster: {server: 'https://h:1', insecure-skip-tls-verify: true}\n"
                "contexts:\n"
                "- name: x\n"
                "  context: {cluster: c, user: u}\n"
                "current-context: x\n"
                "users:\n"
                "- name: u\n"
                "  user: {tokenFile: tok}\n");
        K8sKubeconfig *k = NULL;
        cr_assert_eq(k8s_kubeconfig_load(path, NULL, &k, &err), 0, "%s", err);
        cr_assert_str_eq(k->token, "abc.def");
        cr_assert(k->insecure_skip_tls_verify);
        k8s_kubeconfig_free(k);
        free(path);
}

static void expect_error(const char *yaml, int want, const char *fragment) {
        char *path = write_file("config", yaml);
        K8sKubeconfig *k = NULL;
        int r = k8s_kubeconfig_load(path, NULL, &k, &err);
        cr_assert_eq(r, want, "got %d (%s) for:\n%s", r, err, yaml);
        cr_assert_null(k);
        cr_assert(err && strstr(err, fragment), "'%s' not in '%s'", fragment, err);
        free(path);
}

Test(k8s_kubeconfig, errors_name_the_problem) {
        expect_error("clusters: []\n", -ENOENT, "no current-context");
        expect_error("current-context: x\ncontexts: []\n", -ENOENT, "context \"x\" not found");
        expect_error(
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n",
                -ENOENT,
                "cluster \"c\" not found");
        expect_error(
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  "
                "cluster: {}\n",
                -EINVAL,
                "has no server");
        expect_error(
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  "
                "cluster: {server: 'ftp://x'}\n",
                -EINVAL,
                "not an http(s) URL");
        expect_error(
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  "
                "cluster: {server: 'https://x', certificate-authority-data: '!!notbase64'}\n",
                -EINVAL,
                "not valid base64");
        expect_error(
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  "
                "cluster: {server: 'https://x', certificate-authority: missing.crt}\n",
                -ENOENT,
                "missing.crt");
        expect_error(
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- "
                "name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: "
                "{client-certificate-data: S0VZ}\n",
                -EINVAL,
                "needs both certificate and key");
        expect_error("a: [\n", -EINVAL, "config:2:");
}

Test(k8s_kubeconfig, base64) {
        char *out;
        size_t n;
        cr_assert_eq(k8s_base64_decode("aGVsbG8=", &out, &n), 0);
        cr_assert_eq(n, 5);
        cr_assert_str_eq(out, "hello");
        free(out);
        cr_assert_eq(k8s_base64_decode("aGVs\nbG8", &out, &n), 0);
        cr_assert_str_eq(out, "hello");
        free(out);
        cr_assert_eq(k8s_base64_decode("", &out, &n), 0);
        cr_assert_eq(n, 0);
        free(out);
        cr_assert_eq(k8s_base64_decode("aGVsbG8=x", &out, &n), -EINVAL);
        cr_assert_eq(k8s_base64_decode("a", &out, &n), -EINVAL);
        cr_assert_eq(k8s_base64_decode("a$==", &out, &n), -EINVAL);
}

Test(k8s_kubeconfig, in_cluster) {
        K8sKubeconfig *k = NULL;
        char sa[300];
        (void) snprintf(sa, sizeof sa, "%s/sa", dir);
        cr_assert_eq(mkdir(sa, 0755), 0);

        unsetenv("KUBERNETES_SERVICE_HOST");
        cr_assert_eq(k8s_kubeconfig_in_cluster(sa, &k, &err), -ENXIO);
        cr_assert(err && strstr(err, "KUBERNETES_SERVICE_HOST"), "%s", err);

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        cr_assert_eq(k8s_kubeconfig_in_cluster(sa, &k, &err), -ENOENT);
        cr_assert(err && strstr(err, "sa/token"), "%s", err);

        free(write_file("sa/token", "eyJhbGciOi\n"));
        free(write_file("sa/ca.crt", CERT_PEM));
        free(write_file("sa/namespace", "otel-demo"));
        cr_assert_eq(k8s_kubeconfig_in_cluster(sa, &k, &err), 0, "%s", err);
        cr_assert_str_eq(k->server, "https://10.96.0.1:443");
        cr_assert_str_eq(k->token, "eyJhbGciOi");
        cr_assert_str_eq(k->namespace, "otel-demo");
        cr_assert(strstr(k->ca_file, "sa/ca.crt"));
        k8s_kubeconfig_free(k);

        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        cr_assert_eq(k8s_kubeconfig_in_cluster(sa, &k, &err), 0, "%s", err);
        cr_assert_str_eq(k->server, "https://[fd00::1]:443");
        k8s_kubeconfig_free(k);
}
