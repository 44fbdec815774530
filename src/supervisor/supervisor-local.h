/* SPDX-License-Identifier: MIT */
#pragma once

typedef struct Manager Manager;

/* The local runtime: loggen, the shipper and the embedded ClickHouse endpoint as child processes. */

/* Makes the runtime's ClickHouse password once and keeps it in its data directory. */
int ensure_local_password(Manager *m);
/* Adds the three child processes to the manager. */
int setup_local(Manager *m);
