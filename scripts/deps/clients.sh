#!/usr/bin/env bash
# Installs the official ClickHouse clients the `clients` test suite runs against the embedded endpoint, each
# pinned and cached under ${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/clients/<component>-<version>/:
#   node-<v>     @clickhouse/client, @clickhouse/client-web and playwright-core (npm ci from
#                tests/clients/node/package-lock.json, which carries every package's integrity)
#   python-<v>   clickhouse-connect from PyPI (pip --target)
#   go-<v>       the clickhouse-go test program, built from tests/clients/go (go.sum checks every module)
#   otelcol-<v>  the OpenTelemetry collector with the file log receiver and the ClickHouse exporter, built
#                by the collector's builder (ocb) from the Go module proxy (tests/clients/otelcol)
# Each part is skipped when its .complete marker exists; Chromium comes from Debian (clients.apt).
# `clients.sh --paths` prints where each part is for this checkout, installing nothing.
set -euo pipefail
main() {
  cd "$(dirname "$0")/../.."
  local cache=${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/clients
  local node_key python_key go_key otelcol_key
  NODE_CLIENTS=1.23.1
  CLICKHOUSE_CONNECT=1.12.0
  OCB=v0.165.0
  node_key=node-$NODE_CLIENTS-$(sha256sum tests/clients/node/package-lock.json | cut -c1-12)
  python_key=python-$CLICKHOUSE_CONNECT
  go_key=go-$(sha256sum tests/clients/go/go.sum tests/clients/go/*.go | sha256sum | cut -c1-12)
  otelcol_key=otelcol-$OCB-$(sha256sum tests/clients/otelcol/builder-config.yaml | cut -c1-12)
  if [ "${1:-}" = --paths ]; then
    # Where the tests find each part (tests/clients/run.py), for this checkout's pins.
    echo "node_modules=$cache/$node_key/node_modules"
    echo "python=$cache/$python_key"
    echo "go=$cache/$go_key/clients-go"
    echo "otelcol=$cache/$otelcol_key/build/otelcol-clients-test"
    return 0
  fi
  mkdir -p "$cache"
  local t0
  t0=$(date +%s)

  if [ ! -f "$cache/$node_key/.complete" ]; then
    local t=$(date +%s)
    echo "clients deps: npm ci @clickhouse/client $NODE_CLIENTS, @clickhouse/client-web, playwright-core"
    rm -rf "$cache/$node_key"
    mkdir -p "$cache/$node_key"
    cp tests/clients/node/package.json tests/clients/node/package-lock.json "$cache/$node_key/"
    (cd "$cache/$node_key" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    touch "$cache/$node_key/.complete"
    echo "clients deps: node clients in $(( $(date +%s) - t )) s"
  fi

  if [ ! -f "$cache/$python_key/.complete" ]; then
    local t=$(date +%s)
    echo "clients deps: pip install clickhouse-connect==$CLICKHOUSE_CONNECT"
    rm -rf "$cache/$python_key"
    python3 -m pip install --quiet --disable-pip-version-check --no-input --target "$cache/$python_key" \
      "clickhouse-connect==$CLICKHOUSE_CONNECT"
    touch "$cache/$python_key/.complete"
    echo "clients deps: clickhouse-connect in $(( $(date +%s) - t )) s"
  fi

  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 GOMODCACHE=$cache/gomod
  if [ ! -f "$cache/$go_key/.complete" ]; then
    local t=$(date +%s)
    echo "clients deps: building the clickhouse-go test program"
    rm -rf "$cache/$go_key"
    mkdir -p "$cache/$go_key"
    (cd tests/clients/go && nice -n 10 go build -trimpath -o "$cache/$go_key/clients-go" .)
    touch "$cache/$go_key/.complete"
    echo "clients deps: clickhouse-go program in $(( $(date +%s) - t )) s"
  fi

  if [ ! -f "$cache/$otelcol_key/.complete" ]; then
    local t=$(date +%s)
    echo "clients deps: building the OpenTelemetry collector with ocb $OCB (a few minutes on a fresh machine)"
    rm -rf "$cache/$otelcol_key"
    mkdir -p "$cache/$otelcol_key"
    GOBIN=$cache/$otelcol_key/bin GOFLAGS=-mod=mod nice -n 10 go install "go.opentelemetry.io/collector/cmd/builder@$OCB"
    sed "s|OUTPUT_PATH|$cache/$otelcol_key/build|" tests/clients/otelcol/builder-config.yaml >"$cache/$otelcol_key/builder-config.yaml"
    GOFLAGS=-mod=mod nice -n 10 "$cache/$otelcol_key/bin/builder" --config "$cache/$otelcol_key/builder-config.yaml"
    touch "$cache/$otelcol_key/.complete"
    echo "clients deps: collector in $(( $(date +%s) - t )) s"
  fi
  echo "clients deps: ready in $(( $(date +%s) - t0 )) s ($cache)"
}
main "$@"; exit $?
