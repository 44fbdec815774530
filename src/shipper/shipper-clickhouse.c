/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "shipper-manager.h"
#include "util.h"

struct ChRequest {
        Manager *manager;
        Batch *batch;
        CURL *easy;
        struct curl_slist *headers;
        Buf body;
        bool body_borrowed; /* points into the batch's rows */
        Buf response;       /* first bytes of the reply: ClickHouse's error message */
        long exception_code;
        uint64_t retry_after_usec;
        char errbuf[CURL_ERROR_SIZE];
};

ChRequest *ch_request_free(ChRequest *r) {
        if (!r)
                return NULL;
        if (r->easy) {
                curl_glue_remove(r->manager->curl, r->easy);
                curl_easy_cleanup(r->easy);
        }
        curl_slist_free_all(r->headers);
        if (!r->body_borrowed)
                buf_done(&r->body);
        buf_done(&r->response);
        free(r);
        return NULL;
}

/* ClickHouse error codes that mean "this data cannot be inserted", as opposed
 * to "not now": parse errors, type mismatches, constraint violations. */
static const long malformed_codes[] = {
        6,    /* CANNOT_PARSE_TEXT */
        25,   /* CANNOT_PARSE_ESCAPE_SEQUENCE */
        26,   /* CANNOT_PARSE_QUOTED_STRING */
        27,   /* CANNOT_PARSE_INPUT_ASSERTION_FAILED */
        32,   /* ATTEMPT_TO_READ_AFTER_EOF */
        33,   /* CANNOT_READ_ALL_DATA */
        38,   /* CANNOT_PARSE_DATE */
        41,   /* CANNOT_PARSE_DATETIME */
        53,   /* TYPE_MISMATCH */
        69,   /* ARGUMENT_OUT_OF_BOUND */
        70,   /* CANNOT_CONVERT_TYPE */
        72,   /* CANNOT_PARSE_NUMBER */
        117,  /* INCORRECT_DATA */
        131,  /* TOO_LARGE_STRING_SIZE */
        321,  /* VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE */
        349,  /* CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN */
        407,  /* DECIMAL_OVERFLOW */
        469,  /* VIOLATED_CONSTRAINT */
        1001, /* STD_EXCEPTION (e.g. invalid UTF-8 in a conversion) */
};

int ch_classify(long curl_code, long http_status, long exception_code) {
        if (curl_code != CURLE_OK)
                return CH_RESULT_RETRY;
        if (http_status >= 200 && http_status < 300)
                return CH_RESULT_OK;
        for (size_t i = 0; i < ELEMENTSOF(malformed_codes); i++)
                if (exception_code == malformed_codes[i])
                        return CH_RESULT_MALFORMED;
        return CH_RESULT_RETRY;
}

uint64_t ch_parse_retry_after(const char *value, uint64_t now_realtime_usec) {
        uint64_t secs;
        struct tm tm = {0};
        const char *e;

        while (*value == ' ')
                value++;
        if (safe_atou64(value, &secs) == 0)
                return secs > 3600 ? 3600 * UINT64_C(1000000) : secs * UINT64_C(1000000);
        e = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (e) {
                time_t t = timegm(&tm);
                uint64_t at = (uint64_t) t * UINT64_C(1000000);
                if (t > 0 && at > now_realtime_usec)
                        return MIN(at - now_realtime_usec, 3600 * UINT64_C(1000000));
        }
        return 0;
}

uint64_t retry_delay_usec(uint64_t initial, uint64_t max, unsigned attempt, uint64_t rnd) {
        uint64_t d = initial;
        for (unsigned i = 0; i < attempt && d < max; i++)
                d *= 2;
        d = MIN(d, max);
        /* Full range [d/2, d): spreads retries of many shippers apart. */
        return d / 2 + (d / 2 ? rnd % (d / 2) : 0);
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata) {
        ChRequest *r = userdata;
        size_t n = size * nitems;
        char line[256];

        if (n >= sizeof(line))
                return n;
        memcpy(line, buffer, n);
        line[n] = 0;
        line[strcspn(line, "\r\n")] = 0;
        if (strncasecmp(line, "X-ClickHouse-Exception-Code:", 28) == 0) {
                int64_t v;
                const char *p = line + 28;
                while (*p == ' ')
                        p++;
                if (safe_atoi64(p, &v) == 0)
                        r->exception_code = (long) v;
        } else if (strncasecmp(line, "Retry-After:", 12) == 0)
                r->retry_after_usec = ch_parse_retry_after(line + 12, now_usec(CLOCK_REALTIME));
        return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        ChRequest *r = userdata;
        size_t n = size * nmemb, room = r->response.max - r->response.len;

        if (room > 0 && buf_reserve(&r->response, MIN(n, room)) == 0)
                buf_put(&r->response, ptr, MIN(n, room));
        return n;
}

