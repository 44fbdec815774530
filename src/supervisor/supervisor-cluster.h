/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "strbuf.h"

typedef struct Manager Manager;
typedef struct Cluster Cluster;

/* The cluster driver: minikube, image loading, manifests, rollout health. It moves the manager through the
 * phases starting-cluster → loading-images → applying → waiting-rollout and then reports problems that
 * make the stack degraded. */
int cluster_new(Manager *m, Cluster **ret);
Cluster *cluster_free(Cluster *c);
int cluster_start(Cluster *c);
/* Stops what the driver runs (child commands); the cluster itself keeps running. */
void cluster_stop(Cluster *c);
bool cluster_idle(const Cluster *c);
/* True once the stack was brought up; problems then are appended to reasons ("; "-separated). */
bool cluster_up(const Cluster *c, StrBuf *reasons);
/* Adds "cluster", "images", "workloads" and "pods" to the status document. */
int cluster_status_json(Cluster *c, cJSON *root);
/* Applies the manifests again now. */
int cluster_reapply(Cluster *c);
