/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "log.h"
#include "macro.h"
#include "shipper-manager.h"

Batch *batch_new(ShipperFile *f) {
        Manager *m = f->manager;
        Batch *b = calloc(1, sizeof(Batch));
        if (!b)
                return NULL;
        b->file = f;
        b->generation = f->generation;
        b->start = b->end = f->reader.buf_off; /* fixed up by the caller */
        if (m->n_spare_rows > 0) {
                b->rows = m->spare_rows[--m->n_spare_rows];
                b->rows.len = 0;
        }
        /* One message (max_line, escaped up to 6x) must always fit on top of a
         * batch that is just below batch-bytes. */
        b->rows.max = (size_t) m->config->batch_bytes + (size_t) m->config->max_line_bytes * 6 + 64 * 1024;
        memcpy(b->token_id, f->token_id, sizeof(b->token_id));
        return b;
}

Batch *batch_free(Batch *b) {
        if (!b)
                return NULL;
        Manager *m = b->file ? b->file->manager : NULL;
        ch_request_free(b->req);
        sd_event_source_disable_unref(b->retry_timer);
        if (m && m->n_spare_rows < ELEMENTSOF(m->spare_rows) && b->rows.data)
                m->spare_rows[m->n_spare_rows++] = b->rows;
        else
                buf_done(&b->rows);
        free(b->ranges);
        free(b->row_off);
        free(b);
        return NULL;
}

int batch_build_row_offsets(Batch *b) {
        uint32_t n = 0;
        const char *p = b->rows.data, *end = b->rows.data + b->rows.len;

        free(b->row_off);
        b->row_off = calloc((size_t) b->n_rows + 1, sizeof(uint32_t));
        if (!b->row_off)
                return -ENOMEM;
        b->row_off[0] = 0;
        while (p < end && n < b->n_rows) {
                /* Rows end in '\n' and contain no raw newline (it is escaped). */
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl)
                        break;
                p = nl + 1;
                b->row_off[++n] = (uint32_t) (p - b->rows.data);
        }
        if (n != b->n_rows)
                return -EBADMSG;
        return 0;
}

static void range_bytes(const Batch *b, RowRange r, const char **ret, size_t *ret_len) {
        if (r.lo == 0 && r.hi == b->n_rows) {
                *ret = b->rows.data;
                *ret_len = b->rows.len;
        } else {
                *ret = b->rows.data + b->row_off[r.lo];
                *ret_len = b->row_off[r.hi] - b->row_off[r.lo];
        }
}

int batch_encode(Manager *m, Batch *b, RowRange range, Buf *out, bool *ret_borrowed) {
        const char *src;
        size_t len;
        int r;

        range_bytes(b, range, &src, &len);
        out->len = 0;
        *ret_borrowed = false;
        switch (m->config->compression) {
        case COMPRESSION_NONE:
                /* No copy: the request points into the batch, which outlives it. */
                *out = (Buf){.data = (char *) (uintptr_t) src, .len = len, .cap = len, .max = len};
                *ret_borrowed = true;
                return 0;
        case COMPRESSION_ZSTD: {
                size_t bound = ZSTD_compressBound(len), k;
                r = buf_reserve(out, bound);
                if (r < 0)
                        return r;
                if (!m->zstd_cctx) {
                        m->zstd_cctx = ZSTD_createCCtx();
                        if (!m->zstd_cctx)
                                return -ENOMEM;
                }
                k = ZSTD_compressCCtx(
                        m->zstd_cctx, out->data, bound, src, len, (int) m->config->compression_level);
                if (ZSTD_isError(k))
                        return log_debug_errno(SYNTHETIC_ERRNO(EIO), "zstd: %s", ZSTD_getErrorName(k));
                out->len = k;
                return 0;
        }
        case COMPRESSION_GZIP: {
                z_stream z = {0};
                int level = (int) CLAMP(m->config->compression_level, 1, 9);
                if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                        return -ENOMEM;
                size_t bound = deflateBound(&z, (uLong) len) + 32;
                r = buf_reserve(out, bound);
                if (r < 0) {
                        deflateEnd(&z);
                        return r;
                }
                z.next_in = (Bytef *) (uintptr_t) src;
                z.avail_in = (uInt) len;
                z.next_out = (Bytef *) out->data;
                z.avail_out = (uInt) bound;
                int k = deflate(&z, Z_FINISH);
                out->len = bound - z.avail_out;
                deflateEnd(&z);
                return k == Z_STREAM_END ? 0 : -EIO;
        }
        default:
                return -EINVAL;
        }
}

void batch_token(const Batch *b, char *buf, size_t size) {
        if (b->bisecting)
                snprintf(
                        buf,
                        size,
                        "%s-%" PRIu64 "-%" PRIu64 "-r%" PRIu32 "-%" PRIu32,
                        b->token_id,
                        b->start,
                        b->end,
                        b->cur.lo,
                        b->cur.hi);
        else
                snprintf(buf, size, "%s-%" PRIu64 "-%" PRIu64, b->token_id, b->start, b->end);
}
