/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "build-config.h"
#include "cleanup.h"
#include "config.h"
#include "log.h"
#include "supervisor-config.h"
#include "supervisor-manager.h"

#define EXIT_USAGE 2
#define DEFAULT_CONFIG "/etc/otel-supervisor/config.yaml"

static int run(int argc, char **argv) {
        _cleanup_free_ char *config_path = strdup(DEFAULT_CONFIG);
        bool check_only = false;
        const ConfigOption options[] = {
                {.name = "config",
                 .short_name = 'c',
                 .env = "OTEL_SUPERVISOR_CONFIG",
                 .metavar = "FILE",
                 .defval = DEFAULT_CONFIG,
                 .help = "the YAML configuration file",
                 .parse = config_parse_string,
                 .data = &config_path},
                {.name = "check-config",
                 .help = "read and check the configuration, then exit (0 when valid)",
                 .parse = config_parse_switch,
                 .data = &check_only},
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        SupervisorConfig config;
        ConfigAction action;
        sigset_t mask;
        int r, idx;

        log_set_program_name("otel-supervisor");
        log_parse_environment();
        if (!config_path)
                return log_oom(), EXIT_FAILURE;

        r = config_parse_environment(options, ELEMENTSOF(options));
        if (r >= 0)
                r = config_parse_argv(options, ELEMENTSOF(options), argc, argv, &action, &idx);
        if (r >= 0 && idx < argc)
                r = log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "unexpected argument \"%s\" (see --help)", argv[idx]);
        if (r < 0)
                return EXIT_USAGE;
        if (action == CONFIG_ACTION_HELP) {
                config_print_help(
                        stdout,
                        "otel-supervisor",
                        "[OPTIONS...]",
                        "Brings the observability stack up and keeps it healthy: minikube, the images, the Kubernetes\n"
                        "manifests and ClickHouse (cluster mode), or the programs as child processes on an embedded\n"
                        "ClickHouse engine (local mode). Serves its status as JSON on a unix socket and a TCP port.",
                        options,
                        ELEMENTSOF(options));
                return EXIT_SUCCESS;
        }
        if (action == CONFIG_ACTION_VERSION) {
                printf("otel-supervisor %s\n", PROJECT_VERSION);
                return EXIT_SUCCESS;
        }

        r = supervisor_config_init(&config);
        if (r < 0) {
                supervisor_config_done(&config);
                return log_oom(), EXIT_FAILURE;
        }
        r = supervisor_config_load(&config, config_path);
        if (r >= 0)
                r = supervisor_config_verify(&config);
        /* Also at every start: a program that is not there or arguments loggen refuses are not fixed by
         * restarting children with back-off. */
        if (r >= 0)
                r = supervisor_config_check_environment(&config);
        if (r < 0) {
                supervisor_config_done(&config);
                return EXIT_USAGE;
        }
        if (check_only) {
                printf("%s: valid (%s mode)\n", config_path, supervisor_mode_to_string(config.mode));
                supervisor_config_done(&config);
                return EXIT_SUCCESS;
        }

        /* sd-event takes these through signalfd and child sources; they must be blocked first. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        (void) sigaddset(&mask, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        /* The manager owns the configuration from here, also when it fails. */
        r = manager_new(&config, &m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_run(m);
        return r < 0 ? EXIT_FAILURE : r;
}

int main(int argc, char **argv) {
        return run(argc, argv);
}
