#!/usr/bin/env bash
# Sort a data dir and keep only utterances present in every file; originals go to <data-dir>/.backup/ (as Kaldi's).
# Usage: utils/fix_data_dir.sh [--utt-extra-files 'f1 f2'] [--spk-extra-files 'f1'] <data-dir>
# A thin wrapper: the work is done by `asr fix-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
exec "$asr" fix-data-dir "$@"
