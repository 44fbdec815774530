/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "duration.h"
#include "log.h"
#include "macro.h"

typedef struct {
        int64_t number;
        int64_t interval;
        bool flag;
        char *name;
        uint64_t big;
} Settings;

static Settings s;

static const ConfigOption options[] = {
        {.name = "number",
         .short_name = 'n',
         .env = "T_NUMBER",
         .metavar = "N",
         .defval = "5",
         .help = "a number",
         .parse = config_parse_int64,
         .data = &s.number,
         .min = 1,
         .max = 10},
        {.name = "interval",
         .env = "T_INTERVAL",
         .metavar = "DURATION",
         .help = "an interval",
         .parse = config_parse_duration,
         .data = &s.interval,
         .min = NSEC_PER_MSEC,
         .max = NSEC_PER_HOUR},
        {.name = "flag",
         .env = "T_FLAG",
         .metavar = "BOOL",
         .help = "a boolean",
         .parse = config_parse_bool,
         .data = &s.flag},
        {.name = "name",
         .env = "T_NAME",
         .metavar = "NAME",
         .help = "a string",
         .parse = config_parse_string,
         .data = &s.name},
        {.name = "big", .metavar = "N", .help = "unsigned", .parse = config_parse_uint64, .data = &s.big},
};

static void defaults(void) {
        s = (Settings){.number = 5, .interval = 5 * NSEC_PER_SEC};
        log_set_program_name("test");
        unsetenv("T_NUMBER");
        unsetenv("T_INTERVAL");
        unsetenv("T_FLAG");
        unsetenv("T_NAME");
}

static int parse(int argc, char **argv, ConfigAction *action) {
        int r = config_parse_environment(options, ELEMENTSOF(options));
        if (r < 0)
                return r;
        return config_parse_argv(options, ELEMENTSOF(options), argc, argv, action, NULL);
}

TestSuite(config, .init = defaults);

Test(config, defaults_stay_without_input) {
        char *argv[] = {"prog", NULL};
        ConfigAction a;

        cr_assert_eq(parse(1, argv, &a), 0);
        cr_assert_eq(a, CONFIG_ACTION_RUN);
        cr_assert_eq(s.number, 5);
        cr_assert_eq(s.interval, 5 * NSEC_PER_SEC);
}

Test(config, env_overrides_default) {
        char *argv[] = {"prog", NULL};
        ConfigAction a;

        setenv("T_NUMBER", "7", 1);
        setenv("T_INTERVAL", "250ms", 1);
        setenv("T_FLAG", "yes", 1);
        setenv("T_NAME", "x", 1);
        cr_assert_eq(parse(1, argv, &a), 0);
        cr_assert_eq(s.number, 7);
        cr_assert_eq(s.interval, 250 * NSEC_PER_MSEC);
        cr_assert(s.flag);
        cr_assert_str_eq(s.name, "x");
        free(s.name);
}

Test(config, flag_overrides_env) {
        char *argv[] = {"prog", "--number", "9", "--interval=1m30s", "-n", "8", "--name", "y", NULL};
        ConfigAction a;

        setenv("T_NUMBER", "7", 1);
        setenv("T_INTERVAL", "250ms", 1);
        setenv("T_NAME", "x", 1);
        cr_assert_eq(parse(ELEMENTSOF(argv) - 1, argv, &a), 0);
        cr_assert_eq(s.number, 8, "the last flag wins");
        cr_assert_eq(s.interval, 90 * NSEC_PER_SEC);
        cr_assert_str_eq(s.name, "y");
        free(s.name);
}

Test(config, help_and_version) {
        char *argv1[] = {"prog", "--help", NULL};
        char *argv2[] = {"prog", "--version", NULL};
        char *argv3[] = {"prog", "-h", NULL};
        ConfigAction a;

        cr_assert_eq(parse(2, argv1, &a), 0);
        cr_assert_eq(a, CONFIG_ACTION_HELP);
        cr_assert_eq(parse(2, argv2, &a), 0);
        cr_assert_eq(a, CONFIG_ACTION_VERSION);
        cr_assert_eq(parse(2, argv3, &a), 0);
        cr_assert_eq(a, CONFIG_ACTION_HELP);
}

typedef struct {
        const char *env_name, *env_value; /* or NULL */
        const char *arg1, *arg2;          /* or NULL */
        const char *message;              /* expected on stderr */
} BadCase;

static void check_bad(const BadCase *c) {
        char *argv[] = {"prog", (char *) c->arg1, (char *) c->arg2, NULL};
        int argc = 1 + !!c->arg1 + !!c->arg2;
        Settings before;
        ConfigAction a;
        char buf[512] = "";
        size_t n;

        if (c->env_name)
                setenv(c->env_name, c->env_value, 1);
        before = s;
        cr_assert_eq(parse(argc, argv, &a), -EINVAL, "expected failure for %s", c->message);
        cr_assert_eq(s.number, before.number, "a bad value must leave the setting alone");
        cr_assert_eq(s.interval, before.interval);
        fflush(stderr);
        n = fread(buf, 1, sizeof(buf) - 1, cr_get_redirected_stderr());
        buf[n] = 0;
        cr_assert(strstr(buf, c->message), "stderr \"%s\" lacks \"%s\"", buf, c->message);
        cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "the error must be one line: \"%s\"", buf);
}

