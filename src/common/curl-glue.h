/* SPDX-License-Identifier: MIT */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

/* libcurl's multi interface driven by an sd-event loop (as systemd's CurlGlue): curl's sockets become IO
 * sources and its timer one timer source, so transfers never block the loop. Each easy handle added gets a
 * completion callback, called from the loop once the transfer is over; the handle is removed from the multi
 * handle before the callback runs, and the callback owns it again (it may free or re-add it). */

typedef struct CurlGlue CurlGlue;
typedef void (*CurlGlueDone)(CurlGlue *g, CURL *easy, CURLcode result, void *userdata);

int curl_glue_new(sd_event *e, CurlGlue **ret);
CurlGlue *curl_glue_free(CurlGlue *g);
static inline void curl_glue_freep(CurlGlue **g) {
        if (*g)
                curl_glue_free(*g);
}

/* Starts the transfer. Uses CURLOPT_PRIVATE of the easy handle. */
int curl_glue_add(CurlGlue *g, CURL *easy, CurlGlueDone done, void *userdata);
/* Aborts a transfer that was added and has not completed; its callback is not called. */
void curl_glue_remove(CurlGlue *g, CURL *easy);
/* Transfers in flight. */
unsigned curl_glue_active(const CurlGlue *g);

/* curl_easy_setopt() with the option's name logged at debug level on failure; returns 0 or -EIO. */
#define curl_setopt_checked(easy, opt, value)                                                               \
        curl_setopt_log((easy), (opt), #opt, curl_easy_setopt((easy), (opt), (value)))
int curl_setopt_log(CURL *easy, CURLoption opt, const char *name, CURLcode c);
