#!/usr/bin/env bash
# Combine data dirs into one and fix it (as Kaldi's utils/combine_data.sh).
# Usage: utils/combine_data.sh [--extra-files 'f1 f2'] [--skip-fix true|false] <dest-data-dir> <src-data-dir1> <src-data-dir2> ...
# A thin wrapper: the work is done by `asr combine-data` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" combine-data "$@"
