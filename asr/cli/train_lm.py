"""``asr train-lm``: estimate a word n-gram model (interpolated modified Kneser-Ney) as an ARPA file.

The text is one sentence per line; with ``--kaldi-text`` the first field of each
line is an utterance id (a data dir's ``text`` file) and is dropped. Words are
taken as they are (normalise the text first). ``--vocab`` adds words that get a
unigram even if the text never uses them (e.g. the first column of a lexicon).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.cli.args import add_logging_args
from asr.errors import AsrError

log = logging.getLogger("asr.train_lm")


def _read_sentences(path: str, kaldi_text: bool) -> list[list[str]]:
    """Sentences of a text file: one per line, or a Kaldi ``text`` file (``kaldi_text``: utterance ids dropped)."""
    if kaldi_text:
        from asr.datadir import read_scp

        lines = list(read_scp(path).values())
    else:
        lines = _read_lines(path)
    return [words for line in lines if (words := line.split())]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="asr train-lm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: asr train-lm --order 3 --kaldi-text data/train/text "
                                       "data/lang/lm_3gram.arpa")
    p.add_argument("text", help="training text (one sentence per line)")
    p.add_argument("arpa", help="output ARPA file")
    p.add_argument("--order", type=int, default=3, help="n-gram order 1-6 (default 3)")
    p.add_argument("--prune", default="", help="per-order count thresholds, e.g. '0 1 1' (default none)")
    p.add_argument("--kaldi-text", action="store_true", help="drop the first field (utterance id) of each line")
    p.add_argument("--vocab", default=None, help="file whose first column lists extra vocabulary words")
    p.add_argument("--words", default=None, help="also write a Kaldi words.txt symbol table here")
    p.add_argument("--dev", default=None, help="report perplexity on this text (same format as TEXT)")
    add_logging_args(p)
    args = p.parse_args(argv)

    from asr.lm import estimate_kneser_ney, write_word_list
    from asr.log import log_command_line, setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file)
    log_command_line(log)
    try:
        prune = [int(x) for x in args.prune.replace(",", " ").split()]
    except ValueError:
        raise AsrError(f"--prune: expected integers, got {args.prune!r}") from None
    sentences = _read_sentences(args.text, args.kaldi_text)
    if not sentences:
        raise AsrError(f"{args.text}: no sentences")
    vocab = None
    if args.vocab:
        vocab = [line.split()[0] for line in _read_lines(args.vocab) if line.strip()]
    model = estimate_kneser_ney(sentences, order=args.order, prune=prune, vocab=vocab)
    model.write_arpa(args.arpa)
    log.info("wrote %s: %s n-grams of orders 1..%d from %d sentences", args.arpa,
             " ".join(str(c) for c in model.counts()), args.order, len(sentences))
    if args.words:
        write_word_list(model.vocab, args.words)
    if args.dev:
        dev = _read_sentences(args.dev, args.kaldi_text)
        log.info("perplexity on %s: %.2f (%d sentences)", args.dev, model.perplexity(dev), len(dev))
    return 0


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise AsrError(f"{path}: cannot read ({e.strerror})") from None
