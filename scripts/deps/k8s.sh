#!/usr/bin/env bash
# Builds the throwaway Kubernetes control plane used by the tests (tests/k8s/):
# kube-apiserver, kube-controller-manager and kube-scheduler from the pinned
# Kubernetes release (module tests/k8s/build), and kwok, all through the Go module
# proxy. etcd is Debian's etcd-server (scripts/deps/k8s.apt). Binaries are cached under ${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/k8s;
# a second run with the same pins is a no-op. A Go toolchain new enough for the
# release is taken from the PATH, or else fetched once from the Go module proxy
# (module golang.org/toolchain) into the cache.
set -euo pipefail
# Everything runs inside main() and the file ends on the line that calls it, so editing the
# script while it runs (a long build) cannot change what it does.
main() {
  cd "$(dirname "$0")/../.."
  . tests/k8s/versions.env
  GO_TOOLCHAIN=go1.24.6
  cache=${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/k8s
  bindir=$cache/$K8S_VERSION-kwok-$KWOK_VERSION/bin
  want=(kube-apiserver kube-controller-manager kube-scheduler kwok)

  have_all() {
    local b
    for b in "${want[@]}"; do [ -x "$bindir/$b" ] || return 1; done
  }
  if have_all; then
    echo "k8s deps: cached in $bindir"
    return 0
  fi

  go_ok() { # go >= 1.24 is needed by the release's go.mod
    local v
    v=$("$1" env GOVERSION 2>/dev/null) || return 1
    v=${v#go}
    local major=${v%%.*} rest=${v#*.}
    local minor=${rest%%.*}
    [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "${minor%%[!0-9]*}" -ge 24 ]; }
  }
  GO=$(command -v go || true)
  if [ -z "$GO" ] || ! go_ok "$GO"; then
    tc=$cache/toolchain/$GO_TOOLCHAIN
    if [ ! -x "$tc/bin/go" ]; then
      echo "k8s deps: fetching Go $GO_TOOLCHAIN from the module proxy"
      mkdir -p "$cache/toolchain"
      tmp=$(mktemp -d)
      curl -fsSL -o "$tmp/tc.zip" \
        "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip"
      python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$tmp/tc.zip" "$tmp/x"
      rm -rf "$tc"
      mv "$tmp/x/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" "$tc"
      chmod -R u+rwX,go+rX "$tc" && chmod +x "$tc"/bin/* "$tc"/pkg/tool/*/*
      rm -rf "$tmp"
    fi
    GO=$tc/bin/go
  fi
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

  start=$(date +%s)
  mkdir -p "$bindir.tmp"
  ver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ver="$ver -X k8s.io/component-base/version.gitMajor=1"
  ver="$ver -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  ver="$ver -X k8s.io/component-base/version.gitTreeState=clean"
  ver="$ver -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  echo "k8s deps: building Kubernetes $K8S_VERSION control plane (slow on a fresh machine)"
  (cd tests/k8s/build &&
    nice -n 10 "$GO" build -trimpath -ldflags "-s -w $ver" -o "$bindir.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler)
  echo "k8s deps: building kwok $KWOK_VERSION"
  GOBIN=$bindir.tmp nice -n 10 "$GO" install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$bindir"
  mv "$bindir.tmp" "$bindir"
  echo "k8s deps: built ${want[*]} in $(($(date +%s) - start))s into $bindir"
}
main "$@"; exit $?
