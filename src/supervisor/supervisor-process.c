/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "supervisor-process.h"
#include "supervisor-spawn.h"
#include "util.h"

/* A child that ran this long before exiting counts as healthy again: its next restart is immediate-ish. */
#define PROCESS_STABLE_USEC (30 * USEC_PER_SEC)

const char *process_state_to_string(ProcessState s) {
        static const char *const names[] = {
                [PROCESS_STOPPED] = "stopped",
                [PROCESS_RUNNING] = "running",
                [PROCESS_BACKOFF] = "restarting",
                [PROCESS_STOPPING] = "stopping",
        };
        return names[s];
}

int process_new(sd_event *e, const char *name, const char *const *argv, Process **ret) {
        _cleanup_(process_freep) Process *p = NULL;
        size_t n = 0;

        while (argv[n])
                n++;
        p = new0(Process, 1);
        if (!p)
                return -ENOMEM;
        *p = (Process){
                .event = sd_event_ref(e),
                .out = {.fd = -EBADF, .is_stdout = true},
                .err = {.fd = -EBADF},
                .cri_fd = -EBADF,
                .restart_initial_usec = USEC_PER_SEC,
                .restart_max_usec = 30000000,
                .stop_timeout_usec = 10 * USEC_PER_SEC,
        };
        p->name = strdup(name);
        p->argv = new0(char *, n + 1);
        p->env = new0(char *, 1);
        if (!p->name || !p->argv || !p->env)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(p->argv[i] = strdup(argv[i])))
                        return -ENOMEM;
        *ret = TAKE_PTR(p);
        return 0;
}

int process_add_env(Process *p, const char *assignment) {
        size_t n = 0;
        char **l;

        while (p->env[n])
                n++;
        l = reallocarray(p->env, n + 2, sizeof(char *));
        if (!l)
                return -ENOMEM;
        p->env = l;
        l[n] = strdup(assignment);
        l[n + 1] = NULL;
        return l[n] ? 0 : -ENOMEM;
}

int process_set_cri_output(
        Process *p, const char *dir, const char *pod, const char *namespace, const char *container) {
        free(p->cri_dir);
        free(p->cri_pod);
        free(p->cri_namespace);
        free(p->cri_container);
        p->cri_dir = strdup(dir);
        p->cri_pod = strdup(pod);
        p->cri_namespace = strdup(namespace);
        p->cri_container = strdup(container);
        return p->cri_dir && p->cri_pod && p->cri_namespace && p->cri_container ? 0 : -ENOMEM;
}

static void stream_close(ProcessStream *s) {
        s->source = sd_event_source_disable_unref(s->source);
        s->fd = safe_close(s->fd);
        s->len = 0;
}

/* "2026-11-21T12:00:00.123456789Z", as CRI runtimes stamp lines. */
static void format_cri_time(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;
        char date[32];

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        (void) gmtime_r(&ts.tv_sec, &tm);
        (void) strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(buf, size, "%s.%09ldZ", date, ts.tv_nsec);
}

static void emit_line(Process *p, ProcessStream *s, const char *line, size_t n, bool partial) {
        if (s->is_stdout && p->cri_fd >= 0) {
                char prefix[64];
                int k;
                int r;

                format_cri_time(prefix, sizeof(prefix));
                k = (int) strlen(prefix);
                k += snprintf(prefix + k, sizeof(prefix) - (size_t) k, " stdout %c ", partial ? 'P' : 'F');
                r = loop_write(p->cri_fd, prefix, (size_t) k);
                if (r >= 0)
                        r = loop_write(p->cri_fd, line, n);
                if (r >= 0)
                        r = loop_write(p->cri_fd, "\n", 1);
                if (r < 0)
                        log_warning_errno(
                                r, "%s: failed to write %s, dropping a line: %m", p->name, p->cri_path);
                return;
        }
        /* Our children name themselves at the start of their lines already ("shipper: …"); others get
         * their name put in front, so every line says where it came from. */
        {
                const char *base = strrchr(p->argv[0], '/') ? strrchr(p->argv[0], '/') + 1 : p->argv[0];
                size_t bl = strlen(base);

                if (n > bl + 1 && memcmp(line, base, bl) == 0 && line[bl] == ':')
                        log_info("%.*s", (int) n, line);
                else
                        log_info("%s: %.*s", p->name, (int) n, line);
        }
}

