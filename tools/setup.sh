#!/usr/bin/env bash
# Creates (or refreshes) the project virtualenv at .venv with the `asr` command in it.
# Idempotent: a second run with an unchanged pyproject.toml only checks a stamp file.
#   tools/setup.sh [--system]   --system also installs the Debian tools the tests use
#                               (sox, sctk for sclite) when run as root with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
system=false
[ "${1:-}" = "--system" ] && system=true

if $system && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  command -v sox >/dev/null || missing="$missing sox"
  command -v sclite >/dev/null || command -v sctk >/dev/null || missing="$missing sctk"
  if [ -n "$missing" ]; then
    echo "setup: apt-get install$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null \
      || echo "setup: warning: could not install$missing (tests that need them will skip)"
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=".venv/bin/python -m pip"

stamp=.venv/.asr-setup-stamp
want=$(cat pyproject.toml tools/setup.sh | sha1sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/asr ]; then
  exit 0
fi

# torch and torchaudio come from the package index (on this project's build machines
# pip takes them from a local mirror); torchaudio's compiled part must match torch's build.
echo "setup: installing asr and its dependencies into .venv"
$pip install -q -e ".[dev]"
echo "$want" > "$stamp"
