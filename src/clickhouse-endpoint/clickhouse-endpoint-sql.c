/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "clickhouse-endpoint.h"
#include "macro.h"

/* Just enough of ClickHouse's lexer to find keywords at the top level of a statement: white space and
 * comments are skipped, quoted strings and identifiers and parenthesised groups are single tokens. */

typedef enum TokenKind {
        TOKEN_END,
        TOKEN_WORD,  /* bare word: keyword or identifier */
        TOKEN_OTHER, /* anything else: literal, quoted name, group, operator */
} TokenKind;

typedef struct Token {
        TokenKind kind;
        size_t start, len;
} Token;

static size_t skip_space(const char *q, size_t n, size_t i) {
        for (;;) {
                if (i < n && isspace((unsigned char) q[i]))
                        i++;
                else if (i + 1 < n && q[i] == '-' && q[i + 1] == '-') {
                        while (i < n && q[i] != '\n')
                                i++;
                } else if (i < n && q[i] == '#') {
                        while (i < n && q[i] != '\n')
                                i++;
                } else if (i + 1 < n && q[i] == '/' && q[i + 1] == '*') {
                        i += 2;
                        while (i + 1 < n && !(q[i] == '*' && q[i + 1] == '/'))
                                i++;
                        i = MIN(i + 2, n);
                } else
                        return i;
        }
}

static size_t skip_quoted(const char *q, size_t n, size_t i) {
        char quote = q[i++];

        while (i < n) {
                if (q[i] == '\\')
                        i += 2;
                else if (q[i] == quote) {
                        if (i + 1 < n && q[i + 1] == quote) /* doubled quote */
                                i += 2;
                        else
                                return i + 1;
                } else
                        i++;
        }
        return n;
}

/* Returns the next token at or after *pos and advances *pos past it. */
static Token next_token(const char *q, size_t n, size_t *pos) {
        size_t i = skip_space(q, n, *pos);
        Token t = {.kind = TOKEN_END, .start = i};

        if (i >= n) {
                *pos = n;
                return t;
        }
        if (isalpha((unsigned char) q[i]) || q[i] == '_') {
                size_t j = i;
                while (j < n && (isalnum((unsigned char) q[j]) || q[j] == '_'))
                        j++;
                t.kind = TOKEN_WORD;
                t.len = j - i;
        } else if (q[i] == '\'' || q[i] == '"' || q[i] == '`') {
                t.kind = TOKEN_OTHER;
                t.len = skip_quoted(q, n, i) - i;
        } else if (q[i] == '(' || q[i] == '[') {
                size_t j = i, depth = 0;
                while (j < n) {
                        if (q[j] == '\'' || q[j] == '"' || q[j] == '`') {
                                j = skip_quoted(q, n, j);
                                continue;
                        }
                        if (q[j] == '(' || q[j] == '[')
                                depth++;
                        else if (q[j] == ')' || q[j] == ']') {
                                if (--depth == 0) {
                                        j++;
                                        break;
                                }
                        }
                        j++;
                }
                t.kind = TOKEN_OTHER;
                t.len = j - i;
        } else {
                t.kind = TOKEN_OTHER;
                t.len = 1;
        }
        *pos = t.start + t.len;
        return t;
}

static bool token_is(const char *q, const Token *t, const char *word) {
        return t->kind == TOKEN_WORD && t->len == strlen(word) &&
               strncasecmp(q + t->start, word, t->len) == 0;
}

bool sql_is_read_only(const char *q, size_t n) {
        static const char *const words[] = {
                "SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"};
        size_t pos = 0;
        Token t = next_token(q, n, &pos);

        /* A parenthesised SELECT is still a SELECT. */
        while (t.kind == TOKEN_OTHER && q[t.start] == '(') {
                pos = t.start + 1;
                t = next_token(q, n, &pos);
        }
        FOREACH_ARRAY(w, words, ELEMENTSOF(words))
                if (token_is(q, &t, *w))
                        return true;
        return false;
}

/* Scans "INSERT INTO <target> [(cols)] [SETTINGS ...] FORMAT <name>" and returns where FROM INFILE belongs
 * and where the format name ends; false for any other statement. */
static bool insert_format_point(const char *q, size_t n, size_t *ret_offset, size_t *ret_name_end) {
        size_t pos = 0, settings_at = SIZE_MAX;
        Token t;

        t = next_token(q, n, &pos);
        if (!token_is(q, &t, "INSERT"))
                return false;
        t = next_token(q, n, &pos);
        if (!token_is(q, &t, "INTO"))
                return false;

        for (;;) {
                t = next_token(q, n, &pos);
                if (t.kind == TOKEN_END)
                        return false;
                if (token_is(q, &t, "SELECT") || token_is(q, &t, "WITH") || token_is(q, &t, "VALUES") ||
                    token_is(q, &t, "FROM") || token_is(q, &t, "INFILE"))
                        return false;
                if (token_is(q, &t, "SETTINGS") && settings_at == SIZE_MAX)
                        settings_at = t.start;
                if (token_is(q, &t, "FORMAT")) {
                        size_t format_at = t.start;
                        Token name = next_token(q, n, &pos);
                        if (name.kind != TOKEN_WORD)
                                return false;
                        *ret_offset = settings_at != SIZE_MAX ? settings_at : format_at;
                        *ret_name_end = name.start + name.len;
                        return true;
                }
        }
}

bool sql_insert_infile_point(const char *q, size_t n, size_t *ret_offset) {
        size_t at, name_end, pos;

        if (!insert_format_point(q, n, &at, &name_end))
                return false;
        /* Nothing may follow the format name but white space, comments and one ';'. */
        pos = name_end;
        Token rest = next_token(q, n, &pos);
        if (rest.kind == TOKEN_OTHER && rest.len == 1 && q[rest.start] == ';')
                rest = next_token(q, n, &pos);
        if (rest.kind != TOKEN_END)
                return false;
        *ret_offset = at;
        return true;
}

bool sql_insert_inline_data(const char *q, size_t n, size_t *ret_offset, size_t *ret_end, size_t *ret_data) {
        size_t at, name_end, d;

        if (!insert_format_point(q, n, &at, &name_end))
                return false;
        /* As the server's parser: the data starts after spaces and tabs and then one line break, if any. */
        d = name_end;
        while (d < n && (q[d] == ' ' || q[d] == '\t' || q[d] == '\f'))
                d++;
        if (d < n && q[d] == '\r')
                d++;
        if (d < n && q[d] == '\n')
                d++;
        if (d == name_end && d < n && q[d] == ';')
                return false; /* "FORMAT Name; ...": no data */
        *ret_offset = at;
        *ret_end = name_end;
        *ret_data = d;
        return true;
}

bool sql_valid_setting_name(const char *s) {
        if (isempty(s) || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '_')
                        return false;
        return strlen(s) <= 128;
}

bool sql_format_clause(const char *q, size_t n, char *buf, size_t size) {
        size_t pos = 0;
        bool found = false;

        /* The last FORMAT keyword at the top level that is followed by a name. A FORMAT inside a subquery
         * or a string is inside a single token here, so it does not count. */
        for (;;) {
                Token t = next_token(q, n, &pos);
                if (t.kind == TOKEN_END)
                        return found;
                if (!token_is(q, &t, "FORMAT"))
                        continue;
                size_t after = pos;
                Token name = next_token(q, n, &after);
                if (name.kind != TOKEN_WORD || name.len + 1 > size)
                        continue;
                memcpy(buf, q + name.start, name.len);
                buf[name.len] = 0;
                found = true;
                pos = after;
        }
}
