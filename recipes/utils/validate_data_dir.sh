#!/usr/bin/env bash
# Check a data dir with Kaldi's rules (as Kaldi's utils/validate_data_dir.sh); errors name the file and line.
# Usage: utils/validate_data_dir.sh [--no-feats] [--no-text] [--no-wav] [--no-spk-sort] [--allow-empty-text] <data-dir>
# A thin wrapper: the work is done by `asr validate-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" validate-data-dir "$@"
