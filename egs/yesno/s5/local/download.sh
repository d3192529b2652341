#!/usr/bin/env bash
# Download and unpack Kaldi's yesno corpus (OpenSLR resource 1) into <dir>/waves_yesno.
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 <dir>"; exit 1; }
dir=$1
[ -d "$dir/waves_yesno" ] && { echo "$0: $dir/waves_yesno exists"; exit 0; }
mkdir -p "$dir"
wget -q -O "$dir/waves_yesno.tar.gz" https://www.openslr.org/resources/1/waves_yesno.tar.gz
tar -xzf "$dir/waves_yesno.tar.gz" -C "$dir"
rm "$dir/waves_yesno.tar.gz"
