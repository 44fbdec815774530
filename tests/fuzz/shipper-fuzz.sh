#!/usr/bin/env bash
# Builds the shipper's libFuzzer target with clang (ASan + UBSan) in its own
# directory and fuzzes for the given number of seconds (default 600), growing
# the checked-in corpus. Not part of CI beyond the corpus replay in meson test.
#   tests/fuzz/shipper-fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
out=build-fuzz
mkdir -p "$out" "$out/shipper-corpus-new"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -Isrc/shipper -Isrc/common \
  tests/fuzz/shipper-fuzz-line.c src/shipper/shipper-{json,logname,parse,transform}.c src/common/strbuf.c -o "$out/shipper-fuzz-line"
start=$(date +%s)
"$out/shipper-fuzz-line" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$out/shipper-corpus-new" tests/fuzz/shipper-corpus 2>&1 | tail -25
echo "shipper-fuzz: ran $(( $(date +%s) - start )) s"
# Keep a small minimised corpus in the repository.
"$out/shipper-fuzz-line" -merge=1 -max_len=1024 tests/fuzz/shipper-corpus "$out/shipper-corpus-new" 2>&1 | tail -2
