/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "config-file.h"
#include "config.h"
#include "duration.h"
#include "log.h"
#include "parse-util.h"
#include "supervisor-config.h"

const char *supervisor_mode_to_string(SupervisorMode m) {
        return m == SUPERVISOR_MODE_LOCAL ? "local" : "cluster";
}

static int parse_mode(const ConfigOption *o, const char *value) {
        SupervisorMode *m = o->data;

        if (streq(value, "cluster"))
                *m = SUPERVISOR_MODE_CLUSTER;
        else if (streq(value, "local"))
                *m = SUPERVISOR_MODE_LOCAL;
        else
                return -EINVAL;
        return 0;
}

static int parse_octal_mode(const ConfigOption *o, const char *value) {
        int64_t v = 0;

        if (isempty(value) || strlen(value) > 4)
                return -EINVAL;
        for (const char *p = value; *p; p++) {
                if (*p < '0' || *p > '7')
                        return -EINVAL;
                v = v * 8 + (*p - '0');
        }
        *(int64_t *) o->data = v;
        return 0;
}

static int parse_listen(const ConfigOption *o, const char *value) {
        const char *colon = strrchr(value, ':');
        uint16_t port;

        if (!isempty(value) && (!colon || colon == value || safe_atou16(colon + 1, &port) < 0))
                return -EINVAL;
        return config_parse_string(o, value);
}

static int parse_nonempty(const ConfigOption *o, const char *value) {
        if (isempty(value))
                return -EINVAL;
        return config_parse_string(o, value);
}

#define STR(key, field, what)                                                                               \
        { .name = key, .parse = parse_nonempty, .data = &c->field, .expect = what }
#define DUR(key, field, lo, hi)                                                                             \
        { .name = key, .parse = config_parse_duration, .data = &c->field, .min = (lo), .max = (hi) }
#define INT(key, field, lo, hi)                                                                             \
        { .name = key, .parse = config_parse_int64, .data = &c->field, .min = (lo), .max = (hi) }
#define LIST(key, field)                                                                                    \
        { .name = key, .parse_list = config_parse_strv, .data = &c->field }

typedef struct Section {
        const char *name; /* NULL for the top level */
        ConfigOption *options;
        size_t n_options;
} Section;

int supervisor_config_init(SupervisorConfig *c) {
        static const char *const start_args[] = {"--driver=docker", NULL};

        *c = (SupervisorConfig){
                .mode = SUPERVISOR_MODE_CLUSTER,
                .status_socket_mode = 0660,
                .poll_interval = 10 * NSEC_PER_SEC,
                .max_log_age = 60 * NSEC_PER_SEC,
                .start_timeout = 15 * NSEC_PER_MINUTE,
                .stop_timeout = 10 * NSEC_PER_SEC,
                .counts_log_interval = 5 * NSEC_PER_MINUTE,
                .minikube_timeout = 15 * NSEC_PER_MINUTE,
                .command_timeout = 5 * NSEC_PER_MINUTE,
                .reapply_interval = 5 * NSEC_PER_MINUTE,
                .ch_port = 8123,
                .shipper_port = 2020,
                .loggen_health_port = 8081,
                .restart_max = 30 * NSEC_PER_SEC,
        };
        c->state_dir = strdup("/var/lib/otel-supervisor");
        c->status_socket = strdup("/run/otel-supervisor/status.sock");
        c->status_listen = strdup("127.0.0.1:8090");
        c->ch_url = strdup("http://127.0.0.1:8123");
        c->ch_user = strdup("otel_reader");
        c->ch_database = strdup("default");
        c->ch_table = strdup("otel_logs");
        c->integrity_service = strdup("loggen");
        c->minikube = strdup("minikube");
        c->profile = strdup("otel");
        c->images_dir = strdup("/var/lib/otel/images");
        c->manifests_dir = strdup("/etc/otel/manifests");
        c->namespace = strdup("otel-demo");
        c->data_dir = strdup("/var/lib/otel/local");
        c->loggen = strdup("loggen");
        c->shipper = strdup("shipper");
        c->clickhouse_endpoint = strdup("clickhouse-endpoint");
        c->start_args = new0(char *, ELEMENTSOF(start_args));
        c->loggen_args = new0(char *, 1);
        if (!c->state_dir || !c->status_socket || !c->status_listen || !c->ch_url || !c->ch_user ||
            !c->ch_database || !c->ch_table || !c->integrity_service || !c->minikube || !c->profile ||
            !c->images_dir || !c->manifests_dir || !c->namespace || !c->data_dir || !c->loggen ||
            !c->shipper || !c->clickhouse_endpoint || !c->start_args || !c->loggen_args)
                return -ENOMEM;
        for (size_t i = 0; start_args[i]; i++)
                if (!(c->start_args[i] = strdup(start_args[i])))
                        return -ENOMEM;
        return 0;
}

