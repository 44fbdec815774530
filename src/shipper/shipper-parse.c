/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "shipper-json.h"
#include "shipper-parse.h"

static const char *const log_stream_table[_LOG_STREAM_MAX] = {
        [LOG_STREAM_STDOUT] = "stdout",
        [LOG_STREAM_STDERR] = "stderr",
        [LOG_STREAM_UNKNOWN] = "",
};

const char *log_stream_to_string(LogStream s) {
        return s >= 0 && s < _LOG_STREAM_MAX ? log_stream_table[s] : "";
}

int line_assembler_init(LineAssembler *a, size_t max_line) {
        *a = (LineAssembler){
                .max_line = max_line,
                /* A message is capped at max_line; the docker scratch holds one
                 * unescaped physical line, which the reader caps likewise. */
                .scratch.max = max_line + 64 * 1024,
                .overlong.max = max_line,
                .held_text.max = max_line,
        };
        for (int i = 0; i < _LOG_STREAM_MAX; i++)
                a->partial[i].text.max = max_line;
        return 0;
}

void line_assembler_done(LineAssembler *a) {
        for (int i = 0; i < _LOG_STREAM_MAX; i++)
                strbuf_done(&a->partial[i].text);
        strbuf_done(&a->scratch);
        strbuf_done(&a->overlong);
        strbuf_done(&a->held_text);
        free(a->held);
        a->held = NULL;
        a->n_held = a->held_alloc = 0;
}

static void held_forget(LineAssembler *a) {
        a->held_text.len = 0;
        a->n_held = a->n_copied = a->held_bytes = 0;
        a->handed_out = false;
}

void line_assembler_reset(LineAssembler *a) {
        for (int i = 0; i < _LOG_STREAM_MAX; i++) {
                a->partial[i].text.len = 0;
                a->partial[i].pending = a->partial[i].truncated = false;
        }
        a->overlong.len = 0;
        a->pending = a->in_overlong = false;
        held_forget(a);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        /* Howard Hinnant's algorithm: proleptic Gregorian date → days since 1970-01-01. */
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

static bool digits(const char *p, size_t n, unsigned *ret) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return false;
                v = v * 10 + (unsigned) (p[i] - '0');
        }
        *ret = v;
        return true;
}

int parse_rfc3339_ns(const char *p, size_t len, LineAssembler *cache, int64_t *ret) {
        unsigned Y, M, D, h, m, s;
        int64_t sec, ns = 0;
        size_t i = 19;

        if (len < 20 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
            p[13] != ':' || p[16] != ':')
                return -EINVAL;
        if (cache && memcmp(cache->tcache, p, 19) == 0)
                sec = cache->tcache_sec;
        else {
                if (!digits(p, 4, &Y) || !digits(p + 5, 2, &M) || !digits(p + 8, 2, &D) ||
                    !digits(p + 11, 2, &h) || !digits(p + 14, 2, &m) || !digits(p + 17, 2, &s))
                        return -EINVAL;
                if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60)
                        return -EINVAL;
                sec = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + s;
                if (cache) {
                        memcpy(cache->tcache, p, 19);
                        cache->tcache_sec = sec;
                }
        }
        if (i < len && p[i] == '.') {
                unsigned nd = 0;
                i++;
                if (i >= len || p[i] < '0' || p[i] > '9')
                        return -EINVAL;
                for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
                        if (nd < 9) {
                                ns = ns * 10 + (p[i] - '0');
                                nd++;
                        }
                for (; nd < 9; nd++)
                        ns *= 10;
        }
        if (i >= len)
                return -EINVAL;
        if (p[i] == 'Z' || p[i] == 'z')
                i++;
        else if (p[i] == '+' || p[i] == '-') {
                unsigned oh, om;
                if (len - i < 6 || !digits(p + i + 1, 2, &oh) || p[i + 3] != ':' ||
                    !digits(p + i + 4, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
                int64_t off = (int64_t) oh * 3600 + om * 60;
                sec += p[i] == '+' ? -off : off;
                i += 6;
        } else
                return -EINVAL;
        if (i != len)
                return -EINVAL;
        /* DateTime64(9) ends in 2262; anything outside 1900..2262 is refused. */
        if (sec < -2208988800LL || sec > 9223372035LL)
                return -ERANGE;
        *ret = sec * 1000000000LL + ns;
        return 0;
}

int parse_epoch_decimal_ns(const char *p, size_t len, int64_t *ret) {
        size_t i = 0;
        int64_t sec = 0, ns = 0;
        unsigned nd = 0, id = 0;

        if (len == 0)
                return -EINVAL;
        for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
                if (++id > 11)
                        return -ERANGE;
                sec = sec * 10 + (p[i] - '0');
        }
        if (id == 0)
                return -EINVAL;
        if (i < len && p[i] == '.') {
                i++;
                for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
                        if (nd < 9) {
                                ns = ns * 10 + (p[i] - '0');
                                nd++;
                        }
                if (nd == 0)
                        return -EINVAL;
        }
        if (i != len)
                return -EINVAL; /* exponent or garbage: caller falls back */
        for (; nd < 9; nd++)
                ns *= 10;
        if (sec > 9223372035LL)
                return -ERANGE;
        *ret = sec * 1000000000LL + ns;
        return 0;
}

