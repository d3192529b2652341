#!/usr/bin/env bash
# speechocean762: a sweep of training settings at an equal budget (one table, RESULTS_sweep.md), to
# choose the configuration that gets the lowest dev WER within an hour of training on 2 CPU cores.
# Usage: ./run_sweep.sh [--stage N] [--stop-stage N] [--trials conf/sweep.txt] [--names "a b ..."]
#                       [--epochs 2] [--seed 0] [--jobs 2] [--threads 1] [--nj 2]
#                       [--train-opts "..."] [--lm-weights "..."] [--word-ins-penalties "..."]
# Needs run.sh's stages 1-4 (data/train_sp and data/dev with feats.scp, data/lang/lm_3gram.arpa).
# Each line of the trials file is "<name> <units> [--section.field value ...]": the units are a
# conf/units_<units>.yaml (char, phone, bpe50, ...), the rest are `asr train` overrides on top of
# conf/train.yaml. Every trial trains for the same --epochs with the same seed into
# exp/sweep_<name> (the exponential schedule does not depend on the number of epochs, so a trial
# follows the first epochs of a longer run with its settings exactly).
# Stages: 1 train, 2 decode dev greedy, 3 decode dev with the LM over the weight/penalty grid,
#         4 RESULTS_sweep.md (utils/results_table.py --update: text around the table is kept).
# Stages 1-3 run per trial, --jobs trials at a time with --threads each (logs in exp/sweep_log/);
# a trial that fails is named and the others still run.
set -euo pipefail
stage=1
stop_stage=100
trials=conf/sweep.txt
names=          # empty = every trial of the file
epochs=2
seed=0
jobs=2          # trials trained at the same time
threads=1       # torch threads per trial
nj=2
train_opts=     # more `asr train` overrides for every trial
lm_weights="0.5 1 1.5 2 3"
word_ins_penalties="-1 0 1 2"
only=           # internal: stages 1-3 of the N-th trial only
orig_args=("$@")
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh

[ -f "$trials" ] || { echo "run_sweep.sh: no trials file $trials" >&2; exit 1; }
all=$(grep -v '^[[:space:]]*\(#\|$\)' "$trials" | awk '{print $1}')
[ -n "$names" ] || names=$(echo $all)
read -r -a order <<< "$names"
trial_line() {  # the trials-file line of trial $1
  awk -v n="$1" '$1 == n && $1 !~ /^#/ {print; exit}' "$trials"
}
for name in "${order[@]}"; do
  line=$(trial_line "$name")
  [ -n "$line" ] || { echo "run_sweep.sh: no trial '$name' in $trials" >&2; exit 1; }
  units=$(echo "$line" | awk '{print $2}')
  [ -f conf/units_$units.yaml ] || { echo "run_sweep.sh: trial $name: unknown units '$units' (no conf/units_$units.yaml)" >&2; exit 1; }
done

run_trial() {  # stages 1-3 of trial $1
  local name=$1 line units opts dir lex_opt=""
  line=$(trial_line "$name"); units=$(echo "$line" | awk '{print $2}')
  opts=$(echo "$line" | awk '{$1 = $2 = ""; sub(/^ +/, ""); print}')
  dir=exp/sweep_$name
  [ "$units" = phone ] && lex_opt="--lexicon data/lang/lexicon.txt"
  if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
    # shellcheck disable=SC2086
    steps/train.sh --cmd "$train_cmd" --config "conf/train.yaml conf/units_$units.yaml" data/train_sp data/dev "$dir" \
      --train.epochs "$epochs" --train.seed "$seed" --train.num_threads "$threads" --train.average_last 1 \
      $opts $train_opts || return 1
  fi
  if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
    steps/decode.sh --nj "$nj" --cmd "$decode_cmd" "$dir" data/dev "$dir/decode_dev" || return 1
  fi
  if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
    # shellcheck disable=SC2086
    steps/decode_lm.sh --cmd "$decode_cmd" $lex_opt --lm-weights "$lm_weights" \
      --word-ins-penalties "$word_ins_penalties" "$dir" data/lang/lm_3gram.arpa data/dev "$dir/decode_dev_lm" || return 1
  fi
}
if [ -n "$only" ]; then
  run_trial "${order[$((only - 1))]}"
  exit
fi
if [ $stop_stage -ge 1 ] && [ $stage -le 3 ]; then
  for f in data/train_sp/feats.scp data/dev/feats.scp data/lang/lm_3gram.arpa; do
    [ -f "$f" ] || { echo "run_sweep.sh: $f not found (run ./run.sh --stop-stage 4 first)" >&2; exit 1; }
  done
  mkdir -p exp/sweep_log
  rm -f exp/sweep_log/trial.*.log
  job_nj=$nj; [ "$jobs" -le 1 ] || job_nj=1
  last=$(( stop_stage < 3 ? stop_stage : 3 ))
  $train_cmd --max-jobs-run "$jobs" JOB=1:${#order[@]} exp/sweep_log/trial.JOB.log \
    ./run_sweep.sh "${orig_args[@]}" --names "$names" --stage "$stage" --stop-stage "$last" --nj "$job_nj" --only JOB || true
  failed=""
  for i in "${!order[@]}"; do
    log=exp/sweep_log/trial.$((i + 1)).log
    grep -q "^# Ended (code 0)" "$log" || { failed+=" ${order[$i]}"; echo "run_sweep.sh: ${order[$i]} failed:"; tail -n 20 "$log"; }
  done
  [ -z "$failed" ] || { echo "run_sweep.sh: failed:$failed (logs in exp/sweep_log/)" >&2; exit 1; }
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  listing=""
  for name in "${order[@]}"; do
    line=$(trial_line "$name"); rest=$(echo "$line" | awk '{$1 = ""; sub(/^ +/, ""); print}')
    listing+=" sweep_$name: $rest;"
  done
  utils/results_table.py --title "speechocean762: sweep at $epochs epochs (dev = 13 held-out speakers)" \
    --command "cd egs/speechocean762/s5 && ./run_sweep.sh --trials $trials --names \"$names\" --epochs $epochs --seed $seed --jobs $jobs --threads $threads${train_opts:+ --train-opts \"$train_opts\"}" \
    --note "Every trial: conf/train.yaml with the units and overrides of its line in $trials ($listing), \
the same seed, data (data/train_sp) and batches, $epochs epochs, the last epoch's weights (no averaging). \
$jobs trials trained at a time with $threads thread(s) each, so training minutes compare trials with each \
other, not with a run alone on the machine. LM = lexicon + 3-gram, weight / insertion penalty best on dev." \
    --update RESULTS_sweep.md $(for name in "${order[@]}"; do echo exp/sweep_$name; done)
  cat RESULTS_sweep.md
fi
