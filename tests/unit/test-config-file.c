/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "config-file.h"
#include "config.h"
#include "duration.h"
#include "log.h"

typedef struct Settings {
        int64_t rows;
        int64_t interval;
        char *name;
        char **args;
        char *globs;
        int64_t port;
} Settings;

static void settings_done(Settings *s) {
        free(s->name);
        free(s->globs);
        strv_free(s->args);
}

static int parse_nonempty(const ConfigOption *o, const char *value) {
        return value[0] ? config_parse_string(o, value) : -EINVAL;
}

/* Applies `text` as a top level with one section "net"; returns what config_file_apply() did, with the one
 * line it logged in `msg`. */
static int apply(const char *text, Settings *s, char *msg, size_t msg_size) {
        const ConfigOption top[] = {
                {.name = "rows", .parse = config_parse_int64, .data = &s->rows, .min = 1, .max = 100},
                {.name = "interval",
                 .parse = config_parse_duration,
                 .data = &s->interval,
                 .min = 0,
                 .max = NSEC_PER_HOUR},
                {.name = "name", .parse = parse_nonempty, .data = &s->name, .expect = "a name"},
                {.name = "args", .parse_list = config_parse_strv, .data = &s->args},
                {.name = "globs",
                 .parse = parse_nonempty,
                 .parse_list = config_parse_list_joined,
                 .data = &s->globs,
                 .expect = "globs"},
                {.name = "net"},
        };
        const ConfigOption net[] = {
                {.name = "port", .parse = config_parse_int64, .data = &s->port, .min = 1, .max = 65535},
        };
        _cleanup_(config_node_freep) ConfigNode *root = NULL;
        const ConfigNode *sec;
        FILE *f;
        size_t k;
        int r;

        fflush(stderr);
        r = config_file_load_string("t.yaml", text, strlen(text), &root);
        if (r >= 0)
                r = config_file_apply(root, NULL, top, ELEMENTSOF(top), "t.yaml");
        if (r >= 0 && (sec = config_node_get(root, "net")))
                r = config_file_apply(sec, "net", net, ELEMENTSOF(net), "t.yaml");
        fflush(stderr);
        f = cr_get_redirected_stderr();
        k = fread(msg, 1, msg_size - 1, f);
        msg[k] = 0;
        return r;
}

static void expect_error(const char *text, const char *needle) {
        Settings s = {};
        char msg[2048];

        cr_assert_eq(apply(text, &s, msg, sizeof(msg)), -EINVAL, "accepted: %s", text);
        cr_assert(strstr(msg, needle), "\"%s\" not in: %s", needle, msg);
        cr_assert_eq(strchr(msg, '\n'), msg + strlen(msg) - 1, "one line: %s", msg);
        settings_done(&s);
}

TestSuite(config_file, .init = cr_redirect_stderr);

Test(config_file, values_lists_and_sections) {
        Settings s = {};
        char msg[2048];

        cr_assert_eq(
                apply("rows: 7\ninterval: 1m30s\nname: \"x y\"\nargs: [--a, \"b c\"]\nglobs:\n  - /a/*.log\n"
                      "  - /b/*.log\nnet:\n  port: 8080\n",
                      &s,
                      msg,
                      sizeof(msg)),
                0,
                "%s",
                msg);
        cr_assert_eq(s.rows, 7);
        cr_assert_eq(s.interval, 90 * NSEC_PER_SEC);
        cr_assert_str_eq(s.name, "x y");
        cr_assert_str_eq(s.args[0], "--a");
        cr_assert_str_eq(s.args[1], "b c");
        cr_assert_null(s.args[2]);
        cr_assert_str_eq(s.globs, "/a/*.log,/b/*.log");
        cr_assert_eq(s.port, 8080);
        settings_done(&s);
}

Test(config_file, empty_file_is_an_empty_mapping) {
        Settings s = {.rows = 3};
        char msg[256];

        cr_assert_eq(apply("", &s, msg, sizeof(msg)), 0);
        cr_assert_eq(apply("# only a comment\n", &s, msg, sizeof(msg)), 0);
        cr_assert_eq(s.rows, 3);
}

