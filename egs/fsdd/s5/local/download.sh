#!/usr/bin/env bash
# Fetch the Free Spoken Digit Dataset (CC BY-SA 4.0) into <dir>/recordings.
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 <dir>"; exit 1; }
dir=$1
[ -d "$dir/recordings" ] && { echo "$0: $dir/recordings exists"; exit 0; }
mkdir -p "$dir"
wget -q -O "$dir/fsdd.tar.gz" https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz
tar -xzf "$dir/fsdd.tar.gz" -C "$dir" --strip-components=1
rm "$dir/fsdd.tar.gz"
