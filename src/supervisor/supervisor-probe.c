/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

#include "cleanup.h"
#include "macro.h"
#include "strbuf.h"
#include "supervisor-probe.h"
#include "util.h"

#define PROBE_ANSWER_MAX 1024
#define PROBE_TIMEOUT_MS 5000L

struct HealthProbe {
        CurlGlue *glue;
        char *url;
        CURL *easy;
        StrBuf reply;
        bool busy;
        long status;
        char answer[PROBE_ANSWER_MAX];
        HealthProbeDone done;
        void *userdata;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata) {
        HealthProbe *h = userdata;

        /* Only the start matters; the rest is read and dropped rather than failing the request. */
        (void) strbuf_append(&h->reply, p, MIN(size * n, h->reply.max - h->reply.len));
        return size * n;
}

static void on_done(CurlGlue *g, CURL *easy, CURLcode result, void *userdata) {
        HealthProbe *h = userdata;
        const char *body = strempty(h->reply.data);
        size_t n = strcspn(body, "\r\n");

        h->busy = false;
        h->status = 0;
        if (result == CURLE_OK)
                (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &h->status);
        n = MIN(n, sizeof(h->answer) - 1);
        memcpy(h->answer, body, n);
        h->answer[n] = 0;
        if (h->done)
                h->done(h->userdata);
}

int health_probe_run(HealthProbe *h, HealthProbeDone done, void *userdata) {
        int r;

        if (h->busy)
                return -EBUSY;
        strbuf_reset(&h->reply);
        curl_easy_reset(h->easy);
        r = curl_setopt_checked(h->easy, CURLOPT_URL, h->url);
        if (r >= 0)
                r = curl_setopt_checked(h->easy, CURLOPT_WRITEFUNCTION, on_body);
        if (r >= 0)
                r = curl_setopt_checked(h->easy, CURLOPT_WRITEDATA, h);
        if (r >= 0)
                r = curl_setopt_checked(h->easy, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
        if (r >= 0)
                r = curl_setopt_checked(h->easy, CURLOPT_NOSIGNAL, 1L);
        if (r >= 0)
                r = curl_glue_add(h->glue, h->easy, on_done, h);
        if (r < 0)
                return r;
        h->busy = true;
        h->done = done;
        h->userdata = userdata;
        return 0;
}

long health_probe_status(const HealthProbe *h) {
        return h->status;
}

const char *health_probe_answer(const HealthProbe *h) {
        return h->answer;
}

int health_probe_new(CurlGlue *glue, const char *url, HealthProbe **ret) {
        _cleanup_(health_probe_freep) HealthProbe *h = NULL;

        h = new0(HealthProbe, 1);
        if (!h)
                return -ENOMEM;
        h->glue = glue;
        h->reply = STRBUF_INIT(PROBE_ANSWER_MAX);
        h->url = strdup(url);
        h->easy = curl_easy_init();
        if (!h->url || !h->easy)
                return -ENOMEM;
        *ret = TAKE_PTR(h);
        return 0;
}

HealthProbe *health_probe_free(HealthProbe *h) {
        if (!h)
                return NULL;
        if (h->easy) {
                if (h->busy)
                        curl_glue_remove(h->glue, h->easy);
                curl_easy_cleanup(h->easy);
        }
        strbuf_done(&h->reply);
        free(h->url);
        free(h);
        return NULL;
}
