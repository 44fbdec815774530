/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "config-file.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "shipper-checkpoint.h"
#include "shipper-config.h"
#include "util.h"

static int parse_compression(const ConfigOption *o, const char *value) {
        Compression c = compression_from_string(value);
        if (c < 0)
                return -EINVAL;
        *(Compression *) o->data = c;
        return 0;
}

static int parse_insert_format(const ConfigOption *o, const char *value) {
        InsertFormat f = insert_format_from_string(value);
        if (f < 0)
                return -EINVAL;
        *(InsertFormat *) o->data = f;
        return 0;
}

/* Sizes: a plain number of bytes or one with a K/M/G suffix (binary). */
static int parse_size(const ConfigOption *o, const char *value) {
        char digits[32];
        size_t n = strlen(value);
        int64_t mult = 1, v;
        int r;

        if (n == 0 || n >= sizeof(digits))
                return -EINVAL;
        memcpy(digits, value, n + 1);
        switch (digits[n - 1]) {
        case 'K':
        case 'k':
                mult = 1024;
                break;
        case 'M':
        case 'm':
                mult = 1024 * 1024;
                break;
        case 'G':
        case 'g':
                mult = 1024 * 1024 * 1024;
                break;
        }
        if (mult > 1)
                digits[n - 1] = 0;
        r = safe_atoi64_range(digits, 0, INT64_MAX / mult, &v);
        if (r < 0)
                return r;
        v *= mult;
        if (v < o->min || v > o->max)
                return -ERANGE;
        *(int64_t *) o->data = v;
        return 0;
}

/* An http or https URL with a host, as libcurl's URL parser reads it (the one the requests go through). */
static int parse_clickhouse_url(const ConfigOption *o, const char *value) {
        _cleanup_free_ char *scheme = NULL, *host = NULL;
        CURLU *u = curl_url();
        CURLUcode uc;

        if (!u)
                return -ENOMEM;
        uc = curl_url_set(u, CURLUPART_URL, value, 0);
        if (uc == CURLUE_OK)
                uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
        if (uc == CURLUE_OK)
                uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_cleanup(u);
        if (uc == CURLUE_OUT_OF_MEMORY)
                return -ENOMEM;
        if (uc != CURLUE_OK || isempty(host) || !(streq(scheme, "http") || streq(scheme, "https")))
                return -EINVAL;
        return config_parse_string(o, value);
}

static int parse_globs(const ConfigOption *o, const char *value) {
        if (isempty(value))
                return -EINVAL;
        return config_parse_string(o, value);
}

int shipper_config_init(ShipperConfig *c) {
        const ConfigOption *options;
        size_t n;

        /* The defaults are written once, in the option table below (and the sampler's). */
        *c = (ShipperConfig){};
        options = shipper_config_options(c, &n);
        return config_apply_defaults(options, n);
}

void shipper_config_done(ShipperConfig *c) {
        free(c->config_file);
        free(c->paths);
        free(c->clickhouse_url);
        free(c->database);
        free(c->table);
        free(c->user);
        free(c->password);
        free(c->password_file);
        free(c->checkpoint_file);
        free(c->dead_letter_file);
        free(c->service_name);
        free(c->listen_address);
        sampler_config_done(&c->sampler);
}

#define OPT_STRING(n, e, field, def, h)                                                                     \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "STRING", .defval = def, .help = h,                         \
                .parse = config_parse_string, .data = &c->field                                             \
        }
#define OPT_DURATION(n, e, field, def, lo, hi, h)                                                           \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "DURATION", .defval = def, .help = h,                       \
                .parse = config_parse_duration, .data = &c->field, .min = lo, .max = hi                     \
        }
#define OPT_INT(n, e, field, def, lo, hi, h)                                                                \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "N", .defval = def, .help = h, .parse = config_parse_int64, \
                .data = &c->field, .min = lo, .max = hi                                                     \
        }
#define OPT_SIZE(n, e, field, def, lo, hi, h)                                                               \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "BYTES", .defval = def, .help = h, .parse = parse_size,     \
                .data = &c->field, .min = lo, .max = hi,                                                    \
                .expect = "a size in bytes (K, M, G suffixes allowed)"                                      \
        }

