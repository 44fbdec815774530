/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "util.h"

/* The schema lives in manifests/clickhouse/schema/ as plain .sql files, one statement each, applied in file
 * name order; see the README.md there. The same files initialise the ClickHouse server in the cluster. */

#define COMPAT_SUFFIX ".compat.sql"
#define SQL_SUFFIX ".sql"
#define SCHEMA_FILE_MAX (1024 * 1024)
/* Text indexes and the *AttributeItems columns of the HyperDX schema need ClickHouse 26.2. */
#define TEXT_INDEX_MAJOR 26
#define TEXT_INDEX_MINOR 2

int schema_parse_version(const char *v, unsigned *ret_major, unsigned *ret_minor) {
        char buf[16];
        uint32_t major, minor;
        const char *dot1, *dot2;

        dot1 = strchr(v, '.');
        if (!dot1 || (size_t) (dot1 - v) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, v, dot1 - v);
        buf[dot1 - v] = 0;
        if (safe_atou32(buf, &major) < 0)
                return -EINVAL;
        dot2 = dot1 + 1 + strcspn(dot1 + 1, ".");
        if ((size_t) (dot2 - dot1 - 1) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, dot1 + 1, dot2 - dot1 - 1);
        buf[dot2 - dot1 - 1] = 0;
        if (safe_atou32(buf, &minor) < 0)
                return -EINVAL;
        *ret_major = major;
        *ret_minor = minor;
        return 0;
}

static bool endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);
        return l >= k && streq(s + l - k, suffix);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int schema_list_files(const char *dir, unsigned major, unsigned minor, char ***ret) {
        _cleanup_strv_free_ char **names = NULL, **out = NULL;
        size_t n = 0, m = 0;
        DIR *d;
        struct dirent *de;
        bool compat = major < TEXT_INDEX_MAJOR || (major == TEXT_INDEX_MAJOR && minor < TEXT_INDEX_MINOR);

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || !endswith(de->d_name, SQL_SUFFIX))
                        continue;
                char **p = realloc(names, (n + 2) * sizeof(char *));
                if (!p) {
                        closedir(d);
                        return -ENOMEM;
                }
                names = p;
                names[n] = strdup(de->d_name);
                names[n + 1] = NULL;
                if (!names[n]) {
                        closedir(d);
                        return -ENOMEM;
                }
                n++;
        }
        closedir(d);
        if (n == 0)
                return -ENOENT;
        qsort(names, n, sizeof(char *), cmp_str);

        out = new0(char *, n + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *name = names[i];
                bool is_compat = endswith(name, COMPAT_SUFFIX);
                if (is_compat && !compat)
                        continue;
                if (!is_compat && compat) {
                        /* Replaced by its .compat.sql sibling, if there is one. */
                        _cleanup_free_ char *sibling = NULL;
                        if (asprintf(
                                    &sibling,
                                    "%.*s%s",
                                    (int) (strlen(name) - strlen(SQL_SUFFIX)),
                                    name,
                                    COMPAT_SUFFIX) < 0)
                                return -ENOMEM;
                        bool replaced = false;
                        for (size_t j = 0; j < n; j++)
                                if (streq(names[j], sibling))
                                        replaced = true;
                        if (replaced)
                                continue;
                }
                if (asprintf(&out[m], "%s/%s", dir, name) < 0)
                        return -ENOMEM;
                m++;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int schema_apply(Engine *e, const char *dir) {
        _cleanup_strv_free_ char **files = NULL;
        unsigned major, minor;
        int r;

        r = schema_parse_version(engine_version(e), &major, &minor);
        if (r < 0)
                return log_error_errno(r, "Cannot parse the engine's version '%s'", engine_version(e));
        r = schema_list_files(dir, major, minor, &files);
        if (r < 0)
                return log_error_errno(r, "Failed to list schema files in %s: %m", dir);

        for (char **f = files; *f; f++) {
                _cleanup_free_ char *sql = NULL;
                size_t size;
                EngineResult res = {};

                r = read_full_file(*f, SCHEMA_FILE_MAX, &sql, &size);
                if (r < 0)
                        return log_error_errno(r, "Failed to read %s: %m", *f);
                r = engine_query(e, sql, size, "TabSeparated", &res);
                if (r < 0)
                        return log_error_errno(r, "Failed to run %s: %m", *f);
                if (res.error) {
                        log_error("%s: %s", *f, res.error);
                        engine_result_done(e, &res);
                        return -EINVAL;
                }
                engine_result_done(e, &res);
                log_info("Applied %s", *f);
        }
        log_info(
                "Schema from %s applied (ClickHouse %s, %s variant)",
                dir,
                engine_version(e),
                major < TEXT_INDEX_MAJOR || (major == TEXT_INDEX_MAJOR && minor < TEXT_INDEX_MINOR)
                        ? "compat"
                        : "text-index");
        return 0;
}

int schema_set_logs_ttl_days(Engine *e, unsigned days) {
        _cleanup_free_ char *want = NULL, *alter = NULL;
        EngineResult res = {};
        static const char q[] =
                "SELECT create_table_query FROM system.tables WHERE database = 'default' AND name = 'otel_logs'";
        int r;

        if (asprintf(&want, "TTL toDateTime(Timestamp) + toIntervalDay(%u)", days) < 0)
                return log_oom();
        r = engine_query(e, q, strlen(q), "TSVRaw", &res);
        if (r < 0 || res.error) {
                log_error("Failed to read otel_logs' definition: %s", res.error ?: "engine call failed");
                engine_result_done(e, &res);
                return -EIO;
        }
        bool present = res.size > 0;
        bool same = present && memmem(res.data, res.size, want, strlen(want));
        engine_result_done(e, &res);
        if (!present)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT),
                        "--logs-ttl-days needs the otel_logs table (give --schema-dir)");
        if (same)
                return 0;

        if (asprintf(&alter, "ALTER TABLE default.otel_logs MODIFY %s", want) < 0)
                return log_oom();
        r = engine_query(e, alter, strlen(alter), "TabSeparated", &res);
        if (r < 0 || res.error) {
                log_error("Failed to set otel_logs' TTL: %s", res.error ?: "engine call failed");
                engine_result_done(e, &res);
                return -EIO;
        }
        engine_result_done(e, &res);
        log_info("otel_logs retention set to %u days", days);
        return 0;
}
