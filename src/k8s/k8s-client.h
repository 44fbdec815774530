/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <errno.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "k8s-kubeconfig.h"

/* An asynchronous Kubernetes API client on an sd-event loop: libcurl's multi interface (through CurlGlue)
 * carries the requests, so the loop never blocks on the network. Every answer is classified: OK, RETRY
 * (a retry may fix it: connection refused or reset, timeouts, 429, 5xx other than 501) or FATAL (the
 * request itself is wrong: other 4xx, certificate problems), with the server's own message kept. */

typedef struct K8sClient K8sClient;

typedef enum K8sResultClass {
        K8S_RESULT_OK,
        K8S_RESULT_RETRY,
        K8S_RESULT_FATAL,
        _K8S_RESULT_MAX,
        _K8S_RESULT_INVALID = -EINVAL,
} K8sResultClass;

const char *k8s_result_class_to_string(K8sResultClass c);

typedef struct K8sResponse {
        long status; /* HTTP status; 0 when no response arrived */
        K8sResultClass result;
        CURLcode curl_code;
        const char *body; /* NUL-terminated; valid during the callback */
        size_t body_size;
        cJSON *json;         /* the body parsed, or NULL; owned by the client, valid during the callback */
        char message[1024];  /* the server's Status message, or "Kubernetes API: <transport error>" */
        char reason[64];     /* Status reason ("NotFound", "AlreadyExists", …), or "" */
        int64_t retry_after; /* seconds (Retry-After header or Status details), -1 when absent */
} K8sResponse;

typedef void (*K8sResponseHandler)(K8sClient *c, const K8sResponse *r, void *userdata);

/* Classifies a finished transfer. `body` may be NULL. Fills everything but body/json. */
void k8s_response_classify(
        CURLcode cc, long status, const cJSON *body, const char *curl_error, K8sResponse *r);

/* Takes ownership of `kc`. */
int k8s_client_new(sd_event *event, K8sKubeconfig *kc, K8sClient **ret);
/* Aborts requests and operations in flight (their handlers are not called) and frees the client. */
K8sClient *k8s_client_free(K8sClient *c);
static inline void k8s_client_freep(K8sClient **c) {
        if (*c)
                k8s_client_free(*c);
}

const K8sKubeconfig *k8s_client_kubeconfig(const K8sClient *c);
sd_event *k8s_client_event(const K8sClient *c);
/* Per-request time limit (default 30 s) and connect limit (default 5 s). */
void k8s_client_set_timeouts(K8sClient *c, uint64_t request_usec, uint64_t connect_usec);
unsigned k8s_client_in_flight(const K8sClient *c);

/* Starts `method path` (path with query, starting with '/'). `body` with `content_type` may be NULL.
 * The handler is called exactly once from the event loop, unless the client is freed first. */
int k8s_client_request(
        K8sClient *c,
        const char *method,
        const char *path,
        const char *content_type,
        const char *body,
        K8sResponseHandler handler,
        void *userdata);

/* Operations of several requests (discovery, apply, health check) register here, so that freeing the client
 * also frees them, without calling their handlers. For the library's own use. */
typedef struct K8sOp K8sOp;
K8sOp *k8s_client_op_add(K8sClient *c, void (*destroy)(void *userdata), void *userdata);
void k8s_client_op_remove(K8sClient *c, K8sOp *op);

/* Runs the client's event loop until *done becomes true or `timeout_usec` passes (-ETIMEDOUT). For tests and
 * one-shot tools; daemons run their own loop. */
int k8s_client_run_until(K8sClient *c, const bool *done, uint64_t timeout_usec);

/* --- Discovery --------------------------------------------------------------------------------------- */

enum {
        K8S_VERB_GET = 1 << 0,
        K8S_VERB_LIST = 1 << 1,
        K8S_VERB_PATCH = 1 << 2,
        K8S_VERB_DELETE = 1 << 3,
        K8S_VERB_CREATE = 1 << 4,
};

typedef struct K8sResource {
        char *group; /* "" for the core group */
        char *version;
        char *kind;
        char *resource; /* plural, as in the URL */
        bool namespaced;
        unsigned verbs;
} K8sResource;

typedef struct K8sResourceTable {
        K8sResource *items;
        size_t n;
} K8sResourceTable;

void k8s_resource_table_done(K8sResourceTable *t);
/* Adds the resources of an aggregated discovery document (APIGroupDiscoveryList, apidiscovery.k8s.io/v2 or
 * v2beta1, as served on /api and /apis). Subresources are skipped. -EPROTO for any other document. */
int k8s_resource_table_add_discovery(K8sResourceTable *t, const cJSON *doc, char **reterr);
/* apiVersion "v1" or "group/version". */
const K8sResource *k8s_resource_table_find(
        const K8sResourceTable *t, const char *api_version, const char *kind);

typedef void (*K8sDoneHandler)(K8sClient *c, K8sResultClass result, const char *message, void *userdata);

/* Refreshes the kind → resource table from the server (two requests). The handler gets the outcome. */
int k8s_client_discover(K8sClient *c, K8sDoneHandler handler, void *userdata);
const K8sResourceTable *k8s_client_resources(const K8sClient *c);
/* usec (CLOCK_MONOTONIC) of the last successful discovery, 0 when never. */
uint64_t k8s_client_discovered_at(const K8sClient *c);
const K8sResource *k8s_client_find_kind(const K8sClient *c, const char *api_version, const char *kind);

/* Builds "/api/v1/namespaces/NS/pods/NAME" style paths; `namespace` is ignored for cluster-scoped resources
 * and `name` may be NULL for the collection. Returns 0 or -ENOMEM/-EINVAL. */
int k8s_resource_path(const K8sResource *res, const char *namespace, const char *name, char **ret);

/* URL query escaping (RFC 3986 unreserved kept). */
char *k8s_escape(const char *s);
