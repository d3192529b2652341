#!/usr/bin/env bash
# Select utterances or speakers of a data dir (as Kaldi's utils/subset_data_dir.sh; default: spread evenly).
# Usage: utils/subset_data_dir.sh [--first|--last|--per-spk|--shortest|--speakers] <srcdir> <num-utt> <destdir>
#    or: utils/subset_data_dir.sh --utt-list <utt-list-file> <srcdir> <destdir>
#    or: utils/subset_data_dir.sh --spk-list <spk-list-file> <srcdir> <destdir>
# A thin wrapper: the work is done by `asr subset-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
exec "$asr" subset-data-dir "$@"