/* Appends a part to the pending message, keeping at most max_line bytes. */
static void partial_append(LineAssembler *a, PartialMessage *pm, const char *p, size_t len) {
        size_t room = a->max_line - pm->text.len;
        if (len > room) {
                len = room;
                pm->truncated = true;
        }
        if (len == 0)
                return;
        if (strbuf_reserve(&pm->text, len) < 0) {
                pm->truncated = true;
                return;
        }
        strbuf_put(&pm->text, p, len);
}

static bool any_pending(const LineAssembler *a) {
        for (int i = 0; i < _LOG_STREAM_MAX; i++)
                if (a->partial[i].pending)
                        return true;
        return false;
}

/* One physical line's content. Returns 1 and fills *ret when it completes a message, 0 when it was a part
 * or an empty message. */
static int deliver(
        LineAssembler *a,
        const char *text,
        size_t len,
        bool part,
        LogFormat fmt,
        LogStream stream,
        int64_t time_ns,
        LogMessage *ret) {
        PartialMessage *pm = &a->partial[stream];

        if (part) {
                a->stats.partials++;
                if (!pm->pending) {
                        pm->pending = true;
                        pm->truncated = false;
                        pm->text.len = 0;
                        pm->time_ns = time_ns; /* a message carries its first part's time */
                        pm->format = fmt;
                }
                partial_append(a, pm, text, len);
                return 0;
        }
        if (pm->pending) {
                partial_append(a, pm, text, len);
                pm->pending = false;
                *ret = (LogMessage){
                        .text = pm->text.data,
                        .len = pm->text.len,
                        .time_ns = pm->time_ns,
                        .stream = stream,
                        .format = pm->format,
                        .truncated = pm->truncated,
                };
        } else {
                bool trunc = len > a->max_line;
                *ret = (LogMessage){
                        .text = text,
                        .len = trunc ? a->max_line : len,
                        .time_ns = time_ns,
                        .stream = stream,
                        .format = fmt,
                        .truncated = trunc,
                };
        }
        if (ret->truncated)
                a->stats.truncated++;
        if (ret->len == 0) {
                a->stats.empty++;
                return 0;
        }
        return 1;
}

static int held_grow(LineAssembler *a, size_t n) {
        if (a->n_held + n <= a->held_alloc)
                return 0;
        size_t alloc = MAX(a->held_alloc * 2, a->n_held + n + 8);
        LogMessage *h = reallocarray(a->held, alloc, sizeof(LogMessage));
        if (!h)
                return -ENOMEM;
        a->held = h;
        a->held_alloc = alloc;
        return 0;
}

