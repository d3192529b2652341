"""Decision trees and triphone systems: Kaldi's tree files, statistics, splitting, clustering,
alignment conversion and ``train_deltas`` on synthetic data with a context effect (phone B sounds
different after W than after T, which a monophone B can only model as a mixture)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hmmdata import ARPA, context_dir, context_lang

REPO = Path(__file__).resolve().parents[2]


def _bytes(ctx) -> bytes:
    return bytes(b % 256 for b in ctx.__getstate__()[0])


def test_gauss_objf_is_kaldis():
    import kaldi_hmm_gmm as khg

    from asr.gmm.tree import gauss_objf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) * np.array([3.0, 1.0, 0.05, 2.0, 0.5, 1.0])  # one variance under the floor
    ref = khg.GaussClusterable(x.sum(0)[:, None], (x * x).sum(0)[:, None], 0.01, 40.0).objf()
    assert gauss_objf(40.0, x.sum(0), (x * x).sum(0)) == pytest.approx(ref, rel=1e-6)
    assert gauss_objf(np.zeros(2), np.zeros((2, 6)), np.zeros((2, 6))).tolist() == [0.0, 0.0]


def test_monophone_tree_bytes_equal_kaldis_and_text_reads_back(tmp_path):
    """Our serialisation of a monophone tree is byte for byte kaldi-hmm-gmm's, and Kaldi's text
    tree read back gives the same object."""
    import kaldi_hmm_gmm as khg

    from asr.gmm.tree import Leaf, Table, context_dependency, read_tree

    phones, npc = [1, 2, 3], [0, 5, 3, 3]
    ref = khg.monophone_context_dependency(phones=phones, phone2num_pdf_classes=npc)
    pdf, kids = 0, [None]
    for p in phones:
        kids.append(Table(-1, [Leaf(np.array([]), pdf=pdf + k) for k in range(npc[p])]))
        pdf += npc[p]
    mine = context_dependency(Table(0, kids), N=1, P=0)
    assert _bytes(mine) == _bytes(ref)
    ref.write(binary=False, filename=str(tmp_path / "tree"))
    assert _bytes(read_tree(tmp_path / "tree")) == _bytes(ref)
    ref.write(binary=True, filename=str(tmp_path / "tree.bin"))  # Kaldi's build-tree writes binary trees
    assert (tmp_path / "tree.bin").read_bytes().startswith(b"\0B")
    assert _bytes(read_tree(tmp_path / "tree.bin")) == _bytes(ref)


def test_bad_tree_files_are_named(tmp_path):
    from asr.gmm.tree import TreeError, read_tree

    for body in ("", "ContextDependency 3 1 ToPdf TE 1 2 ( NULL CE 0", "ContextDependency 3 1 ToPdf XX 0 )"):
        (tmp_path / "tree").write_text(body)
        with pytest.raises(TreeError, match=str(tmp_path / "tree")):
            read_tree(tmp_path / "tree")
    for raw in (b"\0B<TransitionModel> ", b"\xff\xfe\x00"):
        (tmp_path / "tree").write_bytes(raw)
        with pytest.raises(TreeError, match="not a"):
            read_tree(tmp_path / "tree")
    with pytest.raises(TreeError, match="cannot read"):
        read_tree(tmp_path / "none")


def _stats(events, means, counts, dim=2, seed=0):
    """TreeStats of Gaussian frames: per event, ``count`` frames near ``mean`` (unit variance)."""
    from asr.gmm.tree import TreeStats

    rng = np.random.default_rng(seed)
    xs, x2s = [], []
    for m, c in zip(means, counts):
        f = rng.normal(size=(c, dim)) + np.asarray(m, dtype=np.float64)
        xs.append(f.sum(0))
        x2s.append((f * f).sum(0))
    return TreeStats(np.asarray(events, dtype=np.int64), np.asarray(counts, dtype=np.float64), np.stack(xs),
                     np.stack(x2s))


def test_build_tree_splits_on_the_context_that_matters_and_merges_what_is_alike():
    """Phone 2's frames depend on its left phone (1 or 3); its right phone and the pdf class do
    not matter. The first split is a question about the left phone, the tree agrees with
    kaldi-hmm-gmm's ContextDependency on every event, and with a high clustering threshold the
    leaves that were split for nothing merge back."""
    from asr.gmm.tree import build_tree, compile_questions, context_dependency, lookup

    events, means, counts = [], [], []
    for left in (1, 3):
        for right in (0, 1, 3):
            for pc in (0, 1, 2):
                events.append([left, 2, right, pc])
                means.append([5.0, 0.0] if left == 1 else [-5.0, 0.0])
                counts.append(200)
    for p in (1, 3):  # the other phones, context-free
        for pc in (0, 1, 2):
            events.append([0, p, 0, pc])
            means.append([0.0, 3.0 * p])
            counts.append(200)
    stats = _stats(events, means, counts)
    q = compile_questions([[1], [3], [1, 3], [2]], [], 3, 3)
    roots = [(True, True, [1]), (True, True, [2]), (True, True, [3])]
    tree, npdf, info = build_tree(stats, roots, q, [0, 3, 3, 3], max_leaves=10, thresh=50.0, cluster_thresh=0)
    node = tree.children[2]
    assert node.key == 0 and set(node.values) in ({1}, {3}, {1, 3})
    ctx = context_dependency(tree)
    assert ctx.context_width == 3 and ctx.central_position == 1 and ctx.num_pdfs == npdf
    for e in stats.events:
        ok, pdf = ctx.compute([int(v) for v in e[:3]], int(e[3]))
        assert ok and pdf == lookup(tree, {0: int(e[0]), 1: int(e[1]), 2: int(e[2]), -1: int(e[3])})
    pdf_after = {left: ctx.compute([left, 2, 0], 1)[1] for left in (1, 3)}
    assert pdf_after[1] != pdf_after[3]
    # a threshold above every split's gain leaves one pdf per root; the default (-1) keeps the
    # context split, whose gain is far above the last one
    _, n_merged, _ = build_tree(stats, roots, q, [0, 3, 3, 3], max_leaves=10, thresh=50.0, cluster_thresh=1e9)
    assert n_merged == 3
    t2, n2, _ = build_tree(stats, roots, q, [0, 3, 3, 3], max_leaves=10, thresh=50.0)
    c2 = context_dependency(t2)
    assert c2.compute([1, 2, 0], 1)[1] != c2.compute([3, 2, 0], 1)[1] and n2 <= npdf
    # not-shared roots split on the pdf class first; not-split roots stay one leaf per class
    t3, n3, _ = build_tree(stats, [(False, False, [1]), (True, True, [2]), (False, False, [3])], q, [0, 3, 3, 3],
                           max_leaves=0, thresh=50.0, cluster_thresh=0)
    c3 = context_dependency(t3)
    assert len({c3.compute([0, 1, 0], k)[1] for k in range(3)}) == 3


@pytest.fixture(scope="module")
def tri(tmp_path_factory):
    from asr.gmm.feats import FeatOpts
    from asr.gmm.train import DeltasConfig, MonoConfig, train_deltas, train_mono
    from asr.graph.hclg import format_lm, make_graph

    tmp = tmp_path_factory.mktemp("tri")
    context_dir(tmp / "train", 40, seed=0)
    test_text = context_dir(tmp / "test", 10, seed=1)
    lang = context_lang(tmp)
    (tmp / "lm.arpa").write_text(ARPA)
    format_lm(lang, tmp / "lm.arpa", tmp / "lang_test")
    mono = tmp / "exp" / "mono"
    train_mono(tmp / "train", lang, mono, MonoConfig(num_iters=10, max_iter_inc=6, totgauss=30,
                                                    realign_iters="1 2 3 5 7"), FeatOpts(num_ceps=0, delta_order=1))
    exp = tmp / "exp" / "tri1"
    model = train_deltas(tmp / "train", lang, mono, exp, DeltasConfig(num_iters=8, max_iter_inc=5, totgauss=60,
                                                                      realign_iters="3 6", num_leaves=30,
                                                                      thresh=20.0))
    make_graph(tmp / "lang_test", exp, exp / "graph")
    return tmp, lang, mono, exp, model, test_text


def test_triphone_tree_finds_the_context_and_files_round_trip(tri):
    import torch

    from asr.gmm.model import GmmModel
    from asr.graph.lang import read_symbols

    tmp, lang, mono, exp, model, _ = tri
    ph = read_symbols(lang / "phones.txt")
    assert model.tree.context_width == 3 and model.tree.central_position == 1
    assert model.num_pdfs > GmmModel.load(mono / "final.mdl", mono / "tree").num_pdfs
    # B's middle state: a pdf of its own after W and after T (the synthetic context effect)
    b_after = {w: model.tree.compute([ph[w], ph["B"], ph["SIL"]], 1)[1] for w in ("W", "T")}
    assert b_after["W"] != b_after["T"]
    assert (exp / "tree").read_text().startswith("ContextDependency 3 1 ToPdf")
    again = GmmModel.load(exp / "final.mdl", exp / "tree")
    assert again.info() == model.info()
    x = torch.randn(model.dim)
    for pdf in range(model.num_pdfs):
        assert again.am.log_likelihood(pdf, x) == pytest.approx(model.am.log_likelihood(pdf, x), abs=1e-3)
    assert (exp / "questions.int").is_file() and (exp / "ali.1.gz").is_file()
    log = (exp / "log" / "train.log").read_text()
    assert "tree: {" in log and "done:" in log


def test_converted_alignments_keep_phones_and_frames(tri):
    from asr.gmm.ali import ali_to_phones
    from asr.gmm.model import GmmModel
    from asr.gmm.train import read_alignments
    from asr.gmm.tree import convert_alignments

    tmp, lang, mono, exp, model, _ = tri
    old = GmmModel.load(mono / "final.mdl", mono / "tree")
    alis = dict(list(read_alignments(mono / "ali.1.gz").items())[:5])
    converted = convert_alignments(old, model, alis)
    assert list(converted) == list(alis)
    for utt, ali in alis.items():
        new = converted[utt]
        assert len(new) == len(ali)
        assert [(s.phone, s.start, s.frames) for s in ali_to_phones(model, new)] == \
               [(s.phone, s.start, s.frames) for s in ali_to_phones(old, ali)]
        assert [model.tm.is_self_loop(int(t)) for t in new] == [old.tm.is_self_loop(int(t)) for t in ali]


def test_triphone_system_recognises_every_word_and_beats_mono_likelihood(tri):
    from asr.gmm.decode import decode

    tmp, lang, mono, exp, model, test_text = tri
    hyps = decode(exp / "graph", tmp / "test", exp / "decode_test", lm_weights=["10"], word_ins_penalties=["0.0"])
    assert hyps == test_text
    like = {}
    for d in (mono, exp):
        last = [ln for ln in (d / "log" / "train.log").read_text().splitlines() if ln.startswith("pass ")][-1]
        like[d.name] = float(last.split("per frame ")[1].split()[0])
    assert like["tri1"] > like["mono"]


def test_train_deltas_script_and_bad_inputs(tri, tmp_path):
    tmp, lang, mono, _, _, _ = tri
    for name in ("steps", "utils"):
        (tmp_path / name).symlink_to(REPO / "recipes" / name)
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    r = subprocess.run(["steps/train_deltas.sh", "--num-iters", "4", "--realign-iters", "2", "--thresh", "20", "20",
                        "50", str(tmp / "train"), str(lang), str(mono), "exp/tri1"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "train_deltas.sh: done:" in r.stdout
    assert (tmp_path / "exp" / "tri1" / "final.mdl").is_file()
    r = subprocess.run(["steps/train_deltas.sh", "20", "50", str(tmp / "train"), str(lang), str(tmp_path / "nope"),
                        "exp/tri2"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "nope/final.mdl" in r.stderr
