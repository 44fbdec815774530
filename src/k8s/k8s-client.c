/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build-config.h"
#include "cleanup-libs.h"
#include "cleanup.h"
#include "errmsg.h"
#include "curl-glue.h"
#include "duration.h"
#include "k8s-client.h"
#include "log.h"
#include "macro.h"
#include "util.h"

#define MAX_BODY (64u * 1024u * 1024u)
#define USER_AGENT "otel-supervisor/" PROJECT_VERSION
#define DISCOVERY_ACCEPT                                                                                    \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"                             \
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

typedef struct K8sRequest K8sRequest;

struct K8sRequest {
        K8sClient *client;
        K8sRequest *prev, *next;
        CURL *easy;
        struct curl_slist *headers;
        char *body_out; /* request body (owned, curl does not copy with POSTFIELDS) */
        char *buf;      /* response body */
        size_t size, allocated;
        bool too_big;
        int64_t retry_after;
        char curl_error[CURL_ERROR_SIZE];
        K8sResponseHandler handler;
        void *userdata;
};

struct K8sOp {
        K8sOp *prev, *next;
        void (*destroy)(void *userdata);
        void *userdata;
};

struct K8sClient {
        sd_event *event;
        K8sOp *ops;
        CurlGlue *glue;
        K8sKubeconfig *kc;
        K8sRequest *requests;
        unsigned n_requests;
        uint64_t request_usec, connect_usec;

        K8sResourceTable resources;
        uint64_t discovered_at;
};

const char *k8s_result_class_to_string(K8sResultClass c) {
        switch (c) {
        case K8S_RESULT_OK:
                return "ok";
        case K8S_RESULT_RETRY:
                return "retry";
        case K8S_RESULT_FATAL:
                return "fatal";
        default:
                return "invalid";
        }
}

static bool curl_code_retryable(CURLcode cc) {
        switch (cc) {
        /* The request or our credentials are wrong; trying again gives the same answer. */
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_BAD_FUNCTION_ARGUMENT:
        case CURLE_OUT_OF_MEMORY:
        case CURLE_FILESIZE_EXCEEDED:
        case CURLE_WRITE_ERROR:
                return false;
        default:
                /* Refused, reset, timed out, DNS, TLS handshake cut short: the server may come back. */
                return true;
        }
}

void k8s_response_classify(
        CURLcode cc, long status, const cJSON *body, const char *curl_error, K8sResponse *r) {
        r->status = status;
        r->curl_code = cc;
        r->message[0] = '\0';
        r->reason[0] = '\0';
        r->retry_after = r->retry_after > 0 ? r->retry_after : -1;

        if (cc != CURLE_OK) {
                r->status = 0;
                r->result = curl_code_retryable(cc) ? K8S_RESULT_RETRY : K8S_RESULT_FATAL;
                /* Said as such: "namespace.yaml:3: Namespace x: Send failure: Broken pipe" alone would not
                 * tell that it is the API server that could not be reached. */
                (void) snprintf(
                        r->message,
                        sizeof r->message,
                        "Kubernetes API: %s",
                        !isempty(curl_error) ? curl_error : curl_easy_strerror(cc));
                return;
        }

        /* A Kubernetes Status object carries the server's own explanation. */
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
        if (cJSON_IsString(kind) && streq(kind->valuestring, "Status")) {
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "message");
                const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
                const cJSON *details = cJSON_GetObjectItemCaseSensitive(body, "details");
                const cJSON *ra = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
                if (cJSON_IsString(m))
                        (void) snprintf(r->message, sizeof r->message, "%s", m->valuestring);
                if (cJSON_IsString(reason))
                        (void) snprintf(r->reason, sizeof r->reason, "%s", reason->valuestring);
                if (cJSON_IsNumber(ra) && ra->valuedouble > 0 && r->retry_after < 0)
                        r->retry_after = (int64_t) ra->valuedouble;
        }

        if (status >= 200 && status < 300)
                r->result = K8S_RESULT_OK;
        else if (status == 500 && startswith(r->message, "failed to create typed patch object"))
                /* Server-side apply answers 500 when the object does not fit its schema (a string field
                 * given a number or a boolean): the manifest is wrong, a retry gives the same answer. */
                r->result = K8S_RESULT_FATAL;
        else if (status == 408 || status == 429 || (status >= 500 && status != 501))
                r->result = K8S_RESULT_RETRY;
        else
                r->result = K8S_RESULT_FATAL;

        if (r->result != K8S_RESULT_OK && r->message[0] == '\0')
                (void) snprintf(r->message, sizeof r->message, "HTTP %ld", status);
}

