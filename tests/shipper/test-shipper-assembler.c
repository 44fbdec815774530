/* SPDX-License-Identifier: MIT */
/* The line assembler and the reader with the parts of stdout and stderr between each other's: each stream's
 * message joined from its own parts, offsets reported only where no stream has one in parts, and reading
 * again from any reported offset giving the same messages at the same offsets. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shipper-batch.h"
#include "shipper-config.h"
#include "shipper-file.h"
#include "shipper-parse.h"
#include "shipper-reader.h"

#define T0 "2024-02-18T16:00:00.5Z"
#define T1 "2024-02-18T16:00:01Z"
#define T2 "2024-02-18T16:00:02Z"
#define T0_NS INT64_C(1708272000500000000)

/* A message handed out, copied. */
typedef struct Msg {
        char *text;
        size_t len;
        LogStream stream;
        LogFormat format;
        int64_t time_ns;
        bool truncated;
} Msg;

typedef struct Out {
        Msg *v;
        size_t n;
        size_t lines_handing_out; /* boundaries reached */
} Out;

static void out_add(Out *o, const LogMessage *m) {
        o->v = reallocarray(o->v, o->n + 1, sizeof(Msg));
        cr_assert_not_null(o->v);
        char *text = malloc(m->len + 1); /* texts are not NUL-terminated */
        cr_assert_not_null(text);
        memcpy(text, m->text, m->len);
        text[m->len] = 0;
        o->v[o->n++] = (Msg){
                .text = text,
                .len = m->len,
                .stream = m->stream,
                .format = m->format,
                .time_ns = m->time_ns,
                .truncated = m->truncated,
        };
}

static void out_done(Out *o) {
        for (size_t i = 0; i < o->n; i++)
                free(o->v[i].text);
        free(o->v);
        *o = (Out){};
}

/* Feeds one line; returns whether it was a boundary. Messages handed out go to o. */
static bool feed(LineAssembler *a, const char *line, Out *o) {
        const LogMessage *v = NULL;
        size_t n = 0;
        int r = line_assembler_feed(a, line, strlen(line), &v, &n);
        cr_assert_geq(r, 0, "feeding %s: %d", line, r);
        cr_assert(r == 1 || n == 0);
        cr_assert_eq(r == 0, a->pending, "boundary exactly when nothing is in parts");
        for (size_t i = 0; i < n; i++)
                out_add(o, &v[i]);
        if (r == 1)
                o->lines_handing_out++;
        return r == 1;
}

static void expect(const Out *o, size_t i, LogStream stream, const char *text) {
        cr_assert_lt(i, o->n, "message %zu missing (%zu handed out)", i, o->n);
        cr_assert_eq(o->v[i].stream, stream, "message %zu: stream %d, want %d", i, o->v[i].stream, stream);
        cr_assert_str_eq(o->v[i].text, text, "message %zu", i);
}

static char *docker(const char *stream, const char *text, bool newline) {
        char *s;
        cr_assert_geq(
                asprintf(
                        &s,
                        "{\"log\":\"%s%s\",\"stream\":\"%s\",\"time\":\"" T1 "\"}",
                        text,
                        newline ? "\\n" : "",
                        stream),
                0);
        return s;
}

static bool feed_docker(LineAssembler *a, const char *stream, const char *text, bool newline, Out *o) {
        char *s = docker(stream, text, newline);
        bool r = feed(a, s, o);
        free(s);
        return r;
}

Test(interleave, cri_stdout_part_stderr_full_stdout_full) {
        LineAssembler a;
        Out o = {};
        line_assembler_init(&a, 1024);
        cr_assert_not(feed(&a, T0 " stdout P {\"level\":\"info\",\"msg\":\"long ", &o));
        cr_assert_not(feed(&a, T1 " stderr F {\"level\":\"error\",\"msg\":\"in between\"}", &o));
        cr_assert_eq(o.n, 0, "the stderr line is held while stdout has a part");
        cr_assert(feed(&a, T2 " stdout F line\"}", &o));
        cr_assert_eq(o.n, 2);
        expect(&o, 0, LOG_STREAM_STDERR, "{\"level\":\"error\",\"msg\":\"in between\"}");
        expect(&o, 1, LOG_STREAM_STDOUT, "{\"level\":\"info\",\"msg\":\"long line\"}");
        cr_assert_eq(o.v[1].time_ns, T0_NS, "a message carries its first part's time");
        cr_assert_eq(o.v[0].format, LOG_FORMAT_CRI);
        cr_assert_not(o.v[0].truncated || o.v[1].truncated);
        cr_assert_eq(a.stats.partials, 1);
        cr_assert_eq(a.stats.cut, 0);
        out_done(&o);
        line_assembler_done(&a);
}

