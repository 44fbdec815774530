/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "cleanup.h"
#include "errmsg.h"
#include "k8s-yaml.h"
#include "macro.h"

#define IN_SET(x, a, b, c) ((x) == (a) || (x) == (b) || (x) == (c))

#define K8S_YAML_MAX_FILE (16u * 1024u * 1024u)

typedef struct Anchor {
        char *name;
        cJSON *copy; /* a private copy of the anchored node, duplicated again on each alias */
} Anchor;

typedef struct Frame {
        cJSON *node;   /* object or array being filled */
        char *key;     /* pending mapping key, NULL when the next scalar is a key */
        char *anchor;  /* anchor to register when the collection ends */
        unsigned line; /* where the collection started, for duplicate-key messages */
} Frame;

typedef struct Builder {
        const char *name;
        char **reterr;
        Frame stack[K8S_YAML_MAX_DEPTH];
        size_t depth;
        Anchor *anchors;
        size_t n_anchors;
        size_t n_nodes;
        cJSON *root;
        unsigned root_line; /* where the document's root node starts */
} Builder;

static int fail(Builder *b, unsigned line, unsigned column, int r, const char *fmt, ...) _printf_(5, 6);
static int fail(Builder *b, unsigned line, unsigned column, int r, const char *fmt, ...) {
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return errmsg_set(b->reterr, r, "%s:%u:%u: %s", b->name, line, column, msg);
}

static void anchors_clear(Builder *b) {
        for (size_t i = 0; i < b->n_anchors; i++) {
                free(b->anchors[i].name);
                cJSON_Delete(b->anchors[i].copy);
        }
        free(b->anchors);
        b->anchors = NULL;
        b->n_anchors = 0;
}

static void builder_reset(Builder *b) {
        /* Collections still open (an error stopped the document) are not in the tree yet: the stack owns
         * them. */
        for (size_t i = 0; i < b->depth; i++) {
                cJSON_Delete(b->stack[i].node);
                free(b->stack[i].key);
                free(b->stack[i].anchor);
        }
        b->depth = 0;
        cJSON_Delete(b->root);
        b->root = NULL;
        b->root_line = 0;
        anchors_clear(b);
        b->n_nodes = 0;
}

static int anchor_add(Builder *b, const char *name, cJSON *node) {
        /* A later anchor of the same name shadows the earlier one, as in YAML. */
        Anchor *a = realloc(b->anchors, (b->n_anchors + 1) * sizeof(Anchor));
        if (!a)
                return -ENOMEM;
        b->anchors = a;
        char *n = strdup(name);
        if (!n)
                return -ENOMEM;
        cJSON *copy = cJSON_Duplicate(node, /* recurse= */ true);
        if (!copy) {
                free(n);
                return -ENOMEM;
        }
        b->anchors[b->n_anchors++] = (Anchor){.name = n, .copy = copy};
        return 0;
}

static cJSON *anchor_find(Builder *b, const char *name) {
        for (size_t i = b->n_anchors; i > 0; i--)
                if (streq(b->anchors[i - 1].name, name))
                        return b->anchors[i - 1].copy;
        return NULL;
}

static bool match_digits(const char *s, const char *set) {
        /* One or more characters from `set` or '_', starting with one from `set`. */
        if (!*s || !strchr(set, *s))
                return false;
        for (; *s; s++)
                if (*s != '_' && !strchr(set, *s))
                        return false;
        return true;
}

