#!/usr/bin/env bash
# Builds the Debian 12 root file system the boot tests run systemd in (tests/systemd/): debootstrap
# --variant=minbase with the packages tests/systemd/rootfs.env lists, trimmed of documentation and apt's
# caches, into ${OTEL_CACHE_DIR:-/var/cache/otel-appliance}/systemd/<key>/rootfs (~ 200 MB). The tests boot
# it read-only under an overlay, so one tree serves every run. A no-op once built (.complete marker).
set -euo pipefail
main() {
	cd "$(dirname "$0")/../.."
	. tests/systemd/rootfs.env
	local dir
	dir=$(rootfs_dir)
	if [ -f "$dir/.complete" ] && [ -x "$dir/rootfs/lib/systemd/systemd" ]; then
		echo "systemd deps: rootfs cached in $dir"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "systemd deps: building the boot-test rootfs needs root (debootstrap)" >&2
		return 1
	fi
	command -v debootstrap >/dev/null || {
		echo "systemd deps: debootstrap is missing (scripts/deps/systemd.apt)" >&2
		return 1
	}
	local start=$SECONDS tmp
	mkdir -p "$(dirname "$dir")"
	tmp=$(mktemp -d "$(dirname "$dir")/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap must remove this build's directory
	trap "rm -rf '$tmp'" EXIT
	echo "systemd deps: debootstrap $ROOTFS_SUITE (minbase + ${ROOTFS_PACKAGES[*]}) into $dir"
	nice -n 10 debootstrap --variant=minbase --include="$(IFS=,; echo "${ROOTFS_PACKAGES[*]}")" \
		"$ROOTFS_SUITE" "$tmp/rootfs" "$ROOTFS_MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
		tail -n 30 "$tmp/debootstrap.log" >&2
		return 1
	}
	local r=$tmp/rootfs
	# What a container needs no copy of: documentation, locales, apt's package cache and lists.
	rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
		"$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/var/log/*.log
	# Debian enables etcd's own service; the tests start etcd themselves. Nothing should wait for a
	# network that nspawn's private network never configures.
	chroot "$r" systemctl disable etcd.service >/dev/null 2>&1 || true
	chroot "$r" systemctl mask etcd.service systemd-networkd-wait-online.service \
		apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1
	chroot "$r" systemctl set-default multi-user.target >/dev/null 2>&1
	echo otel-boot-test >"$r/etc/hostname"
	: >"$r/etc/machine-id"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	trap - EXIT
	rm -f "$dir/debootstrap.log"
	touch "$dir/.complete"
	echo "systemd deps: rootfs built in $((SECONDS - start)) s ($(du -sm "$dir/rootfs" | cut -f1) MB) in $dir"
}
main "$@"
exit $?
