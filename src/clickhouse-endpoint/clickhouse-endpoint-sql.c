/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "clickhouse-endpoint.h"
#include "macro.h"
#include "strbuf.h"

/* What the endpoint needs to know about a request's SQL before the engine runs it: where an INSERT's rows
 * begin (they never reach the SQL parser: they go to the engine through a file) and whether the statement
 * uses one of the few things the engine would do outside the database on the endpoint's behalf (see
 * docs/storage.md, "Access control").
 *
 * The tokenizer follows ClickHouse's own lexer (src/Parsers/Lexer.cpp) rule for rule where token boundaries
 * matter: comments (--, //, "# ", nested block comments), quoted strings and identifiers with backslash
 * escapes and doubled quotes, heredocs ($tag$...$tag$), numbers that swallow the word characters after them,
 * words with '$'. Where it deliberately differs, it sees more tokens than the engine does, never fewer:
 * bytes outside ASCII separate tokens (the engine skips Unicode spaces and fails on anything else), and an
 * unterminated string or comment runs to the end (the engine fails on it). So a word the engine would call
 * as a function is a word here too. */

typedef enum TokenKind {
        TOKEN_END,
        TOKEN_WORD,      /* bare word: keyword or identifier */
        TOKEN_QUOTED_ID, /* "name" or `name` */
        TOKEN_STRING,    /* 'text', x'..', heredoc */
        TOKEN_NUMBER,
        TOKEN_OPEN,  /* ( [ { */
        TOKEN_CLOSE, /* ) ] } */
        TOKEN_SEMICOLON,
        TOKEN_DOT,
        TOKEN_OTHER, /* operators and anything else */
} TokenKind;

typedef struct Token {
        TokenKind kind;
        size_t start, len;
} Token;

typedef struct Lexer {
        const char *q;
        size_t n, pos;
        TokenKind prev; /* previous significant token, for the number/dot rules */
} Lexer;

static bool is_word_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

/* A quoted string, identifier or heredoc body from q[i] (the opening quote): returns the end. */
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

/* Skips white space and comments; returns the position of the next significant character. */
static size_t skip_insignificant(const char *q, size_t n, size_t i) {
        for (;;) {
                if (i >= n)
                        return n;
                unsigned char c = (unsigned char) q[i];
                if (isspace(c) || c >= 0x80)
                        i++;
                else if (i + 1 < n && ((c == '-' && q[i + 1] == '-') || (c == '/' && q[i + 1] == '/'))) {
                        while (i < n && q[i] != '\n')
                                i++;
                } else if (c == '#' && i + 1 < n && (q[i + 1] == ' ' || q[i + 1] == '!')) {
                        while (i < n && q[i] != '\n')
                                i++;
                } else if (i + 1 < n && c == '/' && q[i + 1] == '*') {
                        /* Block comments nest, as in the SQL standard and in ClickHouse. */
                        size_t depth = 1;
                        i += 2;
                        while (i < n && depth > 0) {
                                if (i + 1 < n && q[i] == '/' && q[i + 1] == '*') {
                                        depth++;
                                        i += 2;
                                } else if (i + 1 < n && q[i] == '*' && q[i + 1] == '/') {
                                        depth--;
                                        i += 2;
                                } else
                                        i++;
                        }
                        i = MIN(i, n);
                } else
                        return i;
        }
}

static size_t skip_digits(const char *q, size_t n, size_t i, bool hex) {
        while (i < n &&
               (hex ? isxdigit((unsigned char) q[i]) : isdigit((unsigned char) q[i]) || q[i] == '_'))
                i++;
        return i;
}

