/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

/* Forks and executes argv (PATH lookup) with stdin from /dev/null and stdout/stderr on the given fds. The
 * child gets an empty signal mask (the daemon blocks signals for sd-event), default SIGPIPE, its own
 * process group (so it can be stopped with its helpers), SIGTERM when the daemon dies, and no
 * NOTIFY_SOCKET/WATCHDOG_* (the daemon alone speaks to systemd for its service). env holds extra
 * "NAME=value" assignments or is NULL. An exec failure shows in the child's exit status: 127 when the
 * program is missing, 126 otherwise, with the reason on its stderr. */
int spawn_child(const char *const *argv, const char *const *env, int out_fd, int err_fd, pid_t *ret_pid);
