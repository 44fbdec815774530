/* SPDX-License-Identifier: MIT */
#pragma once

/* The shipper's ClickHouse client: made from the settings, and given the password file's new password when
 * ClickHouse refuses the one it has. */

#include <systemd/sd-event.h>

#include "clickhouse-client.h"
#include "curl-glue.h"
#include "shipper-config.h"

/* The client (on a new CurlGlue on event) for c's URL, credentials and retry settings. Logs its errors. */
int shipper_clickhouse_new(
        sd_event *event, const ShipperConfig *c, CurlGlue **ret_curl, ClickHouseClient **ret);

/* ClickHouse refused the password: with password-file set, the file may hold a new one by now (a Secret
 * mounted as a file is updated in place). Reads it again; a changed password goes to client and into c, and
 * is the next retry's. */
void shipper_clickhouse_reread_password(ShipperConfig *c, ClickHouseClient *client);
