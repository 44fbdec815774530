"""The node suite's harness: the appliance in cluster mode on a real single-node Kubernetes cluster.

otel-supervisor runs unchanged, with the configuration the VM uses, against the stand-in `minikube`
(tests/supervisor/minikube) in its real-node mode: `minikube start` starts tests/k8s/node.sh (control plane,
containerd, kubelet, kube-proxy, CoreDNS), `image load` imports into the node's containerd, `image ls` lists
what containerd has. The images are the project's programs packed by pack-images.py; the manifests are
manifests/ with overlay.yaml's differences. As in the VM, the supervisor reaches ClickHouse through
`kubectl port-forward service/clickhouse`, restarted whenever it ends (vm/default.nix's
otel-forward-clickhouse). The harness never writes a row: it reads ClickHouse and the node.
"""
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "supervisor"))

from conftest import CHDB_LIB, Supervisor, free_port, otelctl, status_json, wait_until  # noqa: E402

NODE_SH = os.path.join(SOURCE_ROOT, "tests", "k8s", "node.sh")
CONTROL_PLANE = os.path.join(SOURCE_ROOT, "tests", "k8s", "control-plane.sh")
MINIKUBE = os.path.join(SOURCE_ROOT, "tests", "supervisor", "minikube")
PACK = os.path.join(HERE, "pack-images.py")
NAMESPACE = "otel-demo"


