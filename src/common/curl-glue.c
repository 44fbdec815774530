/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "cleanup.h"
#include "curl-glue.h"
#include "duration.h"
#include "log.h"
#include "macro.h"

struct CurlGlue {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        unsigned active;
        /* IO sources of curl's sockets, so they can be released with the glue. */
        sd_event_source **ios;
        size_t n_ios, n_ios_alloc;
};

static int ios_add(CurlGlue *g, sd_event_source *io) {
        if (g->n_ios == g->n_ios_alloc) {
                size_t n = MAX(g->n_ios_alloc * 2, (size_t) 8);
                sd_event_source **a = reallocarray(g->ios, n, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                g->ios = a;
                g->n_ios_alloc = n;
        }
        g->ios[g->n_ios++] = io;
        return 0;
}

static void ios_remove(CurlGlue *g, sd_event_source *io) {
        for (size_t i = 0; i < g->n_ios; i++)
                if (g->ios[i] == io) {
                        g->ios[i] = g->ios[--g->n_ios];
                        return;
                }
}

typedef struct CurlGlueTransfer {
        CurlGlueDone done;
        void *userdata;
} CurlGlueTransfer;

int curl_setopt_log(CURL *easy, CURLoption opt, const char *name, CURLcode c) {
        if (c != CURLE_OK)
                return log_debug_errno(
                        SYNTHETIC_ERRNO(EIO),
                        "curl_easy_setopt(%s) failed: %s",
                        name,
                        curl_easy_strerror(c));
        return 0;
}

static void curl_glue_check_finished(CurlGlue *g) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(g->multi, &left))) {
                CurlGlueTransfer *t = NULL;
                CURL *easy = msg->easy_handle;
                CURLcode result = msg->data.result;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
                (void) curl_multi_remove_handle(g->multi, easy);
                (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
                g->active--;
                if (t) {
                        CurlGlueTransfer copy = *t;
                        free(t);
                        copy.done(g, easy, result, copy.userdata);
                }
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CurlGlue *g = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;

        if (curl_multi_socket_action(g->multi, fd, action, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action() failed, continuing");
        curl_glue_check_finished(g);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CurlGlue *g = userdata;
        int running;

        if (curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action() failed, continuing");
        curl_glue_check_finished(g);
        return 0;
}

/* curl tells which events it wants on each of its sockets; the sd-event source is kept as the socket's
 * private pointer (curl_multi_assign) so it can be changed or dropped later. */
static int socket_callback(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp) {
        CurlGlue *g = userdata;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        ios_remove(g, io);
                        sd_event_source_disable_unref(io);
                        (void) curl_multi_assign(g->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (io) {
                r = sd_event_source_set_io_events(io, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(io, SD_EVENT_ON);
        } else {
                r = sd_event_add_io(g->event, &io, fd, events, on_io, g);
                if (r >= 0 && ios_add(g, io) < 0) {
                        io = sd_event_source_disable_unref(io);
                        r = -ENOMEM;
                }
                if (r >= 0) {
                        (void) sd_event_source_set_description(io, "curl-io");
                        (void) curl_multi_assign(g->multi, fd, io);
                }
        }
        if (r < 0) {
                log_debug_errno(r, "Failed to watch curl socket %d: %m", fd);
                return -1;
        }
        return 0;
}

static int timer_callback(CURLM *multi, long timeout_ms, void *userdata) {
        CurlGlue *g = userdata;
        int r;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

        r = sd_event_source_set_time_relative(g->timer, (uint64_t) timeout_ms * USEC_PER_MSEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
        return r < 0 ? -1 : 0;
}

int curl_glue_new(sd_event *e, CurlGlue **ret) {
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        int r;

        g = new0(CurlGlue, 1);
        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(e);
        g->multi = curl_multi_init();
        if (!g->multi)
                return -ENOMEM;

        r = sd_event_add_time_relative(e, &g->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, g);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(g->timer, "curl-timer");
        r = sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        if (r < 0)
                return r;

        if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_callback) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_callback) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK)
                return -EIO;

        *ret = TAKE_PTR(g);
        return 0;
}

int curl_glue_add(CurlGlue *g, CURL *easy, CurlGlueDone done, void *userdata) {
        CurlGlueTransfer *t;

        t = new0(CurlGlueTransfer, 1);
        if (!t)
                return -ENOMEM;
        *t = (CurlGlueTransfer){.done = done, .userdata = userdata};
        if (curl_easy_setopt(easy, CURLOPT_PRIVATE, t) != CURLE_OK ||
            curl_multi_add_handle(g->multi, easy) != CURLM_OK) {
                (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
                free(t);
                return -EIO;
        }
        g->active++;
        return 0;
}

void curl_glue_remove(CurlGlue *g, CURL *easy) {
        CurlGlueTransfer *t = NULL;

        (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
        if (curl_multi_remove_handle(g->multi, easy) == CURLM_OK && t)
                g->active--;
        (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(t);
}

unsigned curl_glue_active(const CurlGlue *g) {
        return g->active;
}

CurlGlue *curl_glue_free(CurlGlue *g) {
        if (!g)
                return NULL;
        /* Transfers still added at this point belong to their owners; only our bookkeeping goes. */
        if (g->multi)
                (void) curl_multi_cleanup(g->multi);
        for (size_t i = 0; i < g->n_ios; i++)
                sd_event_source_disable_unref(g->ios[i]);
        free(g->ios);
        sd_event_source_disable_unref(g->timer);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}
