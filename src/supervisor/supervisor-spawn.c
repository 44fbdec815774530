/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "macro.h"
#include "supervisor-spawn.h"

_noreturn_ static void exec_child(const char *const *argv, const char *const *env, int out_fd, int err_fd) {
        sigset_t none;
        int null;

        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        (void) setpgid(0, 0);

        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(err_fd, STDERR_FILENO) < 0)
                _exit(126);
        /* Our service's channel to systemd is ours: a child that speaks sd_notify must not pose as us. */
        (void) unsetenv("NOTIFY_SOCKET");
        (void) unsetenv("WATCHDOG_USEC");
        (void) unsetenv("WATCHDOG_PID");
        for (; env && *env; env++)
                (void) putenv((char *) *env); /* the child's own copy of memory, after fork() */
        execvp(argv[0], (char *const *) argv);
        (void) dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
}

int spawn_child(const char *const *argv, const char *const *env, int out_fd, int err_fd, pid_t *ret_pid) {
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0)
                exec_child(argv, env, out_fd, err_fd);
        *ret_pid = pid;
        return 0;
}
