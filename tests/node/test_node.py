"""The appliance in cluster mode on a real Kubernetes node (tests/node/cluster.py says how it is set up).

One appliance for the whole module, started cold by the first test; the tests run in order, and every
chaos step ends with exactly-once proven twice: by ClickHouse (each loggen container's rows are 1..N, once
each, up to what the kubelet's log files hold) and by the supervisor's loss detector (0 lost, 0 duplicated).
No test writes a row: every row comes loggen pod → kubelet's log file → shipper pod → ClickHouse pod.
Figures (start time, rows per step, RSS, metric rows) are printed with the prefix [node].
"""
import json
import os
import re
import socket
import struct
import subprocess
import time

import pytest

from cluster import NAMESPACE, NODE_SH, NodeStack, kill9, log, missing_engines, otelctl, process_of, rss_kib, wait_until

BUILD_DIR = os.environ.get("BUILD_DIR", "")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    missing = missing_engines()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail("the node suite needs: " + "; ".join(missing))
        pytest.skip("the node suite needs: " + "; ".join(missing))
    s = NodeStack(tmp_path_factory.mktemp("node"))
    try:
        s.pack(BUILD_DIR)
        s.start()
        yield s
    finally:
        log("figures: " + json.dumps({"timings": s.timings, "steps": s.figures}))
        s.stop()


def test_cold_start_to_ready(stack):
    """start → images → apply → rollout (real pods, real probes) → ready, as systemd is told."""
    stack.wait_ready(600)
    stack.timings["cold start to ready"] = time.monotonic() - stack.t_start
    log(f"cold start to ready: {stack.timings['cold start to ready']:.1f}s")
    order = ["starting-cluster", "loading-images", "applying", "waiting-rollout", "ready"]
    seen = [next((i for i, s in enumerate(stack.sup.notify.statuses()) if s.startswith(p)), None) for p in order]
    assert None not in seen and seen == sorted(seen), stack.sup.notify.statuses()
    assert "READY=1" in stack.sup.notify.lines()

    st = stack.status()
    assert st["mode"] == "cluster" and st["cluster"]["apiserver"] == "Running"
    # Every image the supervisor loaded is what the node's containerd has, by ID.
    node_images = json.loads(subprocess.run([NODE_SH, "images", stack.node_dir], capture_output=True, text=True, check=True).stdout)
    on_node = {i["id"] for i in node_images}
    assert {i["id"] for i in st["images"]} <= on_node, (st["images"], node_images)
    for ref in ("otel/loggen:", "otel/shipper:", "otel/clickhouse-endpoint:"):
        assert any(any(ref in t for t in i["repoTags"]) for i in node_images), (ref, node_images)
    assert all(i["state"] == "loaded" for i in st["images"]), st["images"]

    # Real pods on the real node, each container running with the ID containerd gave it.
    pods = stack.kubectl.pods()
    names = {p["metadata"]["name"] for p in pods}
    for prefix in ("loggen-", "shipper-", "clickhouse-0"):
        assert any(n.startswith(prefix) for n in names), names
    for p in pods:
        assert p["spec"]["nodeName"] == "otel-node" and p["status"]["phase"] == "Running", p["status"]
        assert re.fullmatch(r"10\.244\.0\.\d+", p["status"]["podIP"]), p["status"]
        for cs in p["status"]["containerStatuses"]:
            assert cs["ready"] and cs["containerID"].startswith("containerd://"), cs
            assert process_of(cs["containerID"].split("://")[1]), f"no process of {cs['name']} on the node"
    # The status shows these pods, and otelctl prints them.
    assert {p["name"] for p in st["pods"]} == names, (st["pods"], names)
    assert all(w["rollout"] == "done" for w in st["workloads"]), st["workloads"]
    rc, out, _ = otelctl("--host", f"127.0.0.1:{stack.status_port}", "status")
    assert rc == 0, out
    for n in names:
        assert n in out, out


def test_rows_come_from_the_cluster(stack):
    """Every loggen row names a real loggen pod and container; the ticks are exactly once."""
    loggen = {cid: pod for cid, pod in stack.container_ids("loggen-", "loggen").items()}
    streams = stack.loggen_streams()
    assert streams, "no loggen rows"
    for s in streams:
        assert s["container"] in loggen and loggen[s["container"]] == s["pod"], (s, loggen)
    stack.exactly_once("cold start")