Test(interleave, docker_stdout_part_stderr_full_stdout_full) {
        LineAssembler a;
        Out o = {};
        line_assembler_init(&a, 1024);
        cr_assert_not(feed_docker(&a, "stdout", "ab", false, &o));
        cr_assert_not(feed_docker(&a, "stderr", "err \\\"quoted\\\"", true, &o));
        cr_assert_not(feed_docker(&a, "stdout", "cd", false, &o));
        cr_assert(feed_docker(&a, "stdout", "ef", true, &o));
        cr_assert_eq(o.n, 2);
        expect(&o, 0, LOG_STREAM_STDERR, "err \"quoted\"");
        expect(&o, 1, LOG_STREAM_STDOUT, "abcdef");
        cr_assert_eq(o.v[1].format, LOG_FORMAT_DOCKER);
        cr_assert_eq(a.stats.partials, 2);
        out_done(&o);
        line_assembler_done(&a);
}

/* The same through the general docker path (fields in another order). */
Test(interleave, docker_general_path) {
        LineAssembler a;
        Out o = {};
        line_assembler_init(&a, 1024);
        cr_assert_not(feed(&a, "{\"stream\":\"stderr\",\"log\":\"e1\",\"time\":\"" T0 "\"}", &o));
        cr_assert_not(feed(&a, "{\"stream\":\"stdout\",\"log\":\"o1\\n\",\"time\":\"" T1 "\"}", &o));
        cr_assert(feed(&a, "{\"stream\":\"stderr\",\"log\":\"e2\\n\",\"time\":\"" T2 "\"}", &o));
        cr_assert_eq(o.n, 2);
        expect(&o, 0, LOG_STREAM_STDOUT, "o1");
        expect(&o, 1, LOG_STREAM_STDERR, "e1e2");
        cr_assert_eq(o.v[1].time_ns, T0_NS);
        out_done(&o);
        line_assembler_done(&a);
}

/* Both streams in parts at once, crossing; several groups one after the other; lines of neither format. */
Test(interleave, several_groups_both_in_parts) {
        LineAssembler a;
        Out o = {};
        line_assembler_init(&a, 1024);
        cr_assert_not(feed(&a, T0 " stdout P o1a", &o));
        cr_assert_not(feed(&a, T0 " stderr P e1a", &o));
        cr_assert_not(feed(&a, T0 " stdout P o1b", &o));
        cr_assert_not(feed(&a, "not a container line", &o));
        cr_assert_not(feed(&a, T0 " stdout F o1c", &o), "stderr still has a part");
        cr_assert(feed(&a, T0 " stderr F e1b", &o));
        cr_assert_eq(o.n, 3);
        expect(&o, 0, LOG_STREAM_UNKNOWN, "not a container line");
        expect(&o, 1, LOG_STREAM_STDOUT, "o1ao1bo1c");
        expect(&o, 2, LOG_STREAM_STDERR, "e1ae1b");

        cr_assert(feed(&a, T1 " stdout F plain", &o), "nothing in parts: handed out at once");
        expect(&o, 3, LOG_STREAM_STDOUT, "plain");

        cr_assert_not(feed(&a, T1 " stderr P e2a", &o));
        cr_assert_not(feed(&a, T1 " stdout F o2", &o));
        cr_assert_not(feed(&a, T1 " stdout F o3", &o));
        cr_assert_not(feed(&a, T1 " stderr P e2b", &o));
        cr_assert(feed(&a, T1 " stderr F ", &o));
        cr_assert_eq(o.n, 7);
        expect(&o, 4, LOG_STREAM_STDOUT, "o2");
        expect(&o, 5, LOG_STREAM_STDOUT, "o3");
        expect(&o, 6, LOG_STREAM_STDERR, "e2ae2b");
        cr_assert_eq(o.lines_handing_out, 3);
        for (size_t i = 0; i < o.n; i++)
                cr_assert_not(o.v[i].truncated);
        out_done(&o);
        line_assembler_done(&a);
}

