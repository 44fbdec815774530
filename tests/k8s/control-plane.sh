#!/usr/bin/env bash
# A throwaway, real Kubernetes control plane on 127.0.0.1 for tests:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok (fake
# nodes that run pods and report them ready). Everything lives under one state
# directory: certificates, kubeconfigs, etcd data, logs and pid files.
#
#   control-plane.sh start DIR   start, wait until ready, print DIR/admin.kubeconfig
#   control-plane.sh stop DIR    stop every process started for DIR (idempotent)
#   control-plane.sh status DIR  exit 0 when the API server answers /readyz
#   control-plane.sh bindir      print the directory holding the binaries
#
# OTEL_K8S_KWOK=0 leaves kwok and its fake node out: tests/k8s/node.sh starts the control plane
# that way and adds a real kubelet.
#
# Ports are picked at random among the free ones. Binaries come from
# $OTEL_K8S_BIN, or the cache scripts/deps/k8s.sh fills; etcd from $OTEL_K8S_ETCD,
# or the PATH (Debian's etcd-server). Exit 77 (the "skipped" code of meson and
# automake) when a binary is missing.
#
# Eight 100Gi PersistentVolumes of the default StorageClass "standard" (as on
# minikube) wait for claims. The fake node is named "kwok-node-0" and carries the label type=kwok. kwok's
# default stages make a scheduled pod Running and Ready once; after that a test
# may overwrite the pod's status through the API (e.g. a CrashLoopBackOff).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
# shellcheck source=tests/k8s/lib.sh
. "$here/lib.sh"

die() {
  echo "control-plane: $*" >&2
  exit 1
}

bindir() {
  if [ -n "${OTEL_K8S_BIN:-}" ]; then
    echo "$OTEL_K8S_BIN"
  else
    echo "${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/k8s/$K8S_VERSION-kwok-$KWOK_VERSION/bin"
  fi
}