static K8sRequest *request_free(K8sRequest *q) {
        if (!q)
                return NULL;
        if (q->client) {
                K8sClient *c = q->client;
                if (q->prev)
                        q->prev->next = q->next;
                else
                        c->requests = q->next;
                if (q->next)
                        q->next->prev = q->prev;
                c->n_requests--;
        }
        if (q->easy)
                curl_easy_cleanup(q->easy);
        curl_slist_free_all(q->headers);
        free(q->body_out);
        free(q->buf);
        free(q);
        return NULL;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        K8sRequest *q = userdata;
        size_t n = size * nmemb;

        if (q->size + n + 1 > MAX_BODY) {
                q->too_big = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        if (q->size + n + 1 > q->allocated) {
                size_t a = MAX(q->allocated * 2, q->size + n + 1);
                a = MAX(a, (size_t) 4096);
                char *b = realloc(q->buf, a);
                if (!b)
                        return 0;
                q->buf = b;
                q->allocated = a;
        }
        memcpy(q->buf + q->size, ptr, n);
        q->size += n;
        q->buf[q->size] = '\0';
        return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        K8sRequest *q = userdata;
        size_t n = size * nmemb;
        static const char name[] = "retry-after:";

        if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
                int64_t v = 0;
                bool any = false;
                for (size_t i = sizeof name - 1; i < n; i++) {
                        char ch = ptr[i];
                        if (ch == ' ' || ch == '\t')
                                continue;
                        if (ch < '0' || ch > '9')
                                break;
                        any = true;
                        if (v < 86400)
                                v = v * 10 + (ch - '0');
                }
                if (any)
                        q->retry_after = v;
        }
        return n;
}

static void request_done(CurlGlue *g, CURL *easy, CURLcode cc, void *userdata) {
        K8sRequest *q = userdata;
        K8sClient *c = q->client;
        _cleanup_json_ cJSON *json = NULL;
        K8sResponse r = {.retry_after = q->retry_after};
        long status = 0;

        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (q->buf)
                json = cJSON_ParseWithLength(q->buf, q->size);
        if (q->too_big)
                (void) snprintf(
                        q->curl_error, sizeof q->curl_error, "response larger than %u bytes", MAX_BODY);
        k8s_response_classify(cc, status, json, q->curl_error, &r);
        if (q->too_big)
                r.result = K8S_RESULT_FATAL;
        r.body = q->buf ?: "";
        r.body_size = q->size;
        r.json = json;

        log_debug(
                "k8s: %s → %ld %s%s%s",
                q->curl_error[0] ? q->curl_error : "request",
                r.status,
                k8s_result_class_to_string(r.result),
                r.message[0] ? ": " : "",
                r.message);

        K8sResponseHandler handler = q->handler;
        void *ud = q->userdata;
        /* Free first so the handler may issue new requests or free the client. */
        q->easy = NULL; /* the glue handed the handle back to us; cleaned below */
        curl_easy_cleanup(easy);
        _cleanup_free_ char *buf = TAKE_PTR(q->buf);
        request_free(q);
        r.body = buf ?: "";
        handler(c, &r, ud);
}

int k8s_client_new(sd_event *event, K8sKubeconfig *kc, K8sClient **ret) {
        _cleanup_(k8s_client_freep) K8sClient *c = NULL;
        int r;

        assert(event);
        assert(kc);
        assert(ret);

        c = new0(K8sClient, 1);
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->request_usec = 30 * USEC_PER_SEC;
        c->connect_usec = 5 * USEC_PER_SEC;
        r = curl_glue_new(event, &c->glue);
        if (r < 0)
                return r;
        c->kc = kc;
        *ret = TAKE_PTR(c);
        return 0;
}