/* A 200 KiB stdout line in 16 KiB parts, with a stderr line between each two parts (both formats). */
static void long_line_in_parts(bool cri) {
        enum { PART = 16 * 1024, TOTAL = 200 * 1024 };
        LineAssembler a;
        Out o = {};
        char *expected = malloc(TOTAL + 1), *part = malloc(PART + 1), *line;
        size_t n_err = 0;

        cr_assert(expected && part);
        for (size_t i = 0; i < TOTAL; i++)
                expected[i] = (char) ('a' + (i * 7 + i / 1000) % 26);
        expected[TOTAL] = 0;
        line_assembler_init(&a, 256 * 1024);
        for (size_t off = 0; off < TOTAL; off += PART) {
                size_t len = off + PART < TOTAL ? PART : TOTAL - off;
                bool last = off + len == TOTAL;
                memcpy(part, expected + off, len);
                part[len] = 0;
                if (cri)
                        cr_assert_geq(asprintf(&line, T0 " stdout %s %s", last ? "F" : "P", part), 0);
                else
                        line = docker("stdout", part, last);
                cr_assert_eq(feed(&a, line, &o), last);
                free(line);
                if (last)
                        break;
                char err[64];
                snprintf(err, sizeof(err), "error %zu", n_err++);
                if (cri) {
                        cr_assert_geq(asprintf(&line, T1 " stderr F %s", err), 0);
                        cr_assert_not(feed(&a, line, &o));
                        free(line);
                } else
                        cr_assert_not(feed_docker(&a, "stderr", err, true, &o));
        }
        cr_assert_eq(n_err, 12);
        cr_assert_eq(o.n, n_err + 1);
        for (size_t i = 0; i < n_err; i++) {
                char err[64];
                snprintf(err, sizeof(err), "error %zu", i);
                expect(&o, i, LOG_STREAM_STDERR, err);
        }
        cr_assert_eq(o.v[n_err].len, TOTAL);
        expect(&o, n_err, LOG_STREAM_STDOUT, expected);
        cr_assert_not(o.v[n_err].truncated);
        cr_assert_eq(a.stats.truncated, 0);
        out_done(&o);
        line_assembler_done(&a);
        free(expected);
        free(part);
}

Test(interleave, long_line_cri) {
        long_line_in_parts(true);
}

Test(interleave, long_line_docker) {
        long_line_in_parts(false);
}

/* Messages held while a part waits are bounded: past max_line bytes (with the overhead per message) the
 * message in parts is cut, marked truncated, and everything is handed out; its later parts are a new
 * message. Nothing is lost. */
Test(interleave, held_bound_cuts) {
        LineAssembler a;
        Out o = {};
        size_t i, handed;
        line_assembler_init(&a, 256);
        cr_assert_not(feed(&a, T0 " stdout P head", &o));
        /* Each 20-byte line is held at a cost of 84: a fourth would pass 256. */
        for (i = 0; i < 3; i++)
                cr_assert_not(feed(&a, T1 " stderr F 0123456789abcdefghij", &o));
        cr_assert(feed(&a, T1 " stderr F 0123456789ABCDEFGHIJ", &o));
        handed = o.n;
        cr_assert_eq(handed, 5);
        for (i = 0; i < 3; i++)
                expect(&o, i, LOG_STREAM_STDERR, "0123456789abcdefghij");
        expect(&o, 3, LOG_STREAM_STDOUT, "head");
        cr_assert(o.v[3].truncated, "the message in parts is marked as cut");
        expect(&o, 4, LOG_STREAM_STDERR, "0123456789ABCDEFGHIJ");
        cr_assert_not(o.v[4].truncated);
        cr_assert_eq(a.stats.cut, 1);
        cr_assert(feed(&a, T2 " stdout F tail", &o));
        expect(&o, 5, LOG_STREAM_STDOUT, "tail");
        out_done(&o);
        line_assembler_done(&a);
}

