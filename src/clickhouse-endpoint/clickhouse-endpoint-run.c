/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "clickhouse-endpoint-request.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strbuf.h"
#include "util.h"

/* Running a request once its body is in: the SQL text (an INSERT's rows handed over in a file), the URL's
 * settings and database, the session (the request's own or a named one) at the readonly level the user and
 * method allow, and the answer. */

/* Appends s as a single-quoted SQL string literal. */
static int append_sql_string(StrBuf *b, const char *s) {
        int r = strbuf_puts(b, "'");
        for (const char *p = s; r >= 0 && *p; p++) {
                if (*p == '\'' || *p == '\\')
                        r = strbuf_append(b, "\\", 1);
                if (r >= 0)
                        r = strbuf_append(b, p, 1);
        }
        return r < 0 ? r : strbuf_puts(b, "'");
}

static int append_sql_identifier(StrBuf *b, const char *s) {
        int r = strbuf_puts(b, "`");
        for (const char *p = s; r >= 0 && *p; p++) {
                if (*p == '`' || *p == '\\')
                        r = strbuf_append(b, "\\", 1);
                if (r >= 0)
                        r = strbuf_append(b, p, 1);
        }
        return r < 0 ? r : strbuf_puts(b, "`");
}

/* --- running a request --------------------------------------------------------------------------------- */

/* The URL's settings as one SET statement, run on the request's session before its statement. The session
 * is the request's alone, so nothing needs to be reset after it. */
static int build_settings_sql(const Request *r, StrBuf *b) {
        int k = 0;

        for (size_t i = 0; k >= 0 && i < r->n_settings; i++) {
                if (streq(r->setting_names[i], "readonly"))
                        continue; /* the session's readonly level, see request_readonly() */
                k = strbuf_printf(b, "%s%s = ", b->len == 0 ? "SET " : ", ", r->setting_names[i]);
                if (k >= 0)
                        k = append_sql_string(b, r->setting_values[i]);
        }
        return k;
}

/* For a named session, which outlives the request: the URL's settings back to their defaults afterwards
 * (param_* values stay, as the engine keeps query parameters). */
static int build_reset_sql(const Request *r, StrBuf *b) {
        int k = 0;

        for (size_t i = 0; k >= 0 && i < r->n_settings; i++) {
                if (streq(r->setting_names[i], "readonly") || startswith(r->setting_names[i], "param_"))
                        continue;
                k = strbuf_printf(b, "%s%s = DEFAULT", b->len == 0 ? "SET " : ", ", r->setting_names[i]);
        }
        return k;
}

/* The session's readonly level: 2 for the reader and for GET (as the server's GET), or what the URL asks
 * for when it is stricter (readonly=1). A URL asking for 0 where 2 is required is refused by the engine:
 * that level cannot be lowered. */
static unsigned request_readonly(const Request *r, bool *ret_lowering) {
        unsigned level = (r->is_get || r->user == ENGINE_ROLE_READER) ? 2 : 0;

        *ret_lowering = false;
        for (size_t i = 0; i < r->n_settings; i++) {
                if (!streq(r->setting_names[i], "readonly"))
                        continue;
                const char *v = r->setting_values[i];
                if (streq(v, "1"))
                        level = 1;
                else if (streq(v, "2") && level == 0)
                        level = 2;
                else if (!streq(v, "2") && level > 0)
                        *ret_lowering = true;
        }
        return level;
}

/* The engine's message as the server would send it to this request. The engine authenticates every
 * statement as its user "default", whose roles are the endpoint's users: its messages say "default: Not
 * enough privileges ..."; name the user the client authenticated as instead. And for GET, the server
 * explains why a write is read-only. */
static char *engine_message_for_request(const char *message, const Request *r) {
        static const char readonly[] = "Cannot execute query in readonly mode.";
        const char *p = strstr(message, "DB::Exception: default: ");
        _cleanup_free_ char *named = NULL;
        char *m = NULL;

        if (p) {
                p += strlen("DB::Exception: ");
                if (asprintf(
                            &named,
                            "%.*s%s: %s",
                            (int) (p - message),
                            message,
                            engine_role_name(r->user),
                            p + strlen("default: ")) < 0)
                        return NULL;
                message = named;
        }
        p = r->is_get ? strstr(message, readonly) : NULL;
        if (!p)
                return strdup(message);
        p += strlen(readonly);
        if (asprintf(
                    &m,
                    "%.*s For queries over HTTP, method GET implies readonly. You should use method POST for "
                    "modifying queries.%s",
                    (int) (p - message),
                    message,
                    p) < 0)
                return NULL;
        return m;
}