K8sClient *k8s_client_free(K8sClient *c) {
        if (!c)
                return NULL;
        while (c->requests) {
                K8sRequest *q = c->requests;
                if (q->easy)
                        curl_glue_remove(c->glue, q->easy);
                request_free(q);
        }
        /* With no request left, nothing can call back into an operation: free them. */
        while (c->ops) {
                K8sOp *op = c->ops;
                c->ops = op->next;
                void (*destroy)(void *) = op->destroy;
                void *userdata = op->userdata;
                free(op);
                destroy(userdata);
        }
        curl_glue_free(c->glue);
        k8s_kubeconfig_free(c->kc);
        k8s_resource_table_done(&c->resources);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

K8sOp *k8s_client_op_add(K8sClient *c, void (*destroy)(void *userdata), void *userdata) {
        K8sOp *op = new0(K8sOp, 1);
        if (!op)
                return NULL;
        op->destroy = destroy;
        op->userdata = userdata;
        op->next = c->ops;
        if (c->ops)
                c->ops->prev = op;
        c->ops = op;
        return op;
}

void k8s_client_op_remove(K8sClient *c, K8sOp *op) {
        if (!op)
                return;
        if (op->prev)
                op->prev->next = op->next;
        else
                c->ops = op->next;
        if (op->next)
                op->next->prev = op->prev;
        free(op);
}

const K8sKubeconfig *k8s_client_kubeconfig(const K8sClient *c) {
        return c->kc;
}

sd_event *k8s_client_event(const K8sClient *c) {
        return c->event;
}

void k8s_client_set_timeouts(K8sClient *c, uint64_t request_usec, uint64_t connect_usec) {
        c->request_usec = request_usec;
        c->connect_usec = connect_usec;
}

unsigned k8s_client_in_flight(const K8sClient *c) {
        return c->n_requests;
}

static int setup_tls(K8sClient *c, CURL *e) {
        const K8sKubeconfig *kc = c->kc;
        int r = 0;

        if (kc->insecure_skip_tls_verify) {
                r = curl_setopt_checked(e, CURLOPT_SSL_VERIFYPEER, 0L);
                if (r >= 0)
                        r = curl_setopt_checked(e, CURLOPT_SSL_VERIFYHOST, 0L);
        } else if (kc->ca_data) {
                struct curl_blob blob = {
                        .data = kc->ca_data, .len = kc->ca_data_size, .flags = CURL_BLOB_COPY};
                r = curl_setopt_checked(e, CURLOPT_CAINFO_BLOB, &blob);
        } else if (kc->ca_file)
                r = curl_setopt_checked(e, CURLOPT_CAINFO, kc->ca_file);
        if (r < 0)
                return r;

        if (kc->cert_data) {
                struct curl_blob blob = {
                        .data = kc->cert_data, .len = kc->cert_data_size, .flags = CURL_BLOB_COPY};
                r = curl_setopt_checked(e, CURLOPT_SSLCERT_BLOB, &blob);
        } else if (kc->cert_file)
                r = curl_setopt_checked(e, CURLOPT_SSLCERT, kc->cert_file);
        if (r < 0)
                return r;
        if (kc->key_data) {
                struct curl_blob blob = {
                        .data = kc->key_data, .len = kc->key_data_size, .flags = CURL_BLOB_COPY};
                r = curl_setopt_checked(e, CURLOPT_SSLKEY_BLOB, &blob);
        } else if (kc->key_file)
                r = curl_setopt_checked(e, CURLOPT_SSLKEY, kc->key_file);
        return r;
}

int k8s_client_request(
        K8sClient *c,
        const char *method,
        const char *path,
        const char *content_type,
        const char *body,
        K8sResponseHandler handler,
        void *userdata) {
        _cleanup_free_ char *url = NULL;
        int r;

        assert(c);
        assert(method);
        assert(path && path[0] == '/');
        assert(handler);

        if (asprintf(&url, "%s%s", c->kc->server, path) < 0)
                return -ENOMEM;

        K8sRequest *q = new0(K8sRequest, 1);
        if (!q)
                return -ENOMEM;
        q->handler = handler;
        q->userdata = userdata;
        q->retry_after = -1;
        q->easy = curl_easy_init();
        if (!q->easy) {
                request_free(q);
                return -ENOMEM;
        }
        CURL *e = q->easy;

        struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
        if (!h) {
                request_free(q);
                return -ENOMEM;
        }
        q->headers = h;
        if (streq(method, "DISCOVERY")) {
                /* Internal: a GET with the aggregated-discovery Accept header. */
                curl_slist_free_all(q->headers);
                q->headers = curl_slist_append(NULL, "Accept: " DISCOVERY_ACCEPT);
                method = "GET";
        }
        if (content_type) {
                _cleanup_free_ char *ct = NULL;
                if (asprintf(&ct, "Content-Type: %s", content_type) < 0) {
                        request_free(q);
                        return -ENOMEM;
                }
                h = curl_slist_append(q->headers, ct);
                if (h)
                        q->headers = h;
        }
        if (c->kc->token) {
                _cleanup_free_ char *auth = NULL;
                if (asprintf(&auth, "Authorization: Bearer %s", c->kc->token) < 0) {
                        request_free(q);
                        return -ENOMEM;
                }
                h = curl_slist_append(q->headers, auth);
                explicit_bzero(auth, strlen(auth));
                if (h)
                        q->headers = h;
        }
        if (!q->headers || !h) {
                request_free(q);
                return -ENOMEM;
        }
        if (body) {
                q->body_out = strdup(body);
                if (!q->body_out) {
                        request_free(q);
                        return -ENOMEM;
                }
        }

        if ((r = curl_setopt_checked(e, CURLOPT_URL, url)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_CUSTOMREQUEST, method)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_HTTPHEADER, q->headers)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_USERAGENT, USER_AGENT)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_WRITEFUNCTION, write_cb)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_WRITEDATA, q)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_HEADERFUNCTION, header_cb)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_HEADERDATA, q)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_ERRORBUFFER, q->curl_error)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_NOSIGNAL, 1L)) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_TIMEOUT_MS, (long) (c->request_usec / USEC_PER_MSEC))) < 0 ||
            (r = curl_setopt_checked(
                     e, CURLOPT_CONNECTTIMEOUT_MS, (long) (c->connect_usec / USEC_PER_MSEC))) < 0 ||
            (r = curl_setopt_checked(e, CURLOPT_PROTOCOLS_STR, "http,https")) < 0 ||
            /* HTTP/1.1: parallel requests get connections of their own (kept alive and reused) rather than
             * streams multiplexed on one HTTP/2 connection: one failure fewer to share. (A list answer
             * once stalled until the time limit with HTTP/2 on a heavily loaded machine; not reproduced
             * since, in thousands of requests.) */
            (r = curl_setopt_checked(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1)) < 0 ||
            (r = setup_tls(c, e)) < 0) {
                request_free(q);
                return r;
        }
        if (q->body_out) {
                if ((r = curl_setopt_checked(e, CURLOPT_POSTFIELDS, q->body_out)) < 0 ||
                    (r = curl_setopt_checked(
                             e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(q->body_out))) < 0) {
                        request_free(q);
                        return r;
                }
        } else if (streq(method, "HEAD"))
                (void) curl_setopt_checked(e, CURLOPT_NOBODY, 1L);

        r = curl_glue_add(c->glue, e, request_done, q);
        if (r < 0) {
                request_free(q);
                return r;
        }
        q->client = c;
        q->next = c->requests;
        if (c->requests)
                c->requests->prev = q;
        c->requests = q;
        c->n_requests++;
        log_debug("k8s: %s %s", method, path);
        return 0;
}