# Waits until "$@" succeeds, polling every 0.25 s for at most $1 seconds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "control-plane: $what not ready after ${limit}s; last log lines:" >&2
      tail -n 20 "$dir"/log/*.log >&2 || true
      return 1
    fi
    check_alive
    sleep 0.25
  done
}

check_alive() {
  local f
  for f in "$dir"/run/*.pid; do
    [ -e "$f" ] || continue
    if ! kill -0 "$(cat "$f")" 2>/dev/null; then
      local name
      name=$(basename "$f" .pid)
      echo "control-plane: $name exited; its log:" >&2
      tail -n 40 "$dir/log/$name.log" >&2 || true
      return 1
    fi
  done
}

launch() { # name binary args...
  local name=$1
  shift
  "$@" >"$dir/log/$name.log" 2>&1 &
  echo $! >"$dir/run/$name.pid"
}



api() { # method path [body]
  local args=(-sS --fail --max-time 10 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt"
    --key "$dir/pki/admin.key" -X "$1" "https://127.0.0.1:$api_port$2")
  if [ $# -ge 3 ]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$3")
  fi
  curl "${args[@]}"
}

# Creates an object; one that exists already (a restart on the same state directory) is fine.
create() { # path body
  local code
  code=$(curl -sS --max-time 10 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
    --key "$dir/pki/admin.key" -o "$dir/log/create.out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data-binary "$2" "https://127.0.0.1:$api_port$1")
  if [ "$code" != 201 ] && [ "$code" != 409 ]; then
    echo "control-plane: POST $1 answered $code: $(cat "$dir/log/create.out")" >&2
    return 1
  fi
}

node_ready() {
  api GET /api/v1/nodes/kwok-node-0 | python3 -c '
import json, sys
n = json.load(sys.stdin)
ok = any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
# The node lifecycle controller lifts the not-ready taint once it sees the node Ready.
ok = ok and not n.get("spec", {}).get("taints")
sys.exit(0 if ok else 1)'
}

cmd_start() {
  local bin
  bin=$(bindir)
  local b etcd want=(kube-apiserver kube-controller-manager kube-scheduler)
  if [ "$kwok" = 1 ]; then
    want+=(kwok)
  fi
  for b in "${want[@]}"; do
    if [ ! -x "$bin/$b" ]; then
      echo "control-plane: $bin/$b is missing; build it with scripts/deps/k8s.sh" >&2
      exit 77
    fi
  done
  etcd=${OTEL_K8S_ETCD:-$(command -v etcd || true)}
  if [ -z "$etcd" ] || [ ! -x "$etcd" ]; then
    echo "control-plane: no etcd (install Debian's etcd-server, or set OTEL_K8S_ETCD)" >&2
    exit 77
  fi
  if [ -e "$dir/run" ] && ls "$dir"/run/*.pid >/dev/null 2>&1; then
    die "$dir already holds a control plane (stop it first)"
  fi
  mkdir -p "$dir/pki" "$dir/log" "$dir/run" "$dir/etcd"
  chmod 700 "$dir/pki" "$dir/etcd"
  local t0=$SECONDS

  # Certificates: one CA, the API server's serving certificate, a client
  # certificate per component, and the service-account signing key.
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/pki/ca.key" -out "$dir/pki/ca.crt" -days 7 -subj /CN=otel-test-ca 2>/dev/null
  gen_cert apiserver /CN=kube-apiserver \
    "extendedKeyUsage=serverAuth;subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  gen_cert admin "/O=system:masters/CN=otel-test-admin"
  # The controller-manager runs every controller under one identity here (no
  # --use-service-account-credentials), so it needs more than its default role.
  gen_cert kube-controller-manager "/O=system:masters/CN=system:kube-controller-manager"
  gen_cert kube-scheduler /CN=system:kube-scheduler
  gen_cert kwok "/O=system:masters/CN=kwok"
  # The API server's identity towards kubelets (logs, exec, port-forward on a real node).
  gen_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/pki/sa.key" 2>/dev/null
  openssl ec -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null

  local etcd_port etcd_peer
  etcd_port=$(free_port)
  etcd_peer=$(free_port)
  api_port=$(free_port)
  echo "$api_port" >"$dir/api-port"
  write_kubeconfig "$dir/admin.kubeconfig" admin
  write_kubeconfig "$dir/kube-controller-manager.kubeconfig" kube-controller-manager
  write_kubeconfig "$dir/kube-scheduler.kubeconfig" kube-scheduler
  write_kubeconfig "$dir/kwok.kubeconfig" kwok

  launch etcd "$etcd" --name=otel-test --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="otel-test=http://127.0.0.1:$etcd_peer" --listen-metrics-urls= \
    --unsafe-no-fsync --log-level=warn
  wait_for 30 etcd curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"

  launch kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --cert-dir="$dir/pki" \
    --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" \
    --kubelet-client-certificate="$dir/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$dir/pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-key-file="$dir/pki/sa.pub" \
    --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC \
    --allow-privileged=true \
    --endpoint-reconciler-type=none \
    --v=1
  wait_for 90 kube-apiserver api GET /readyz

  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$dir/kube-controller-manager.kubeconfig" \
    --secure-port=0 --leader-elect=false \
    --service-account-private-key-file="$dir/pki/sa.key" \
    --root-ca-file="$dir/pki/ca.crt" \
    --use-service-account-credentials=false \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller' \
    --concurrent-deployment-syncs=5 --v=1
  launch kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$dir/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$dir/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$dir/kube-scheduler.kubeconfig" \
    --secure-port=0 --leader-elect=false --v=1
  if [ "$kwok" = 1 ]; then
    launch kwok "$bin/kwok" \
      --kubeconfig="$dir/kwok.kubeconfig" \
      --manage-all-nodes=false \
      --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --cidr=10.0.0.1/24 --node-ip=10.0.0.1 \
      --node-lease-duration-seconds=40 \
      --server-address=127.0.0.1:0

    create /api/v1/nodes '{
      "apiVersion": "v1", "kind": "Node",
      "metadata": {"name": "kwok-node-0",
        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "kubernetes.io/role": "agent"}},
      "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                 "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                 "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                              "kubeletVersion": "fake", "kubeProxyVersion": "fake"}}}' >/dev/null
  fi
  # Storage as minikube offers it: a default StorageClass "standard". Nothing provisions here, so a few
  # volumes of that class are made in advance; a claim without a class (it gets the default) or asking
  # for "standard" binds to one of them. Under kwok nothing mounts them; on the real node of node.sh
  # the kubelet does (containerd creates the directory).
  create /apis/storage.k8s.io/v1/storageclasses '{
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate",
    "reclaimPolicy": "Retain"}'
  local i
  for i in 0 1 2 3 4 5 6 7; do
    create /api/v1/persistentvolumes '{
      "apiVersion": "v1", "kind": "PersistentVolume",
      "metadata": {"name": "standard-pv-'$i'", "labels": {"type": "kwok"}},
      "spec": {"storageClassName": "standard", "capacity": {"storage": "100Gi"},
               "accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
               "persistentVolumeReclaimPolicy": "Retain",
               "hostPath": {"path": "'"$dir"'/volumes/'$i'"}}}'
  done
  if [ "$kwok" = 1 ]; then
    wait_for 60 "node readiness (kwok)" node_ready
  fi
  wait_for 60 "the default ServiceAccount (controller-manager)" api GET /api/v1/namespaces/default/serviceaccounts/default
  echo "control-plane: ready in $((SECONDS - t0))s at https://127.0.0.1:$api_port (state in $dir)" >&2
  echo "$dir/admin.kubeconfig"
}

cmd_stop() {
  [ -d "$dir/run" ] || return 0
  local name f pid
  # Reverse start order: the API server's clients first, etcd last.
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f=$dir/run/$name.pid
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

kwok=${OTEL_K8S_KWOK:-1}
case "${1:-}" in
bindir)
  bindir
  ;;
start | stop | status)
  [ $# -eq 2 ] || die "usage: $0 start|stop|status DIR"
  mkdir -p "$2"
  dir=$(cd "$2" && pwd)
  if [ "$1" = start ]; then
    trap 'cmd_stop' ERR
    cmd_start
    trap - ERR
  elif [ "$1" = stop ]; then
    cmd_stop
  else
    api_port=$(cat "$dir/api-port" 2>/dev/null) || exit 1
    api GET /readyz >/dev/null
  fi
  ;;
*)
  die "usage: $0 start DIR | stop DIR | status DIR | bindir"
  ;;
esac
