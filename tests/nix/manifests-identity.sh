#!/usr/bin/env bash
# The manifests the VM installs (vm/manifests.nix, evaluated by nix-instantiate) are the very files
# the Kubernetes tests validate: the same paths and the same bytes (sha256) as the walk over
# manifests/ that k8s_manifest_set_add_dir does (recursive, symlinks followed, entries starting
# with '.' skipped, *.yaml and *.yml). Also checks the VM's supervisor config points at them.
#   tests/nix/manifests-identity.sh SOURCE_ROOT      (exit 77: no manifests/ yet)
set -euo pipefail
root=${1:?usage: manifests-identity.sh SOURCE_ROOT}
cd "$root"
if [ ! -d manifests ]; then
	echo "manifests-identity: no manifests/ directory"
	exit 77
fi
export NIX_CONFIG='build-users-group ='
json=$(nix-instantiate --readonly-mode --eval --strict --json \
	-E '{ root }: let m = import (root + "/vm/manifests.nix"); in { inherit (m) files sha256; }' \
	--arg root "$PWD")
python3 - "$json" <<'PY'
import hashlib, json, os, re, sys

vm = json.loads(sys.argv[1])

def walk(d, rel, depth=0):
    # Mirrors src/k8s/k8s-manifest.c add_dir(): scandir + alphasort, hidden entries skipped,
    # stat() (so symlinks are followed), directories recursed, regular *.yaml/*.yml files taken.
    out = []
    for name in sorted(os.listdir(d)):
        if name.startswith("."):
            continue
        p = os.path.join(d, name)
        r = f"{rel}/{name}" if rel else name
        if os.path.isdir(p):
            out += walk(p, r, depth + 1)
        elif os.path.isfile(p) and (name.endswith(".yaml") and len(name) > 5 or name.endswith(".yml") and len(name) > 4):
            out.append(r)
    return out

files = walk("manifests", "")
k8s = {f: hashlib.sha256(open(os.path.join("manifests", f), "rb").read()).hexdigest() for f in files}
bad = False
for f in sorted(set(k8s) | set(vm["sha256"])):
    a, b = k8s.get(f), vm["sha256"].get(f)
    if a is None:
        print(f"manifests-identity: the VM installs {f}, which the Kubernetes tests do not read", file=sys.stderr); bad = True
    elif b is None:
        print(f"manifests-identity: the Kubernetes tests read {f}, which the VM does not install", file=sys.stderr); bad = True
    elif a != b:
        print(f"manifests-identity: {f} differs (tests {a}, VM {b})", file=sys.stderr); bad = True
if sorted(vm["files"]) != sorted(vm["sha256"]):
    print("manifests-identity: vm/manifests.nix files and sha256 disagree", file=sys.stderr); bad = True

# The VM links the store copy to /etc/otel-supervisor/manifests; the supervisor must read that.
cfg = open("vm/config.yaml").read()
m = re.search(r"^  manifests_dir:\s*(\S+)\s*$", cfg, re.M)
if not m or m.group(1) != "/etc/otel-supervisor/manifests":
    print("manifests-identity: vm/config.yaml cluster.manifests_dir is not /etc/otel-supervisor/manifests", file=sys.stderr); bad = True
mod = open("vm/default.nix").read()
if '"otel-supervisor/manifests".source = manifests.source;' not in mod:
    print("manifests-identity: vm/default.nix no longer links manifests.source to /etc/otel-supervisor/manifests", file=sys.stderr); bad = True
if bad:
    sys.exit(1)
if not k8s:
    print("manifests-identity: manifests/ holds no YAML yet")
    sys.exit(77)
print(f"manifests-identity: {len(k8s)} manifest files, identical in the VM and in the Kubernetes tests")
PY