/* Keeps a copy of m until the next boundary. */
static int held_copy(LineAssembler *a, const LogMessage *m) {
        int r;

        assert(a->n_copied == a->n_held);
        r = held_grow(a, 1);
        if (r < 0)
                return r;
        r = strbuf_reserve(&a->held_text, m->len);
        if (r < 0)
                return r;
        strbuf_put(&a->held_text, m->text, m->len);
        a->held[a->n_held] = *m;
        a->held[a->n_held].text = NULL; /* set when handed out: held_text may move until then */
        a->n_held++;
        a->n_copied++;
        a->held_bytes += m->len + LINE_ASSEMBLER_HELD_OVERHEAD;
        return 0;
}

/* Adds m by reference, after the copies: for the messages handed out right away. */
static void held_ref(LineAssembler *a, const LogMessage *m) {
        a->held[a->n_held++] = *m;
}

/* Points the copies at their texts, which no longer move. */
static void fix_copies(LineAssembler *a) {
        size_t off = 0;
        for (size_t i = 0; i < a->n_copied; i++) {
                a->held[i].text = a->held_text.data + off;
                off += a->held[i].len;
        }
}

/* A boundary: every message completed since the previous one, m (if any) last. */
static int hand_out(LineAssembler *a, const LogMessage *m, const LogMessage **ret_msgs, size_t *ret_n) {
        int r;

        if (a->n_held == 0) {
                /* The common case: nothing held, nothing to copy. */
                if (m) {
                        r = held_grow(a, 1);
                        if (r < 0)
                                return r;
                        a->held[0] = *m;
                        a->n_held = 1;
                }
        } else {
                fix_copies(a);
                if (m) {
                        r = held_grow(a, 1);
                        if (r < 0)
                                return r;
                        held_ref(a, m);
                }
        }
        *ret_msgs = a->held;
        *ret_n = a->n_held;
        a->handed_out = true;
        return 1;
}

/* Ends every message in parts where it is (marked truncated) and hands out everything held, then them,
 * then m (if any). */
static int cut(LineAssembler *a, const LogMessage *m, const LogMessage **ret_msgs, size_t *ret_n) {
        int r;

        r = held_grow(a, _LOG_STREAM_MAX + 1);
        if (r < 0)
                return r;
        for (int s = 0; s < _LOG_STREAM_MAX; s++) {
                PartialMessage *pm = &a->partial[s];
                if (!pm->pending)
                        continue;
                pm->pending = false;
                a->stats.cut++;
                a->stats.truncated++;
                if (pm->text.len == 0) {
                        a->stats.empty++;
                        continue;
                }
                held_ref(
                        a,
                        &(LogMessage){
                                .text = pm->text.data,
                                .len = pm->text.len,
                                .time_ns = pm->time_ns,
                                .stream = (LogStream) s,
                                .format = pm->format,
                                .truncated = true,
                        });
        }
        a->pending = false;
        fix_copies(a);
        if (m)
                held_ref(a, m);
        *ret_msgs = a->held;
        *ret_n = a->n_held;
        a->handed_out = true;
        return 1;
}

/* After a line: hands out at a boundary, holds what was completed otherwise. */
static int settle(LineAssembler *a, const LogMessage *m, const LogMessage **ret_msgs, size_t *ret_n) {
        a->pending = any_pending(a);
        if (!a->pending)
                return hand_out(a, m, ret_msgs, ret_n);
        if (!m)
                return 0;
        if (a->held_bytes + m->len + LINE_ASSEMBLER_HELD_OVERHEAD <= a->max_line)
                return held_copy(a, m);

        /* The bound: cut the messages in parts here and hand everything out. */
        return cut(a, m, ret_msgs, ret_n);
}

int line_assembler_cut(LineAssembler *a, const LogMessage **ret_msgs, size_t *ret_n) {
        if (!a->pending) {
                *ret_n = 0;
                return 0;
        }
        return cut(a, NULL, ret_msgs, ret_n);
}

static LogStream parse_stream(const char *p, size_t n) {
        if (n == 6 && memcmp(p, "stdout", 6) == 0)
                return LOG_STREAM_STDOUT;
        if (n == 6 && memcmp(p, "stderr", 6) == 0)
                return LOG_STREAM_STDERR;
        return LOG_STREAM_UNKNOWN;
}

