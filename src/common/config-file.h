/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Configuration files: YAML read through libyaml into a small tree that remembers where each node was
 * written, then applied to a program's option table (config.h), so that every error says file:line and the
 * setting. The one layer over libyaml for configuration; Kubernetes manifests have their own
 * (src/k8s/k8s-yaml.c), as they need YAML 1.1 typing.
 *
 * What a config file may hold: one document whose root is a mapping (an empty file is an empty mapping);
 * plain scalar keys, each at most once per mapping (a duplicate is an error naming both lines); values that
 * are scalars, lists of scalars, or mappings for sections. Anchors, aliases and tags have no use here and
 * are refused.
 *
 * Configuration errors are for the user to read: like config_option_apply(), these functions log each one
 * (one line, "file:line: …") at error level and return -EINVAL; the program exits with status 2 without
 * logging again. */

#define CONFIG_FILE_MAX_SIZE (1024 * 1024)

typedef enum ConfigNodeType {
        CONFIG_NODE_SCALAR,
        CONFIG_NODE_SEQUENCE,
        CONFIG_NODE_MAPPING,
} ConfigNodeType;

typedef struct ConfigNode ConfigNode;
struct ConfigNode {
        ConfigNodeType type;
        unsigned line; /* 1-based */
        char *value;   /* scalars */
        bool quoted;   /* scalar written in quotes (so "null" is a string) */
        char *key;     /* when the node is a mapping value: its key */
        unsigned key_line;
        ConfigNode *children; /* sequences and mappings, in order */
        size_t n_children;
};

/* Reads and parses one YAML document of at most max_size bytes. */
int config_file_load(const char *path, size_t max_size, ConfigNode **ret);
/* The same for text in memory; `name` stands for the file in messages. */
int config_file_load_string(const char *name, const char *text, size_t size, ConfigNode **ret);
ConfigNode *config_node_free(ConfigNode *n);
static inline void config_node_freep(ConfigNode **n) {
        if (*n)
                config_node_free(*n);
}
/* "a scalar", "a list", "a mapping": for messages. */
const char *config_node_type_name(ConfigNodeType t);
/* The value of `key` in a mapping, or NULL. */
const ConfigNode *config_node_get(const ConfigNode *map, const char *key);

/* List parsers (ConfigOption.parse_list). data points to: */
int config_parse_strv(const ConfigOption *o, char *const *items, size_t n); /* char **, replaced */
int config_parse_list_joined(
        const ConfigOption *o, char *const *items, size_t n); /* as o->parse of "a,b,c" */

/* Applies the settings of one mapping to an option table. Every key must name an option ("unknown key" is
 * an error, naming `section` when there is one). A scalar goes through the option's parse (origin
 * "file:line: section.key"), a list through its parse_list; an option with neither is a section, which
 * the caller applies with its own table (config_node_get()). `map` must be a mapping: "section: expected a
 * mapping" otherwise. */
int config_file_apply(
        const ConfigNode *map, const char *section, const ConfigOption *options, size_t n, const char *file);
