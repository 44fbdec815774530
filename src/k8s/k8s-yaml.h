/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/* YAML → JSON for Kubernetes manifests, with the scalar typing Kubernetes itself uses (sigs.k8s.io/yaml,
 * i.e. YAML 1.1 as go-yaml v2 reads it): plain scalars become null (~, null, empty), booleans (true/false,
 * yes/no, on/off, y/n in their three spellings), integers (decimal, 0x hex, 0o and 0-prefixed octal,
 * 0b binary, '_' separators) or floats; quoted and block scalars are always strings, and so is anything
 * tagged !!str. Anchors and aliases are expanded; merge keys (<<) and duplicate keys are errors, as are
 * .inf/.nan (JSON cannot hold them). Integers outside ±2^53 are kept exactly (emitted verbatim). */

/* Limits on outside input. */
#define K8S_YAML_MAX_DEPTH 100
#define K8S_YAML_MAX_NODES (1024 * 1024)

typedef struct K8sYamlDoc {
        cJSON *json;   /* the document's root (object for a manifest) */
        unsigned line; /* 1-based line where the document starts */
} K8sYamlDoc;

typedef struct K8sYamlDocs {
        K8sYamlDoc *docs;
        size_t n;
} K8sYamlDocs;

void k8s_yaml_docs_done(K8sYamlDocs *d);

/* Parses every document of a YAML stream; empty documents (only comments, or a bare "---") are skipped.
 * `name` names the input in error messages ("file:line:column: problem"), handed to *reterr (errmsg.h).
 * Returns 0, -EINVAL for bad YAML, -E2BIG past the limits, -ENOMEM. */
int k8s_yaml_parse(const char *buf, size_t len, const char *name, K8sYamlDocs *ret, char **reterr);

/* Reads a file and parses it like k8s_yaml_parse(); the file name is used in errors. */
int k8s_yaml_parse_file(const char *path, K8sYamlDocs *ret, char **reterr);