def test_cluster_dns_resolves_the_services_name(stack):
    """CoreDNS answers clickhouse.otel-demo.svc.cluster.local with the Service's address, the name the
    shipper's SHIPPER_CLICKHOUSE_URL uses (through the pods' search path)."""
    svc = stack.kubectl.json("-n", NAMESPACE, "get", "service", "clickhouse")
    answer = dns_query("10.244.0.1", "clickhouse.otel-demo.svc.cluster.local")
    assert answer == svc["spec"]["clusterIP"], (answer, svc["spec"]["clusterIP"])
    # The pods are told to ask it, with the namespace's search path (the sandboxes' resolv.conf).
    sandboxes = "/var/lib/otel-node/containerd/io.containerd.grpc.v1.cri/sandboxes"
    confs = [open(os.path.join(sandboxes, d, "resolv.conf")).read() for d in os.listdir(sandboxes) if os.path.exists(os.path.join(sandboxes, d, "resolv.conf"))]
    assert any("nameserver 10.244.0.1" in c and "search otel-demo.svc.cluster.local svc.cluster.local cluster.local" in c for c in confs), confs
    env = {e["name"]: e.get("value") for e in stack.kubectl.json("-n", NAMESPACE, "get", "daemonset", "shipper")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SHIPPER_CLICKHOUSE_URL"] == "http://clickhouse.otel-demo.svc:8123"


def test_every_container_of_the_namespace_is_shipped(stack):
    """The DaemonSet's default paths cover the namespace: ClickHouse's and the shipper's own logs are
    searchable too, each under its container's name."""
    def services():
        rows = stack.ch.try_query(
            "SELECT ServiceName AS s, groupUniqArray(ResourceAttributes['k8s.pod.name']) AS pods FROM otel_logs "
            "WHERE ResourceAttributes['k8s.namespace.name'] = 'otel-demo' GROUP BY s")
        got = {r["s"]: r["pods"] for r in rows or []}
        return got if {"loggen", "shipper", "clickhouse"} <= set(got) else None

    got = wait_until(services, 120, interval=2, what="rows of loggen, shipper and clickhouse")
    assert any(p.startswith("clickhouse-0") for p in got["clickhouse"]), got
    assert any(p.startswith("shipper-") for p in got["shipper"]), got


def test_loggen_at_a_steady_rate(stack):
    """From here on loggen writes 500 lines/s (an edit of its Deployment in the manifests the supervisor
    applies, as an operator would make it), so that every chaos step has rows in flight."""
    set_loggen_rate(stack, 500)
    stack.exactly_once("loggen at 500 lines/s")


def test_chaos_delete_the_shipper_pod(stack):
    """The DaemonSet recreates the pod; its checkpoints on the hostPath survive."""
    time.sleep(5)
    before = stack.kubectl.pods("app.kubernetes.io/name=shipper")[0]["metadata"]["name"]
    stack.kubectl("-n", NAMESPACE, "delete", "pod", before, "--wait=true", timeout=120)
    wait_until(lambda: any(p["metadata"]["name"] != before and p["status"].get("phase") == "Running" for p in stack.kubectl.pods("app.kubernetes.io/name=shipper")),
               120, interval=1, what="a new shipper pod")
    stack.exactly_once("delete the shipper pod")


def test_chaos_kill9_the_shipper_process(stack):
    """kill -9 of the shipper's process inside its container: the kubelet restarts the container."""
    time.sleep(5)
    pod = stack.kubectl.pods("app.kubernetes.io/name=shipper")[0]
    cs = pod["status"]["containerStatuses"][0]
    pid = process_of(cs["containerID"].split("://")[1])
    assert pid
    kill9(pid)
    wait_until(lambda: (lambda c: c["restartCount"] > cs["restartCount"] and c["ready"])(
        stack.kubectl.json("-n", NAMESPACE, "get", "pod", pod["metadata"]["name"])["status"]["containerStatuses"][0]),
        120, interval=1, what="the shipper container restarted")
    stack.exactly_once("kill -9 the shipper")


def set_loggen_rate(stack, rate):
    """Edits loggen's Deployment in the applied manifests, as an operator would: the supervisor applies
    it, and the Deployment rolls out a new pod writing `rate` lines per second."""
    path = stack.manifests / "loggen" / "deployment.yaml"
    text = path.read_text()
    if "- name: LOGGEN_RATE\n" in text:
        text = re.sub(r"(- name: LOGGEN_RATE\n\s+value: ).*", rf'\g<1>"{rate}"', text)
    else:
        text = text.replace("            - name: LOGGEN_HEALTH_PORT\n", f'            - name: LOGGEN_RATE\n              value: "{rate}"\n            - name: LOGGEN_HEALTH_PORT\n')
    if text == path.read_text():  # already at that rate
        return next(p for p in stack.kubectl.pods("app.kubernetes.io/name=loggen") if p["status"].get("phase") == "Running")
    old = {p["metadata"]["name"] for p in stack.kubectl.pods("app.kubernetes.io/name=loggen")}
    path.write_text(text)
    wait_until(lambda: any(p["metadata"]["name"] not in old and p["status"].get("phase") == "Running" for p in stack.kubectl.pods("app.kubernetes.io/name=loggen")),
               120, interval=1, what=f"loggen rolled out at {rate} lines/s")
    return next(p for p in stack.kubectl.pods("app.kubernetes.io/name=loggen") if p["metadata"]["name"] not in old)


def test_chaos_kubelet_rotation_at_a_high_rate(stack):
    """The kubelet's own rotation (containerLogMaxSize 1Mi, containerLogMaxFiles 3) with loggen at
    2000 lines/s: files rotate every second or two while the shipper reads them."""
    pod = set_loggen_rate(stack, 2000)
    logdir = f"/var/log/pods/{NAMESPACE}_{pod['metadata']['name']}_{pod['metadata']['uid']}/loggen"
    rotated = set()

    def rotations():
        for f in os.listdir(logdir):
            if re.fullmatch(r"0\.log\.\d{8}-\d{6}(\.gz)?", f):
                rotated.add(f.removesuffix(".gz"))
        return len(rotated) >= 6

    wait_until(rotations, 180, interval=0.5, what="six rotations by the kubelet")
    log(f"kubelet rotations seen: {len(rotated)}")
    stack.exactly_once("kubelet rotation at 2000 lines/s", timeout=240)
    set_loggen_rate(stack, 500)


def test_chaos_delete_the_clickhouse_pod(stack):
    """Its volume keeps the data; the shipper retries until the new pod answers."""
    time.sleep(5)
    before = int(stack.ch.query("SELECT count() AS n FROM otel_logs")[0]["n"])
    uid = stack.kubectl.json("-n", NAMESPACE, "get", "pod", "clickhouse-0")["metadata"]["uid"]
    stack.kubectl("-n", NAMESPACE, "delete", "pod", "clickhouse-0", "--wait=true", timeout=180)
    wait_until(lambda: (lambda p: p["metadata"]["uid"] != uid and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])))(
        stack.kubectl.json("-n", NAMESPACE, "get", "pod", "clickhouse-0")), 240, interval=1, what="a new ClickHouse pod ready")
    after = wait_until(lambda: (r := stack.ch.try_query("SELECT count() AS n FROM otel_logs")) and int(r[0]["n"]), 120, interval=1, what="ClickHouse through the port-forward")
    assert after >= before, f"rows went from {before} to {after}: the volume lost data"
    stack.exactly_once("delete the ClickHouse pod")
    stack.wait_ready(180)


