#!/usr/bin/env bash
# Split a data dir into <data-dir>/split<N>/{1..N}, one speaker per part (--per-utt: split<N>utt/), as Kaldi's.
# Usage: utils/split_data.sh [--per-utt] <data-dir> <num-to-split>
# A thin wrapper: the work is done by `asr split-data` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" split-data "$@"
