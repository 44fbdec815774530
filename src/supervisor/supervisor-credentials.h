/* SPDX-License-Identifier: MIT */
#pragma once

#include "k8s-client.h"

/* The Secrets the manifests reference — clickhouse-credentials (admin-password, ingest-password,
 * reader-password) and hyperdx-credentials (mongodb-password, session-secret) — created in the cluster from
 * the values in the supervisor's secrets directory when they are absent (docs/security.md). The repository
 * holds no Secret. One that exists with every key is left as it is (a difference with the local files is
 * logged: see "Rotation"); one that lacks a key is replaced. They carry no inventory label, so pruning
 * never deletes them. */

#define CREDENTIALS_SECRET "clickhouse-credentials"
#define HYPERDX_CREDENTIALS_SECRET "hyperdx-credentials"

typedef void (*CredentialsDone)(K8sResultClass result, const char *message, bool created, void *userdata);

/* Starts the check; done is called once from the loop, unless the client is freed first. */
int credentials_ensure(
        K8sClient *c, const char *namespace, const char *secrets_dir, CredentialsDone done, void *userdata);

/* The Secret called name as JSON, from the files in secrets_dir (exposed for tests). */
int credentials_secret_json(const char *name, const char *namespace, const char *secrets_dir, char **ret);