def test_chaos_restart_the_kubelet(stack):
    """The containers keep running while the kubelet is away; the new kubelet adopts them."""
    ids = {p["metadata"]["name"]: [c["containerID"] for c in p["status"]["containerStatuses"]] for p in stack.kubectl.pods()}
    r = subprocess.run([NODE_SH, "restart-kubelet", stack.node_dir], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: all(any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])) for p in stack.kubectl.pods()),
               120, interval=1, what="pods ready after the kubelet restart")
    after = {p["metadata"]["name"]: [c["containerID"] for c in p["status"]["containerStatuses"]] for p in stack.kubectl.pods()}
    assert after == ids, f"containers changed across a kubelet restart: {ids} -> {after}"
    stack.exactly_once("restart the kubelet")


CRASHER = """# A container that exits with status 2 at once (an invalid setting): a real crash loop.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: crasher
  namespace: otel-demo
  labels: {app.kubernetes.io/name: crasher, app.kubernetes.io/part-of: otel-appliance}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: crasher}
  template:
    metadata:
      labels: {app.kubernetes.io/name: crasher}
    spec:
      containers:
        - name: crasher
          image: otel/loggen:0.1.0
          imagePullPolicy: Never
          env:
            - name: LOGGEN_SLEEP_DURATION
              value: bogus
"""