enum MHD_Result request_run(Request *r, struct MHD_Connection *c) {
        HttpFrontend *f = r->f;
        StrBuf text = STRBUF_INIT(SIZE_MAX / 2), sql = STRBUF_INIT(SIZE_MAX / 2),
               settings = STRBUF_INIT(1024 * 1024), reset = STRBUF_INIT(1024 * 1024);
        EngineResult res = {};
        EngineSession *session = NULL;
        char format_buf[128];
        const char *format, *compression = "none";
        SqlStatement st = {};
        enum MHD_Result ret;
        int k = 0;

        if (r->body_error == 0 && r->decoder)
                r->body_error = body_decoder_finish(r->decoder, NULL, NULL);
        if (r->body_error == 0 && r->frames) {
                k = frame_decoder_finish(r->frames);
                r->body_error = k == -EBADMSG ? -EPROTO : k;
        }
        if (r->body_error < 0)
                return queue_body_error(r, c);

        if (r->streaming) {
                /* The rows arrived in tmp_fd; ?query= is the statement. */
                if (!r->decoded)
                        compression = body_encoding_to_compression(r->enc) ?: "none";
                st = r->url_statement;
                k = strbuf_puts(&text, r->query);
        } else if (r->multipart) {
                k = take_form(r, c, &text, &ret);
                if (k != 0) {
                        strbuf_done(&text);
                        return k < 0 ? MHD_NO : ret;
                }
        } else {
                /* ?query= and the body are one text, as the server reads them. */
                k = strbuf_puts(&text, strempty(r->query));
                if (k >= 0 && !isempty(r->query) && r->body.len > 0)
                        k = strbuf_append(&text, "\n", 1);
                if (k >= 0)
                        k = strbuf_append(&text, r->body.data ?: "", r->body.len);
                /* The body is in text now; drop the other copy before running. */
                strbuf_done(&r->body);
        }
        if (k >= 0 && !r->streaming)
                sql_analyze(text.data ?: "", text.len, &st);
        if (k < 0) {
                ret = MHD_NO;
                goto finish;
        }

        if (st.empty) {
                ret = queue_exceptionf(
                        f, c, r, r->query_id, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)");
                goto finish;
        }
        if (st.refusal != SQL_ACCEPTED) {
                log_info(
                        "Refused a statement of %s: %s",
                        engine_role_name(r->user),
                        sql_refusal_message(st.refusal));
                ret = queue_exception(f, c, r, r->query_id, sql_refusal_message(st.refusal));
                goto finish;
        }

