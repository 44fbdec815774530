/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include "macro.h"
#include "otelctl-render.h"

static const char *str(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *key, double def) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static bool flag(const cJSON *o, const char *key) {
        return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* "4s", "3m12s", "2h5m", "3d4h": short ages for a table. */
static const char *age(double seconds, char *buf, size_t size) {
        long s = seconds < 0 || isnan(seconds) ? 0 : (long) seconds;

        if (seconds >= 0 && seconds < 10)
                (void) snprintf(buf, size, "%.1fs", seconds);
        else if (s < 60)
                (void) snprintf(buf, size, "%lds", s);
        else if (s < 3600)
                (void) snprintf(buf, size, "%ldm%lds", s / 60, s % 60);
        else if (s < 86400)
                (void) snprintf(buf, size, "%ldh%ldm", s / 3600, s % 3600 / 60);
        else
                (void) snprintf(buf, size, "%ldd%ldh", s / 86400, s % 86400 / 3600);
        return buf;
}

/* Seconds since an ISO 8601 UTC time as the supervisor writes it. */
static double since(const char *iso, time_t now) {
        struct tm tm = {};

        if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm))
                return NAN;
        return difftime(now, timegm(&tm));
}

static void render_processes(FILE *f, const cJSON *list) {
        const cJSON *p;
        char a[32];

        if (cJSON_GetArraySize(list) == 0)
                return;
        fprintf(f,
                "\n%-12s %-11s %-8s %-9s %-8s %s\n",
                "PROCESS",
                "STATE",
                "PID",
                "RESTARTS",
                "UPTIME",
                "LAST EXIT");
        cJSON_ArrayForEach(p, list) {
                const cJSON *pid = cJSON_GetObjectItemCaseSensitive(p, "pid");
                char pidbuf[16] = "-";

                if (cJSON_IsNumber(pid))
                        (void) snprintf(pidbuf, sizeof(pidbuf), "%d", pid->valueint);
                fprintf(f,
                        "%-12s %-11s %-8s %-9.0f %-8s %.0f\n",
                        strempty(str(p, "name")),
                        strempty(str(p, "state")),
                        pidbuf,
                        num(p, "restarts", 0),
                        cJSON_IsNumber(pid) ? age(num(p, "uptime_seconds", 0), a, sizeof(a)) : "-",
                        num(p, "last_exit_status", 0));
        }
}

static void render_cluster(FILE *f, const cJSON *root) {
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(root, "cluster"), *e;

        if (!cl)
                return;
        fprintf(f,
                "%-11s profile %s, namespace %s: host %s, apiserver %s, kubelet %s\n",
                "CLUSTER",
                strempty(str(cl, "profile")),
                strempty(str(cl, "namespace")),
                str(cl, "host") ?: "?",
                str(cl, "apiserver") ?: "?",
                str(cl, "kubelet") ?: "?");

        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "images")) > 0) {
                fprintf(f, "\n%-32s %-9s %s\n", "IMAGE", "STATE", "ID / ERROR");
                cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "images")) {
                        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "tags");
                        const cJSON *t0 = cJSON_GetArrayItem(tags, 0);
                        const char *file = strempty(str(e, "file"));
                        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
                        fprintf(f,
                                "%-32s %-9s %.19s%s\n",
                                cJSON_IsString(t0) ? t0->valuestring : base,
                                strempty(str(e, "state")),
                                str(e, "error") ? "" : strempty(str(e, "id")),
                                strempty(str(e, "error")));
                }
        }
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "workloads")) > 0) {
                fprintf(f, "\n%-12s %-24s %-12s %s\n", "KIND", "WORKLOAD", "ROLLOUT", "MESSAGE");
                cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "workloads"))
                        fprintf(f,
                                "%-12s %-24s %-12s %s\n",
                                strempty(str(e, "kind")),
                                strempty(str(e, "name")),
                                strempty(str(e, "rollout")),
                                strempty(str(e, "message")));
        }
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "pods")) > 0) {
                fprintf(f, "\n%-40s %-10s %-6s %-9s %s\n", "POD", "PHASE", "READY", "RESTARTS", "REASON");
                cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "pods"))
                        fprintf(f,
                                "%-40s %-10s %-6s %-9.0f %s\n",
                                strempty(str(e, "name")),
                                strempty(str(e, "phase")),
                                flag(e, "ready") ? "yes" : "no",
                                num(e, "restarts", 0),
                                str(e, "reason") ?: "-");
        }
}

