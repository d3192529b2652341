#!/usr/bin/env bash
# Speed-perturbed copy of a data dir: ids prefixed sp<factor>-, wav.scp entries become sox pipes (as Kaldi's).
# Usage: utils/perturb_data_dir_speed.sh <warping-factor> <srcdir> <destdir>
# A thin wrapper: the work is done by `asr perturb-data-dir-speed` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
exec "$asr" perturb-data-dir-speed "$@"