const ConfigOption *shipper_config_options(ShipperConfig *c, size_t *ret_n) {
        /* Static storage: the table points into c, which lives as long as the program. */
        static ConfigOption table[48];
        const ConfigOption options[] = {
                {.name = "config",
                 .short_name = 'c',
                 .env = "SHIPPER_CONFIG",
                 .metavar = "FILE",
                 .help = "YAML file with any of these settings (keys are the long option names)",
                 .parse = config_parse_string,
                 .data = &c->config_file},
                {.name = "paths",
                 .env = "SHIPPER_PATHS",
                 .metavar = "GLOB[,GLOB...]",
                 .defval = "/var/log/containers/loggen-*.log",
                 .help = "log files to ship (globs; symlinks are followed; a YAML list in the file)",
                 .parse = parse_globs,
                 .parse_list = config_parse_list_joined,
                 .data = &c->paths,
                 .expect = "one or more globs separated by commas"},
                {.name = "clickhouse-url",
                 .env = "SHIPPER_CLICKHOUSE_URL",
                 .metavar = "URL",
                 .defval = "http://127.0.0.1:8123",
                 .help = "ClickHouse HTTP interface",
                 .parse = parse_clickhouse_url,
                 .data = &c->clickhouse_url,
                 .expect = "an http:// or https:// URL with a host, like http://127.0.0.1:8123"},
                OPT_STRING("database", "SHIPPER_DATABASE", database, "default", "database of the table"),
                OPT_STRING("table", "SHIPPER_TABLE", table, "otel_logs", "table the rows are inserted into"),
                OPT_STRING("user", "SHIPPER_USER", user, "default", "ClickHouse user (X-ClickHouse-User)"),
                OPT_STRING(
                        "password",
                        "SHIPPER_PASSWORD",
                        password,
                        "",
                        "ClickHouse password (X-ClickHouse-Key)"),
                OPT_STRING(
                        "password-file",
                        "SHIPPER_PASSWORD_FILE",
                        password_file,
                        "",
                        "file whose first line is the ClickHouse password, instead of --password; read again "
                        "whenever ClickHouse refuses the password, so a changed one is taken without a restart"),
                OPT_STRING(
                        "checkpoint-file",
                        "SHIPPER_CHECKPOINT_FILE",
                        checkpoint_file,
                        "/var/lib/shipper/checkpoints",
                        "where acknowledged file offsets are kept"),
                OPT_STRING(
                        "dead-letter-file",
                        "SHIPPER_DEAD_LETTER_FILE",
                        dead_letter_file,
                        "/var/lib/shipper/dead-letter.jsonl",
                        "rows ClickHouse rejected as malformed"),
                OPT_STRING(
                        "service-name",
                        "SHIPPER_SERVICE_NAME",
                        service_name,
                        "",
                        "ServiceName of every row (empty: the container name)"),
                OPT_STRING(
                        "listen-address",
                        "SHIPPER_LISTEN_ADDRESS",
                        listen_address,
                        "0.0.0.0",
                        "address of /metrics and /health"),
                OPT_INT("listen-port",
                        "SHIPPER_LISTEN_PORT",
                        listen_port,
                        "2020",
                        0,
                        65535,
                        "port of /metrics and /health (0 picks a free port)"),
                OPT_INT("batch-rows",
                        "SHIPPER_BATCH_ROWS",
                        batch_rows,
                        "100000",
                        1,
                        1000000,
                        "a batch is sent when it has this many rows"),
                OPT_SIZE(
                        "batch-bytes",
                        "SHIPPER_BATCH_BYTES",
                        batch_bytes,
                        "64M",
                        64 * 1024,
                        256 * 1024 * 1024,
                        "... or this many bytes of rows (uncompressed; batches are held compressed)"),
                OPT_DURATION(
                        "flush-interval",
                        "SHIPPER_FLUSH_INTERVAL",
                        flush_interval_nsec,
                        "1s",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "... or when its first row is this old"),
                OPT_SIZE(
                        "max-line-bytes",
                        "SHIPPER_MAX_LINE_BYTES",
                        max_line_bytes,
                        "256K",
                        1024,
                        64 * 1024 * 1024,
                        "longer messages are truncated (and counted)"),
                OPT_INT("max-inflight",
                        "SHIPPER_MAX_INFLIGHT",
                        max_inflight,
                        "4",
                        1,
                        64,
                        "concurrent INSERT requests"),
                OPT_INT("max-inflight-per-file",
                        "SHIPPER_MAX_INFLIGHT_PER_FILE",
                        max_inflight_per_file,
                        "2",
                        1,
                        CHECKPOINT_MAX_PENDING - 1,
                        "concurrent INSERT requests of one file"),
                OPT_SIZE(
                        "buffer-bytes",
                        "SHIPPER_BUFFER_BYTES",
                        buffer_bytes,
                        "24M",
                        1024 * 1024,
                        INT64_C(64) * 1024 * 1024 * 1024,
                        "reading pauses while batches waiting for ClickHouse hold this much"),
                OPT_DURATION(
                        "retry-initial",
                        "SHIPPER_RETRY_INITIAL",
                        retry_initial_nsec,
                        "250ms",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "first retry delay (doubles, with jitter)"),
                OPT_DURATION(
                        "retry-max",
                        "SHIPPER_RETRY_MAX",
                        retry_max_nsec,
                        "30s",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "longest retry delay"),
                OPT_DURATION(
                        "request-timeout",
                        "SHIPPER_REQUEST_TIMEOUT",
                        request_timeout_nsec,
                        "30s",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "limit on one INSERT request"),
                OPT_DURATION(
                        "rescan-interval",
                        "SHIPPER_RESCAN_INTERVAL",
                        rescan_interval_nsec,
                        "5s",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "globs are re-evaluated this often (besides inotify)"),
                OPT_DURATION(
                        "rotate-wait",
                        "SHIPPER_ROTATE_WAIT",
                        rotate_wait_nsec,
                        "5s",
                        0,
                        NSEC_PER_HOUR,
                        "a rotated or deleted file is let go after this long without new data"),
                {.name = "insert-format",
                 .env = "SHIPPER_INSERT_FORMAT",
                 .metavar = "Native|JSONEachRow",
                 .defval = "Native",
                 .help = "FORMAT of INSERT bodies (JSONEachRow: readable, costs ClickHouse about twice the CPU)",
                 .parse = parse_insert_format,
                 .data = &c->insert_format,
                 .expect = "Native or JSONEachRow"},
                {.name = "compression",
                 .env = "SHIPPER_COMPRESSION",
                 .metavar = "none|gzip|zstd",
                 .defval = "zstd",
                 .help = "Content-Encoding of INSERT bodies",
                 .parse = parse_compression,
                 .data = &c->compression,
                 .expect = "one of none, gzip, zstd"},
                OPT_INT("compression-level",
                        "SHIPPER_COMPRESSION_LEVEL",
                        compression_level,
                        "1",
                        -7,
                        19,
                        "gzip 1 to 9 (lower values are taken as 1), zstd -7 (fastest) to 19"),
                {.name = "seed-columns",
                 .env = "SHIPPER_SEED_COLUMNS",
                 .metavar = "BOOL",
                 .defval = "false",
                 .help = "also send RandomNumber/RandomString/Count (when the table does not derive them)",
                 .parse = config_parse_bool,
                 .data = &c->seed_columns},
                {.name = "checkpoint-sync",
                 .env = "SHIPPER_CHECKPOINT_SYNC",
                 .metavar = "BOOL",
                 .defval = "true",
                 .help = "fsync checkpoint and dead-letter writes",
                 .parse = config_parse_bool,
                 .data = &c->checkpoint_sync},
        };
        _Static_assert(ELEMENTSOF(options) <= ELEMENTSOF(table), "option table too small");
        memcpy(table, options, sizeof(options));
        *ret_n = ELEMENTSOF(options) +
                 sampler_config_options(
                         &c->sampler, table + ELEMENTSOF(options), ELEMENTSOF(table) - ELEMENTSOF(options));
        return table;
}