Test(interleave, reset_forgets_parts_and_held) {
        LineAssembler a;
        Out o = {};
        line_assembler_init(&a, 1024);
        cr_assert_not(feed(&a, T0 " stdout P gone", &o));
        cr_assert_not(feed(&a, T0 " stderr F gone too", &o));
        line_assembler_reset(&a);
        cr_assert_not(a.pending);
        cr_assert(feed(&a, T0 " stdout F fresh", &o));
        cr_assert_eq(o.n, 1);
        expect(&o, 0, LOG_STREAM_STDOUT, "fresh");
        out_done(&o);
        line_assembler_done(&a);
}

/* --- through the reader, from a file --- */

typedef struct Boundary {
        uint64_t end;
        size_t first, n; /* messages [first, first + n) of the run */
} Boundary;

typedef struct Run {
        Out out;
        Boundary *b;
        size_t n_b;
} Run;

static int on_boundary(void *userdata, const LogMessage *msgs, size_t n, uint64_t end) {
        Run *run = userdata;
        if (run->n_b > 0)
                cr_assert_gt(end, run->b[run->n_b - 1].end);
        run->b = reallocarray(run->b, run->n_b + 1, sizeof(Boundary));
        cr_assert_not_null(run->b);
        run->b[run->n_b++] = (Boundary){.end = end, .first = run->out.n, .n = n};
        for (size_t i = 0; i < n; i++)
                out_add(&run->out, &msgs[i]);
        return 0;
}

static void read_from(int fd, size_t max_line, uint64_t offset, Run *run) {
        Reader rd;
        cr_assert_eq(reader_init(&rd, max_line), 0);
        reader_reset(&rd, fd, offset);
        cr_assert_eq(reader_run(&rd, SIZE_MAX, on_boundary, run), 1);
        reader_done(&rd);
}

static void run_done(Run *run) {
        out_done(&run->out);
        free(run->b);
        *run = (Run){};
}

static int temp_file(const char *content, size_t len) {
        char path[] = "/tmp/test-shipper-assembler-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        unlink(path);
        cr_assert_eq(write(fd, content, len), (ssize_t) len);
        return fd;
}

/* Reading again from any offset the reader reported gives the rest of the first reading exactly: what
 * makes a checkpointed offset and a batch's range safe to resume from and to rebuild. */
static void check_resume_anywhere(const char *content, size_t max_line) {
        Run all = {};
        int fd = temp_file(content, strlen(content));

        read_from(fd, max_line, 0, &all);
        cr_assert_eq(all.b[all.n_b - 1].end, strlen(content), "the whole file is read");
        for (size_t k = 0; k < all.n_b; k++) {
                Run rest = {};
                read_from(fd, max_line, all.b[k].end, &rest);
                size_t first = all.b[k].first + all.b[k].n;
                cr_assert_eq(rest.n_b, all.n_b - k - 1, "from %llu", (unsigned long long) all.b[k].end);
                cr_assert_eq(rest.out.n, all.out.n - first);
                for (size_t j = 0; j < rest.n_b; j++) {
                        cr_assert_eq(rest.b[j].end, all.b[k + 1 + j].end);
                        cr_assert_eq(rest.b[j].n, all.b[k + 1 + j].n);
                }
                for (size_t j = 0; j < rest.out.n; j++) {
                        const Msg *x = &rest.out.v[j], *y = &all.out.v[first + j];
                        cr_assert_str_eq(x->text, y->text);
                        cr_assert_eq(x->stream, y->stream);
                        cr_assert_eq(x->time_ns, y->time_ns);
                        cr_assert_eq(x->truncated, y->truncated);
                }
                run_done(&rest);
        }
        close(fd);
        run_done(&all);
}

