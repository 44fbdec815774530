/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "shipper-json.h"
#include "shipper-logname.h"
#include "shipper-transform.h"

static int put_kv(StrBuf *b, bool *first, const char *k, const char *v, size_t vlen) {
        size_t klen = strlen(k);
        int r = strbuf_reserve(b, klen + json_escape_bound(vlen) + 8);
        if (r < 0)
                return r;
        if (!*first)
                strbuf_putc(b, ',');
        *first = false;
        strbuf_putc(b, '"');
        strbuf_put(b, k, klen);
        strbuf_put_lit(b, "\":\"");
        strbuf_put_json_escaped(b, v, vlen);
        strbuf_putc(b, '"');
        return 0;
}

static void resource_add(TransformResource *r, const char *key, const char *value, size_t value_len) {
        r->attrs[r->n_attrs].key = key;
        r->attrs[r->n_attrs].value = value;
        r->attrs[r->n_attrs].value_len = value_len;
        r->n_attrs++;
}

int transform_resource_init(const char *path, const char *service_name, TransformResource *ret) {
        const char *base = strrchr(path, '/');
        K8sName k;

        *ret = (TransformResource){};
        ret->base = strdup(base ? base + 1 : path);
        if (!ret->base)
                return -ENOMEM;
        k8s_name_parse(ret->base, &k);
        if (service_name && service_name[0]) {
                ret->service_name = service_name;
                ret->service_name_len = strlen(service_name);
        } else if (k.container_len > 0) {
                ret->service_name = k.container;
                ret->service_name_len = k.container_len;
        } else {
                ret->service_name = ret->base;
                ret->service_name_len = strlen(ret->base);
        }
        resource_add(ret, "service.name", ret->service_name, ret->service_name_len);
        if (k.pod_len > 0) {
                resource_add(ret, "k8s.pod.name", k.pod, k.pod_len);
                resource_add(ret, "k8s.namespace.name", k.namespace, k.namespace_len);
                resource_add(ret, "k8s.container.name", k.container, k.container_len);
                if (k.container_id_len > 0)
                        resource_add(ret, "k8s.container.id", k.container_id, k.container_id_len);
        }
        return 0;
}

void transform_resource_done(TransformResource *r) {
        free(r->base);
        *r = (TransformResource){};
}