static int config_apply_tree(SupervisorConfig *c, const ConfigNode *root, const char *path);

int supervisor_config_load(SupervisorConfig *c, const char *path) {
        _cleanup_(config_node_freep) ConfigNode *root = NULL;
        int r;

        free(c->path);
        c->path = strdup(path);
        if (!c->path)
                return log_oom();
        r = config_file_load(path, SUPERVISOR_CONFIG_MAX_SIZE, &root);
        if (r < 0)
                return r;
        return config_apply_tree(c, root, path);
}

int supervisor_config_load_string(SupervisorConfig *c, const char *name, const char *text, size_t size) {
        _cleanup_(config_node_freep) ConfigNode *root = NULL;
        int r;

        free(c->path);
        c->path = strdup(name);
        if (!c->path)
                return log_oom();
        r = config_file_load_string(name, text, size, &root);
        if (r < 0)
                return r;
        return config_apply_tree(c, root, name);
}

/* The line of section.key in the file, 0 when it is not there. */
static unsigned key_line(const ConfigNode *root, const char *section, const char *key) {
        const ConfigNode *s = root->type == CONFIG_NODE_MAPPING ? config_node_get(root, section) : NULL;
        const ConfigNode *n = s && s->type == CONFIG_NODE_MAPPING ? config_node_get(s, key) : NULL;

        return n ? n->key_line : 0;
}