def test_chaos_a_crash_looping_pod_is_named_with_its_reason(stack):
    (stack.manifests / "crasher.yaml").write_text(CRASHER)
    st = stack.wait_state("degraded", 180, pred=lambda s: "CrashLoopBackOff" in (s["reason"] or ""), what="degraded by a crash loop")
    pod = next(p for p in st["pods"] if p["name"].startswith("crasher-"))
    assert f"pod {pod['name']}: CrashLoopBackOff" in st["reason"], st["reason"]
    assert pod.get("reason") == "CrashLoopBackOff" and pod["restarts"] >= 1, pod
    # The kubelet's own words: the back-off and the container that failed.
    assert "back-off" in (pod.get("message") or "") and "crasher" in (pod.get("message") or ""), pod
    rc, out, _ = otelctl("--socket", stack.sock, "status")
    assert rc == 1 and pod["name"] in out and "CrashLoopBackOff" in out, out
    # Its own line, shipped like every container's: the setting it rejected.
    wait_until(lambda: stack.ch.try_query("SELECT count() AS n FROM otel_logs WHERE ServiceName = 'crasher' AND Body LIKE '%LOGGEN_SLEEP_DURATION%'") not in (None, [{"n": "0"}], [{"n": 0}]),
               60, interval=2, what="the crashing container's error line in ClickHouse")
    os.unlink(stack.manifests / "crasher.yaml")
    stack.wait_ready(180)
    stack.exactly_once("crash loop")


def test_chaos_an_image_missing_on_the_node_is_named(stack):
    """loggen's image removed from the node's containerd and its pod replaced: the kubelet cannot start
    it (ErrImageNeverPull) and the status says so; a restarted supervisor loads only that image."""
    subprocess.run([NODE_SH, "ctr", stack.node_dir, "images", "rm", "docker.io/otel/loggen:0.1.0"], check=True, capture_output=True)
    pod = stack.kubectl.pods("app.kubernetes.io/name=loggen")[0]["metadata"]["name"]
    stack.kubectl("-n", NAMESPACE, "delete", "pod", pod, "--wait=true", timeout=120)
    st = stack.wait_state("degraded", 120, pred=lambda s: "ErrImageNeverPull" in (s["reason"] or ""), what="degraded by a missing image")
    bad = next(p for p in st["pods"] if p.get("reason") == "ErrImageNeverPull")
    assert bad["name"].startswith("loggen-") and f"pod {bad['name']}: ErrImageNeverPull" in st["reason"], st["reason"]
    assert "otel/loggen:0.1.0" in (bad.get("message") or ""), bad

    calls = (stack.home / "calls.log").read_text().count("image load")
    assert stack.sup.stop() == 0
    stack.start_supervisor()
    stack.wait_ready(300)
    loads = [l for l in (stack.home / "calls.log").read_text().splitlines() if "image load" in l][calls:]
    assert len(loads) == 1 and "loggen" in loads[0], f"expected only loggen's image loaded again, got {loads}"
    stack.exactly_once("missing image")


