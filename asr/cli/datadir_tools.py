"""``asr`` subcommands for Kaldi data dirs, with the options of Kaldi's ``utils/*.sh`` scripts.

Each subcommand parses its arguments and calls one function of
:mod:`asr.datadir`; ``recipes/utils/*.sh`` exec these subcommands. Options
take their value as the next word or after ``=`` (``--utt-prefix sp1-`` or
``--utt-prefix=sp1-``); booleans are flags, ``--skip-fix`` / ``--no-skip-fix``, as in every ``asr``
subcommand (the ``utils/*.sh`` wrappers take Kaldi's ``--skip-fix true``).

Two more names serve the stream filters ``utils/utt2spk_to_spk2utt.pl`` and
``utils/spk2utt_to_utt2spk.pl``: ``python -m asr.cli.datadir_tools
utt2spk-to-spk2utt [file ...]`` (standard input without files).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from asr.cli.args import add_bool_arg, add_logging_args, kaldi_bool_values

log = logging.getLogger("asr.datadir")


def _positive_int(s: str) -> int:
    try:
        n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{s}'") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{s}'")
    return n


def _parser(name: str, description: str, usage: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"asr {name}", description=description, usage=usage)
    add_logging_args(p)
    return p


def _parse(p: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse with Kaldi's rule that an option's value is the next word, even one starting with '-'."""
    flags = [a.option_strings[0] for a in p._actions if isinstance(a, argparse.BooleanOptionalAction)]
    argv = kaldi_bool_values(argv, flags)
    takes_value = {s for a in p._actions if a.option_strings and a.nargs != 0 for s in a.option_strings}
    joined: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in takes_value and i + 1 < len(argv):
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return p.parse_args(joined)


def _setup(args: argparse.Namespace) -> None:
    from asr.log import setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file)


def _validate(argv: list[str]) -> int:
    p = _parser("validate-data-dir", "Check a Kaldi data dir with the rules of Kaldi's utils/validate_data_dir.sh. "
                "The --no-xxx options mean that xxx may be absent; it is still checked if present.")
    p.add_argument("--no-feats", action="store_true", help="feats.scp may be absent")
    p.add_argument("--no-text", action="store_true", help="text may be absent")
    p.add_argument("--no-wav", action="store_true", help="wav.scp may be absent")
    p.add_argument("--no-spk-sort", action="store_true", help="do not require utt2spk to be sorted by speaker too")
    p.add_argument("--allow-empty-text", action="store_true", help="accept empty transcripts")
    p.add_argument("data_dir", help="the data dir")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import validate_data_dir

    for w in validate_data_dir(args.data_dir, no_feats=args.no_feats, no_text=args.no_text, no_wav=args.no_wav,
                               allow_empty_text=args.allow_empty_text, no_spk_sort=args.no_spk_sort):
        log.warning("%s", w)
    log.info("validate_data_dir: successfully validated data-directory %s", args.data_dir)
    return 0


def _fix(argv: list[str]) -> int:
    p = _parser("fix-data-dir", "Sort a data dir and keep only utterances present in every file "
                "(Kaldi's utils/fix_data_dir.sh); the original files go to <data-dir>/.backup/.")
    p.add_argument("--utt-extra-files", default="", help="other utterance-indexed files to filter (space-separated)")
    p.add_argument("--spk-extra-files", default="", help="other speaker-indexed files to filter (space-separated)")
    p.add_argument("data_dir", help="the data dir (changed in place)")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import fix_data_dir

    fix_data_dir(args.data_dir, args.utt_extra_files.split(), args.spk_extra_files.split())
    return 0


_SUBSET_USAGE = """
  asr subset-data-dir [--first|--last|--per-spk|--shortest|--speakers] <srcdir> <num-utt> <destdir>
  asr subset-data-dir --utt-list <utterance-list-file> <srcdir> <destdir>
  asr subset-data-dir --spk-list <speaker-list-file> <srcdir> <destdir>"""


