#!/usr/bin/env bash
# images/images.txt (what the manifests tests read) says exactly what images/images.nix (what the
# flake builds and the VM loads) says: one "<role> <reference>" line per image.
#   tests/nix/images-list.sh SOURCE_ROOT
set -euo pipefail
root=${1:?usage: images-list.sh SOURCE_ROOT}
cd "$root"
export NIX_CONFIG='build-users-group ='
json=$(nix-instantiate --readonly-mode --eval --strict --json images/images.nix)
python3 - "$json" images/images.txt <<'PY'
import json, sys
data = json.loads(sys.argv[1])
want = {role: v["ref"] for role, v in data.items() if isinstance(v, dict)}
have = {}
with open(sys.argv[2]) as f:
    for n, line in enumerate(f, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            sys.exit(f"images-list: images/images.txt:{n}: want '<role> <reference>', got {line!r}")
        if parts[0] in have:
            sys.exit(f"images-list: images/images.txt:{n}: role {parts[0]} listed twice")
        have[parts[0]] = parts[1]
bad = False
for role in sorted(set(want) | set(have)):
    if want.get(role) != have.get(role):
        print(f"images-list: {role}: images.nix says {want.get(role)!r}, images.txt says {have.get(role)!r}", file=sys.stderr)
        bad = True
for role, v in data.items():
    if isinstance(v, dict) and "digest" in v:
        d = v["digest"]
        if not (d.startswith("sha256:") and len(d) == 71 and all(c in "0123456789abcdef" for c in d[7:])):
            print(f"images-list: {role}: digest {d!r} is not sha256:<64 hex>", file=sys.stderr)
            bad = True
if bad:
    sys.exit(1)
print(f"images-list: {len(want)} images agree ({', '.join(sorted(want))}), version {data['version']}")
PY
