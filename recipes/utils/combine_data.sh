#!/usr/bin/env bash
# Combine data dirs into one and fix it (as Kaldi's utils/combine_data.sh).
# Usage: utils/combine_data.sh [--extra-files 'f1 f2'] [--skip-fix true|false] <dest-data-dir> <src-data-dir1> <src-data-dir2> ...
# A thin wrapper: the work is done by `asr combine-data` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
kaldi_bools "skip-fix" "$@"
exec "$asr" combine-data "${asr_args[@]}"