static Token lexer_next(Lexer *l) {
        const char *q = l->q;
        size_t n = l->n, i = skip_insignificant(q, n, l->pos), j;
        Token t = {.kind = TOKEN_END, .start = i};
        char c;

        if (i >= n) {
                l->pos = n;
                return t;
        }
        c = q[i];
        j = i + 1;
        if (isdigit((unsigned char) c)) {
                bool hex = false;
                t.kind = TOKEN_NUMBER;
                if (l->prev == TOKEN_DOT)
                        j = skip_digits(q, n, i, false); /* x.1.1: tuple access */
                else {
                        if (c == '0' && i + 2 < n && (q[i + 1] == 'x' || q[i + 1] == 'X') &&
                            isxdigit((unsigned char) q[i + 2])) {
                                hex = true;
                                j = i + 2;
                        } else if (
                                c == '0' && i + 2 < n && (q[i + 1] == 'b' || q[i + 1] == 'B') &&
                                (q[i + 2] == '0' || q[i + 2] == '1'))
                                j = i + 2;
                        j = skip_digits(q, n, j, hex);
                        if (j < n && q[j] == '.')
                                j = skip_digits(q, n, j + 1, hex);
                        if (j + 1 < n &&
                            (hex ? (q[j] == 'p' || q[j] == 'P') : (q[j] == 'e' || q[j] == 'E'))) {
                                j++;
                                if (j + 1 < n && (q[j] == '-' || q[j] == '+'))
                                        j++;
                                j = skip_digits(q, n, j, false);
                        }
                }
                /* Word characters right after a number belong to it (1identifier, or an error). */
                if (j < n && is_word_char(q[j])) {
                        while (j < n && (is_word_char(q[j]) || q[j] == '$'))
                                j++;
                        t.kind = TOKEN_WORD;
                }
        } else if (c == '\'' || c == '"' || c == '`') {
                t.kind = c == '\'' ? TOKEN_STRING : TOKEN_QUOTED_ID;
                j = skip_quoted(q, n, i);
        } else if (c == '(' || c == '[' || c == '{')
                t.kind = TOKEN_OPEN;
        else if (c == ')' || c == ']' || c == '}')
                t.kind = TOKEN_CLOSE;
        else if (c == ';')
                t.kind = TOKEN_SEMICOLON;
        else if (c == '.') {
                bool dot = i > 0 &&
                           (!(i + 1 < n && isdigit((unsigned char) q[i + 1])) || l->prev == TOKEN_CLOSE ||
                            l->prev == TOKEN_WORD || l->prev == TOKEN_QUOTED_ID || l->prev == TOKEN_NUMBER);
                if (dot)
                        t.kind = TOKEN_DOT;
                else {
                        t.kind = TOKEN_NUMBER;
                        j = skip_digits(q, n, i + 1, false);
                        if (j + 1 < n && (q[j] == 'e' || q[j] == 'E')) {
                                j++;
                                if (j + 1 < n && (q[j] == '-' || q[j] == '+'))
                                        j++;
                                j = skip_digits(q, n, j, false);
                        }
                }
        } else if (c == '$') {
                /* A heredoc: $tag$ ... $tag$, where the tag is anything up to the next '$'. */
                const char *close = memchr(q + i + 1, '$', n - i - 1);
                bool heredoc = false;
                if (close) {
                        size_t tag = (size_t) (close - (q + i)) + 1;
                        for (size_t k = i + tag; k + tag <= n; k++)
                                if (memcmp(q + k, q + i, tag) == 0) {
                                        j = k + tag;
                                        heredoc = true;
                                        break;
                                }
                }
                if (heredoc)
                        t.kind = TOKEN_STRING;
                else if (i + 1 == n || !is_word_char(q[i + 1]))
                        t.kind = TOKEN_OTHER;
                else {
                        while (j < n && (is_word_char(q[j]) || q[j] == '$'))
                                j++;
                        t.kind = TOKEN_WORD;
                }
        } else if ((c == 'x' || c == 'X' || c == 'b' || c == 'B') && i + 2 < n && q[i + 1] == '\'') {
                t.kind = TOKEN_STRING;
                j = skip_quoted(q, n, i + 1);
        } else if (is_word_char(c)) {
                while (j < n && (is_word_char(q[j]) || q[j] == '$'))
                        j++;
                t.kind = TOKEN_WORD;
        } else
                t.kind = TOKEN_OTHER;

        t.len = j - i;
        l->pos = j;
        l->prev = t.kind;
        return t;
}

