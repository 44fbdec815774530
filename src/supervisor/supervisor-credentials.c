/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-libs.h"
#include "cleanup.h"
#include "k8s-kubeconfig.h"
#include "log.h"
#include "macro.h"
#include "secrets.h"
#include "supervisor-credentials.h"

/* Not the apply's field manager: objects of that manager carrying the inventory label are pruned. */
#define FIELD_MANAGER "otel-supervisor-credentials"

/* The Secrets, and which of the generated values each holds. */
static const struct {
        const char *name, *component;
        SecretUser first, end;
} secret_objects[] = {
        {CREDENTIALS_SECRET, "database", SECRET_ADMIN, _SECRET_USER_MAX},
        {HYPERDX_CREDENTIALS_SECRET, "ui", SECRET_MONGODB, _SECRET_MAX},
};

typedef struct Ensure {
        K8sClient *client;
        K8sOp *op;
        char *namespace, *secrets_dir;
        CredentialsDone done;
        void *userdata;
        bool created;
        unsigned gets;
        size_t current; /* index in secret_objects */
} Ensure;

static void ensure_free(void *p) {
        Ensure *e = p;
        if (!e)
                return;
        free(e->namespace);
        free(e->secrets_dir);
        free(e);
}

static void finish(Ensure *e, K8sResultClass result, const char *message) {
        CredentialsDone done = e->done;
        void *userdata = e->userdata;
        bool created = e->created;

        k8s_client_op_remove(e->client, e->op);
        ensure_free(e);
        done(result, message, created, userdata);
}

static int secret_json(size_t i, const char *namespace, const char *secrets_dir, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        cJSON *meta, *labels, *data;
        int r;

        if (!root)
                return -ENOMEM;
        meta = cJSON_AddObjectToObject(root, "metadata");
        labels = meta ? cJSON_AddObjectToObject(meta, "labels") : NULL;
        data = cJSON_AddObjectToObject(root, "stringData");
        if (!cJSON_AddStringToObject(root, "apiVersion", "v1") ||
            !cJSON_AddStringToObject(root, "kind", "Secret") || !meta || !labels || !data ||
            !cJSON_AddStringToObject(root, "type", "Opaque") ||
            !cJSON_AddStringToObject(meta, "name", secret_objects[i].name) ||
            !cJSON_AddStringToObject(meta, "namespace", namespace) ||
            !cJSON_AddStringToObject(labels, "app.kubernetes.io/name", secret_objects[i].name) ||
            !cJSON_AddStringToObject(labels, "app.kubernetes.io/component", secret_objects[i].component) ||
            !cJSON_AddStringToObject(labels, "app.kubernetes.io/part-of", "otel-appliance"))
                return -ENOMEM;
        for (SecretUser u = secret_objects[i].first; u < secret_objects[i].end; u++) {
                _cleanup_free_ char *pw = NULL;
                r = secret_read(secrets_dir, u, &pw);
                if (r < 0)
                        return r;
                bool ok = cJSON_AddStringToObject(data, secret_key_name(u), pw) != NULL;
                explicit_bzero(pw, strlen(pw));
                if (!ok)
                        return -ENOMEM;
        }
        char *s = cJSON_PrintUnformatted(root);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int credentials_secret_json(const char *name, const char *namespace, const char *secrets_dir, char **ret) {
        for (size_t i = 0; i < ELEMENTSOF(secret_objects); i++)
                if (streq(secret_objects[i].name, name))
                        return secret_json(i, namespace, secrets_dir, ret);
        return -ENOENT;
}

static int request(Ensure *e, const char *method, bool collection, const char *body, K8sResponseHandler h) {
        _cleanup_free_ char *path = NULL;
        const char *name = secret_objects[e->current].name;
        int k;

        if (collection)
                k = asprintf(
                        &path, "/api/v1/namespaces/%s/secrets?fieldManager=" FIELD_MANAGER, e->namespace);
        else if (body)
                k = asprintf(
                        &path,
                        "/api/v1/namespaces/%s/secrets/%s?fieldManager=" FIELD_MANAGER,
                        e->namespace,
                        name);
        else
                k = asprintf(&path, "/api/v1/namespaces/%s/secrets/%s", e->namespace, name);
        if (k < 0)
                return -ENOMEM;
        return k8s_client_request(e->client, method, path, body ? "application/json" : NULL, body, h, e);
}

static void on_get(K8sClient *c, const K8sResponse *res, void *userdata);

/* The current Secret is there: on to the next one, or done. */
static void next_secret(Ensure *e) {
        e->current++;
        e->gets = 0;
        if (e->current >= ELEMENTSOF(secret_objects)) {
                finish(e, K8S_RESULT_OK, NULL);
                return;
        }
        if (request(e, "GET", false, NULL, on_get) < 0)
                finish(e, K8S_RESULT_RETRY, "cannot read a Secret");
}

static void on_written(K8sClient *c, const K8sResponse *res, void *userdata) {
        Ensure *e = userdata;

        if (res->status == 409 && e->gets < 2) {
                /* Created by someone else meanwhile: look again. */
                if (request(e, "GET", false, NULL, on_get) < 0)
                        finish(e, K8S_RESULT_RETRY, "cannot read a Secret");
                return;
        }
        if (res->result != K8S_RESULT_OK) {
                finish(e, res->result, res->message);
                return;
        }
        e->created = true;
        log_info(
                "Created the Secret %s/%s from the values in %s",
                e->namespace,
                secret_objects[e->current].name,
                e->secrets_dir);
        next_secret(e);
}

static int write_secret(Ensure *e, bool replace) {
        _cleanup_free_ char *body = NULL;
        int r;

        r = secret_json(e->current, e->namespace, e->secrets_dir, &body);
        if (r < 0)
                return r;
        r = request(e, replace ? "PUT" : "POST", !replace, body, on_written);
        explicit_bzero(body, strlen(body));
        return r;
}

/* Whether the Secret has every key, and whether its values are the files'. */
static void check_keys(Ensure *e, const cJSON *secret, bool *ret_complete, bool *ret_same) {
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");

        *ret_complete = *ret_same = true;
        for (SecretUser u = secret_objects[e->current].first; u < secret_objects[e->current].end; u++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, secret_key_name(u));
                _cleanup_free_ char *decoded = NULL, *file = NULL;
                size_t n = 0;

                if (!cJSON_IsString(v) || k8s_base64_decode(v->valuestring, &decoded, &n) < 0 || n == 0) {
                        *ret_complete = false;
                        continue;
                }
                if (secret_read(e->secrets_dir, u, &file) < 0 || strlen(file) != n ||
                    memcmp(file, decoded, n) != 0)
                        *ret_same = false;
                if (file)
                        explicit_bzero(file, strlen(file));
                explicit_bzero(decoded, n);
        }
}

