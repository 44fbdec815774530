#!/usr/bin/env bash
# Fails when clang-format would change a tracked C file, when a banned libc call appears, or when files
# below src/ include each other in a circle.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
[ -n "$files" ] || exit 0
clang-format --dry-run --Werror $files
# STYLE.md: no atoi/strtol-family parsing without checks, no unbounded string functions.
if git grep -nE '\b(atoi|atol|atoll|sscanf|sprintf|vsprintf|strcpy|strcat|strtok|gets)\(' -- '*.c' '*.h'; then
  echo "check-format: banned function used (see STYLE.md)" >&2
  exit 1
fi
# No import circle between the files of src/ (a module is foo.c + foo.h; see the script).
python3 scripts/check-includes.py
echo "check-format: $(echo "$files" | wc -l) files clean"