/* Splits what is buffered into lines; a line longer than the buffer goes out in parts. */
static void stream_process(Process *p, ProcessStream *s, bool eof) {
        size_t start = 0;

        for (size_t i = 0; i < s->len; i++)
                if (s->buf[i] == '\n') {
                        emit_line(p, s, s->buf + start, i - start, false);
                        start = i + 1;
                }
        if (start == 0 && s->len == sizeof(s->buf)) {
                emit_line(p, s, s->buf, s->len, true);
                start = s->len;
        }
        if (eof && start < s->len) {
                emit_line(p, s, s->buf + start, s->len - start, false);
                start = s->len;
        }
        memmove(s->buf, s->buf + start, s->len - start);
        s->len -= start;
}

/* Reads what the pipe holds now. Returns false at EOF or error. */
static bool stream_read(Process *p, ProcessStream *s) {
        for (;;) {
                ssize_t k;

                if (s->fd < 0)
                        return false;
                k = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return true;
                        log_debug_errno(errno, "%s: read from child failed: %m", p->name);
                        stream_process(p, s, true);
                        stream_close(s);
                        return false;
                }
                if (k == 0) {
                        stream_process(p, s, true);
                        stream_close(s);
                        return false;
                }
                s->len += (size_t) k;
                stream_process(p, s, false);
        }
}

static int on_output(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Process *p = userdata;
        ProcessStream *s = fd == p->out.fd ? &p->out : &p->err;

        (void) stream_read(p, s);
        return 0;
}

static void notify(Process *p) {
        if (p->on_change)
                p->on_change(p, p->userdata);
}

static int arm_timer(Process *p, uint64_t delay_usec, sd_event_time_handler_t cb);

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Process *p = userdata;
        int r;

        p->timer = sd_event_source_disable_unref(p->timer);
        if (p->state != PROCESS_BACKOFF)
                return 0;
        p->restarts++;
        r = process_start(p);
        if (r < 0) {
                log_warning_errno(r, "%s: restart failed, trying again later: %m", p->name);
                p->failures_in_row++;
                process_retry_later(p);
        }
        return 0;
}

static int arm_timer(Process *p, uint64_t delay_usec, sd_event_time_handler_t cb) {
        int r;

        p->timer = sd_event_source_disable_unref(p->timer);
        r = sd_event_add_time_relative(p->event, &p->timer, CLOCK_MONOTONIC, delay_usec, 1000, cb, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->timer, "process-timer");
        return 0;
}

void process_retry_later(Process *p) {
        uint64_t delay;
        int r;

        delay = p->restart_initial_usec;
        for (unsigned i = 1; i < p->failures_in_row && delay < p->restart_max_usec; i++)
                delay *= 2;
        delay = MIN(delay, p->restart_max_usec);
        p->state = PROCESS_BACKOFF;
        log_warning("%s: restarting in %.1f s (restart %u)", p->name, (double) delay / 1e6, p->restarts + 1);
        r = arm_timer(p, delay, on_restart_timer);
        if (r < 0)
                log_error_errno(r, "%s: failed to schedule the restart: %m", p->name);
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Process *p = userdata;
        uint64_t ran = now_usec(CLOCK_MONOTONIC) - p->started_usec;

        p->child_source = sd_event_source_disable_unref(p->child_source);
        p->pid = 0;
        p->last_exit_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        if (si->si_code == CLD_EXITED)
                log_full(
                        si->si_status == 0 ? LOG_INFO : LOG_WARNING,
                        "%s: exited with status %d",
                        p->name,
                        si->si_status);
        else
                log_warning("%s: killed by signal %s", p->name, strsignal(si->si_status));

        /* Whatever the child wrote before it went is still in the pipes. */
        (void) stream_read(p, &p->out);
        (void) stream_read(p, &p->err);
        stream_process(p, &p->out, true);
        stream_process(p, &p->err, true);
        stream_close(&p->out);
        stream_close(&p->err);
        p->cri_fd = safe_close(p->cri_fd);

        if (p->state == PROCESS_STOPPING) {
                p->timer = sd_event_source_disable_unref(p->timer);
                p->state = PROCESS_STOPPED;
        } else {
                p->failures_in_row = ran >= PROCESS_STABLE_USEC ? 1 : p->failures_in_row + 1;
                process_retry_later(p);
        }
        notify(p);
        return 0;
}

