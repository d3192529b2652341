"""Kaldi data dirs: round trips, every validation rule (each error names file and line), every operation."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from asr.datadir import (
    DataDir,
    DataDirError,
    Segment,
    combine_data,
    compute_utt2dur,
    copy_data_dir,
    fix_data_dir,
    perturb_data_dir_speed,
    read_list,
    read_scp,
    read_spk2utt,
    select_utterances,
    spk2utt_to_utt2spk,
    split_data,
    subset_data_dir,
    utt2spk_to_spk2utt,
    validate_data_dir,
    write_scp,
)

BASE = {
    "wav.scp": "a-1 /data/a1.wav\na-2 /data/a2.wav\nb-1 sox /data/b1.flac -t wav - |\n",
    "utt2spk": "a-1 a\na-2 a\nb-1 b\n",
    "spk2utt": "a a-1 a-2\nb b-1\n",
    "text": "a-1 HELLO\na-2 WORLD\nb-1 YES NO\n",
}

SEGMENTED = {
    "wav.scp": "rec1 /data/rec1.wav\nrec2 /data/rec2.wav\n",
    "segments": "a-1 rec1 0.0 1.5\na-2 rec1 1.5 3.25\nb-1 rec2 0.5 -1\n",
    "utt2spk": "a-1 a\na-2 a\nb-1 b\n",
    "spk2utt": "a a-1 a-2\nb b-1\n",
    "text": "a-1 HELLO\na-2 WORLD\nb-1 YES NO\n",
    "reco2file_and_channel": "rec1 rec1 A\nrec2 rec2 B\n",
}


def make_dir(path: Path, files: dict[str, str], **changes: str | None) -> Path:
    """Write a data dir from file contents; ``changes`` (``wav_scp=...``) replace or (None) remove files."""
    files = dict(files)
    for k, v in changes.items():
        name = k.replace("_scp", ".scp")
        if v is None:
            files.pop(name, None)
        else:
            files[name] = v
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def assert_valid(d: Path, **opts: bool) -> None:
    """Validates, with no warning other than "only one speaker"."""
    warnings = validate_data_dir(d, **opts)
    assert all("only one speaker" in w for w in warnings), warnings


def full_dir(path: Path) -> Path:
    return make_dir(path, BASE, feats_scp="a-1 f.ark:1\na-2 f.ark:20\nb-1 f.ark:40\n",
                    cmvn_scp="a c.ark:1\nb c.ark:9\n", spk2gender="a f\nb m\n",
                    utt2dur="a-1 1.5\na-2 2\nb-1 0.75\n", utt2num_frames="a-1 150\na-2 200\nb-1 75\n")


# ----------------------------------------------------------------------------- reading and writing


def test_read_scp_keeps_order_splits_on_first_blank_and_strips_the_end(tmp_path):
    p = tmp_path / "x"
    p.write_text("b  cmd a  b |  \nA\tsome\ttabbed value\nc\n")
    assert read_scp(p) == {"b": "cmd a  b |", "A": "some\ttabbed value", "c": ""}
    assert list(read_scp(p)) == ["b", "A", "c"]


def test_read_scp_errors_name_file_and_line(tmp_path):
    p = tmp_path / "x"
    p.write_text("a 1\nb 2\na 3\n")
    with pytest.raises(DataDirError, match=r"x:3: duplicate key 'a' \(first on line 1\)"):
        read_scp(p)
    p.write_text("a 1\n\nb 2\n")
    with pytest.raises(DataDirError, match=r"x:2: empty line"):
        read_scp(p)
    p.write_text("a 1\n b 2\n")
    with pytest.raises(DataDirError, match=r"x:2: line starts with a space"):
        read_scp(p)
    p.write_bytes(b"a 1\nb \xff\n")
    with pytest.raises(DataDirError, match=r"x:2: not valid UTF-8"):
        read_scp(p)
    with pytest.raises(DataDirError, match=r"nope: no such file"):
        read_scp(tmp_path / "nope")


def test_write_scp_sorts_in_byte_order_atomically_with_newline(tmp_path):
    p = tmp_path / "x"
    write_scp(p, {"a": "1", "B": "2", "_": "3", "é": "4", "e": "", "Z9": ["u1", "u2"], "s": Segment("r", 0.5, -1)})
    # LC_ALL=C: uppercase < underscore < lowercase < non-ASCII (UTF-8 bytes)
    assert p.read_text() == "B 2\nZ9 u1 u2\n_ 3\na 1\ne\ns r 0.5 -1\né 4\n"
    assert not [f for f in os.listdir(tmp_path) if f != "x"]  # no temporary left behind
    with pytest.raises(DataDirError, match="no whitespace"):
        write_scp(p, {"a b": "1"})


def test_read_spk2utt_and_list(tmp_path):
    p = tmp_path / "spk2utt"
    p.write_text("s1 u1 u2\ns2 u3\n")
    assert read_spk2utt(p) == {"s1": ["u1", "u2"], "s2": ["u3"]}
    assert read_list(p) == ["s1", "s2"]
    p.write_text("s1 u1 u2\ns2\n")
    with pytest.raises(DataDirError, match=r"spk2utt:2: speaker 's2' has no utterances"):
        read_spk2utt(p)


def test_utt2spk_spk2utt_inversions_keep_kaldi_order():
    u2s = {"u3": "b", "u1": "a", "u2": "b"}
    assert utt2spk_to_spk2utt(u2s) == {"b": ["u3", "u2"], "a": ["u1"]}
    assert list(utt2spk_to_spk2utt(u2s)) == ["b", "a"]
    assert spk2utt_to_utt2spk({"b": ["u3", "u2"], "a": ["u1"]}) == u2s


def test_datadir_round_trip_is_byte_identical(tmp_path):
    src = full_dir(tmp_path / "src")
    make_dir(src, {}, reco2file_and_channel="a-1 a1 A\na-2 a2 A\nb-1 b1 B\n", utt2uniq="a-1 a-1\na-2 a-2\nb-1 b-1\n")
    d = DataDir.load(src)
    assert d.utts == ["a-1", "a-2", "b-1"]
    assert d.speakers == ["a", "b"]
    assert d.wav_scp["b-1"] == "sox /data/b1.flac -t wav - |"
    assert d.utt2dur == {"a-1": 1.5, "a-2": 2.0, "b-1": 0.75}
    assert d.utt2num_frames["a-2"] == 200
    assert d.spk2utt == {"a": ["a-1", "a-2"], "b": ["b-1"]}
    assert d.reco2file_and_channel["b-1"] == ("b1", "B")
    d.save(tmp_path / "out")
    for name in os.listdir(src):
        assert (tmp_path / "out" / name).read_bytes() == (src / name).read_bytes(), name
    assert validate_data_dir(tmp_path / "out") == []


def test_segments_round_trip_and_end_to_the_end(tmp_path):
    src = make_dir(tmp_path / "src", SEGMENTED)
    d = DataDir.load(src)
    assert d.segments["b-1"] == Segment("rec2", 0.5, -1.0)
    assert d.segments["b-1"].reco == "rec2" and d.segments["b-1"].duration is None
    assert d.segments["a-2"].duration == pytest.approx(1.75)
    d.save(tmp_path / "out")
    assert (tmp_path / "out" / "segments").read_text() == "a-1 rec1 0 1.5\na-2 rec1 1.5 3.25\nb-1 rec2 0.5 -1\n"
    assert DataDir.load(tmp_path / "out").segments == d.segments
    assert validate_data_dir(src, no_feats=True) == []


def test_tabs_are_field_separators_and_are_written_as_spaces(tmp_path):
    src = make_dir(tmp_path / "src", BASE, text="a-1\tHELLO\na-2\tWORLD\nb-1\tYES NO\n")
    assert validate_data_dir(src, no_feats=True) == []
    d = DataDir.load(src)
    assert d.text["b-1"] == "YES NO"
    d.save(tmp_path / "out")
    assert (tmp_path / "out" / "text").read_text() == BASE["text"]


def test_load_errors(tmp_path):
    with pytest.raises(DataDirError, match="no such directory"):
        DataDir.load(tmp_path / "nope")
    make_dir(tmp_path / "d", BASE, utt2dur="a-1 1.5\na-2 x\nb-1 1\n")
    with pytest.raises(DataDirError, match=r"d/utt2dur:2: value 'x' is not a number"):
        DataDir.load(tmp_path / "d")
    make_dir(tmp_path / "d", BASE, utt2dur=None, segments="a-1 r 0 1\na-2 r 1\n")
    with pytest.raises(DataDirError, match=r"d/segments:2: expected 4 fields"):
        DataDir.load(tmp_path / "d")


# ----------------------------------------------------------------------------- validation

# (changes to BASE, options, the expected error: a regex that names file and line)
INVALID = {
    "no utt2spk": (dict(utt2spk=None), {}, r"/utt2spk: no such file"),
    "no spk2utt": (dict(spk2utt=None), {}, r"/spk2utt: no such file \(make it with utils/utt2spk_to_spk2utt"),
    "empty utt2spk": (dict(utt2spk=""), {}, r"/utt2spk: empty file"),
    "no final newline": (dict(utt2spk="a-1 a\na-2 a\nb-1 b"), {}, r"/utt2spk:3: the file does not end with a newline"),
    "CRLF": (dict(wav_scp="a-1 /data/a1.wav\r\na-2 /data/a2.wav\r\nb-1 /b.wav\r\n"), {},
             r"/wav.scp:1: carriage return"),
    "empty line": (dict(text="a-1 HELLO\n\na-2 WORLD\nb-1 YES\n"), {}, r"/text:2: empty line"),
    "leading blank": (dict(text="a-1 HELLO\n a-2 WORLD\nb-1 YES\n"), {}, r"/text:2: line starts with a space"),
    "bad UTF-8": (dict(text=b"a-1 HELLO\na-2 W\xc3\n"), {}, r"/text:2: not valid UTF-8"),
    "unsorted": (dict(text="a-2 WORLD\na-1 HELLO\nb-1 YES\n"), {}, r"/text:2: not sorted in C-locale"),
    "unsorted C order": (dict(text="a-1 HELLO\na-2 WORLD\nB-1 YES\n"), {}, r"/text:3: not sorted"),
    "duplicate": (dict(text="a-1 HELLO\na-1 HELLO\na-2 WORLD\nb-1 YES\n"), {}, r"/text:2: duplicate key 'a-1'"),
    "utt2spk 3 fields": (dict(utt2spk="a-1 a\na-2 a x\nb-1 b\n"), {}, r"/utt2spk:2: expected 2 fields"),
    "utt2spk not sorted by speaker": (  # speakers a and a-b are prefixes, yet a-c sorts after a-b-1
        dict(utt2spk="a-1 a\na-b-1 a-b\na-c a\n", spk2utt="a a-1 a-c\na-b a-b-1\n", text=None, wav_scp=None),
        {"no_text": True, "no_wav": True}, r"/utt2spk:3: utt2spk is not sorted by speaker: 'a' comes after 'a-b'"),
    "spk2utt wrong speaker": (dict(spk2utt="a a-1 b-1\nb a-2\n"), {},
                              r"/spk2utt:1: utterance 'b-1' is listed under speaker 'a' but .*/utt2spk:3 says 'b'"),
    "spk2utt unknown utt": (dict(spk2utt="a a-1 a-2 a-3\nb b-1\n"), {}, r"/spk2utt:1: utterance 'a-3' is not in"),
    "spk2utt twice": (dict(spk2utt="a a-1 a-2\nb b-1 a-1\n"), {}, r"/spk2utt:2: utterance 'a-1' is listed twice"),
    "spk2utt missing utt": (dict(spk2utt="a a-1\nb b-1\n"), {}, r"/utt2spk:2: utterance 'a-2' .* missing from"),
    "spk2utt empty speaker": (dict(spk2utt="a a-1 a-2\nb\n"), {}, r"/spk2utt:2: speaker 'b' has no utterances"),
    "no text": (dict(text=None), {}, r"/text: no such file \(if this is by design, specify --no-text\)"),
    "text extra utt": (dict(text="a-1 HELLO\na-2 WORLD\na-3 X\nb-1 YES\n"), {},
                       r"/text:3: utterance 'a-3' is not in .*/utt2spk"),
    "text missing utt": (dict(text="a-1 HELLO\na-2 WORLD\n"), {},
                         r"/text: no line for utterance 'b-1' \(.*/utt2spk:3\)"),
    "empty transcript": (dict(text="a-1 HELLO\na-2\nb-1 YES\n"), {}, r"/text:2: empty transcript for utterance 'a-2'"),
    "reserved symbol": (dict(text="a-1 HELLO\na-2 <s> WORLD\nb-1 YES\n"), {}, r"/text:2: .*reserved symbol '<s>'"),
    "no wav": (dict(wav_scp=None), {}, r"/wav.scp: no such file \(if this is by design, specify --no-wav\)"),
    "wav missing utt": (dict(wav_scp="a-1 /a1.wav\nb-1 /b1.wav\n"), {}, r"/wav.scp: no line for utterance 'a-2' \("),
    "wav extra utt": (dict(wav_scp="a-1 /a1.wav\na-2 /a.wav\nb-1 /b1.wav\nc /c.wav\n"), {},
                      r"/wav.scp:4: utterance 'c' is not in"),
    "wav no path": (dict(wav_scp="a-1 /a1.wav\na-2\nb-1 /b1.wav\n"), {}, r"/wav.scp:2: no path or command"),
    "tilde": (dict(wav_scp="a-1 /a1.wav\na-2 ~/a2.wav\nb-1 /b1.wav\n"), {}, r"/wav.scp:2: do not use tilde"),
    "no feats": (dict(), {"no_feats": False}, r"/feats.scp: no such file \(if this is by design, specify --no-feats\)"),
    "feats extra": (dict(feats_scp="a-1 f:1\na-2 f:2\nb-1 f:3\nb-2 f:4\n"), {}, r"/feats.scp:4: utterance 'b-2'"),
    "feats missing": (dict(feats_scp="a-1 f:1\nb-1 f:3\n"), {}, r"/feats.scp: no line for utterance 'a-2'"),
    "cmvn speakers": (dict(cmvn_scp="a c:1\nc c:2\n"), {}, r"/cmvn.scp:2: speaker 'c' is not in .*/spk2utt"),
    "cmvn missing speaker": (dict(cmvn_scp="a c:1\n"), {}, r"/cmvn.scp: no line for speaker 'b' \(.*/spk2utt:2\)"),
    "gender": (dict(spk2gender="a f\nb x\n"), {}, r"/spk2gender:2: gender 'x' should be m or f"),
    "gender speakers": (dict(spk2gender="a f\n"), {}, r"/spk2gender: no line for speaker 'b'"),
    "utt2dur zero": (dict(utt2dur="a-1 1\na-2 0\nb-1 1\n"), {}, r"/utt2dur:2: duration 0 should be > 0"),
    "utt2dur NaN-ish": (dict(utt2dur="a-1 1\na-2 1s\nb-1 1\n"), {}, r"/utt2dur:2: value '1s' is not a number"),
    "utt2dur utts": (dict(utt2dur="a-1 1\nb-1 1\n"), {}, r"/utt2dur: no line for utterance 'a-2'"),
    "utt2num_frames": (dict(utt2num_frames="a-1 10\na-2 1.5\nb-1 3\n"), {}, r"/utt2num_frames:2: '1.5' is not an int"),
    "utt2num_frames zero": (dict(utt2num_frames="a-1 10\na-2 0\nb-1 3\n"), {}, r"/utt2num_frames:2: number of frames"),
    "utt2uniq": (dict(utt2uniq="a-1 a-1\na-2 a-2 x\nb-1 b-1\n"), {}, r"/utt2uniq:2: expected 2 fields"),
    "r2fc channel": (dict(reco2file_and_channel="a-1 a A\na-2 a C\nb-1 b B\n"), {},
                     r"/reco2file_and_channel:2: channel 'C' should be A or B"),
    "r2fc recordings": (dict(reco2file_and_channel="a-1 a A\nb-1 b B\n"), {},
                        r"/reco2file_and_channel: no line for recording 'a-2' \(.*/wav.scp:2\)"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_every_validation_error_names_file_and_line(tmp_path, case):
    changes, opts, pattern = INVALID[case]
    d = make_dir(tmp_path / "data", BASE, **changes)
    kwargs = {"no_feats": True, **opts}
    with pytest.raises(DataDirError, match=pattern):
        validate_data_dir(d, **kwargs)


INVALID_SEGMENTED = {
    "segments without wav": (dict(wav_scp=None), r"/segments: segments file exists but there is no wav.scp"),
    "end before start": (dict(segments="a-1 rec1 1.0 0.5\na-2 rec1 1.5 3\nb-1 rec2 0 1\n"),
                         r"/segments:1: bad segment times"),
    "negative start": (dict(segments="a-1 rec1 0 1\na-2 rec1 -1 3\nb-1 rec2 0 1\n"), r"/segments:2: bad segment"),
    "non-numeric": (dict(segments="a-1 rec1 0 1\na-2 rec1 1 3\nb-1 rec2 0 end\n"),
                    r"/segments:3: end time 'end' is not a number"),
    "3 fields": (dict(segments="a-1 rec1 0 1\na-2 rec1 1\nb-1 rec2 0 1\n"), r"/segments:2: expected 4 fields"),
    "unknown recording": (dict(segments="a-1 rec1 0 1\na-2 rec3 1 3\nb-1 rec2 0 1\n"),
                          r"/segments:2: recording 'rec3' is not in .*/wav.scp"),
    "unused recording": (dict(segments="a-1 rec1 0 1\na-2 rec1 1 3\nb-1 rec1 3 4\n"),
                         r"/wav.scp:2: recording 'rec2' has no segments"),
    "segments utts": (dict(segments="a-1 rec1 0 1\nb-1 rec2 0 1\n"), r"/segments: no line for utterance 'a-2'"),
    "r2fc": (dict(reco2file_and_channel="rec1 rec1 A\n"), r"/reco2file_and_channel: no line for recording 'rec2'"),
}


@pytest.mark.parametrize("case", list(INVALID_SEGMENTED))
def test_segmented_dir_errors_name_file_and_line(tmp_path, case):
    changes, pattern = INVALID_SEGMENTED[case]
    d = make_dir(tmp_path / "data", SEGMENTED, **changes)
    with pytest.raises(DataDirError, match=pattern):
        validate_data_dir(d, no_feats=True)


def test_validation_options_and_warnings(tmp_path):
    assert validate_data_dir(make_dir(tmp_path / "a", BASE, text=None), no_feats=True, no_text=True) == []
    assert validate_data_dir(make_dir(tmp_path / "b", BASE, wav_scp=None), no_feats=True, no_wav=True) == []
    assert validate_data_dir(full_dir(tmp_path / "c")) == []
    d = make_dir(tmp_path / "e", BASE, text="a-1 HELLO\na-2\nb-1 YES\n")
    assert validate_data_dir(d, no_feats=True, allow_empty_text=True) == []
    with pytest.raises(DataDirError, match="no such directory"):
        validate_data_dir(tmp_path / "nope")
    one = make_dir(tmp_path / "one", BASE, utt2spk="a-1 a\na-2 a\nb-1 a\n", spk2utt="a a-1 a-2 b-1\n")
    (w,) = validate_data_dir(one, no_feats=True)
    assert "spk2utt: only one speaker" in w
    rel = make_dir(tmp_path / "rel", BASE, wav_scp="a-1 WAVE/a1.flac\na-2 WAVE/a2.flac\nb-1 cat x.wav |\n")
    (w,) = validate_data_dir(rel, no_feats=True)
    assert "wav.scp:1: 2 of 3 audio paths are relative" in w
    r2fc = make_dir(tmp_path / "r", BASE, reco2file_and_channel="a-1 a 1\na-2 a A\nb-1 b B\n")
    (w,) = validate_data_dir(r2fc, no_feats=True)
    assert "reco2file_and_channel:1: channel should be A or B, not 1" in w


def test_speaker_order_only_warns_when_speakers_are_not_prefixes(tmp_path):
    # speakers are not prefixes of the utterance ids: Kaldi's tools would fail, ours only warn
    d = make_dir(tmp_path / "d", BASE, wav_scp="u1 /1.wav\nu2 /2.wav\nu3 /3.wav\n", text="u1 A\nu2 B\nu3 C\n",
                 utt2spk="u1 s2\nu2 s1\nu3 s2\n", spk2utt="s1 u2\ns2 u1 u3\n")
    (w,) = validate_data_dir(d, no_feats=True)
    assert "utt2spk:2: utt2spk is not sorted by speaker" in w
    assert validate_data_dir(d, no_feats=True, no_spk_sort=True) == []


def test_real_corpus_validates(corpora):
    train = corpora / "speechocean762" / "train"
    warnings = validate_data_dir(train, no_feats=True)
    # its wav.scp paths are relative to the corpus root: valid, with a warning (audio is not opened)
    assert len(warnings) == 1 and "relative" in warnings[0]
    d = DataDir.load(train)
    assert len(d.utts) == 2500 and len(d.spk2utt) == 125 and d.spk2gender is not None


def test_100k_utterances_read_and_validate(tmp_path):
    """A data dir of 100k utterances validates and loads (its speed: tests/bench/datadir_io.py)."""
    from tinydata import write_large_dir

    n = 100_000
    d = tmp_path / "big"
    utts = write_large_dir(d, n)
    assert validate_data_dir(d, no_feats=True) == []
    data = DataDir.load(d)
    assert len(data.utts) == n and data.utt2dur[utts[-1]] == 3.25


# ----------------------------------------------------------------------------- fix_data_dir


def test_fix_data_dir_sorts_dedupes_intersects_and_backs_up(tmp_path):
    d = make_dir(tmp_path / "d", BASE,
                 wav_scp="b-1 /b1.wav\na-1 /a1.wav\na-2 /a2.wav\nc-1 /c1.wav\n",
                 text="a-2 WORLD\na-1 HELLO\na-1 DUPLICATE\n",  # b-1 has no transcript
                 utt2spk="a-2 a\na-1 a\nb-1 b\nc-1 c\n", spk2utt="junk x\n",
                 spk2gender="a f\nb m\nc f\n", utt2dur="a-1 1\na-2 2\nb-1 3\nc-1 4\n")
    original_text = (d / "text").read_text()
    kept, before = fix_data_dir(d)
    assert (kept, before) == (2, 4)  # b-1: no text; c-1: no text either
    assert (d / ".backup" / "text").read_text() == original_text
    assert (d / "text").read_text() == "a-1 HELLO\na-2 WORLD\n"
    assert (d / "spk2utt").read_text() == "a a-1 a-2\n"
    assert (d / "spk2gender").read_text() == "a f\n"
    assert (d / "wav.scp").read_text() == "a-1 /a1.wav\na-2 /a2.wav\n"
    assert_valid(d, no_feats=True)


def test_fix_data_dir_filters_recordings_and_speakers(tmp_path):
    d = make_dir(tmp_path / "d", SEGMENTED,
                 wav_scp="rec1 /r1.wav\nrec3 /r3.wav\n",  # rec2 gone, rec3 unused
                 cmvn_scp="a c:1\n", reco2file_and_channel="rec1 rec1 A\nrec2 rec2 B\nrec3 rec3 A\n")
    (d / "spk2age").write_text("a 30\nb 40\n")
    assert fix_data_dir(d, spk_extra_files=["spk2age"]) == (2, 3)
    assert (d / "wav.scp").read_text() == "rec1 /r1.wav\n"
    assert (d / "segments").read_text() == "a-1 rec1 0 1.5\na-2 rec1 1.5 3.25\n"
    assert (d / "reco2file_and_channel").read_text() == "rec1 rec1 A\n"
    assert (d / "spk2age").read_text() == "a 30\n"
    assert_valid(d, no_feats=True)


def test_fix_data_dir_errors(tmp_path):
    with pytest.raises(DataDirError, match="utt2spk: no such file"):
        fix_data_dir(make_dir(tmp_path / "a", BASE, utt2spk=None))
    d = make_dir(tmp_path / "b", BASE, text="x-1 NOTHING\n")
    with pytest.raises(DataDirError, match="no utterances remained"):
        fix_data_dir(d)
    assert (d / "utt2spk").read_text() == BASE["utt2spk"]  # untouched


# ----------------------------------------------------------------------------- subsets


def ten_dir(path: Path) -> Path:
    utts = [f"s{i // 5}-u{i}" for i in range(10)]
    return make_dir(path, {
        "wav.scp": "".join(f"{u} /{u}.wav\n" for u in utts),
        "text": "".join(f"{u} W{i}\n" for i, u in enumerate(utts)),
        "utt2spk": "".join(f"{u} {u[:2]}\n" for u in utts),
        "spk2utt": "s0 " + " ".join(utts[:5]) + "\ns1 " + " ".join(utts[5:]) + "\n",
        "utt2dur": "".join(f"{u} {10 - i}\n" for i, u in enumerate(utts)),
        "spk2gender": "s0 m\ns1 f\n",
    })


def test_select_utterances_matches_kaldi(tmp_path):
    data = DataDir.load(ten_dir(tmp_path / "d"))
    u = data.utts
    assert select_utterances(data, 3, "first") == u[:3]
    assert select_utterances(data, 3, "last") == u[-3:]
    assert select_utterances(data, 3, "even") == [u[4], u[6], u[9]]  # subset_scp.pl's recursive halving
    assert select_utterances(data, 10, "even") == u
    assert select_utterances(data, 2, "shortest") == ["s1-u8", "s1-u9"]
    assert select_utterances(data, 2, "per-spk") == ["s0-u0", "s0-u2", "s1-u5", "s1-u7"]
    assert select_utterances(data, 9, "per-spk") == u
    spk = select_utterances(data, 3, "speakers", seed=1)
    assert spk in (u[:5], u[5:])
    with pytest.raises(DataDirError, match="only 10"):
        select_utterances(data, 11, "first")
    data.utt2dur = None
    with pytest.raises(DataDirError, match="--shortest needs utt2dur"):
        select_utterances(data, 2, "shortest")


def test_subset_data_dir_filters_every_file(tmp_path):
    src = ten_dir(tmp_path / "src")
    out = subset_data_dir(src, tmp_path / "dst", utts=["s1-u5", "s1-u6", "nope"])
    assert out.utts == ["s1-u5", "s1-u6"]
    dst = tmp_path / "dst"
    assert (dst / "spk2gender").read_text() == "s1 f\n"
    assert (dst / "spk2utt").read_text() == "s1 s1-u5 s1-u6\n"
    assert_valid(dst, no_feats=True)
    out = subset_data_dir(src, tmp_path / "dst", speakers=["s0"])
    assert out.utts == [f"s0-u{i}" for i in range(5)]
    assert not (dst / "feats.scp").exists()
    with pytest.raises(DataDirError, match="must differ"):
        subset_data_dir(src, src, utts=[])


def test_subset_keeps_recordings_of_kept_segments(tmp_path):
    src = make_dir(tmp_path / "src", SEGMENTED)
    out = subset_data_dir(src, tmp_path / "dst", utts=["a-2"])
    assert out.wav_scp == {"rec1": "/data/rec1.wav"}
    assert out.reco2file_and_channel == {"rec1": ("rec1", "A")}
    assert_valid(tmp_path / "dst", no_feats=True)


# ----------------------------------------------------------------------------- split


def speakers_dir(path: Path, sizes: list[int]) -> Path:
    utt2spk = {f"spk{s:02d}-{i:03d}": f"spk{s:02d}" for s, n in enumerate(sizes) for i in range(n)}
    return make_dir(path, {
        "wav.scp": "".join(f"{u} /{u}.wav\n" for u in sorted(utt2spk)),
        "text": "".join(f"{u} X\n" for u in sorted(utt2spk)),
        "utt2spk": "".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())),
        "spk2utt": "".join(f"{s} {' '.join(us)}\n" for s, us in sorted(utt2spk_to_spk2utt(utt2spk).items())),
        "cmvn.scp": "".join(f"{s} c.ark:{i}\n" for i, s in enumerate(sorted(set(utt2spk.values())))),
    })


def test_split_data_per_speaker_is_speaker_disjoint_and_balanced(tmp_path):
    d = speakers_dir(tmp_path / "d", [10, 2, 2, 2, 2, 2, 3, 7])
    parts = split_data(d, 3)
    assert parts == [d / "split3" / str(k) for k in (1, 2, 3)]
    loaded = [DataDir.load(p) for p in parts]
    all_utts = [u for x in loaded for u in x.utts]
    assert sorted(all_utts) == DataDir.load(d).utts
    spk_sets = [set(x.speakers) for x in loaded]
    assert not (spk_sets[0] & spk_sets[1]) and not (spk_sets[1] & spk_sets[2]) and not (spk_sets[0] & spk_sets[2])
    sizes = [len(x.utts) for x in loaded]
    assert max(sizes) - min(sizes) <= 10
    for p in parts:
        assert_valid(p, no_feats=True)
        assert set(read_scp(p / "cmvn.scp")) == set(DataDir.load(p).speakers)


def test_split_scp_balancing_matches_kaldi(tmp_path):
    # Kaldi's split_scp.pl on speakers with 4,1,1,1,1 utterances into 2: the first assignment
    # [s0 s1 s2 | s3 s4] (6 vs 2) is balanced by moving boundary speakers: [s0 | s1 s2 s3 s4] (4 vs 4)
    d = speakers_dir(tmp_path / "d", [4, 1, 1, 1, 1])
    parts = split_data(d, 2)
    assert [DataDir.load(p).speakers for p in parts] == [["spk00"], ["spk01", "spk02", "spk03", "spk04"]]


def test_split_data_per_utt_and_errors(tmp_path):
    d = speakers_dir(tmp_path / "d", [5, 2])
    parts = split_data(d, 3, per_utt=True)
    assert parts[0] == d / "split3utt" / "1"
    assert [len(DataDir.load(p).utts) for p in parts] == [3, 2, 2]
    with pytest.raises(DataDirError, match="only 2 speakers"):
        split_data(d, 3)
    with pytest.raises(DataDirError, match="cannot split 7 utterances into 8"):
        split_data(d, 8, per_utt=True)
    with pytest.raises(DataDirError, match="must be >= 1"):
        split_data(d, 0)


def test_split_data_skips_up_to_date_parts(tmp_path):
    d = speakers_dir(tmp_path / "d", [3, 3])
    (part,) = split_data(d, 1)
    stamp = (part / "utt2spk").stat().st_mtime_ns
    time.sleep(0.01)
    split_data(d, 1)
    assert (part / "utt2spk").stat().st_mtime_ns == stamp
    time.sleep(0.01)
    (d / "text").write_text((d / "text").read_text())  # source changed: split again
    split_data(d, 1)
    assert (part / "utt2spk").stat().st_mtime_ns != stamp


# ----------------------------------------------------------------------------- combine, copy


def test_combine_data(tmp_path):
    a = make_dir(tmp_path / "a", BASE, utt2dur="a-1 1\na-2 2\nb-1 3\n")
    b = make_dir(tmp_path / "b", {
        "wav.scp": "c-1 /c1.wav\n", "utt2spk": "c-1 c\n", "spk2utt": "c c-1\n", "text": "c-1 OK\n"})
    out = combine_data(tmp_path / "all", [a, b])
    assert out.utts == ["a-1", "a-2", "b-1", "c-1"]
    assert out.utt2dur is None  # only in one source: left out
    assert not (tmp_path / "all" / "utt2dur").exists()
    assert validate_data_dir(tmp_path / "all", no_feats=True) == []
    with pytest.raises(DataDirError, match=r"b/wav.scp: utterance 'a-1' is also in .*a/wav.scp"):
        combine_data(tmp_path / "dup", [a, make_dir(tmp_path / "b", BASE)])
    with pytest.raises(DataDirError, match="must not be one of the source"):
        combine_data(a, [a, b])


def test_combine_mixed_segments_makes_whole_recording_segments(tmp_path):
    a = make_dir(tmp_path / "a", SEGMENTED)
    b = make_dir(tmp_path / "b", {"wav.scp": "c-1 /c1.wav\n", "utt2spk": "c-1 c\n", "spk2utt": "c c-1\n",
                                  "text": "c-1 OK\n", "reco2file_and_channel": "c-1 c1 A\n"})
    out = combine_data(tmp_path / "all", [a, b])
    assert out.segments["c-1"] == Segment("c-1", 0.0, -1.0)
    assert out.wav_scp == {"rec1": "/data/rec1.wav", "rec2": "/data/rec2.wav", "c-1": "/c1.wav"}
    assert validate_data_dir(tmp_path / "all", no_feats=True) == []


def test_copy_data_dir_with_prefixes(tmp_path):
    src = full_dir(tmp_path / "src")
    out = copy_data_dir(src, tmp_path / "dst", utt_prefix="x-", spk_prefix="x-", utt_suffix="-s")
    assert out.utts == ["x-a-1-s", "x-a-2-s", "x-b-1-s"]
    assert out.utt2spk["x-a-1-s"] == "x-a"
    assert out.wav_scp["x-b-1-s"] == "sox /data/b1.flac -t wav - |"
    assert out.cmvn_scp == {"x-a": "c.ark:1", "x-b": "c.ark:9"}
    assert out.spk2gender == {"x-a": "f", "x-b": "m"}
    assert out.utt2dur["x-a-2-s"] == 2.0
    assert validate_data_dir(tmp_path / "dst") == []
    seg = copy_data_dir(make_dir(tmp_path / "seg", SEGMENTED), tmp_path / "seg2", utt_prefix="p-", spk_prefix="p-")
    assert seg.segments["p-a-1"] == Segment("rec1", 0.0, 1.5)  # recording ids stay
    assert seg.wav_scp == DataDir.load(tmp_path / "seg").wav_scp


# ----------------------------------------------------------------------------- speed perturbation


def test_perturb_speed_without_segments(tmp_path):
    src = make_dir(tmp_path / "src", BASE,
                   wav_scp="a-1 /data/a1.wav\na-2 /data/my a2.flac\nb-1 sox /b.flac -t wav - |\n",
                   utt2dur="a-1 1.8\na-2 0.9\nb-1 2.7\n", spk2gender="a f\nb m\n",
                   feats_scp="a-1 f:1\na-2 f:2\nb-1 f:3\n")
    out = perturb_data_dir_speed("0.9", src, tmp_path / "sp")
    assert out.utts == ["sp0.9-a-1", "sp0.9-a-2", "sp0.9-b-1"]
    assert out.utt2spk["sp0.9-a-1"] == "sp0.9-a"
    assert out.spk2gender == {"sp0.9-a": "f", "sp0.9-b": "m"}
    assert out.wav_scp == {
        "sp0.9-a-1": "sox -t wav /data/a1.wav -t wav - speed 0.9 |",
        "sp0.9-a-2": "sox -t flac '/data/my a2.flac' -t wav - speed 0.9 |",
        "sp0.9-b-1": "sox /b.flac -t wav - | sox -t wav - -t wav - speed 0.9 |",
    }
    assert out.utt2dur == {"sp0.9-a-1": 2.0, "sp0.9-a-2": 1.0, "sp0.9-b-1": 3.0}
    assert out.utt2uniq == {"sp0.9-a-1": "a-1", "sp0.9-a-2": "a-2", "sp0.9-b-1": "b-1"}
    assert out.text["sp0.9-b-1"] == "YES NO"
    assert out.feats_scp is None and not (tmp_path / "sp" / "feats.scp").exists()
    assert validate_data_dir(tmp_path / "sp", no_feats=True) == []
    with pytest.raises(DataDirError, match="different"):
        perturb_data_dir_speed(1.1, src, src)
    with pytest.raises(DataDirError, match="invalid speed factor"):
        perturb_data_dir_speed("fast", src, tmp_path / "x")


def test_perturb_speed_with_segments(tmp_path):
    src = make_dir(tmp_path / "src", SEGMENTED)
    out = perturb_data_dir_speed(1.1, src, tmp_path / "sp", compute_durations=False)
    assert out.wav_scp == {"sp1.1-rec1": "sox -t wav /data/rec1.wav -t wav - speed 1.1 |",
                           "sp1.1-rec2": "sox -t wav /data/rec2.wav -t wav - speed 1.1 |"}
    assert out.segments == {"sp1.1-a-1": Segment("sp1.1-rec1", 0.0, 1.36),
                            "sp1.1-a-2": Segment("sp1.1-rec1", 1.36, 2.95),
                            "sp1.1-b-1": Segment("sp1.1-rec2", 0.45, -1.0)}
    assert out.reco2file_and_channel == {"sp1.1-rec1": ("rec1", "A"), "sp1.1-rec2": ("rec2", "B")}
    assert out.utt2dur is None
    assert validate_data_dir(tmp_path / "sp", no_feats=True) == []


# ----------------------------------------------------------------------------- utt2dur from audio


def test_compute_utt2dur(tmp_path):
    if not (Path(__file__).resolve().parents[1] / "asr" / "audio.py").is_file():
        pytest.skip("asr/audio.py (utterance_durations) is not written yet")
    np = pytest.importorskip("numpy")
    sf = pytest.importorskip("soundfile")
    wav = tmp_path / "audio"
    wav.mkdir()
    sf.write(wav / "a.wav", np.zeros(8000, dtype="float32"), 8000)
    sf.write(wav / "b.wav", np.zeros(4000, dtype="float32"), 16000)
    d = make_dir(tmp_path / "d", {"wav.scp": "a audio/a.wav\nb audio/b.wav\n", "utt2spk": "a a\nb b\n",
                                  "spk2utt": "a a\nb b\n"})
    durs = compute_utt2dur(d, root=tmp_path)
    assert durs == {"a": pytest.approx(1.0), "b": pytest.approx(0.25)}
    assert DataDir.load(d).utt2dur == durs
    shutil.rmtree(d)


# ----------------------------------------------------------------------------- the CLI in-process


def test_cli_main_for(tmp_path, capsys):
    from asr.cli.datadir_tools import main_for

    d = make_dir(tmp_path / "d", BASE)
    assert main_for("validate-data-dir", ["--no-feats", str(d)]) == 0
    with pytest.raises(DataDirError, match=r"feats.scp: no such file"):
        main_for("validate-data-dir", [str(d)])
    assert main_for("copy-data-dir", ["--utt-prefix", "-p", "--spk-prefix=-p", str(d), str(tmp_path / "c")]) == 0
    assert DataDir.load(tmp_path / "c").utts == ["-pa-1", "-pa-2", "-pb-1"]
    assert main_for("subset-data-dir", ["--first", str(d), "2", str(tmp_path / "s")]) == 0
    assert DataDir.load(tmp_path / "s").utts == ["a-1", "a-2"]
    with pytest.raises(SystemExit):
        main_for("subset-data-dir", ["--first", str(d), "zero", str(tmp_path / "s")])
    assert main_for("utt2spk-to-spk2utt", [str(d / "utt2spk")]) == 0
    assert capsys.readouterr().out == BASE["spk2utt"]