static void on_done(CurlGlue *g, CURL *easy, CURLcode code, void *userdata) {
        ChRequest *r = userdata;
        Manager *m = r->manager;
        Batch *b = r->batch;
        long status = 0;
        char msg[600];
        int result;

        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        result = ch_classify(code, status, r->exception_code);
        if (code != CURLE_OK)
                snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
        else if (result != CH_RESULT_OK) {
                size_t l = MIN(r->response.len, (size_t) 400);
                while (l > 0 && (r->response.data[l - 1] == '\n' || r->response.data[l - 1] == '\r'))
                        l--;
                snprintf(
                        msg,
                        sizeof(msg),
                        "HTTP %ld, code %ld: %.*s",
                        status,
                        r->exception_code,
                        (int) l,
                        r->response.data ? r->response.data : "");
        } else
                msg[0] = 0;
        uint64_t retry_after = r->retry_after_usec;
        /* The transfer is over: the glue no longer knows the handle. */
        r->easy = NULL;
        curl_easy_cleanup(easy);
        b->req = ch_request_free(r);
        manager_request_done(m, b, result, retry_after, msg);
}

int ch_request_start(Manager *m, Batch *b, const Buf *body, bool borrowed, const char *token) {
        _cleanup_free_ char *url = NULL;
        ChRequest *r;
        const char *enc = NULL;
        char hdr[512];
        int k;

        r = calloc(1, sizeof(ChRequest));
        if (!r)
                return -ENOMEM;
        r->manager = m;
        r->batch = b;
        r->response.max = 4096;
        r->body = *body; /* takes over the encoded body */
        r->body_borrowed = borrowed;

        if (asprintf(&url, "%s&insert_deduplication_token=%s", m->insert_url, token) < 0) {
                ch_request_free(r);
                return -ENOMEM;
        }
        r->easy = curl_easy_init();
        if (!r->easy) {
                ch_request_free(r);
                return -ENOMEM;
        }
        if (m->config->compression == COMPRESSION_GZIP)
                enc = "Content-Encoding: gzip";
        else if (m->config->compression == COMPRESSION_ZSTD)
                enc = "Content-Encoding: zstd";
        if (enc)
                r->headers = curl_slist_append(r->headers, enc);
        r->headers = curl_slist_append(r->headers, "Content-Type: application/x-ndjson");
        r->headers = curl_slist_append(r->headers, "Expect:");
        snprintf(hdr, sizeof(hdr), "X-ClickHouse-User: %s", m->config->user);
        r->headers = curl_slist_append(r->headers, hdr);
        if (!isempty(m->config->password)) {
                snprintf(hdr, sizeof(hdr), "X-ClickHouse-Key: %s", m->config->password);
                r->headers = curl_slist_append(r->headers, hdr);
        }
        if (!r->headers) {
                ch_request_free(r);
                return -ENOMEM;
        }
        if (curl_setopt_checked(r->easy, CURLOPT_URL, url) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_POST, 1L) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_POSTFIELDS, r->body.data) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body.len) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_HTTPHEADER, r->headers) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_HEADERFUNCTION, on_header) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_HEADERDATA, r) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_WRITEFUNCTION, on_write) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_WRITEDATA, r) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_ERRORBUFFER, r->errbuf) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_NOSIGNAL, 1L) < 0 ||
            curl_setopt_checked(
                    r->easy, CURLOPT_TIMEOUT_MS, (long) (m->config->request_timeout_nsec / 1000000)) < 0 ||
            curl_setopt_checked(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L) < 0) {
                ch_request_free(r);
                return -EIO;
        }
        k = curl_glue_add(m->curl, r->easy, on_done, r);
        if (k < 0) {
                ch_request_free(r);
                return k;
        }
        b->req = r;
        return 0;
}
