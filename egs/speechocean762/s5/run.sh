#!/usr/bin/env bash
# speechocean762: CTC on read English from 125 speakers (half of them children), 2.9 h.
# Systems: character CTC, sentencepiece BPE CTC (one system per vocabulary size) and phone CTC
# (resource/lexicon.txt); greedy decoding, then lexicon + 3-gram LM decoding with the LM weight
# and insertion penalty tuned on a speaker-disjoint dev set carved from train.
# Usage: ./run.sh [--stage N] [--stop-stage N] [--corpus-dir DIR] [--download true|false] [--nj N]
#                 [--systems "char bpe150 phone"] [--test-sets "/abs/data/dir ..."] [--epochs N]
#                 (default --systems char)
#                 [--train-config "conf/train.yaml ..."] [--resume true|false] [--seed N]
#                 [--train-opts "--section.field value ..."] [--nproc N] [--dist ddp|model-avg|hogwild|asgd]
# Stages: 0 download, 1 data prep + dev split, 2 3-way speed perturbation, 3 fbank + CMVN,
#         4 lexicon + LM, 5 train, 6 decode dev (greedy, then LM grid), 7 decode --test-sets with
#         the best system on dev of any kind (CTC with the LM, or run_gmm.sh's / run_hybrid.sh's
#         HMM systems where they ran) and its tuned LM setting, 8 RESULTS.md (the table between its
#         results_table markers: text written around them is kept).
# The default configuration trains on 2 CPU cores in under an hour per system (see RESULTS.md).
set -euo pipefail
stage=0
stop_stage=100
corpus_dir=../../../../shared/corpora/speechocean762
download=false
nj=2
systems="char"  # char | bpe<vocab size> | phone (conf/units_<system>.yaml); char: the best measured (RESULTS.md)
test_sets=""                 # extra Kaldi data dirs (absolute paths), decoded at stage 7
lm_order=3
lm_weights="0.5 1 1.5 2 3"
word_ins_penalties="-1 0 1 2"
epochs=                      # empty = conf/train.yaml's
train_config=conf/train.yaml  # stage 5: config file(s), e.g. "conf/train.yaml conf/train_gpu.yaml"
resume=false                 # stage 5: continue each system from its newest epoch checkpoint
seed=0      # train.seed: initialisation, batch order, dropout and augmentation
train_opts= # more `asr train` overrides for the training stage, e.g. "--train.epochs 30 --optim.lr 0.002"
nproc=1     # training worker processes (steps/train.sh --nproc; > 1 runs torchrun)
dist=ddp    # distributed mode with --nproc > 1 (steps/train.sh --dist)
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh

for sys in $systems; do  # each system's units are a config file
  [ -f conf/units_$sys.yaml ] || { echo "run.sh: unknown system '$sys' (no conf/units_$sys.yaml)" >&2; exit 1; }
done

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ] && [ "$download" = true ]; then
  local/download.sh "$corpus_dir"
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  local/prepare_data.py "$corpus_dir" data/local/corpus
  local/make_dev_split.sh data/local/corpus/train data/train data/dev
  for s in train dev; do utils/validate_data_dir.sh --no-feats data/$s; done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  for f in 0.9 1.1; do utils/perturb_data_dir_speed.sh $f data/train data/train_sp$f; done
  utils/combine_data.sh data/train_sp data/train data/train_sp0.9 data/train_sp1.1
  rm -r data/train_sp0.9 data/train_sp1.1
  utils/validate_data_dir.sh --no-feats data/train_sp
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for s in train_sp dev; do
    steps/make_fbank.sh --nj $nj --cmd "$train_cmd" --fbank-config conf/fbank.conf data/$s exp/make_fbank/$s fbank
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  mkdir -p data/lang
  cp "$corpus_dir/resource/lexicon.txt" data/lang/lexicon.txt
  # The LM sees the training transcripts only (never dev's).
  asr train-lm --order $lm_order --kaldi-text --vocab data/lang/lexicon.txt --words data/lang/words.txt \
    --dev data/dev/text data/train/text data/lang/lm_${lm_order}gram.arpa 2> data/lang/train_lm.log
  grep -E "wrote|perplexity" data/lang/train_lm.log
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for sys in $systems; do
    # shellcheck disable=SC2086
    steps/train.sh --cmd "$train_cmd" --nproc "$nproc" --dist "$dist" --config "$train_config conf/units_$sys.yaml" --resume $resume \
      data/train_sp data/dev exp/ctc_$sys --train.seed "$seed" ${epochs:+--train.epochs $epochs} $train_opts
  done
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  for sys in $systems; do
    steps/decode.sh --nj $nj --cmd "$decode_cmd" exp/ctc_$sys data/dev exp/ctc_$sys/decode_dev
    lex_opt=""; [ $sys = phone ] && lex_opt="--lexicon data/lang/lexicon.txt"
    steps/decode_lm.sh --cmd "$decode_cmd" $lex_opt --lm-weights "$lm_weights" \
      --word-ins-penalties "$word_ins_penalties" exp/ctc_$sys data/lang/lm_${lm_order}gram.arpa \
      data/dev exp/ctc_$sys/decode_dev_lm
  done
