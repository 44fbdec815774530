/* SPDX-License-Identifier: MIT */
#pragma once

#include "k8s-client.h"

/* The Secret clickhouse-credentials (keys admin-password, ingest-password, reader-password) that the
 * manifests reference: created in the cluster from the passwords in the supervisor's secrets directory when
 * it is absent (docs/security.md). The repository holds no such Secret. A Secret that exists with the three
 * keys is left as it is (a difference with the local files is logged: see "Rotation"); one that lacks a key
 * is replaced. It carries no inventory label, so pruning never deletes it. */

#define CREDENTIALS_SECRET "clickhouse-credentials"

typedef void (*CredentialsDone)(K8sResultClass result, const char *message, bool created, void *userdata);

/* Starts the check; done is called once from the loop, unless the client is freed first. */
int credentials_ensure(
        K8sClient *c, const char *namespace, const char *secrets_dir, CredentialsDone done, void *userdata);

/* The Secret as JSON, from the password files in secrets_dir (exposed for tests). */
int credentials_secret_json(const char *namespace, const char *secrets_dir, char **ret);
