/* SPDX-License-Identifier: MIT */
/* The /health and /metrics answers, rendered from a ShipperStatus snapshot the manager fills. */
#include <string.h>

#include "shipper-status.h"
#include "strbuf.h"

/* What keeps the shipper from shipping and does not mend by retrying alone, one clause each, "; " between
 * them. Empty when there is nothing. */
static int health_problems(const ShipperStatus *s, StrBuf *out) {
        const char *auth = sender_auth_refused(s->sender);
        int dl = sender_dead_letter_error(s->sender), r = 0;

        if (s->ckpt_error < 0)
                r = strbuf_printf(
                        out,
                        "checkpoint file %s cannot be written (%s), nothing is sent",
                        s->config->checkpoint_file,
                        strerror(-s->ckpt_error));
        if (r >= 0 && auth)
                r = strbuf_printf(out, "%s%s, rows are kept and retried", out->len > 0 ? "; " : "", auth);
        if (r >= 0 && dl < 0)
                r = strbuf_printf(
                        out,
                        "%sdead-letter file %s cannot be written (%s)",
                        out->len > 0 ? "; " : "",
                        s->config->dead_letter_file,
                        strerror(-dl));
        return r;
}

int shipper_status_health(const ShipperStatus *s, HttpResponse *resp) {
        StrBuf why = STRBUF_INIT(4096);
        int r;

        r = health_problems(s, &why);
        if (r >= 0 && why.len == 0)
                r = http_response_set_text(resp, 200, "ok\n");
        else if (r >= 0) {
                StrBuf text = STRBUF_INIT(8192);
                r = strbuf_printf(&text, "degraded: %s\n", why.data);
                if (r >= 0)
                        r = http_response_set_text(resp, 503, text.data);
                strbuf_done(&text);
        }
        strbuf_done(&why);
        return r;
}

int shipper_status_metrics(const ShipperStatus *s, HttpResponse *resp) {
        StrBuf out = STRBUF_INIT(1024 * 1024);
        ShipperGauges g = s->gauges;
        int r;

        g.requests_in_flight = sender_inflight(s->sender);
        g.clickhouse_up = sender_clickhouse_up(s->sender);
        g.clickhouse_auth_refused = sender_auth_refused(s->sender) != NULL;
        g.checkpoint_failing = s->ckpt_error < 0;
        g.dead_letter_failing = sender_dead_letter_error(s->sender) < 0;
        g.healthy = !g.clickhouse_auth_refused && !g.checkpoint_failing && !g.dead_letter_failing;

        r = shipper_metrics_render(&out, s->stats, s->tstats, &g);
        if (r >= 0)
                r = sampler_metrics_render(s->sampler, &out);
        if (r < 0) {
                strbuf_done(&out);
                return r;
        }
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = strbuf_steal(&out, &resp->size);
        return 0;
}