void otelctl_render_status(FILE *f, const cJSON *root, time_t now) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(root, "clickhouse");
        const cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "pipeline");
        char a[32], b[32];

        fprintf(f,
                "%-11s %s (for %s)\n",
                "STATE",
                str(root, "state") ?: "unknown",
                age(since(str(root, "since"), now), a, sizeof(a)));
        if (str(root, "reason"))
                fprintf(f, "%-11s %s\n", "REASON", str(root, "reason"));
        fprintf(f,
                "%-11s %s, supervisor %s\n",
                "MODE",
                strempty(str(root, "mode")),
                strempty(str(root, "version")));

        if (ch) {
                const cJSON *agev = cJSON_GetObjectItemCaseSensitive(ch, "newest_log_age_seconds");
                if (!flag(ch, "checked"))
                        fprintf(f, "%-11s %s: not checked yet\n", "CLICKHOUSE", strempty(str(ch, "url")));
                else if (!flag(ch, "reachable"))
                        fprintf(f,
                                "%-11s %s: unreachable (%s)\n",
                                "CLICKHOUSE",
                                strempty(str(ch, "url")),
                                strempty(str(ch, "error")));
                else
                        fprintf(f,
                                "%-11s %s: %.0f rows, newest log %s%s%s\n",
                                "CLICKHOUSE",
                                strempty(str(ch, "url")),
                                num(ch, "rows", 0),
                                cJSON_IsNumber(agev) ? age(agev->valuedouble, b, sizeof(b)) : "-",
                                cJSON_IsNumber(agev) ? " ago" : "",
                                str(ch, "error") ? "; error: " : "");
                if (flag(ch, "reachable") && str(ch, "error"))
                        fprintf(f, "%-11s %s\n", "", str(ch, "error"));
        }
        if (pl)
                fprintf(f,
                        "%-11s %s: %.0f lost, %.0f duplicated over %d stream%s\n",
                        "PIPELINE",
                        strempty(str(pl, "service")),
                        num(pl, "lost", 0),
                        num(pl, "duplicated", 0),
                        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pl, "streams")),
                        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pl, "streams")) == 1 ? "" : "s");
        render_cluster(f, root);
        render_processes(f, cJSON_GetObjectItemCaseSensitive(root, "processes"));
}

/* Writes s with control characters escaped (\n, \t, \xNN); quoted when asked and it has a space, '"' or
 * '=' or is empty. */
static void put_text(FILE *f, const char *s, bool quote_if_needed) {
        bool quote = quote_if_needed && (!*s || strpbrk(s, " \"=") != NULL);

        if (quote)
                fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p == '\r')
                        fputs("\\r", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else if (quote && (*p == '"' || *p == '\\'))
                        fprintf(f, "\\%c", *p);
                else
                        fputc(*p, f);
        }
        if (quote)
                fputc('"', f);
}

void otelctl_render_log_row(FILE *f, const cJSON *row) {
        const char *time = str(row, "time"), *pod = str(row, "pod"), *service = str(row, "service");
        const char *severity = str(row, "severity"), *body = str(row, "body");
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(row, "attributes"), *a;
        char t[32] = "";

        /* "2026-11-21T12:50:01.123456789Z" → "2026-11-21T12:50:01.123Z" */
        if (time && strlen(time) >= 23)
                (void) snprintf(t, sizeof(t), "%.23sZ", time);
        fprintf(f, "%s ", t[0] ? t : "-");
        put_text(f, !isempty(pod) ? pod : !isempty(service) ? service : "-", false);
        fprintf(f, " %-5s ", !isempty(severity) ? severity : "-");
        put_text(f, strempty(body), false);
        if (flag(row, "body_truncated"))
                fputs("…", f);
        cJSON_ArrayForEach(a, attrs) {
                if (!cJSON_IsString(a) || !a->string || streq(a->string, "level") || streq(a->string, "ts"))
                        continue;
                fputc(' ', f);
                put_text(f, a->string, true);
                fputc('=', f);
                put_text(f, a->valuestring, true);
        }
        fputc('\n', f);
}
