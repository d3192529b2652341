"""``asr prepare``: turn a folder of recordings, a table or a manifest into a Kaldi data dir.

Sources: a folder of audio files with same-name transcripts (``x.wav`` + ``x.txt`` or ``x.lab``);
a CSV/TSV with a header (``path,text[,speaker][,start,end]``); JSON Lines with those keys (NeMo's
``audio_filepath``/``duration`` too); a lhotse manifest (``*cuts*.jsonl[.gz]``, or a folder with
``*recordings*`` and ``*supervisions*`` JSONL). The data dir gets wav.scp, text, utt2spk,
spk2utt, utt2dur (and segments for rows with times or cut recordings), is validated with
Kaldi's rules, and its ids are Kaldi-safe and unique.

Bad rows (missing or unreadable audio, empty text, bad times) are each named with their file and
line, and nothing is written (exit status 1); with ``--skip-bad`` they are left out and named in
the log, and the exit status is 3.

Examples::

    asr prepare my_recordings/ data/mine
    asr prepare --speaker-regex '^.*/([^/_]+)_[^/]*$' recordings/ data/all     # speaker_utt.wav
    asr prepare --max-segment 20 --allow-missing-text long_talks/ data/talks  # cut at pauses
"""

from __future__ import annotations

import argparse
import logging

from asr.cli.args import add_bool_arg, add_logging_args

log = logging.getLogger("asr.prepare")


def main(argv: list[str]) -> int:
    """Run ``asr prepare``; returns the exit status."""
    p = argparse.ArgumentParser(prog="asr prepare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speaker-regex", default=None,
                   help="the speaker as the first group of this regular expression, searched in each "
                        "audio path (when the source has no speaker column)")
    add_bool_arg(p, "--skip-bad", False, "leave bad rows out (named in the log) and exit with status 3 "
                                         "(default: name them all and write nothing)")
    add_bool_arg(p, "--allow-missing-text", False, "keep audio without a transcript (empty text)")
    p.add_argument("--max-segment", type=float, default=0.0,
                   help="cut recordings longer than this many seconds at pauses (energy VAD); 0 = never")
    add_bool_arg(p, "--check-audio", True, "read every file's header (durations; unreadable files are bad rows)")
    p.add_argument("src", help="folder, .csv/.tsv, .jsonl or lhotse manifest")
    p.add_argument("data_dir", help="the Kaldi data dir to write")
    add_logging_args(p)
    args = p.parse_args(argv)

    from asr.errors import EXIT_SKIPPED
    from asr.log import log_command_line, setup_logging
    from asr.prepare import prepare

    setup_logging(args.verbose, args.quiet, args.log_file)
    log_command_line(log)
    _, skipped = prepare(args.src, args.data_dir, speaker_regex=args.speaker_regex, skip_bad=args.skip_bad,
                         allow_missing_text=args.allow_missing_text, max_segment=args.max_segment,
                         check_audio=args.check_audio)
    return EXIT_SKIPPED if skipped else 0