int shipper_config_load_yaml(const ConfigOption *options, size_t n, const char *path) {
        _cleanup_(config_node_freep) ConfigNode *root = NULL;
        _cleanup_free_ ConfigOption *keys = NULL;
        size_t k = 0;
        int r;

        /* Every option is a key of the file, except the one that names the file. */
        keys = new0(ConfigOption, n);
        if (!keys)
                return log_oom();
        for (size_t i = 0; i < n; i++)
                if (!streq(options[i].name, "config"))
                        keys[k++] = options[i];
        r = config_file_load(path, CONFIG_FILE_MAX_SIZE, &root);
        if (r < 0)
                return r;
        return config_file_apply(root, NULL, keys, k, path);
}

int shipper_config_parse(ShipperConfig *c, int argc, char **argv, ConfigAction *ret_action) {
        const ConfigOption *options;
        const char *file = getenv("SHIPPER_CONFIG");
        size_t n;
        int r;

        options = shipper_config_options(c, &n);
        /* The file sits below environment and flags, so find it before parsing them. */
        for (int i = 1; i < argc; i++) {
                if ((streq(argv[i], "--config") || streq(argv[i], "-c")) && i + 1 < argc)
                        file = argv[i + 1];
                else if (startswith(argv[i], "--config="))
                        file = argv[i] + strlen("--config=");
                else if (streq(argv[i], "--"))
                        break;
        }
        if (!isempty(file)) {
                r = shipper_config_load_yaml(options, n, file);
                if (r < 0)
                        return r;
        }
        r = config_parse_environment(options, n);
        if (r < 0)
                return r;
        r = config_parse_argv(options, n, argc, argv, ret_action, NULL);
        if (r < 0)
                return r;
        if (c->batch_bytes < c->max_line_bytes * 2)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "batch-bytes (%" PRIi64 ") must be at least twice max-line-bytes (%" PRIi64 ")",
                        c->batch_bytes,
                        c->max_line_bytes);
        return 0;
}

