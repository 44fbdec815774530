/* SPDX-License-Identifier: MIT */
#pragma once

/* Cleanup helpers for the third-party libraries the programs share. Kept apart from cleanup.h so that
 * code which does not use these libraries does not need their headers. */

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);
/* sd-event.h already provides sd_event_unrefp() and sd_event_source_disable_unrefp(). */

#define _cleanup_json_ _cleanup_(cJSON_Deletep)
