/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* One option table per program: each entry names the command-line flag, the environment variable, the
 * default as shown in --help, the help text and how to parse and check a value. The same table drives
 * argument parsing, environment overrides, --help and the error messages, which always name the setting as
 * the user wrote it (--flag, VARIABLE or file:line: key).
 *
 * Precedence is flag > environment > default: config_apply_defaults() sets the defaults from the table
 * (or the program writes them into its struct itself), then config_parse_environment() and
 * config_parse_argv() overwrite them in that order. A value that does not
 * parse is an error wherever it comes from; nothing is ignored silently. */

typedef struct ConfigOption ConfigOption;

/* Parses value into o->data. Returns 0 or a negative errno (-EINVAL malformed, -ERANGE out of bounds); the
 * caller turns that into a message using config_option_expectation(). */
typedef int (*ConfigParseFn)(const ConfigOption *o, const char *value);
/* Parses the items of a list written in a config file (config-file.h) into o->data. */
typedef int (*ConfigParseListFn)(const ConfigOption *o, char *const *items, size_t n);

struct ConfigOption {
        const char *name;    /* long flag without dashes, and the YAML key where a config file has one */
        char short_name;     /* 0 for none */
        const char *env;     /* environment variable, or NULL */
        const char *metavar; /* "N", "DURATION", NULL for a switch without argument */
        const char *defval;  /* default as shown to users, or NULL */
        const char *help;
        ConfigParseFn parse;
        void *data;
        int64_t min, max;             /* bounds for integers (and durations, in ns) */
        const char *expect;           /* what a valid value looks like, e.g. "an integer from 1 to 10" */
        ConfigParseListFn parse_list; /* config files only: the value may be a YAML list */
};

/* Parsers for common types. data points to: */
int config_parse_int64(const ConfigOption *o, const char *value);    /* int64_t, within [min, max] */
int config_parse_uint64(const ConfigOption *o, const char *value);   /* uint64_t, any */
int config_parse_duration(const ConfigOption *o, const char *value); /* int64_t ns, within [min, max] */
int config_parse_string(const ConfigOption *o, const char *value);   /* char *, replaced with a copy */
int config_parse_bool(const ConfigOption *o, const char *value);     /* bool */
int config_parse_switch(const ConfigOption *o, const char *value);   /* bool set to true, no argument */

/* Parses one value for o, logging a one-line error naming `origin` (e.g. "--max-number",
 * "LOGGEN_MAX_NUMBER", "config.yaml:12: batch_rows") on failure. Returns 0 or -EINVAL. */
int config_option_apply(const ConfigOption *o, const char *value, const char *origin);

/* Sets every option that has a default to that default, through the option's own parser: the table is the
 * one place a default is written, and --help shows exactly what applies. Options without one stay as they
 * are (zeroed). Returns 0, or -EINVAL for a default its parser refuses (a programming error). */
int config_apply_defaults(const ConfigOption *options, size_t n);

/* Applies every option whose environment variable is set (an empty value counts as set and is checked). */
int config_parse_environment(const ConfigOption *options, size_t n);

typedef enum ConfigAction {
        CONFIG_ACTION_RUN,
        CONFIG_ACTION_HELP,
        CONFIG_ACTION_VERSION,
} ConfigAction;

/* Parses argv with getopt_long(). --help/-h and --version are built in. Unknown options, missing
 * arguments and bad values are logged (one line, without the full help) and return -EINVAL. On success
 * *ret_action says what was asked for and *ret_optind, if not NULL, is the index of the first positional
 * argument. */
int config_parse_argv(
        const ConfigOption *options,
        size_t n,
        int argc,
        char **argv,
        ConfigAction *ret_action,
        int *ret_optind);

/* Prints "Usage: program synopsis", the description and one entry per option with its environment
 * variable and default. */
void config_print_help(
        FILE *f,
        const char *program,
        const char *synopsis,
        const char *description,
        const ConfigOption *options,
        size_t n);

/* What a valid value looks like, for error messages. */
const char *config_option_expectation(const ConfigOption *o, char *buf, size_t size);
