#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (root, non-interactive).
# Debian packages come from scripts/deps/*.apt (one name per line, '#' comments);
# every scripts/deps/*.sh hook then runs in name order (downloads, caches, builds of
# test-only tools). Both steps are idempotent and quick once done.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sed -e 's/#.*//' scripts/deps/*.apt | xargs -n1 | sort -u)
missing=()
for p in $want; do
  # A tool already on PATH from elsewhere (npm bundled with Node.js, say) counts as installed.
  if command -v "$p" >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages (run as root): ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for hook in scripts/deps/*.sh; do
  [ -e "$hook" ] || continue
  bash "$hook"
done
