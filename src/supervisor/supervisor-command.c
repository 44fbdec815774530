/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "supervisor-command.h"
#include "supervisor-spawn.h"

#define COMMAND_OUT_MAX (8 * 1024 * 1024)
#define COMMAND_ERR_TAIL 2048
#define COMMAND_KILL_GRACE_USEC (5 * USEC_PER_SEC)

struct Command {
        sd_event *event;
        pid_t pid;
        sd_event_source *child, *out_source, *err_source, *timer;
        int out_fd, err_fd;
        StrBuf out;
        char err_tail[COMMAND_ERR_TAIL + 1];
        size_t err_len;
        bool timed_out, overflow;
        int exit_status;
        CommandDone done;
        void *userdata;
};

static void drain(Command *c, int *fd, sd_event_source **source, bool is_out) {
        char buf[16384];

        while (*fd >= 0) {
                ssize_t k = read(*fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return;
                if (k <= 0) {
                        *source = sd_event_source_disable_unref(*source);
                        *fd = safe_close(*fd);
                        return;
                }
                if (is_out) {
                        if (strbuf_append(&c->out, buf, (size_t) k) < 0)
                                c->overflow = true;
                } else {
                        /* Keep the last COMMAND_ERR_TAIL bytes: the end of an error output says what went
                         * wrong. */
                        size_t n = (size_t) k;
                        if (n >= COMMAND_ERR_TAIL) {
                                memcpy(c->err_tail, buf + n - COMMAND_ERR_TAIL, COMMAND_ERR_TAIL);
                                c->err_len = COMMAND_ERR_TAIL;
                        } else {
                                size_t keep = MIN(c->err_len, COMMAND_ERR_TAIL - n);
                                memmove(c->err_tail, c->err_tail + c->err_len - keep, keep);
                                memcpy(c->err_tail + keep, buf, n);
                                c->err_len = keep + n;
                        }
                        c->err_tail[c->err_len] = 0;
                }
        }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Command *c = userdata;

        if (fd == c->out_fd)
                drain(c, &c->out_fd, &c->out_source, true);
        else
                drain(c, &c->err_fd, &c->err_source, false);
        return 0;
}

static int on_command_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Command *c = userdata;
        CommandResult r;

        c->child = sd_event_source_disable_unref(c->child);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->pid = 0;
        drain(c, &c->out_fd, &c->out_source, true);
        drain(c, &c->err_fd, &c->err_source, false);

        c->exit_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        r = (CommandResult){
                .exit_status = c->overflow ? -EFBIG : c->exit_status,
                .timed_out = c->timed_out,
                .out = c->out.data ?: "",
                .out_size = c->out.len,
                .err_tail = c->err_tail,
        };
        /* Trailing white space of the tail is noise in a message. */
        while (c->err_len > 0 && (c->err_tail[c->err_len - 1] == '\n' || c->err_tail[c->err_len - 1] == ' '))
                c->err_tail[--c->err_len] = 0;
        c->done(c, &r, c->userdata);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Command *c = userdata;
        int r;

        if (c->pid <= 0)
                return 0;
        if (!c->timed_out) {
                c->timed_out = true;
                (void) kill(-c->pid, SIGTERM);
                (void) kill(c->pid, SIGTERM);
                r = sd_event_source_set_time_relative(s, COMMAND_KILL_GRACE_USEC);
                if (r >= 0)
                        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        (void) kill(-c->pid, SIGKILL);
        (void) kill(c->pid, SIGKILL);
        return 0;
}

int command_run(
        sd_event *e,
        const char *const *argv,
        const char *const *env,
        uint64_t timeout_usec,
        CommandDone done,
        void *userdata,
        Command **ret) {

        _cleanup_(command_freep) Command *c = NULL;
        int o[2], er[2], r;

        c = new0(Command, 1);
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->out_fd = c->err_fd = -EBADF;
        c->out = STRBUF_INIT(COMMAND_OUT_MAX);
        c->done = done;
        c->userdata = userdata;

        if (pipe2(o, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(er, O_CLOEXEC) < 0) {
                r = -errno;
                close(o[0]);
                close(o[1]);
                return r;
        }
        r = spawn_child(argv, env, o[1], er[1], &c->pid);
        if (r < 0) {
                close(o[0]);
                close(o[1]);
                close(er[0]);
                close(er[1]);
                return r;
        }
        close(o[1]);
        close(er[1]);
        c->out_fd = o[0];
        c->err_fd = er[0];
        (void) fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
        (void) fcntl(c->err_fd, F_SETFL, O_NONBLOCK);

        r = sd_event_add_child(e, &c->child, c->pid, WEXITED, on_command_exit, c);
        if (r >= 0)
                r = sd_event_add_io(e, &c->out_source, c->out_fd, EPOLLIN, on_output, c);
        if (r >= 0)
                r = sd_event_add_io(e, &c->err_source, c->err_fd, EPOLLIN, on_output, c);
        if (r >= 0 && timeout_usec > 0)
                r = sd_event_add_time_relative(
                        e, &c->timer, CLOCK_MONOTONIC, timeout_usec, 100000, on_timeout, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->child, argv[0]);
        *ret = TAKE_PTR(c);
        return 0;
}

Command *command_free(Command *c) {
        if (!c)
                return NULL;
        if (c->pid > 0) {
                (void) kill(-c->pid, SIGKILL);
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
        }
        sd_event_source_disable_unref(c->child);
        sd_event_source_disable_unref(c->out_source);
        sd_event_source_disable_unref(c->err_source);
        sd_event_source_disable_unref(c->timer);
        safe_close(c->out_fd);
        safe_close(c->err_fd);
        strbuf_done(&c->out);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}
