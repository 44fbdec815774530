/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "strbuf.h"
#include "supervisor-config.h"
#include "supervisor-state.h"

typedef struct Cluster Cluster;

/* How the driver tells its owner (the manager) what happens; it knows nothing else of it. */
typedef struct ClusterHooks {
        /* Until the stack is up once: the phase the appliance is in, and what it does or waits for. */
        void (*phase)(SupervisorState s, const char *reason, void *userdata);
        /* Something changed that can change ready/degraded (see cluster_up()). */
        void (*changed)(void *userdata);
        void *userdata;
} ClusterHooks;

/* The cluster driver: minikube, image loading, manifests, rollout health. It moves the appliance through the
 * phases starting-cluster → loading-images → applying → waiting-rollout and then reports problems that
 * make the stack degraded. config must outlive the driver. */
int cluster_new(sd_event *event, const SupervisorConfig *config, const ClusterHooks *hooks, Cluster **ret);
Cluster *cluster_free(Cluster *c);
int cluster_start(Cluster *c);
/* Stops what the driver runs (child commands); the cluster itself keeps running. */
void cluster_stop(Cluster *c);
bool cluster_idle(const Cluster *c);
/* True once the stack was brought up; problems then are appended to reasons ("; "-separated). */
bool cluster_up(const Cluster *c, StrBuf *reasons);
/* Adds "cluster", "images", "apply", "workloads" and "pods" to the status document. */
int cluster_status_json(Cluster *c, cJSON *root);
/* Applies the manifests again now. */
int cluster_reapply(Cluster *c);
