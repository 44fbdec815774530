/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "clickhouse-client.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strbuf.h"
#include "util.h"

#define INSERT_REPLY_MAX_DEFAULT 4096
#define QUERY_REPLY_MAX_DEFAULT (4 * 1024 * 1024)
/* What a body producer fills per call before it is compressed. */
#define STAGE_SIZE (64 * 1024)

struct ClickHouseClient {
        CurlGlue *glue;
        char *url; /* without the trailing '/' */
        char *user_header, *key_header;
        char *database;
        long timeout_ms, connect_timeout_ms;
        uint64_t retry_initial_usec, retry_max_usec;
        /* Whole bodies are compressed one at a time on the loop: one context per type serves them all. */
        Compressor *compressors[_COMPRESSION_MAX];
        int compressor_levels[_COMPRESSION_MAX];
        ClickHouseRequest *requests; /* in flight */
        unsigned n_requests;
};

struct ClickHouseRequest {
        ClickHouseClient *client;
        ClickHouseRequest *prev, *next;
        CURL *easy;
        struct curl_slist *headers;
        char *owned_body; /* the compressed body, or NULL when the caller's data is sent as it is */
        uint64_t sent_bytes;
        /* Streamed bodies. */
        ClickHouseBodyProducer produce;
        void *produce_userdata;
        Compressor *stream;
        char *stage;
        size_t stage_pos, stage_len;
        bool produced_all, stream_done;
        int produce_error;
        /* The reply. */
        StrBuf reply;
        bool truncate_reply; /* INSERTs keep the start of a long reply; queries fail */
        bool reply_truncated, reply_too_large;
        long exception_code;
        uint64_t retry_after_usec;
        char errbuf[CURL_ERROR_SIZE];
        ClickHouseDone done;
        void *userdata;
        bool completing; /* done() is running: a cancel from inside it is a no-op */
};

/* ClickHouse error codes that mean "this data cannot be inserted", as opposed to "not now": parse errors,
 * type mismatches, constraint violations. */
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

ClickHouseResult clickhouse_classify(long curl_code, long http_status, long exception_code) {
        if (curl_code != CURLE_OK)
                return CLICKHOUSE_RETRY;
        if (http_status >= 200 && http_status < 300)
                return CLICKHOUSE_OK;
        for (size_t i = 0; i < ELEMENTSOF(malformed_codes); i++)
                if (exception_code == malformed_codes[i])
                        return CLICKHOUSE_MALFORMED;
        return CLICKHOUSE_RETRY;
}

uint64_t clickhouse_parse_retry_after(const char *value, uint64_t now_realtime_usec) {
        const uint64_t hour = 3600 * USEC_PER_SEC;
        struct tm tm = {};
        uint64_t secs;

        while (*value == ' ')
                value++;
        if (safe_atou64(value, &secs) == 0)
                return secs > 3600 ? hour : secs * USEC_PER_SEC;
        if (strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
                time_t t = timegm(&tm);
                uint64_t at = (uint64_t) t * USEC_PER_SEC;
                if (t > 0 && at > now_realtime_usec)
                        return MIN(at - now_realtime_usec, hour);
        }
        return 0;
}

uint64_t clickhouse_backoff_usec(uint64_t initial, uint64_t max, unsigned attempt, uint64_t rnd) {
        uint64_t d = initial;
        for (unsigned i = 0; i < attempt && d < max; i++)
                d *= 2;
        d = MIN(d, max);
        return d / 2 + (d / 2 ? rnd % (d / 2) : 0);
}

uint64_t clickhouse_client_retry_delay(
        const ClickHouseClient *c, unsigned attempt, uint64_t retry_after_usec) {
        uint64_t d =
                clickhouse_backoff_usec(c->retry_initial_usec, c->retry_max_usec, attempt, random_u64());
        return MAX(d, retry_after_usec);
}

/* --- requests ----------------------------------------------------------------------------------------- */

static void request_free(ClickHouseRequest *r) {
        ClickHouseClient *c = r->client;

        if (r->easy) {
                curl_glue_remove(c->glue, r->easy);
                curl_easy_cleanup(r->easy);
        }
        if (r->prev)
                r->prev->next = r->next;
        else if (c->requests == r)
                c->requests = r->next;
        if (r->next)
                r->next->prev = r->prev;
        c->n_requests--;
        curl_slist_free_all(r->headers);
        free(r->owned_body);
        compressor_free(r->stream);
        free(r->stage);
        strbuf_done(&r->reply);
        free(r);
}

ClickHouseRequest *clickhouse_request_cancel(ClickHouseRequest *r) {
        if (r && !r->completing)
                request_free(r);
        return NULL;
}

