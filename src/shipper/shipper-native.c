/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "shipper-json.h"
#include "shipper-native.h"

#define VARINT_MAX 10

static const struct {
        const char *name, *type;
} columns[] = {
        /* Timestamp .. LogAttributes: every row; the seed columns only with seed_columns. A Map is one
         * column of three parts: offsets, keys, values. */
        {"Timestamp", "DateTime64(9)"},
        {"SeverityText", "String"},
        {"SeverityNumber", "UInt8"},
        {"ServiceName", "String"},
        {"ResourceAttributes", "Map(String, String)"},
        {"Body", "String"},
        {"LogAttributes", "Map(String, String)"},
        {"RandomNumber", "Int32"},
        {"RandomString", "String"},
        {"Count", "UInt64"},
};
#define N_ROW_COLUMNS 7
#define ELEMENTSOF_COLUMNS (sizeof(columns) / sizeof(columns[0]))

/* The first buffer (NativeColumn) of each entry of columns[], and one past its last. */
static const NativeColumn column_first[] = {
        NATIVE_TIMESTAMP,
        NATIVE_SEVERITY_TEXT,
        NATIVE_SEVERITY_NUMBER,
        NATIVE_SERVICE_NAME,
        NATIVE_RESOURCE_OFFSETS,
        NATIVE_BODY,
        NATIVE_LOG_OFFSETS,
        NATIVE_RANDOM_NUMBER,
        NATIVE_RANDOM_STRING,
        NATIVE_COUNT,
        _NATIVE_COLUMN_MAX,
};

