/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* The project's one error convention.
 *
 * A function that can fail returns a negative errno (0 or a positive count on success). The message is
 * logged once, at the edge: the program's own code that decides what the failure means logs it
 * (`return log_error_errno(r, "Failed to …: %m")`), while library code (src/common, src/k8s, parsers)
 * logs at debug level only.
 *
 * Where the caller needs the sentence itself, not only the errno — to show it in the status document or in
 * a message of its own — the function takes an optional last parameter `char **reterr`: on failure it
 * receives a malloc()ed sentence naming what failed ("manifests/app.yaml:3:1: mapping values are not
 * allowed here"), which the caller frees; on success it is left untouched. A caller that wants only the
 * errno passes NULL. Callers must cope with *reterr staying NULL (out of memory, or a failure the callee
 * had nothing to add to): `error ?: strerror(-r)`. Messages passed up are not re-logged on the way: only
 * the edge logs them. */

/* Logs the formatted message at debug level and, when reterr is not NULL, replaces *reterr with it (the
 * arguments may refer to the old *reterr, to wrap it). Returns r, which must be negative, so that a
 * function fails in one step:  return errmsg_set(reterr, -EINVAL, "%s:%u: unknown key", file, line);
 * %m stands for strerror(-r). */
int errmsg_set(char **reterr, int r, const char *format, ...) _printf_(3, 4);
