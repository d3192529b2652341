#!/usr/bin/env bash
# Select utterances or speakers of a data dir (as Kaldi's utils/subset_data_dir.sh; default: spread evenly).
# Usage: utils/subset_data_dir.sh [--first|--last|--per-spk|--shortest|--speakers] <srcdir> <num-utt> <destdir>
#    or: utils/subset_data_dir.sh --utt-list <utt-list-file> <srcdir> <destdir>
#    or: utils/subset_data_dir.sh --spk-list <spk-list-file> <srcdir> <destdir>
# A thin wrapper: the work is done by `asr subset-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" subset-data-dir "$@"