static void on_get(K8sClient *c, const K8sResponse *res, void *userdata) {
        Ensure *e = userdata;
        bool complete, same;
        int r;

        e->gets++;
        if (res->status == 404) {
                r = write_secret(e, false);
                if (r < 0)
                        finish(e, K8S_RESULT_FATAL, "cannot read the generated values to create a Secret");
                return;
        }
        if (res->result != K8S_RESULT_OK) {
                finish(e, res->result, res->message);
                return;
        }
        check_keys(e, res->json, &complete, &same);
        if (!complete) {
                log_warning(
                        "The Secret %s/%s lacks a key: replacing it from %s",
                        e->namespace,
                        secret_objects[e->current].name,
                        e->secrets_dir);
                r = write_secret(e, true);
                if (r < 0)
                        finish(e, K8S_RESULT_FATAL, "cannot read the generated values to replace a Secret");
                return;
        }
        if (!same)
                log_warning(
                        "The Secret %s/%s holds other values than %s: it is left as it is (to rotate them, delete "
                        "both and restart the supervisor, docs/security.md)",
                        e->namespace,
                        secret_objects[e->current].name,
                        e->secrets_dir);
        next_secret(e);
}

int credentials_ensure(
        K8sClient *c, const char *namespace, const char *secrets_dir, CredentialsDone done, void *userdata) {
        Ensure *e;
        int r;

        e = new0(Ensure, 1);
        if (!e)
                return -ENOMEM;
        e->client = c;
        e->done = done;
        e->userdata = userdata;
        e->namespace = strdup(namespace);
        e->secrets_dir = strdup(secrets_dir);
        if (!e->namespace || !e->secrets_dir) {
                ensure_free(e);
                return -ENOMEM;
        }
        e->op = k8s_client_op_add(c, ensure_free, e);
        if (!e->op) {
                ensure_free(e);
                return -ENOMEM;
        }
        r = request(e, "GET", false, NULL, on_get);
        if (r < 0) {
                k8s_client_op_remove(c, e->op);
                ensure_free(e);
        }
        return r;
}
