#!/usr/bin/env bash
# Builds the node side of the test cluster (tests/k8s/node.sh, the `node` suite): kubelet, kube-proxy
# and kubectl from the same pinned k8s.io/kubernetes module as the control plane (tests/k8s/build), and
# CoreDNS from its own helper module (tests/node/coredns), all through the Go module proxy. containerd,
# runc and the CNI plugins are Debian's (scripts/deps/node.apt). Binaries are cached under
# ${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/node/<kubernetes>-coredns-<coredns>-<digest>/bin with a
# .complete marker (the digest covers the helper modules' go.sum files and CoreDNS's plugin list); a
# second run with the same pins is a no-op. The Go toolchain is a go >= 1.24 on the PATH or the one
# scripts/deps/k8s.sh fetched (it runs first, in name order).
set -euo pipefail
# Everything runs inside main() and the file ends on the line that calls it, so editing the
# script while it runs (a long build) cannot change what it does.
main() {
  cd "$(dirname "$0")/../.."
  . tests/k8s/versions.env
  local cache=${OTEL_CACHE_DIR:-/var/cache/otel-appliance}
  # The cache directory, keyed by the pins (tests/k8s/node.sh bindir: the versions and a digest of the
  # helper modules).
  local dir
  dir=$(OTEL_NODE_BIN='' tests/k8s/node.sh bindir)
  dir=${dir%/bin}
  if [ -f "$dir/.complete" ]; then
    echo "node deps: cached in $dir/bin"
    return 0
  fi

  # The Go toolchain: a go >= 1.24 on the PATH, else the one scripts/deps/k8s.sh fetched.
  local GO
  GO=$(command -v go || true)
  if [ -z "$GO" ] || ! go_ok "$GO"; then
    GO=$(find "$cache/k8s/toolchain" -path '*/bin/go' 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$GO" ] || ! go_ok "$GO"; then
      echo "node deps: no Go >= 1.24 (scripts/deps/k8s.sh fetches one into $cache/k8s/toolchain)" >&2
      return 1
    fi
  fi
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  local ver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ver="$ver -X k8s.io/component-base/version.gitMajor=1"
  ver="$ver -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  ver="$ver -X k8s.io/component-base/version.gitTreeState=clean"
  ver="$ver -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  local t0=$SECONDS t
  echo "node deps: building kubelet, kube-proxy and kubectl $K8S_VERSION with $("$GO" env GOVERSION)"
  (cd tests/k8s/build &&
    nice -n 10 "$GO" build -trimpath -ldflags "-s -w $ver" -o "$dir/bin/" \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-proxy \
      k8s.io/kubernetes/cmd/kubectl)
  echo "node deps: Kubernetes node binaries built in $((SECONDS - t0)) s"
  t=$SECONDS
  echo "node deps: building CoreDNS $(sed -n 's/^require github.com\/coredns\/coredns //p' tests/node/coredns/go.mod)"
  (cd tests/node/coredns &&
    nice -n 10 "$GO" build -trimpath -ldflags "-s -w" -o "$dir/bin/coredns" .)
  echo "node deps: CoreDNS built in $((SECONDS - t)) s"
  touch "$dir/.complete"
  echo "node deps: built kubelet kube-proxy kubectl coredns in $((SECONDS - t0)) s into $dir/bin"
}

go_ok() { # go >= 1.24 is needed by the modules' go.mod
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "${minor%%[!0-9]*}" -ge 24 ]; }
}
main "$@"
exit $?
