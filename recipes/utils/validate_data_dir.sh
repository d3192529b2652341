#!/usr/bin/env bash
# Check a data dir with Kaldi's rules (as Kaldi's utils/validate_data_dir.sh); errors name the file and line.
# Usage: utils/validate_data_dir.sh [--no-feats] [--no-text] [--no-wav] [--no-spk-sort] [--allow-empty-text] <data-dir>
# A thin wrapper: the work is done by `asr validate-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
exec "$asr" validate-data-dir "$@"
