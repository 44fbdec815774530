/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "cleanup.h"
#include "config.h"
#include "duration.h"
#include "log.h"
#include "parse-util.h"

int config_parse_int64(const ConfigOption *o, const char *value) {
        return safe_atoi64_range(value, o->min, o->max, o->data);
}

int config_parse_uint64(const ConfigOption *o, const char *value) {
        return safe_atou64(value, o->data);
}

int config_parse_duration(const ConfigOption *o, const char *value) {
        int64_t ns;
        int r;

        r = parse_duration(value, &ns);
        if (r < 0)
                return r;
        if (ns < o->min || ns > o->max)
                return -ERANGE;
        *(int64_t *) o->data = ns;
        return 0;
}

int config_parse_string(const ConfigOption *o, const char *value) {
        char *copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        free(*(char **) o->data);
        *(char **) o->data = copy;
        return 0;
}

int config_parse_bool(const ConfigOption *o, const char *value) {
        int r = parse_boolean(value);
        if (r < 0)
                return r;
        *(bool *) o->data = r;
        return 0;
}

int config_parse_switch(const ConfigOption *o, const char *value) {
        *(bool *) o->data = true;
        return 0;
}

const char *config_option_expectation(const ConfigOption *o, char *buf, size_t size) {
        char a[DURATION_STRING_MAX], b[DURATION_STRING_MAX];

        if (o->expect)
                return o->expect;
        if (o->parse == config_parse_int64)
                (void) snprintf(buf, size, "an integer from %" PRIi64 " to %" PRIi64, o->min, o->max);
        else if (o->parse == config_parse_uint64)
                (void) snprintf(buf, size, "an integer from 0 to %" PRIu64, UINT64_MAX);
        else if (o->parse == config_parse_duration)
                (void) snprintf(
                        buf,
                        size,
                        "a duration from %s to %s, like 5s, 250ms or 1m30s",
                        format_duration(o->min, a, sizeof(a)),
                        format_duration(o->max, b, sizeof(b)));
        else if (o->parse == config_parse_bool)
                (void) snprintf(buf, size, "a boolean (true/false, yes/no, on/off, 1/0)");
        else
                (void) snprintf(buf, size, "a valid value");
        return buf;
}

int config_option_apply(const ConfigOption *o, const char *value, const char *origin) {
        char expect[128];
        int r;

        r = o->parse(o, value);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "invalid value \"%s\" for %s: %s%s",
                        value,
                        origin,
                        r == -ERANGE ? "out of range, expected " : "expected ",
                        config_option_expectation(o, expect, sizeof(expect)));
        return 0;
}

int config_apply_defaults(const ConfigOption *options, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const ConfigOption *o = options + i;
                int r;

                if (!o->defval || !o->parse || o->parse == config_parse_switch)
                        continue;
                r = o->parse(o, o->defval);
                if (r < 0)
                        return log_debug_errno(
                                r == -ENOMEM ? r : SYNTHETIC_ERRNO(EINVAL),
                                "Default \"%s\" of --%s does not parse",
                                o->defval,
                                o->name);
        }
        return 0;
}

int config_parse_environment(const ConfigOption *options, size_t n) {
        int r;

        for (size_t i = 0; i < n; i++) {
                const ConfigOption *o = options + i;
                const char *v;

                if (!o->env)
                        continue;
                v = getenv(o->env);
                if (!v)
                        continue;
                r = config_option_apply(o, v, o->env);
                if (r < 0)
                        return r;
        }
        return 0;
}

enum {
        ARG_HELP = 0x100,
        ARG_VERSION,
        ARG_OPTION_BASE = 0x200,
};

