/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <yaml.h>

#include "cleanup.h"
#include "log.h"
#include "supervisor-yaml.h"
#include "util.h"

/* A config file is small; nesting beyond this is a mistake or an attack on the stack. */
#define YAML_DEPTH_MAX 32

static void node_clear(YamlNode *n) {
        for (size_t i = 0; i < n->n_children; i++)
                node_clear(n->children + i);
        free(n->children);
        free(n->value);
        free(n->key);
}

YamlNode *yaml_node_free(YamlNode *n) {
        if (!n)
                return NULL;
        node_clear(n);
        free(n);
        return NULL;
}

const char *yaml_node_type_name(YamlNodeType t) {
        switch (t) {
        case YAML_NODE_SCALAR:
                return "a scalar";
        case YAML_NODE_SEQUENCE:
                return "a list";
        case YAML_NODE_MAPPING:
                return "a mapping";
        }
        return "?";
}

typedef struct Loader {
        yaml_parser_t parser;
        const char *name;
} Loader;

static int next_event(Loader *l, yaml_event_t *e) {
        if (!yaml_parser_parse(&l->parser, e))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s:%zu: %s%s%s",
                        l->name,
                        l->parser.problem_mark.line + 1,
                        strempty(l->parser.problem),
                        l->parser.context ? " " : "",
                        strempty(l->parser.context));
        return 0;
}

static int append_child(YamlNode *parent, YamlNode **ret) {
        YamlNode *c = reallocarray(parent->children, parent->n_children + 1, sizeof(YamlNode));
        if (!c)
                return -ENOMEM;
        parent->children = c;
        *ret = c + parent->n_children++;
        **ret = (YamlNode){};
        return 0;
}

/* Fills n from event e (already consumed), reading the events of its children. */
static int load_node(Loader *l, yaml_event_t *e, YamlNode *n, unsigned depth) {
        int r;

        n->line = (unsigned) e->start_mark.line + 1;
        if (depth > YAML_DEPTH_MAX)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: nested too deeply", l->name, n->line);

        switch (e->type) {
        case YAML_ALIAS_EVENT:
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: aliases are not supported", l->name, n->line);

        case YAML_SCALAR_EVENT:
                if (e->data.scalar.anchor)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s:%u: anchors are not supported",
                                l->name,
                                n->line);
                n->type = YAML_NODE_SCALAR;
                n->quoted = e->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                            e->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
                n->value = strndup((const char *) e->data.scalar.value, e->data.scalar.length);
                if (!n->value)
                        return -ENOMEM;
                if (strlen(n->value) != e->data.scalar.length)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL), "%s:%u: NUL byte in a value", l->name, n->line);
                return 0;

        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                bool mapping = e->type == YAML_MAPPING_START_EVENT;
                yaml_event_type_t end = mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;

                n->type = mapping ? YAML_NODE_MAPPING : YAML_NODE_SEQUENCE;
                for (;;) {
                        yaml_event_t ev, vev;
                        YamlNode *child;

                        r = next_event(l, &ev);
                        if (r < 0)
                                return r;
                        if (ev.type == end) {
                                yaml_event_delete(&ev);
                                return 0;
                        }
                        r = append_child(n, &child);
                        if (r < 0) {
                                yaml_event_delete(&ev);
                                return r;
                        }
                        if (!mapping) {
                                r = load_node(l, &ev, child, depth + 1);
                                yaml_event_delete(&ev);
                                if (r < 0)
                                        return r;
                                continue;
                        }

                        if (ev.type != YAML_SCALAR_EVENT) {
                                unsigned line = (unsigned) ev.start_mark.line + 1;
                                yaml_event_delete(&ev);
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL),
                                        "%s:%u: keys must be plain scalars",
                                        l->name,
                                        line);
                        }
                        child->key = strndup((const char *) ev.data.scalar.value, ev.data.scalar.length);
                        child->key_line = (unsigned) ev.start_mark.line + 1;
                        yaml_event_delete(&ev);
                        if (!child->key)
                                return -ENOMEM;
                        for (size_t i = 0; i + 1 < n->n_children; i++)
                                if (streq(n->children[i].key, child->key))
                                        return log_error_errno(
                                                SYNTHETIC_ERRNO(EINVAL),
                                                "%s:%u: duplicate key \"%s\" (first at line %u)",
                                                l->name,
                                                child->key_line,
                                                child->key,
                                                n->children[i].key_line);

                        r = next_event(l, &vev);
                        if (r < 0)
                                return r;
                        r = load_node(l, &vev, child, depth + 1);
                        yaml_event_delete(&vev);
                        if (r < 0)
                                return r;
                }
        }
        default:
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: unexpected YAML event", l->name, n->line);
        }
}

int yaml_load_string(const char *name, const char *text, size_t size, YamlNode **ret) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        Loader l = {.name = name};
        yaml_event_t e;
        int r;

        if (!yaml_parser_initialize(&l.parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&l.parser, (const unsigned char *) text, size);

        /* STREAM-START, then DOCUMENT-START or STREAM-END for an empty file. */
        r = next_event(&l, &e);
        if (r < 0)
                goto finish;
        yaml_event_delete(&e);
        r = next_event(&l, &e);
        if (r < 0)
                goto finish;
        if (e.type == YAML_STREAM_END_EVENT) {
                yaml_event_delete(&e);
                root = new0(YamlNode, 1);
                if (!root) {
                        r = -ENOMEM;
                        goto finish;
                }
                root->type = YAML_NODE_MAPPING;
                root->line = 1;
                goto done;
        }
        yaml_event_delete(&e);

        root = new0(YamlNode, 1);
        if (!root) {
                r = -ENOMEM;
                goto finish;
        }
        r = next_event(&l, &e);
        if (r < 0)
                goto finish;
        r = load_node(&l, &e, root, 0);
        yaml_event_delete(&e);
        if (r < 0)
                goto finish;

        r = next_event(&l, &e); /* DOCUMENT-END */
        if (r < 0)
                goto finish;
        yaml_event_delete(&e);
        r = next_event(&l, &e);
        if (r < 0)
                goto finish;
        if (e.type != YAML_STREAM_END_EVENT) {
                r = log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s:%zu: only one YAML document is allowed",
                        name,
                        e.start_mark.line + 1);
                yaml_event_delete(&e);
                goto finish;
        }
        yaml_event_delete(&e);

done:
        *ret = TAKE_PTR(root);
        r = 0;
finish:
        yaml_parser_delete(&l.parser);
        return r;
}

int yaml_load_file(const char *path, size_t max_size, YamlNode **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, max_size, &text, &size);
        if (r == -EFBIG)
                return log_error_errno(r, "%s: larger than %zu bytes", path, max_size);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        return yaml_load_string(path, text, size, ret);
}
