/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "shipper-body.h"

static const char *const insert_format_table[_INSERT_FORMAT_MAX] = {
        [INSERT_FORMAT_NATIVE] = "Native",
        [INSERT_FORMAT_JSON_EACH_ROW] = "JSONEachRow",
};

const char *insert_format_to_string(InsertFormat f) {
        return f >= 0 && f < _INSERT_FORMAT_MAX ? insert_format_table[f] : NULL;
}

InsertFormat insert_format_from_string(const char *s) {
        for (int i = 0; s && i < _INSERT_FORMAT_MAX; i++)
                if (strcasecmp(s, insert_format_table[i]) == 0)
                        return (InsertFormat) i;
        return _INSERT_FORMAT_INVALID;
}

int body_writer_init(
        BodyWriter *w,
        InsertFormat format,
        Compression compression,
        int level,
        bool seed_columns,
        size_t block_bytes,
        size_t max_body,
        size_t max_line) {
        *w = (BodyWriter){
                .format = format,
                .compression = compression,
                .level = level,
                .block_bytes = block_bytes,
        };
        /* One row on top of a block that is just below block_bytes: a JSON row escapes its message up to
         * 6x, a Native column holds it decoded (at most as long). */
        w->rows.max = block_bytes + max_line * 6 + 64 * 1024;
        native_block_init(&w->block, seed_columns, block_bytes + max_line + 64 * 1024);
        w->body.max = max_body;
        return 0;
}

void body_writer_done(BodyWriter *w) {
        native_block_done(&w->block);
        strbuf_done(&w->rows);
        strbuf_done(&w->body);
        w->compressor = compressor_free(w->compressor);
}

int body_writer_begin(BodyWriter *w) {
        int r;

        if (w->compression != COMPRESSION_NONE && !w->compressor) {
                r = compressor_new(w->compression, w->level, &w->compressor);
                if (r < 0)
                        return r;
        }
        if (w->compressor) {
                r = compressor_begin(w->compressor);
                if (r < 0)
                        return r;
        }
        native_block_reset(&w->block);
        w->rows.len = 0;
        w->body.len = 0;
        w->raw_bytes = 0;
        w->n_rows = 0;
        w->started = true;
        return 0;
}

/* Puts uncompressed body bytes through the compressor into the body (end: finishes the frame). */
static int feed(BodyWriter *w, const void *p, size_t n, bool end) {
        static const char nothing[1];
        int r;

        if (!p)
                p = nothing; /* the compressor advances the pointer, even by 0 */

        w->raw_bytes += n;
        if (!w->compressor) {
                r = strbuf_reserve(&w->body, n);
                if (r < 0)
                        return r;
                if (n > 0)
                        strbuf_put(&w->body, p, n);
                return 0;
        }
        for (;;) {
                void *out;
                size_t room;
                /* Room for a good part of the input at once; the compressed body rarely needs more. */
                r = strbuf_reserve(&w->body, MIN(MAX(n / 2, (size_t) 64 * 1024), (size_t) 1024 * 1024));
                if (r == -ENOBUFS)
                        r = strbuf_reserve(&w->body, 1);
                if (r < 0)
                        return r;
                out = w->body.data + w->body.len;
                room = w->body.alloc - w->body.len - 1; /* the terminator's byte stays free */
                r = compressor_stream(w->compressor, &p, &n, &out, &room, end);
                if (r < 0)
                        return r;
                w->body.len = (size_t) ((char *) out - w->body.data);
                if (end ? r == 1 : n == 0)
                        return 0;
        }
}

static int feed_native(const void *p, size_t n, void *userdata) {
        return feed(userdata, p, n, false);
}

/* Moves the rows held uncompressed into the body. */
static int flush_rows(BodyWriter *w) {
        int r;

        if (w->format == INSERT_FORMAT_NATIVE)
                return native_block_write(&w->block, feed_native, w);
        r = feed(w, w->rows.data, w->rows.len, false);
        if (r >= 0)
                w->rows.len = 0;
        return r;
}

int body_writer_add(
        BodyWriter *w,
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const NativeResource *res,
        const LogRow *row) {
        int r;

        assert(w->started);
        if (w->format == INSERT_FORMAT_NATIVE) {
                r = native_block_add(&w->block, res, row);
                if (r == -ENOBUFS && w->block.rows > 0) {
                        r = flush_rows(w);
                        if (r >= 0)
                                r = native_block_add(&w->block, res, row);
                }
                if (r < 0)
                        return r;
                if (native_block_size(&w->block) >= w->block_bytes)
                        r = flush_rows(w);
        } else {
                r = transform_put_json(opts, prefix, prefix_len, row, &w->rows);
                if (r < 0)
                        return r;
                if (w->rows.len >= w->block_bytes)
                        r = flush_rows(w);
        }
        if (r >= 0)
                w->n_rows++;
        return r;
}

int body_writer_finish(BodyWriter *w) {
        int r;

        assert(w->started);
        r = flush_rows(w);
        if (r >= 0 && w->compressor)
                r = feed(w, NULL, 0, true);
        if (r >= 0)
                w->started = false;
        return r;
}

StrBuf body_writer_take(BodyWriter *w) {
        StrBuf b = w->body;
        w->body = (StrBuf){.max = b.max};
        return b;
}