unsigned clickhouse_client_active(const ClickHouseClient *c) {
        return c->n_requests;
}

static const char *header_value(const char *line, const char *name) {
        size_t l = strlen(name);
        return strncasecmp(line, name, l) == 0 && line[l] == ':' ? line + l + 1 : NULL;
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata) {
        ClickHouseRequest *r = userdata;
        size_t n = size * nitems;
        const char *v;
        char line[256];

        if (n >= sizeof(line))
                return n;
        memcpy(line, buffer, n);
        line[n] = 0;
        line[strcspn(line, "\r\n")] = 0;
        if ((v = header_value(line, "X-ClickHouse-Exception-Code"))) {
                int64_t code;
                v += strspn(v, " ");
                if (safe_atoi64(v, &code) == 0)
                        r->exception_code = (long) code;
        } else if ((v = header_value(line, "Retry-After")))
                r->retry_after_usec = clickhouse_parse_retry_after(v, now_usec(CLOCK_REALTIME));
        return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        ClickHouseRequest *r = userdata;
        size_t n = size * nmemb, room = r->reply.max - r->reply.len;

        if (n > room) {
                if (!r->truncate_reply) {
                        r->reply_too_large = true;
                        return 0; /* aborts the transfer */
                }
                r->reply_truncated = true;
        }
        if (MIN(n, room) > 0 && strbuf_append(&r->reply, ptr, MIN(n, room)) < 0) {
                if (!r->truncate_reply)
                        return 0;
                r->reply_truncated = true;
        }
        return n;
}

/* curl asks for the next piece of a streamed body: produce, compress, hand over. */
static size_t on_read(char *buffer, size_t size, size_t nitems, void *userdata) {
        ClickHouseRequest *r = userdata;
        size_t want = size * nitems, room = want;
        void *out = buffer;
        ssize_t k;

        if (!r->stream) {
                if (r->produced_all)
                        return 0;
                k = r->produce(buffer, want, r->produce_userdata);
                if (k < 0) {
                        r->produce_error = (int) k;
                        return CURL_READFUNC_ABORT;
                }
                if (k == 0)
                        r->produced_all = true;
                r->sent_bytes += (uint64_t) k;
                return (size_t) k;
        }
        while (room > 0 && !r->stream_done) {
                const void *in;
                size_t in_size;
                int s;

                if (r->stage_len == 0 && !r->produced_all) {
                        k = r->produce(r->stage, STAGE_SIZE, r->produce_userdata);
                        if (k < 0) {
                                r->produce_error = (int) k;
                                return CURL_READFUNC_ABORT;
                        }
                        if (k == 0)
                                r->produced_all = true;
                        r->stage_pos = 0;
                        r->stage_len = (size_t) k;
                }
                in = r->stage + r->stage_pos;
                in_size = r->stage_len;
                s = compressor_stream(r->stream, &in, &in_size, &out, &room, r->produced_all);
                if (s < 0) {
                        r->produce_error = s;
                        return CURL_READFUNC_ABORT;
                }
                r->stage_pos += r->stage_len - in_size;
                r->stage_len = in_size;
                if (s > 0)
                        r->stream_done = true;
        }
        r->sent_bytes += want - room;
        return want - room;
}

static void on_done(CurlGlue *g, CURL *easy, CURLcode code, void *userdata) {
        ClickHouseRequest *r = userdata;
        ClickHouseReply reply = {
                .curl_code = code,
                .exception_code = r->exception_code,
                .retry_after_usec = r->retry_after_usec,
                .body_truncated = r->reply_truncated,
                .sent_bytes = r->sent_bytes,
        };
        char msg[600];

        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.http_status);
        reply.result = clickhouse_classify(code, reply.http_status, r->exception_code);
        reply.body = r->reply.data ?: "";
        reply.body_size = r->reply.len;
        if (r->reply_too_large)
                snprintf(msg, sizeof(msg), "reply larger than %zu bytes", r->reply.max);
        else if (r->produce_error < 0)
                snprintf(msg, sizeof(msg), "request body: %s", strerror(-r->produce_error));
        else if (code != CURLE_OK)
                snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
        else if (reply.result != CLICKHOUSE_OK) {
                /* ClickHouse's own message; its start is enough for a log line. */
                size_t l = MIN(r->reply.len, (size_t) 400);
                while (l > 0 && (reply.body[l - 1] == '\n' || reply.body[l - 1] == '\r'))
                        l--;
                snprintf(
                        msg,
                        sizeof(msg),
                        "HTTP %ld, code %ld: %.*s",
                        reply.http_status,
                        r->exception_code,
                        (int) l,
                        reply.body);
        }
        if (reply.result == CLICKHOUSE_OK && (r->reply_too_large || r->produce_error < 0))
                reply.result = CLICKHOUSE_RETRY; /* curl reports those as errors anyway */
        if (reply.result != CLICKHOUSE_OK)
                reply.error = msg;

        /* The transfer is over: the glue no longer knows the handle. */
        r->easy = NULL;
        curl_easy_cleanup(easy);
        r->completing = true;
        r->done(r, &reply, r->userdata);
        request_free(r);
}

