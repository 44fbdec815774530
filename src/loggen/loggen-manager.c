/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "loggen-manager.h"
#include "loggen-output.h"
#include "util.h"

/* One output burst is flushed with one write(); this is its maximum size. */
#define LOGGEN_OUTPUT_MAX (1024 * 1024)
/* How often the rate mode wakes up at most. */
#define LOGGEN_RATE_WAKEUP_NSEC (10 * NSEC_PER_MSEC)

#define LINE(lvl, message)                                                                                  \
        ((LoggenLine){                                                                                      \
                .level = (lvl),                                                                             \
                .ts_usec = now_usec(CLOCK_REALTIME),                                                        \
                .file = __FILE__,                                                                           \
                .line = __LINE__,                                                                           \
                .msg = (message),                                                                           \
        })

/* Writes the buffered lines to stdout. A closed stdout (EPIPE) ends the program: nobody reads the lines. */
static int manager_flush(Manager *m) {
        int r;

        if (m->out.len == 0)
                return 0;
        r = loop_write(STDOUT_FILENO, m->out.data, m->out.len);
        strbuf_reset(&m->out);
        if (r < 0)
                return log_error_errno(r, "Failed to write to standard output: %m");
        return 0;
}

static int emit_started(Manager *m) {
        LoggenLine l = LINE("info", "loop started");
        int r;

        r = loggen_line_begin(&m->out, &l);
        if (r >= 0)
                r = strbuf_printf(
                        &m->out,
                        ",\"interval\":%.9g,\"max_number\":%" PRIi64 ",\"num_strings\":%" PRIi64
                        ",\"seed\":%" PRIu64,
                        (double) m->config.sleep_nsec / 1e9,
                        m->config.max_number,
                        m->config.num_strings,
                        m->config.seed);
        if (r >= 0 && m->config.rate > 0)
                r = strbuf_printf(&m->out, ",\"rate\":%" PRIi64, m->config.rate);
        if (r >= 0 && m->config.count > 0)
                r = strbuf_printf(&m->out, ",\"limit\":%" PRIi64, m->config.count);
        if (r >= 0)
                r = loggen_line_end(&m->out);
        return r;
}

static int emit_health_listening(Manager *m) {
        LoggenLine l = LINE("info", "health server listening");
        int r;

        r = loggen_line_begin(&m->out, &l);
        if (r >= 0)
                r = strbuf_printf(
                        &m->out,
                        ",\"address\":\"%s\",\"port\":%u",
                        m->config.health_address,
                        (unsigned) http_server_port(m->health));
        if (r >= 0)
                r = loggen_line_end(&m->out);
        return r;
}

static int emit_stopped(Manager *m) {
        LoggenLine l = LINE("info", "loop stopped");
        int r;

        r = loggen_line_begin(&m->out, &l);
        if (r >= 0)
                r = strbuf_printf(&m->out, ",\"total_ticks\":%" PRIu64, m->ticks);
        if (r >= 0)
                r = loggen_line_end(&m->out);
        return r;
}

/* Appends the next tick line. A full buffer is flushed and the line written again whole: the count only
 * advances, and the random values are only drawn, once per line that is really printed. */
static int emit_tick(Manager *m) {
        LoggenLine l = LINE("info", "tick");
        uint32_t n = loggen_random_uniform(&m->random, (uint32_t) m->config.max_number);
        const char *s = loggen_random_string(&m->random, (unsigned) m->config.num_strings);
        size_t mark = m->out.len;
        int r;

        r = loggen_format_tick(&m->out, &l, m->ticks + 1, n, s);
        if (r == -ENOBUFS) {
                strbuf_truncate(&m->out, mark);
                r = manager_flush(m);
                if (r < 0)
                        return r;
                mark = 0;
                r = loggen_format_tick(&m->out, &l, m->ticks + 1, n, s);
        }
        if (r < 0) {
                strbuf_truncate(&m->out, mark);
                return r;
        }
        m->ticks++;
        return 0;
}

static int on_exit_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        return sd_event_exit(m->event, m->exit_status);
}

