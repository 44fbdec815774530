/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "shipper-checkpoint.h"
#include "util.h"

void checkpoint_entries_free(CheckpointEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(e[i].dir);
                free(e[i].path);
        }
        free(e);
}

static int next_field(const char **p, const char *end, char *buf, size_t size) {
        const char *s = *p, *e;
        e = memchr(s, ' ', (size_t) (end - s));
        if (!e)
                e = end;
        if (e == s || (size_t) (e - s) >= size)
                return -EBADMSG;
        memcpy(buf, s, (size_t) (e - s));
        buf[e - s] = 0;
        *p = e < end ? e + 1 : e;
        return 0;
}

static int parse_hex64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        if (!*s || strlen(s) > 16)
                return -EBADMSG;
        for (; *s; s++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (*s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else
                        return -EBADMSG;
                v = v << 4 | d;
        }
        *ret = v;
        return 0;
}

static char *memdup_str(const char *p, size_t n) {
        /* Not strndup(): the text is not NUL-terminated here. */
        char *s = malloc(n + 1);
        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = 0;
        return s;
}

static int parse_line(const char *p, const char *end, unsigned version, CheckpointEntry *e) {
        char f[96];
        uint32_t fp_len, n_pending;
        int r;

        *e = (CheckpointEntry){0};
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->dev)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->ino)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = parse_hex64(f, &e->fp_hash)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou32(f, &fp_len)) < 0)
                return -EBADMSG;
        e->fp_len = fp_len;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->committed)) < 0)
                return -EBADMSG;
        if (version >= 3 &&
            ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->size)) < 0))
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou32(f, &n_pending)) < 0 ||
            n_pending > CHECKPOINT_MAX_PENDING)
                return -EBADMSG;
        e->n_pending = n_pending;
        for (unsigned i = 0; i < n_pending; i++) {
                uint64_t prev = i == 0 ? e->committed : e->pending[i - 1];
                if ((r = next_field(&p, end, f, sizeof(f))) < 0 ||
                    (r = safe_atou64(f, &e->pending[i])) < 0 || e->pending[i] <= prev)
                        return -EBADMSG;
        }
        if ((r = next_field(&p, end, e->token_id, sizeof(e->token_id))) < 0)
                return -EBADMSG;
        if (version >= 3) {
                uint32_t dir_len;
                if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou32(f, &dir_len)) < 0 ||
                    dir_len > (size_t) (end - p) || (dir_len < (size_t) (end - p) && p[dir_len] != ' '))
                        return -EBADMSG;
                if (dir_len > 0) {
                        e->dir = memdup_str(p, dir_len);
                        if (!e->dir)
                                return -ENOMEM;
                }
                p += dir_len;
                if (p < end)
                        p++;
        }
        if (p < end) {
                e->path = memdup_str(p, (size_t) (end - p));
                if (!e->path)
                        return -ENOMEM;
        }
        return 0;
}

int checkpoint_parse(
        const char *text, size_t size, CheckpointEntry **ret, size_t *ret_n, size_t *ret_bad_line) {
        const char *p = text, *end = text + size;
        CheckpointEntry *l = NULL;
        size_t n = 0, line = 1;
        unsigned version;
        int r;

        /* Both headers have the same length. */
        if (size >= strlen(CHECKPOINT_HEADER) &&
            memcmp(text, CHECKPOINT_HEADER, strlen(CHECKPOINT_HEADER)) == 0)
                version = 3;
        else if (
                size >= strlen(CHECKPOINT_HEADER_V2) &&
                memcmp(text, CHECKPOINT_HEADER_V2, strlen(CHECKPOINT_HEADER_V2)) == 0)
                version = 2;
        else {
                *ret_bad_line = 1;
                return -EBADMSG;
        }
        p += strlen(CHECKPOINT_HEADER);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                line++;
                if (!nl) {
                        r = -EBADMSG; /* torn write cannot happen (rename), so this is damage */
                        goto fail;
                }
                CheckpointEntry *nl_ = reallocarray(l, n + 1, sizeof(*l));
                if (!nl_) {
                        r = -ENOMEM;
                        goto fail;
                }
                l = nl_;
                r = parse_line(p, nl, version, &l[n]);
                n++; /* freed on failure too: it may hold a string */
                if (r < 0)
                        goto fail;
                p = nl + 1;
        }
        *ret = l;
        *ret_n = n;
        return 0;
fail:
        checkpoint_entries_free(l, n);
        *ret_bad_line = line;
        return r;
}

