"""HMM-GMM subcommands, each the Python side of a Kaldi script of the same name:

- ``asr prepare-lang DICT_DIR OOV_WORD LANG_DIR`` (``utils/prepare_lang.sh``)
- ``asr format-lm LANG_DIR ARPA OUT_LANG_DIR`` (``utils/format_lm.sh``)
- ``asr mkgraph LANG_DIR MODEL_DIR GRAPH_DIR`` (``utils/mkgraph.sh``)
- ``asr train-mono DATA_DIR LANG_DIR EXP_DIR`` (``steps/train_mono.sh``)
- ``asr train-deltas NUM_LEAVES TOT_GAUSS DATA_DIR LANG_DIR ALI_DIR EXP_DIR`` (``steps/train_deltas.sh``)
- ``asr align-si DATA_DIR LANG_DIR MODEL_DIR ALI_DIR`` (``steps/align_si.sh``)
- ``asr decode-gmm GRAPH_DIR DATA_DIR DECODE_DIR`` (``steps/decode.sh`` with a graph dir)
- ``asr decode-hybrid GRAPH_DIR DATA_DIR DECODE_DIR`` (``steps/decode.sh`` with a graph dir of a hybrid
  model: Kaldi's ``steps/nnet3/decode.sh``)
- ``asr mkgraph-ctc MODEL ARPA GRAPH_DIR`` and ``asr decode-tlg GRAPH_DIR DATA_DIR DECODE_DIR`` (EESEN's
  TLG graph of a CTC model, ``utils/mkgraph_ctc.sh``, and ``steps/decode.sh`` with such a graph dir)
- ``asr ali-to-pdf MODEL_DIR ALI OUT`` and ``asr ali-to-phones [--ctm F] [--plot DIR --data D] MODEL_DIR ALI [OUT]``
  (Kaldi's ``ali-to-pdf``, ``ali-to-phones``; ``ALI`` is an ``ali.N.gz`` archive)

Features come from the data dir's ``feats.scp`` and ``cmvn.scp`` (``steps/make_fbank.sh``,
``steps/compute_cmvn_stats.sh``); a model dir records how they were used (``cmvn_opts``,
``delta_opts``, ``dct_opts``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.cli.args import add_logging_args

log = logging.getLogger("asr.hmm")

_DESCRIPTIONS = {
    "prepare-lang": "make a Kaldi lang dir (phones, words, topo, L.fst, L_disambig.fst) from a dict dir",
    "format-lm": "copy a lang dir and add G.fst made from an ARPA LM",
    "mkgraph": "build HCLG.fst from a lang dir with G.fst and an HMM-GMM model dir",
    "train-mono": "train a monophone HMM-GMM system (flat start, EM with realignment, Gaussian splitting)",
    "train-deltas": "train a triphone HMM-GMM system on an alignment dir (decision tree, EM with realignment)",
    "align-si": "align a data dir with an HMM-GMM model (transition ids in ali.1.gz)",
    "decode-gmm": "decode a data dir with an HMM-GMM model through HCLG over an LM-weight grid, and score it",
    "decode-hybrid": "decode a data dir with a hybrid (frame-level) model through HCLG over an LM-weight grid, "
                     "posteriors divided by the priors, and score it",
    "mkgraph-ctc": "build TLG.fst (CTC token FST o lexicon o LM) for a CTC model and an ARPA LM",
    "decode-tlg": "decode a data dir with a CTC model through its TLG graph over an LM-weight grid, and score it",
    "ali-to-pdf": "alignments (transition ids) to pdf ids per frame, as a Kaldi text archive",
    "ali-to-phones": "alignments to phone sequences, a CTM of phone segments, or spectrograms with them (PNG)",
}


def _parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"asr {name}", description=_DESCRIPTIONS[name])
    if name == "prepare-lang":
        p.add_argument("--sil-prob", type=float, default=0.5, help="optional silence between words (default 0.5)")
        p.add_argument("--num-nonsil-states", type=int, default=3, help="HMM states per nonsilence phone (3)")
        p.add_argument("--num-sil-states", type=int, default=5, help="HMM states per silence phone (5)")
        p.add_argument("--share-silence-phones", action="store_true", help="one tree root for all silence phones")
        p.add_argument("dict_dir")
        p.add_argument("oov_word", help="the word unknown words map to (in the lexicon), e.g. '<UNK>'")
        p.add_argument("lang_dir")
    elif name == "format-lm":
        p.add_argument("lang_dir")
        p.add_argument("arpa")
        p.add_argument("out_dir")
    elif name == "mkgraph":
        p.add_argument("--self-loop-scale", type=float, default=0.1, help="Kaldi's --self-loop-scale (0.1)")
        p.add_argument("--transition-scale", type=float, default=1.0, help="Kaldi's --transition-scale (1.0)")
        p.add_argument("lang_dir")
        p.add_argument("model_dir")
        p.add_argument("graph_dir")
    elif name in ("train-mono", "align-si", "train-deltas"):
        from asr.gmm.train import DeltasConfig, MonoConfig

        d = DeltasConfig() if name == "train-deltas" else MonoConfig()
        p.add_argument("--beam", type=float, default=d.beam, help=f"alignment beam ({d.beam:g})")
        p.add_argument("--retry-beam", type=float, default=d.retry_beam, help=f"retry beam ({d.retry_beam:g})")
        p.add_argument("--boost-silence", type=float, default=d.boost_silence,
                       help=f"factor on the silence pdfs' weights while aligning ({d.boost_silence:g})")
        p.add_argument("--careful", action="store_true", help="alignments must reach the graph's final state")
        if name in ("train-mono", "train-deltas"):
            p.add_argument("--num-iters", type=int, default=d.num_iters, help=f"training passes ({d.num_iters})")
            p.add_argument("--max-iter-inc", type=int, default=d.max_iter_inc,
                           help=f"passes over which the Gaussians grow ({d.max_iter_inc})")
            if name == "train-mono":
                p.add_argument("--totgauss", type=int, default=d.totgauss, help=f"target Gaussians ({d.totgauss})")
            p.add_argument("--power", type=float, default=d.power,
                           help=f"Gaussians per pdf ~ occupancy^power ({d.power})")
            p.add_argument("--realign-iters", default=d.realign_iters, help="passes that realign first")
            p.add_argument("--seed", type=int, default=d.seed,
                           help=f"seed of the split Gaussians' perturbation ({d.seed})")
        if name == "train-mono":
            p.add_argument("--norm-vars", action="store_true", help="CMVN also normalises variances")
            p.add_argument("--num-ceps", type=int, default=13,
                           help="cepstra kept of a DCT of the log-mel features (13; 0: the features as stored)")
            p.add_argument("--delta-order", type=int, default=2, help="delta orders appended (2)")
            p.add_argument("data_dir")
            p.add_argument("lang_dir")
            p.add_argument("exp_dir")
        elif name == "train-deltas":
            p.add_argument("--thresh", type=float, default=d.thresh,
                           help=f"smallest likelihood gain of a tree split ({d.thresh:g})")
            p.add_argument("--cluster-thresh", type=float, default=d.cluster_thresh,
                           help="merge leaves of a root costing less (-1: the last split's gain; 0: no merging)")
            p.add_argument("num_leaves", type=int, help="leaves of the decision tree, e.g. 2000")
            p.add_argument("totgauss", type=int, help="target number of Gaussians, e.g. 10000")
            p.add_argument("data_dir")
            p.add_argument("lang_dir")
            p.add_argument("ali_dir", help="alignments and their model, e.g. exp/mono_ali")
            p.add_argument("exp_dir")
        else:
            p.add_argument("data_dir")
            p.add_argument("lang_dir")
            p.add_argument("model_dir")
            p.add_argument("ali_dir")
    elif name in ("ali-to-pdf", "ali-to-phones"):
        p.add_argument("model_dir", help="dir with final.mdl (and phones.txt), e.g. exp/mono or exp/mono_ali")
        p.add_argument("ali", help="alignment archive, e.g. exp/mono_ali/ali.1.gz")
        if name == "ali-to-phones":
            p.add_argument("--ctm", default=None, help="write phone segments as CTM (utt 1 start duration phone)")
            p.add_argument("--plot", default=None, help="write <utt>.png per utterance: features with the phones")
            p.add_argument("--data", default=None, help="the aligned data dir (its features, for --plot)")
            p.add_argument("--frame-shift", type=float, default=0.01, help="seconds per frame (0.01)")
            p.add_argument("--max-plots", type=int, default=20, help="plot at most this many utterances (20)")
            p.add_argument("--word-ctm", default=None,
                           help="write the transcripts' words with their aligned spans as CTM (needs --lang, --data)")
            p.add_argument("--lang", default=None, help="the lang dir of the alignment (phones/align_lexicon.txt)")
        p.add_argument("out", nargs="?" if name == "ali-to-phones" else None, default=None,
                       help="text archive: utt id1 id2 ...")
    elif name == "mkgraph-ctc":
        p.add_argument("--sil-prob", type=float, default=0.5,
                       help="probability of the optional word separator between words (char units; 0.5)")
        p.add_argument("model", help="CTC experiment dir or checkpoint")
        p.add_argument("arpa", help="word n-gram LM (ARPA)")
        p.add_argument("graph_dir")
    elif name in ("decode-gmm", "decode-hybrid", "decode-tlg"):
        from asr.gmm.decode import DecodeConfig

        d = DecodeConfig()
        if name == "decode-gmm":
            p.add_argument("--model", default=None, help="model dir (default: the decode dir's parent)")
        elif name == "decode-tlg":
            p.add_argument("--model", default=None,
                           help="experiment dir or checkpoint of the CTC model (default: the decode dir's parent)")
        else:
            p.add_argument("--model", default=None,
                           help="experiment dir or checkpoint of the hybrid model, its dir holding final.mdl and "
                                "tree (default: the decode dir's parent)")
        if name != "decode-gmm":
            p.add_argument("--device", default="cpu", help="device of the model (cpu, cuda, auto; default cpu)")
            p.add_argument("--num-threads", type=int, default=0, help="CPU threads for torch (0 = its default)")
        p.add_argument("--beam", type=float, default=d.beam, help=f"decoding beam ({d.beam:g})")
        p.add_argument("--max-active", type=int, default=d.max_active, help=f"active states per frame ({d.max_active})")
        p.add_argument("--lattice-beam", type=float, default=d.lattice_beam, help=f"({d.lattice_beam:g})")
        lmw = "0.2 0.3 0.5 0.7 1.0 1.4" if name == "decode-tlg" else "7 8 9 10 11 12 13 14 15 16 17"
        p.add_argument("--lm-weights", default=lmw,
                       help=f"LM weights of the grid (default {lmw}); acoustic scale = 1 / weight")
        p.add_argument("--word-ins-penalties", default="0.0 0.5 1.0", help="insertion penalties of the grid")
        p.add_argument("graph_dir")
        p.add_argument("data_dir")
        p.add_argument("decode_dir")
    add_logging_args(p)
    return p


def main_for(name: str, argv: list[str]) -> int:
    """Run one of this module's subcommands; returns the exit code."""
    args = _parser(name).parse_args(argv)
    from asr.log import log_command_line, setup_logging

    out = {"prepare-lang": "lang_dir", "format-lm": "out_dir", "mkgraph": "graph_dir", "train-mono": "exp_dir",
           "train-deltas": "exp_dir",
           "align-si": "ali_dir", "decode-gmm": "decode_dir", "decode-hybrid": "decode_dir",
           "decode-tlg": "decode_dir", "mkgraph-ctc": "graph_dir"}.get(name)
    log_file = args.log_file or (str(Path(getattr(args, out)) / "log" / f"{name.replace('-', '_')}.log")
                                 if out else None)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    setup_logging(args.verbose, args.quiet, log_file)
    log_command_line(log)
    if name == "prepare-lang":
        from asr.graph.lang import prepare_lang

        prepare_lang(args.dict_dir, args.oov_word, args.lang_dir, sil_prob=args.sil_prob,
                     num_nonsil_states=args.num_nonsil_states, num_sil_states=args.num_sil_states,
                     share_silence_phones=args.share_silence_phones)
        log.info("wrote %s", args.lang_dir)
    elif name == "format-lm":
        from asr.graph.hclg import format_lm

        format_lm(args.lang_dir, args.arpa, args.out_dir)
        log.info("wrote %s/G.fst", args.out_dir)
    elif name == "mkgraph":
        from asr.graph.hclg import make_graph

        make_graph(args.lang_dir, args.model_dir, args.graph_dir, self_loop_scale=args.self_loop_scale,
                   transition_scale=args.transition_scale)
    elif name == "train-deltas":
        from asr.gmm.train import DeltasConfig, train_deltas

        cfg = DeltasConfig(beam=args.beam, retry_beam=args.retry_beam, boost_silence=args.boost_silence,
                           careful=args.careful, num_iters=args.num_iters, max_iter_inc=args.max_iter_inc,
                           totgauss=args.totgauss, power=args.power, realign_iters=args.realign_iters,
                           seed=args.seed, num_leaves=args.num_leaves, thresh=args.thresh,
                           cluster_thresh=args.cluster_thresh)
        model = train_deltas(args.data_dir, args.lang_dir, args.ali_dir, args.exp_dir, cfg)
        log.info("wrote %s/final.mdl: %s", args.exp_dir, model.info())
    elif name in ("train-mono", "align-si"):
        from asr.gmm.feats import FeatOpts
        from asr.gmm.train import MonoConfig, align, train_mono

        cfg = MonoConfig(beam=args.beam, retry_beam=args.retry_beam, boost_silence=args.boost_silence,
                         careful=args.careful)
        if name == "train-mono":
            cfg.num_iters, cfg.max_iter_inc, cfg.totgauss = args.num_iters, args.max_iter_inc, args.totgauss
            cfg.power, cfg.realign_iters, cfg.seed = args.power, args.realign_iters, args.seed
            model = train_mono(args.data_dir, args.lang_dir, args.exp_dir, cfg,
                               FeatOpts(norm_vars=args.norm_vars, delta_order=args.delta_order,
                                        num_ceps=args.num_ceps))
            log.info("wrote %s/final.mdl: %s", args.exp_dir, model.info())
        else:
            align(args.data_dir, args.lang_dir, args.model_dir, args.ali_dir, cfg)
    elif name in ("ali-to-pdf", "ali-to-phones"):
        _ali_tools(name, args)
    elif name == "mkgraph-ctc":
        from asr.decode.recognizer import Recognizer
        from asr.decode.tlg import make_tlg

        make_tlg(Recognizer(args.model).system.tokenizer, args.arpa, args.graph_dir, sil_prob=args.sil_prob)
    elif name in ("decode-hybrid", "decode-tlg"):
        import torch

        from asr.gmm.decode import DecodeConfig

        if name == "decode-tlg":
            from asr.decode.tlg import decode_data_dir
        else:
            from asr.decode.hybrid import decode_data_dir
        if args.num_threads > 0:
            torch.set_num_threads(args.num_threads)
        decode_data_dir(args.graph_dir, args.data_dir, args.decode_dir, model=args.model,
                        lm_weights=args.lm_weights.split(), word_ins_penalties=args.word_ins_penalties.split(),
                        cfg=DecodeConfig(beam=args.beam, max_active=args.max_active, lattice_beam=args.lattice_beam),
                        device=args.device)
    else:
        from asr.gmm.decode import DecodeConfig, decode

        decode(args.graph_dir, args.data_dir, args.decode_dir, model_dir=args.model,
               lm_weights=args.lm_weights.split(), word_ins_penalties=args.word_ins_penalties.split(),
               cfg=DecodeConfig(beam=args.beam, max_active=args.max_active, lattice_beam=args.lattice_beam))
    return 0