int config_parse_argv(
        const ConfigOption *options,
        size_t n,
        int argc,
        char **argv,
        ConfigAction *ret_action,
        int *ret_optind) {

        _cleanup_free_ struct option *longopts = NULL;
        char shortopts[2 + 3 * 64] = ":h";
        size_t k = 0, s = strlen(shortopts);
        ConfigAction action = CONFIG_ACTION_RUN;
        int c, r;

        longopts = new0(struct option, n + 3);
        if (!longopts)
                return log_oom();
        for (size_t i = 0; i < n; i++) {
                longopts[k++] = (struct option){
                        .name = options[i].name,
                        .has_arg = options[i].metavar ? required_argument : no_argument,
                        .val = ARG_OPTION_BASE + (int) i,
                };
                if (options[i].short_name && s + 3 < sizeof(shortopts)) {
                        shortopts[s++] = options[i].short_name;
                        if (options[i].metavar)
                                shortopts[s++] = ':';
                }
        }
        shortopts[s] = 0;
        longopts[k++] = (struct option){"help", no_argument, NULL, ARG_HELP};
        longopts[k++] = (struct option){"version", no_argument, NULL, ARG_VERSION};
        longopts[k] = (struct option){};

        /* Our own messages, one line each, instead of getopt's. */
        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
                const ConfigOption *o = NULL;
                char origin[128];

                if (c == 'h' || c == ARG_HELP) {
                        action = CONFIG_ACTION_HELP;
                        continue;
                }
                if (c == ARG_VERSION) {
                        action = CONFIG_ACTION_VERSION;
                        continue;
                }
                if (c == '?') {
                        if (optopt)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL),
                                        "unknown option '-%c' (see --help)",
                                        optopt);
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "unknown option '%s' (see --help)",
                                argv[optind - 1]);
                }
                if (c == ':')
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL), "option '%s' needs a value", argv[optind - 1]);

                if (c >= ARG_OPTION_BASE && c < ARG_OPTION_BASE + (int) n)
                        o = options + (c - ARG_OPTION_BASE);
                else
                        for (size_t i = 0; i < n; i++)
                                if (options[i].short_name == c)
                                        o = options + i;
                if (!o)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "unhandled option (see --help)");

                (void) snprintf(origin, sizeof(origin), "--%s", o->name);
                r = config_option_apply(o, optarg ?: "", origin);
                if (r < 0)
                        return r;
        }

        if (ret_action)
                *ret_action = action;
        if (ret_optind)
                *ret_optind = optind;
        return 0;
}

/* Options that take a number (or a value from a fixed set) say which in --help, not only in the error a
 * wrong one gets. */
static bool option_has_range(const ConfigOption *o) {
        if (!o->metavar)
                return false;
        return o->parse == config_parse_int64 || o->parse == config_parse_uint64 ||
               o->parse == config_parse_duration || o->min != 0 || o->max != 0 || o->expect;
}

/* A bound as the user writes it: byte sizes with K/M/G where they are whole multiples. */
static const char *format_bound(const ConfigOption *o, int64_t v, char *buf, size_t size) {
        static const struct {
                int64_t factor;
                char suffix;
        } units[] = {
                {INT64_C(1) << 30, 'G'},
                {INT64_C(1) << 20, 'M'},
                {INT64_C(1) << 10, 'K'},
        };

        if (streq_ptr(o->metavar, "BYTES") && v > 0)
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (v % units[i].factor == 0) {
                                (void) snprintf(
                                        buf, size, "%" PRIi64 "%c", v / units[i].factor, units[i].suffix);
                                return buf;
                        }
        (void) snprintf(buf, size, "%" PRIi64, v);
        return buf;
}

void config_print_help(
        FILE *f,
        const char *program,
        const char *synopsis,
        const char *description,
        const ConfigOption *options,
        size_t n) {

        fprintf(f, "Usage: %s %s\n\n%s\n\nOptions:\n", program, synopsis, description);
        for (size_t i = 0; i < n; i++) {
                const ConfigOption *o = options + i;
                char left[64];

                if (o->short_name)
                        (void) snprintf(
                                left,
                                sizeof(left),
                                "-%c, --%s%s%s",
                                o->short_name,
                                o->name,
                                o->metavar ? " " : "",
                                strempty(o->metavar));
                else
                        (void) snprintf(
                                left,
                                sizeof(left),
                                "    --%s%s%s",
                                o->name,
                                o->metavar ? " " : "",
                                strempty(o->metavar));
                fprintf(f, "  %-30s %s\n", left, o->help);
                if (o->env || o->defval) {
                        fprintf(f, "  %-30s (", "");
                        if (o->env)
                                fprintf(f, "env %s%s", o->env, o->defval ? ", " : "");
                        if (o->defval)
                                fprintf(f, "default %s", o->defval);
                        fprintf(f, ")\n");
                }
                if (option_has_range(o)) {
                        char expect[160], range[128] = "";
                        const char *e = config_option_expectation(o, expect, sizeof(expect));

                        /* An expectation written by hand that names no number gets the bounds. */
                        if (o->expect && (o->min != 0 || o->max != 0) && !strpbrk(o->expect, "0123456789")) {
                                char a[32], b[32];
                                (void) snprintf(
                                        range,
                                        sizeof(range),
                                        ", from %s to %s",
                                        format_bound(o, o->min, a, sizeof(a)),
                                        format_bound(o, o->max, b, sizeof(b)));
                        }
                        fprintf(f, "  %-30s allowed: %s%s\n", "", e, range);
                }
        }
        fprintf(f,
                "  %-30s %s\n  %-30s %s\n",
                "-h, --help",
                "show this help and exit",
                "    --version",
                "show the version and exit");
}
