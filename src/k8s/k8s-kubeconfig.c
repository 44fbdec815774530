/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "errmsg.h"
#include "k8s-kubeconfig.h"
#include "k8s-yaml.h"
#include "macro.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_CREDENTIAL_FILE (1024u * 1024u)

K8sKubeconfig *k8s_kubeconfig_free(K8sKubeconfig *k) {
        if (!k)
                return NULL;
        free(k->context);
        free(k->server);
        free(k->namespace);
        free(k->ca_file);
        free(k->ca_data);
        free(k->cert_file);
        free(k->cert_data);
        if (k->key_data)
                explicit_bzero(k->key_data, k->key_data_size);
        free(k->key_file);
        free(k->key_data);
        if (k->token)
                explicit_bzero(k->token, strlen(k->token));
        free(k->token);
        free(k);
        return NULL;
}

int k8s_base64_decode(const char *in, char **ret, size_t *ret_size) {
        size_t len = strlen(in);
        _cleanup_free_ char *out = malloc(len / 4 * 3 + 4);
        if (!out)
                return -ENOMEM;
        size_t n = 0;
        unsigned acc = 0, bits = 0, pad = 0;
        for (const char *p = in; *p; p++) {
                unsigned c = (unsigned char) *p, v;
                if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
                        continue;
                if (c == '=') {
                        pad++;
                        continue;
                }
                if (pad > 0)
                        return -EINVAL; /* data after padding */
                if (c >= 'A' && c <= 'Z')
                        v = c - 'A';
                else if (c >= 'a' && c <= 'z')
                        v = c - 'a' + 26;
                else if (c >= '0' && c <= '9')
                        v = c - '0' + 52;
                else if (c == '+')
                        v = 62;
                else if (c == '/')
                        v = 63;
                else
                        return -EINVAL;
                acc = (acc << 6) | v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (char) ((acc >> bits) & 0xff);
                }
        }
        if (pad > 2 || bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
                return -EINVAL;
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        if (ret_size)
                *ret_size = n;
        return 0;
}

/* Finds the entry named `name` in a kubeconfig list (clusters, users, contexts) and returns its `field`. */
static const cJSON *named_entry(const cJSON *root, const char *list, const char *field, const char *name) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, list), *e;
        cJSON_ArrayForEach(e, l) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
                if (cJSON_IsString(n) && streq(n->valuestring, name))
                        return cJSON_GetObjectItemCaseSensitive(e, field);
        }
        return NULL;
}

