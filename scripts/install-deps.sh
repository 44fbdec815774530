#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (root, non-interactive).
#   scripts/install-deps.sh run    only what the main job needs (scripts/deps/run.list)
#   scripts/install-deps.sh [test] everything: the main job's dependencies and the tests'
# Debian packages come from scripts/deps/*.apt (one name per line, '#' comments); the *.sh hooks then run in
# name order (downloads, caches, builds of test-only tools). Both steps are idempotent and quick once done;
# each step prints what it does and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-test}
case $profile in
run) mapfile -t files < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/deps/run.list | sed 's|^|scripts/deps/|') ;;
test) files=(scripts/deps/*.apt scripts/deps/*.sh) ;;
*)
  echo "install-deps: unknown profile '$profile' (run or test)" >&2
  exit 2
  ;;
esac

apts=() hooks=()
for f in "${files[@]}"; do
  case $f in
  *.apt) apts+=("$f") ;;
  *.sh) hooks+=("$f") ;;
  esac
done

want=$(sed -e 's/#.*//' "${apts[@]}" | xargs -n1 | sort -u)
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
  t=$(date +%s)
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Concurrent runs (parallel test jobs, another checkout) wait for dpkg's lock instead of failing.
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: Debian packages installed in $(($(date +%s) - t)) s"
fi

for hook in "${hooks[@]}"; do
  [ -e "$hook" ] || continue
  t=$(date +%s)
  # One run of a hook at a time on a machine: a second waits, then finds the cache filled.
  flock "/tmp/.otel-deps-$(basename "$hook").lock" bash "$hook"
  d=$(($(date +%s) - t))
  if [ $d -gt 1 ]; then
    echo "install-deps: $(basename "$hook") took $d s"
  fi
done
