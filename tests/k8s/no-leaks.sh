#!/usr/bin/env bash
# Runs a criterion test binary (or anything else) and fails if LeakSanitizer reported a leak. Criterion
# prints a leak found in a test's worker process but still counts the test as passed, so under
# `scripts/test.sh --sanitize` leaks would go unnoticed without this.
#   no-leaks.sh COMMAND [ARGS...]
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if grep -q 'ERROR: LeakSanitizer' "$log"; then
  echo "no-leaks: LeakSanitizer reported leaks (above)" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