def test_chaos_combined_kill9_during_rotation_during_an_outage(stack):
    """Faults together: loggen at 500 lines/s (the kubelet rotates about every 10 s), ClickHouse's pod
    deleted, and the shipper killed with SIGKILL right after each of two rotations while ClickHouse is
    away. Its downtime stays well inside what the kubelet keeps on disk (3 files of 1 MiB, about 30 s
    at this rate), so every line is still there to be read: the shipper restarts on its checkpoints and
    must find every file that still has unshipped lines, renamed, compressed or never seen before."""
    pod = set_loggen_rate(stack, 500)
    logdir = f"/var/log/pods/{NAMESPACE}_{pod['metadata']['name']}_{pod['metadata']['uid']}/loggen"
    time.sleep(3)
    uid = stack.kubectl.json("-n", NAMESPACE, "get", "pod", "clickhouse-0")["metadata"]["uid"]
    stack.kubectl("-n", NAMESPACE, "delete", "pod", "clickhouse-0", "--wait=false")
    kills = 0
    for _ in range(2):
        seen = rotated_files(logdir)
        wait_until(lambda: rotated_files(logdir) - seen, 60, interval=0.2, what="a rotation by the kubelet")
        shipper = stack.kubectl.pods("app.kubernetes.io/name=shipper")[0]
        cs = shipper["status"]["containerStatuses"][0]
        pid = process_of(cs["containerID"].split("://")[1]) if cs.get("containerID") else None
        if pid:
            kill9(pid)
            kills += 1
    assert kills >= 1, "the shipper was not running to be killed"
    wait_until(lambda: (lambda p: p["metadata"]["uid"] != uid and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])))(
        stack.kubectl.json("-n", NAMESPACE, "get", "pod", "clickhouse-0")), 240, interval=1, what="a new ClickHouse pod ready")
    try:
        stack.exactly_once(f"kill -9 x{kills} right after rotations during a ClickHouse outage", timeout=240)
    finally:
        set_loggen_rate(stack, 500)


def rotated_files(logdir):
    return {f.removesuffix(".gz") for f in os.listdir(logdir) if re.fullmatch(r"\d+\.log\.\d{8}-\d{6}(\.gz)?", f)}


def test_resource_metrics_of_the_pods(stack):
    """The shipper's sampler reads the real pods' cgroups: rows per pod in metrics_raw and the rollups."""
    def per_pod():
        rows = stack.ch.try_query("SELECT vm_id, count() AS n, max(memory_used_bytes) AS mem, sum(cpu_used_us) AS cpu FROM metrics_raw WHERE customer_id = 'otel-demo' GROUP BY vm_id")
        got = {r["vm_id"]: r for r in rows or []}
        return got if all(any(v.startswith(p) for v in got) for p in ("loggen-", "shipper-", "clickhouse-0")) else None

    got = wait_until(per_pod, 180, interval=2, what="metrics_raw rows of loggen, shipper and clickhouse")
    names = {p["metadata"]["name"] for p in stack.kubectl.pods()}
    for vm, r in got.items():
        if vm in names:
            assert int(r["mem"]) > 0 and int(r["cpu"]) > 0, r
    rollup = {r["vm_id"]: r for r in stack.ch.query("SELECT vm_id, sum(sample_count) AS n FROM metrics_5min WHERE customer_id = 'otel-demo' GROUP BY vm_id")}
    for vm in got:
        assert vm in rollup and int(rollup[vm]["n"]) > 0, (vm, rollup)
    log("metric rows per pod: " + json.dumps({vm: int(r["n"]) for vm, r in got.items()}))


def test_figures(stack):
    """The pods' memory (RSS of their processes), for the record; and the supervisor stops cleanly."""
    rss = {}
    for p in stack.kubectl.pods():
        for cs in p["status"]["containerStatuses"]:
            pid = process_of(cs["containerID"].split("://")[1])
            if pid:
                rss[p["metadata"]["name"]] = rss_kib(pid)
    log("RSS KiB per pod: " + json.dumps(rss))
    assert rss
    assert stack.sup.stop() == 0


def dns_query(server, name):
    """One A query over UDP; the first address of the answer, or None."""
    q = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, (server, 53))
    r = s.recv(512)
    if r[:2] != b"\xab\xcd" or r[3] & 0x0F or struct.unpack(">H", r[6:8])[0] == 0:
        return None
    i = 12
    while r[i]:
        i += r[i] + 1
    i += 5
    # answers: name (pointer), type, class, ttl, rdlength, rdata
    while i < len(r):
        i += 2 if r[i] & 0xC0 else len(r[i:].split(b"\x00", 1)[0]) + 1
        typ, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
        i += 10
        if typ == 1:
            return socket.inet_ntoa(r[i:i + 4])
        i += rdlen
    return None
