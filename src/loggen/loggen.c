/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "build-config.h"
#include "cleanup.h"
#include "config.h"
#include "duration.h"
#include "log.h"
#include "loggen-manager.h"

/* Exit status for usage and configuration errors, as Go's flag package and most CLIs use. */
#define EXIT_USAGE 2

static int parse_address(const ConfigOption *o, const char *value) {
        unsigned char buf[sizeof(struct in6_addr)];

        if (inet_pton(AF_INET, value, buf) != 1 && inet_pton(AF_INET6, value, buf) != 1)
                return -EINVAL;
        return config_parse_string(o, value);
}

static int parse_seed(const ConfigOption *o, const char *value) {
        LoggenConfig *c = o->data;
        const ConfigOption inner = {.data = &c->seed};
        int r;

        r = config_parse_uint64(&inner, value);
        if (r < 0)
                return r;
        c->seed_set = true;
        return 0;
}

static int run(int argc, char **argv) {
        bool check_only = false;
        LoggenConfig config = {
                .max_number = 100,
                .num_strings = 10,
                .sleep_nsec = 5 * NSEC_PER_SEC,
                .health_port = 8081,
                .health_address = strdup("0.0.0.0"),
                .shutdown_delay_nsec = 250 * NSEC_PER_MSEC,
        };
        const ConfigOption options[] = {
                {.name = "max-number",
                 .env = "LOGGEN_MAX_NUMBER",
                 .metavar = "N",
                 .defval = "100",
                 .help = "largest random_number; values are drawn from [0, N]",
                 .parse = config_parse_int64,
                 .data = &config.max_number,
                 .min = 0,
                 .max = INT32_MAX},
                {.name = "num-strings",
                 .env = "LOGGEN_NUM_STRINGS",
                 .metavar = "N",
                 .defval = "10",
                 .help = "random_string comes from the first N of alpha, beta, ... kappa",
                 .parse = config_parse_int64,
                 .data = &config.num_strings,
                 .min = 1,
                 .max = LOGGEN_STRINGS_MAX},
                {.name = "sleep-duration",
                 .env = "LOGGEN_SLEEP_DURATION",
                 .metavar = "DURATION",
                 .defval = "5s",
                 .help = "interval between tick lines (Go syntax: 5s, 250ms, 1m30s)",
                 .parse = config_parse_duration,
                 .data = &config.sleep_nsec,
                 .min = 1 * NSEC_PER_MSEC,
                 .max = 24 * NSEC_PER_HOUR},
                {.name = "health-port",
                 .env = "LOGGEN_HEALTH_PORT",
                 .metavar = "PORT",
                 .defval = "8081",
                 .help = "port of the /health and /ready endpoints (0 picks a free port)",
                 .parse = config_parse_int64,
                 .data = &config.health_port,
                 .min = 0,
                 .max = 65535},
                {.name = "health-address",
                 .env = "LOGGEN_HEALTH_ADDRESS",
                 .metavar = "ADDRESS",
                 .defval = "0.0.0.0",
                 .help = "address the health endpoints listen on",
                 .parse = parse_address,
                 .data = &config.health_address,
                 .expect = "an IPv4 or IPv6 address"},
                {.name = "rate",
                 .env = "LOGGEN_RATE",
                 .metavar = "LINES",
                 .defval = "0 (off)",
                 .help = "load mode: LINES tick lines per second instead of one per interval",
                 .parse = config_parse_int64,
                 .data = &config.rate,
                 .min = 0,
                 .max = 100000000},
                {.name = "count",
                 .env = "LOGGEN_COUNT",
                 .metavar = "N",
                 .defval = "0 (unlimited)",
                 .help = "stop after N tick lines",
                 .parse = config_parse_int64,
                 .data = &config.count,
                 .min = 0,
                 .max = INT64_MAX},
                {.name = "seed",
                 .env = "LOGGEN_SEED",
                 .metavar = "N",
                 .defval = "random",
                 .help = "seed of the random numbers and strings, for reproducible output",
                 .parse = parse_seed,
                 .data = &config,
                 .expect = "an integer from 0 to 18446744073709551615"},
                {.name = "shutdown-delay",
                 .env = "LOGGEN_SHUTDOWN_DELAY",
                 .metavar = "DURATION",
                 .defval = "250ms",
                 .help = "after SIGTERM/SIGINT, /ready answers 503 this long before exit",
                 .parse = config_parse_duration,
                 .data = &config.shutdown_delay_nsec,
                 .min = 0,
                 .max = 30 * NSEC_PER_SEC},
                {.name = "check-config",
                 .help = "check the settings (flags and environment), then exit (0 when valid)",
                 .parse = config_parse_switch,
                 .data = &check_only},
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        ConfigAction action;
        sigset_t mask;
        int r, idx;

        log_set_program_name("loggen");
        log_parse_environment();
        if (!config.health_address)
                return log_oom(), EXIT_FAILURE;

        r = config_parse_environment(options, ELEMENTSOF(options));
        if (r >= 0)
                r = config_parse_argv(options, ELEMENTSOF(options), argc, argv, &action, &idx);
        if (r >= 0 && idx < argc)
                r = log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "unexpected argument \"%s\" (see --help)", argv[idx]);
        if (r < 0) {
                free(config.health_address);
                return EXIT_USAGE;
        }

        if (action == CONFIG_ACTION_HELP) {
                config_print_help(
                        stdout,
                        "loggen",
                        "[OPTIONS...]",
                        "Writes zap-style JSON log lines to standard output: one \"tick\" line per interval with a\n"
                        "counter, a random number and a random Greek letter, and serves /health and /ready.\n"
                        "Flags take precedence over LOGGEN_* environment variables, which take precedence over\n"
                        "the defaults. Invalid values are errors (exit status 2).",
                        options,
                        ELEMENTSOF(options));
                free(config.health_address);
                return EXIT_SUCCESS;
        }
        if (action == CONFIG_ACTION_VERSION) {
                printf("loggen %s\n", PROJECT_VERSION);
                free(config.health_address);
                return EXIT_SUCCESS;
        }
        /* What otel-supervisor --check-config asks about the arguments it would start loggen with. */
        if (check_only) {
                free(config.health_address);
                return EXIT_SUCCESS;
        }

        /* Signals are handled by the event loop through signalfd; they must be blocked first. A closed
         * stdout is an error returned by write(), not a signal. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        r = manager_new(&config, &m);
        free(config.health_address);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m"), EXIT_FAILURE;

        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_run(m);
        return r < 0 ? EXIT_FAILURE : r;
}

int main(int argc, char **argv) {
        return run(argc, argv);
}
