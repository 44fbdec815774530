/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "errmsg.h"
#include "log.h"

int errmsg_set(char **reterr, int r, const char *format, ...) {
        char *msg = NULL;
        va_list ap;
        int k;

        errno = ERRNO_VALUE(r); /* for %m */
        va_start(ap, format);
        k = vasprintf(&msg, format, ap);
        va_end(ap);
        if (k < 0)
                msg = NULL;
        log_debug("%s", msg ?: "(out of memory formatting an error message)");
        if (reterr) {
                free(*reterr);
                *reterr = msg;
        } else
                free(msg);
        return r < 0 ? r : -r;
}