static const char interleaved_cri[] =
        T0 " stdout P a1\n" T0 " stderr F b1\n" T0 " stdout P a2\n" T0 " stderr P b2\n" T0
           " stdout F a3\n" T0 " stdout F a4\n" T0 " stderr F b3\n" T0 " stdout F a5\n" T0
           " stderr P b4\n" T0 " stderr F b5\n" T0 " stdout P a6\n" T0 " stderr F b6\n" T0 " stdout F a7\n";

Test(reader, interleaved_cri_offsets) {
        Run run = {};
        int fd = temp_file(interleaved_cri, strlen(interleaved_cri));
        read_from(fd, 1024, 0, &run);
        close(fd);
        /* Boundaries after lines 7, 8, 10 and 13. */
        cr_assert_eq(run.n_b, 4);
        cr_assert_eq(run.out.n, 8);
        expect(&run.out, 0, LOG_STREAM_STDERR, "b1");
        expect(&run.out, 1, LOG_STREAM_STDOUT, "a1a2a3");
        expect(&run.out, 2, LOG_STREAM_STDOUT, "a4");
        expect(&run.out, 3, LOG_STREAM_STDERR, "b2b3");
        expect(&run.out, 4, LOG_STREAM_STDOUT, "a5");
        expect(&run.out, 5, LOG_STREAM_STDERR, "b4b5");
        expect(&run.out, 6, LOG_STREAM_STDERR, "b6");
        expect(&run.out, 7, LOG_STREAM_STDOUT, "a6a7");
        cr_assert_eq(run.b[0].n, 4);
        run_done(&run);
        check_resume_anywhere(interleaved_cri, 1024);
}

Test(reader, interleaved_docker_and_cut_resume_anywhere) {
        char *s = NULL, *l;
        size_t len = 0;
        FILE *m = open_memstream(&s, &len);
        /* Groups, a held bound that is passed (max_line 512), and plain lines. */
        for (int g = 0; g < 12; g++) {
                char text[64];
                l = docker("stdout", "part-", false);
                fprintf(m, "%s\n", l);
                free(l);
                for (int k = 0; k < g; k++) {
                        snprintf(text, sizeof(text), "err-%d-%d", g, k);
                        l = docker("stderr", text, k % 3 != 0);
                        fprintf(m, "%s\n", l);
                        free(l);
                }
                l = docker("stderr", "end", true);
                fprintf(m, "%s\n", l);
                free(l);
                snprintf(text, sizeof(text), "tail-%d", g);
                l = docker("stdout", text, true);
                fprintf(m, "%s\n", l);
                free(l);
        }
        fclose(m);
        check_resume_anywhere(s, 512);

        /* Every byte of every message arrives once: the stdout messages are "part-tail-N" (or cut in two).
         */
        Run run = {};
        int fd = temp_file(s, len);
        read_from(fd, 512, 0, &run);
        close(fd);
        size_t tails = 0, cut = 0;
        for (size_t i = 0; i < run.out.n; i++) {
                const Msg *x = &run.out.v[i];
                if (x->stream != LOG_STREAM_STDOUT)
                        continue;
                if (strncmp(x->text, "part-tail-", 10) == 0)
                        tails++;
                else if (strcmp(x->text, "part-") == 0) {
                        cr_assert(x->truncated);
                        cut++;
                } else
                        cr_assert_eq(strncmp(x->text, "tail-", 5), 0, "%s", x->text);
        }
        cr_assert_eq(tails + cut, 12);
        cr_assert_gt(cut, 0, "the bound was passed in some groups");
        cr_assert_gt(tails, 0);
        run_done(&run);
        free(s);
}

/* A physical line longer than the reader's buffer while stdout has a part: kept (cut at max_line) and
 * handed out with the rest, nothing of stdout lost. */
