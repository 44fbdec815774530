#!/usr/bin/env bash
# Every .nix file of the repository parses (nix-instantiate --parse; Debian's nix-bin is enough:
# parsing needs neither nixpkgs nor a store).
#   tests/nix/parse-all.sh SOURCE_ROOT
set -euo pipefail
root=${1:?usage: parse-all.sh SOURCE_ROOT}
cd "$root"
command -v nix-instantiate >/dev/null || {
	echo "parse-all: nix-instantiate not found (Debian package nix-bin, scripts/deps/nix.apt)" >&2
	exit 1
}
export NIX_CONFIG='build-users-group ='
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.nix')
else
	mapfile -t files < <(find . -name '*.nix' -not -path './build*' -not -path './.git/*' | sed 's|^\./||' | sort)
fi
[ ${#files[@]} -gt 0 ] || {
	echo "parse-all: no .nix files found under $root" >&2
	exit 1
}
bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! out=$(nix-instantiate --parse "$f" 2>&1 >/dev/null); then
		echo "parse-all: $f does not parse:" >&2
		echo "$out" >&2
		bad=$((bad + 1))
	fi
done
if [ $bad -gt 0 ]; then
	echo "parse-all: $bad of ${#files[@]} files do not parse" >&2
	exit 1
fi
echo "parse-all: ${#files[@]} .nix files parse"