static int config_apply_tree(SupervisorConfig *c, const ConfigNode *root, const char *path) {
        ConfigOption top[] = {
                {.name = "mode",
                 .parse = parse_mode,
                 .data = &c->mode,
                 .expect = "\"cluster\" or \"local\""},
                STR("state_dir", state_dir, "a directory"),
                DUR("poll_interval", poll_interval, 100 * NSEC_PER_MSEC, NSEC_PER_HOUR),
                DUR("max_log_age", max_log_age, NSEC_PER_SEC, 7 * 24 * NSEC_PER_HOUR),
                DUR("start_timeout", start_timeout, NSEC_PER_SEC, 24 * NSEC_PER_HOUR),
                DUR("stop_timeout", stop_timeout, 0, 10 * NSEC_PER_MINUTE),
                DUR("counts_log_interval", counts_log_interval, NSEC_PER_SEC, 24 * NSEC_PER_HOUR),
                {.name = "status"},
                {.name = "clickhouse"},
                {.name = "cluster"},
                {.name = "local"},
        };
        ConfigOption status[] = {
                STR("socket", status_socket, "a path"),
                {.name = "socket_mode",
                 .parse = parse_octal_mode,
                 .data = &c->status_socket_mode,
                 .expect = "an octal file mode such as \"0660\""},
                {.name = "listen",
                 .parse = parse_listen,
                 .data = &c->status_listen,
                 .expect = "ADDRESS:PORT, or \"\" to disable"},
                {.name = "tcp_logs", .parse = config_parse_bool, .data = &c->status_tcp_logs},
        };
        ConfigOption clickhouse[] = {
                STR("url", ch_url, "a URL"),
                STR("user", ch_user, "a user name"),
                STR("password_file", ch_password_file, "a path"),
                STR("database", ch_database, "a database name"),
                STR("table", ch_table, "a table name"),
                STR("integrity_service", integrity_service, "a ServiceName"),
        };
        ConfigOption cluster[] = {
                STR("minikube", minikube, "a command"),
                STR("profile", profile, "a minikube profile name"),
                LIST("start_args", start_args),
                DUR("start_timeout", minikube_timeout, NSEC_PER_SEC, 24 * NSEC_PER_HOUR),
                DUR("command_timeout", command_timeout, NSEC_PER_SEC, 24 * NSEC_PER_HOUR),
                STR("images_dir", images_dir, "a directory"),
                STR("manifests_dir", manifests_dir, "a directory"),
                STR("namespace", namespace, "a namespace"),
                DUR("reapply_interval", reapply_interval, NSEC_PER_SEC, 24 * NSEC_PER_HOUR),
        };
        ConfigOption local[] = {
                STR("data_dir", data_dir, "a directory"),
                STR("loggen", loggen, "a program"),
                STR("shipper", shipper, "a program"),
                STR("clickhouse_endpoint", clickhouse_endpoint, "a program"),
                STR("chdb_lib", chdb_lib, "a path"),
                STR("schema_dir", schema_dir, "a directory"),
                INT("clickhouse_port", ch_port, 1, 65535),
                INT("shipper_port", shipper_port, 1, 65535),
                INT("loggen_health_port", loggen_health_port, 1, 65535),
                LIST("loggen_args", loggen_args),
                DUR("restart_max", restart_max, NSEC_PER_SEC, NSEC_PER_HOUR),
        };
        const Section sections[] = {
                {NULL, top, ELEMENTSOF(top)},
                {"status", status, ELEMENTSOF(status)},
                {"clickhouse", clickhouse, ELEMENTSOF(clickhouse)},
                {"cluster", cluster, ELEMENTSOF(cluster)},
                {"local", local, ELEMENTSOF(local)},
        };
        int r;

        c->lines.loggen = key_line(root, "local", "loggen");
        c->lines.shipper = key_line(root, "local", "shipper");
        c->lines.clickhouse_endpoint = key_line(root, "local", "clickhouse_endpoint");
        c->lines.chdb_lib = key_line(root, "local", "chdb_lib");
        c->lines.schema_dir = key_line(root, "local", "schema_dir");
        c->lines.loggen_args = key_line(root, "local", "loggen_args");

        r = config_file_apply(root, NULL, sections[0].options, sections[0].n_options, path);
        if (r < 0)
                return r;
        for (size_t i = 0; i < root->n_children; i++)
                for (size_t s = 1; s < ELEMENTSOF(sections); s++)
                        if (streq(root->children[i].key, sections[s].name)) {
                                r = config_file_apply(
                                        root->children + i,
                                        sections[s].name,
                                        sections[s].options,
                                        sections[s].n_options,
                                        path);
                                if (r < 0)
                                        return r;
                        }
        return 0;
}

int supervisor_config_verify(const SupervisorConfig *c) {
        const char *f = strempty(c->path);

        if (c->mode == SUPERVISOR_MODE_LOCAL && !c->chdb_lib)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s: local mode needs local.chdb_lib (the embedded ClickHouse engine)",
                        f);
        if (c->mode == SUPERVISOR_MODE_LOCAL && !c->schema_dir)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s: local mode needs local.schema_dir (manifests/clickhouse/schema)",
                        f);
        return 0;
}

void supervisor_config_done(SupervisorConfig *c) {
        char **strs[] = {
                &c->path,
                &c->state_dir,
                &c->status_socket,
                &c->status_listen,
                &c->ch_url,
                &c->ch_user,
                &c->ch_password_file,
                &c->ch_database,
                &c->ch_table,
                &c->integrity_service,
                &c->minikube,
                &c->profile,
                &c->images_dir,
                &c->manifests_dir,
                &c->namespace,
                &c->data_dir,
                &c->loggen,
                &c->shipper,
                &c->clickhouse_endpoint,
                &c->chdb_lib,
                &c->schema_dir,
        };
        for (size_t i = 0; i < ELEMENTSOF(strs); i++) {
                free(*strs[i]);
                *strs[i] = NULL;
        }
        c->start_args = strv_free(c->start_args);
        c->loggen_args = strv_free(c->loggen_args);
}