def _subset(argv: list[str]) -> int:
    p = _parser("subset-data-dir", "Select utterances of a data dir (Kaldi's utils/subset_data_dir.sh). By default "
                "<num-utt> utterances spread evenly over the sorted list.", usage=_SUBSET_USAGE)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--first", dest="method", action="store_const", const="first", help="the first <num-utt>")
    how.add_argument("--last", dest="method", action="store_const", const="last", help="the last <num-utt>")
    how.add_argument("--per-spk", dest="method", action="store_const", const="per-spk",
                     help="up to <num-utt> per speaker")
    how.add_argument("--shortest", dest="method", action="store_const", const="shortest",
                     help="the <num-utt> shortest (needs utt2dur, utt2num_frames or segments)")
    how.add_argument("--speakers", dest="method", action="store_const", const="speakers",
                     help="random whole speakers until there are <num-utt> utterances")
    how.add_argument("--utt-list", metavar="FILE", help="keep the utterances listed in FILE (first field)")
    how.add_argument("--spk-list", metavar="FILE", help="keep the speakers listed in FILE (first field)")
    p.add_argument("--seed", type=int, default=0, help="random seed for --speakers")
    p.add_argument("dirs", nargs="+", metavar="ARG", help="<srcdir> [<num-utt>] <destdir>")
    args = _parse(p, argv)
    from asr.datadir import DataDir, read_list, select_utterances, subset_data_dir

    if args.utt_list or args.spk_list:
        if len(args.dirs) != 2:
            p.error("with --utt-list or --spk-list, give <srcdir> <destdir>")
        src, dest = args.dirs
        _setup(args)
        if args.utt_list:
            subset_data_dir(src, dest, utts=read_list(args.utt_list))
        else:
            subset_data_dir(src, dest, speakers=read_list(args.spk_list))
        return 0
    if len(args.dirs) != 3:
        p.error("give <srcdir> <num-utt> <destdir>")
    src, num, dest = args.dirs
    try:
        n = _positive_int(num)
    except argparse.ArgumentTypeError as e:
        p.error(f"<num-utt>: {e}")
    _setup(args)
    utts = select_utterances(DataDir.load(src), n, args.method or "even", seed=args.seed)
    subset_data_dir(src, dest, utts=utts)
    return 0


def _split(argv: list[str]) -> int:
    p = _parser("split-data", "Split a data dir into <num-to-split> parts <data-dir>/split<N>/<n> "
                "(Kaldi's utils/split_data.sh); each speaker goes to one part unless --per-utt "
                "(then <data-dir>/split<N>utt/<n>). Parts newer than the data dir are kept.")
    p.add_argument("--per-utt", action="store_true", help="split by utterance, ignoring speakers")
    p.add_argument("data_dir", help="the data dir")
    p.add_argument("num", type=_positive_int, metavar="num-to-split", help="number of parts")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import split_data

    split_data(args.data_dir, args.num, per_utt=args.per_utt)
    return 0


def _combine(argv: list[str]) -> int:
    p = _parser("combine-data", "Combine data dirs into <dest-data-dir> (Kaldi's utils/combine_data.sh). "
                "Files missing from any source are left out.")
    p.add_argument("--extra-files", default="", help="other files to combine (space-separated)")
    add_bool_arg(p, "--skip-fix", False, "do not run fix-data-dir on the result (default: run it)")
    p.add_argument("dest", help="output data dir")
    p.add_argument("srcs", nargs="+", help="source data dirs")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import combine_data

    combine_data(args.dest, args.srcs, extra_files=args.extra_files.split(), skip_fix=args.skip_fix)
    return 0


def _copy(argv: list[str]) -> int:
    p = _parser("copy-data-dir", "Copy a data dir, optionally adding prefixes/suffixes to utterance and speaker "
                "ids (Kaldi's utils/copy_data_dir.sh); recording ids stay the same.")
    p.add_argument("--utt-prefix", default="", help="prefix for utterance ids")
    p.add_argument("--spk-prefix", default="", help="prefix for speaker ids")
    p.add_argument("--utt-suffix", default="", help="suffix for utterance ids")
    p.add_argument("--spk-suffix", default="", help="suffix for speaker ids")
    add_bool_arg(p, "--validate", True, "validate the copy (default: yes)")
    p.add_argument("src", help="source data dir")
    p.add_argument("dest", help="output data dir")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import copy_data_dir

    copy_data_dir(args.src, args.dest, utt_prefix=args.utt_prefix, spk_prefix=args.spk_prefix,
                  utt_suffix=args.utt_suffix, spk_suffix=args.spk_suffix, validate=args.validate)
    return 0


