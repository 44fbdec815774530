#!/usr/bin/env bash
# Builds the Kubernetes client's libFuzzer target (YAML reader, manifest checks, rollout/pod judgement) with
# clang, ASan and UBSan, fuzzes for the given number of seconds (default 600) and merges new finds into the
# checked-in corpus (tests/k8s/fuzz-corpus), which meson test replays.
#   tests/k8s/fuzz-k8s.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
out=build-fuzz-k8s
mkdir -p "$out/corpus-new"
printf '#pragma once\n#define PROJECT_VERSION "fuzz"\n#define PROJECT_SOURCE_ROOT "."\n' >"$out/build-config.h"
# shellcheck disable=SC2046
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
  -Isrc/k8s -Isrc/common -I"$out" $(pkg-config --cflags yaml-0.1 libcjson libcurl libsystemd) \
  tests/k8s/fuzz-k8s-yaml.c src/k8s/k8s-{yaml,manifest,health,client,kubeconfig}.c \
  src/common/{curl-glue,log,util,strbuf,parse-util}.c \
  $(pkg-config --libs yaml-0.1 libcjson libcurl libsystemd) -lm -o "$out/fuzz-k8s-yaml"
start=$(date +%s)
"$out/fuzz-k8s-yaml" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -dict=tests/k8s/fuzz-yaml.dict -print_final_stats=1 "$out/corpus-new" tests/k8s/fuzz-corpus 2>&1 | tail -25
echo "fuzz-k8s: ran $(($(date +%s) - start)) s"
"$out/fuzz-k8s-yaml" -merge=1 -max_len=65536 tests/k8s/fuzz-corpus "$out/corpus-new" 2>&1 | tail -2