int k8s_client_run_until(K8sClient *c, const bool *done, uint64_t timeout_usec) {
        uint64_t start, now;
        int r;

        start = now_usec(CLOCK_MONOTONIC);
        while (!*done) {
                r = sd_event_run(c->event, 100000);
                if (r < 0)
                        return r;
                now = now_usec(CLOCK_MONOTONIC);
                if (!*done && now - start > timeout_usec)
                        return -ETIMEDOUT;
        }
        return 0;
}

/* --- Discovery --------------------------------------------------------------------------------------- */

void k8s_resource_table_done(K8sResourceTable *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->items[i].group);
                free(t->items[i].version);
                free(t->items[i].kind);
                free(t->items[i].resource);
        }
        free(t->items);
        t->items = NULL;
        t->n = 0;
}

static unsigned parse_verbs(const cJSON *verbs) {
        unsigned v = 0;
        const cJSON *i;
        cJSON_ArrayForEach(i, verbs) {
                if (!cJSON_IsString(i))
                        continue;
                if (streq(i->valuestring, "get"))
                        v |= K8S_VERB_GET;
                else if (streq(i->valuestring, "list"))
                        v |= K8S_VERB_LIST;
                else if (streq(i->valuestring, "patch"))
                        v |= K8S_VERB_PATCH;
                else if (streq(i->valuestring, "delete"))
                        v |= K8S_VERB_DELETE;
                else if (streq(i->valuestring, "create"))
                        v |= K8S_VERB_CREATE;
        }
        return v;
}

