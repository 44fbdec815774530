#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the local pipeline — otel-supervisor in local
# mode with loggen → shipper → the embedded ClickHouse endpoint as its child processes. Once the stack is
# ready it prints `otelctl status` and a sample aggregate from ClickHouse, then keeps running until Ctrl-C.
#   scripts/run.sh           run until interrupted
#   scripts/run.sh --check   bring it up, show status and the aggregate, stop; exit 0 when it was ready
# State lives in $OTEL_DATA_DIR (default build/local-data); the status socket is $OTEL_DATA_DIR/status.sock
# and the read-only status port 127.0.0.1:8090.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

check=0
[ "${1:-}" = "--check" ] && check=1

scripts/install-deps.sh run
t=$(date +%s)
if [ ! -f build/build.ninja ]; then
  echo "run.sh: configuring the build (meson setup build)"
  meson setup build --werror >/dev/null
fi
# ninja's own [n/N] lines, every 20th, as they come, so a first build shows how far it is; the whole log on
# failure.
log=$(mktemp)
if ! ninja -C build 2>&1 | tee "$log" |
  awk -F'[][/]' '/^\[[0-9]+\/[0-9]+\]/ && ($2 % 20 == 0 || $2 == $3) { printf "run.sh: built %d of %d\n", $2, $3; fflush() }'; then
  cat "$log" >&2
  rm -f "$log"
  echo "run.sh: build failed" >&2
  exit 1
fi
rm -f "$log"
echo "run.sh: build ready in $(($(date +%s) - t)) s"

data=${OTEL_DATA_DIR:-$src/build/local-data}
mkdir -p "$data"
chdb=$(sed -n "s/^chdb_version = '\(.*\)'/\1/p" src/clickhouse-endpoint/meson.build)
chdb_lib=${CHDB_LIB:-${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/chdb/$chdb/libchdb.so}
sed -e "s|@DATA_DIR@|$data|g" -e "s|@BUILD@|$src/build|g" -e "s|@SOURCE@|$src|g" -e "s|@CHDB_LIB@|$chdb_lib|g" \
  config/local.yaml.in > "$data/config.yaml"

otelctl=(build/src/otelctl/otelctl --socket "$data/status.sock")
build/src/supervisor/otel-supervisor --config "$data/config.yaml" &
sup=$!
trap 'kill -TERM $sup 2>/dev/null; wait $sup 2>/dev/null || true' EXIT INT TERM

rc=0
"${otelctl[@]}" wait --timeout 3m || rc=$?
"${otelctl[@]}" status || true

if [ $rc = 0 ]; then
  echo
  echo "Sample aggregate (rows per random_string in otel_logs):"
  curl -sS --fail-with-body -u "otel:$(cat "$data/clickhouse-password")" \
    --data-binary "SELECT RandomString, count() AS rows, round(avg(RandomNumber), 1) AS avg_number, min(Count) AS first_count, max(Count) AS last_count FROM otel_logs WHERE ServiceName = 'loggen' AND Count > 0 GROUP BY RandomString ORDER BY RandomString FORMAT PrettyCompactMonoBlock" \
    http://127.0.0.1:8123/ || rc=1
fi

if [ $check = 1 ]; then
  exit $rc
fi
echo
echo "Running; Ctrl-C stops. Status: build/src/otelctl/otelctl --socket $data/status.sock status"
wait $sup
