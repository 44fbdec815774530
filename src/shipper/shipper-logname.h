/* SPDX-License-Identifier: MIT */
#pragma once

/* The names the kubelet gives container log files (/var/log/containers): the Kubernetes metadata of every
 * row of a file comes from its name. */

#include <stdbool.h>
#include <stddef.h>

/* Kubernetes metadata from a container log file name
 * `<pod>_<namespace>_<container>-<container-id>.log`. Fields are empty
 * when the name does not have that shape. Points into `name`. */
typedef struct K8sName {
        const char *pod, *namespace, *container, *container_id;
        size_t pod_len, namespace_len, container_len, container_id_len;
} K8sName;

bool k8s_name_parse(const char *basename, K8sName *ret);