void manager_begin_stop(Manager *m, int64_t delay_nsec) {
        int r;

        if (m->stopping)
                return;
        m->stopping = true;
        (void) sd_event_source_set_enabled(m->tick_timer, SD_EVENT_OFF);

        r = emit_stopped(m);
        if (r >= 0)
                r = manager_flush(m);
        if (r < 0 && m->exit_status == 0)
                m->exit_status = EXIT_FAILURE;

        /* /ready answers 503 from now on; the process stays up for the delay so that probes can see it. */
        r = sd_event_add_time_relative(
                m->event,
                &m->exit_timer,
                CLOCK_MONOTONIC,
                (uint64_t) MAX(delay_nsec, 0) / 1000,
                0,
                on_exit_timer,
                m);
        if (r < 0) {
                log_warning_errno(r, "Failed to arm the exit timer, exiting now: %m");
                (void) sd_event_exit(m->event, m->exit_status);
                return;
        }
        (void) sd_event_source_set_description(m->exit_timer, "exit-timer");
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->stopping) {
                /* A second signal while draining: leave at once. */
                return sd_event_exit(m->event, m->exit_status);
        }
        manager_begin_stop(m, m->config.shutdown_delay_nsec);
        return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now, elapsed_nsec, target, burst_max;
        int r;

        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                now = usec;

        /* Which line numbers are due by now, measured from the start, so that timer slack never drifts the
         * rate. */
        elapsed_nsec = (now - m->start_usec) * 1000;
        target = elapsed_nsec / m->period_nsec;
        burst_max = MAX(NSEC_PER_SEC / m->period_nsec, (uint64_t) 1);
        if (target > m->due + burst_max)
                m->due = target - burst_max;

        while (m->due < target) {
                if (m->config.count > 0 && m->ticks >= (uint64_t) m->config.count)
                        break;
                r = emit_tick(m);
                if (r < 0)
                        goto fail;
                m->due++;
        }
        r = manager_flush(m);
        if (r < 0)
                goto fail;

        if (m->config.count > 0 && m->ticks >= (uint64_t) m->config.count) {
                manager_begin_stop(m, 0);
                return 0;
        }

        /* Next wake-up: the next line's due time, but no more often than every 10 ms in rate mode. */
        {
                uint64_t next_nsec = (m->due + 1) * m->period_nsec;
                uint64_t next = m->start_usec + (next_nsec + 999) / 1000;

                if (m->config.rate > 0)
                        next = MAX(next, now + LOGGEN_RATE_WAKEUP_NSEC / 1000);
                r = sd_event_source_set_time(s, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                if (r < 0) {
                        log_error_errno(r, "Failed to re-arm the tick timer: %m");
                        goto fail;
                }
        }
        return 0;

fail:
        m->exit_status = EXIT_FAILURE;
        return sd_event_exit(m->event, EXIT_FAILURE);
}

static int handle_health(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return http_response_set_text(resp, 200, "ok");
}

static int handle_ready(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;

        if (m->stopping)
                return http_response_set_text(resp, 503, "not ready");
        return http_response_set_text(resp, 200, "ready");
}

static const HttpRoute health_routes[] = {
        {"/health", HTTP_READ, handle_health},
        {"/ready", HTTP_READ, handle_ready},
};

int manager_new(const LoggenConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = new0(Manager, 1);
        if (!m)
                return -ENOMEM;
        m->config = *config;
        m->config.health_address = strdup(config->health_address);
        if (!m->config.health_address)
                return -ENOMEM;
        m->out = STRBUF_INIT(LOGGEN_OUTPUT_MAX);

        if (!m->config.seed_set) {
                /* Unseeded runs differ from each other; the seed is printed, so any run can be repeated. */
                if (getrandom(&m->config.seed, sizeof(m->config.seed), GRND_NONBLOCK) !=
                    sizeof(m->config.seed))
                        m->config.seed = now_nsec(CLOCK_REALTIME) ^ ((uint64_t) getpid() << 32);
        }
        loggen_random_seed(&m->random, m->config.seed);

        m->period_nsec = m->config.rate > 0 ? (uint64_t) (NSEC_PER_SEC / m->config.rate)
                                            : (uint64_t) m->config.sleep_nsec;
        if (m->period_nsec == 0)
                m->period_nsec = 1;

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;

        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_signal, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_signal, m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

int manager_start(Manager *m) {
        HttpServerConfig hc = {
                .routes = health_routes,
                .n_routes = ELEMENTSOF(health_routes),
                .userdata = m,
                .max_body = 0,
                .max_connections = 16,
                .timeout_sec = 5,
        };
        int r;

        r = http_server_new_tcp(
                m->event, m->config.health_address, (uint16_t) m->config.health_port, &hc, &m->health);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Failed to listen on %s port %" PRIi64 " for health checks: %m",
                        m->config.health_address,
                        m->config.health_port);

        r = emit_started(m);
        if (r >= 0)
                r = emit_health_listening(m);
        if (r >= 0)
                r = manager_flush(m);
        if (r < 0)
                return r;

        /* The first tick comes one interval after the start, as with a Go ticker; in rate mode right away.
         */
        m->start_usec = now_usec(CLOCK_MONOTONIC);
        if (m->config.rate > 0)
                m->start_usec -= m->period_nsec / 1000;
        r = sd_event_add_time(
                m->event,
                &m->tick_timer,
                CLOCK_MONOTONIC,
                m->start_usec + m->period_nsec / 1000,
                1,
                on_tick,
                m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the tick timer: %m");
        (void) sd_event_source_set_description(m->tick_timer, "tick");
        return sd_event_source_set_enabled(m->tick_timer, SD_EVENT_ONESHOT);
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        http_server_free(m->health);
        sd_event_source_disable_unref(m->tick_timer);
        sd_event_source_disable_unref(m->exit_timer);
        sd_event_source_disable_unref(m->sigterm_source);
        sd_event_source_disable_unref(m->sigint_source);
        sd_event_unref(m->event);
        strbuf_done(&m->out);
        free(m->config.health_address);
        free(m);
        return NULL;
}