int checkpoint_format_entry(const CheckpointEntry *e, char **text, size_t *len, size_t *alloc) {
        const char *path = e->path && !strchr(e->path, '\n') && strlen(e->path) < 4096 ? e->path : "";
        /* A directory that cannot be written is left out: the path's is taken instead. */
        const char *dir = e->dir && !strchr(e->dir, '\n') && strlen(e->dir) < 4096 ? e->dir : "";
        size_t need = 512 + strlen(dir) + strlen(path);
        int k;

        if (*len + need > *alloc) {
                size_t na = MAX(*alloc * 2, *len + need + 1024);
                char *p = realloc(*text, na);
                if (!p)
                        return -ENOMEM;
                *text = p;
                *alloc = na;
        }
        char *out = *text + *len;
        size_t room = *alloc - *len;
        k = snprintf(
                out,
                room,
                "%" PRIu64 " %" PRIu64 " %" PRIx64 " %" PRIu32 " %" PRIu64 " %" PRIu64 " %u",
                e->dev,
                e->ino,
                e->fp_hash,
                e->fp_len,
                e->committed,
                e->size,
                e->n_pending);
        for (unsigned i = 0; i < e->n_pending && k > 0 && (size_t) k < room; i++)
                k += snprintf(out + k, room - (size_t) k, " %" PRIu64, e->pending[i]);
        if (k > 0 && (size_t) k < room)
                k += snprintf(
                        out + k, room - (size_t) k, " %s %zu %s %s\n", e->token_id, strlen(dir), dir, path);
        if (k < 0 || (size_t) k >= room)
                return -EINVAL;
        *len += (size_t) k;
        return 0;
}

int checkpoint_load(const char *path, CheckpointEntry **ret, size_t *ret_n) {
        _cleanup_free_ char *text = NULL;
        size_t size, bad;
        int r;

        r = read_full_file(path, 64 * 1024 * 1024, &text, &size);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read checkpoint file %s: %m", path);
        r = checkpoint_parse(text, size, ret, ret_n, &bad);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "%s:%zu: malformed checkpoint line", path, bad);
        return 0;
}

struct CheckpointWriter {
        char *path;
        bool sync;
        int efd;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        /* guarded by lock */
        char *text;
        size_t len;
        uint64_t seq;
        bool busy, finished, quit;
        uint64_t done_seq;
        int done_result;
};

static void *writer_main(void *userdata) {
        CheckpointWriter *w = userdata;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->quit && !w->text)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (!w->text)
                        break;
                char *text = w->text;
                size_t len = w->len;
                uint64_t seq = w->seq;
                w->text = NULL;
                pthread_mutex_unlock(&w->lock);

                int r = write_file_atomic_full(w->path, text, len, 0644, w->sync ? WRITE_FILE_SYNC : 0);
                free(text);

                pthread_mutex_lock(&w->lock);
                w->done_seq = seq;
                w->done_result = r;
                w->finished = true;
                uint64_t one = 1;
                (void) !write(w->efd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int checkpoint_writer_new(const char *path, bool sync, CheckpointWriter **ret) {
        CheckpointWriter *w = calloc(1, sizeof(CheckpointWriter));
        int r;

        if (!w)
                return -ENOMEM;
        w->sync = sync;
        w->path = strdup(path);
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!w->path || w->efd < 0) {
                r = w->path ? -errno : -ENOMEM;
                safe_close(w->efd);
                free(w->path);
                free(w);
                return r;
        }
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        r = -pthread_create(&w->thread, NULL, writer_main, w);
        if (r < 0) {
                safe_close(w->efd);
                free(w->path);
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

CheckpointWriter *checkpoint_writer_free(CheckpointWriter *w) {
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->quit = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w->text);
        safe_close(w->efd);
        free(w->path);
        free(w);
        return NULL;
}

int checkpoint_writer_fd(const CheckpointWriter *w) {
        return w->efd;
}

int checkpoint_writer_submit(CheckpointWriter *w, char *text, size_t len, uint64_t seq) {
        pthread_mutex_lock(&w->lock);
        if (w->busy) {
                pthread_mutex_unlock(&w->lock);
                return -EBUSY;
        }
        w->busy = true;
        w->text = text;
        w->len = len;
        w->seq = seq;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return 0;
}

int checkpoint_writer_collect(CheckpointWriter *w, uint64_t *ret_seq, int *ret_result) {
        uint64_t v;
        int r = -EAGAIN;

        (void) !read(w->efd, &v, sizeof(v));
        pthread_mutex_lock(&w->lock);
        if (w->finished) {
                w->finished = false;
                w->busy = false;
                *ret_seq = w->done_seq;
                *ret_result = w->done_result;
                r = 0;
        }
        pthread_mutex_unlock(&w->lock);
        return r;
}
