#!/usr/bin/env bash
# Every QEMU port forward of the VM binds 127.0.0.1 on the host unless the user opts in through the VM's
# one setting for it (otel.vm.hostAddress; docs/vm.md). Evaluates vm/default.nix's own forwardPorts —
# the module itself, its option's default fed back as its configuration, with a stand-in for the few
# nixpkgs lib functions that path touches — and formats each entry as microvm.nix's QEMU runner does
# (lib/runners/qemu.nix: "hostfwd=${proto}:${host.address}:${toString host.port}-${guest.address}:
# ${toString guest.port},"), then checks the -netdev argument that results.
#   tests/nix/hostfwd.sh SOURCE_ROOT
set -euo pipefail
root=${1:?usage: hostfwd.sh SOURCE_ROOT}
cd "$root"
export NIX_CONFIG='build-users-group ='

# The module, evaluated with its own default (or an override) for otel.vm.hostAddress.
eval_forwards() {
	nix-instantiate --readonly-mode --eval --strict --json -E "
    let
      lib = {
        mkOption = o: o;
        types.strMatching = r: r;
      };
      module = args: import ./vm/default.nix ({ inherit lib; pkgs = { }; otel = { }; imagesData = { }; } // args);
      declared = (module { config = { }; }).options.otel.vm.hostAddress;
      address = $1;
    in
    {
      default = declared.default;
      pattern = declared.type;
      forwards = (module { config.otel.vm.hostAddress = address; }).config.microvm.forwardPorts;
    }"
}

default_json=$(eval_forwards 'declared.default')
exposed_json=$(eval_forwards '"0.0.0.0"')
ports_json=$(nix-instantiate --readonly-mode --eval --strict --json vm/ports.nix)
if nix-instantiate --readonly-mode --eval --strict --json -E 'import ./vm/forwards.nix { hostAddress = ""; }' >/dev/null 2>&1; then
	echo "hostfwd: vm/forwards.nix accepts an empty host address (QEMU would bind every interface)" >&2
	exit 1
fi

python3 - "$default_json" "$exposed_json" "$ports_json" <<'PY'
import json, re, sys

default, exposed, ports = (json.loads(a) for a in sys.argv[1:4])
bad = []

def netdev(forwards):
    # microvm.nix lib/runners/qemu.nix, forwardingOptions, for from = "host".
    return "user,id=usernet," + "".join(
        f"hostfwd={f.get('proto', 'tcp')}:{f['host'].get('address', '')}:{f['host']['port']}-"
        f"{f['guest'].get('address', '')}:{f['guest']['port']}," for f in forwards)

if default["default"] != "127.0.0.1":
    bad.append(f"otel.vm.hostAddress defaults to {default['default']!r}, not 127.0.0.1")
want = sorted((p["host"], p["guest"]) for p in ports.values())
for label, ev, addr in (("default", default, "127.0.0.1"), ("opted in", exposed, "0.0.0.0")):
    fw = ev["forwards"]
    got = sorted((f["host"]["port"], f["guest"]["port"]) for f in fw)
    if got != want:
        bad.append(f"{label}: forwards {got} are not vm/ports.nix's {want}")
    line = netdev(fw)
    fwds = re.findall(r"hostfwd=([^,]*),", line)
    if len(fwds) != len(want):
        bad.append(f"{label}: {len(fwds)} hostfwd entries in {line!r}")
    for h in fwds:
        m = re.fullmatch(r"tcp:([^:]*):(\d+)-:(\d+)", h)
        if not m or m.group(1) != addr:
            bad.append(f"{label}: hostfwd={h} does not bind {addr}")
    if label == "default":
        print("QEMU -netdev:", line)
if bad:
    print("hostfwd: FAIL\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"hostfwd: {len(want)} forwards bind 127.0.0.1 by default, 0.0.0.0 only when otel.vm.hostAddress says so")
PY