/* Parses a YAML 1.1 integer; returns 1 and the value, 0 when `s` is not an integer, -ERANGE on overflow. */
static int parse_int(const char *s, bool *ret_negative, uint64_t *ret_magnitude) {
        bool neg = false;
        if (*s == '-' || *s == '+') {
                neg = *s == '-';
                s++;
        }
        unsigned base;
        const char *digits;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                digits = s + 2;
                if (!match_digits(digits, "0123456789abcdefABCDEF"))
                        return 0;
        } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
                base = 8;
                digits = s + 2;
                if (!match_digits(digits, "01234567"))
                        return 0;
        } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
                base = 2;
                digits = s + 2;
                if (!match_digits(digits, "01"))
                        return 0;
        } else if (s[0] == '0' && s[1] != '\0') {
                base = 8; /* YAML 1.1: 0755 */
                digits = s + 1;
                if (!match_digits(digits, "01234567"))
                        return 0;
        } else {
                base = 10;
                digits = s;
                if (!match_digits(digits, "0123456789"))
                        return 0;
        }
        uint64_t v = 0;
        for (const char *p = digits; *p; p++) {
                if (*p == '_')
                        continue;
                unsigned d = *p <= '9' ? (unsigned) (*p - '0') : (unsigned) ((*p | 0x20) - 'a' + 10);
                if (v > (UINT64_MAX - d) / base)
                        return -ERANGE;
                v = v * base + d;
        }
        if (neg && v > (uint64_t) INT64_MAX + 1)
                return -ERANGE;
        if (!neg && v > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret_negative = neg;
        *ret_magnitude = v;
        return 1;
}

/* YAML 1.1 float: [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)? plus the forms with an exponent and no dot
 * (which go-yaml also accepts). */
static bool is_float(const char *s) {
        if (*s == '-' || *s == '+')
                s++;
        bool digits = false, dot = false;
        for (; *s && *s != 'e' && *s != 'E'; s++) {
                if (*s >= '0' && *s <= '9')
                        digits = true;
                else if (*s == '.' && !dot)
                        dot = true;
                else if (*s != '_' || !digits)
                        return false;
        }
        if (!digits)
                return false;
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '-' || *s == '+')
                        s++;
                if (!*s)
                        return false;
                for (; *s; s++)
                        if (*s < '0' || *s > '9')
                                return false;
                return true;
        }
        return dot;
}

static bool in_list(const char *s, const char *const *list) {
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

static int resolve_plain(Builder *b, const yaml_event_t *ev, cJSON **ret) {
        const char *s = (const char *) ev->data.scalar.value;
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
        static const char *const trues[] = {
                "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y", NULL};
        static const char *const falses[] = {
                "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N", NULL};
        static const char *const specials[] = {
                ".inf",
                ".Inf",
                ".INF",
                "+.inf",
                "+.Inf",
                "+.INF",
                "-.inf",
                "-.Inf",
                "-.INF",
                ".nan",
                ".NaN",
                ".NAN",
                NULL};
        unsigned line = (unsigned) ev->start_mark.line + 1, col = (unsigned) ev->start_mark.column + 1;

        if (in_list(s, nulls)) {
                *ret = cJSON_CreateNull();
        } else if (in_list(s, trues)) {
                *ret = cJSON_CreateTrue();
        } else if (in_list(s, falses)) {
                *ret = cJSON_CreateFalse();
        } else if (in_list(s, specials)) {
                return fail(b, line, col, -EINVAL, "'%s' cannot be represented in JSON", s);
        } else {
                bool neg;
                uint64_t mag;
                int r = parse_int(s, &neg, &mag);
                if (r == -ERANGE)
                        return fail(b, line, col, -EINVAL, "integer '%s' does not fit in 64 bits", s);
                if (r > 0) {
                        if (mag <= (UINT64_C(1) << 53)) {
                                double d = (double) mag;
                                *ret = cJSON_CreateNumber(neg ? -d : d);
                        } else {
                                /* Beyond what a double holds exactly: emit the decimal text verbatim. */
                                char text[32];
                                (void) snprintf(text, sizeof text, "%s%" PRIu64, neg ? "-" : "", mag);
                                *ret = cJSON_CreateRaw(text);
                        }
                } else if (is_float(s)) {
                        char clean[128];
                        size_t j = 0;
                        for (const char *p = s; *p && j + 1 < sizeof clean; p++)
                                if (*p != '_')
                                        clean[j++] = *p;
                        clean[j] = '\0';
                        char *end;
                        errno = 0;
                        double d = strtod(clean, &end);
                        if (*end || errno == ERANGE || !isfinite(d))
                                return fail(b, line, col, -EINVAL, "float '%s' is out of range", s);
                        *ret = cJSON_CreateNumber(d);
                } else
                        *ret = cJSON_CreateString(s);
        }
        return *ret ? 0 : -ENOMEM;
}

static int scalar_node(Builder *b, const yaml_event_t *ev, cJSON **ret) {
        const char *tag = (const char *) ev->data.scalar.tag;
        unsigned line = (unsigned) ev->start_mark.line + 1, col = (unsigned) ev->start_mark.column + 1;

        if (tag && streq(tag, YAML_STR_TAG)) {
                *ret = cJSON_CreateString((const char *) ev->data.scalar.value);
                return *ret ? 0 : -ENOMEM;
        }
        if (tag && !streq(tag, YAML_INT_TAG) && !streq(tag, YAML_FLOAT_TAG) && !streq(tag, YAML_BOOL_TAG) &&
            !streq(tag, YAML_NULL_TAG) && !streq(tag, "!"))
                return fail(b, line, col, -EINVAL, "unsupported tag '%s'", tag);
        if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && !(tag && !streq(tag, "!"))) {
                *ret = cJSON_CreateString((const char *) ev->data.scalar.value);
                return *ret ? 0 : -ENOMEM;
        }
        int r = resolve_plain(b, ev, ret);
        if (r < 0)
                return r;
        if (tag && !streq(tag, "!")) {
                /* An explicit !!int/!!bool/!!float/!!null must agree with what the text is. */
                bool ok = (streq(tag, YAML_INT_TAG) && (cJSON_IsNumber(*ret) || cJSON_IsRaw(*ret)) &&
                           !is_float((const char *) ev->data.scalar.value)) ||
                          (streq(tag, YAML_FLOAT_TAG) && (cJSON_IsNumber(*ret) || cJSON_IsRaw(*ret))) ||
                          (streq(tag, YAML_BOOL_TAG) && cJSON_IsBool(*ret)) ||
                          (streq(tag, YAML_NULL_TAG) && cJSON_IsNull(*ret));
                if (!ok) {
                        cJSON_Delete(*ret);
                        *ret = NULL;
                        return fail(
                                b, line, col, -EINVAL, "'%s' is not a valid %s", ev->data.scalar.value, tag);
                }
        }
        return 0;
}

