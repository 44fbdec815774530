/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "shipper-buf.h"

int buf_grow(Buf *b, size_t extra) {
        size_t need, ncap;
        char *p;

        if (extra > SIZE_MAX - b->len)
                return -ENOBUFS;
        need = b->len + extra;
        if (need > b->max)
                return -ENOBUFS;
        ncap = b->cap ? b->cap : 4096;
        while (ncap < need)
                ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
        if (ncap > b->max)
                ncap = b->max;
        p = realloc(b->data, ncap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = ncap;
        return 0;
}

void buf_done(Buf *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}
