/* SPDX-License-Identifier: MIT */
#pragma once

typedef struct Manager Manager;

/* The local runtime: loggen, the shipper and the embedded ClickHouse endpoint as child processes. */

/* Adds the three child processes to the manager. */
int setup_local(Manager *m);