static int request_new(ClickHouseClient *c, ClickHouseDone done, void *userdata, ClickHouseRequest **ret) {
        ClickHouseRequest *r;

        r = new0(ClickHouseRequest, 1);
        if (!r)
                return -ENOMEM;
        r->client = c;
        r->done = done;
        r->userdata = userdata;
        r->next = c->requests;
        if (c->requests)
                c->requests->prev = r;
        c->requests = r;
        c->n_requests++;
        r->easy = curl_easy_init();
        if (!r->easy) {
                request_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

static int slist_add(struct curl_slist **l, const char *s) {
        struct curl_slist *n = curl_slist_append(*l, s);
        if (!n)
                return -ENOMEM; /* *l is intact and freed with the request */
        *l = n;
        return 0;
}

static int request_add_headers(ClickHouseRequest *r, const char *content_type, const char *encoding) {
        ClickHouseClient *c = r->client;
        char hdr[128];
        int k;

        k = slist_add(&r->headers, "Expect:"); /* no 100-continue round trip */
        if (k >= 0 && content_type) {
                snprintf(hdr, sizeof(hdr), "Content-Type: %s", content_type);
                k = slist_add(&r->headers, hdr);
        }
        if (k >= 0 && encoding) {
                snprintf(hdr, sizeof(hdr), "Content-Encoding: %s", encoding);
                k = slist_add(&r->headers, hdr);
        }
        if (k >= 0 && r->produce)
                k = slist_add(&r->headers, "Transfer-Encoding: chunked");
        if (k >= 0 && c->user_header)
                k = slist_add(&r->headers, c->user_header);
        if (k >= 0 && c->key_header)
                k = slist_add(&r->headers, c->key_header);
        return k;
}

static int request_start(ClickHouseRequest *r, const char *url) {
        ClickHouseClient *c = r->client;
        CURL *e = r->easy;

        if (curl_setopt_checked(e, CURLOPT_URL, url) < 0 ||
            curl_setopt_checked(e, CURLOPT_HTTPHEADER, r->headers) < 0 ||
            curl_setopt_checked(e, CURLOPT_HEADERFUNCTION, on_header) < 0 ||
            curl_setopt_checked(e, CURLOPT_HEADERDATA, r) < 0 ||
            curl_setopt_checked(e, CURLOPT_WRITEFUNCTION, on_write) < 0 ||
            curl_setopt_checked(e, CURLOPT_WRITEDATA, r) < 0 ||
            curl_setopt_checked(e, CURLOPT_ERRORBUFFER, r->errbuf) < 0 ||
            curl_setopt_checked(e, CURLOPT_NOSIGNAL, 1L) < 0 ||
            curl_setopt_checked(e, CURLOPT_TIMEOUT_MS, c->timeout_ms) < 0 ||
            curl_setopt_checked(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms) < 0)
                return -EIO;
        return curl_glue_add(c->glue, e, on_done, r);
}

static bool valid_name(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '_'))
                        return false;
        return true;
}

/* Appends name=escaped(value) for each setting, each followed by '&'. */
static int append_settings(StrBuf *url, const ClickHouseSetting *settings, size_t n) {
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                char *esc;
                if (!valid_name(settings[i].name) || !settings[i].value)
                        return -EINVAL;
                esc = curl_easy_escape(NULL, settings[i].value, 0);
                if (!esc)
                        return -ENOMEM;
                r = strbuf_printf(url, "%s=%s&", settings[i].name, esc);
                curl_free(esc);
        }
        return r;
}