int k8s_resource_table_add_discovery(K8sResourceTable *t, const cJSON *doc, char **reterr) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *g;

        if (!cJSON_IsString(kind) || !streq(kind->valuestring, "APIGroupDiscoveryList") ||
            !cJSON_IsArray(items))
                return errmsg_set(
                        reterr,
                        -EPROTO,
                        "the server did not answer with an aggregated discovery document "
                        "(APIGroupDiscoveryList; Kubernetes 1.30 or newer is needed)");
        cJSON_ArrayForEach(g, items) {
                const cJSON *meta = cJSON_GetObjectItemCaseSensitive(g, "metadata");
                const cJSON *gname = cJSON_GetObjectItemCaseSensitive(meta, "name");
                const char *group = cJSON_IsString(gname) ? gname->valuestring : "";
                const cJSON *versions = cJSON_GetObjectItemCaseSensitive(g, "versions"), *v;
                cJSON_ArrayForEach(v, versions) {
                        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(v, "version");
                        const cJSON *resources = cJSON_GetObjectItemCaseSensitive(v, "resources"), *res;
                        if (!cJSON_IsString(ver))
                                continue;
                        cJSON_ArrayForEach(res, resources) {
                                const cJSON *rname = cJSON_GetObjectItemCaseSensitive(res, "resource");
                                const cJSON *rk = cJSON_GetObjectItemCaseSensitive(res, "responseKind");
                                const cJSON *rkind = cJSON_GetObjectItemCaseSensitive(rk, "kind");
                                const cJSON *scope = cJSON_GetObjectItemCaseSensitive(res, "scope");
                                if (!cJSON_IsString(rname) || !cJSON_IsString(rkind) ||
                                    !cJSON_IsString(scope))
                                        continue;
                                K8sResource *a = realloc(t->items, (t->n + 1) * sizeof(K8sResource));
                                if (!a)
                                        return -ENOMEM;
                                t->items = a;
                                K8sResource *x = &t->items[t->n];
                                *x = (K8sResource){
                                        .group = strdup(group),
                                        .version = strdup(ver->valuestring),
                                        .kind = strdup(rkind->valuestring),
                                        .resource = strdup(rname->valuestring),
                                        .namespaced = streq(scope->valuestring, "Namespaced"),
                                        .verbs = parse_verbs(cJSON_GetObjectItemCaseSensitive(res, "verbs")),
                                };
                                t->n++;
                                if (!x->group || !x->version || !x->kind || !x->resource)
                                        return -ENOMEM;
                        }
                }
        }
        return 0;
}

const K8sResource *k8s_resource_table_find(
        const K8sResourceTable *t, const char *api_version, const char *kind) {
        const char *slash = strchr(api_version, '/');
        size_t glen = slash ? (size_t) (slash - api_version) : 0;
        const char *version = slash ? slash + 1 : api_version;

        for (size_t i = 0; i < t->n; i++) {
                const K8sResource *r = &t->items[i];
                if (strlen(r->group) == glen && strncmp(r->group, api_version, glen) == 0 &&
                    streq(r->version, version) && streq(r->kind, kind))
                        return r;
        }
        return NULL;
}

typedef struct Discovery {
        K8sOp *op;
        K8sResourceTable table;
        unsigned pending;
        K8sResultClass result;
        char message[1024];
        K8sDoneHandler handler;
        void *userdata;
} Discovery;