def _ali_tools(name: str, args: argparse.Namespace) -> None:
    from asr.errors import AsrError
    from asr.fileio import atomic_write
    from asr.gmm.ali import ali_to_pdf, ali_to_phones, ctm_lines, plot_alignment
    from asr.gmm.model import GmmModel
    from asr.gmm.train import read_alignments

    mdir = Path(args.model_dir)
    model = GmmModel.load(mdir / "final.mdl", mdir / "tree")
    alis = read_alignments(args.ali)
    if name == "ali-to-pdf":
        with atomic_write(args.out) as f:
            for utt, ali in alis.items():
                f.write(utt + " " + " ".join(map(str, ali_to_pdf(model, ali))) + "\n")
        log.info("wrote pdf ids of %d utterances to %s", len(alis), args.out)
        return
    from asr.graph.lang import read_symbols

    names = {i: p for p, i in read_symbols(mdir / "phones.txt").items()} if (mdir / "phones.txt").is_file() else {}
    segs = {utt: ali_to_phones(model, ali) for utt, ali in alis.items()}
    if args.out:
        with atomic_write(args.out) as f:
            for utt, ss in segs.items():
                f.write(utt + " " + " ".join(str(s.phone) for s in ss) + "\n")
    if args.ctm:
        with atomic_write(args.ctm) as f:
            for utt, ss in segs.items():
                f.write("".join(line + "\n" for line in ctm_lines(utt, ss, names, args.frame_shift)))
        log.info("wrote %s", args.ctm)
    if args.word_ctm:
        _word_ctm(args, model, segs, names)
    if args.plot:
        if not args.data:
            raise AsrError("--plot needs --data DIR (the aligned data dir, for its features)")
        from asr.gmm.feats import FeatOpts, load_features

        utts = list(segs)[: args.max_plots]
        feats = load_features(args.data, FeatOpts(num_ceps=0, delta_order=0), utts)
        Path(args.plot).mkdir(parents=True, exist_ok=True)
        for utt in utts:
            plot_alignment(feats[utt], segs[utt], names, Path(args.plot) / f"{utt}.png", title=utt,
                           frame_shift=args.frame_shift)
        log.info("wrote %d pictures to %s", len(utts), args.plot)


