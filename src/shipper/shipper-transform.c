/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "shipper-json.h"
#include "shipper-transform.h"

bool k8s_name_parse(const char *basename, K8sName *ret) {
        const char *end, *u1, *u2, *dash;
        size_t len = strlen(basename);

        *ret = (K8sName){0};
        if (len < 4 || memcmp(basename + len - 4, ".log", 4) != 0)
                return false;
        end = basename + len - 4;
        /* Pod and namespace names are DNS labels/subdomains: no '_'. */
        u1 = memchr(basename, '_', (size_t) (end - basename));
        if (!u1 || u1 == basename)
                return false;
        u2 = memchr(u1 + 1, '_', (size_t) (end - u1 - 1));
        if (!u2 || u2 == u1 + 1 || u2 + 1 >= end)
                return false;
        dash = NULL;
        for (const char *p = end - 1; p > u2; p--)
                if (*p == '-') {
                        dash = p;
                        break;
                }
        ret->pod = basename;
        ret->pod_len = (size_t) (u1 - basename);
        ret->namespace = u1 + 1;
        ret->namespace_len = (size_t) (u2 - u1 - 1);
        /* The container id is 64 hex digits; without one the rest is the
         * container name. */
        if (dash && end - dash - 1 == 64) {
                bool hex = true;
                for (const char *p = dash + 1; p < end; p++)
                        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                                hex = false;
                if (hex && dash > u2 + 1) {
                        ret->container = u2 + 1;
                        ret->container_len = (size_t) (dash - u2 - 1);
                        ret->container_id = dash + 1;
                        ret->container_id_len = 64;
                        return true;
                }
        }
        ret->container = u2 + 1;
        ret->container_len = (size_t) (end - u2 - 1);
        return true;
}

static int put_kv(Buf *b, bool *first, const char *k, const char *v, size_t vlen) {
        size_t klen = strlen(k);
        int r = buf_reserve(b, klen + json_escape_bound(vlen) + 8);
        if (r < 0)
                return r;
        if (!*first)
                buf_putc(b, ',');
        *first = false;
        buf_putc(b, '"');
        buf_put(b, k, klen);
        buf_puts_lit(b, "\":\"");
        json_escape_put(b, v, vlen);
        buf_putc(b, '"');
        return 0;
}

