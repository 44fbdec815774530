/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "macro.h"
#include "util.h"

/* What the HTTP layer reads from a request's headers besides routing: who the client says it is, whether
 * its framing can be trusted, and the response headers it asks for (http_response_headers). */

/* --- credentials --------------------------------------------------------------------------------------- */

static int base64_value(char ch) {
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

/* Decodes standard base64 (padding optional) into a NUL-terminated string; -EINVAL on bad input. */
static int base64_decode(const char *in, char **ret) {
        size_t n = strlen(in), o = 0;
        uint32_t acc = 0;
        int bits = 0;
        _cleanup_free_ char *out = malloc(n / 4 * 3 + 4);

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (in[i] == '=')
                        break;
                int v = base64_value(in[i]);
                if (v < 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[o] = 0;
        if (strlen(out) != o) /* embedded NUL */
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}

bool secret_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), n = MAX(la, lb);
        unsigned char diff = la != lb;

        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char) (i < la ? a[i] : 0) ^ (unsigned char) (i < lb ? b[i] : 0);
        return diff == 0;
}

/* Who the request says it is, the ways ClickHouse accepts: X-ClickHouse-User/-Key, HTTP basic auth, or the
 * user/password URL parameters; nothing given means user "default" with an empty password. */
int http_request_credentials(struct MHD_Connection *c, char **ret_user, char **ret_password) {
        const char *h_user = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-ClickHouse-User");
        const char *h_key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-ClickHouse-Key");
        const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *p_user = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "user");
        const char *p_password = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "password");
        const char *b64;

        if (authz && (b64 = startswith(authz, "Basic "))) {
                _cleanup_free_ char *decoded = NULL;
                int r = base64_decode(b64, &decoded);
                if (r < 0)
                        return r;
                char *colon = strchr(decoded, ':');
                if (!colon)
                        return -EINVAL;
                *colon = 0;
                *ret_user = strdup(decoded);
                *ret_password = strdup(colon + 1);
        } else if (h_user || h_key) {
                *ret_user = strdup(h_user ?: "default");
                *ret_password = strdup(strempty(h_key));
        } else {
                *ret_user = strdup(p_user ?: "default");
                *ret_password = strdup(strempty(p_password));
        }
        if (!*ret_user || !*ret_password) {
                free(*ret_user);
                free(*ret_password);
                return -ENOMEM;
        }
        return 0;
}

/* --- framing ------------------------------------------------------------------------------------------- */

typedef struct LengthCheck {
        bool seen;
        bool conflict;
        uint64_t value;
} LengthCheck;

static enum MHD_Result check_content_length(
        void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        LengthCheck *lc = cls;

        if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
                return MHD_YES;
        /* A field may also carry a list ("5, 7"): every element counts as a value of its own. */
        for (const char *p = strempty(value);;) {
                uint64_t v = 0;
                bool digits = false;

                p += strspn(p, " \t");
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (v > (UINT64_MAX - 9) / 10) {
                                lc->conflict = true;
                                return MHD_NO;
                        }
                        v = v * 10 + (uint64_t) (*p - '0');
                        digits = true;
                }
                p += strspn(p, " \t");
                if (!digits || (*p != ',' && *p != 0) || (lc->seen && v != lc->value)) {
                        lc->conflict = true;
                        return MHD_NO;
                }
                lc->seen = true;
                lc->value = v;
                if (*p == 0)
                        break;
                p++;
        }
        return MHD_YES;
}

/* RFC 9112 §6.3: a message whose Content-Length values differ (two fields, or a list) has no reliable
 * framing; the server must answer 400 and close the connection, whatever length it would have picked. */
bool http_request_has_conflicting_length(struct MHD_Connection *c) {
        LengthCheck lc = {};
        (void) MHD_get_connection_values(c, MHD_HEADER_KIND, check_content_length, &lc);
        return lc.conflict;
}

/* --- http_response_headers ----------------------------------------------------------------------------- */

/* http_response_headers: a Map(String, String) literal such as {'Cache-Control':'no-cache'}; each pair is
 * added to the answer. Returns false when the value cannot be read or names a header that cannot be set. */
static bool parse_quoted(const char **p, char *buf, size_t size) {
        size_t n = 0;
        const char *q = *p + strspn(*p, " \t");

        if (*q != '\'')
                return false;
        for (q++; *q && *q != '\''; q++) {
                if (*q == '\\' && q[1])
                        q++;
                if (n + 1 >= size || *q == '\r' || *q == '\n')
                        return false;
                buf[n++] = *q;
        }
        if (*q != '\'')
                return false;
        buf[n] = 0;
        *p = q + 1;
        return true;
}

static bool header_name_ok(const char *h) {
        static const char *const reserved[] = {
                "content-length",
                "transfer-encoding",
                "connection",
                "content-encoding",
                "date",
                "keep-alive"};
        if (isempty(h))
                return false;
        for (const char *p = h; *p; p++)
                if (!(isalnum((unsigned char) *p) || strchr("!#$%&'*+-.^_`|~", *p)))
                        return false;
        FOREACH_ARRAY(k, reserved, ELEMENTSOF(reserved))
                if (strcasecmp(*k, h) == 0)
                        return false;
        return true;
}

bool http_apply_response_headers(const char *spec, struct MHD_Response *resp) {
        const char *p = spec + strspn(spec, " \t");
        char name[256], value[4096];

        if (*p++ != '{')
                return false;
        p += strspn(p, " \t");
        if (*p == '}')
                return true;
        for (;;) {
                if (!parse_quoted(&p, name, sizeof(name)))
                        return false;
                p += strspn(p, " \t");
                if (*p++ != ':')
                        return false;
                if (!parse_quoted(&p, value, sizeof(value)) || !header_name_ok(name))
                        return false;
                if (resp) {
                        if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
                                (void) MHD_del_response_header(
                                        resp,
                                        MHD_HTTP_HEADER_CONTENT_TYPE,
                                        MHD_get_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE));
                        (void) MHD_add_response_header(resp, name, value);
                }
                p += strspn(p, " \t");
                if (*p == '}')
                        return p[1 + strspn(p + 1, " \t")] == 0;
                if (*p++ != ',')
                        return false;
        }
}
