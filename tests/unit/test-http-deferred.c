/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "cleanup-libs.h"
#include "curl-glue.h"
#include "http-server.h"
#include "macro.h"
#include "strbuf.h"

/* Answers given later (http_request_defer): the handler takes the request over, the loop goes on serving
 * other requests, and the answer goes out when it is handed over — or the request is cancelled when the
 * server goes away first. Server and client (libcurl through CurlGlue) share one sd-event loop. */

typedef struct {
        StrBuf body;
        long status;
        bool done;
        CURLcode result;
        unsigned order; /* when it completed, among the requests of a test */
} Fetch;

typedef struct {
        HttpDeferred *deferred;
        sd_event_source *timer;
        unsigned cancelled;
        uint64_t delay_usec;
        bool at_once; /* finish from inside the handler */
} Later;

static sd_event *event;
static CurlGlue *glue;
static HttpServer *server;
static Later later;
static unsigned completed;

static void finish_later(Later *l, unsigned status, const char *text) {
        HttpResponse resp = {};

        cr_assert_eq(http_response_set_text(&resp, status, text), 0);
        http_deferred_finish(l->deferred, &resp);
        cr_assert_null(resp.body, "the response was taken over");
        l->deferred = NULL;
}

static int on_later(sd_event_source *s, uint64_t usec, void *userdata) {
        finish_later(userdata, 200, "late\n");
        return 0;
}

static void on_cancel(void *userdata) {
        Later *l = userdata;

        l->cancelled++;
        l->deferred = NULL;
        l->timer = sd_event_source_disable_unref(l->timer);
}

static int handle_later(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Later *l = userdata;

        l->deferred = http_request_defer(req, on_cancel, l);
        cr_assert_not_null(l->deferred);
        if (l->at_once) {
                finish_later(l, 202, "at once\n");
                return 0;
        }
        if (l->delay_usec > 0)
                cr_assert_eq(
                        sd_event_add_time_relative(
                                event, &l->timer, CLOCK_MONOTONIC, l->delay_usec, 0, on_later, l),
                        0);
        return 0;
}

static int handle_now(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return http_response_set_text(resp, 200, "now\n");
}

static const HttpRoute routes[] = {
        {"/later", HTTP_GET, handle_later},
        {"/now", HTTP_GET, handle_now},
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        return strbuf_append(&f->body, p, size * n) < 0 ? 0 : size * n;
}

static void on_done(CurlGlue *g, CURL *easy, CURLcode result, void *userdata) {
        Fetch *f = userdata;

        f->result = result;
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
        f->done = true;
        f->order = ++completed;
        curl_easy_cleanup(easy);
}

static void start(Fetch *f, const char *path) {
        CURL *e = curl_easy_init();
        char url[128];

        *f = (Fetch){.body = STRBUF_INIT(4096)};
        (void) snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", http_server_port(server), path);
        cr_assert_not_null(e);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
        cr_assert_eq(curl_glue_add(glue, e, on_done, f), 0);
}

static void run_until(bool *done, unsigned deadline_ms) {
        for (unsigned i = 0; i < deadline_ms / 10 && !*done; i++)
                cr_assert_geq(sd_event_run(event, 10 * 1000), 0);
}

static void setup_with_timeout(unsigned timeout_sec) {
        HttpServerConfig c = {
                .routes = routes,
                .n_routes = ELEMENTSOF(routes),
                .userdata = &later,
                .timeout_sec = timeout_sec,
        };

        later = (Later){};
        completed = 0;
        cr_assert_eq(sd_event_new(&event), 0);
        cr_assert_eq(curl_glue_new(event, &glue), 0);
        cr_assert_eq(http_server_new_tcp(event, "127.0.0.1", 0, &c, &server), 0);
}

static void setup(void) {
        setup_with_timeout(0);
}

static void teardown(void) {
        http_server_free(server);
        later.timer = sd_event_source_disable_unref(later.timer);
        curl_glue_free(glue);
        sd_event_unref(event);
}

TestSuite(http_deferred, .init = setup, .fini = teardown, .timeout = 30);

Test(http_deferred, answered_later_while_others_are_served) {
        Fetch slow, quick;

        later.delay_usec = 500 * 1000;
        start(&slow, "/later");
        run_until(&slow.done, 100); /* the slow request is in and waiting */
        cr_assert_not(slow.done);
        cr_assert_not_null(later.deferred);
        start(&quick, "/now");
        run_until(&slow.done, 5000);
        cr_assert(quick.done && slow.done);
        cr_assert_eq(quick.order, 1, "a deferred request does not hold the loop up");
        cr_assert_eq(slow.status, 200);
        cr_assert_str_eq(slow.body.data, "late\n");
        cr_assert_eq(quick.status, 200);
        cr_assert_eq(later.cancelled, 0);
        strbuf_done(&slow.body);
        strbuf_done(&quick.body);
}

Test(http_deferred, finished_from_inside_the_handler) {
        Fetch f;

        later.at_once = true;
        start(&f, "/later");
        run_until(&f.done, 5000);
        cr_assert(f.done);
        cr_assert_eq(f.status, 202);
        cr_assert_str_eq(f.body.data, "at once\n");
        strbuf_done(&f.body);
}

Test(http_deferred, many_in_turn_on_one_server) {
        for (unsigned i = 0; i < 20; i++) {
                Fetch f;

                later.delay_usec = 1000;
                start(&f, "/later");
                run_until(&f.done, 5000);
                cr_assert(f.done && f.status == 200, "request %u", i);
                later.timer = sd_event_source_disable_unref(later.timer);
                strbuf_done(&f.body);
        }
}

Test(http_deferred, server_freed_while_waiting_cancels) {
        Fetch f;

        later.delay_usec = 0; /* never answered */
        start(&f, "/later");
        run_until(&f.done, 300);
        cr_assert_not_null(later.deferred);
        server = http_server_free(server);
        cr_assert_eq(later.cancelled, 1, "the owner heard that no answer is wanted");
        cr_assert_null(later.deferred);
        run_until(&f.done, 5000);
        cr_assert(f.done, "the client is not left hanging");
        cr_assert(f.result != CURLE_OK || f.status == 503, "result %d status %ld", f.result, f.status);
        strbuf_done(&f.body);
}

/* A request still waiting after timeout_sec is closed like any slow one; the answer handed over after that
 * goes nowhere, and nothing breaks. */
static void setup_short(void) {
        setup_with_timeout(1);
}

TestSuite(http_deferred_deadline, .init = setup_short, .fini = teardown, .timeout = 30);

Test(http_deferred_deadline, answer_after_the_deadline_goes_nowhere) {
        Fetch f, g;

        later.delay_usec = 2500 * 1000;
        start(&f, "/later");
        run_until(&f.done, 6000);
        cr_assert(f.done);
        cr_assert(f.result != CURLE_OK, "closed at the deadline");
        if (later.timer) /* the late answer comes after the client gave up */
                run_until(&(bool){false}, 3000);
        cr_assert_null(later.deferred, "finished after all");
        start(&g, "/now");
        run_until(&g.done, 5000);
        cr_assert(g.done && g.status == 200);
        strbuf_done(&f.body);
        strbuf_done(&g.body);
}
