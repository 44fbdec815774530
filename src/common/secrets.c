/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "secrets.h"
#include "util.h"

#define SECRET_FILE_MAX 4096

static const struct {
        const char *user, *file, *key;
} secrets[_SECRET_MAX] = {
        [SECRET_ADMIN] = {"otel_admin", "admin.password", "admin-password"},
        [SECRET_INGEST] = {"otel_ingest", "ingest.password", "ingest-password"},
        [SECRET_READER] = {"otel_reader", "reader.password", "reader-password"},
        [SECRET_MONGODB] = {NULL, "mongodb.password", "mongodb-password"},
        [SECRET_HYPERDX_SESSION] = {NULL, "hyperdx-session.secret", "session-secret"},
};

const char *secret_user_name(SecretUser u) {
        return u >= 0 && u < _SECRET_MAX ? secrets[u].user : NULL;
}

const char *secret_file_name(SecretUser u) {
        return u >= 0 && u < _SECRET_MAX ? secrets[u].file : NULL;
}

const char *secret_key_name(SecretUser u) {
        return u >= 0 && u < _SECRET_MAX ? secrets[u].key : NULL;
}

int secret_generate(char **ret) {
        uint8_t raw[16];
        char *s;

        for (size_t got = 0; got < sizeof(raw);) {
                ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) k;
        }
        s = malloc(2 * sizeof(raw) + 1);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < sizeof(raw); i++)
                (void) snprintf(s + 2 * i, 3, "%02x", raw[i]);
        explicit_bzero(raw, sizeof(raw));
        *ret = s;
        return 0;
}

/* Writes a new password file without ever replacing one: the content goes to a temporary file first, which
 * is then hard-linked to the final name (link() fails if it exists). */
static int create_secret_file(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL, *tmp = NULL, *pw = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0 ||
            asprintf(&tmp, "%s/.%s.%d", dir, name, (int) getpid()) < 0)
                return -ENOMEM;
        if (access(path, F_OK) >= 0)
                return 0;
        r = secret_generate(&pw);
        if (r < 0)
                return r;
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, pw, strlen(pw));
        if (r >= 0)
                r = loop_write(fd, "\n", 1);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        explicit_bzero(pw, strlen(pw));
        if (r >= 0 && link(tmp, path) < 0 && errno != EEXIST)
                r = -errno;
        (void) unlink(tmp);
        return r;
}

int secrets_ensure(const char *dir) {
        struct stat st;
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (stat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        for (SecretUser u = 0; u < _SECRET_MAX; u++) {
                r = create_secret_file(dir, secret_file_name(u));
                if (r < 0)
                        return r;
        }
        /* The directory entries must be durable before anyone relies on the passwords. */
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int secret_read_file(const char *path, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t n;
        int r;

        r = read_full_file(path, SECRET_FILE_MAX, &s, &n);
        if (r < 0)
                return r;
        if (n > 0 && s[n - 1] == '\n')
                s[--n] = 0;
        if (n > 0 && s[n - 1] == '\r')
                s[--n] = 0;
        if (n == 0 || strlen(s) != n) {
                explicit_bzero(s, n);
                return -EINVAL;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int secret_read(const char *dir, SecretUser u, char **ret) {
        _cleanup_free_ char *path = NULL;

        if (!secret_file_name(u))
                return -EINVAL;
        if (asprintf(&path, "%s/%s", dir, secret_file_name(u)) < 0)
                return -ENOMEM;
        return secret_read_file(path, ret);
}
