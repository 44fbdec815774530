/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* The configuration file as a small tree that remembers where each node was written, so that every error
 * can say file:line. Anchors, aliases and tags have no use in a config file and are refused. */

typedef enum YamlNodeType {
        YAML_NODE_SCALAR,
        YAML_NODE_SEQUENCE,
        YAML_NODE_MAPPING,
} YamlNodeType;

typedef struct YamlNode YamlNode;
struct YamlNode {
        YamlNodeType type;
        unsigned line; /* 1-based */
        char *value;   /* scalars */
        bool quoted;   /* scalar written in quotes (so "null" is a string) */
        char *key;     /* when the node is a mapping value: its key */
        unsigned key_line;
        YamlNode *children; /* sequences and mappings, in order */
        size_t n_children;
};

/* Parses one YAML document of at most max_size bytes. On a syntax error, logs "file:line: message" and
 * returns -EINVAL. */
int yaml_load_file(const char *path, size_t max_size, YamlNode **ret);
int yaml_load_string(const char *name, const char *text, size_t size, YamlNode **ret);
YamlNode *yaml_node_free(YamlNode *n);
static inline void yaml_node_freep(YamlNode **n) {
        if (*n)
                yaml_node_free(*n);
}
const char *yaml_node_type_name(YamlNodeType t);
