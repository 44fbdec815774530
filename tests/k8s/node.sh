#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the node suite (tests/node/):
# the control plane of control-plane.sh (etcd, kube-apiserver, controller-manager, scheduler; no kwok)
# plus a node: containerd + runc + the CNI bridge (Debian's), kubelet and kube-proxy (built from the
# control plane's own k8s.io/kubernetes module) and CoreDNS serving cluster.local.
#
#   node.sh start DIR            start everything, wait until the node is Ready and DNS answers;
#                                print DIR/admin.kubeconfig
#   node.sh stop DIR             stop every process started for DIR, remove the pods' containers,
#                                mounts, network and iptables rules (idempotent)
#   node.sh status DIR           exit 0 when the API server answers and the node is Ready
#   node.sh import DIR ARCHIVE   import a docker-archive into the node's containerd (k8s.io namespace)
#   node.sh images DIR           the node's images as JSON: [{"id", "repoTags", "size"}] (id: config digest)
#   node.sh restart-kubelet DIR  stop the kubelet (SIGTERM) and start it again with the same settings
#   node.sh ctr DIR ARGS...      run ctr against the node's containerd
#   node.sh bindir               print the directory holding kubelet, kube-proxy, kubectl, coredns
#
# Runs as root (containers, network namespaces, mounts, iptables). One node per machine: the kubelet
# writes the pods' logs to the fixed /var/log/pods and /var/log/containers (what the shipper DaemonSet
# mounts, as on any node), so `start` takes a machine-wide lock and clears those directories and the
# shipper's /var/lib/otel-shipper of a previous run. The runtime's state is in /run/otel-node
# (containerd's state and socket, runc's) and /var/lib/otel-node (containerd's images and snapshots, the
# kubelet's root with the pods' volumes, CNI leases), also cleared at start and stop. Everything else
# lives under DIR: the control plane, certificates, configuration, logs.
#
# Network: pods get 10.244.0.0/24 on the bridge otelnode0 (gateway 10.244.0.1, hairpin on, no
# masquerade); Services 10.96.0.0/16 (control-plane.sh's range) through kube-proxy's iptables rules. A FORWARD rule drops
# whatever a pod sends to anything but the bridge: pods reach each other and the node, never the
# outside. CoreDNS runs on the node, listening on the bridge's gateway address, which the kubelet gives
# pods as their name server (clusterDNS), with the kubernetes plugin only (no forwarding).
#
# Images: no registry is reachable. Every image the node runs is an archive imported here, including
# the pause image (a static pause program built by tests/node/pack-images.py; containerd's
# sandbox_image names it). The kubelet's log rotation is set small (containerLogMaxSize 1Mi,
# containerLogMaxFiles 3), as the rotation tests need.
#
# Exit 77 (skipped) when a binary is missing; the node suite turns that into a failure when CI=true.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
# shellcheck source=tests/k8s/lib.sh
. "$here/lib.sh"

NODE_NAME=otel-node
BRIDGE=otelnode0
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1
PAUSE_IMAGE=docker.io/otel-node/pause:1
LOCK=/run/otel-node.lock
# The runtime's own places: unix socket paths must stay short (the kubelet's pod-resources socket below
# its root directory cannot live under a deep test directory), and one node per machine owns them.
RUN=/run/otel-node
LIB=/var/lib/otel-node

die() {
  echo "node: $*" >&2
  exit 1
}

bindir() {
  if [ -n "${OTEL_NODE_BIN:-}" ]; then
    echo "$OTEL_NODE_BIN"
  else
    # Keyed by the pinned versions and a digest of what selects the code built (the helper modules'
    # go.sum files and CoreDNS's plugin list), so that any change builds anew.
    local v h
    v=$(sed -n 's/^require github.com\/coredns\/coredns \(v[0-9.]*\)$/\1/p' "$here/../node/coredns/go.mod")
    h=$(cat "$here/build/go.sum" "$here/build/tools.go" "$here/../node/coredns/go.sum" "$here/../node/coredns/main.go" | sha256sum | cut -c1-12)
    echo "${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/node/$K8S_VERSION-coredns-$v-$h/bin"
  fi
}


