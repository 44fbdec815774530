/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse-endpoint.h"
#include "macro.h"
#include "parse-util.h"

#define CODE_PREFIX "Code: "
#define EXCEPTION_PREFIX ". DB::Exception: "

/* Parses "Code: N. DB::Exception: " at s; returns the length of that prefix (0 if absent) and the code. */
static size_t parse_code_prefix(const char *s, int *ret_code) {
        const char *p = startswith(s, CODE_PREFIX);
        char digits[12];
        size_t n = 0;
        uint32_t code;

        if (!p)
                return 0;
        while (isdigit((unsigned char) p[n]) && n < sizeof(digits) - 1) {
                digits[n] = p[n];
                n++;
        }
        digits[n] = 0;
        if (n == 0 || safe_atou32(digits, &code) < 0 || code > 100000)
                return 0;
        if (!startswith(p + n, EXCEPTION_PREFIX))
                return 0;
        *ret_code = (int) code;
        return (size_t) (p + n - s) + strlen(EXCEPTION_PREFIX);
}

/* Removes what only exists because a streamed INSERT reads its body from a file: the file's name (one of
 * our descriptors) and the "data for INSERT was parsed from file" context. */
static void strip_infile_context(char *text) {
        static const char *const fragments[] = {
                "\n: (in file/uri /proc/self/fd/",
                ": (in file/uri /proc/self/fd/",
                ": While reading from: /proc/self/fd/",
                "While reading from: /proc/self/fd/",
        };
        static const char *const literal[] = {
                ": While executing File: data for INSERT was parsed from file",
                ": data for INSERT was parsed from file",
        };
        char *p;

        FOREACH_ARRAY(fr, fragments, ELEMENTSOF(fragments))
                while ((p = strstr(text, *fr))) {
                        char *end = p + strlen(*fr);
                        while (isdigit((unsigned char) *end))
                                end++;
                        if (*end == ')')
                                end++;
                        memmove(p, end, strlen(end) + 1);
                }
        FOREACH_ARRAY(l, literal, ELEMENTSOF(literal))
                while ((p = strstr(text, *l)))
                        memmove(p, p + strlen(*l), strlen(p + strlen(*l)) + 1);
}

int clickhouse_error_parse(const char *message, char **ret_text) {
        int code = 1001, inner_code = 0;
        size_t outer, inner;
        char *text;

        outer = parse_code_prefix(message, &code);
        if (outer == 0) {
                /* Not a ClickHouse exception: present it the way the server presents std::exception. */
                if (asprintf(&text, "Code: 1001. DB::Exception: %s. (STD_EXCEPTION)", message) < 0)
                        return -ENOMEM;
                *ret_text = text;
                return code;
        }

        /* Statements that read their data from a file (our streamed INSERTs) come back wrapped twice:
         * "Code: N. DB::Exception: Code: N. DB::Exception: <text> (version V). (NAME)". The server would
         * have sent the inner exception, so that is what we keep, without the engine's version suffix
         * (the caller appends its own). */
        inner = parse_code_prefix(message + outer, &inner_code);
        if (inner > 0 && inner_code == code) {
                const char *start = message + outer;
                const char *v = strstr(start, " (version ");
                size_t len = v ? (size_t) (v - start) : strlen(start);
                text = strndup(start, len);
        } else
                text = strdup(message);
        if (!text)
                return -ENOMEM;
        strip_infile_context(text);
        /* Trailing newlines would end up in the middle of our reply. */
        size_t l = strlen(text);
        while (l > 0 && (text[l - 1] == '\n' || text[l - 1] == ' '))
                text[--l] = 0;
        *ret_text = text;
        return code;
}

