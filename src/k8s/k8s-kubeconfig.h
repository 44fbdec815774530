/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Where and how to reach an API server: the parts of a kubeconfig (or of a pod's service-account mount)
 * that the client needs. Credentials given inline (*-data, base64 in the file) are decoded into memory;
 * those given as files keep their path, resolved against the kubeconfig's directory as kubectl does. */
typedef struct K8sKubeconfig {
        char *context;   /* the context used */
        char *server;    /* https://host:port, without trailing slash */
        char *namespace; /* the context's namespace, or "default" */

        char *ca_file;
        char *ca_data; /* PEM */
        size_t ca_data_size;
        bool insecure_skip_tls_verify;

        char *cert_file;
        char *cert_data; /* PEM */
        size_t cert_data_size;
        char *key_file;
        char *key_data; /* PEM */
        size_t key_data_size;

        char *token; /* bearer token (token or tokenFile, read at load time) */
} K8sKubeconfig;

K8sKubeconfig *k8s_kubeconfig_free(K8sKubeconfig *k);
static inline void k8s_kubeconfig_freep(K8sKubeconfig **k) {
        if (*k)
                k8s_kubeconfig_free(*k);
}

/* Loads `path` (kubeconfig YAML). `context` selects a context, NULL means current-context. Errors are
 * described in *reterr (errmsg.h: "file:line:column: …" for YAML errors, otherwise naming the missing or
 * bad field). Returns 0, -ENOENT (no such file, context, cluster or user), -EINVAL (bad content), -ENOMEM.
 */
int k8s_kubeconfig_load(const char *path, const char *context, K8sKubeconfig **ret, char **reterr);

/* In-cluster mode, as client-go's rest.InClusterConfig(): $KUBERNETES_SERVICE_HOST and
 * $KUBERNETES_SERVICE_PORT, and token, ca.crt and namespace from `sa_dir` (NULL means
 * /var/run/secrets/kubernetes.io/serviceaccount). Returns -ENXIO when not running in a cluster. */
int k8s_kubeconfig_in_cluster(const char *sa_dir, K8sKubeconfig **ret, char **reterr);

/* Decodes standard base64 (padding optional, whitespace ignored). Returns 0 or -EINVAL/-ENOMEM. */
int k8s_base64_decode(const char *in, char **ret, size_t *ret_size);
