/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "macro.h"
#include "util.h"

/* ClickHouse's Native format changes with the client's protocol revision (the client_protocol_version URL
 * parameter of the HTTP interface, which clients such as clickhouse-go send): from revision 1 on, each block
 * starts with its block info; from DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION (54454) on, each column's
 * type is followed by one byte saying whether it uses a custom (e.g. sparse) serialization. The engine reads
 * and writes revision 0. This file converts a Native stream from one revision to another, so that the
 * endpoint answers and accepts what the server would:
 *
 *   block      = [block info] varuint(columns) varuint(rows) column*
 *   block info = (varuint(field) value)* varuint(0); field 1 is_overflows (1 byte), 2 bucket_num (Int32),
 *                3 out_of_order_buckets (varuint count, Int32 each; revision >= 54480)
 *   column     = string(name) string(type) [uint8 has_custom] data
 *
 * Copying a column needs its length, so the column data is walked by type: every type the official
 * clients read and write is known; the few whose layout depends on further state (Variant, Dynamic, JSON,
 * AggregateFunction, a custom serialization) are refused with a message naming them, never guessed. */

#define REVISION_WITH_CUSTOM_SERIALIZATION 54454
#define REVISION_WITH_OUT_OF_ORDER_BUCKETS 54480
#define MAX_TYPE_DEPTH 32

typedef struct Conv {
        const uint8_t *p;
        size_t len, pos;
        NativeWriteFn write;
        void *userdata;
        char *error; /* what could not be converted, for the message */
} Conv;

_printf_(2, 3) static int conv_fail(Conv *c, const char *format, ...) {
        va_list ap;

        if (!c->error) {
                va_start(ap, format);
                if (vasprintf(&c->error, format, ap) < 0)
                        c->error = NULL;
                va_end(ap);
        }
        return -EBADMSG;
}

static int need(Conv *c, size_t n) {
        if (n > c->len - c->pos)
                return conv_fail(c, "the data ends inside a block");
        return 0;
}

static int skip(Conv *c, size_t n) {
        int r = need(c, n);
        if (r < 0)
                return r;
        c->pos += n;
        return 0;
}

