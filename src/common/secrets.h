/* SPDX-License-Identifier: MIT */
#pragma once

/* The appliance's secrets: one password per ClickHouse user, and HyperDX's MongoDB password and session
 * secret, generated at first start and kept in a directory of their own (mode 0700), one file each (mode
 * 0600): admin.password, ingest.password, reader.password, mongodb.password, hyperdx-session.secret.
 * Nothing else holds them: not the repository, not the Nix store. See docs/security.md. */

typedef enum SecretUser {
        SECRET_ADMIN,  /* otel_admin: the schema */
        SECRET_INGEST, /* otel_ingest: INSERT into the tables the shipper writes */
        SECRET_READER, /* otel_reader: SELECT, readonly */
        _SECRET_USER_MAX,
        /* not ClickHouse users: */
        SECRET_MONGODB = _SECRET_USER_MAX, /* HyperDX's MongoDB (its root user) */
        SECRET_HYPERDX_SESSION,            /* HyperDX's EXPRESS_SESSION_SECRET (session cookies) */
        _SECRET_MAX,
} SecretUser;

/* The ClickHouse user: "otel_admin", "otel_ingest", "otel_reader"; NULL for the others. */
const char *secret_user_name(SecretUser u);
/* The file in the secrets directory: "admin.password", ... */
const char *secret_file_name(SecretUser u);
/* The key in its Kubernetes Secret: "admin-password", ... (clickhouse-credentials), "mongodb-password",
 * "session-secret" (hyperdx-credentials). */
const char *secret_key_name(SecretUser u);

/* A fresh password: 32 hexadecimal characters from getrandom() (128 bits). */
int secret_generate(char **ret);

/* Creates dir (0700) if missing and, for each secret without a file, a fresh value (0600). An
 * existing file is never replaced, also when two processes race: the first one's password stays. */
int secrets_ensure(const char *dir);

/* Reads a password file: one trailing newline is the file's, not the password's; an empty password, a NUL
 * byte or a file over 4 KiB is an error (-EINVAL, -EFBIG). */
int secret_read_file(const char *path, char **ret);
/* secret_read_file() of dir/<secret_file_name(u)>. */
int secret_read(const char *dir, SecretUser u, char **ret);
