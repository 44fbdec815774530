/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s-client.h"

/* Rollout and pod health, judged as `kubectl rollout status` judges them (kubectl's
 * polymorphichelpers/rollout_status.go): the controller must have observed the current generation, and
 * then the updated/ready/available counts must reach the desired ones. Pods add what a rollout count
 * cannot say: why a container is not running (CrashLoopBackOff, ImagePullBackOff, ErrImageNeverPull, …). */

typedef enum K8sRolloutState {
        K8S_ROLLOUT_PROGRESSING, /* not done yet */
        K8S_ROLLOUT_DONE,
        K8S_ROLLOUT_FAILED, /* e.g. Deployment ProgressDeadlineExceeded; also unsupported strategies */
        _K8S_ROLLOUT_STATE_MAX,
        _K8S_ROLLOUT_STATE_INVALID = -EINVAL,
} K8sRolloutState;

const char *k8s_rollout_state_to_string(K8sRolloutState s);

/* Judges one Deployment, StatefulSet or DaemonSet object (as the server returns it). `message` gets
 * kubectl's sentence. Returns the state, or -EOPNOTSUPP for other kinds, -EINVAL for a malformed object. */
int k8s_rollout_status(const cJSON *obj, char *message, size_t message_size);

typedef struct K8sPodHealth {
        char *name;
        char *phase;
        bool ready;
        unsigned restarts; /* sum over containers */
        char *container;   /* the container with a problem, or NULL */
        char *reason; /* CrashLoopBackOff, ImagePullBackOff, ErrImageNeverPull, Unschedulable, … or NULL */
        char *message; /* the kubelet's / scheduler's message, or NULL */
} K8sPodHealth;

void k8s_pod_health_done(K8sPodHealth *p);
/* Fills `ret` from a Pod object. A reason is set when a container waits for a reason other than the
 * normal start-up ones (ContainerCreating, PodInitializing), when a container terminated with a failure and
 * the pod is not ready, when the pod cannot be scheduled, or when the pod failed. */
int k8s_pod_health(const cJSON *pod, K8sPodHealth *ret);

typedef struct K8sWorkloadHealth {
        char *kind;
        char *name;
        K8sRolloutState state;
        char message[256];
} K8sWorkloadHealth;

typedef struct K8sHealthReport {
        K8sResultClass result; /* of the API requests */
        char message[1024];    /* why result is not OK */
        K8sWorkloadHealth *workloads;
        size_t n_workloads;
        K8sPodHealth *pods;
        size_t n_pods;
} K8sHealthReport;

void k8s_health_report_done(K8sHealthReport *r);
/* True when every workload is done and no pod has a problem reason. */
bool k8s_health_report_ready(const K8sHealthReport *r);
const K8sWorkloadHealth *k8s_health_report_workload(
        const K8sHealthReport *r, const char *kind, const char *name);
const K8sPodHealth *k8s_health_report_pod(const K8sHealthReport *r, const char *name);

typedef void (*K8sHealthHandler)(K8sClient *c, const K8sHealthReport *r, void *userdata);

/* Lists Deployments, StatefulSets, DaemonSets and Pods of `namespace` (four requests in parallel) and
 * judges them. The report is valid during the handler only. */
int k8s_health_check(K8sClient *c, const char *namespace, K8sHealthHandler handler, void *userdata);