/* CRI: `<time> <stream> <tags> <text>`; tags is `P` or `F` (possibly more
 * ':'-separated tags in later versions: the first one decides). Returns 1/0
 * like line_assembler_feed(), or -EINVAL when the line is not CRI. */
static int feed_cri(LineAssembler *a, const char *line, size_t len, LogMessage *ret) {
        const char *end = line + len, *t, *s, *g, *msg;
        int64_t ns;
        LogStream stream;
        bool part;

        t = memchr(line, ' ', len);
        if (!t || parse_rfc3339_ns(line, (size_t) (t - line), a, &ns) < 0)
                return -EINVAL;
        s = memchr(t + 1, ' ', (size_t) (end - t - 1));
        if (!s)
                return -EINVAL;
        stream = parse_stream(t + 1, (size_t) (s - t - 1));
        if (stream == LOG_STREAM_UNKNOWN)
                return -EINVAL;
        g = s + 1;
        if (g >= end || (*g != 'P' && *g != 'F'))
                return -EINVAL;
        part = *g == 'P';
        /* The text starts after the tag field's space; an empty F line may end
         * right after the tag. */
        msg = memchr(g, ' ', (size_t) (end - g));
        if (!msg) {
                if (end - g != 1)
                        return -EINVAL;
                msg = end;
        } else {
                if (msg - g != 1 && g[1] != ':')
                        return -EINVAL;
                msg++;
        }
        a->stats.format[LOG_FORMAT_CRI]++;
        return deliver(a, msg, (size_t) (end - msg), part, LOG_FORMAT_CRI, stream, ns, ret);
}

/* The exact shape docker's json-file driver writes:
 * {"log":"…","stream":"stdout","time":"…"} — decoded in one pass. Returns
 * -EAGAIN for anything else (the general path takes over). */
static int feed_docker_fast(LineAssembler *a, const char *line, size_t len, LogMessage *ret) {
        static const char head[] = "{\"log\":\"", mid1[] = ",\"stream\":\"", mid2[] = "\",\"time\":\"";
        const char *end = line + len, *p, *q, *s, *t;
        LogStream stream;
        int64_t ns;
        bool part;

        if (len < sizeof(head) - 1 || memcmp(line, head, sizeof(head) - 1) != 0)
                return -EAGAIN;
        a->scratch.len = 0;
        if (strbuf_reserve(&a->scratch, len) < 0)
                return -EAGAIN;
        q = json_unescape_string(&a->scratch, line + sizeof(head) - 1, end);
        if (!q)
                return -EAGAIN;
        p = q + 1;
        if ((size_t) (end - p) < sizeof(mid1) - 1 || memcmp(p, mid1, sizeof(mid1) - 1) != 0)
                return -EAGAIN;
        s = p + sizeof(mid1) - 1;
        p = memchr(s, '"', (size_t) (end - s));
        if (!p || (size_t) (end - p) < sizeof(mid2) - 1 || memcmp(p, mid2, sizeof(mid2) - 1) != 0)
                return -EAGAIN;
        stream = parse_stream(s, (size_t) (p - s));
        t = p + sizeof(mid2) - 1;
        p = memchr(t, '"', (size_t) (end - t));
        if (!p || end - p != 2 || p[1] != '}' || parse_rfc3339_ns(t, (size_t) (p - t), a, &ns) < 0 ||
            stream == LOG_STREAM_UNKNOWN)
                return -EAGAIN;
        a->stats.format[LOG_FORMAT_DOCKER]++;
        part = !(a->scratch.len > 0 && a->scratch.data[a->scratch.len - 1] == '\n');
        if (!part)
                a->scratch.len--;
        return deliver(a, a->scratch.data, a->scratch.len, part, LOG_FORMAT_DOCKER, stream, ns, ret);
}