static int read_varuint(Conv *c, uint64_t *ret) {
        uint64_t v = 0;

        for (unsigned i = 0; i < 10; i++) {
                int r = need(c, 1);
                if (r < 0)
                        return r;
                uint8_t b = c->p[c->pos++];
                v |= (uint64_t) (b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return conv_fail(c, "a variable-length integer is too long");
}

static int read_u64(Conv *c, uint64_t *ret) {
        int r = need(c, 8);
        if (r < 0)
                return r;
        memcpy(ret, c->p + c->pos, 8);
        *ret = le64toh(*ret);
        c->pos += 8;
        return 0;
}

static int emit(Conv *c, const void *p, size_t n) {
        return n > 0 ? c->write(c->userdata, p, n) : 0;
}

/* --- types ------------------------------------------------------------------------------------------------
 * A type is walked from its name as the server writes it ("Map(LowCardinality(String), String)"). */

typedef struct TypeRef {
        const char *s;
        size_t n;
} TypeRef;

static TypeRef trim(TypeRef t) {
        while (t.n > 0 && (t.s[0] == ' ' || t.s[0] == '\t' || t.s[0] == '\n'))
                t.s++, t.n--;
        while (t.n > 0 && (t.s[t.n - 1] == ' ' || t.s[t.n - 1] == '\t' || t.s[t.n - 1] == '\n'))
                t.n--;
        return t;
}

static bool type_is(TypeRef name, const char *s) {
        return name.n == strlen(s) && memcmp(name.s, s, name.n) == 0;
}

/* Splits "Name(args)" into Name and args; args.s is NULL when there are none. */
static int type_split(Conv *c, TypeRef t, TypeRef *ret_name, TypeRef *ret_args) {
        t = trim(t);
        const char *open = memchr(t.s, '(', t.n);
        if (!open) {
                *ret_name = t;
                *ret_args = (TypeRef){};
                return 0;
        }
        if (t.s[t.n - 1] != ')')
                return conv_fail(c, "cannot read the type '%.*s'", (int) t.n, t.s);
        *ret_name = trim((TypeRef){t.s, (size_t) (open - t.s)});
        *ret_args = (TypeRef){open + 1, (size_t) (t.s + t.n - 1 - (open + 1))};
        return 0;
}

/* The next top-level argument of args (commas inside parentheses or quotes do not count). */
static bool next_arg(TypeRef *args, TypeRef *ret) {
        int depth = 0;
        char quote = 0;
        size_t i;

        if (!args->s || args->n == 0)
                return false;
        for (i = 0; i < args->n; i++) {
                char ch = args->s[i];
                if (quote) {
                        if (ch == '\\')
                                i++;
                        else if (ch == quote)
                                quote = 0;
                } else if (ch == '\'' || ch == '`' || ch == '"')
                        quote = ch;
                else if (ch == '(')
                        depth++;
                else if (ch == ')')
                        depth--;
                else if (ch == ',' && depth == 0)
                        break;
        }
        *ret = trim((TypeRef){args->s, i});
        if (i < args->n) {
                args->s += i + 1;
                args->n -= i + 1;
        } else
                *args = (TypeRef){args->s + args->n, 0};
        return true;
}

/* A Tuple element may be named: "name Type" or "`a name` Type". */
static TypeRef tuple_element_type(TypeRef e) {
        size_t i = 0;

        e = trim(e);
        if (e.n > 0 && (e.s[0] == '`' || e.s[0] == '"')) {
                char q = e.s[0];
                for (i = 1; i < e.n && e.s[i] != q; i++)
                        if (e.s[i] == '\\')
                                i++;
                return trim((TypeRef){e.s + i + 1, e.n - MIN(i + 1, e.n)});
        }
        for (i = 0; i < e.n && e.s[i] != '(' && e.s[i] != ' '; i++)
                ;
        if (i < e.n && e.s[i] == ' ')
                return trim((TypeRef){e.s + i + 1, e.n - i - 1});
        return e;
}

static size_t fixed_size(TypeRef name, TypeRef args) {
        static const struct {
                const char *name;
                size_t size;
        } table[] = {
                {"UInt8", 1},   {"Int8", 1},        {"Bool", 1},      {"Enum8", 1},       {"Nothing", 1},
                {"UInt16", 2},  {"Int16", 2},       {"Date", 2},      {"Enum16", 2},      {"BFloat16", 2},
                {"UInt32", 4},  {"Int32", 4},       {"Float32", 4},   {"DateTime", 4},    {"Date32", 4},
                {"IPv4", 4},    {"Decimal32", 4},   {"Time", 4},      {"UInt64", 8},      {"Int64", 8},
                {"Float64", 8}, {"DateTime64", 8},  {"Decimal64", 8}, {"Time64", 8},      {"UInt128", 16},
                {"Int128", 16}, {"UUID", 16},       {"IPv6", 16},     {"Decimal128", 16}, {"UInt256", 32},
                {"Int256", 32}, {"Decimal256", 32}, {"Point", 16},
        };
        FOREACH_ARRAY(t, table, ELEMENTSOF(table))
                if (type_is(name, t->name))
                        return t->size;
        if (name.n > 8 && memcmp(name.s, "Interval", 8) == 0)
                return 8;
        if (type_is(name, "Decimal")) {
                TypeRef a = args, p;
                uint64_t precision = 0;
                if (next_arg(&a, &p)) {
                        for (size_t i = 0; i < p.n && p.s[i] >= '0' && p.s[i] <= '9'; i++)
                                precision = precision * 10 + (uint64_t) (p.s[i] - '0');
                }
                return precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32;
        }
        return 0;
}

/* Geometry types are names for nested arrays of points. */
static const char *geo_alias(TypeRef name) {
        if (type_is(name, "Ring") || type_is(name, "LineString"))
                return "Array(Point)";
        if (type_is(name, "Polygon"))
                return "Array(Ring)";
        if (type_is(name, "MultiLineString"))
                return "Array(LineString)";
        if (type_is(name, "MultiPolygon"))
                return "Array(Polygon)";
        return NULL;
}

static int unsupported(Conv *c, TypeRef t) {
        (void) conv_fail(c, "the type %.*s is not supported in Native blocks here", (int) t.n, t.s);
        return -EOPNOTSUPP;
}

/* The serialization prefixes come before all data of a column (LowCardinality's key version). */
static int walk_prefix(Conv *c, TypeRef t, unsigned depth) {
        TypeRef name, args, a;
        const char *alias;
        int r;

        if (depth > MAX_TYPE_DEPTH)
                return unsupported(c, t);
        r = type_split(c, t, &name, &args);
        if (r < 0)
                return r;
        if ((alias = geo_alias(name)))
                return walk_prefix(c, (TypeRef){alias, strlen(alias)}, depth + 1);
        if (type_is(name, "LowCardinality")) {
                uint64_t version;
                r = read_u64(c, &version);
                if (r < 0)
                        return r;
                if (version != 1)
                        return conv_fail(c, "unknown LowCardinality key version %" PRIu64, version);
                return 0;
        }
        if (type_is(name, "Nullable") || type_is(name, "Array") ||
            type_is(name, "SimpleAggregateFunction")) {
                if (type_is(name, "SimpleAggregateFunction") && !next_arg(&args, &a))
                        return unsupported(c, t);
                return next_arg(&args, &a) ? walk_prefix(c, a, depth + 1) : unsupported(c, t);
        }
        if (type_is(name, "Tuple") || type_is(name, "Map")) {
                while (next_arg(&args, &a)) {
                        r = walk_prefix(c, type_is(name, "Tuple") ? tuple_element_type(a) : a, depth + 1);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        return 0;
}

static int walk_data(Conv *c, TypeRef t, uint64_t rows, unsigned depth);

static int walk_offsets(Conv *c, uint64_t rows, uint64_t *ret_total) {
        uint64_t last = 0, v = 0;

        if (rows > (c->len - c->pos) / 8)
                return conv_fail(c, "the data ends inside a block");
        for (uint64_t i = 0; i < rows; i++) {
                (void) read_u64(c, &v);
                if (v < last)
                        return conv_fail(c, "array offsets go backwards");
                last = v;
        }
        *ret_total = last;
        return 0;
}

static int walk_low_cardinality(Conv *c, TypeRef inner, uint64_t rows, unsigned depth) {
        TypeRef name, args, dict = inner, a;
        int r;

        /* The dictionary holds the values without their Nullable. */
        r = type_split(c, inner, &name, &args);
        if (r < 0)
                return r;
        if (type_is(name, "Nullable") && next_arg(&args, &a))
                dict = a;
        for (uint64_t done = 0; done < rows;) {
                uint64_t flags, n;
                r = read_u64(c, &flags);
                if (r < 0)
                        return r;
                if (flags & (UINT64_C(1) << 8))
                        return conv_fail(c, "LowCardinality with a shared dictionary is not supported");
                unsigned key_type = (unsigned) (flags & 0xff);
                if (key_type > 3)
                        return conv_fail(c, "unknown LowCardinality key type %u", key_type);
                if (flags & (UINT64_C(1) << 9)) {
                        r = read_u64(c, &n);
                        if (r < 0)
                                return r;
                        r = walk_data(c, dict, n, depth + 1);
                        if (r < 0)
                                return r;
                }
                r = read_u64(c, &n);
                if (r < 0)
                        return r;
                if (n == 0 || n > rows - done)
                        return conv_fail(c, "LowCardinality granule of %" PRIu64 " rows", n);
                size_t key_size = (size_t) 1 << key_type;
                if (n > (c->len - c->pos) / key_size)
                        return conv_fail(c, "the data ends inside a block");
                c->pos += n * key_size;
                done += n;
        }
        return 0;
}

static int walk_data(Conv *c, TypeRef t, uint64_t rows, unsigned depth) {
        TypeRef name, args, a;
        const char *alias;
        size_t size;
        uint64_t total;
        int r;

        if (depth > MAX_TYPE_DEPTH)
                return unsupported(c, t);
        if (rows == 0)
                return 0; /* empty columns are written as nothing at all */
        r = type_split(c, t, &name, &args);
        if (r < 0)
                return r;
        if ((alias = geo_alias(name)))
                return walk_data(c, (TypeRef){alias, strlen(alias)}, rows, depth + 1);

        if ((size = fixed_size(name, args)) > 0) {
                if (rows > (c->len - c->pos) / size)
                        return conv_fail(c, "the data ends inside a block");
                c->pos += rows * size;
                return 0;
        }
        if (type_is(name, "String")) {
                for (uint64_t i = 0; i < rows; i++) {
                        uint64_t n;
                        r = read_varuint(c, &n);
                        if (r < 0)
                                return r;
                        r = skip(c, n);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (type_is(name, "FixedString")) {
                uint64_t n = 0;
                if (!next_arg(&args, &a) || a.n == 0)
                        return unsupported(c, t);
                for (size_t i = 0; i < a.n; i++) {
                        if (a.s[i] < '0' || a.s[i] > '9' || n > UINT32_MAX)
                                return unsupported(c, t);
                        n = n * 10 + (uint64_t) (a.s[i] - '0');
                }
                if (n == 0 || rows > (c->len - c->pos) / n)
                        return conv_fail(c, "the data ends inside a block");
                c->pos += rows * n;
                return 0;
        }
        if (type_is(name, "Nullable")) {
                if (!next_arg(&args, &a))
                        return unsupported(c, t);
                r = skip(c, rows);
                return r < 0 ? r : walk_data(c, a, rows, depth + 1);
        }
        if (type_is(name, "SimpleAggregateFunction")) {
                if (!next_arg(&args, &a) || !next_arg(&args, &a))
                        return unsupported(c, t);
                return walk_data(c, a, rows, depth + 1);
        }
        if (type_is(name, "LowCardinality")) {
                if (!next_arg(&args, &a))
                        return unsupported(c, t);
                return walk_low_cardinality(c, a, rows, depth);
        }
        if (type_is(name, "Array")) {
                if (!next_arg(&args, &a))
                        return unsupported(c, t);
                r = walk_offsets(c, rows, &total);
                return r < 0 ? r : walk_data(c, a, total, depth + 1);
        }
        if (type_is(name, "Map")) {
                r = walk_offsets(c, rows, &total);
                while (r >= 0 && next_arg(&args, &a))
                        r = walk_data(c, a, total, depth + 1);
                return r;
        }
        if (type_is(name, "Tuple")) {
                r = 0;
                while (r >= 0 && next_arg(&args, &a))
                        r = walk_data(c, tuple_element_type(a), rows, depth + 1);
                return r;
        }
        return unsupported(c, t);
}

/* --- blocks -------------------------------------------------------------------------------------------- */

static int convert_block_info(Conv *c, uint64_t from, uint64_t to) {
        uint8_t is_overflows = 0;
        int32_t bucket_num = -1;
        int r;

        if (from > 0)
                for (;;) {
                        uint64_t field, n;
                        r = read_varuint(c, &field);
                        if (r < 0)
                                return r;
                        if (field == 0)
                                break;
                        if (field == 1) {
                                r = need(c, 1);
                                if (r < 0)
                                        return r;
                                is_overflows = c->p[c->pos++];
                        } else if (field == 2) {
                                uint32_t v;
                                r = need(c, 4);
                                if (r < 0)
                                        return r;
                                memcpy(&v, c->p + c->pos, 4);
                                bucket_num = (int32_t) le32toh(v);
                                c->pos += 4;
                        } else if (field == 3 && from >= REVISION_WITH_OUT_OF_ORDER_BUCKETS) {
                                r = read_varuint(c, &n);
                                if (r < 0)
                                        return r;
                                if (n > 256)
                                        return conv_fail(c, "too many out-of-order buckets");
                                r = skip(c, n * 4);
                                if (r < 0)
                                        return r;
                        } else
                                return conv_fail(c, "unknown block info field %" PRIu64, field);
                }
        if (to > 0) {
                uint32_t b = htole32((uint32_t) bucket_num);
                uint8_t info[8] = {1, is_overflows, 2};
                memcpy(info + 3, &b, 4);
                info[7] = 0;
                r = emit(c, info, sizeof(info));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int convert_string(Conv *c, TypeRef *ret) {
        uint64_t n;
        size_t start = c->pos;
        int r = read_varuint(c, &n);
        if (r < 0)
                return r;
        r = need(c, n);
        if (r < 0)
                return r;
        if (ret)
                *ret = (TypeRef){(const char *) c->p + c->pos, (size_t) n};
        c->pos += n;
        return emit(c, c->p + start, c->pos - start);
}

int native_convert(
        const void *data,
        size_t size,
        uint64_t from_revision,
        uint64_t to_revision,
        NativeWriteFn write,
        void *userdata,
        char **ret_error) {
        Conv c = {.p = data, .len = size, .write = write, .userdata = userdata};
        int r = 0;

        while (r >= 0 && c.pos < c.len) {
                uint64_t columns, rows;

                r = convert_block_info(&c, from_revision, to_revision);
                if (r < 0)
                        break;
                size_t start = c.pos;
                r = read_varuint(&c, &columns);
                if (r >= 0)
                        r = read_varuint(&c, &rows);
                if (r >= 0)
                        r = emit(&c, c.p + start, c.pos - start);
                for (uint64_t i = 0; r >= 0 && i < columns; i++) {
                        TypeRef type;
                        r = convert_string(&c, NULL);
                        if (r >= 0)
                                r = convert_string(&c, &type);
                        if (r < 0)
                                break;
                        if (from_revision >= REVISION_WITH_CUSTOM_SERIALIZATION) {
                                r = need(&c, 1);
                                if (r < 0)
                                        break;
                                if (c.p[c.pos++] != 0) {
                                        r = conv_fail(
                                                &c,
                                                "column %" PRIu64
                                                " uses a custom (sparse) serialization, which is not supported here",
                                                i + 1);
                                        break;
                                }
                        }
                        if (to_revision >= REVISION_WITH_CUSTOM_SERIALIZATION) {
                                static const uint8_t no_custom = 0;
                                r = emit(&c, &no_custom, 1);
                                if (r < 0)
                                        break;
                        }
                        if (rows == 0)
                                continue;
                        start = c.pos;
                        r = walk_prefix(&c, type, 0);
                        if (r >= 0)
                                r = walk_data(&c, type, rows, 0);
                        if (r >= 0)
                                r = emit(&c, c.p + start, c.pos - start);
                }
        }
        if (r < 0 && ret_error) {
                *ret_error = TAKE_PTR(c.error);
                if (!*ret_error)
                        *ret_error = strdup("the Native data could not be converted");
        }
        free(c.error);
        return r;
}
