#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the pipeline in the foreground.
# Arguments are passed to the program.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --werror >/dev/null
ninja -C build >/dev/null
exec build/src/loggen/loggen "$@"