static void discovery_response(K8sClient *c, const K8sResponse *r, void *userdata) {
        Discovery *d = userdata;

        if (r->result != K8S_RESULT_OK) {
                if (d->result == K8S_RESULT_OK || r->result == K8S_RESULT_FATAL) {
                        d->result = r->result;
                        (void) snprintf(d->message, sizeof d->message, "discovery: %.1000s", r->message);
                }
        } else if (d->result == K8S_RESULT_OK) {
                _cleanup_free_ char *error = NULL;
                int k = k8s_resource_table_add_discovery(&d->table, r->json, &error);
                if (k < 0) {
                        d->result = K8S_RESULT_FATAL;
                        (void) snprintf(
                                d->message, sizeof d->message, "discovery: %s", error ?: strerror(-k));
                }
        }
        if (--d->pending > 0)
                return;

        if (d->result == K8S_RESULT_OK) {
                k8s_resource_table_done(&c->resources);
                c->resources = d->table;
                d->table = (K8sResourceTable){};
                (void) sd_event_now(c->event, CLOCK_MONOTONIC, &c->discovered_at);
                log_debug("k8s: discovered %zu resources", c->resources.n);
        }
        k8s_resource_table_done(&d->table);
        k8s_client_op_remove(c, d->op);
        K8sDoneHandler handler = d->handler;
        void *ud = d->userdata;
        K8sResultClass result = d->result;
        char message[sizeof d->message];
        memcpy(message, d->message, sizeof message);
        free(d);
        handler(c, result, result == K8S_RESULT_OK ? NULL : message, ud);
}

static void discovery_destroy(void *userdata) {
        Discovery *d = userdata;
        k8s_resource_table_done(&d->table);
        free(d);
}

int k8s_client_discover(K8sClient *c, K8sDoneHandler handler, void *userdata) {
        Discovery *d = new0(Discovery, 1);
        int r;

        if (!d)
                return -ENOMEM;
        d->handler = handler;
        d->userdata = userdata;
        d->pending = 2;
        d->op = k8s_client_op_add(c, discovery_destroy, d);
        if (!d->op) {
                free(d);
                return -ENOMEM;
        }
        r = k8s_client_request(c, "DISCOVERY", "/api", NULL, NULL, discovery_response, d);
        if (r < 0) {
                k8s_client_op_remove(c, d->op);
                free(d);
                return r;
        }
        r = k8s_client_request(c, "DISCOVERY", "/apis", NULL, NULL, discovery_response, d);
        if (r < 0) {
                /* The first request will complete and see one pending answer less. */
                d->result = K8S_RESULT_FATAL;
                (void) snprintf(d->message, sizeof d->message, "discovery: %s", strerror(-r));
                d->pending--;
        }
        return 0;
}

const K8sResourceTable *k8s_client_resources(const K8sClient *c) {
        return &c->resources;
}

uint64_t k8s_client_discovered_at(const K8sClient *c) {
        return c->discovered_at;
}

const K8sResource *k8s_client_find_kind(const K8sClient *c, const char *api_version, const char *kind) {
        return k8s_resource_table_find(&c->resources, api_version, kind);
}

char *k8s_escape(const char *s) {
        size_t n = strlen(s);
        char *out = malloc(n * 3 + 1), *p = out;
        if (!out)
                return NULL;
        for (const char *i = s; *i; i++) {
                unsigned char ch = (unsigned char) *i;
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '.' || ch == '_' || ch == '~')
                        *p++ = (char) ch;
                else {
                        static const char hex[] = "0123456789ABCDEF";
                        *p++ = '%';
                        *p++ = hex[ch >> 4];
                        *p++ = hex[ch & 15];
                }
        }
        *p = '\0';
        return out;
}

int k8s_resource_path(const K8sResource *res, const char *namespace, const char *name, char **ret) {
        _cleanup_free_ char *prefix = NULL, *ns_part = NULL, *name_part = NULL;

        if (isempty(res->group)) {
                if (asprintf(&prefix, "/api/%s", res->version) < 0)
                        return -ENOMEM;
        } else if (asprintf(&prefix, "/apis/%s/%s", res->group, res->version) < 0)
                return -ENOMEM;
        if (res->namespaced && !isempty(namespace)) {
                _cleanup_free_ char *e = k8s_escape(namespace);
                if (!e || asprintf(&ns_part, "/namespaces/%s", e) < 0)
                        return -ENOMEM;
        }
        if (name) {
                _cleanup_free_ char *e = k8s_escape(name);
                if (!e || asprintf(&name_part, "/%s", e) < 0)
                        return -ENOMEM;
        }
        if (asprintf(ret, "%s%s/%s%s", prefix, strempty(ns_part), res->resource, strempty(name_part)) < 0)
                return -ENOMEM;
        return 0;
}