int clickhouse_insert(
        ClickHouseClient *c,
        const ClickHouseInsert *ins,
        ClickHouseDone done,
        void *userdata,
        ClickHouseRequest **ret) {
        _cleanup_free_ char *query = NULL;
        StrBuf url = STRBUF_INIT(64 * 1024);
        ClickHouseRequest *r = NULL;
        Compression comp = ins->compression;
        char *esc;
        int k;

        if (isempty(ins->table) || strchr(ins->table, '`') || !valid_name(ins->format) || comp < 0 ||
            comp >= _COMPRESSION_MAX || !done || (!ins->data && !ins->produce) ||
            (ins->data && ins->produce) || (ins->produce && ins->precompressed))
                return -EINVAL;
        if (c->database)
                k = asprintf(
                        &query, "INSERT INTO `%s`.`%s` FORMAT %s", c->database, ins->table, ins->format);
        else
                k = asprintf(&query, "INSERT INTO `%s` FORMAT %s", ins->table, ins->format);
        if (k < 0)
                return -ENOMEM;
        esc = curl_easy_escape(NULL, query, 0);
        if (!esc)
                return -ENOMEM;
        k = strbuf_printf(&url, "%s/?", c->url);
        if (k >= 0)
                k = append_settings(&url, ins->settings, ins->n_settings);
        if (k >= 0)
                k = strbuf_printf(&url, "query=%s", esc);
        curl_free(esc);
        if (k >= 0)
                k = request_new(c, done, userdata, &r);
        if (k < 0)
                goto fail;
        r->reply = STRBUF_INIT(ins->reply_max ?: INSERT_REPLY_MAX_DEFAULT);
        r->truncate_reply = true;
        r->produce = ins->produce;
        r->produce_userdata = ins->produce_userdata;

        k = request_add_headers(
                r, ins->content_type ?: "application/octet-stream", compression_content_encoding(comp));
        if (k < 0)
                goto fail;

        if (ins->produce) {
                if (comp != COMPRESSION_NONE) {
                        k = compressor_new(comp, ins->compression_level, &r->stream);
                        if (k >= 0)
                                k = compressor_begin(r->stream);
                        if (k < 0)
                                goto fail;
                        r->stage = malloc(STAGE_SIZE);
                        if (!r->stage) {
                                k = -ENOMEM;
                                goto fail;
                        }
                }
                if (curl_setopt_checked(r->easy, CURLOPT_POST, 1L) < 0 ||
                    curl_setopt_checked(r->easy, CURLOPT_READFUNCTION, on_read) < 0 ||
                    curl_setopt_checked(r->easy, CURLOPT_READDATA, r) < 0) {
                        k = -EIO;
                        goto fail;
                }
        } else {
                const void *body = ins->data;
                size_t size = ins->size;

                if (comp != COMPRESSION_NONE && !ins->precompressed) {
                        Compressor **z = &c->compressors[comp];
                        ssize_t n;
                        size_t bound;

                        /* The context is kept for the next body of the same level. */
                        if (*z && c->compressor_levels[comp] != ins->compression_level)
                                *z = compressor_free(*z);
                        if (!*z) {
                                k = compressor_new(comp, ins->compression_level, z);
                                if (k < 0)
                                        goto fail;
                                c->compressor_levels[comp] = ins->compression_level;
                        }
                        bound = compressor_bound(*z, size);
                        r->owned_body = malloc(MAX(bound, (size_t) 1));
                        if (!r->owned_body) {
                                k = -ENOMEM;
                                goto fail;
                        }
                        n = compressor_compress(*z, ins->data, size, r->owned_body, bound);
                        if (n < 0) {
                                k = (int) n;
                                goto fail;
                        }
                        body = r->owned_body;
                        size = (size_t) n;
                }
                r->sent_bytes = size;
                if (curl_setopt_checked(r->easy, CURLOPT_POST, 1L) < 0 ||
                    curl_setopt_checked(r->easy, CURLOPT_POSTFIELDS, body) < 0 ||
                    curl_setopt_checked(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size) < 0) {
                        k = -EIO;
                        goto fail;
                }
        }
        k = request_start(r, url.data);
        if (k < 0)
                goto fail;
        strbuf_done(&url);
        if (ret)
                *ret = r;
        return 0;
fail:
        strbuf_done(&url);
        if (r)
                request_free(r);
        return k;
}