Test(reader, overlong_line_between_parts) {
        enum { LONG = 300 * 1024 };
        char *s = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&s, &len);
        fputs(T0 " stdout P ab\n", m);
        for (size_t i = 0; i < LONG; i++)
                fputc('x', m);
        fputs("\n" T0 " stdout F cd\n", m);
        fclose(m);
        Run run = {};
        int fd = temp_file(s, len);
        read_from(fd, 1024, 0, &run);
        close(fd);
        cr_assert_eq(run.out.n, 3);
        expect(&run.out, 0, LOG_STREAM_STDOUT, "ab");
        cr_assert(run.out.v[0].truncated);
        cr_assert_eq(run.out.v[1].len, 1024);
        cr_assert_eq(run.out.v[1].format, LOG_FORMAT_RAW);
        cr_assert(run.out.v[1].truncated);
        expect(&run.out, 2, LOG_STREAM_STDOUT, "cd");
        run_done(&run);
        free(s);
}

/* --- cuts where a boundary must be --- */

static void read_from_cut(int fd, size_t max_line, uint64_t offset, uint64_t cut_at, Run *run) {
        Reader rd;
        cr_assert_eq(reader_init(&rd, max_line), 0);
        reader_reset(&rd, fd, offset);
        reader_cut_at(&rd, cut_at);
        cr_assert_eq(reader_run(&rd, SIZE_MAX, on_boundary, run), 1);
        reader_done(&rd);
}

/* A recorded batch end where messages in parts were cut: reading from an earlier boundary with that offset
 * to cut at gives it again, with the same messages; the rest reads the same from there. */
Test(reader, cut_at_offset) {
        /* Lines of the same length; cut after the third. */
        static const char content[] = T0 " stdout P a1\n" T0 " stderr F b1\n" T0 " stdout P a2\n" T0
                                         " stderr P b2\n" T0 " stdout F a3\n" T0 " stderr F b3\n";
        size_t line = strlen(T0 " stdout P a1\n");
        Run run = {}, rest = {}, plain = {};
        int fd = temp_file(content, strlen(content));

        read_from_cut(fd, 1024, 0, 3 * line, &run);
        cr_assert_eq(run.n_b, 2);
        cr_assert_eq(run.b[0].end, 3 * line);
        cr_assert_eq(run.b[0].n, 2);
        expect(&run.out, 0, LOG_STREAM_STDERR, "b1");
        expect(&run.out, 1, LOG_STREAM_STDOUT, "a1a2");
        cr_assert(run.out.v[1].truncated, "cut");
        cr_assert_not(run.out.v[0].truncated);
        expect(&run.out, 2, LOG_STREAM_STDOUT, "a3");
        expect(&run.out, 3, LOG_STREAM_STDERR, "b2b3");

        read_from(fd, 1024, run.b[0].end, &rest);
        cr_assert_eq(rest.out.n, 2);
        expect(&rest.out, 0, LOG_STREAM_STDOUT, "a3");
        expect(&rest.out, 1, LOG_STREAM_STDERR, "b2b3");

        /* Without the offset, no cut: one boundary at the end. */
        read_from(fd, 1024, 0, &plain);
        cr_assert_eq(plain.n_b, 1);
        expect(&plain.out, 1, LOG_STREAM_STDOUT, "a1a2a3");
        close(fd);
        run_done(&run);
        run_done(&rest);
        run_done(&plain);
}

/* At the end of a file that no longer grows: the messages in parts and those held are handed out, at the
 * offset after the last complete line (an unterminated line after it is left alone). */
Test(reader, cut_at_end) {
        static const char content[] = T0 " stdout F a0\n" T0 " stdout P never ends\n" T0 " stderr F b1\n" T0
                                         " stderr F b2\n" T0 " stderr F unterminat";
        Run run = {};
        int fd = temp_file(content, strlen(content));
        Reader rd;

        cr_assert_eq(reader_init(&rd, 1024), 0);
        reader_reset(&rd, fd, 0);
        cr_assert_eq(reader_run(&rd, SIZE_MAX, on_boundary, &run), 1);
        cr_assert_eq(run.out.n, 1);
        cr_assert(rd.asm_.pending);
        cr_assert_eq(reader_cut(&rd, on_boundary, &run), 0);
        cr_assert_not(rd.asm_.pending);
        cr_assert_eq(reader_cut(&rd, on_boundary, &run), 0, "nothing left in parts");
        reader_done(&rd);
        close(fd);
        cr_assert_eq(run.n_b, 2);
        cr_assert_eq(run.b[1].end, strlen(content) - strlen(T0 " stderr F unterminat"));
        cr_assert_eq(run.out.n, 4);
        expect(&run.out, 1, LOG_STREAM_STDERR, "b1");
        expect(&run.out, 2, LOG_STREAM_STDERR, "b2");
        expect(&run.out, 3, LOG_STREAM_STDOUT, "never ends");
        cr_assert(run.out.v[3].truncated);
        run_done(&run);
}