/* The directory part of path ("." when it has none). */
static char *dir_of(const char *path) {
        const char *slash = strrchr(path, '/');
        return slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path)) : strdup(".");
}

/* The checkpoint file is replaced by a new file renamed over it: its directory must take new files. A file
 * is made there and removed again, which also finds a read-only mount or a full disk. */
static int check_checkpoint_file(const char *path) {
        _cleanup_free_ char *dir = NULL, *probe = NULL;
        struct stat st;
        int fd;

        if (isempty(path))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--checkpoint-file may not be empty");
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "--checkpoint-file %s: not a regular file", path);
        dir = dir_of(path);
        if (!dir || asprintf(&probe, "%s/.shipper-probe-XXXXXX", dir) < 0)
                return log_oom();
        fd = mkostemp(probe, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "--checkpoint-file %s: directory %s: %m", path, dir);
        (void) close(fd);
        (void) unlink(probe);
        return 0;
}

/* Rows ClickHouse refuses are appended to the dead-letter file; it is opened the same way at start. */
static int check_dead_letter_file(const char *path) {
        _cleanup_free_ char *dir = NULL;
        int fd;

        if (isempty(path))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--dead-letter-file may not be empty");
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd >= 0) {
                (void) close(fd);
                return 0;
        }
        if (errno != ENOENT && errno != EACCES && errno != EROFS)
                return log_error_errno(errno, "--dead-letter-file %s: %m", path);
        dir = dir_of(path);
        if (!dir)
                return log_oom();
        return log_error_errno(errno, "--dead-letter-file %s: directory %s: %m", path, dir);
}

int shipper_config_read_password_file(const char *path, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, 4096, &text, &size);
        if (r < 0)
                return r;
        if (memchr(text, 0, size))
                return -EBADMSG;
        text[strcspn(text, "\r\n")] = 0;
        if (isempty(text))
                return -ENODATA;
        *ret = TAKE_PTR(text);
        return 0;
}

int shipper_config_check_files(ShipperConfig *c) {
        int r;

        if (!isempty(c->password_file)) {
                char *pw = NULL;
                r = shipper_config_read_password_file(c->password_file, &pw);
                if (r == -ENODATA)
                        return log_error_errno(
                                r, "--password-file %s: no password in its first line", c->password_file);
                if (r == -EBADMSG)
                        return log_error_errno(r, "--password-file %s: not a text file", c->password_file);
                if (r < 0)
                        return log_error_errno(r, "--password-file %s: %m", c->password_file);
                if (c->password)
                        explicit_bzero(c->password, strlen(c->password));
                free(c->password);
                c->password = pw;
        }
        r = check_checkpoint_file(c->checkpoint_file);
        if (r < 0)
                return r;
        return check_dead_letter_file(c->dead_letter_file);
}

char **shipper_config_globs(const ShipperConfig *c) {
        size_t n = 1;
        for (const char *p = c->paths; *p; p++)
                n += *p == ',';
        char **l = new0(char *, n + 1);
        if (!l)
                return NULL;
        size_t i = 0;
        for (const char *p = c->paths;;) {
                const char *e = strchrnul(p, ',');
                if (e > p) {
                        l[i] = strndup(p, (size_t) (e - p));
                        if (!l[i])
                                return strv_free(l);
                        i++;
                }
                if (!*e)
                        break;
                p = e + 1;
        }
        return l;
}
