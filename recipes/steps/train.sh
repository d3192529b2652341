#!/usr/bin/env bash
# Train an acoustic model with `asr train`: CTC, or frame-level cross-entropy on alignments (train.criterion ce);
# one job, the log goes to <exp-dir>/log/train.<date>.log.
# Usage: steps/train.sh [options] <train-dir> <dev-dir|""> <exp-dir> [--section.field value ...]
#  e.g.: steps/train.sh --config conf/train.yaml data/train data/dev exp/ctc --train.epochs 20
# Options:
#   --cmd CMD              job runner (default utils/run.pl)
#   --config "FILE ..."    YAML experiment config(s), later ones override earlier ones
#                          (see `asr train --print-config`)
#   --resume true|false    continue from the newest epoch checkpoint in <exp-dir> (default false)
#   --nproc N              worker processes on this machine (default 1); N > 1 runs `asr train` under
#                          torchrun with --dist (one thread each unless --train.num_threads says otherwise)
#   --dist MODE            distributed training mode with --nproc > 1: ddp | model-avg | hogwild | asgd
#                          (default ddp; docs/distributed.md)
#   --servers S            --dist asgd: parameter server processes, started beside the N workers (default 1)
#   --max-restarts K       torchrun restarts the workers up to K times after a failure, each time resuming from
#                          the newest epoch checkpoint (default 0)
# Everything after <exp-dir> is passed to `asr train` as config overrides.
# Writes <exp-dir>/{config.yaml,epoch-N.pt,final.pt,history.json}.
set -euo pipefail
cmd=utils/run.pl
config=
resume=false
nproc=1
dist=ddp
servers=1
max_restarts=0
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -lt 3 ]; then
  echo "Usage: $0 [--cmd run.pl] [--config FILE] [--resume true|false] <train-dir> <dev-dir> <exp-dir> [overrides]" >&2
  exit 1
fi
train=$1; dev=$2; exp=$3; shift 3
# Empty transcripts are for `asr train` to judge: dropped with a warning unless data.keep_empty.
utils/validate_data_dir.sh --no-feats --allow-empty-text "$train"
[ -z "$dev" ] || utils/validate_data_dir.sh --no-feats "$dev"
mkdir -p "$exp/log"
opts=()
for c in $config; do opts+=(--config "$c"); done
[ "$resume" = false ] || opts+=(--resume)
log=$exp/log/train.$(date +%Y%m%d-%H%M%S).log
launch=(asr train)
if [ "$nproc" -gt 1 ]; then
  # torchrun starts the workers (gloo on CPU, NCCL on GPU; asgd: and the parameter servers); each logs with its rank
  procs=$nproc; extra=()
  if [ "$dist" = asgd ]; then procs=$((nproc + servers)); extra=(--train.asgd_servers "$servers"); fi
  launch=(torchrun --standalone --nproc-per-node "$procs" --max-restarts "$max_restarts" --no-python asr train
          --train.dist "$dist" --train.num_threads 1 "${extra[@]}")
  [ "$max_restarts" -eq 0 ] || [ "$resume" != false ] || opts+=(--resume)  # a restart goes on from the last epoch
fi
if ! $cmd "$log" "${launch[@]}" --no-progress --log-file /dev/null "${opts[@]}" \
    --data.train "$train" --data.dev "$dev" "$@" "$exp"; then
  # exit status 3: trained, but data.skip_bad left bad utterances out (named at the end of the log)
  grep -q "^# Ended (code 3)" "$log" || exit 1
  echo "$0: WARNING: bad utterances were left out of training; they are named at the end of $log" >&2
fi
grep -h "epoch .*train loss" "$log" | tail -n 1 | sed 's/^.*INFO [^ ]* //' || true
echo "$0: trained $exp/final.pt (log: $log)"
