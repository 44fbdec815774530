#!/usr/bin/env bash
# Evaluates the flake's outputs offline against local checkouts of nixpkgs and microvm.nix and
# prints their .drvPath: the packages, the images, the dev shell, the checks, the VM's system and
# its runner. Nothing is built or downloaded. docs/nix.md, "Evaluating offline", explains it.
#
#   nix/eval-offline.sh NIXPKGS_CHECKOUT MICROVM_CHECKOUT [FLAKE_DIR]
#
# Needs nix >= 2.19 (Debian 13's nix-bin 2.26 works; Debian 12's 2.8 is too old for current
# nixpkgs). NIXPKGS_CHECKOUT may be upstream nixpkgs or github:neg-serg/nixpkgs-slim (small enough
# to fetch; a trimmed 26.11pre tree). For nixpkgs-slim a patched copy is evaluated, with what its
# trimming hides put back (every pkgs/by-name package, two NixOS modules microvm.nix and the
# facter module set options of); if its haskell-modules/hackage-packages.nix is absent (a partial
# snapshot), GHC-built tools are taken out of the VM's evaluation as nixpkgs does on platforms
# without GHC. What is evaluated then proves the expressions, not the pinned revision.
set -euo pipefail
nixpkgs=$(readlink -f "${1:?usage: eval-offline.sh NIXPKGS_CHECKOUT MICROVM_CHECKOUT [FLAKE_DIR]}")
microvm=$(readlink -f "${2:?usage: eval-offline.sh NIXPKGS_CHECKOUT MICROVM_CHECKOUT [FLAKE_DIR]}")
flake=$(readlink -f "${3:-$(dirname "$0")/..}")
system=x86_64-linux
work=${OTEL_EVAL_WORK:-$(mktemp -d)}
mkdir -p "$work"

nix_args=(
	--extra-experimental-features 'nix-command flakes'
	--offline --no-write-lock-file
	--option substituters ''
)

overlay=$nixpkgs/pkgs/top-level/by-name-overlay.nix
if grep -q 'whitelist' "$overlay" 2>/dev/null; then
	echo "eval-offline: $nixpkgs is a trimmed nixpkgs (nixpkgs-slim): evaluating a patched copy in $work/nixpkgs" >&2
	rm -rf "$work/nixpkgs"
	cp -a "$nixpkgs" "$work/nixpkgs"
	nixpkgs=$work/nixpkgs
	overlay=$nixpkgs/pkgs/top-level/by-name-overlay.nix
	# Every by-name package visible again (the whitelist hides e.g. fakeNss, which dockerTools needs).
	sed -i 's/^  filteredPackageFiles = if isMainByname then .*$/  filteredPackageFiles = packageFiles;/' "$overlay"
	grep -q '^  filteredPackageFiles = packageFiles;$' "$overlay" || {
		echo "eval-offline: could not switch off the by-name whitelist in $overlay" >&2
		exit 1
	}
	# Modules whose options microvm.nix (rosetta) and nixos/modules/hardware/facter (hyperv) set.
	for m in virtualisation/hyperv-guest.nix virtualisation/rosetta.nix; do
		if [ -e "$nixpkgs/nixos/modules/$m" ] && ! grep -q "^  ./$m\$" "$nixpkgs/nixos/modules/module-list.nix"; then
			sed -i "s|^\]\$|  ./$m\n]|" "$nixpkgs/nixos/modules/module-list.nix"
		fi
	done
fi

shim=
if [ ! -e "$nixpkgs/pkgs/development/haskell-modules/hackage-packages.nix" ]; then
	shim=$work/no-ghc.nix
	cat >"$shim" <<'EOF'
# The nixpkgs checkout has no hackage-packages.nix, so nothing built with GHC evaluates: shellcheck
# (NixOS checks its own scripts with it) and pandoc (Xen's docs, reached through minikube ->
# libvirt) take the path nixpkgs takes where GHC or Xen are unavailable; the dev shell's shellcheck
# and nixfmt become empty stand-ins.
{
  nixpkgs.overlays = [
    (final: prev: {
      shellcheck-minimal = {
        compiler.bootstrapAvailable = false;
      };
      libvirt = prev.libvirt.override { enableXen = false; };
      shellcheck = final.runCommand "shellcheck-stand-in" { meta.mainProgram = "shellcheck"; } "mkdir $out";
      nixfmt = final.runCommand "nixfmt-stand-in" { meta.mainProgram = "nixfmt"; } "mkdir $out";
    })
  ];
}
EOF
	echo "eval-offline: $nixpkgs has no hackage-packages.nix: the VM is evaluated with $shim" >&2
fi

ev() {
	nix eval "${nix_args[@]}" --override-input nixpkgs "path:$nixpkgs" --override-input microvm "path:$microvm" "$@" 2>"$work/eval.err" || {
		grep -v "^• Updated\|^  →\|^    '\|^warning:" "$work/eval.err" >&2
		return 1
	}
}

cd "$flake"
echo "== packages.$system"
ev --json ".#packages.$system" --apply 'ps: builtins.mapAttrs (n: p: p.drvPath) (removeAttrs ps [ "vm" ])' |
	python3 -c 'import json,sys; [print(f"{k:18} {v}") for k, v in sorted(json.load(sys.stdin).items())]'
echo "== devShells.$system.default"
if [ -z "$shim" ]; then
	ev --raw ".#devShells.$system.default.drvPath"
else
	# shellcheck, nixfmt (GHC) and minikube (-> libvirt -> Xen docs -> pandoc) are in the shell: it is
	# evaluated from the same file with the VM's package set, which has the stand-ins.
	ev --impure --raw ".#nixosConfigurations.otel-vm" --apply "c: let p = (c.extendModules { modules = [ $shim ]; }).pkgs; in (p.callPackage $flake/nix/devshell.nix { otel = p.callPackage $flake/nix/package.nix { version = (import $flake/images/images.nix).version; }; }).drvPath"
fi
echo
echo "== checks.$system (without vm-toplevel)"
ev --json ".#checks.$system" --apply 'cs: builtins.mapAttrs (n: c: c.drvPath) (removeAttrs cs [ "vm-toplevel" ])' |
	python3 -c 'import json,sys; [print(f"{k:18} {v}") for k, v in sorted(json.load(sys.stdin).items())]'
echo "== nixosConfigurations.otel-vm: system.build.toplevel and microvm.declaredRunner (packages.$system.vm)"
if [ -z "$shim" ]; then
	ev --json ".#nixosConfigurations.otel-vm" --apply 'c: { toplevel = c.config.system.build.toplevel.drvPath; runner = c.config.microvm.declaredRunner.drvPath; }'
else
	ev --impure --json ".#nixosConfigurations.otel-vm" --apply "c: let e = c.extendModules { modules = [ $shim ]; }; in { toplevel = e.config.system.build.toplevel.drvPath; runner = e.config.microvm.declaredRunner.drvPath; }"
fi
echo
