/* SPDX-License-Identifier: MIT */
/* The shipper's ClickHouse client from its settings, and the password file read again on a refusal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "log.h"
#include "macro.h"
#include "shipper-clickhouse.h"
#include "util.h"

int shipper_clickhouse_new(
        sd_event *event, const ShipperConfig *c, CurlGlue **ret_curl, ClickHouseClient **ret) {
        int r;

        if (strchr(c->database, '`') || strchr(c->table, '`'))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "database and table names may not contain '`'");
        r = curl_glue_new(event, ret_curl);
        if (r < 0)
                return log_error_errno(r, "Failed to set up HTTP client: %m");
        r = clickhouse_client_new(
                *ret_curl,
                &(ClickHouseClientConfig){
                        .url = c->clickhouse_url,
                        .user = c->user,
                        .password = c->password,
                        .database = c->database,
                        .timeout_usec = nsec_to_usec(c->request_timeout_nsec),
                        .retry_initial_usec = nsec_to_usec(c->retry_initial_nsec),
                        .retry_max_usec = nsec_to_usec(c->retry_max_nsec),
                },
                ret);
        if (r == -EINVAL)
                return log_error_errno(
                        r,
                        "clickhouse-url may not be empty, user and password may not contain control characters");
        if (r < 0)
                return log_error_errno(r, "Failed to set up the ClickHouse client: %m");
        return 0;
}

void shipper_clickhouse_reread_password(ShipperConfig *c, ClickHouseClient *client) {
        char *pw = NULL;
        int r;

        if (isempty(c->password_file))
                return;
        r = shipper_config_read_password_file(c->password_file, &pw);
        if (r < 0) {
                log_debug_errno(r, "Failed to read %s again, keeping the password: %m", c->password_file);
                return;
        }
        if (streq_ptr(pw, c->password)) {
                explicit_bzero(pw, strlen(pw));
                free(pw);
                return;
        }
        r = clickhouse_client_set_password(client, pw);
        if (r < 0) {
                log_warning_errno(
                        r,
                        "%s: the new password cannot be sent (control characters), ignoring",
                        c->password_file);
                explicit_bzero(pw, strlen(pw));
                free(pw);
                return;
        }
        log_info("%s holds another password; the next attempts send it", c->password_file);
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->password);
        c->password = pw;
}