int transform_resource_prefix(const char *path, const char *service_name, Buf *ret) {
        const char *base = strrchr(path, '/'), *svc;
        size_t svc_len;
        bool first = true;
        K8sName k;
        int r;

        base = base ? base + 1 : path;
        k8s_name_parse(base, &k);
        if (service_name && service_name[0]) {
                svc = service_name;
                svc_len = strlen(service_name);
        } else if (k.container_len > 0) {
                svc = k.container;
                svc_len = k.container_len;
        } else {
                svc = base;
                svc_len = strlen(base);
        }
        ret->len = 0;
        r = buf_reserve(ret, json_escape_bound(svc_len) + 64);
        if (r < 0)
                return r;
        buf_puts_lit(ret, "\"ServiceName\":\"");
        json_escape_put(ret, svc, svc_len);
        buf_puts_lit(ret, "\",\"ResourceAttributes\":{");
        if ((r = put_kv(ret, &first, "service.name", svc, svc_len)) < 0)
                return r;
        if (k.pod_len > 0) {
                if ((r = put_kv(ret, &first, "k8s.pod.name", k.pod, k.pod_len)) < 0 ||
                    (r = put_kv(ret, &first, "k8s.namespace.name", k.namespace, k.namespace_len)) < 0 ||
                    (r = put_kv(ret, &first, "k8s.container.name", k.container, k.container_len)) < 0)
                        return r;
                if (k.container_id_len > 0 &&
                    (r = put_kv(ret, &first, "k8s.container.id", k.container_id, k.container_id_len)) < 0)
                        return r;
        }
        return 0;
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
static void put_value_as_string(Buf *out, const JsonField *f) {
        buf_putc(out, '"');
        if (f->type == JSON_OBJECT || f->type == JSON_ARRAY)
                json_escape_put(out, f->val, f->val_len);
        else
                buf_put(out, f->val, f->val_len);
        buf_putc(out, '"');
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

static void put_timestamp(Buf *out, int64_t ns) {
        buf_puts_lit(out, "{\"Timestamp\":\"");
        buf_put_u64(out, (uint64_t) (ns / 1000000000));
        buf_putc(out, '.');
        buf_put_u64_padded(out, (uint64_t) (ns % 1000000000), 9);
        buf_putc(out, '"');
}

static void put_resource(Buf *out, const char *prefix, size_t prefix_len, const LogMessage *m) {
        buf_putc(out, ',');
        buf_put(out, prefix, prefix_len);
        if (m->stream != LOG_STREAM_UNKNOWN) {
                buf_puts_lit(out, ",\"log.iostream\":\"");
                const char *s = log_stream_to_string(m->stream);
                buf_put(out, s, strlen(s));
                buf_putc(out, '"');
        }
        buf_putc(out, '}');
}

static int transform_plain(
        const char *prefix, size_t prefix_len, const LogMessage *m, int64_t now_ns, Buf *out) {
        int r = buf_reserve(out, 256 + prefix_len + json_escape_bound(m->len));
        if (r < 0)
                return r;
        put_timestamp(out, m->time_ns > 0 ? m->time_ns : now_ns);
        buf_puts_lit(out, ",\"SeverityText\":\"\",\"SeverityNumber\":0");
        put_resource(out, prefix, prefix_len, m);
        buf_puts_lit(out, ",\"Body\":\"");
        json_escape_put(out, m->text, m->len);
        buf_puts_lit(out, "\",\"LogAttributes\":{");
        if (m->truncated)
                buf_puts_lit(out, "\"log.truncated\":\"true\"");
        buf_puts_lit(out, "}}\n");
        return 0;
}

int transform_message(
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const LogMessage *m,
        int64_t now_ns,
        Buf *out,
        TransformStats *stats) {
        JsonField f[TRANSFORM_MAX_FIELDS];
        const JsonField *msg = NULL, *level = NULL, *rn = NULL, *rs = NULL, *cnt = NULL;
        const Severity *sev = NULL;
        size_t n, dropped;
        int64_t ts = 0;
        bool have_ts = false, first = true;
        int r;

        size_t lead = 0;
        while (lead < m->len && (m->text[lead] == ' ' || m->text[lead] == '\t'))
                lead++;
        if (lead >= m->len || m->text[lead] != '{' ||
            json_scan_object(m->text, m->len, f, TRANSFORM_MAX_FIELDS, &n, &dropped) < 0) {
                r = transform_plain(prefix, prefix_len, m, now_ns, out);
                if (r >= 0) {
                        stats->rows++;
                        stats->non_json++;
                }
                return r;
        }
        stats->dropped_fields += dropped;

        for (size_t i = 0; i < n; i++) {
                if (key_is(&f[i], "msg", 3))
                        msg = &f[i];
                else if (key_is(&f[i], "level", 5) && f[i].type == JSON_STRING)
                        level = &f[i];
                else if (key_is(&f[i], "ts", 2) && !have_ts)
                        have_ts = ts_from_field(&f[i], m, &ts);
                else if (key_is(&f[i], "random_number", 13))
                        rn = &f[i];
                else if (key_is(&f[i], "random_string", 13))
                        rs = &f[i];
                else if (key_is(&f[i], "count", 5))
                        cnt = &f[i];
        }
        if (!have_ts)
                ts = m->time_ns > 0 ? m->time_ns : now_ns;

        /* One reservation bounds the whole row: escaping grows a byte to at
         * most 6, every member adds a few bytes of punctuation. */
        r = buf_reserve(out, 320 + prefix_len + json_escape_bound(m->len) + n * 8);
        if (r < 0)
                return r;

        put_timestamp(out, ts);
        buf_puts_lit(out, ",\"SeverityText\":\"");
        if (level) {
                sev = severity_lookup(level->val, level->val_len);
                if (sev)
                        buf_put(out, sev->text, strlen(sev->text));
                else if (!memchr(level->val, '\\', level->val_len))
                        for (size_t i = 0; i < level->val_len; i++) {
                                char c = level->val[i];
                                buf_putc(out, (char) (c >= 'a' && c <= 'z' ? c - 32 : c));
                        }
                else
                        buf_put(out, level->val, level->val_len);
        }
        buf_puts_lit(out, "\",\"SeverityNumber\":");
        buf_put_u64(out, sev ? sev->number : 0);
        put_resource(out, prefix, prefix_len, m);

        buf_puts_lit(out, ",\"Body\":");
        if (msg)
                put_value_as_string(out, msg);
        else
                buf_puts_lit(out, "\"\"");

        if (opts->seed_columns) {
                if (rn && rn->type == JSON_NUMBER && json_number_is_integer(rn->val, rn->val_len) &&
                    rn->val_len <= 10) {
                        buf_puts_lit(out, ",\"RandomNumber\":");
                        buf_put(out, rn->val, rn->val_len);
                }
                if (rs && rs->type == JSON_STRING) {
                        buf_puts_lit(out, ",\"RandomString\":");
                        put_value_as_string(out, rs);
                }
                if (cnt && cnt->type == JSON_NUMBER && json_number_is_integer(cnt->val, cnt->val_len) &&
                    cnt->val[0] != '-' && cnt->val_len <= 19) {
                        buf_puts_lit(out, ",\"Count\":");
                        buf_put(out, cnt->val, cnt->val_len);
                }
        }

        buf_puts_lit(out, ",\"LogAttributes\":{");
        for (size_t i = 0; i < n; i++) {
                if (&f[i] == msg)
                        continue;
                if (!first)
                        buf_putc(out, ',');
                first = false;
                buf_putc(out, '"');
                buf_put(out, f[i].key, f[i].key_len);
                buf_puts_lit(out, "\":");
                put_value_as_string(out, &f[i]);
        }
        if (m->truncated) {
                if (!first)
                        buf_putc(out, ',');
                buf_puts_lit(out, "\"log.truncated\":\"true\"");
        }
        buf_puts_lit(out, "}}\n");
        stats->rows++;
        return 0;
}