/* --- a file restarted at a batch end where messages in parts were cut --- */

static void ignore_notify(ShipperFile *f, ShipperFileEvent event, uint64_t arg, void *userdata) {
}

/* A run recorded a batch ending after line 3, where stdout's message was in parts and was cut (as at the
 * end of a rotated file). After a restart the batch is rebuilt with the same end and the same rows, and its
 * rows made again from the file's bytes (to split a refused batch) are those too. */
Test(file, restart_at_a_cut) {
        static const BatchBodyConfig json = {
                .format = INSERT_FORMAT_JSON_EACH_ROW,
                .compression = COMPRESSION_NONE,
                .max_line = 1024,
        };
        static const char content[] = T0 " stdout P a1\n" T0 " stderr F b1\n" T0 " stdout P a2\n" T0
                                         " stdout F a3\n" T0 " stderr F b2\n";
        uint64_t cut = 3 * strlen(T0 " stdout P a1\n");
        char path[] = "/tmp/shipper-file-XXXXXX";
        ShipperConfig config;
        ShipperStats stats = {};
        ShipperFileContext ctx = {.config = &config, .stats = &stats, .notify = ignore_notify};
        CheckpointEntry first, restored;
        ShipperFile *f;
        struct stat st;
        int fd;

        shipper_config_init(&config);
        cr_assert_eq(batch_pool_new(&json, &ctx.pool), 0);
        fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        cr_assert_eq(fstat(fd, &st), 0);
        cr_assert_eq(shipper_file_open(&ctx, path, fd, &st, NULL, 0, NULL, &f), 0);
        cr_assert(shipper_file_checkpoint_entry(f, 1, &first));
        shipper_file_free(f);

        restored = first;
        restored.path = NULL;
        restored.committed = 0;
        restored.pending[0] = cut;
        restored.n_pending = 1;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(shipper_file_open(&ctx, path, fd, &st, &restored, 1, NULL, &f), 0);
        cr_assert(restored.used);
        cr_assert_eq(shipper_file_read(f, SIZE_MAX), 1);
        cr_assert_eq(shipper_file_queue_length(f), 1, "the recorded batch, sealed where it ended");
        shipper_file_seal(f);
        cr_assert_eq(shipper_file_queue_length(f), 2, "the rest as a batch of its own");
        CheckpointEntry e;
        cr_assert(shipper_file_checkpoint_entry(f, 2, &e));
        shipper_file_checkpoint_written(f, 2, 0);
        Batch *b = shipper_file_next_to_send(f);
        cr_assert_not_null(b);
        cr_assert_eq(batch_start(b), 0);
        cr_assert_eq(batch_end(b), cut);
        cr_assert_eq(batch_n_rows(b), 2);
        cr_assert_eq(shipper_file_rebuild_rows(f, b), 0);
        StrBuf *rows = batch_rows(b);
        cr_assert_not_null(
                memmem(rows->data, rows->len, "\"Body\":\"b1\"", 11), "%.*s", (int) rows->len, rows->data);
        cr_assert_not_null(memmem(rows->data, rows->len, "\"Body\":\"a1a2\"", 13));
        cr_assert_not_null(memmem(rows->data, rows->len, "\"log.truncated\":\"true\"", 22));
        Batch *rest = shipper_file_next_to_send(f);
        cr_assert_not_null(rest);
        cr_assert_eq(batch_start(rest), cut);
        cr_assert_eq(batch_end(rest), strlen(content));
        cr_assert_eq(batch_n_rows(rest), 2, "a3 and b2, each a message of its own");
        shipper_file_free(f);
        unlink(path);
        batch_pool_free(ctx.pool);
        shipper_config_done(&config);
}