Test(config_file, duplicate_keys_name_both_lines) {
        expect_error("rows: 1\nname: a\nrows: 2\n", "t.yaml:3: duplicate key \"rows\" (first at line 1)");
        expect_error("net:\n  port: 1\n  port: 2\n", "t.yaml:3: duplicate key \"port\" (first at line 2)");
        expect_error(
                "net:\n  port: 1\nnet:\n  port: 2\n", "t.yaml:3: duplicate key \"net\" (first at line 1)");
}

Test(config_file, unknown_keys) {
        expect_error("rows: 1\nrowz: 2\n", "t.yaml:2: unknown key \"rowz\"");
        expect_error("net:\n  prot: 2\n", "t.yaml:2: unknown key \"prot\" in net");
}

Test(config_file, bad_values_name_file_line_and_key) {
        expect_error("\n\nrows: 101\n", "t.yaml:3: rows: out of range");
        expect_error("interval: soon\n", "t.yaml:1: interval: expected a duration");
        expect_error("net:\n  port: http\n", "t.yaml:2: net.port: expected an integer");
        expect_error("globs: []\n", "invalid list for t.yaml:1: globs: expected globs");
}

Test(config_file, shapes) {
        expect_error("rows: [1, 2]\n", "t.yaml:1: rows: expected a single value, got a list");
        expect_error("name:\n  a: b\n", "t.yaml:1: name: expected a single value, got a mapping");
        expect_error("args: --x\n", "t.yaml:1: args: expected a list of strings");
        expect_error("args:\n  - [x]\n", "t.yaml:2: args: expected a list of strings");
        expect_error("net: 5\n", "t.yaml:1: net: expected a mapping, got a scalar");
        expect_error("- rows\n", "t.yaml:1: expected a mapping of settings, got a list");
}

Test(config_file, yaml_features_a_config_has_no_use_for) {
        expect_error("rows: &a 1\n", "t.yaml:1: anchors are not supported");
        expect_error("net: &n\n  port: 1\n", "t.yaml:1: anchors are not supported");
        expect_error("args: &l [a]\n", "t.yaml:1: anchors are not supported");
        expect_error("rows: *n\n", "t.yaml:1: aliases are not supported");
        expect_error("rows: !!int 5\n", "t.yaml:1: tags are not supported");
        expect_error("net: !!map\n  port: 1\n", "t.yaml:1: tags are not supported");
        expect_error("? [a]\n: b\n", "t.yaml:1: keys must be plain scalars");
        expect_error("rows: 1\n---\nrows: 2\n", "only one YAML document is allowed");
        expect_error("rows: [1\n", "t.yaml:");
}

Test(config_file, nesting_is_bounded) {
        char text[4096] = "a: ";
        size_t n = strlen(text);

        for (int i = 0; i < 40; i++)
                text[n++] = '[';
        for (int i = 0; i < 40; i++)
                text[n++] = ']';
        text[n++] = '\n';
        text[n] = 0;
        expect_error(text, "nested too deeply");
}

Test(config_file, file_errors) {
        _cleanup_(config_node_freep) ConfigNode *root = NULL;
        char path[] = "/tmp/otel-test-config-file-XXXXXX";
        int fd = mkstemp(path);

        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "rows: 1\n", 8), 8);
        close(fd);
        cr_assert_eq(config_file_load(path, 4, &root), -EFBIG);
        cr_assert_eq(config_file_load(path, CONFIG_FILE_MAX_SIZE, &root), 0);
        cr_assert_str_eq(config_node_get(root, "rows")->value, "1");
        cr_assert_eq(config_node_get(root, "rows")->line, 1u);
        cr_assert_null(config_node_get(root, "nope"));
        unlink(path);
        cr_assert_eq(config_file_load(path, CONFIG_FILE_MAX_SIZE, &root), -ENOENT);
}