/* Attaches a finished node to the collection on top of the stack (or makes it the root). Takes ownership. */
static int attach(Builder *b, cJSON *node, const yaml_mark_t *mark) {
        unsigned line = (unsigned) mark->line + 1, col = (unsigned) mark->column + 1;

        if (++b->n_nodes > K8S_YAML_MAX_NODES) {
                cJSON_Delete(node);
                return fail(b, line, col, -E2BIG, "more than %u nodes in one document", K8S_YAML_MAX_NODES);
        }
        if (b->depth == 0) {
                assert(!b->root);
                b->root = node;
                return 0;
        }
        Frame *f = &b->stack[b->depth - 1];
        if (cJSON_IsArray(f->node)) {
                cJSON_AddItemToArray(f->node, node);
                return 0;
        }
        if (!f->key) {
                /* This node is a key. JSON keys are strings: scalars keep their text. */
                if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
                        cJSON_Delete(node);
                        return fail(b, line, col, -EINVAL, "a mapping key must be a scalar");
                }
                char *key;
                if (cJSON_IsString(node))
                        key = strdup(node->valuestring);
                else if (cJSON_IsRaw(node))
                        key = strdup(node->valuestring);
                else if (cJSON_IsNull(node))
                        key = strdup("null");
                else if (cJSON_IsBool(node))
                        key = strdup(cJSON_IsTrue(node) ? "true" : "false");
                else
                        key = cJSON_PrintUnformatted(node);
                cJSON_Delete(node);
                if (!key)
                        return -ENOMEM;
                if (streq(key, "<<")) {
                        free(key);
                        return fail(b, line, col, -EINVAL, "merge keys (<<) are not supported");
                }
                if (cJSON_GetObjectItemCaseSensitive(f->node, key)) {
                        int r = fail(b, line, col, -EINVAL, "duplicate key '%s'", key);
                        free(key);
                        return r;
                }
                f->key = key;
                return 0;
        }
        cJSON_AddItemToObject(f->node, f->key, node);
        free(f->key);
        f->key = NULL;
        return 0;
}

