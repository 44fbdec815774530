/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum SupervisorMode {
        SUPERVISOR_MODE_CLUSTER, /* minikube in the VM */
        SUPERVISOR_MODE_LOCAL,   /* the embedded default: the programs as child processes */
} SupervisorMode;

typedef struct SupervisorConfig {
        char *path; /* of the file read, for messages */
        SupervisorMode mode;
        char *state_dir;

        /* status */
        char *status_socket;
        int64_t status_socket_mode;
        char *status_listen;  /* "ADDRESS:PORT"; empty disables the TCP port */
        bool status_tcp_logs; /* /v1/logs on the TCP port too (it has no authentication) */

        int64_t poll_interval;       /* ns */
        int64_t max_log_age;         /* ns: older newest log → degraded */
        int64_t start_timeout;       /* ns: not ready by then → degraded */
        int64_t stop_timeout;        /* ns: children get this long after SIGTERM */
        int64_t counts_log_interval; /* ns: how often the row counts are logged (state changes at once) */

        /* clickhouse */
        char *ch_url;
        char *ch_user;
        char *ch_password_file;
        char *ch_database;
        char *ch_table;
        char *integrity_service; /* ServiceName whose `count` sequence is checked */

        /* cluster */
        char *minikube;
        char *profile;
        char **start_args;
        int64_t minikube_timeout; /* ns, for `minikube start` (cluster.start_timeout) */
        int64_t command_timeout;  /* ns, for the other minikube commands */
        char *images_dir;
        char *manifests_dir;
        char *namespace;
        int64_t reapply_interval; /* ns */

        /* local */
        char *data_dir;
        char *loggen;
        char *shipper;
        char *clickhouse_endpoint;
        char *chdb_lib;
        char *schema_dir;
        int64_t ch_port;
        int64_t shipper_port;
        int64_t loggen_health_port;
        char **loggen_args;
        int64_t restart_max; /* ns: longest restart back-off */

        /* Where the file set what the environment check looks at (0: not in the file, the default). */
        struct {
                unsigned loggen, shipper, clickhouse_endpoint, chdb_lib, schema_dir, loggen_args;
        } lines;
} SupervisorConfig;

#define SUPERVISOR_CONFIG_MAX_SIZE (1024 * 1024)

/* Defaults for every setting. */
int supervisor_config_init(SupervisorConfig *c);
/* Reads the YAML file over the defaults; every error is logged as "file:line: …" and gives -EINVAL. */
int supervisor_config_load(SupervisorConfig *c, const char *path);
/* The same for YAML text in memory; name stands for the file in messages. */
int supervisor_config_load_string(SupervisorConfig *c, const char *name, const char *text, size_t size);
/* Cross-field checks after loading (e.g. what the mode needs). */
int supervisor_config_verify(const SupervisorConfig *c);
/* supervisor-config-check.c: what the settings point at, on this machine: the mode's programs exist and
 * are executable (found in PATH when they name no directory), local.chdb_lib is a file, local.schema_dir a
 * directory, and loggen accepts local.loggen_args (asked with loggen --check-config, with the arguments the
 * runtime adds); local mode only. Each problem is logged as "file:line: section.key: …"; returns -EINVAL
 * when any. */
int supervisor_config_check_environment(const SupervisorConfig *c);
void supervisor_config_done(SupervisorConfig *c);
const char *supervisor_mode_to_string(SupervisorMode m);