def log(msg):
    print(f"[node {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def missing_engines():
    """What this suite needs and the machine lacks (empty: everything is there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (containers, network namespaces, iptables)")
    nodebin = subprocess.run([NODE_SH, "bindir"], capture_output=True, text=True).stdout.strip()
    for b in ("kubelet", "kube-proxy", "kubectl", "coredns"):
        if not os.access(os.path.join(nodebin, b), os.X_OK):
            missing.append(f"{nodebin}/{b} (scripts/deps/node.sh)")
    cpbin = subprocess.run([CONTROL_PLANE, "bindir"], capture_output=True, text=True).stdout.strip()
    for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        if not os.access(os.path.join(cpbin, b), os.X_OK):
            missing.append(f"{cpbin}/{b} (scripts/deps/k8s.sh)")
    for b in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "etcd"):
        if not shutil.which(b):
            missing.append(f"{b} (scripts/deps/node.apt, k8s.apt)")
    if not os.path.exists("/usr/lib/cni/bridge"):
        missing.append("/usr/lib/cni/bridge (containernetworking-plugins)")
    if not os.path.exists(CHDB_LIB):
        missing.append(f"libchdb at {CHDB_LIB!r} (scripts/deps/chdb.sh)")
    return missing


def overlay_manifests(dst):
    """manifests/ with overlay.yaml's differences (and nothing else) applied, copied to dst."""
    with open(os.path.join(HERE, "overlay.yaml")) as f:
        overlay = yaml.safe_load(f)
    src = os.path.join(SOURCE_ROOT, "manifests")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.sql", "*.xml", "README.md"))
    for d in overlay.get("drop", []):
        shutil.rmtree(os.path.join(dst, d))
    replaced = 0
    for root, _, files in os.walk(dst):
        for name in files:
            path = os.path.join(root, name)
            with open(path) as f:
                text = f.read()
            new = text
            for old, repl in overlay.get("images", {}).items():
                # "image: NAME:TAG" keeps its tag; only the name changes.
                new = re.sub(r"(image:\s*)" + re.escape(old) + r":", r"\g<1>" + repl + ":", new)
            if new != text:
                replaced += 1
                with open(path, "w") as f:
                    f.write(new)
    assert replaced == len(overlay.get("images", {})), "an image of overlay.yaml is no longer in manifests/"
    return dst


def clickhouse_password():
    """The password the manifests' clickhouse-credentials Secret carries (the VM reads it the same way)."""
    with open(os.path.join(SOURCE_ROOT, "manifests", "clickhouse", "secret.yaml")) as f:
        secret = yaml.safe_load(f)
    return secret["stringData"]["username"], secret["stringData"]["password"]


class Kubectl:
    def __init__(self, kubeconfig):
        self.bin = os.path.join(subprocess.run([NODE_SH, "bindir"], capture_output=True, text=True).stdout.strip(), "kubectl")
        self.kubeconfig = kubeconfig

    def __call__(self, *args, check=True, timeout=60):
        r = subprocess.run([self.bin, "--kubeconfig", self.kubeconfig, *args], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def json(self, *args):
        return json.loads(self(*args, "-o", "json"))

    def pods(self, selector=None):
        args = ["-n", NAMESPACE, "get", "pods"]
        if selector:
            args += ["-l", selector]
        return self.json(*args)["items"]


class PortForward:
    """`kubectl port-forward service/clickhouse`, restarted a second after it ends (the VM's
    otel-forward-clickhouse unit: Restart=always)."""

    def __init__(self, kubectl, port, log_path):
        self.kubectl, self.port = kubectl, port
        self.log = open(log_path, "a")
        self.proc = None
        self.running = True
        self.restarts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            if os.path.exists(self.kubectl.kubeconfig):
                self.proc = subprocess.Popen(
                    [self.kubectl.bin, "--kubeconfig", self.kubectl.kubeconfig, "-n", NAMESPACE, "port-forward", "--address", "127.0.0.1", "service/clickhouse", f"{self.port}:8123"],
                    stdout=self.log, stderr=subprocess.STDOUT)
                self.proc.wait()
                self.restarts += 1
            time.sleep(1)

    def close(self):
        self.running = False
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.thread.join(15)


class ClickHouse:
    """Reads through the port-forward, as the supervisor and an operator would."""

    def __init__(self, port, user, password):
        self.url = f"http://127.0.0.1:{port}/"
        self.user, self.password = user, password

    def query(self, sql, timeout=30):
        req = urllib.request.Request(self.url + "?" + urllib.parse.urlencode({"query": sql + " FORMAT JSONEachRow"}),
                                     headers={"X-ClickHouse-User": self.user, "X-ClickHouse-Key": self.password})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]

    def try_query(self, sql):
        try:
            return self.query(sql)
        except (OSError, urllib.error.URLError):
            return None


def cluster_config(tmp, ch_port, status_port, manifests, images, password_file, user):
    return f"""mode: cluster
state_dir: {tmp}/state
poll_interval: 2s
max_log_age: 60s
start_timeout: 15m
status:
  socket: {tmp}/status.sock
  listen: 127.0.0.1:{status_port}
clickhouse:
  url: http://127.0.0.1:{ch_port}
  user: {user}
  password_file: {password_file}
  database: default
  table: otel_logs
  integrity_service: loggen
cluster:
  minikube: {MINIKUBE}
  profile: otel
  start_args: [--driver=docker, --container-runtime=containerd]
  start_timeout: 10m
  images_dir: {images}
  manifests_dir: {manifests}
  namespace: {NAMESPACE}
  reapply_interval: 30s
"""


class NodeStack:
    """One appliance on one node for the whole module: started once, torn down at the end."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.home = tmp / "minikube-home"
        self.images = tmp / "images"
        self.node_images = tmp / "node-images"
        self.manifests = tmp / "manifests"
        self.status_port = free_port()
        self.ch_port = free_port()
        self.sup = None
        self.forward = None
        self.timings = {}
        self.figures = []
        self.rows_so_far = 0

    @property
    def node_dir(self):
        return str(self.home / "control-plane")

    @property
    def sock(self):
        return str(self.tmp / "status.sock")

    def env(self):
        return {"FAKE_MINIKUBE_HOME": str(self.home), "FAKE_MINIKUBE_NODE": "1", "FAKE_MINIKUBE_PAUSE_ARCHIVE": str(self.node_images / "pause.tar")}

    def pack(self, build_dir):
        t = time.monotonic()
        self.images.mkdir()
        self.node_images.mkdir()
        out = subprocess.run([sys.executable, PACK, "--build-dir", build_dir, "--out", str(self.images), "--chdb-lib", CHDB_LIB, "loggen", "shipper", "clickhouse-endpoint"],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        out2 = subprocess.run([sys.executable, PACK, "--build-dir", build_dir, "--out", str(self.node_images), "pause"], capture_output=True, text=True)
        assert out2.returncode == 0, out2.stderr
        self.image_ids = {l.split()[2]: l.split()[3] for l in (out.stdout + out2.stdout).splitlines()}
        self.timings["pack images"] = time.monotonic() - t
        log(f"images packed in {self.timings['pack images']:.1f}s: {self.image_ids}")

    def start(self):
        overlay_manifests(str(self.manifests))
        self.user, password = clickhouse_password()
        self.password_file = self.tmp / "clickhouse-password"
        self.password_file.write_text(password + "\n")
        os.chmod(self.password_file, 0o600)
        self.kubectl = Kubectl(str(self.tmp / "state" / "kubeconfig"))
        self.ch = ClickHouse(self.ch_port, self.user, password)
        self.forward = PortForward(self.kubectl, self.ch_port, self.tmp / "port-forward.log")
        self.t_start = time.monotonic()
        self.start_supervisor()

    def start_supervisor(self):
        # A restarted supervisor gets a fresh notify socket (the last one's file stays behind).
        if os.path.exists(self.tmp / "notify.sock"):
            os.unlink(self.tmp / "notify.sock")
        self.sup = Supervisor(self.tmp, cluster_config(self.tmp, self.ch_port, self.status_port, self.manifests, self.images, self.password_file, self.user), env=self.env())

    def status(self):
        return status_json(self.sock)

    def wait_ready(self, timeout=600):
        rc, _, err = otelctl("--socket", self.sock, "wait", "--timeout", f"{timeout}s", timeout=timeout + 30)
        assert rc == 0, f"not ready: {err}\n{self.diagnostics()}"

    def wait_state(self, state, timeout, pred=None, what=None):
        def check():
            s = self.status()
            return s if s["state"] == state and (pred is None or pred(s)) else None
        try:
            return wait_until(check, timeout, interval=1, what=what or f"state {state}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnostics()}") from None

    def diagnostics(self):
        out = []
        try:
            s = self.status()
            out.append(f"status: state={s['state']} reason={s.get('reason')} pipeline={json.dumps(s.get('pipeline'))}")
            out.append("pods: " + json.dumps(s.get("pods")))
        except Exception as e:  # noqa: BLE001 - diagnostics only
            out.append(f"status: {e}")
        try:
            out.append(self.kubectl("-n", NAMESPACE, "get", "pods", "-o", "wide", check=False))
            out.append(self.kubectl("-n", NAMESPACE, "get", "events", "--sort-by=.lastTimestamp", check=False)[-3000:])
        except Exception as e:  # noqa: BLE001
            out.append(f"kubectl: {e}")
        if self.sup:
            out.append("supervisor log:\n" + self.sup.logtext()[-3000:])
        return "\n".join(out)

    # --- The pipeline's integrity, read from ClickHouse and from the node ---------------------------

    def loggen_streams(self):
        """Per loggen container: rows, distinct Count values, lowest and highest, from ClickHouse."""
        return self.ch.query(
            "SELECT ResourceAttributes['k8s.pod.name'] AS pod, ResourceAttributes['k8s.container.id'] AS container, "
            "count() AS rows, uniqExact(Count) AS distinct, min(Count) AS lo, max(Count) AS hi "
            "FROM otel_logs WHERE ServiceName = 'loggen' AND Body = 'tick' GROUP BY pod, container ORDER BY pod, container")

    def loggen_written(self):
        """Per loggen container, the highest tick count its kubelet-written log files hold right now
        (the live file and the rotated ones the kubelet still keeps)."""
        out = {}
        for d in os.listdir("/var/log/pods"):
            ns, pod, _ = d.split("_", 2)
            if ns != NAMESPACE or not pod.startswith("loggen"):
                continue
            cdir = os.path.join("/var/log/pods", d, "loggen")
            for f in os.listdir(cdir) if os.path.isdir(cdir) else []:
                if not re.fullmatch(r"\d+\.log(\.\d{8}-\d{6})?", f):
                    continue
                hi = last_tick(os.path.join(cdir, f))
                if hi:
                    key = (pod, f.split(".")[0])
                    out[key] = max(out.get(key, 0), hi)
        return out

    def container_ids(self, pod_prefix, container):
        """restartCount-ordered container IDs of one container of the pods named pod_prefix*, as the API
        reports them (current and last terminated)."""
        ids = {}
        for p in self.kubectl.pods():
            if not p["metadata"]["name"].startswith(pod_prefix):
                continue
            for cs in p["status"].get("containerStatuses", []):
                if cs["name"] != container:
                    continue
                for st in (cs.get("state", {}), cs.get("lastState", {})):
                    for v in st.values():
                        if v.get("containerID"):
                            ids[v["containerID"].split("://", 1)[1]] = p["metadata"]["name"]
                if cs.get("containerID"):
                    ids[cs["containerID"].split("://", 1)[1]] = p["metadata"]["name"]
        return ids

    def exactly_once(self, step, timeout=180):
        """Waits until every tick loggen has written so far is in ClickHouse, then checks that each
        loggen container's rows are exactly 1..N, once each, and that the supervisor's loss detector
        agrees (0 lost, 0 duplicated). Returns the figures of the step."""
        written = self.loggen_written()
        assert written, "no loggen log file on the node"
        last = {}

        def caught_up():
            streams = self.ch.try_query(
                "SELECT ResourceAttributes['k8s.pod.name'] AS pod, count() AS rows, uniqExact(Count) AS distinct, max(Count) AS hi "
                "FROM otel_logs WHERE ServiceName = 'loggen' AND Body = 'tick' GROUP BY pod")
            if streams is None:
                return None
            by_pod = {s["pod"]: s for s in streams}
            last["streams"] = by_pod
            for (pod, _), hi in written.items():
                if pod not in by_pod or int(by_pod[pod]["hi"]) < hi:
                    return None
            return True

        try:
            wait_until(caught_up, timeout, interval=1, what=f"{step}: ClickHouse holding every tick written")
        except AssertionError as e:
            raise AssertionError(f"{e}; written {written}; in ClickHouse {last.get('streams')}\n{self.diagnostics()}") from None
        # Batches retried after an outage may land out of order for a moment (several are in flight per
        # file): a hole below the highest Count is only a loss if it is still there a little later.
        def complete():
            streams = self.loggen_streams()
            bad = [s for s in streams if not (int(s["rows"]) == int(s["distinct"]) == int(s["hi"]) and int(s["lo"]) == 1)]
            return streams, bad

        deadline = time.monotonic() + 30
        streams, bad = complete()
        while bad and time.monotonic() < deadline:
            time.sleep(1)
            streams, bad = complete()
        lost = sum(int(s["hi"]) - int(s["distinct"]) for s in streams)
        dup = sum(int(s["rows"]) - int(s["distinct"]) for s in streams)
        rows = sum(int(s["rows"]) for s in streams)
        # The supervisor's own detector, once its poll has seen at least as much.
        want = {s["container"]: int(s["hi"]) for s in streams}

        def detector_caught_up():
            p = self.status().get("pipeline") or {}
            seen = {s["container"]: s["max_count"] for s in p.get("streams", [])}
            return p if all(seen.get(c, 0) >= hi for c, hi in want.items()) else None

        pipeline = wait_until(detector_caught_up, 60, interval=1, what=f"{step}: the supervisor's loss detector catching up")
        fig = {"step": step, "rows": rows, "rows_in_step": rows - self.rows_so_far, "lost": lost, "duplicated": dup, "detector_lost": pipeline["lost"], "detector_duplicated": pipeline["duplicated"], "containers": len(streams)}
        self.figures.append(fig)
        self.rows_so_far = rows
        log(f"{step}: {fig}")
        assert not bad, f"{step}: loggen rows not exactly once: {bad}\n{self.explain_loss(bad)}"
        assert pipeline["lost"] == 0 and pipeline["duplicated"] == 0, f"{step}: the loss detector reports {pipeline}"
        # ... and the state does not name the pipeline (lost or duplicated rows make it degraded).
        reason = self.status().get("reason") or ""
        assert "rows lost" not in reason and "duplicated" not in reason, f"{step}: {reason}"
        return fig

    def explain_loss(self, bad):
        """Where the missing lines were: the gaps, whether the kubelet's files still hold them, and what
        happened to the shipper meanwhile (restarts and why, probe failures)."""
        out = []
        pods = {p["metadata"]["name"]: p for p in self.kubectl.pods()}
        for s in bad:
            have = [int(r["c"]) for r in self.ch.query(
                f"SELECT Count AS c FROM otel_logs WHERE ServiceName = 'loggen' AND Body = 'tick' AND ResourceAttributes['k8s.container.id'] = '{s['container']}' ORDER BY c")]
            gaps, prev = [], 0
            for c in have:
                if c > prev + 1:
                    gaps.append((prev + 1, c - 1))
                prev = c
            line = f"{s['pod']}: missing Count ranges {gaps[:10]}"
            p = pods.get(s["pod"])
            if p:
                logdir = f"/var/log/pods/{NAMESPACE}_{p['metadata']['name']}_{p['metadata']['uid']}/loggen"
                if os.path.isdir(logdir):
                    on_disk = ticks_on_disk(logdir)
                    missing = {c for a, b in gaps for c in range(a, b + 1)}
                    line += f"; {len(missing & on_disk)} of {len(missing)} still in the kubelet's files {sorted(os.listdir(logdir))}"
            out.append(line)
        for p in pods.values():
            if not p["metadata"]["name"].startswith("shipper-"):
                continue
            for cs in p["status"].get("containerStatuses", []):
                out.append(f"{p['metadata']['name']}: restarts {cs['restartCount']}, last state {json.dumps(cs.get('lastState'))}")
        events = self.kubectl("-n", NAMESPACE, "get", "events", "--sort-by=.lastTimestamp", check=False)
        out.append("shipper events:\n" + "\n".join(l for l in events.splitlines() if "shipper" in l)[-2000:])
        return "\n".join(out)

    def stop(self):
        if self.sup and self.sup.proc.poll() is None:
            self.sup.stop()
        if self.forward:
            self.forward.close()
        env = dict(os.environ, **self.env())
        subprocess.run([MINIKUBE, "-p", "otel", "stop"], env=env, capture_output=True, timeout=300)


def last_tick(path):
    """The highest "count" of a tick line in a CRI log file (the file may be written to meanwhile)."""
    hi = 0
    with open(path, "rb") as f:
        try:
            f.seek(-65536, os.SEEK_END)
        except OSError:
            f.seek(0)
        for line in f.read().split(b"\n"):
            m = re.search(rb'"msg":"tick","count":(\d+)', line)
            if m:
                hi = max(hi, int(m.group(1)))
    return hi


def ticks_on_disk(logdir):
    """Every tick count in a container's log files: the live one, the rotated and the compressed ones."""
    out = set()
    for f in os.listdir(logdir):
        path = os.path.join(logdir, f)
        try:
            with (gzip.open(path) if f.endswith(".gz") else open(path, "rb")) as fh:
                data = fh.read()
        except OSError:
            continue
        out |= {int(m) for m in re.findall(rb'"msg":"tick","count":(\d+)', data)}
    return out


def process_of(container_id):
    """The host pid of a container's first process (its cgroup names the container)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if re.search(r"^\d+:memory:.*/" + re.escape(container_id) + "$", cg, re.M):
            return int(pid)
    return None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def kill9(pid):
    os.kill(pid, signal.SIGKILL)
