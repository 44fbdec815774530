#!/usr/bin/env bash
# The VM forwards exactly the ports of ARCHITECTURE §4 (vm/ports.nix); minikube publishes
# (vm/config.yaml --ports=GUEST:NODEPORT) exactly the NodePorts vm/ports.nix serves that way, each
# declared by a Service in manifests/; every port-forward target exists in manifests/ with its port.
#   tests/nix/ports.sh SOURCE_ROOT
set -euo pipefail
root=${1:?usage: ports.sh SOURCE_ROOT}
cd "$root"
export NIX_CONFIG='build-users-group ='
json=$(nix-instantiate --readonly-mode --eval --strict --json vm/ports.nix)
python3 - "$json" <<'PY'
import json, os, re, sys

ports = json.loads(sys.argv[1])
by_guest = {p["guest"]: p["host"] for p in ports.values()}
bad = []

# ARCHITECTURE §4, when the shared design documents sit next to the checkout (as in CI).
arch = None
for cand in ("../shared/ARCHITECTURE.md", "../../shared/ARCHITECTURE.md"):
    if os.path.exists(cand):
        arch = cand
        break
if arch:
    text = open(arch).read()
    m = re.search(r"^host ── QEMU user net[^:]*: (.*)$", text, re.M)
    if not m:
        bad.append(f"{arch}: no 'QEMU user net:' line")
    else:
        want = {int(g): int(h) for h, g in re.findall(r"(\d+)→(\d+)", m.group(1))}
        if want != by_guest:
            bad.append(f"vm/ports.nix {by_guest} differs from {arch} {want}")
else:
    print("ports: ../shared/ARCHITECTURE.md not found; checking against the built-in table")
    want = {22: 22022, 8080: 28080, 8000: 28000, 8123: 28123, 9000: 29000, 2020: 22020, 8090: 28090}
    if want != by_guest:
        bad.append(f"vm/ports.nix {by_guest} differs from ARCHITECTURE §4 {want}")

cfg = open("vm/config.yaml").read()
published = {int(g): int(n) for g, n in re.findall(r"--ports=(\d+):(\d+)", cfg)}
via_nodeport = {p["guest"]: p["nodePort"] for p in ports.values() if p.get("via") == "nodePort"}
for name, p in sorted(ports.items()):
    if p.get("via") not in ("nodePort", "port-forward", "guest"):
        bad.append(f"vm/ports.nix {name}: via must be nodePort, port-forward or guest")
if published != via_nodeport:
    bad.append(f"vm/config.yaml publishes {published} (guest: NodePort), vm/ports.nix says {via_nodeport}")
for g, n in sorted(published.items()):
    if not 30000 <= n <= 32767:
        bad.append(f"vm/config.yaml: NodePort {n} outside 30000-32767")
if published and not re.search(r"^\s*- --listen-address=0\.0\.0\.0\s*$", cfg, re.M):
    bad.append("vm/config.yaml: minikube needs --listen-address=0.0.0.0 or its ports stay on 127.0.0.1")
m = re.search(r"^  listen: [\d.]+:(\d+)\s*$", cfg, re.M)
if not m or ports.get("supervisor-status", {}).get("guest") != int(m.group(1)):
    bad.append("vm/config.yaml status.listen port is not vm/ports.nix's supervisor-status")

if os.path.isdir("manifests"):
    docs = []
    for d, _, files in os.walk("manifests"):
        for f in files:
            if f.endswith((".yaml", ".yml")) and not f.startswith("."):
                docs += [(os.path.join(d, f), doc) for doc in re.split(r"^---\s*$", open(os.path.join(d, f)).read(), flags=re.M)]
    def kind_name(doc):
        k = re.search(r"^kind:\s*(\S+)", doc, re.M)
        n = re.search(r"^metadata:\s*\n(?:[ ]+.*\n)*?[ ]+name:\s*(\S+)", doc, re.M)
        return (k.group(1).lower() if k else None, n.group(1) if n else None)
    declared = set()
    for _, doc in docs:
        if kind_name(doc)[0] == "service":
            declared |= {int(x) for x in re.findall(r"nodePort:\s*(\d+)", doc)}
    for g, n in sorted(published.items()):
        if n not in declared:
            bad.append(f"NodePort {n} (guest {g}) is published by minikube but no Service in manifests/ declares it")
    for n in sorted(declared - set(published.values())):
        bad.append(f"manifests/ declare NodePort {n}, which minikube does not publish (vm/config.yaml --ports)")
    # port-forward targets: the Service or DaemonSet exists and has the port.
    for name, p in sorted(ports.items()):
        if p.get("via") != "port-forward":
            continue
        kind, _, obj = p["target"].partition("/")
        hits = [doc for _, doc in docs if kind_name(doc) == (kind, obj)]
        if not hits:
            bad.append(f"vm/ports.nix {name}: no {kind} {obj} in manifests/")
        elif not re.search(r"(?:port|containerPort):\s*%d\b" % p["targetPort"], hits[0]):
            bad.append(f"vm/ports.nix {name}: {kind} {obj} has no port {p['targetPort']}")

if bad:
    for b in bad:
        print("ports: " + b, file=sys.stderr)
    sys.exit(1)
print(f"ports: {len(by_guest)} forwards as designed; {len(published)} served by NodePorts, "
      f"{sum(p.get('via') == 'port-forward' for p in ports.values())} by port-forward, all declared in manifests/")
PY
