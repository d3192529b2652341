#!/usr/bin/env bash
# Fetch speechocean762 (OpenSLR resource 101, CC BY 4.0) into <dir> (train/, test/, WAVE/, resource/).
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 <dir>"; exit 1; }
dir=$1
[ -f "$dir/train/wav.scp" ] && { echo "$0: $dir/train/wav.scp exists, nothing to do"; exit 0; }
mkdir -p "$dir"
wget -q -O "$dir/speechocean762.tar.gz" https://www.openslr.org/resources/101/speechocean762.tar.gz
tar -xzf "$dir/speechocean762.tar.gz" -C "$dir" --strip-components=1
rm "$dir/speechocean762.tar.gz"
