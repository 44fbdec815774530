/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

/* A supervised child process: started, its output captured, restarted with exponential back-off when it
 * exits, and stopped (SIGTERM, then SIGKILL) on request.
 *
 * stderr lines go to our log with the child's name in front. stdout either does the same, or — for a
 * workload whose logs the pipeline collects — is written to a container log file in CRI format
 * ("<RFC3339Nano> stdout F <line>"), as a container runtime would write it. */

#define PROCESS_LINE_MAX (16 * 1024)

typedef struct Process Process;
typedef void (*ProcessCallback)(Process *p, void *userdata);

typedef enum ProcessState {
        PROCESS_STOPPED,
        PROCESS_RUNNING,
        PROCESS_BACKOFF, /* exited, restart scheduled */
        PROCESS_STOPPING,
} ProcessState;

typedef struct ProcessStream {
        sd_event_source *source;
        int fd;
        char buf[PROCESS_LINE_MAX];
        size_t len;
        bool is_stdout;
} ProcessStream;

struct Process {
        sd_event *event;
        char *name;
        char **argv;
        char **env;    /* added to the inherited environment */
        char *cri_dir; /* if set: stdout goes to a CRI log file created in this directory per start */
        char *cri_pod, *cri_namespace, *cri_container;

        ProcessState state;
        pid_t pid;
        sd_event_source *child_source;
        sd_event_source *timer; /* restart back-off, or the SIGKILL escalation */
        ProcessStream out, err;
        int cri_fd;
        char *cri_path;
        char container_id[65];

        uint64_t started_usec; /* CLOCK_MONOTONIC */
        unsigned restarts;
        unsigned failures_in_row;
        int last_exit_status; /* exit code, or 128+signal */
        uint64_t restart_initial_usec, restart_max_usec;
        uint64_t stop_timeout_usec;

        ProcessCallback on_change;
        void *userdata;
};

int process_new(sd_event *e, const char *name, const char *const *argv, Process **ret);
Process *process_free(Process *p);
static inline void process_freep(Process **p) {
        if (*p)
                process_free(*p);
}
/* Sends stdout to CRI files named <pod>_<namespace>_<container>-<id>.log in dir. */
int process_set_cri_output(
        Process *p, const char *dir, const char *pod, const char *namespace, const char *container);
int process_add_env(Process *p, const char *assignment);

int process_start(Process *p);
/* Schedules the next start after the back-off (used when a start failed). */
void process_retry_later(Process *p);
/* SIGTERM now, SIGKILL after the stop timeout; no restart afterwards. */
void process_stop(Process *p);
/* Restarts a running process (SIGTERM; it is started again at once when it has exited). */
void process_kill(Process *p, int sig);
const char *process_state_to_string(ProcessState s);
