#!/usr/bin/env bash
# Builds otel-supervisor's libFuzzer target (config YAML, image tarballs, image lists, ClickHouse answers)
# with clang, ASan and UBSan in build-fuzz-supervisor/ and fuzzes for SECONDS (default 600), then merges new
# findings into the checked-in corpus. Not part of CI beyond the corpus replay in meson test.
#   tests/fuzz/supervisor-fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
out=build-fuzz-supervisor
if [ ! -f "$out/build.ninja" ]; then
  CC=clang meson setup "$out" -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all' >/dev/null
fi
ninja -C "$out" src/supervisor/libsupervisor.a src/common/libotelcommon.a src/k8s/libotelk8s.a >/dev/null
libs=$(pkg-config --libs libsystemd libcurl yaml-0.1 libcjson libmicrohttpd zlib libzstd libcrypto)
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
  -Isrc/supervisor -Isrc/common -Isrc/k8s -I"$out" -I/usr/include/cjson tests/fuzz/supervisor-fuzz.c \
  "$out/src/supervisor/libsupervisor.a" "$out/src/k8s/libotelk8s.a" "$out/src/common/libotelcommon.a" $libs -lm \
  -o "$out/supervisor-fuzz"
mkdir -p "$out/corpus-new"
start=$(date +%s)
"$out/supervisor-fuzz" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "$out/corpus-new" tests/fuzz/supervisor-corpus 2>&1 | tail -20
echo "supervisor-fuzz: ran $(( $(date +%s) - start )) s"
"$out/supervisor-fuzz" -merge=1 -max_len=65536 tests/fuzz/supervisor-corpus "$out/corpus-new" 2>&1 | tail -2