/* Keys are kept as their plain text (JSON keys are strings); values get their YAML type. */
static int handle_event(Builder *b, yaml_event_t *ev) {
        unsigned line = (unsigned) ev->start_mark.line + 1, col = (unsigned) ev->start_mark.column + 1;
        int r;

        if (b->depth == 0 && b->root_line == 0 &&
            IN_SET(ev->type, YAML_SCALAR_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT))
                b->root_line = line;

        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                cJSON *node = NULL;
                bool is_key = b->depth > 0 && cJSON_IsObject(b->stack[b->depth - 1].node) &&
                              !b->stack[b->depth - 1].key;
                if (is_key) {
                        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                            streq((const char *) ev->data.scalar.value, "<<"))
                                return fail(b, line, col, -EINVAL, "merge keys (<<) are not supported");
                        node = cJSON_CreateString((const char *) ev->data.scalar.value);
                        if (!node)
                                return -ENOMEM;
                } else {
                        r = scalar_node(b, ev, &node);
                        if (r < 0)
                                return r;
                }
                if (ev->data.scalar.anchor) {
                        r = anchor_add(b, (const char *) ev->data.scalar.anchor, node);
                        if (r < 0) {
                                cJSON_Delete(node);
                                return r;
                        }
                }
                return attach(b, node, &ev->start_mark);
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                if (b->depth >= K8S_YAML_MAX_DEPTH)
                        return fail(
                                b, line, col, -E2BIG, "nesting deeper than %d levels", K8S_YAML_MAX_DEPTH);
                if (b->depth > 0 && cJSON_IsObject(b->stack[b->depth - 1].node) &&
                    !b->stack[b->depth - 1].key)
                        return fail(b, line, col, -EINVAL, "a mapping key must be a scalar");
                const char *tag = (const char *) (ev->type == YAML_SEQUENCE_START_EVENT
                                                          ? ev->data.sequence_start.tag
                                                          : ev->data.mapping_start.tag);
                const char *want = ev->type == YAML_SEQUENCE_START_EVENT ? YAML_SEQ_TAG : YAML_MAP_TAG;
                if (tag && !streq(tag, want) && !streq(tag, "!"))
                        return fail(b, line, col, -EINVAL, "unsupported tag '%s'", tag);
                cJSON *node =
                        ev->type == YAML_SEQUENCE_START_EVENT ? cJSON_CreateArray() : cJSON_CreateObject();
                if (!node)
                        return -ENOMEM;
                const yaml_char_t *anchor = ev->type == YAML_SEQUENCE_START_EVENT
                                                    ? ev->data.sequence_start.anchor
                                                    : ev->data.mapping_start.anchor;
                char *a = NULL;
                if (anchor) {
                        a = strdup((const char *) anchor);
                        if (!a) {
                                cJSON_Delete(node);
                                return -ENOMEM;
                        }
                }
                b->stack[b->depth++] = (Frame){.node = node, .anchor = a, .line = line};
                return 0;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
                assert(b->depth > 0);
                Frame f = b->stack[--b->depth];
                free(f.key);
                if (f.anchor) {
                        r = anchor_add(b, f.anchor, f.node);
                        free(f.anchor);
                        if (r < 0) {
                                cJSON_Delete(f.node);
                                return r;
                        }
                }
                return attach(b, f.node, &ev->start_mark);
        }
        case YAML_ALIAS_EVENT: {
                const char *name = (const char *) ev->data.alias.anchor;
                cJSON *target = anchor_find(b, name);
                if (!target) {
                        for (size_t i = 0; i < b->depth; i++)
                                if (b->stack[i].anchor && streq(b->stack[i].anchor, name))
                                        return fail(
                                                b, line, col, -EINVAL, "alias '*%s' refers to itself", name);
                        return fail(b, line, col, -EINVAL, "unknown alias '*%s'", name);
                }
                /* Bound the expansion ("billion laughs"): count the copy's nodes against the limit. */
                size_t count = 0;
                const cJSON *stack[K8S_YAML_MAX_DEPTH + 1];
                size_t sp = 0;
                stack[sp++] = target;
                while (sp > 0) {
                        const cJSON *n = stack[--sp];
                        count++;
                        for (const cJSON *c = n->child; c; c = c->next) {
                                if (sp >= ELEMENTSOF(stack))
                                        return fail(
                                                b, line, col, -E2BIG, "alias '*%s' nests too deep", name);
                                stack[sp++] = c;
                        }
                        if (b->n_nodes + count > K8S_YAML_MAX_NODES)
                                return fail(
                                        b,
                                        line,
                                        col,
                                        -E2BIG,
                                        "aliases expand to more than %u nodes",
                                        K8S_YAML_MAX_NODES);
                }
                b->n_nodes += count - 1;
                cJSON *copy;
                if (b->depth > 0 && cJSON_IsObject(b->stack[b->depth - 1].node) &&
                    !b->stack[b->depth - 1].key) {
                        /* Alias used as a key: use its text. */
                        if (!cJSON_IsString(target))
                                return fail(b, line, col, -EINVAL, "a mapping key must be a scalar");
                        copy = cJSON_CreateString(target->valuestring);
                } else
                        copy = cJSON_Duplicate(target, /* recurse= */ true);
                if (!copy)
                        return -ENOMEM;
                return attach(b, copy, &ev->start_mark);
        }
        default:
                return 0;
        }
}