static const char *str_field(const cJSON *o, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Resolves a path from the kubeconfig against the kubeconfig's own directory. */
static int resolve_path(const char *base_dir, const char *p, char **ret) {
        if (p[0] == '/' || !base_dir)
                *ret = strdup(p);
        else if (asprintf(ret, "%s/%s", base_dir, p) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

static int read_small_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *buf = malloc(MAX_CREDENTIAL_FILE + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        for (;;) {
                ssize_t n = read(fd, buf + got, MAX_CREDENTIAL_FILE + 1 - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t) n;
                if (got > MAX_CREDENTIAL_FILE)
                        return -E2BIG;
        }
        buf[got] = '\0';
        if (ret_size)
                *ret_size = got;
        *ret = TAKE_PTR(buf);
        return 0;
}

static void strip_trailing_space(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
}

/* Takes `<name>` (a path) or `<name>-data` (base64) from `o`. */
static int credential(
        const cJSON *o,
        const char *file_key,
        const char *data_key,
        const char *base_dir,
        const char *what,
        char **ret_file,
        char **ret_data,
        size_t *ret_size,
        char **reterr) {
        const char *data = str_field(o, data_key), *file = str_field(o, file_key);
        int r;

        if (data) {
                r = k8s_base64_decode(data, ret_data, ret_size);
                if (r < 0)
                        return errmsg_set(reterr, r, "%s: %s is not valid base64", what, data_key);
                return 0;
        }
        if (file) {
                r = resolve_path(base_dir, file, ret_file);
                if (r < 0)
                        return r;
                if (access(*ret_file, R_OK) < 0)
                        return errmsg_set(
                                reterr, -errno, "%s: %s %s: %s", what, file_key, *ret_file, strerror(errno));
        }
        return 0;
}

int k8s_kubeconfig_load(const char *path, const char *context, K8sKubeconfig **ret, char **reterr) {
        _cleanup_(k8s_yaml_docs_done) K8sYamlDocs docs = {};
        _cleanup_(k8s_kubeconfig_freep) K8sKubeconfig *k = NULL;
        _cleanup_free_ char *base_dir = NULL;
        int r;

        assert(path);
        assert(ret);

        r = k8s_yaml_parse_file(path, &docs, reterr);
        if (r < 0)
                return r;
        if (docs.n != 1 || !cJSON_IsObject(docs.docs[0].json))
                return errmsg_set(reterr, -EINVAL, "%s: expected one YAML mapping", path);
        const cJSON *root = docs.docs[0].json;

        const char *slash = strrchr(path, '/');
        if (slash) {
                base_dir = strndup(path, (size_t) (slash - path) ?: 1);
                if (!base_dir)
                        return -ENOMEM;
        } else {
                base_dir = strdup(".");
                if (!base_dir)
                        return -ENOMEM;
        }

        const char *ctx_name = context ?: str_field(root, "current-context");
        if (!ctx_name)
                return errmsg_set(reterr, -ENOENT, "%s: no current-context set and no context given", path);
        const cJSON *ctx = named_entry(root, "contexts", "context", ctx_name);
        if (!cJSON_IsObject(ctx))
                return errmsg_set(reterr, -ENOENT, "%s: context \"%s\" not found", path, ctx_name);
        const char *cluster_name = str_field(ctx, "cluster"), *user_name = str_field(ctx, "user");
        if (!cluster_name)
                return errmsg_set(reterr, -EINVAL, "%s: context \"%s\" names no cluster", path, ctx_name);
        const cJSON *cluster = named_entry(root, "clusters", "cluster", cluster_name);
        if (!cJSON_IsObject(cluster))
                return errmsg_set(reterr, -ENOENT, "%s: cluster \"%s\" not found", path, cluster_name);
        const cJSON *user = NULL;
        if (user_name) {
                user = named_entry(root, "users", "user", user_name);
                if (!cJSON_IsObject(user))
                        return errmsg_set(reterr, -ENOENT, "%s: user \"%s\" not found", path, user_name);
        }

        k = new0(K8sKubeconfig, 1);
        if (!k)
                return -ENOMEM;
        k->context = strdup(ctx_name);
        k->namespace = strdup(str_field(ctx, "namespace") ?: "default");
        if (!k->context || !k->namespace)
                return -ENOMEM;

        const char *server = str_field(cluster, "server");
        if (!server)
                return errmsg_set(reterr, -EINVAL, "%s: cluster \"%s\" has no server", path, cluster_name);
        if (!startswith(server, "https://") && !startswith(server, "http://"))
                return errmsg_set(reterr, -EINVAL, "%s: server \"%s\" is not an http(s) URL", path, server);
        k->server = strdup(server);
        if (!k->server)
                return -ENOMEM;
        size_t sl = strlen(k->server);
        while (sl > 0 && k->server[sl - 1] == '/')
                k->server[--sl] = '\0';

        const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
        k->insecure_skip_tls_verify = cJSON_IsTrue(insecure);

        char what[300];
        (void) snprintf(what, sizeof what, "%s: cluster \"%s\"", path, cluster_name);
        r = credential(
                cluster,
                "certificate-authority",
                "certificate-authority-data",
                base_dir,
                what,
                &k->ca_file,
                &k->ca_data,
                &k->ca_data_size,
                reterr);
        if (r < 0)
                return r;

        if (user) {
                (void) snprintf(what, sizeof what, "%s: user \"%s\"", path, user_name);
                r = credential(
                        user,
                        "client-certificate",
                        "client-certificate-data",
                        base_dir,
                        what,
                        &k->cert_file,
                        &k->cert_data,
                        &k->cert_data_size,
                        reterr);
                if (r < 0)
                        return r;
                r = credential(
                        user,
                        "client-key",
                        "client-key-data",
                        base_dir,
                        what,
                        &k->key_file,
                        &k->key_data,
                        &k->key_data_size,
                        reterr);
                if (r < 0)
                        return r;
                if (!!(k->cert_file || k->cert_data) != !!(k->key_file || k->key_data))
                        return errmsg_set(
                                reterr,
                                -EINVAL,
                                "%s: a client certificate needs both certificate and key",
                                what);

                const char *token = str_field(user, "token"), *token_file = str_field(user, "tokenFile");
                if (token) {
                        k->token = strdup(token);
                        if (!k->token)
                                return -ENOMEM;
                } else if (token_file) {
                        _cleanup_free_ char *tp = NULL;
                        r = resolve_path(base_dir, token_file, &tp);
                        if (r < 0)
                                return r;
                        r = read_small_file(tp, &k->token, NULL);
                        if (r < 0)
                                return errmsg_set(reterr, r, "%s: tokenFile %s: %s", what, tp, strerror(-r));
                        strip_trailing_space(k->token);
                }
                if (cJSON_GetObjectItemCaseSensitive(user, "exec") ||
                    cJSON_GetObjectItemCaseSensitive(user, "auth-provider"))
                        if (!k->token && !k->cert_file && !k->cert_data)
                                return errmsg_set(
                                        reterr,
                                        -EOPNOTSUPP,
                                        "%s: exec and auth-provider credentials are not supported",
                                        what);
        }

        *ret = TAKE_PTR(k);
        return 0;
}

int k8s_kubeconfig_in_cluster(const char *sa_dir, K8sKubeconfig **ret, char **reterr) {
        _cleanup_(k8s_kubeconfig_freep) K8sKubeconfig *k = NULL;
        const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
        _cleanup_free_ char *token_path = NULL, *ns_path = NULL, *ns = NULL;
        int r;

        if (isempty(host) || isempty(port))
                return errmsg_set(
                        reterr,
                        -ENXIO,
                        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
        sa_dir = sa_dir ?: SA_DIR;

        k = new0(K8sKubeconfig, 1);
        if (!k)
                return -ENOMEM;
        /* An IPv6 address needs brackets in a URL. */
        if (asprintf(&k->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0) {
                k->server = NULL;
                return -ENOMEM;
        }
        if (asprintf(&token_path, "%s/token", sa_dir) < 0 ||
            asprintf(&k->ca_file, "%s/ca.crt", sa_dir) < 0 || asprintf(&ns_path, "%s/namespace", sa_dir) < 0)
                return -ENOMEM;
        r = read_small_file(token_path, &k->token, NULL);
        if (r < 0)
                return errmsg_set(reterr, r, "%s: %s", token_path, strerror(-r));
        strip_trailing_space(k->token);
        if (access(k->ca_file, R_OK) < 0)
                return errmsg_set(reterr, -errno, "%s: %s", k->ca_file, strerror(errno));
        if (read_small_file(ns_path, &ns, NULL) >= 0) {
                strip_trailing_space(ns);
                if (!isempty(ns))
                        k->namespace = TAKE_PTR(ns);
        }
        if (!k->namespace) {
                k->namespace = strdup("default");
                if (!k->namespace)
                        return -ENOMEM;
        }
        k->context = strdup("in-cluster");
        if (!k->context)
                return -ENOMEM;
        *ret = TAKE_PTR(k);
        return 0;
}
