/* SPDX-License-Identifier: MIT */
#pragma once

/* zap JSON message → one otel_logs row. transform_parse() finds the row's
 * values as spans of the message (JSON string content still escaped), and a
 * format writer puts them into a batch: transform_put_json() as ClickHouse's
 * JSONEachRow (escaped bytes copied as they are), shipper-native.h as Native
 * columns (strings decoded). transform_message() is parse + JSONEachRow. */

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"
#include "shipper-json.h"
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

/* The resource of every row of one file: ServiceName and the constant
 * ResourceAttributes (service.name, k8s.*), decoded. */
#define TRANSFORM_RESOURCE_MAX_ATTRS 5
typedef struct TransformResource {
        const char *service_name;
        size_t service_name_len;
        struct {
                const char *key;
                const char *value;
                size_t value_len;
        } attrs[TRANSFORM_RESOURCE_MAX_ATTRS];
        size_t n_attrs;
        char *base; /* owns the file's base name the values point into */
} TransformResource;

/* service_name may be NULL/empty: then the container name, else the file's
 * base name. Points into service_name (which must outlive ret). */
int transform_resource_init(const char *path, const char *service_name, TransformResource *ret);
void transform_resource_done(TransformResource *r);

/* Builds the constant part of every row of one file:
 * `"ServiceName":"…","ResourceAttributes":{…` (map left open for the stream).
 * service_name may be NULL/empty: then the container name, else the file's
 * base name. */
int transform_resource_prefix(const char *path, const char *service_name, StrBuf *ret);

/* One row's values, pointing into the message and into `fields` (so a
 * LogRow is used where it was filled, never copied). */
typedef struct LogRow {
        int64_t timestamp_ns;
        const char *severity_text; /* a known level's text ("INFO"), else NULL */
        const JsonField *level;    /* an unknown level: its name, upper-cased unless it has escapes */
        uint8_t severity_number;   /* 0 for an unknown or missing level */
        const char *plain;         /* not a JSON object: the whole text is the Body (raw bytes), */
        size_t plain_len;          /* with no severity and no attributes but log.truncated */
        bool is_plain;
        const JsonField *msg; /* Body; NULL: empty */
        const JsonField *random_number, *random_string, *count;
        bool truncated;   /* LogAttributes['log.truncated'] = 'true' */
        LogStream stream; /* ResourceAttributes['log.iostream'] unless unknown */
        size_t n_fields;  /* LogAttributes: every field but msg */
        JsonField fields[TRANSFORM_MAX_FIELDS];
} LogRow;

/* Fills ret from one message. now_ns is used when neither the message nor the
 * runtime gave a time. Counts dropped fields; never fails. */
void transform_parse(const LogMessage *m, int64_t now_ns, LogRow *ret, TransformStats *stats);

/* Counts a row that was written (rows, non_json). */
void transform_count_row(const LogRow *row, TransformStats *stats);

/* RandomNumber / Count as the seed columns take them: a JSON integer that
 * fits the column. False when absent or not such a number. */
bool transform_seed_random_number(const LogRow *row, int32_t *ret);
bool transform_seed_count(const LogRow *row, uint64_t *ret);

/* Appends the row as one JSONEachRow line (ending in '\n') to out; prefix is
 * transform_resource_prefix()'s. Returns 0 or -ENOBUFS/-ENOMEM. */
int transform_put_json(
        const TransformOptions *opts, const char *prefix, size_t prefix_len, const LogRow *row, StrBuf *out);

/* Appends one row (ending in '\n') to out. now_ns is used when neither the
 * message nor the runtime gave a time. Returns 0 or -ENOBUFS/-ENOMEM. */
int transform_message(
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const LogMessage *m,
        int64_t now_ns,
        StrBuf *out,
        TransformStats *stats);
