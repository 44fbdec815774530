/* SPDX-License-Identifier: MIT */
/* shipper: tails container log files, turns zap JSON lines into otel_logs
 * rows and inserts them into ClickHouse, exactly once across restarts,
 * outages and rotation. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "build-config.h"
#include "cleanup.h"
#include "log.h"
#include "shipper-config.h"
#include "shipper-manager.h"

#define EXIT_USAGE 2

static int run(int argc, char **argv) {
        _cleanup_(manager_freep) Manager *m = NULL;
        ShipperConfig config;
        ConfigAction action;
        const ConfigOption *options;
        size_t n;
        int r;

        /* Batch buffers are megabytes each: keep them in their own mappings so that
         * freeing one gives the memory back (glibc would otherwise raise the mmap
         * threshold after the first free and keep freed batches in the heap). */
        (void) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        log_set_program_name("shipper");
        log_parse_environment();
        r = shipper_config_init(&config);
        if (r < 0) {
                shipper_config_done(&config);
                log_error_errno(r, "Failed to set up the configuration: %m");
                return EXIT_FAILURE;
        }
        r = shipper_config_parse(&config, argc, argv, &action);
        if (r < 0) {
                shipper_config_done(&config);
                return EXIT_USAGE;
        }
        if (action == CONFIG_ACTION_HELP) {
                options = shipper_config_options(&config, &n);
                config_print_help(
                        stdout,
                        "shipper",
                        "[OPTIONS]",
                        "Ships container log files (CRI or docker json-file, zap JSON inside) to ClickHouse's otel_logs.",
                        options,
                        n);
                shipper_config_done(&config);
                return EXIT_SUCCESS;
        }
        if (action == CONFIG_ACTION_VERSION) {
                printf("shipper %s\n", PROJECT_VERSION);
                shipper_config_done(&config);
                return EXIT_SUCCESS;
        }

        /* Settings that point at places the shipper cannot write are usage errors too: found now, not as a
         * retry loop that ships nothing. */
        r = shipper_config_check_files(&config);
        if (r < 0) {
                shipper_config_done(&config);
                return EXIT_USAGE;
        }

        r = manager_new(&config, &m);
        if (r >= 0)
                r = manager_start(m);
        if (r >= 0)
                r = manager_run(m);
        m = manager_free(m);
        shipper_config_done(&config);
        return r < 0 ? EXIT_FAILURE : r;
}

int main(int argc, char **argv) {
        sigset_t mask;

        /* Blocked before anything else: a SIGTERM that arrives while the configuration is still being read
         * must wait for the event loop (and a clean, checkpointed exit), not kill the process outright. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        return run(argc, argv);
}
