"""Feature storage: ark/scp round trip, kaldiio reading what we wrote, atomic writes."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from asr.features.io import FeatsError, FeatsReader, read_feats, write_feats


def _items(n: int = 3) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(f"utt{i}", rng.normal(size=(5 + i, 4)).astype(np.float32)) for i in range(n)]


def test_round_trip_and_kaldiio_reads_it(tmp_path):
    ark, scp = tmp_path / "raw_fbank_x.1.ark", tmp_path / "raw_fbank_x.1.scp"
    items = _items()
    written = write_feats(ark, scp, items)
    assert list(written) == ["utt0", "utt1", "utt2"]
    lines = scp.read_text().splitlines()
    assert lines[0].split()[1].startswith(f"{ark}:")  # offsets point at the final archive name
    for (key, mat), (k2, m2) in zip(items, kaldiio.load_ark(str(ark))):
        assert key == k2
        np.testing.assert_array_equal(mat, m2)
    loaded = kaldiio.load_scp(str(scp))
    reader = FeatsReader(dict(line.split(maxsplit=1) for line in lines))
    assert len(reader) == 3 and list(reader) == ["utt0", "utt1", "utt2"] and reader.dim() == 4
    for key, mat in items:
        np.testing.assert_array_equal(loaded[key], mat)
        np.testing.assert_array_equal(reader[key], mat)
        np.testing.assert_array_equal(read_feats(written[key]), mat)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_compressed_archive_is_close(tmp_path):
    items = _items()
    write_feats(tmp_path / "a.ark", tmp_path / "a.scp", items, compress=True)
    raw = (tmp_path / "a.ark").read_bytes()
    assert b"CM" in raw[:20]  # Kaldi compressed-matrix token
    loaded = kaldiio.load_scp(str(tmp_path / "a.scp"))
    for key, mat in items:
        np.testing.assert_allclose(loaded[key], mat, atol=0.05)


def test_failure_leaves_previous_outputs_untouched(tmp_path):
    ark, scp = tmp_path / "a.ark", tmp_path / "a.scp"
    write_feats(ark, scp, _items())
    before = (ark.read_bytes(), scp.read_text())

    def broken():
        yield "good", np.zeros((2, 4), dtype=np.float32)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_feats(ark, scp, broken())
    assert (ark.read_bytes(), scp.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ark", "a.scp"]


def test_bad_key_and_unreadable_entry(tmp_path):
    with pytest.raises(FeatsError, match="bad key"):
        write_feats(tmp_path / "a.ark", None, [("a b", np.zeros((1, 1), dtype=np.float32))])
    with pytest.raises(FeatsError, match="cannot read"):
        read_feats(f"{tmp_path}/missing.ark:12")
    with pytest.raises(FeatsError, match="utterance u1"):
        FeatsReader({"u1": f"{tmp_path}/missing.ark:12"})["u1"]