static int open_cri_file(Process *p) {
        uint8_t id[32];
        static const char hex[] = "0123456789abcdef";

        /* A new container id per start, as a runtime gives each container instance its own. */
        if (getrandom(id, sizeof(id), 0) != sizeof(id))
                return -EIO;
        for (size_t i = 0; i < sizeof(id); i++) {
                p->container_id[2 * i] = hex[id[i] >> 4];
                p->container_id[2 * i + 1] = hex[id[i] & 15];
        }
        p->container_id[64] = 0;
        free(p->cri_path);
        if (asprintf(
                    &p->cri_path,
                    "%s/%s_%s_%s-%s.log",
                    p->cri_dir,
                    p->cri_pod,
                    p->cri_namespace,
                    p->cri_container,
                    p->container_id) < 0) {
                p->cri_path = NULL;
                return -ENOMEM;
        }
        p->cri_fd = open(p->cri_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (p->cri_fd < 0)
                return -errno;
        return 0;
}

int process_start(Process *p) {
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF;
        int fds[2], r;
        pid_t pid;

        if (p->state == PROCESS_RUNNING || p->state == PROCESS_STOPPING)
                return -EBUSY;
        p->timer = sd_event_source_disable_unref(p->timer);

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0];
        out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        err_r = fds[0];
        err_w = fds[1];
        if (p->cri_dir) {
                r = open_cri_file(p);
                if (r < 0)
                        return log_error_errno(
                                r, "%s: failed to create its log file in %s: %m", p->name, p->cri_dir);
        }

        r = spawn_child((const char *const *) p->argv, (const char *const *) p->env, out_w, err_w, &pid);
        if (r < 0)
                return r;

        p->pid = pid;
        p->started_usec = now_usec(CLOCK_MONOTONIC);
        p->state = PROCESS_RUNNING;
        (void) fcntl(out_r, F_SETFL, O_NONBLOCK);
        (void) fcntl(err_r, F_SETFL, O_NONBLOCK);
        p->out.fd = TAKE_FD(out_r);
        p->err.fd = TAKE_FD(err_r);

        r = sd_event_add_child(p->event, &p->child_source, pid, WEXITED, on_child_exit, p);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                return log_error_errno(r, "%s: failed to watch pid %d: %m", p->name, (int) pid);
        }
        r = sd_event_add_io(p->event, &p->out.source, p->out.fd, EPOLLIN, on_output, p);
        if (r >= 0)
                r = sd_event_add_io(p->event, &p->err.source, p->err.fd, EPOLLIN, on_output, p);
        if (r < 0)
                log_warning_errno(r, "%s: failed to watch its output: %m", p->name);
        log_info("%s: started as pid %d", p->name, (int) pid);
        notify(p);
        return 0;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Process *p = userdata;

        p->timer = sd_event_source_disable_unref(p->timer);
        if (p->state == PROCESS_STOPPING && p->pid > 0) {
                log_warning("%s: still running after SIGTERM, sending SIGKILL", p->name);
                (void) kill(-p->pid, SIGKILL);
                (void) kill(p->pid, SIGKILL);
        }
        return 0;
}

void process_kill(Process *p, int sig) {
        if (p->pid > 0)
                (void) kill(p->pid, sig);
}

void process_stop(Process *p) {
        switch (p->state) {
        case PROCESS_RUNNING:
                p->state = PROCESS_STOPPING;
                /* The whole process group: a child's own helpers go too. */
                (void) kill(-p->pid, SIGTERM);
                (void) kill(p->pid, SIGTERM);
                (void) arm_timer(p, p->stop_timeout_usec, on_kill_timer);
                break;
        case PROCESS_BACKOFF:
                p->timer = sd_event_source_disable_unref(p->timer);
                p->state = PROCESS_STOPPED;
                notify(p);
                break;
        default:
                break;
        }
}

Process *process_free(Process *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                /* Never leave a child behind: kill and reap it (as crun's cleanup_pid does). */
                (void) kill(p->pid, SIGKILL);
                (void) waitpid(p->pid, NULL, 0);
        }
        sd_event_source_disable_unref(p->child_source);
        sd_event_source_disable_unref(p->timer);
        stream_close(&p->out);
        stream_close(&p->err);
        safe_close(p->cri_fd);
        sd_event_unref(p->event);
        free(p->name);
        strv_free(p->argv);
        strv_free(p->env);
        free(p->cri_dir);
        free(p->cri_pod);
        free(p->cri_namespace);
        free(p->cri_container);
        free(p->cri_path);
        free(p);
        return NULL;
}
