/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"
#include "config-file.h"
#include "log.h"
#include "util.h"

/* A config file is small; nesting beyond this is a mistake or an attack on the stack. */
#define CONFIG_DEPTH_MAX 32

static void node_clear(ConfigNode *n) {
        for (size_t i = 0; i < n->n_children; i++)
                node_clear(n->children + i);
        free(n->children);
        free(n->value);
        free(n->key);
}

ConfigNode *config_node_free(ConfigNode *n) {
        if (!n)
                return NULL;
        node_clear(n);
        free(n);
        return NULL;
}

const char *config_node_type_name(ConfigNodeType t) {
        switch (t) {
        case CONFIG_NODE_SCALAR:
                return "a scalar";
        case CONFIG_NODE_SEQUENCE:
                return "a list";
        case CONFIG_NODE_MAPPING:
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

static int append_child(ConfigNode *parent, ConfigNode **ret) {
        ConfigNode *c = reallocarray(parent->children, parent->n_children + 1, sizeof(ConfigNode));
        if (!c)
                return -ENOMEM;
        parent->children = c;
        *ret = c + parent->n_children++;
        **ret = (ConfigNode){};
        return 0;
}

/* Fills n from event e (already consumed), reading the events of its children. */
static int load_node(Loader *l, yaml_event_t *e, ConfigNode *n, unsigned depth) {
        int r;

        n->line = (unsigned) e->start_mark.line + 1;
        if (depth > CONFIG_DEPTH_MAX)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: nested too deeply", l->name, n->line);

        if ((e->type == YAML_SCALAR_EVENT && e->data.scalar.anchor) ||
            (e->type == YAML_SEQUENCE_START_EVENT && e->data.sequence_start.anchor) ||
            (e->type == YAML_MAPPING_START_EVENT && e->data.mapping_start.anchor))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: anchors are not supported", l->name, n->line);
        /* A tag written out (a plain scalar resolved implicitly has none). */
        if ((e->type == YAML_SCALAR_EVENT && e->data.scalar.tag) ||
            (e->type == YAML_SEQUENCE_START_EVENT && e->data.sequence_start.tag) ||
            (e->type == YAML_MAPPING_START_EVENT && e->data.mapping_start.tag))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: tags are not supported", l->name, n->line);

        switch (e->type) {
        case YAML_ALIAS_EVENT:
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s:%u: aliases are not supported", l->name, n->line);

        case YAML_SCALAR_EVENT:
                n->type = CONFIG_NODE_SCALAR;
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

                n->type = mapping ? CONFIG_NODE_MAPPING : CONFIG_NODE_SEQUENCE;
                for (;;) {
                        yaml_event_t ev, vev;
                        ConfigNode *child;

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

int config_file_load_string(const char *name, const char *text, size_t size, ConfigNode **ret) {
        _cleanup_(config_node_freep) ConfigNode *root = NULL;
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
                root = new0(ConfigNode, 1);
                if (!root) {
                        r = -ENOMEM;
                        goto finish;
                }
                root->type = CONFIG_NODE_MAPPING;
                root->line = 1;
                goto done;
        }
        yaml_event_delete(&e);

        root = new0(ConfigNode, 1);
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

int config_file_load(const char *path, size_t max_size, ConfigNode **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, max_size, &text, &size);
        if (r == -EFBIG)
                return log_error_errno(r, "%s: larger than %zu bytes", path, max_size);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        return config_file_load_string(path, text, size, ret);
}

const ConfigNode *config_node_get(const ConfigNode *map, const char *key) {
        if (!map || map->type != CONFIG_NODE_MAPPING)
                return NULL;
        for (size_t i = 0; i < map->n_children; i++)
                if (streq(map->children[i].key, key))
                        return map->children + i;
        return NULL;
}

int config_parse_strv(const ConfigOption *o, char *const *items, size_t n) {
        _cleanup_strv_free_ char **l = NULL;

        l = new0(char *, n + 1);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                l[i] = strdup(items[i]);
                if (!l[i])
                        return -ENOMEM;
        }
        strv_free(*(char ***) o->data);
        *(char ***) o->data = TAKE_PTR(l);
        return 0;
}

int config_parse_list_joined(const ConfigOption *o, char *const *items, size_t n) {
        _cleanup_free_ char *joined = NULL;
        size_t len = 1, k = 0;

        for (size_t i = 0; i < n; i++)
                len += strlen(items[i]) + 1;
        joined = malloc(len);
        if (!joined)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(items[i]);

                if (i > 0)
                        joined[k++] = ',';
                memcpy(joined + k, items[i], l);
                k += l;
        }
        joined[k] = 0;
        return o->parse(o, joined);
}

static int apply_list(const ConfigNode *n, const ConfigOption *o, const char *origin, const char *file) {
        _cleanup_free_ char **items = NULL;
        char expect[128];
        int r;

        items = new0(char *, n->n_children + 1);
        if (!items)
                return log_oom();
        for (size_t i = 0; i < n->n_children; i++) {
                if (n->children[i].type != CONFIG_NODE_SCALAR)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s:%u: %s: expected a list of strings",
                                file,
                                n->children[i].line,
                                n->key);
                items[i] = n->children[i].value;
        }
        r = o->parse_list(o, items, n->n_children);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "invalid list for %s: expected %s",
                        origin,
                        config_option_expectation(o, expect, sizeof(expect)));
        return 0;
}

int config_file_apply(
        const ConfigNode *map,
        const char *section,
        const ConfigOption *options,
        size_t n,
        const char *file) {

        if (map->type != CONFIG_NODE_MAPPING) {
                if (!section)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s:%u: expected a mapping of settings, got %s",
                                file,
                                map->line,
                                config_node_type_name(map->type));
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s:%u: %s: expected a mapping, got %s",
                        file,
                        map->line,
                        section,
                        config_node_type_name(map->type));
        }

        for (size_t i = 0; i < map->n_children; i++) {
                const ConfigNode *v = map->children + i;
                const ConfigOption *o = NULL;
                char origin[512];
                int r;

                for (size_t k = 0; k < n && !o; k++)
                        if (streq(options[k].name, v->key))
                                o = options + k;
                if (!o) {
                        if (section)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL),
                                        "%s:%u: unknown key \"%s\" in %s",
                                        file,
                                        v->key_line,
                                        v->key,
                                        section);
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s:%u: unknown key \"%s\"",
                                file,
                                v->key_line,
                                v->key);
                }
                if (!o->parse && !o->parse_list)
                        continue; /* a section, applied by the caller */
                (void) snprintf(
                        origin,
                        sizeof(origin),
                        "%s:%u: %s%s%s",
                        file,
                        v->line,
                        strempty(section),
                        section ? "." : "",
                        v->key);
                if (v->type == CONFIG_NODE_SEQUENCE && o->parse_list)
                        r = apply_list(v, o, origin, file);
                else if (v->type == CONFIG_NODE_SCALAR && o->parse)
                        r = config_option_apply(o, v->value, origin);
                else if (!o->parse)
                        r = log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s:%u: %s: expected a list of strings",
                                file,
                                v->key_line,
                                v->key);
                else
                        r = log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s:%u: %s%s%s: expected a single value, got %s",
                                file,
                                v->key_line,
                                strempty(section),
                                section ? "." : "",
                                v->key,
                                config_node_type_name(v->type));
                if (r < 0)
                        return r;
        }
        return 0;
}