void k8s_yaml_docs_done(K8sYamlDocs *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                cJSON_Delete(d->docs[i].json);
        free(d->docs);
        d->docs = NULL;
        d->n = 0;
}

int k8s_yaml_parse(const char *buf, size_t len, const char *name, K8sYamlDocs *ret, char **reterr) {
        yaml_parser_t parser;
        Builder b = {.name = name ?: "<input>", .reterr = reterr};
        K8sYamlDocs docs = {};
        unsigned doc_line = 1;
        int r = 0;

        assert(buf || len == 0);
        assert(ret);
        if (len > K8S_YAML_MAX_FILE)
                return fail(&b, 1, 1, -E2BIG, "larger than %u bytes", K8S_YAML_MAX_FILE);

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) (buf ?: ""), len);
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

        for (bool done = false; !done;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&parser, &ev)) {
                        r =
                                fail(&b,
                                     (unsigned) parser.problem_mark.line + 1,
                                     (unsigned) parser.problem_mark.column + 1,
                                     -EINVAL,
                                     "%s%s%s",
                                     parser.problem ?: "YAML error",
                                     parser.context ? " " : "",
                                     parser.context ?: "");
                        break;
                }
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        doc_line = (unsigned) ev.start_mark.line + 1;
                        break;
                case YAML_DOCUMENT_END_EVENT:
                        if (b.root && !cJSON_IsNull(b.root)) {
                                K8sYamlDoc *d = realloc(docs.docs, (docs.n + 1) * sizeof(K8sYamlDoc));
                                if (!d) {
                                        r = -ENOMEM;
                                        break;
                                }
                                docs.docs = d;
                                docs.docs[docs.n++] = (K8sYamlDoc){
                                        .json = TAKE_PTR(b.root), .line = b.root_line ?: doc_line};
                        }
                        builder_reset(&b);
                        break;
                default:
                        r = handle_event(&b, &ev);
                }
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }
        yaml_parser_delete(&parser);
        builder_reset(&b);
        if (r < 0) {
                k8s_yaml_docs_done(&docs);
                return r;
        }
        *ret = docs;
        return 0;
}

int k8s_yaml_parse_file(const char *path, K8sYamlDocs *ret, char **reterr) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errmsg_set(reterr, -errno, "%s: %m", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return errmsg_set(reterr, -errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return errmsg_set(reterr, -EINVAL, "%s: not a regular file", path);
        if ((uint64_t) st.st_size > K8S_YAML_MAX_FILE)
                return errmsg_set(reterr, -E2BIG, "%s: larger than %u bytes", path, K8S_YAML_MAX_FILE);
        size_t size = (size_t) st.st_size;
        _cleanup_free_ char *buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < size) {
                ssize_t n = read(fd, buf + got, size - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errmsg_set(reterr, -errno, "%s: %m", path);
                }
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        buf[got] = '\0';
        return k8s_yaml_parse(buf, got, path, ret, reterr);
}
