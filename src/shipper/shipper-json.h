/* SPDX-License-Identifier: MIT */
#pragma once

/* A small strict JSON tokenizer for one flat-ish object per log line. It does
 * not build a tree: it validates the text and reports where each top-level
 * member's key and value are, so the transform can copy bytes straight into
 * its output without decoding and re-encoding them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

typedef enum JsonType {
        JSON_STRING,
        JSON_NUMBER,
        JSON_TRUE,
        JSON_FALSE,
        JSON_NULL,
        JSON_OBJECT,
        JSON_ARRAY,
} JsonType;

typedef struct JsonField {
        const char *key; /* inside the quotes, still escaped */
        const char *val; /* strings: inside the quotes, still escaped; others: raw text */
        uint32_t key_len;
        uint32_t val_len;
        JsonType type;
        bool key_escaped; /* the key has a backslash escape */
        bool val_escaped; /* a string value has one (false for other types) */
} JsonField;

/* Nesting deeper than this is rejected (the scanner is recursive). */
#define JSON_MAX_DEPTH 64

/* Scans [p, p+len) which must hold exactly one JSON object (whitespace around
 * it allowed). Stores up to `max` members in `fields`; *ret_n is the number
 * stored and *ret_dropped the number of further members not stored.
 * Returns 0, or -EINVAL if the text is not one valid JSON object. */
int json_scan_object(
        const char *p, size_t len, JsonField *fields, size_t max, size_t *ret_n, size_t *ret_dropped);

/* Decodes the escaped string content [p, p+len) (as validated by the scanner)
 * and appends it to `out` (reserves as needed). \u escapes become UTF-8;
 * unpaired surrogates become U+FFFD. Returns 0 or a negative errno. */
int json_unescape_append(StrBuf *out, const char *p, size_t len);

/* Decodes the JSON string starting just after its opening quote at p and
 * appends it to out, which must have room for end - p bytes. Returns a
 * pointer to the closing quote, or NULL if the string is not valid JSON
 * (raw control character, bad escape, no closing quote). One pass: used for
 * docker's "log" value on the hot path. */
const char *json_unescape_string(StrBuf *out, const char *p, const char *end);

/* True if [p, p+len) is a JSON number with only an integer part (optionally
 * negative) – used for typed columns. */
bool json_number_is_integer(const char *p, size_t len);