int clickhouse_query(
        ClickHouseClient *c,
        const ClickHouseQuery *q,
        ClickHouseDone done,
        void *userdata,
        ClickHouseRequest **ret) {
        StrBuf url = STRBUF_INIT(64 * 1024);
        ClickHouseRequest *r = NULL;
        int k;

        if (isempty(q->sql) || !done)
                return -EINVAL;
        k = strbuf_printf(&url, "%s/?", c->url);
        if (k >= 0 && c->database) {
                char *esc = curl_easy_escape(NULL, c->database, 0);
                k = esc ? strbuf_printf(&url, "database=%s&", esc) : -ENOMEM;
                curl_free(esc);
        }
        if (k >= 0)
                k = append_settings(&url, q->settings, q->n_settings);
        if (k >= 0) /* "…/?" or "…/?a=1&": drop the last separator */
                strbuf_truncate(&url, url.len - 1);
        if (k >= 0)
                k = request_new(c, done, userdata, &r);
        if (k >= 0) {
                r->reply = STRBUF_INIT(q->reply_max ?: QUERY_REPLY_MAX_DEFAULT);
                k = request_add_headers(r, "text/plain; charset=utf-8", NULL);
        }
        if (k >= 0) {
                r->sent_bytes = strlen(q->sql);
                if (curl_setopt_checked(r->easy, CURLOPT_POST, 1L) < 0 ||
                    curl_setopt_checked(r->easy, CURLOPT_POSTFIELDS, q->sql) < 0 ||
                    curl_setopt_checked(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->sent_bytes) <
                            0)
                        k = -EIO;
        }
        if (k >= 0)
                k = request_start(r, url.data);
        strbuf_done(&url);
        if (k < 0) {
                if (r)
                        request_free(r);
                return k;
        }
        if (ret)
                *ret = r;
        return 0;
}

int clickhouse_ping(ClickHouseClient *c, ClickHouseDone done, void *userdata, ClickHouseRequest **ret) {
        _cleanup_free_ char *url = NULL;
        ClickHouseRequest *r = NULL;
        int k;

        if (!done)
                return -EINVAL;
        if (asprintf(&url, "%s/ping", c->url) < 0)
                return -ENOMEM;
        k = request_new(c, done, userdata, &r);
        if (k < 0)
                return k;
        r->reply = STRBUF_INIT(4096);
        k = request_add_headers(r, NULL, NULL);
        if (k >= 0)
                k = request_start(r, url);
        if (k < 0) {
                request_free(r);
                return k;
        }
        if (ret)
                *ret = r;
        return 0;
}

/* --- the client --------------------------------------------------------------------------------------- */

/* Header values end at the line: a CR or LF in a user name or password would start another header. */
static bool valid_header_value(const char *s) {
        for (; s && *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

int clickhouse_client_new(CurlGlue *glue, const ClickHouseClientConfig *config, ClickHouseClient **ret) {
        _cleanup_(clickhouse_client_freep) ClickHouseClient *c = NULL;
        size_t l;

        if (!glue || isempty(config->url) || !valid_header_value(config->user) ||
            !valid_header_value(config->password) || (config->database && strchr(config->database, '`')))
                return -EINVAL;
        c = new0(ClickHouseClient, 1);
        if (!c)
                return -ENOMEM;
        c->glue = glue;
        l = strlen(config->url);
        c->url = strndup(config->url, config->url[l - 1] == '/' ? l - 1 : l);
        if (!c->url)
                return -ENOMEM;
        if (!isempty(config->user) && asprintf(&c->user_header, "X-ClickHouse-User: %s", config->user) < 0)
                return -ENOMEM;
        if (!isempty(config->password) &&
            asprintf(&c->key_header, "X-ClickHouse-Key: %s", config->password) < 0)
                return -ENOMEM;
        if (!isempty(config->database)) {
                c->database = strdup(config->database);
                if (!c->database)
                        return -ENOMEM;
        }
        c->timeout_ms = (long) ((config->timeout_usec ?: 30 * USEC_PER_SEC) / USEC_PER_MSEC);
        c->connect_timeout_ms = (long) ((config->connect_timeout_usec ?: 5 * USEC_PER_SEC) / USEC_PER_MSEC);
        c->retry_initial_usec = config->retry_initial_usec ?: 250 * USEC_PER_MSEC;
        c->retry_max_usec = config->retry_max_usec ?: 30 * USEC_PER_SEC;
        *ret = TAKE_PTR(c);
        return 0;
}

int clickhouse_client_set_password(ClickHouseClient *c, const char *password) {
        char *h = NULL;

        if (!valid_header_value(password))
                return -EINVAL;
        if (!isempty(password) && asprintf(&h, "X-ClickHouse-Key: %s", password) < 0)
                return -ENOMEM;
        /* Requests already started keep their own copy of the header (curl_slist_append copies). */
        if (c->key_header)
                explicit_bzero(c->key_header, strlen(c->key_header));
        free(c->key_header);
        c->key_header = h;
        return 0;
}

ClickHouseClient *clickhouse_client_free(ClickHouseClient *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_free(c->requests);
        for (size_t i = 0; i < ELEMENTSOF(c->compressors); i++)
                compressor_free(c->compressors[i]);
        free(c->url);
        free(c->user_header);
        free(c->key_header);
        free(c->database);
        free(c);
        return NULL;
}
