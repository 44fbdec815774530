/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "shipper-body.h"
#include "config.h"
#include "sampler.h"

typedef struct ShipperConfig {
        char *config_file;
        char *paths; /* comma-separated globs */
        char *clickhouse_url;
        char *database;
        char *table;
        char *user;
        char *password;
        char *password_file; /* when set, password is read from it */
        char *checkpoint_file;
        char *dead_letter_file;
        char *service_name;
        char *listen_address;
        int64_t listen_port;
        int64_t batch_rows;
        int64_t batch_bytes;
        int64_t flush_interval_nsec;
        int64_t max_line_bytes;
        int64_t max_inflight;
        int64_t max_inflight_per_file;
        int64_t buffer_bytes;
        int64_t retry_initial_nsec;
        int64_t retry_max_nsec;
        int64_t request_timeout_nsec;
        int64_t rescan_interval_nsec;
        int64_t rotate_wait_nsec;
        InsertFormat insert_format;
        Compression compression;
        int64_t compression_level;
        bool seed_columns;
        bool checkpoint_sync;
        SamplerConfig sampler; /* src/sampler/sampler.c */
} ShipperConfig;

/* Every setting at its default (from the option table). 0, or -ENOMEM. */
int shipper_config_init(ShipperConfig *c);
void shipper_config_done(ShipperConfig *c);

/* Builds the option table for c (n entries). */
const ConfigOption *shipper_config_options(ShipperConfig *c, size_t *ret_n);

/* Applies a YAML file (config-file.h): a mapping of option names to scalars
 * (or, for "paths", a list of globs). Unknown and duplicate keys and bad
 * values are errors naming file:line and the key. Logs errors; returns 0 or
 * -EINVAL/-errno. */
int shipper_config_load_yaml(const ConfigOption *options, size_t n, const char *path);

/* Full precedence: defaults < --config file (or $SHIPPER_CONFIG) < environment < flags.
 * Returns like config_parse_argv(). */
int shipper_config_parse(ShipperConfig *c, int argc, char **argv, ConfigAction *ret_action);

/* The files named in the settings: the password file is read (into password), a file can be made in the
 * checkpoint file's directory, the dead-letter file can be opened for appending (and is created). Logs the
 * error naming the setting. */
int shipper_config_check_files(ShipperConfig *c);
/* The first line of a password file. -ENODATA when it is empty, -EBADMSG when it holds a NUL; not logging.
 */
int shipper_config_read_password_file(const char *path, char **ret);

/* Splits c->paths at commas into a NULL-terminated array. */
char **shipper_config_globs(const ShipperConfig *c);
