"""The ``asr`` command: dispatches ``asr <subcommand> ...`` to ``asr.cli.<module>.main(argv)``.

Subcommand modules are imported lazily so ``asr --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module under asr.cli, one-line description)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate-data-dir": ("datadir_tools", "check a Kaldi data dir (Kaldi's validate_data_dir.sh rules)"),
    "fix-data-dir": ("datadir_tools", "sort a data dir and keep only utterances present in every file"),
    "subset-data-dir": ("datadir_tools", "select utterances or speakers of a data dir"),
    "split-data": ("datadir_tools", "split a data dir into N parts (per speaker or per utterance)"),
    "combine-data": ("datadir_tools", "combine several data dirs into one"),
    "copy-data-dir": ("datadir_tools", "copy a data dir, optionally prefixing utterance/speaker ids"),
    "perturb-data-dir-speed": ("datadir_tools", "make a speed-perturbed copy of a data dir"),
    "compute-utt2dur": ("datadir_tools", "write utt2dur for a data dir"),
    "prepare": ("prepare", "make a Kaldi data dir from a folder of recordings, a CSV/TSV, JSON Lines or lhotse"),
    "compute-fbank": ("compute_fbank", "compute log-mel filterbank features into Kaldi ark/scp"),
    "compute-cmvn-stats": ("compute_cmvn_stats", "accumulate CMVN statistics (per speaker or global)"),
    "train": ("train", "train an acoustic model (CTC) from Kaldi data dirs"),
    "decode": ("decode", "decode a data dir (greedy, beam, or lexicon + LM over a weight grid) and score it"),
    "transcribe": ("transcribe", "transcribe audio files with a trained model"),
    "export": ("export", "write a model as an ONNX or TorchScript file (transcribes on its own)"),
    "plot": ("plot", "PNG pictures of an experiment's training curves"),
    "score": ("score", "WER/CER of a hypothesis text against a reference"),
    "score-times": ("score_times", "word boundary errors of a CTM against a forced alignment's word CTM"),
    "train-lm": ("train_lm", "estimate a word n-gram language model (Kneser-Ney) as an ARPA file"),
    "lm-decode": ("lm_decode", "deprecated alias of decode --lm"),
    "prepare-lang": ("hmm", "make a Kaldi lang dir (phones, words, topo, L.fst) from a dict dir"),
    "format-lm": ("hmm", "add G.fst made from an ARPA LM to a copy of a lang dir"),
    "mkgraph": ("hmm", "build HCLG.fst from a lang dir with G.fst and an HMM-GMM model"),
    "train-mono": ("hmm", "train a monophone HMM-GMM system (Kaldi's train_mono.sh)"),
    "train-deltas": ("hmm", "train a triphone HMM-GMM system with a decision tree (Kaldi's train_deltas.sh)"),
    "align-si": ("hmm", "align a data dir with an HMM-GMM model (Kaldi's align_si.sh)"),
    "decode-gmm": ("hmm", "decode a data dir through HCLG with an HMM-GMM model, over an LM-weight grid"),
    "decode-hybrid": ("hmm", "decode a data dir through HCLG with a hybrid (frame-level) model, over a grid"),
    "mkgraph-ctc": ("hmm", "build TLG.fst (CTC tokens o lexicon o LM) for a CTC model (EESEN's WFST decoding)"),
    "decode-tlg": ("hmm", "decode a data dir with a CTC model through its TLG graph, over an LM-weight grid"),
    "ali-to-pdf": ("hmm", "HMM-GMM alignments to pdf ids per frame (Kaldi's ali-to-pdf)"),
    "ali-to-phones": ("hmm", "HMM-GMM alignments to phones, a CTM of phone segments, or pictures (--plot)"),
}


def _usage() -> str:
    lines = ["usage: asr <subcommand> [options] ...", "", "subcommands:"]
    width = max(len(n) for n in SUBCOMMANDS)
    for name, (_, desc) in SUBCOMMANDS.items():
        lines.append(f"  {name:<{width}}  {desc}")
    lines += ["", "Run 'asr <subcommand> --help' for the options of one subcommand."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asr`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from asr import __version__

        print(f"asr {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"asr: unknown subcommand '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    from asr.errors import AsrError

    module = importlib.import_module(f"asr.cli.{SUBCOMMANDS[name][0]}")
    try:
        # Modules serving several subcommands take the subcommand name first.
        if hasattr(module, "main_for"):
            return int(module.main_for(name, rest) or 0)
        return int(module.main(rest) or 0)
    except AsrError as e:
        print(f"asr {name}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"asr {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
