/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "strbuf.h"

/* A one-shot command run from the event loop (minikube start, minikube status, image load): its stdout is
 * collected up to a limit, the tail of its stderr kept for error messages, and it is killed when it runs
 * past its timeout (SIGTERM, SIGKILL five seconds later). */

typedef struct Command Command;

typedef struct CommandResult {
        int exit_status; /* exit code, 128+signal, or -errno when it could not run */
        bool timed_out;
        const char *out; /* stdout, NUL-terminated */
        size_t out_size;
        const char *err_tail; /* last part of stderr */
} CommandResult;

typedef void (*CommandDone)(Command *c, const CommandResult *r, void *userdata);

/* env: "NAME=value" strings added to the environment, or NULL. */
int command_run(
        sd_event *e,
        const char *const *argv,
        const char *const *env,
        uint64_t timeout_usec,
        CommandDone done,
        void *userdata,
        Command **ret);
/* Stops waiting: kills the command (SIGKILL) and reaps it; the callback is not called. */
Command *command_free(Command *c);
static inline void command_freep(Command **c) {
        if (*c)
                command_free(*c);
}