static size_t varint_size(uint64_t v) {
        size_t n = 1;
        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

/* Unchecked: reserve VARINT_MAX first. */
static void put_varint(StrBuf *b, uint64_t v) {
        while (v >= 0x80) {
                strbuf_putc(b, (char) (0x80 | (v & 0x7f)));
                v >>= 7;
        }
        strbuf_putc(b, (char) v);
}

static void put_le(StrBuf *b, uint64_t v, size_t n) {
        for (size_t i = 0; i < n; i++)
                strbuf_putc(b, (char) (v >> (8 * i)));
}

static int put_bytes(StrBuf *b, const char *p, size_t n) {
        int r = strbuf_reserve(b, VARINT_MAX + n);
        if (r < 0)
                return r;
        put_varint(b, n);
        strbuf_put(b, p, n);
        return 0;
}

/* A JSON string's content, decoded: escapes undone, other bytes as they are. */
static int put_json_string(StrBuf *b, const char *p, size_t n) {
        size_t at, len, vs;
        int r;

        if (!memchr(p, '\\', n))
                return put_bytes(b, p, n);
        /* Decoded it is at most n bytes: decode behind room for the longest length, then close the gap. */
        r = strbuf_reserve(b, 5 + n);
        if (r < 0)
                return r;
        at = b->len;
        b->len += 5;
        r = json_unescape_append(b, p, n);
        if (r < 0) {
                b->len = at;
                return r;
        }
        len = b->len - at - 5;
        vs = varint_size(len);
        b->len = at;
        put_varint(b, len);
        memmove(b->data + at + vs, b->data + at + 5, len);
        b->len = at + vs + len;
        return 0;
}

/* A zap member's value as the string ClickHouse stores from JSONEachRow: a string decoded (the scanner
 * knows whether it has escapes), anything else (number, literal, object, array) its JSON text. */
static int put_field_value(StrBuf *b, const JsonField *f) {
        if (f->type == JSON_STRING && f->val_escaped)
                return put_json_string(b, f->val, f->val_len);
        return put_bytes(b, f->val, f->val_len);
}

static int put_field_key(StrBuf *b, const JsonField *f) {
        if (f->key_escaped)
                return put_json_string(b, f->key, f->key_len);
        return put_bytes(b, f->key, f->key_len);
}

static int put_severity_text(StrBuf *b, const LogRow *row) {
        const JsonField *l = row->level;
        int r;

        if (row->severity_text)
                return put_bytes(b, row->severity_text, strlen(row->severity_text));
        if (!l)
                return put_bytes(b, "", 0);
        if (l->val_escaped)
                return put_json_string(b, l->val, l->val_len);
        r = strbuf_reserve(b, VARINT_MAX + l->val_len);
        if (r < 0)
                return r;
        put_varint(b, l->val_len);
        for (size_t i = 0; i < l->val_len; i++) {
                char c = l->val[i];
                strbuf_putc(b, (char) (c >= 'a' && c <= 'z' ? c - 32 : c));
        }
        return 0;
}

static int buf_append(StrBuf *b, const StrBuf *src) {
        int r = strbuf_reserve(b, src->len);
        if (r < 0)
                return r;
        strbuf_put(b, src->data, src->len);
        return 0;
}

int native_resource_init(const TransformResource *res, NativeResource *ret) {
        int r;

        *ret = (NativeResource){};
        ret->service_name.max = ret->keys.max = ret->values.max = 1024 * 1024;
        r = put_bytes(&ret->service_name, res->service_name, res->service_name_len);
        for (size_t i = 0; r >= 0 && i < res->n_attrs; i++) {
                r = put_bytes(&ret->keys, res->attrs[i].key, strlen(res->attrs[i].key));
                if (r >= 0)
                        r = put_bytes(&ret->values, res->attrs[i].value, res->attrs[i].value_len);
                ret->n++;
        }
        if (r < 0)
                native_resource_done(ret);
        return r;
}

void native_resource_done(NativeResource *r) {
        strbuf_done(&r->service_name);
        strbuf_done(&r->keys);
        strbuf_done(&r->values);
        *r = (NativeResource){};
}

/* The block's header without its row count: the number of columns, their names and types. */
static size_t header_bytes(bool seed_columns) {
        size_t n = varint_size(seed_columns ? ELEMENTSOF_COLUMNS : N_ROW_COLUMNS);
        for (size_t i = 0; i < (seed_columns ? ELEMENTSOF_COLUMNS : N_ROW_COLUMNS); i++)
                n += varint_size(strlen(columns[i].name)) + strlen(columns[i].name) +
                     varint_size(strlen(columns[i].type)) + strlen(columns[i].type);
        return n;
}

void native_block_init(NativeBlock *b, bool seed_columns, size_t max_bytes) {
        *b = (NativeBlock){.seed_columns = seed_columns, .fixed_header_bytes = header_bytes(seed_columns)};
        for (size_t i = 0; i < _NATIVE_COLUMN_MAX; i++)
                b->col[i].max = max_bytes;
}

void native_block_done(NativeBlock *b) {
        for (size_t i = 0; i < _NATIVE_COLUMN_MAX; i++)
                strbuf_done(&b->col[i]);
        b->rows = b->bytes = 0;
}

void native_block_reset(NativeBlock *b) {
        for (size_t i = 0; i < _NATIVE_COLUMN_MAX; i++)
                b->col[i].len = 0;
        b->rows = b->resource_entries = b->log_entries = 0;
        b->bytes = 0;
}

static int add_row(NativeBlock *b, const NativeResource *res, const LogRow *row) {
        StrBuf *c = b->col;
        uint64_t n_log = 0;
        int r;

        r = strbuf_reserve(&c[NATIVE_TIMESTAMP], 8);
        if (r < 0)
                return r;
        put_le(&c[NATIVE_TIMESTAMP], (uint64_t) row->timestamp_ns, 8);

        r = put_severity_text(&c[NATIVE_SEVERITY_TEXT], row);
        if (r < 0)
                return r;
        r = strbuf_reserve(&c[NATIVE_SEVERITY_NUMBER], 1);
        if (r < 0)
                return r;
        strbuf_putc(&c[NATIVE_SEVERITY_NUMBER], (char) row->severity_number);

        r = buf_append(&c[NATIVE_SERVICE_NAME], &res->service_name);
        if (r < 0)
                return r;

        r = buf_append(&c[NATIVE_RESOURCE_KEYS], &res->keys);
        if (r >= 0)
                r = buf_append(&c[NATIVE_RESOURCE_VALUES], &res->values);
        if (r < 0)
                return r;
        b->resource_entries += res->n;
        if (row->stream != LOG_STREAM_UNKNOWN) {
                const char *s = log_stream_to_string(row->stream);
                r = put_bytes(&c[NATIVE_RESOURCE_KEYS], "log.iostream", strlen("log.iostream"));
                if (r >= 0)
                        r = put_bytes(&c[NATIVE_RESOURCE_VALUES], s, strlen(s));
                if (r < 0)
                        return r;
                b->resource_entries++;
        }
        r = strbuf_reserve(&c[NATIVE_RESOURCE_OFFSETS], 8);
        if (r < 0)
                return r;
        put_le(&c[NATIVE_RESOURCE_OFFSETS], b->resource_entries, 8);

        if (row->is_plain)
                r = put_bytes(&c[NATIVE_BODY], row->plain, row->plain_len);
        else if (row->msg)
                r = put_field_value(&c[NATIVE_BODY], row->msg);
        else
                r = put_bytes(&c[NATIVE_BODY], "", 0);
        if (r < 0)
                return r;

        for (size_t i = 0; i < row->n_fields; i++) {
                const JsonField *f = &row->fields[i];
                if (f == row->msg)
                        continue;
                r = put_field_key(&c[NATIVE_LOG_KEYS], f);
                if (r >= 0)
                        r = put_field_value(&c[NATIVE_LOG_VALUES], f);
                if (r < 0)
                        return r;
                n_log++;
        }
        if (row->truncated) {
                r = put_bytes(&c[NATIVE_LOG_KEYS], "log.truncated", strlen("log.truncated"));
                if (r >= 0)
                        r = put_bytes(&c[NATIVE_LOG_VALUES], "true", 4);
                if (r < 0)
                        return r;
                n_log++;
        }
        r = strbuf_reserve(&c[NATIVE_LOG_OFFSETS], 8);
        if (r < 0)
                return r;
        b->log_entries += n_log;
        put_le(&c[NATIVE_LOG_OFFSETS], b->log_entries, 8);

        if (b->seed_columns) {
                /* What a table without DEFAULT expressions stores for a JSONEachRow row that leaves the
                 * column out: the type's default. */
                int32_t rn = 0;
                uint64_t cnt = 0;
                (void) transform_seed_random_number(row, &rn);
                (void) transform_seed_count(row, &cnt);
                r = strbuf_reserve(&c[NATIVE_RANDOM_NUMBER], 4);
                if (r >= 0)
                        r = strbuf_reserve(&c[NATIVE_COUNT], 8);
                if (r < 0)
                        return r;
                put_le(&c[NATIVE_RANDOM_NUMBER], (uint32_t) rn, 4);
                put_le(&c[NATIVE_COUNT], cnt, 8);
                if (row->random_string && row->random_string->type == JSON_STRING)
                        r = put_json_string(
                                &c[NATIVE_RANDOM_STRING],
                                row->random_string->val,
                                row->random_string->val_len);
                else
                        r = put_bytes(&c[NATIVE_RANDOM_STRING], "", 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

int native_block_add(NativeBlock *b, const NativeResource *res, const LogRow *row) {
        size_t before[_NATIVE_COLUMN_MAX], total = 0;
        uint64_t res_entries = b->resource_entries, log_entries = b->log_entries;
        int r;

        for (size_t i = 0; i < _NATIVE_COLUMN_MAX; i++)
                before[i] = b->col[i].len;
        r = add_row(b, res, row);
        if (r < 0) {
                for (size_t i = 0; i < _NATIVE_COLUMN_MAX; i++)
                        b->col[i].len = before[i];
                b->resource_entries = res_entries;
                b->log_entries = log_entries;
                return r;
        }
        for (size_t i = 0; i < _NATIVE_COLUMN_MAX; i++)
                total += b->col[i].len - before[i];
        b->bytes += total;
        b->rows++;
        b->header_bytes = b->fixed_header_bytes + varint_size(b->rows);
        return 0;
}

static size_t n_columns(const NativeBlock *b) {
        return b->seed_columns ? ELEMENTSOF_COLUMNS : N_ROW_COLUMNS;
}

int native_block_write(NativeBlock *b, NativeWriteFn write, void *userdata) {
        char head[4 * VARINT_MAX + 128]; /* the block's header, then one column's */
        StrBuf h = {.data = head, .alloc = sizeof(head), .max = sizeof(head) - 1};
        int r;

        if (b->rows == 0)
                return 0;
        put_varint(&h, n_columns(b));
        put_varint(&h, b->rows);
        for (size_t i = 0; i < n_columns(b); i++) {
                size_t nl = strlen(columns[i].name), tl = strlen(columns[i].type);
                put_varint(&h, nl);
                strbuf_put(&h, columns[i].name, nl);
                put_varint(&h, tl);
                strbuf_put(&h, columns[i].type, tl);
                r = write(h.data, h.len, userdata);
                if (r < 0)
                        return r;
                h.len = 0;
                for (NativeColumn k = column_first[i]; k < column_first[i + 1]; k++)
                        if (b->col[k].len > 0) {
                                r = write(b->col[k].data, b->col[k].len, userdata);
                                if (r < 0)
                                        return r;
                        }
        }
        native_block_reset(b);
        return 0;
}

static int write_to_buf(const void *p, size_t n, void *userdata) {
        StrBuf *out = userdata;
        int r = strbuf_reserve(out, n);
        if (r < 0)
                return r;
        strbuf_put(out, p, n);
        return 0;
}

int native_block_write_buf(NativeBlock *b, StrBuf *out) {
        return native_block_write(b, write_to_buf, out);
}
