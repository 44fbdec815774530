/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "supervisor-config.h"
#include "supervisor-spawn.h"
#include "util.h"

/* loggen answers --check-config at once; this only bounds a program that is something else. */
#define LOGGEN_CHECK_TIMEOUT_MS 10000

/* "config.yaml:23: local.shipper" or, for a default the file does not set, "config.yaml: local.shipper (the
 * default)". */
static const char *where(const SupervisorConfig *c, unsigned line, const char *key, char *buf, size_t size) {
        if (line > 0)
                (void) snprintf(buf, size, "%s:%u: %s", strempty(c->path), line, key);
        else
                (void) snprintf(buf, size, "%s: %s (the default)", strempty(c->path), key);
        return buf;
}

/* 0 when path is an executable regular file; otherwise a negative errno. */
static int executable_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        if (access(path, X_OK) < 0)
                return -errno;
        return 0;
}

/* A program as execvp() finds it: a name with a '/' as it is, any other through PATH. */
static int check_program(const SupervisorConfig *c, const char *program, unsigned line, const char *key) {
        char w[512];
        int r;

        if (strchr(program, '/')) {
                r = executable_file(program);
                if (r < 0)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL),
                                "%s: \"%s\" is not an executable program: %s",
                                where(c, line, key, w, sizeof(w)),
                                program,
                                strerror(-r));
                return 0;
        }
        for (const char *dir = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";;) {
                size_t len = strcspn(dir, ":");
                _cleanup_free_ char *full = NULL;

                /* An empty entry is the current directory, as execvp() has it. */
                if (asprintf(&full, "%.*s/%s", (int) (len ? len : 1), len ? dir : ".", program) < 0)
                        return log_oom();
                if (executable_file(full) >= 0)
                        return 0;
                if (!dir[len])
                        break;
                dir += len + 1;
        }
        return log_error_errno(
                SYNTHETIC_ERRNO(EINVAL),
                "%s: \"%s\" is not in PATH (give its path)",
                where(c, line, key, w, sizeof(w)),
                program);
}

static int check_kind(
        const SupervisorConfig *c, const char *path, bool dir, unsigned line, const char *key) {
        struct stat st;
        char w[512];

        if (stat(path, &st) < 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s: %s: %s",
                        where(c, line, key, w, sizeof(w)),
                        path,
                        strerror(errno));
        if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s: %s is not a %s",
                        where(c, line, key, w, sizeof(w)),
                        path,
                        dir ? "directory" : "file");
        return 0;
}

/* Runs `loggen --health-address 127.0.0.1 --health-port PORT ARGS... --check-config` (the local runtime's
 * argv, and the check) and reports what loggen says about them. */
static int check_loggen_args(const SupervisorConfig *c) {
        _cleanup_free_ const char **argv = NULL;
        _cleanup_close_ int null = -EBADF;
        char port[16], out[1024], w[512];
        size_t n = 0, k = 0, got = 0;
        int pipefd[2], status = 0, r;
        pid_t pid;

        while (c->loggen_args[n])
                n++;
        argv = new0(const char *, n + 7);
        if (!argv)
                return log_oom();
        (void) snprintf(port, sizeof(port), "%" PRIi64, c->loggen_health_port);
        argv[k++] = c->loggen;
        argv[k++] = "--health-address";
        argv[k++] = "127.0.0.1";
        argv[k++] = "--health-port";
        argv[k++] = port;
        for (size_t i = 0; i < n; i++)
                argv[k++] = c->loggen_args[i];
        argv[k++] = "--check-config";

        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0)
                return log_error_errno(errno, "Failed to open /dev/null: %m");
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        r = spawn_child(argv, NULL, null, pipefd[1], &pid);
        (void) close(pipefd[1]);
        if (r < 0) {
                (void) close(pipefd[0]);
                return log_error_errno(r, "Failed to run %s: %m", c->loggen);
        }
        /* Its stderr, up to EOF or the time limit: the first line is what loggen objects to. */
        for (;;) {
                struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
                ssize_t m;

                r = poll(&p, 1, LOGGEN_CHECK_TIMEOUT_MS);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                m = read(pipefd[0], out + got, sizeof(out) - 1 - got);
                if (m < 0 && errno == EINTR)
                        continue;
                if (m <= 0)
                        break;
                got += (size_t) m;
                if (got == sizeof(out) - 1)
                        break;
        }
        (void) close(pipefd[0]);
        out[got] = 0;
        /* Its stderr closes as it exits; it is a zombie to reap a moment later. */
        for (unsigned i = 0; i < LOGGEN_CHECK_TIMEOUT_MS / 10; i++) {
                r = waitpid(pid, &status, WNOHANG);
                if (r != 0)
                        break;
                (void) usleep(10 * 1000);
        }
        if (r == 0) {
                (void) kill(-pid, SIGKILL);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, &status, 0);
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "%s: %s did not answer --check-config within %d s",
                        where(c, c->lines.loggen, "local.loggen", w, sizeof(w)),
                        c->loggen,
                        LOGGEN_CHECK_TIMEOUT_MS / 1000);
        }
        if (r < 0)
                return log_error_errno(errno, "Failed to wait for %s: %m", c->loggen);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        out[strcspn(out, "\n")] = 0;
        return log_error_errno(
                SYNTHETIC_ERRNO(EINVAL),
                "%s: loggen does not accept them: %s",
                where(c, c->lines.loggen_args, "local.loggen_args", w, sizeof(w)),
                *out ? out : "(no message)");
}

int supervisor_config_check_environment(const SupervisorConfig *c) {
        int r, ret = 0;

        /* Cluster mode runs minikube, which the unit's PATH provides on the machine that runs it: the file
         * is also checked where it is built (tests/nix), without minikube. A missing minikube is named in
         * the status and retried. */
        if (c->mode == SUPERVISOR_MODE_CLUSTER)
                return 0;
        /* Every problem at once: one run of --check-config shows all there is to fix. */
        r = check_program(
                c, c->clickhouse_endpoint, c->lines.clickhouse_endpoint, "local.clickhouse_endpoint");
        if (r < 0)
                ret = r;
        r = check_program(c, c->shipper, c->lines.shipper, "local.shipper");
        if (r < 0)
                ret = r;
        r = check_program(c, c->loggen, c->lines.loggen, "local.loggen");
        if (r < 0)
                ret = r;
        else {
                r = check_loggen_args(c);
                if (r < 0)
                        ret = r;
        }
        r = check_kind(c, c->chdb_lib, false, c->lines.chdb_lib, "local.chdb_lib");
        if (r < 0)
                ret = r;
        r = check_kind(c, c->schema_dir, true, c->lines.schema_dir, "local.schema_dir");
        if (r < 0)
                ret = r;
        return ret;
}
