/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "clickhouse-endpoint-request.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strbuf.h"
#include "util.h"

/* The request body on its way in: a streamed INSERT's rows into their temporary file, anything else
 * through the decoders into memory (bounded by --max-query-body); the errors met on the way; a
 * multipart/form-data body read as a form. */

int open_tmp_file(const char *dir) {
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return -errno;
        /* File systems without O_TMPFILE: a named file, unlinked at once. */
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/insert-XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(p, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) unlink(p);
        return fd;
}

void request_receive(Request *r, const char *upload_data, size_t size) {
        if (r->body_error != 0)
                return;
        if (!r->decoder) {
                int k = loop_write(r->tmp_fd, upload_data, size);
                if (k < 0) {
                        log_error_errno(k, "Failed to write the INSERT body to a temporary file: %m");
                        r->body_error = k;
                }
        } else
                r->body_error = body_decoder_feed(r->decoder, upload_data, size);
}

/* --- body ---------------------------------------------------------------------------------------------- */

/* Where decoded body bytes end up: the INSERT's temporary file, or memory (bounded). */
int sink_final(void *userdata, const void *data, size_t size) {
        Request *r = userdata;
        if (r->streaming)
                return loop_write(r->tmp_fd, data, size);
        int k = strbuf_append(&r->body, data, size);
        return k == -ENOBUFS ? -E2BIG : k;
}

/* After the Content-Encoding: into the framing decoder, or straight on. Framing errors get errnos of their
 * own so that the answer can tell them from a broken Content-Encoding. */
int sink_decoded(void *userdata, const void *data, size_t size) {
        Request *r = userdata;
        if (!r->frames)
                return sink_final(r, data, size);
        int k = frame_decoder_feed(r->frames, data, size);
        return k == -EBADMSG ? -EPROTO : k;
}

enum MHD_Result queue_body_error(Request *r, struct MHD_Connection *c) {
        HttpFrontend *f = r->f;
        switch (r->body_error) {
        case -E2BIG:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 202. DB::Exception: Request body is larger than %" PRIu64
                        " bytes (--max-query-body); only INSERT ... FORMAT bodies are streamed. (QUERY_IS_TOO_LARGE)",
                        f->config->max_query_body);
        case -EBADMSG:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 354. DB::Exception: inflate/decompress failed: the request body is not valid %s data. (ZLIB_INFLATE_FAILED)",
                        r->enc == BODY_ZSTD  ? "zstd"
                        : r->enc == BODY_LZ4 ? "lz4"
                                             : "gzip/deflate");
        case -EILSEQ:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 40. DB::Exception: Checksum doesn't match: corrupted data (decompress=1 body). (CHECKSUM_DOESNT_MATCH)");
        case -EPROTONOSUPPORT:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 89. DB::Exception: Unknown compression method in the decompress=1 body: supported are LZ4 (0x82), ZSTD (0x90) and none (0x02). (UNKNOWN_COMPRESSION_METHOD)");
        case -EFBIG:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 272. DB::Exception: Too large size_compressed in the decompress=1 body: more than 1 GiB. (TOO_LARGE_SIZE_COMPRESSED)");
        case -EPROTO:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 271. DB::Exception: Cannot decompress the decompress=1 body: a block is corrupt or cut short. (CANNOT_DECOMPRESS)");
        default:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 1001. DB::Exception: Failed to receive the request body: %s. (STD_EXCEPTION)",
                        strerror(-r->body_error));
        }
}

/* A multipart/form-data body: the form's query fields after ?query=, its param_* fields as query
 * parameters (a parameter already in the URL wins, as on the server); other fields are not settings. */
int take_form(Request *r, struct MHD_Connection *c, StrBuf *sql, enum MHD_Result *answer) {
        HttpFrontend *f = r->f;
        MultipartPart *parts = NULL;
        size_t n = 0;
        int k;

        k = multipart_parse(r->body.data ?: "", r->body.len, r->boundary, &parts, &n);
        if (k == -ENOMEM)
                return -ENOMEM;
        if (k < 0)
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 36. DB::Exception: The multipart/form-data body is not well formed. (BAD_ARGUMENTS)"));
        k = strbuf_puts(sql, strempty(r->query));
        for (size_t i = 0; k >= 0 && i < n; i++) {
                if (parts[i].filename) {
                        _cleanup_free_ char *name = strdup(parts[i].name);
                        multipart_parts_free(parts, n);
                        return answered(
                                answer,
                                queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 48. DB::Exception: External tables (the multipart file part '%s') are not supported by this server. (NOT_IMPLEMENTED)",
                                        strempty(name)));
                }
                if (streq(parts[i].name, "query"))
                        k = strbuf_append(sql, parts[i].value, parts[i].size);
                else if (startswith(parts[i].name, "param_") && sql_valid_setting_name(parts[i].name)) {
                        bool have = false;
                        for (size_t j = 0; j < r->n_settings; j++)
                                have = have || streq(r->setting_names[j], parts[i].name);
                        if (have)
                                continue;
                        if (r->n_settings >= MAX_SETTINGS) {
                                multipart_parts_free(parts, n);
                                return answered(
                                        answer,
                                        queue_exceptionf(
                                                f,
                                                c,
                                                r,
                                                r->query_id,
                                                "Code: 36. DB::Exception: Too many parameters (at most %d). (BAD_ARGUMENTS)",
                                                MAX_SETTINGS));
                        }
                        r->setting_names[r->n_settings] = TAKE_PTR(parts[i].name);
                        r->setting_values[r->n_settings] = TAKE_PTR(parts[i].value);
                        r->n_settings++;
                }
        }
        multipart_parts_free(parts, n);
        return k < 0 ? -ENOMEM : 0;
}
