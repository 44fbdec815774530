#!/usr/bin/env bash
# Fetches the embedded ClickHouse engine (libchdb, npm package @chdb/lib-linux-x64-gnu, pinned) into the
# cache: ${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/chdb/<version>/libchdb.so. ~170 MB download, ~560 MB
# unpacked; never committed. Idempotent and instant once cached. The build does not need it (the endpoint
# loads it at run time); tests and bench find it through $CHDB_LIB, which meson sets to this path.
set -euo pipefail

CHDB_VERSION=26.5.3 # keep in step with chdb_version in src/clickhouse-endpoint/meson.build
CHDB_PACKAGE=@chdb/lib-linux-x64-gnu
# npm's integrity for ${CHDB_PACKAGE}@${CHDB_VERSION} (npm view ... dist.integrity), checked after download.
CHDB_INTEGRITY=sha512-fPrLmRt5Moor9yGz4mazbrNje4t7X9KB2mTGkXFWRxRBs2iKy8yh6jx11xsa0Qr3iDFMU/yHqd+bVdYJXu3QaQ==

cache=${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/chdb/${CHDB_VERSION}
lib=$cache/libchdb.so
if [ -f "$cache/.complete" ] && [ -f "$lib" ]; then
  exit 0
fi

if ! command -v npm >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "chdb.sh: npm is needed to fetch $CHDB_PACKAGE (apt-get install npm, as root)" >&2
    exit 1
  fi
  t=$(date +%s)
  echo "chdb.sh: installing npm (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm >/dev/null
  echo "chdb.sh: npm installed in $(( $(date +%s) - t )) s"
fi

start=$(date +%s)
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "chdb.sh: fetching $CHDB_PACKAGE@$CHDB_VERSION into $cache"
(cd "$tmp" && npm pack --silent "$CHDB_PACKAGE@$CHDB_VERSION" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")
if [ "$got" != "$CHDB_INTEGRITY" ]; then
  echo "chdb.sh: integrity mismatch for $tgz: got $got, want $CHDB_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/libchdb.so
mv "$tmp/package/libchdb.so" "$lib"
touch "$cache/.complete"
echo "chdb.sh: done in $(( $(date +%s) - start )) s ($(du -m "$lib" | cut -f1) MB)"