def _word_ctm(args: argparse.Namespace, model, segs: dict, names: dict[int, str]) -> None:
    from asr.datadir import DataDir
    from asr.errors import AsrError
    from asr.fileio import atomic_write
    from asr.gmm.ali import ali_to_words
    from asr.graph.lang import read_align_lexicon

    if not args.lang or not args.data:
        raise AsrError("--word-ctm needs --lang DIR (its phones/align_lexicon.txt) and --data DIR (its text)")
    lang = Path(args.lang)
    prons, silence = read_align_lexicon(lang)
    oov = (lang / "oov.txt").read_text(encoding="utf-8").split()[0]
    text = DataDir.load(args.data).text or {}
    lines, failed = [], []
    for utt, ss in segs.items():
        words = [w if w in prons else oov for w in text.get(utt, "").split()]
        ws = ali_to_words(ss, words, prons, silence)
        if ws is None:
            failed.append(utt)
            continue
        lines += [f"{utt} 1 {w.start * args.frame_shift:.2f} {w.frames * args.frame_shift:.2f} {w.word}" for w in ws]
    if failed:
        log.warning("%d alignments do not spell their transcripts (left out of %s): %s", len(failed), args.word_ctm,
                    " ".join(failed[:10]))
    with atomic_write(args.word_ctm) as f:
        f.write("".join(x + "\n" for x in lines))
    log.info("wrote %s (%d words)", args.word_ctm, len(lines))
