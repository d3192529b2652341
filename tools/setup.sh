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

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # Prefer a CPU build of torch that is already on local disk (pip's find-links),
  # so a fresh machine does not download several GB of CUDA wheels.
  pyver=$(.venv/bin/python -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  wheel=""
  for d in ${PIP_FIND_LINKS:-} /opt/wheels; do
    [ -d "$d" ] || continue
    w=$(ls "$d"/torch-*"$pyver"*.whl 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$w" ] && { wheel=$w; break; }
  done
  if [ -n "$wheel" ]; then
    echo "setup: installing torch from $wheel"
    $pip install -q "$wheel"
  else
    echo "setup: installing torch from the package index"
    $pip install -q torch
  fi
fi
echo "setup: installing asr and its dependencies into .venv"
$pip install -q -e ".[dev]"
echo "$want" > "$stamp"
