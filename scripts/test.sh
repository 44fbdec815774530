#!/usr/bin/env bash
# Builds the project with -Werror and runs every meson test suite.
#   scripts/test.sh              gcc build in build/
#   scripts/test.sh --sanitize   clang build with AddressSanitizer + UBSan in build-asan/
# Extra arguments after the options go to `meson test` (e.g. --suite unit).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  shift
fi

scripts/install-deps.sh test

if [ $sanitize = 1 ]; then
  builddir=build-asan
  export CC=clang
  setup_args=(-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug)
  export ASAN_OPTIONS=strict_string_checks=1:detect_stack_use_after_return=1:detect_leaks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  builddir=build
  setup_args=()
fi

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --werror "${setup_args[@]}"
else
  meson setup --reconfigure "$builddir" --werror "${setup_args[@]}" >/dev/null
fi
ninja -C "$builddir"

# Tests run in a foreign timezone to catch local-time assumptions (as systemd's CI does).
export TZ=GMT+12
rc=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" || rc=$?

(python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, os, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
# In CI a skipped suite means its engine is missing: that is a failure, never a pass.
if skipped and os.environ.get("CI", "").lower() == "true":
    print("test.sh: skipped tests are failures in CI (CI=true)", file=sys.stderr)
    sys.exit(1)
PY
) || rc=1
exit $rc
