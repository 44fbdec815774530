/* SPDX-License-Identifier: MIT */
#pragma once

/* zap JSON message → one otel_logs row in ClickHouse's JSONEachRow format,
 * written straight into a batch buffer. */

#include <stdbool.h>
#include <stdint.h>

#include "shipper-buf.h"
#include "shipper-parse.h"

/* Members of a zap object beyond this many are validated but not shipped. */
#define TRANSFORM_MAX_FIELDS 128

typedef struct TransformOptions {
        bool seed_columns; /* also fill RandomNumber/RandomString/Count */
} TransformOptions;

typedef struct TransformStats {
        uint64_t rows;
        uint64_t non_json;       /* shipped with the whole text as Body */
        uint64_t dropped_fields; /* members past TRANSFORM_MAX_FIELDS */
} TransformStats;

/* Kubernetes metadata from a container log file name
 * `<pod>_<namespace>_<container>-<container-id>.log`. Fields are empty
 * when the name does not have that shape. Points into `name`. */
typedef struct K8sName {
        const char *pod, *namespace, *container, *container_id;
        size_t pod_len, namespace_len, container_len, container_id_len;
} K8sName;

bool k8s_name_parse(const char *basename, K8sName *ret);

/* Builds the constant part of every row of one file:
 * `"ServiceName":"…","ResourceAttributes":{…` (map left open for the stream).
 * service_name may be NULL/empty: then the container name, else the file's
 * base name. */
int transform_resource_prefix(const char *path, const char *service_name, Buf *ret);

/* Appends one row (ending in '\n') to out. now_ns is used when neither the
 * message nor the runtime gave a time. Returns 0 or -ENOBUFS/-ENOMEM. */
int transform_message(
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const LogMessage *m,
        int64_t now_ns,
        Buf *out,
        TransformStats *stats);
