#!/usr/bin/env bash
# The VM's supervisor configuration (vm/config.yaml) is one the real otel-supervisor accepts, and
# it names the paths vm/default.nix installs.
#   tests/nix/supervisor-config.sh SOURCE_ROOT OTEL_SUPERVISOR_EXECUTABLE
set -euo pipefail
root=${1:?usage: supervisor-config.sh SOURCE_ROOT OTEL_SUPERVISOR}
exe=$(readlink -f "${2:?usage: supervisor-config.sh SOURCE_ROOT OTEL_SUPERVISOR}")
cd "$root"
"$exe" --config vm/config.yaml --check-config
fail=0
need() {
	if ! grep -qE "$1" "$2"; then
		echo "supervisor-config: $2 lacks '$1'" >&2
		fail=1
	fi
}
need '^  manifests_dir: /etc/otel-supervisor/manifests$' vm/config.yaml
need '^  images_dir: /var/lib/otel/images$' vm/config.yaml
need '^  user: otel_reader$' vm/config.yaml
# No password goes into the Nix store: the supervisor generates them at first boot (docs/security.md).
if grep -nE 'password_file|clickhouse-password' vm/config.yaml vm/default.nix; then
	echo "supervisor-config: the VM's configuration names a password file; passwords are generated at first boot" >&2
	fail=1
fi
need '"d /var/lib/otel/images ' vm/default.nix
need '^mode: cluster$' vm/config.yaml
[ $fail = 0 ]
echo "supervisor-config: vm/config.yaml accepted by $exe"