fi
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ] && [ -n "$test_sets" ]; then
  # The best system on dev of any kind (these CTC systems with the LM, run_gmm.sh's GMMs,
  # run_hybrid.sh's hybrids), decoded with the LM weight and penalty tuned on dev.
  cands="$(for sys in $systems; do echo exp/ctc_$sys/decode_dev_lm; done) exp/mono/decode_dev exp/tri1/decode_dev"
  cands+=" $(ls -d exp/ce_*/decode_dev 2>/dev/null || true)"
  # shellcheck disable=SC2086
  best_dir=$(utils/best_system.sh $cands) || { echo "run.sh: no decoded dev set to choose a system by (stage 6, run_gmm.sh or run_hybrid.sh)" >&2; exit 1; }
  exp=$(dirname "$best_dir")
  lmwt=$(cat $best_dir/scoring/lmwt); wip=$(cat $best_dir/scoring/wip)
  echo "run.sh: decoding test sets with $exp ($(cut -d' ' -f1-2 $best_dir/scoring/best_wer) on dev), LM weight $lmwt, insertion penalty $wip"
  for dir in $test_sets; do
    name=$(basename "$dir")
    utils/copy_data_dir.sh "$dir" data/test_$name
    steps/make_fbank.sh --nj $nj --cmd "$train_cmd" --fbank-config conf/fbank.conf data/test_$name exp/make_fbank/test_$name fbank
    case $exp in
      exp/ctc_*)
        best=${exp#exp/ctc_}
        steps/decode.sh --nj $nj --cmd "$decode_cmd" $exp data/test_$name $exp/decode_test_$name
        lex_opt=""; [ $best = phone ] && lex_opt="--lexicon data/lang/lexicon.txt"
        steps/decode_lm.sh --cmd "$decode_cmd" $lex_opt --lm-weights "$lmwt" --word-ins-penalties "$wip" \
          $exp data/lang/lm_${lm_order}gram.arpa data/test_$name $exp/decode_test_${name}_lm ;;
      *)  # an HMM system (GMM or hybrid) through its HCLG; GMMs need the speakers' CMVN statistics
        steps/compute_cmvn_stats.sh data/test_$name exp/make_fbank/test_$name fbank
        steps/decode.sh --cmd "$decode_cmd" --lm-weights "$lmwt" --wip-grid "$wip" $exp/graph data/test_$name \
          $exp/decode_test_$name ;;
    esac
  done
fi
if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  cfg_opt=""; [ "$train_config" = conf/train.yaml ] || cfg_opt=" --train-config \"$train_config\""
  utils/results_table.py --title "speechocean762: CTC systems (dev = 13 held-out speakers)" \
    --command "cd egs/speechocean762/s5 && ./run.sh --systems \"$systems\"${epochs:+ --epochs $epochs}$cfg_opt" \
    --note "Data: speechocean762 (OpenSLR 101, Zhang et al. 2021, CC BY 4.0), train half only; dev = speakers in local/dev_speakers.txt, never trained on. LM: ${lm_order}-gram modified Kneser-Ney on the training transcripts." \
    --update RESULTS.md $(for sys in $systems; do echo exp/ctc_$sys; done)
  cat RESULTS.md
fi
