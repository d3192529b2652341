#!/usr/bin/env bash
# Sort a data dir and keep only utterances present in every file; originals go to <data-dir>/.backup/ (as Kaldi's).
# Usage: utils/fix_data_dir.sh [--utt-extra-files 'f1 f2'] [--spk-extra-files 'f1'] <data-dir>
# A thin wrapper: the work is done by `asr fix-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" fix-data-dir "$@"
