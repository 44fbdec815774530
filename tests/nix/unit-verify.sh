#!/usr/bin/env bash
# The otel-supervisor unit the VM installs (vm/otel-supervisor.service.in with its two paths
# substituted, as vm/default.nix does) passes `systemd-analyze verify` without a single complaint,
# keeps the properties the design asks for, and scores as hardened in `systemd-analyze security`.
#   tests/nix/unit-verify.sh SOURCE_ROOT [OTEL_SUPERVISOR_EXECUTABLE]
# Without the executable (the program is not built yet) an existing stand-in is used: verify then
# checks everything but the program itself.
set -euo pipefail
root=${1:?usage: unit-verify.sh SOURCE_ROOT [EXECUTABLE]}
exe=${2:-}
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
	exe=$(type -P true)
fi
exe=$(readlink -f "$exe")
command -v systemd-analyze >/dev/null || {
	echo "unit-verify: systemd-analyze not found (Debian package systemd)" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit=$tmp/otel-supervisor.service
sed -e "s|@OTEL_SUPERVISOR@|$exe|g" -e "s|@PATH@|/usr/local/bin:/usr/bin:/bin|g" \
	"$root/vm/otel-supervisor.service.in" >"$unit"
if grep -n '@[A-Z_]*@' "$unit"; then
	echo "unit-verify: placeholders left unsubstituted (vm/default.nix must substitute them too)" >&2
	exit 1
fi

# verify exits 0 on unknown keys and unparsable values, so any output about the unit fails too.
rc=0
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$unit" 2>&1) || rc=$?
echo "$out" | grep -v '^$' >"$tmp/verify.log" || true
if [ $rc -ne 0 ] || grep -q 'otel-supervisor' "$tmp/verify.log"; then
	echo "unit-verify: systemd-analyze verify (rc $rc):" >&2
	cat "$tmp/verify.log" >&2
	exit 1
fi

fail=0
want() {
	if ! grep -qxE "$1" "$unit"; then
		echo "unit-verify: the unit lacks a line matching '$1'" >&2
		fail=1
	fi
}
want 'Type=notify'
want 'WatchdogSec=[0-9]+s?'
want 'Restart=on-failure'
want 'ExecStart=[^ ]+ --config /etc/otel-supervisor/config.yaml'
want 'SupplementaryGroups=docker'
want 'RuntimeDirectory=otel-supervisor'
want 'NoNewPrivileges=yes'
want 'ProtectSystem=strict'
# The status socket the config names lives in the unit's RuntimeDirectory.
if ! grep -qE '^  socket: /run/otel-supervisor/[^/]+$' "$root/vm/config.yaml"; then
	echo "unit-verify: vm/config.yaml status.socket is not under /run/otel-supervisor (RuntimeDirectory)" >&2
	fail=1
fi
[ $fail = 0 ] || exit 1

# Exposure score (0 = locked down, 10 = unprotected); the unit must stay in systemd's "OK" band.
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
	score=$(cd "$tmp" && systemd-analyze security --offline=yes --no-pager "$unit" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' | tail -1)
	if [ -z "$score" ]; then
		echo "unit-verify: systemd-analyze security gave no score" >&2
		exit 1
	fi
	if ! python3 -c "import sys; sys.exit(0 if float('$score') <= 2.5 else 1)"; then
		echo "unit-verify: exposure $score > 2.5:" >&2
		(cd "$tmp" && systemd-analyze security --offline=yes --no-pager "$unit" >&2) || true
		exit 1
	fi
	echo "unit-verify: systemd-analyze verify clean, exposure $score (ExecStart=$exe)"
else
	echo "unit-verify: systemd-analyze verify clean (ExecStart=$exe); no offline security scoring here"
fi