static int feed_docker(LineAssembler *a, const char *line, size_t len, LogMessage *ret) {
        JsonField f[8];
        size_t n, dropped;
        const JsonField *log = NULL;
        LogStream stream = LOG_STREAM_UNKNOWN;
        int64_t ns = 0;
        bool part;
        int r;

        r = json_scan_object(line, len, f, 8, &n, &dropped);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (f[i].key_len == 3 && memcmp(f[i].key, "log", 3) == 0 && f[i].type == JSON_STRING)
                        log = &f[i];
                else if (f[i].key_len == 6 && memcmp(f[i].key, "stream", 6) == 0 && f[i].type == JSON_STRING)
                        stream = parse_stream(f[i].val, f[i].val_len);
                else if (f[i].key_len == 4 && memcmp(f[i].key, "time", 4) == 0 && f[i].type == JSON_STRING)
                        (void) parse_rfc3339_ns(f[i].val, f[i].val_len, a, &ns);
        }
        if (!log)
                return -EINVAL; /* a JSON line, but not docker's: the caller ships it raw */

        a->scratch.len = 0;
        r = json_unescape_append(&a->scratch, log->val, log->val_len);
        if (r < 0)
                return r;
        a->stats.format[LOG_FORMAT_DOCKER]++;
        /* docker ends every complete line with "\n"; a part has none. */
        part = !(a->scratch.len > 0 && a->scratch.data[a->scratch.len - 1] == '\n');
        if (!part)
                a->scratch.len--;
        return deliver(a, a->scratch.data, a->scratch.len, part, LOG_FORMAT_DOCKER, stream, ns, ret);
}

static int feed_line(LineAssembler *a, const char *line, size_t len, LogMessage *ret) {
        int r;

        a->stats.lines++;
        if (len > 0 && line[0] == '{') {
                r = feed_docker_fast(a, line, len, ret);
                if (r != -EAGAIN)
                        return r;
                r = feed_docker(a, line, len, ret);
                if (r != -EINVAL)
                        return r;
        } else if (len > 0 && line[0] >= '0' && line[0] <= '9') {
                r = feed_cri(a, line, len, ret);
                if (r != -EINVAL)
                        return r;
        }
        a->stats.format[LOG_FORMAT_RAW]++;
        return deliver(a, line, len, false, LOG_FORMAT_RAW, LOG_STREAM_UNKNOWN, 0, ret);
}

int line_assembler_feed(
        LineAssembler *a, const char *line, size_t len, const LogMessage **ret_msgs, size_t *ret_n) {
        LogMessage m;
        int r;

        if (a->handed_out)
                held_forget(a);
        r = feed_line(a, line, len, &m);
        if (r < 0)
                return r;
        return settle(a, r > 0 ? &m : NULL, ret_msgs, ret_n);
}

int line_assembler_overlong_piece(LineAssembler *a, const char *p, size_t len) {
        size_t room = a->max_line - a->overlong.len;
        int r;

        if (a->handed_out)
                held_forget(a);
        a->in_overlong = true;
        if (len > room)
                len = room;
        if (len == 0)
                return 0;
        r = strbuf_reserve(&a->overlong, len);
        if (r < 0)
                return r;
        strbuf_put(&a->overlong, p, len);
        return 0;
}

int line_assembler_overlong_end(
        LineAssembler *a, const char *p, size_t len, const LogMessage **ret_msgs, size_t *ret_n) {
        int r;

        r = line_assembler_overlong_piece(a, p, len);
        if (r < 0)
                return r;
        a->in_overlong = false;
        a->stats.lines++;
        a->stats.format[LOG_FORMAT_RAW]++;
        a->stats.truncated++;
        size_t n = a->overlong.len;
        a->overlong.len = 0; /* data stays valid until the next piece */
        /* A raw line: a message of no stream, held like any other while parts are pending. */
        return settle(
                a,
                &(LogMessage){
                        .text = a->overlong.data,
                        .len = n,
                        .stream = LOG_STREAM_UNKNOWN,
                        .format = LOG_FORMAT_RAW,
                        .truncated = true,
                },
                ret_msgs,
                ret_n);
}
