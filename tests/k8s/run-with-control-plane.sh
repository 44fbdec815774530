#!/usr/bin/env bash
# Runs a command against a fresh throwaway control plane (control-plane.sh) and tears it down afterwards:
#   run-with-control-plane.sh COMMAND [ARGS...]
# The command gets KUBECONFIG (admin client certificate) and OTEL_K8S_STATE (the state directory, with
# pki/ and log/). Exits 77 (skipped) when the control-plane binaries are not built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/otel-k8s.XXXXXX")
cleanup() {
  "$here/control-plane.sh" stop "$state" || true
  if [ "${OTEL_K8S_KEEP_STATE:-0}" = 1 ]; then
    echo "run-with-control-plane: state kept in $state" >&2
  else
    rm -rf "$state"
  fi
}
trap cleanup EXIT
rc=0
kubeconfig=$("$here/control-plane.sh" start "$state") || rc=$?
if [ $rc -ne 0 ]; then
  exit $rc
fi
rc=0
KUBECONFIG=$kubeconfig OTEL_K8S_STATE=$state "$@" || rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
  echo "run-with-control-plane: '$*' failed ($rc); last control-plane log lines:" >&2
  for f in "$state"/log/*.log; do
    echo "== $f" >&2
    grep -E '^(E|F)[0-9]{4}|"level":"ERROR"|level=error' "$f" | tail -n 5 >&2 || true
  done
fi
exit $rc