def _perturb(argv: list[str]) -> int:
    p = _parser("perturb-data-dir-speed", "Make a speed-perturbed copy of a data dir (Kaldi's "
                "utils/perturb_data_dir_speed.sh): ids get the prefix sp<factor>-, wav.scp entries become sox "
                "pipes, segments and utt2dur are divided by the factor.")
    p.add_argument("factor", help="speed factor, e.g. 0.9")
    p.add_argument("src", help="source data dir")
    p.add_argument("dest", help="output data dir")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import perturb_data_dir_speed

    perturb_data_dir_speed(args.factor, args.src, args.dest)
    return 0


def _utt2dur(argv: list[str]) -> int:
    p = _parser("compute-utt2dur", "Write <data-dir>/utt2dur from the audio (or segments) of a data dir "
                "(Kaldi's utils/data/get_utt2dur.sh).")
    p.add_argument("--root", default=None, help="directory that relative wav.scp paths are relative to "
                   "(default: the current directory)")
    p.add_argument("data_dir", help="the data dir")
    args = _parse(p, argv)
    _setup(args)
    from asr.datadir import compute_utt2dur

    compute_utt2dur(args.data_dir, root=args.root)
    return 0


def _stream_filter(name: str, argv: list[str]) -> int:
    """Kaldi's Perl filters: read files (or stdin), write the inverted map to stdout in input order."""
    p = argparse.ArgumentParser(prog=name, description="Kaldi's utils/" + name.replace("-", "_") + ".pl: reads the "
                                "given files (standard input without any) and writes to standard output.")
    p.add_argument("files", nargs="*", help="input files (default: standard input)")
    args = _parse(p, argv)
    from asr.datadir import (
        DataDirError,
        read_scp,
        read_spk2utt,
        spk2utt_to_utt2spk,
        utt2spk_to_spk2utt,
        write_scp,
    )

    sources = args.files or ["-"]
    if name == "utt2spk-to-spk2utt":
        utt2spk: dict[str, str] = {}
        for f in sources:
            for u, s in read_scp(f).items():
                if not s or len(s.split()) != 1:
                    raise DataDirError(f"{'<stdin>' if f == '-' else f}: invalid line in utt2spk: '{u} {s}'")
                utt2spk[u] = s
        write_scp("-", utt2spk_to_spk2utt(utt2spk), sort=False)
    else:
        spk2utt: dict[str, list[str]] = {}
        for f in sources:
            spk2utt.update(read_spk2utt(f))
        write_scp("-", spk2utt_to_utt2spk(spk2utt), sort=False)
    return 0


_COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "validate-data-dir": _validate,
    "fix-data-dir": _fix,
    "subset-data-dir": _subset,
    "split-data": _split,
    "combine-data": _combine,
    "copy-data-dir": _copy,
    "perturb-data-dir-speed": _perturb,
    "compute-utt2dur": _utt2dur,
}

_FILTERS = ("utt2spk-to-spk2utt", "spk2utt-to-utt2spk")


def main_for(name: str, argv: list[str]) -> int:
    """Run the data-dir subcommand ``name`` with arguments ``argv``; returns the exit code."""
    if name in _FILTERS:
        return _stream_filter(name, argv)
    if name not in _COMMANDS:
        raise SystemExit(f"asr: unknown data-dir subcommand '{name}'")
    return _COMMANDS[name](argv)


def _main() -> int:
    """``python -m asr.cli.datadir_tools <name> [args]``: used by the ``utils/*.pl`` wrappers."""
    from asr.errors import AsrError

    if len(sys.argv) < 2:
        names = "|".join([*_COMMANDS, *_FILTERS])
        print(f"usage: python -m asr.cli.datadir_tools <{names}> [args]", file=sys.stderr)
        return 2
    name = sys.argv[1]
    try:
        return main_for(name, sys.argv[2:])
    except AsrError as e:
        prog = name.replace("-", "_") + ".pl" if name in _FILTERS else f"asr {name}"
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    sys.exit(_main())