const char *clickhouse_error_name(const char *message, char *buf, size_t size) {
        size_t l = strlen(message);

        buf[0] = 0;
        while (l > 0 && (message[l - 1] == '\n' || message[l - 1] == ' '))
                l--;
        if (l < 3 || message[l - 1] != ')')
                return buf;
        size_t end = l - 1, start = end;
        while (start > 0 && (isupper((unsigned char) message[start - 1]) ||
                             isdigit((unsigned char) message[start - 1]) || message[start - 1] == '_'))
                start--;
        if (start == 0 || message[start - 1] != '(' || start == end || end - start >= size)
                return buf;
        memcpy(buf, message + start, end - start);
        buf[end - start] = 0;
        return buf;
}

unsigned clickhouse_error_http_status(const char *name) {
        /* Transcribed from ClickHouse's src/Server/HTTP/exceptionCodeToHTTPStatus.cpp. */
        static const struct {
                const char *name;
                unsigned status;
        } table[] = {
                {"REQUIRED_PASSWORD", 401},
                {"UNKNOWN_USER", 403},
                {"WRONG_PASSWORD", 403},
                {"AUTHENTICATION_FAILED", 403},
                {"SET_NON_GRANTED_ROLE", 403},
                {"ACCESS_DENIED", 403},
                {"BAD_ARGUMENTS", 400},
                {"CANNOT_COMPILE_REGEXP", 400},
                {"CANNOT_PARSE_TEXT", 400},
                {"CANNOT_PARSE_ESCAPE_SEQUENCE", 400},
                {"CANNOT_PARSE_QUOTED_STRING", 400},
                {"CANNOT_PARSE_DATE", 400},
                {"CANNOT_PARSE_DATETIME", 400},
                {"CANNOT_PARSE_NUMBER", 400},
                {"CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", 400},
                {"CANNOT_PARSE_IPV4", 400},
                {"CANNOT_PARSE_IPV6", 400},
                {"CANNOT_PARSE_INPUT_ASSERTION_FAILED", 400},
                {"CANNOT_PARSE_UUID", 400},
                {"DUPLICATE_COLUMN", 400},
                {"ILLEGAL_COLUMN", 400},
                {"UNKNOWN_ELEMENT_IN_AST", 400},
                {"UNKNOWN_TYPE_OF_AST_NODE", 400},
                {"THERE_IS_NO_COLUMN", 400},
                {"TOO_DEEP_AST", 400},
                {"TOO_BIG_AST", 400},
                {"UNEXPECTED_AST_STRUCTURE", 400},
                {"SYNTAX_ERROR", 400},
                {"INCORRECT_DATA", 400},
                {"TYPE_MISMATCH", 400},
                {"VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", 400},
                {"UNKNOWN_TABLE", 404},
                {"UNKNOWN_FUNCTION", 404},
                {"UNKNOWN_IDENTIFIER", 404},
                {"UNKNOWN_TYPE", 404},
                {"UNKNOWN_STORAGE", 404},
                {"UNKNOWN_DATABASE", 404},
                {"UNKNOWN_SETTING", 404},
                {"UNKNOWN_DIRECTION_OF_SORTING", 404},
                {"UNKNOWN_AGGREGATE_FUNCTION", 404},
                {"UNKNOWN_FORMAT", 404},
                {"UNKNOWN_DATABASE_ENGINE", 404},
                {"UNKNOWN_TYPE_OF_QUERY", 404},
                {"UNKNOWN_ROLE", 404},
                {"QUERY_IS_TOO_LARGE", 413},
                {"NOT_IMPLEMENTED", 501},
                {"SOCKET_TIMEOUT", 503},
                {"CANNOT_OPEN_FILE", 503},
                {"HTTP_LENGTH_REQUIRED", 411},
                {"TIMEOUT_EXCEEDED", 408},
                {"CANNOT_SCHEDULE_TASK", 503},
                {"UNSUPPORTED_MEDIA_TYPE", 415},
        };

        FOREACH_ARRAY(t, table, ELEMENTSOF(table))
                if (streq(t->name, name))
                        return t->status;
        return 500;
}