#define BAD_TEST(tname, ename, evalue, a1, a2, msg)                                                         \
        Test(config, tname, .init = cr_redirect_stderr) {                                                   \
                BadCase c = {ename, evalue, a1, a2, msg};                                                   \
                defaults();                                                                                 \
                check_bad(&c);                                                                              \
        }

BAD_TEST(
        env_garbage,
        "T_NUMBER",
        "abc",
        NULL,
        NULL,
        "test: invalid value \"abc\" for T_NUMBER: expected an integer from 1 to 10")
BAD_TEST(
        env_negative,
        "T_NUMBER",
        "-3",
        NULL,
        NULL,
        "invalid value \"-3\" for T_NUMBER: out of range, expected an integer from 1 to 10")
BAD_TEST(env_overflow, "T_NUMBER", "99999999999999999999", NULL, NULL, "for T_NUMBER: out of range")
BAD_TEST(env_empty, "T_NUMBER", "", NULL, NULL, "invalid value \"\" for T_NUMBER")
BAD_TEST(
        env_bad_duration,
        "T_INTERVAL",
        "bogus",
        NULL,
        NULL,
        "invalid value \"bogus\" for T_INTERVAL: expected a duration from 1ms to 1h0m0s")
BAD_TEST(env_zero_duration, "T_INTERVAL", "0", NULL, NULL, "for T_INTERVAL: out of range")
BAD_TEST(
        env_bad_bool,
        "T_FLAG",
        "maybe",
        NULL,
        NULL,
        "invalid value \"maybe\" for T_FLAG: expected a boolean")
BAD_TEST(env_bad_even_if_flag_given, "T_NUMBER", "x", "--number", "3", "for T_NUMBER")
BAD_TEST(flag_garbage, NULL, NULL, "--number", "12abc", "invalid value \"12abc\" for --number")
BAD_TEST(flag_zero, NULL, NULL, "--number", "0", "invalid value \"0\" for --number: out of range")
BAD_TEST(flag_short, NULL, NULL, "-n", "11", "invalid value \"11\" for --number: out of range")
BAD_TEST(flag_duration_overflow, NULL, NULL, "--interval", "9999999999h", "for --interval: out of range")
BAD_TEST(
        flag_uint64_negative,
        NULL,
        NULL,
        "--big",
        "-1",
        "invalid value \"-1\" for --big: out of range, expected an integer from 0 to 18446744073709551615")
BAD_TEST(flag_missing_value, NULL, NULL, "--number", NULL, "option '--number' needs a value")
BAD_TEST(flag_unknown, NULL, NULL, "--nope", NULL, "unknown option '--nope'")
BAD_TEST(flag_unknown_short, NULL, NULL, "-z", NULL, "unknown option '-z'")

Test(config, help_lists_every_option) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        config_print_help(f, "prog", "[OPTIONS]", "Does things.", options, ELEMENTSOF(options));
        fclose(f);
        for (size_t i = 0; i < ELEMENTSOF(options); i++)
                cr_expect(strstr(buf, options[i].name), "help lacks --%s", options[i].name);
        cr_expect(strstr(buf, "env T_NUMBER, default 5"));
        cr_expect(strstr(buf, "--version"));
        free(buf);
}

Test(config, defaults_through_the_parsers) {
        int64_t n = -1, d = -1;
        bool b = false, sw = true;
        char *str = NULL;
        const ConfigOption ok[] = {
                {.name = "n", .defval = "7", .parse = config_parse_int64, .data = &n, .min = 0, .max = 10},
                {.name = "d",
                 .defval = "1m30s",
                 .parse = config_parse_duration,
                 .data = &d,
                 .max = INT64_MAX},
                {.name = "b", .defval = "true", .parse = config_parse_bool, .data = &b},
                {.name = "s", .defval = "x", .parse = config_parse_string, .data = &str},
                {.name = "sw", .parse = config_parse_switch, .data = &sw},
        };
        const ConfigOption bad[] = {
                {.name = "n", .defval = "11", .parse = config_parse_int64, .data = &n, .min = 0, .max = 10},
        };

        cr_assert_eq(config_apply_defaults(ok, ELEMENTSOF(ok)), 0);
        cr_assert_eq(n, 7);
        cr_assert_eq(d, 90 * INT64_C(1000000000));
        cr_assert(b);
        cr_assert_str_eq(str, "x");
        cr_assert(sw, "an option without a default is left alone");
        cr_assert_eq(config_apply_defaults(bad, ELEMENTSOF(bad)), -EINVAL, "a default out of its own range");
        free(str);
}