        if (st.insert_data) {
                /* An INSERT's rows are never SQL: they reach the engine through a file, read by the format
                 * (a streamed body already is in one; inline rows are written to one now). This also spares
                 * whole INSERTs in the body (clickhouse-connect sends its inserts so) the engine's
                 * max_query_size cut of inline data. */
                if (!r->streaming) {
                        r->tmp_fd = open_tmp_file(f->tmp_dir);
                        if (r->tmp_fd < 0) {
                                log_error_errno(
                                        r->tmp_fd,
                                        "Failed to create a temporary file in %s: %m",
                                        f->tmp_dir);
                                ret = queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 76. DB::Exception: Cannot create a temporary file for the INSERT data: %s. (CANNOT_OPEN_FILE)",
                                        strerror(-r->tmp_fd));
                                goto finish;
                        }
                        k = loop_write(r->tmp_fd, text.data + st.data_at, text.len - st.data_at);
                        if (k < 0) {
                                log_error_errno(
                                        k, "Failed to write the INSERT data to a temporary file: %m");
                                ret = queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 1001. DB::Exception: Failed to write the INSERT data: %s. (STD_EXCEPTION)",
                                        strerror(-k));
                                goto finish;
                        }
                }
                char path[64];
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", r->tmp_fd);
                k = sql_append_insert_from_file(&sql, text.data, &st, path, compression);
        } else
                k = strbuf_append(&sql, text.data, st.sql_end);
        if (k >= 0)
                k = build_settings_sql(r, &settings);
        if (k >= 0 && r->session_id)
                k = build_reset_sql(r, &reset);
        if (k < 0) {
                ret = MHD_NO;
                goto finish;
        }

        /* The format the answer is in: the query's FORMAT clause, else default_format, else TabSeparated. */
        if (!r->streaming && !st.insert_data &&
            sql_format_clause(sql.data, sql.len, format_buf, sizeof(format_buf)))
                format = format_buf;
        else
                format = r->default_format ?: "TabSeparated";

        bool lowering;
        unsigned readonly = request_readonly(r, &lowering);
        if (lowering) {
                ret = queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 164. DB::Exception: %s: Cannot modify 'readonly' setting in readonly mode. (READONLY)",
                        engine_role_name(r->user));
                goto finish;
        }

        if (r->session_id) {
                uint32_t timeout = SESSION_TIMEOUT_DEFAULT;
                if (r->session_timeout)
                        (void) safe_atou32(r->session_timeout, &timeout);
                k = engine_acquire_named(
                        f->engine,
                        r->session_id,
                        r->user,
                        readonly,
                        timeout,
                        r->session_check,
                        r->close_session,
                        &session);
                if (k == -EBUSY)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 373. DB::Exception: Session %s is locked by a concurrent client. (SESSION_IS_LOCKED)",
                                r->session_id);
                else if (k == -ENOENT)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 372. DB::Exception: Session %s not found. (SESSION_NOT_FOUND)",
                                r->session_id);
                else if (k == -EUSERS)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 202. DB::Exception: Too many open sessions (at most 32); close one with close_session=1 or wait for one to time out. (TOO_MANY_SIMULTANEOUS_QUERIES)");
                else if (k < 0)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 1001. DB::Exception: Cannot open an engine session: %s. (STD_EXCEPTION)",
                                strerror(-k));
                if (k < 0)
                        goto finish;
        } else {
                k = engine_session_open(f->engine, r->user, readonly, &session);
                if (k < 0) {
                        log_error_errno(k, "Failed to open an engine session: %m");
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 1001. DB::Exception: Cannot open an engine session: %s. (STD_EXCEPTION)",
                                strerror(-k));
                        goto finish;
                }
        }

        /* The request's database and settings: its session is its own (or the client's named one), so
         * nothing is reset afterwards. */
        if (r->database) {
                StrBuf use = STRBUF_INIT(4096);
                k = strbuf_puts(&use, "USE ");
                if (k >= 0)
                        k = append_sql_identifier(&use, r->database);
                if (k >= 0)
                        k = engine_session_query(
                                f->engine, session, use.data, use.len, "TabSeparated", &res);
                strbuf_done(&use);
        }
        if (k >= 0 && !res.error && settings.len > 0) {
                engine_result_done(f->engine, &res);
                k = engine_session_query(
                        f->engine, session, settings.data, settings.len, "TabSeparated", &res);
        }
        if (k >= 0 && !res.error) {
                engine_result_done(f->engine, &res);
                k = engine_session_query(f->engine, session, sql.data, sql.len, format, &res);
        }
        if (reset.len > 0) {
                EngineResult r2 = {};
                if (engine_session_query(f->engine, session, reset.data, reset.len, "TabSeparated", &r2) ==
                            0 &&
                    r2.error)
                        log_warning("Failed to reset the session's settings: %s", r2.error);
                engine_result_done(f->engine, &r2);
        }
        engine_release(f->engine, session);

        if (k < 0) {
                log_error_errno(k, "Engine call failed: %m");
                ret = queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 1001. DB::Exception: engine call failed. (STD_EXCEPTION)");
        } else if (res.error) {
                _cleanup_free_ char *m = engine_message_for_request(res.error, r);
                ret = m ? queue_exception(f, c, r, r->query_id, m) : MHD_NO;
        } else
                ret = queue_result(r, c, r->query_id, format, &res);
        engine_result_done(f->engine, &res);

finish:
        strbuf_done(&text);
        strbuf_done(&sql);
        strbuf_done(&settings);
        strbuf_done(&reset);
        return ret;
}