# The machine's address on its default route: the node's InternalIP (the API server reaches the
# kubelet there for logs, exec and port-forward; 127.0.0.1 would not do).
node_ip() {
  local dev
  dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
  [ -n "$dev" ] || die "no default route: cannot pick the node's address"
  ip -4 -o addr show dev "$dev" scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

wait_for() { # seconds what command...
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "node: $what not ready after ${limit}s; last log lines:" >&2
      local f
      for f in "$dir"/log/*.log; do
        echo "== $f" >&2
        tail -n 15 "$f" >&2 || true
      done
      return 1
    fi
    check_alive
    sleep 0.5
  done
}

check_alive() {
  local name
  for name in containerd kubelet kube-proxy coredns; do
    local f=$dir/run/$name.pid
    [ -e "$f" ] || continue
    if ! kill -0 "$(cat "$f")" 2>/dev/null; then
      echo "node: $name exited; its log:" >&2
      tail -n 40 "$dir/log/$name.log" >&2 || true
      return 1
    fi
  done
}

launch() { # name binary args...
  local name=$1
  shift
  # setsid: a test's process group signals (Ctrl-C) do not reach the node's daemons.
  setsid "$@" >>"$dir/log/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
}

stop_pid() { # name [signal]
  local f=$dir/run/$1.pid pid
  [ -e "$f" ] || return 0
  pid=$(cat "$f")
  kill -"${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

kubectl_() {
  "$(bindir)/kubectl" --kubeconfig "$dir/admin.kubeconfig" "$@"
}

ctr_() {
  ctr --address "$RUN/containerd.sock" --namespace k8s.io "$@"
}



write_configs() {
  local ip=$1
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/kubelet" "$dir/coredns"
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$LIB/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$RUN/containerd.sock"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$LIB/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Writing oom_score_adj below the runtime's own is refused on this kind of machine; without this
  # runc dies with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
EOF
  cat >"$dir/cni/net.d/10-otel-node.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "otel-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$LIB/cni"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # Pods' resolv.conf gets the cluster's search path and name server; none of the machine's.
  : >"$dir/kubelet/resolv.conf"
  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $(cat "$dir/kubelet-port")
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(cat "$dir/kubelet-healthz-port")
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: $dir/pki/ca.crt
authorization:
  mode: AlwaysAllow
tlsCertFile: $dir/pki/kubelet-serving.crt
tlsPrivateKeyFile: $dir/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$RUN/containerd.sock
imageServiceEndpoint: unix://$RUN/containerd.sock
# cgroup v1 and no systemd as PID 1 here: the cgroupfs driver. Pods get their own cgroups
# (kubepods/<qos>/pod<uid>/<container>), which the shipper's resource sampler reads.
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
clusterDNS: [$GATEWAY]
clusterDomain: cluster.local
resolvConf: $dir/kubelet/resolv.conf
containerLogMaxSize: 1Mi
containerLogMaxFiles: 3
containerLogMonitorInterval: 3s
volumePluginDir: $LIB/kubelet-plugins
serializeImagePulls: false
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
staticPodPath: ""
EOF
  cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $dir/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
# Lowering its own OOM score is refused on this kind of machine.
oomScoreAdj: 0
# Leave the machine's conntrack table sizes alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  syncPeriod: 5s
  minSyncPeriod: 0s
EOF
  cat >"$dir/coredns/Corefile" <<EOF
.:53 {
    bind $GATEWAY
    errors
    health 127.0.0.1:$(cat "$dir/coredns-health-port")
    ready 127.0.0.1:$(cat "$dir/coredns-ready-port")
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $dir/coredns.kubeconfig otel-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loadbalance
}
EOF
}

# The bridge exists before the first pod, with the gateway address, so that CoreDNS can bind it;
# the CNI bridge plugin takes it over as it is.
setup_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # A Service address kube-proxy has no rule for (yet) stays on the node instead of taking the default
  # route out of the machine.
  ip route replace 10.96.0.0/16 dev "$BRIDGE"
  # Pod → Service → pod on the same bridge: the DNATed packet must pass the node's iptables, and the
  # node must route between its pods.
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  echo 1 >/proc/sys/net/ipv4/ip_forward
  # ... but never beyond the node: whatever a pod sends elsewhere is dropped.
  if ! iptables -C FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment otel-node-isolation -j DROP 2>/dev/null; then
    iptables -I FORWARD 1 -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment otel-node-isolation -j DROP
  fi
}

teardown_network() {
  while iptables -D FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment otel-node-isolation -j DROP 2>/dev/null; do :; done
  # kube-proxy's chains (it removes them itself with --cleanup), then what the kubelet added
  # (KUBE-FIREWALL, its canaries): every KUBE-* chain and every jump to one. This node is the only one
  # on the machine (the lock), so they are all its own.
  if [ -x "$(bindir)/kube-proxy" ]; then
    "$(bindir)/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  local t rule c
  for t in filter nat mangle; do
    { iptables -t "$t" -S 2>/dev/null || true; } | { grep -E '^-A [A-Z]+ .*-j KUBE-' || true; } | sed 's/^-A/-D/' |
      while read -r rule; do
        eval "iptables -t $t $rule" 2>/dev/null || true
      done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
      iptables -t "$t" -F "$c" 2>/dev/null || true
    done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
      iptables -t "$t" -X "$c" 2>/dev/null || true
    done
  done
  # The bridge plugin's per-pod veths go with their network namespaces; the bridge stays otherwise.
  ip link del "$BRIDGE" 2>/dev/null || true
}

node_ready() {
  kubectl_ get node "$NODE_NAME" -o jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status}{end}' | grep -qx True &&
    [ -z "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.spec.taints}')" ]
}

dns_answers() {
  python3 - "$GATEWAY" <<'EOF'
import socket, struct, sys
# A query for kubernetes.default.svc.cluster.local (A); any answer with NOERROR will do.
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
for part in "kubernetes.default.svc.cluster.local".split("."):
    q += bytes([len(part)]) + part.encode()
q += b"\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(q, (sys.argv[1], 53))
r = s.recv(512)
sys.exit(0 if r[:2] == b"\x12\x34" and (r[3] & 0x0f) == 0 and struct.unpack(">H", r[6:8])[0] > 0 else 1)
EOF
}

cmd_start() {
  local bin b
  bin=$(bindir)
  [ "$(id -u)" = 0 ] || {
    echo "node: must run as root (containers, network, iptables)" >&2
    exit 77
  }
  for b in kubelet kube-proxy kubectl coredns; do
    if [ ! -x "$bin/$b" ]; then
      echo "node: $bin/$b is missing; build it with scripts/deps/node.sh" >&2
      exit 77
    fi
  done
  for b in containerd containerd-shim-runc-v2 runc ctr iptables; do
    if ! command -v "$b" >/dev/null; then
      echo "node: $b is missing; install scripts/deps/node.apt" >&2
      exit 77
    fi
  done
  [ -x /usr/lib/cni/bridge ] || {
    echo "node: /usr/lib/cni/bridge is missing; install containernetworking-plugins" >&2
    exit 77
  }
  if [ -e "$dir/run" ] && ls "$dir"/run/*.pid >/dev/null 2>&1; then
    die "$dir already holds a node (stop it first)"
  fi
  mkdir -p "$dir/log" "$dir/run"
  # One node per machine; the lock is held by the node's containerd (inherited fd), so it is free
  # again once that process is gone, however it ended.
  exec 9>"$LOCK"
  if ! flock -n 9; then
    # Another checkout's tests own the node: wait for it (NODE_LOCK_WAIT seconds) rather than fail.
    echo "node: another node runs on this machine (lock $LOCK held by pid $(fuser "$LOCK" 2>/dev/null | xargs)); waiting up to ${NODE_LOCK_WAIT:-1200} s" >&2
    flock -w "${NODE_LOCK_WAIT:-1200}" 9 || die "another node still runs on this machine after ${NODE_LOCK_WAIT:-1200} s (lock $LOCK)"
  fi
  echo "$dir" >"$LOCK"
  local t0=$SECONDS

  # The control plane, without kwok: this node's kubelet is the only one.
  OTEL_K8S_KWOK=0 "$here/control-plane.sh" start "$dir" >/dev/null

  local ip
  ip=$(node_ip)
  [ -n "$ip" ] || die "cannot find the machine's address"
  echo "$ip" >"$dir/node-ip"
  free_port >"$dir/kubelet-port"
  free_port >"$dir/kubelet-healthz-port"
  free_port >"$dir/coredns-health-port"
  free_port >"$dir/coredns-ready-port"

  gen_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  gen_cert kubelet-serving "/CN=$NODE_NAME" "extendedKeyUsage=serverAuth;subjectAltName=IP:$ip,DNS:$NODE_NAME"
  gen_cert kube-proxy /CN=system:kube-proxy
  gen_cert coredns "/O=system:masters/CN=otel-node-coredns"
  write_kubeconfig "$dir/kubelet.kubeconfig" kubelet
  write_kubeconfig "$dir/kube-proxy.kubeconfig" kube-proxy
  write_kubeconfig "$dir/coredns.kubeconfig" coredns
  write_configs "$ip"

  # What a previous node on this machine left in the fixed paths.
  unmount_below
  rm -rf --one-file-system /var/log/pods /var/log/containers /var/lib/otel-shipper "$RUN" "$LIB"
  mkdir -p /var/log/pods /var/log/containers "$RUN" "$LIB"
  setup_network

  launch containerd containerd --config "$dir/containerd/config.toml" --log-level warn
  wait_for 30 containerd ctr --address "$RUN/containerd.sock" version
  # The pause image comes with the node: pods cannot start without it.
  if [ -n "${OTEL_NODE_PAUSE_ARCHIVE:-}" ]; then
    ctr_ images import --no-unpack=false "$OTEL_NODE_PAUSE_ARCHIVE" >/dev/null
  fi

  launch kube-proxy "$bin/kube-proxy" --config "$dir/kube-proxy.yaml" --v=1
  launch coredns "$bin/coredns" -conf "$dir/coredns/Corefile"
  start_kubelet "$ip"
  wait_for 90 "the node $NODE_NAME" node_ready
  wait_for 60 "cluster DNS" dns_answers
  wait_for 60 "the default ServiceAccount" kubectl_ get serviceaccount default -n default
  echo "node: $NODE_NAME ($ip) ready in $((SECONDS - t0))s (state in $dir)" >&2
  echo "$dir/admin.kubeconfig"
}

start_kubelet() {
  local ip=${1:-$(cat "$dir/node-ip")}
  launch kubelet "$(bindir)/kubelet" \
    --config="$dir/kubelet/config.yaml" \
    --kubeconfig="$dir/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" \
    --node-ip="$ip" \
    --root-dir="$LIB/kubelet" \
    --cert-dir="$dir/pki" \
    --node-labels=otel.appliance/test-node=true \
    --v=1
}

cmd_restart_kubelet() {
  stop_pid kubelet TERM
  start_kubelet
  wait_for 60 "the kubelet's health" curl -sf --max-time 2 "http://127.0.0.1:$(cat "$dir/kubelet-healthz-port")/healthz"
}

# Mounts below DIR and the runtime's directories (container root filesystems, volumes — hostPath bind
# mounts among them —, the sandboxes' /dev/shm and network namespaces): unmounted before anything there
# is removed, so that removing cannot reach through a mount into the machine's own files.
unmount_below() {
  awk -v d="$dir/" -v r="$RUN/" -v l="$LIB/" 'index($2, d) == 1 || index($2, r) == 1 || index($2, l) == 1 {print $2}' \
    /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

cmd_stop() {
  [ -d "$dir/run" ] || return 0
  # Best effort from here on: a step that fails must not keep the later ones from running.
  set +e
  # The kubelet first, so that it does not restart what is removed below.
  stop_pid kubelet
  if [ -e "$dir/run/containerd.pid" ] && kill -0 "$(cat "$dir/run/containerd.pid")" 2>/dev/null; then
    # Every pod sandbox and container, through containerd: stops their processes, unmounts their
    # root filesystems and lets the CNI plugin release their addresses.
    local c t
    for t in $(ctr_ tasks ls -q 2>/dev/null); do
      ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
    sleep 0.5
    for c in $(ctr_ containers ls -q 2>/dev/null); do
      ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr_ containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop_pid kube-proxy
  stop_pid coredns
  stop_pid containerd
  # Shims outlive containerd; end those of this node (their command line names its state dir).
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN/containerd.sock" || true); do
    kill -KILL "$p" 2>/dev/null || true
  done
  unmount_below
  if [ "$(cat "$LOCK" 2>/dev/null)" = "$dir" ]; then
    rm -rf --one-file-system "$RUN" "$LIB"
  fi
  teardown_network
  OTEL_K8S_KWOK=0 "$here/control-plane.sh" stop "$dir"
}

cmd_images() {
  # The CRI's view of the images: ID = the config blob's digest (what `crictl images` and minikube's
  # `image ls` call the image ID), tags as containerd stores them (docker.io/ normalized).
  python3 - "$RUN/containerd.sock" <<'EOF'
import json, subprocess, sys
sock = sys.argv[1]
def ctr(*a):
    return subprocess.run(["ctr", "--address", sock, "--namespace", "k8s.io", *a], check=True, capture_output=True, text=True).stdout
images = {}
for line in ctr("images", "ls").splitlines()[1:]:
    f = line.split()
    if len(f) < 3 or f[0].startswith("sha256:"):
        continue
    ref, digest = f[0], f[2]
    m = json.loads(ctr("content", "get", digest))
    if "manifests" in m:  # an index: the linux/amd64 manifest
        m = next((x for x in m["manifests"] if x.get("platform", {}).get("architecture") == "amd64"), m["manifests"][0])
        m = json.loads(ctr("content", "get", m["digest"]))
    cid = m["config"]["digest"]
    size = m["config"].get("size", 0) + sum(l.get("size", 0) for l in m.get("layers", []))
    i = images.setdefault(cid, {"id": cid, "repoTags": [], "size": size})
    i["repoTags"].append(ref)
print(json.dumps(sorted(images.values(), key=lambda i: i["id"])))
EOF
}

case "${1:-}" in
bindir)
  bindir
  ;;
start | stop | status | images | restart-kubelet)
  [ $# -eq 2 ] || die "usage: $0 $1 DIR"
  mkdir -p "$2"
  dir=$(cd "$2" && pwd)
  case $1 in
  start)
    trap 'cmd_stop' ERR
    cmd_start
    trap - ERR
    ;;
  stop) cmd_stop ;;
  status)
    OTEL_K8S_KWOK=0 "$here/control-plane.sh" status "$dir" && node_ready
    ;;
  images) cmd_images ;;
  restart-kubelet) cmd_restart_kubelet ;;
  esac
  ;;
import)
  [ $# -eq 3 ] || die "usage: $0 import DIR ARCHIVE"
  dir=$(cd "$2" && pwd)
  # ctr reads plain tar only; a compressed archive is unpacked on the way.
  case $(head -c 4 "$3" | od -An -tx1 | tr -d ' \n') in
  1f8b*) gzip -dc "$3" | ctr_ images import - >/dev/null ;;
  28b52ffd) zstd -dc "$3" | ctr_ images import - >/dev/null ;;
  *) ctr_ images import "$3" >/dev/null ;;
  esac
  ;;
ctr)
  [ $# -ge 2 ] || die "usage: $0 ctr DIR ARGS..."
  dir=$(cd "$2" && pwd)
  shift 2
  ctr_ "$@"
  ;;
*)
  die "usage: $0 start|stop|status|images|restart-kubelet DIR | import DIR ARCHIVE | ctr DIR ARGS... | bindir"
  ;;
esac