int transform_resource_prefix(const char *path, const char *service_name, StrBuf *ret) {
        TransformResource res;
        bool first = true;
        int r;

        r = transform_resource_init(path, service_name, &res);
        if (r < 0)
                return r;
        ret->len = 0;
        r = strbuf_reserve(ret, json_escape_bound(res.service_name_len) + 64);
        if (r < 0)
                goto out;
        strbuf_put_lit(ret, "\"ServiceName\":\"");
        strbuf_put_json_escaped(ret, res.service_name, res.service_name_len);
        strbuf_put_lit(ret, "\",\"ResourceAttributes\":{");
        for (size_t i = 0; i < res.n_attrs; i++) {
                r = put_kv(ret, &first, res.attrs[i].key, res.attrs[i].value, res.attrs[i].value_len);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        transform_resource_done(&res);
        return r;
}

typedef struct Severity {
        const char *name;
        const char *text;
        uint8_t number;
} Severity;

/* OTel severity numbers; the text follows the seed's mapping. */
static const Severity severity_table[] = {
        {"debug", "DEBUG", 5},
        {"info", "INFO", 9},
        {"warn", "WARN", 13},
        {"warning", "WARN", 13},
        {"error", "ERROR", 17},
        {"dpanic", "FATAL", 21},
        {"panic", "FATAL", 21},
        {"fatal", "FATAL", 21},
};

static const Severity *severity_lookup(const char *p, size_t n) {
        char low[8];
        if (n == 0 || n > sizeof(low))
                return NULL;
        for (size_t i = 0; i < n; i++)
                low[i] = (char) (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        for (size_t i = 0; i < sizeof(severity_table) / sizeof(severity_table[0]); i++)
                if (strlen(severity_table[i].name) == n && memcmp(severity_table[i].name, low, n) == 0)
                        return &severity_table[i];
        return NULL;
}

static inline bool key_is(const JsonField *f, const char *k, size_t n) {
        return f->key_len == n && memcmp(f->key, k, n) == 0;
}

/* Value as a JSON string: strings are copied as they are (already valid JSON
 * string content), numbers and literals quoted, objects/arrays escaped. */
static void put_value_as_string(StrBuf *out, const JsonField *f) {
        strbuf_putc(out, '"');
        if (f->type == JSON_OBJECT || f->type == JSON_ARRAY)
                strbuf_put_json_escaped(out, f->val, f->val_len);
        else
                strbuf_put(out, f->val, f->val_len);
        strbuf_putc(out, '"');
}

static bool ts_from_field(const JsonField *f, LogMessage const *m, int64_t *ret) {
        int64_t ns;
        if (f->type == JSON_NUMBER) {
                int r = parse_epoch_decimal_ns(f->val, f->val_len, &ns);
                if (r == -EINVAL && f->val_len < 64) {
                        /* Exponent form: precision beyond a double's is not there anyway. */
                        char tmp[64];
                        memcpy(tmp, f->val, f->val_len);
                        tmp[f->val_len] = 0;
                        double d = strtod(tmp, NULL);
                        if (!(d >= 0 && d < 9.2e9))
                                return false;
                        ns = (int64_t) (d * 1e9);
                } else if (r < 0)
                        return false;
        } else if (f->type == JSON_STRING) {
                if (parse_rfc3339_ns(f->val, f->val_len, NULL, &ns) < 0 &&
                    parse_epoch_decimal_ns(f->val, f->val_len, &ns) < 0)
                        return false;
        } else
                return false;
        if (ns < 0)
                return false;
        *ret = ns;
        return true;
}

static void put_timestamp(StrBuf *out, int64_t ns) {
        strbuf_put_lit(out, "{\"Timestamp\":\"");
        strbuf_put_u64(out, (uint64_t) (ns / 1000000000));
        strbuf_putc(out, '.');
        strbuf_put_u64_padded(out, (uint64_t) (ns % 1000000000), 9);
        strbuf_putc(out, '"');
}

static void put_resource(StrBuf *out, const char *prefix, size_t prefix_len, const LogRow *row) {
        strbuf_putc(out, ',');
        strbuf_put(out, prefix, prefix_len);
        if (row->stream != LOG_STREAM_UNKNOWN) {
                strbuf_put_lit(out, ",\"log.iostream\":\"");
                const char *s = log_stream_to_string(row->stream);
                strbuf_put(out, s, strlen(s));
                strbuf_putc(out, '"');
        }
        strbuf_putc(out, '}');
}

void transform_parse(const LogMessage *m, int64_t now_ns, LogRow *ret, TransformStats *stats) {
        JsonField *f = ret->fields;
        const Severity *sev;
        size_t n, dropped, lead = 0;
        bool have_ts = false;
        int64_t ts = 0;

        ret->severity_text = NULL;
        ret->level = ret->msg = ret->random_number = ret->random_string = ret->count = NULL;
        ret->severity_number = 0;
        ret->truncated = m->truncated;
        ret->stream = m->stream;
        ret->n_fields = 0;

        while (lead < m->len && (m->text[lead] == ' ' || m->text[lead] == '\t'))
                lead++;
        if (lead >= m->len || m->text[lead] != '{' ||
            json_scan_object(m->text, m->len, f, TRANSFORM_MAX_FIELDS, &n, &dropped) < 0) {
                ret->is_plain = true;
                ret->plain = m->text;
                ret->plain_len = m->len;
                ret->timestamp_ns = m->time_ns > 0 ? m->time_ns : now_ns;
                return;
        }
        ret->is_plain = false;
        ret->plain = NULL;
        ret->plain_len = 0;
        ret->n_fields = n;
        stats->dropped_fields += dropped;

        for (size_t i = 0; i < n; i++) {
                if (key_is(&f[i], "msg", 3))
                        ret->msg = &f[i];
                else if (key_is(&f[i], "level", 5) && f[i].type == JSON_STRING)
                        ret->level = &f[i];
                else if (key_is(&f[i], "ts", 2) && !have_ts)
                        have_ts = ts_from_field(&f[i], m, &ts);
                else if (key_is(&f[i], "random_number", 13))
                        ret->random_number = &f[i];
                else if (key_is(&f[i], "random_string", 13))
                        ret->random_string = &f[i];
                else if (key_is(&f[i], "count", 5))
                        ret->count = &f[i];
        }
        ret->timestamp_ns = have_ts ? ts : m->time_ns > 0 ? m->time_ns : now_ns;
        if (ret->level) {
                sev = severity_lookup(ret->level->val, ret->level->val_len);
                if (sev) {
                        ret->severity_text = sev->text;
                        ret->severity_number = sev->number;
                        ret->level = NULL;
                }
        }
}

void transform_count_row(const LogRow *row, TransformStats *stats) {
        stats->rows++;
        if (row->is_plain)
                stats->non_json++;
}

bool transform_seed_random_number(const LogRow *row, int32_t *ret) {
        const JsonField *f = row->random_number;
        int64_t v = 0;
        bool neg;

        if (!f || f->type != JSON_NUMBER || !json_number_is_integer(f->val, f->val_len) || f->val_len > 11)
                return false;
        neg = f->val[0] == '-';
        for (size_t i = neg; i < f->val_len; i++)
                v = v * 10 + (f->val[i] - '0');
        if (neg)
                v = -v;
        if (v < INT32_MIN || v > INT32_MAX)
                return false;
        *ret = (int32_t) v;
        return true;
}

bool transform_seed_count(const LogRow *row, uint64_t *ret) {
        const JsonField *f = row->count;
        uint64_t v = 0;

        if (!f || f->type != JSON_NUMBER || !json_number_is_integer(f->val, f->val_len) ||
            f->val[0] == '-' || f->val_len > 19)
                return false;
        for (size_t i = 0; i < f->val_len; i++)
                v = v * 10 + (uint64_t) (f->val[i] - '0');
        *ret = v;
        return true;
}

static int put_json_plain(const char *prefix, size_t prefix_len, const LogRow *row, StrBuf *out) {
        int r = strbuf_reserve(out, 256 + prefix_len + json_escape_bound(row->plain_len));
        if (r < 0)
                return r;
        put_timestamp(out, row->timestamp_ns);
        strbuf_put_lit(out, ",\"SeverityText\":\"\",\"SeverityNumber\":0");
        put_resource(out, prefix, prefix_len, row);
        strbuf_put_lit(out, ",\"Body\":\"");
        strbuf_put_json_escaped(out, row->plain, row->plain_len);
        strbuf_put_lit(out, "\",\"LogAttributes\":{");
        if (row->truncated)
                strbuf_put_lit(out, "\"log.truncated\":\"true\"");
        strbuf_put_lit(out, "}}\n");
        return 0;
}

int transform_put_json(
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const LogRow *row,
        StrBuf *out) {
        const JsonField *f = row->fields;
        size_t n = row->n_fields, text_len = 0;
        bool first = true;
        int r;

        if (row->is_plain)
                return put_json_plain(prefix, prefix_len, row, out);

        /* One reservation bounds the whole row: escaping grows a byte to at
         * most 6, every member adds a few bytes of punctuation. Members are
         * spans of the message, which they cannot outgrow. */
        for (size_t i = 0; i < n; i++)
                text_len += f[i].key_len + f[i].val_len;
        r = strbuf_reserve(out, 320 + prefix_len + json_escape_bound(text_len) + n * 8);
        if (r < 0)
                return r;

        put_timestamp(out, row->timestamp_ns);
        strbuf_put_lit(out, ",\"SeverityText\":\"");
        if (row->severity_text)
                strbuf_put(out, row->severity_text, strlen(row->severity_text));
        else if (row->level) {
                const JsonField *level = row->level;
                if (!memchr(level->val, '\\', level->val_len))
                        for (size_t i = 0; i < level->val_len; i++) {
                                char c = level->val[i];
                                strbuf_putc(out, (char) (c >= 'a' && c <= 'z' ? c - 32 : c));
                        }
                else
                        strbuf_put(out, level->val, level->val_len);
        }
        strbuf_put_lit(out, "\",\"SeverityNumber\":");
        strbuf_put_u64(out, row->severity_number);
        put_resource(out, prefix, prefix_len, row);

        strbuf_put_lit(out, ",\"Body\":");
        if (row->msg)
                put_value_as_string(out, row->msg);
        else
                strbuf_put_lit(out, "\"\"");

        if (opts->seed_columns) {
                int32_t rn;
                uint64_t cnt;
                if (transform_seed_random_number(row, &rn)) {
                        strbuf_put_lit(out, ",\"RandomNumber\":");
                        strbuf_put(out, row->random_number->val, row->random_number->val_len);
                }
                if (row->random_string && row->random_string->type == JSON_STRING) {
                        strbuf_put_lit(out, ",\"RandomString\":");
                        put_value_as_string(out, row->random_string);
                }
                if (transform_seed_count(row, &cnt)) {
                        strbuf_put_lit(out, ",\"Count\":");
                        strbuf_put(out, row->count->val, row->count->val_len);
                }
        }

        strbuf_put_lit(out, ",\"LogAttributes\":{");
        for (size_t i = 0; i < n; i++) {
                if (&f[i] == row->msg)
                        continue;
                if (!first)
                        strbuf_putc(out, ',');
                first = false;
                strbuf_putc(out, '"');
                strbuf_put(out, f[i].key, f[i].key_len);
                strbuf_put_lit(out, "\":");
                put_value_as_string(out, &f[i]);
        }
        if (row->truncated) {
                if (!first)
                        strbuf_putc(out, ',');
                strbuf_put_lit(out, "\"log.truncated\":\"true\"");
        }
        strbuf_put_lit(out, "}}\n");
        return 0;
}

int transform_message(
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const LogMessage *m,
        int64_t now_ns,
        StrBuf *out,
        TransformStats *stats) {
        LogRow row;
        int r;

        transform_parse(m, now_ns, &row, stats);
        r = transform_put_json(opts, prefix, prefix_len, &row, out);
        if (r >= 0)
                transform_count_row(&row, stats);
        return r;
}
