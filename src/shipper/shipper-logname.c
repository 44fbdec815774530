/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "shipper-logname.h"

bool k8s_name_parse(const char *basename, K8sName *ret) {
        const char *end, *u1, *u2, *dash;
        size_t len = strlen(basename);

        *ret = (K8sName){0};
        if (len < 4 || memcmp(basename + len - 4, ".log", 4) != 0)
                return false;
        end = basename + len - 4;
        /* Pod and namespace names are DNS labels/subdomains: no '_'. */
        u1 = memchr(basename, '_', (size_t) (end - basename));
        if (!u1 || u1 == basename)
                return false;
        u2 = memchr(u1 + 1, '_', (size_t) (end - u1 - 1));
        if (!u2 || u2 == u1 + 1 || u2 + 1 >= end)
                return false;
        dash = NULL;
        for (const char *p = end - 1; p > u2; p--)
                if (*p == '-') {
                        dash = p;
                        break;
                }
        ret->pod = basename;
        ret->pod_len = (size_t) (u1 - basename);
        ret->namespace = u1 + 1;
        ret->namespace_len = (size_t) (u2 - u1 - 1);
        /* The container id is 64 hex digits; without one the rest is the
         * container name. */
        if (dash && end - dash - 1 == 64) {
                bool hex = true;
                for (const char *p = dash + 1; p < end; p++)
                        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                                hex = false;
                if (hex && dash > u2 + 1) {
                        ret->container = u2 + 1;
                        ret->container_len = (size_t) (dash - u2 - 1);
                        ret->container_id = dash + 1;
                        ret->container_id_len = 64;
                        return true;
                }
        }
        ret->container = u2 + 1;
        ret->container_len = (size_t) (end - u2 - 1);
        return true;
}
