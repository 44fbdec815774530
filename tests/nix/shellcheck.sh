#!/usr/bin/env bash
# Runs shellcheck over the shell the Nix side ships: the ClickHouse image's entrypoint (checked here
# rather than in the Nix build, which would pull GHC into the image build) and tests/nix itself.
#   tests/nix/shellcheck.sh SOURCE_ROOT
set -euo pipefail
root=${1:?usage: shellcheck.sh SOURCE_ROOT}
cd "$root"
command -v shellcheck >/dev/null || {
	echo "shellcheck: not found (Debian package shellcheck, scripts/deps/nix.apt)" >&2
	exit 1
}
# The entrypoint is a writeShellApplication body: bash with errexit, nounset and pipefail set.
shellcheck --shell=bash --severity=style nix/clickhouse/entrypoint.sh
shellcheck --severity=style tests/nix/*.sh
echo "shellcheck: clean"