static bool token_is(const char *q, const Token *t, const char *word) {
        return t->kind == TOKEN_WORD && t->len == strlen(word) &&
               strncasecmp(q + t->start, word, t->len) == 0;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether a word or quoted identifier names the file() function, case-insensitively. For a quoted name
 * the escapes the engine decodes are decoded (\xHH, and \c as c, which finds more names than the engine
 * does, never fewer). */
static bool token_names_file(const char *q, const Token *t) {
        char name[5];
        size_t k = 0;

        if (t->kind == TOKEN_WORD)
                return t->len == 4 && strncasecmp(q + t->start, "file", 4) == 0;
        if (t->kind != TOKEN_QUOTED_ID || t->len < 2)
                return false;
        char quote = q[t->start];
        for (size_t i = t->start + 1; i < t->start + t->len - 1; i++) {
                char c = q[i];
                if (c == '\\' && i + 1 < t->start + t->len - 1) {
                        c = q[++i];
                        if ((c == 'x' || c == 'X') && i + 2 < t->start + t->len - 1 &&
                            hex_value(q[i + 1]) >= 0 && hex_value(q[i + 2]) >= 0) {
                                c = (char) (hex_value(q[i + 1]) * 16 + hex_value(q[i + 2]));
                                i += 2;
                        }
                } else if (c == quote && i + 1 < t->start + t->len - 1 && q[i + 1] == quote)
                        i++;
                if (k >= 4)
                        return false;
                name[k++] = c;
        }
        name[k] = 0;
        return k == 4 && strcasecmp(name, "file") == 0;
}

/* The bracket groups a statement is nested in: whether each is a query (a subquery, or the statement
 * itself), where FROM and JOIN introduce tables, or something else (a function's arguments, an array, a
 * tuple), where a FROM is part of an expression such as EXTRACT(YEAR FROM x) or TRIM(BOTH ' ' FROM x). */
#define SQL_MAX_DEPTH 256

typedef struct Analysis {
        Lexer lex;
        bool group_is_query[SQL_MAX_DEPTH + 1];
        unsigned depth;
        bool group_open; /* the group just opened; its first token decides its kind */
        Token prev, prev2;
} Analysis;

static void refuse(SqlStatement *st, SqlRefusal refusal, size_t at) {
        if (st->refusal == SQL_ACCEPTED) {
                st->refusal = refusal;
                st->refusal_at = at;
        }
}

/* Reads the next significant token and keeps the nesting up to date. */
static Token next(Analysis *a) {
        Token t = lexer_next(&a->lex);

        if (a->group_open) {
                a->group_is_query[a->depth] = token_is(a->lex.q, &t, "SELECT") ||
                                              token_is(a->lex.q, &t, "WITH") ||
                                              token_is(a->lex.q, &t, "FROM");
                a->group_open = false;
        }
        if (t.kind == TOKEN_OPEN) {
                if (a->depth < SQL_MAX_DEPTH) {
                        a->depth++;
                        a->group_open = true;
                }
        } else if (t.kind == TOKEN_CLOSE && a->depth > 0)
                a->depth--;
        return t;
}

/* Whether a call to "file" in this position reads a table function (FROM file(...), JOIN file(...),
 * INSERT INTO FUNCTION file(...), DESCRIBE file(...)) or is a table engine (ENGINE = File(...)), which the
 * engine's grants decide, rather than
 * calling the scalar function file(), which reads any path and is checked by nothing in the engine. */
static bool in_table_position(const Analysis *a, const Token *first) {
        const char *q = a->lex.q;

        if (!a->group_is_query[a->depth])
                return false;
        if (token_is(q, &a->prev, "FROM") || token_is(q, &a->prev, "FUNCTION"))
                return true;
        if (token_is(q, &a->prev, "JOIN") && !token_is(q, &a->prev2, "ARRAY"))
                return true;
        /* ENGINE = File(...): a table engine, which the engine's grants decide (TABLE ENGINE ON File). */
        if (a->prev.kind == TOKEN_OTHER && a->lex.q[a->prev.start] == '=' &&
            token_is(q, &a->prev2, "ENGINE"))
                return true;
        return a->depth == 0 && (token_is(q, first, "DESCRIBE") || token_is(q, first, "DESC")) &&
               (token_is(q, &a->prev, "DESCRIBE") || token_is(q, &a->prev, "DESC") ||
                token_is(q, &a->prev, "TABLE"));
}

/* Checks one token in the statement's SQL text; t is the current token, nx the one after it. */
static void check_token(Analysis *a, SqlStatement *st, const Token *first, const Token *t, const Token *nx) {
        const char *q = a->lex.q;

        if (token_is(q, t, "INTO") && token_is(q, nx, "OUTFILE"))
                refuse(st, SQL_REFUSED_INTO_OUTFILE, t->start);
        else if (token_is(q, t, "FROM") && token_is(q, nx, "INFILE"))
                refuse(st, SQL_REFUSED_FROM_INFILE, t->start);
        else if (
                nx->kind == TOKEN_OPEN && q[nx->start] == '(' && token_names_file(q, t) &&
                !in_table_position(a, first))
                refuse(st, SQL_REFUSED_FILE_FUNCTION, t->start);
}

/* When t opens a bracket group, reads up to its closing bracket; returns the last token read. */
static Token skip_group(Analysis *a, Token t) {
        if (t.kind != TOKEN_OPEN)
                return t;
        unsigned depth = a->depth;
        while (a->depth >= depth && t.kind != TOKEN_END)
                t = next(a);
        return t;
}

/* Skips "INTO [TABLE] name[.name]" after INSERT: a table's name is not an expression, whatever its words
 * (a table may be called "format" or "values"). For INSERT INTO FUNCTION f(...) the function is read as
 * any other table function. Returns the first token after the name. */
static Token skip_insert_target(Analysis *a) {
        const char *q = a->lex.q;
        Token t = next(a);

        if (!token_is(q, &t, "INTO"))
                return t;
        t = next(a);
        if (token_is(q, &t, "TABLE"))
                t = next(a);
        if (token_is(q, &t, "FUNCTION")) {
                a->prev = t;
                return next(a);
        }
        for (;;) {
                t = skip_group(a, t); /* {name:Identifier} */
                t = next(a);
                if (t.kind != TOKEN_DOT)
                        return t;
                t = next(a);
        }
}

void sql_analyze(const char *q, size_t n, SqlStatement *ret) {
        Analysis a = {.lex = {.q = q, .n = n}};
        SqlStatement st = {
                .refusal = SQL_ACCEPTED,
                .infile_at = SIZE_MAX,
                .values_at = SIZE_MAX,
                .sql_end = n,
                .data_at = n,
        };
        Token first, t, nx;

        a.group_is_query[0] = true;
        first = next(&a);
        st.empty = first.kind == TOKEN_END;

        if (token_is(q, &first, "SET")) {
                Lexer saved = a.lex;
                Token second = lexer_next(&a.lex);
                Token third = lexer_next(&a.lex);
                a.lex = saved;
                if (token_is(q, &second, "ROLE") ||
                    (token_is(q, &second, "DEFAULT") && token_is(q, &third, "ROLE")))
                        refuse(&st, SQL_REFUSED_SET_ROLE, first.start);
        }

        t = first;
        if (token_is(q, &first, "INSERT")) {
                st.insert = true;
                t = skip_insert_target(&a);
                size_t settings_at = SIZE_MAX;
                bool select = false;
                for (;; t = next(&a)) {
                        if (t.kind == TOKEN_END || (a.depth == 0 && t.kind == TOKEN_SEMICOLON))
                                break;
                        if (a.depth == 0 && !select && token_is(q, &t, "SETTINGS") &&
                            settings_at == SIZE_MAX)
                                settings_at = t.start;
                        if (a.depth == 0 && !select && token_is(q, &t, "VALUES")) {
                                /* The rows start at the next significant token. */
                                st.insert_data = true;
                                st.values_at = t.start;
                                st.infile_at = settings_at != SIZE_MAX ? settings_at : t.start;
                                st.sql_end = t.start + t.len;
                                st.data_at = skip_insignificant(q, n, st.sql_end);
                                break;
                        }
                        if (a.depth == 0 && token_is(q, &t, "FORMAT")) {
                                Lexer saved = a.lex;
                                Token name = lexer_next(&a.lex);
                                if (name.kind != TOKEN_WORD && name.kind != TOKEN_QUOTED_ID) {
                                        a.lex = saved;
                                        continue;
                                }
                                /* The rows start after the format name: after blanks, then one line end. */
                                size_t d = name.start + name.len;
                                while (d < n && (q[d] == ' ' || q[d] == '\t' || q[d] == '\f'))
                                        d++;
                                if (d < n && q[d] == '\r')
                                        d++;
                                if (d < n && q[d] == '\n')
                                        d++;
                                st.insert_data = true;
                                if (st.infile_at == SIZE_MAX)
                                        st.infile_at = settings_at != SIZE_MAX ? settings_at : t.start;
                                st.sql_end = name.start + name.len;
                                st.data_at = d;
                                break;
                        }
                        if (a.depth == 0 && !select &&
                            (token_is(q, &t, "SELECT") || token_is(q, &t, "WITH"))) {
                                select = true;
                                /* INSERT ... SELECT ... FROM input() FORMAT F: the file goes before the
                                 * SELECT (or its SETTINGS). */
                                st.infile_at = settings_at != SIZE_MAX ? settings_at : t.start;
                        }
                        Lexer saved = a.lex;
                        nx = lexer_next(&a.lex);
                        a.lex = saved;
                        check_token(&a, &st, &first, &t, &nx);
                        a.prev2 = a.prev;
                        a.prev = t;
                }
                if (!st.insert_data)
                        st.infile_at = SIZE_MAX;
        } else
                for (; t.kind != TOKEN_END && !(a.depth == 0 && t.kind == TOKEN_SEMICOLON); t = next(&a)) {
                        Lexer saved = a.lex;
                        nx = lexer_next(&a.lex);
                        a.lex = saved;
                        check_token(&a, &st, &first, &t, &nx);
                        a.prev2 = a.prev;
                        a.prev = t;
                }

        /* One statement per request, as the server accepts: after a ';' only white space and comments. */
        if (!st.insert_data && t.kind == TOKEN_SEMICOLON) {
                st.sql_end = t.start;
                Token rest = lexer_next(&a.lex);
                if (rest.kind != TOKEN_END)
                        refuse(&st, SQL_REFUSED_MULTI_STATEMENT, rest.start);
        }
        *ret = st;
}

const char *sql_refusal_message(SqlRefusal r) {
        switch (r) {
        case SQL_REFUSED_MULTI_STATEMENT:
                return "Code: 62. DB::Exception: Syntax error (Multi-statements are not allowed): one statement per request. (SYNTAX_ERROR)";
        case SQL_REFUSED_INTO_OUTFILE:
                return "Code: 358. DB::Exception: INTO OUTFILE is not allowed. (INTO_OUTFILE_NOT_ALLOWED)";
        case SQL_REFUSED_FROM_INFILE:
                return "Code: 78. DB::Exception: Query has infile and was send directly to server. (UNKNOWN_TYPE_OF_QUERY)";
        case SQL_REFUSED_SET_ROLE:
                return "Code: 512. DB::Exception: Role should be granted to set as a current one: each user of this endpoint has one fixed role. (SET_NON_GRANTED_ROLE)";
        case SQL_REFUSED_FILE_FUNCTION:
                return "Code: 291. DB::Exception: The file() function is not available: this endpoint has no user_files directory. (DATABASE_ACCESS_DENIED)";
        default:
                return NULL;
        }
}

int sql_append_insert_from_file(
        StrBuf *b, const char *q, const SqlStatement *st, const char *path, const char *compression) {
        int k;

        if (!st->insert_data || st->infile_at == SIZE_MAX)
                return -EINVAL;
        k = strbuf_append(b, q, st->infile_at);
        if (k >= 0)
                k = strbuf_printf(b, " FROM INFILE '%s' COMPRESSION '%s' ", path, compression);
        if (k < 0)
                return k;
        if (st->values_at != SIZE_MAX) {
                k = strbuf_append(b, q + st->infile_at, st->values_at - st->infile_at);
                if (k >= 0)
                        k = strbuf_puts(b, "FORMAT Values");
        } else
                k = strbuf_append(b, q + st->infile_at, st->sql_end - st->infile_at);
        return k;
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
        Analysis a = {.lex = {.q = q, .n = n}};
        bool found = false;

        /* The last FORMAT keyword at the top level that is followed by a name. A FORMAT inside a subquery
         * or a string does not count. */
        a.group_is_query[0] = true;
        for (Token t = next(&a); t.kind != TOKEN_END; t = next(&a)) {
                if (a.depth != 0 || !token_is(q, &t, "FORMAT"))
                        continue;
                Lexer saved = a.lex;
                Token name = lexer_next(&a.lex);
                if (name.kind != TOKEN_WORD || name.len + 1 > size) {
                        a.lex = saved;
                        continue;
                }
                memcpy(buf, q + name.start, name.len);
                buf[name.len] = 0;
                found = true;
        }
        return found;
}
