"""Monophone HMM-GMM training and forced alignment, Kaldi's way, on ``kaldi-hmm-gmm``.

:func:`train_mono` is Kaldi's ``steps/train_mono.sh``: a flat start (``gmm-init-mono`` on the first
10 utterances), training graphs from ``L.fst`` and the transcripts (``compile-train-graphs``),
equally spaced alignments (``align-equal-compiled``), then ``num_iters`` passes of
accumulate + re-estimate (``gmm-acc-stats-ali``, ``gmm-est``), realigning on ``realign_iters``
(``gmm-align-compiled`` with the silence pdfs boosted) and splitting Gaussians towards
``totgauss`` over the first ``max_iter_inc`` passes. :func:`align` is ``steps/align_si.sh``.
Alignments are transition ids, one per frame, in Kaldi's ``ali.1.gz`` archive (gzipped binary
``int32`` vectors; ``kaldiio.load_ark`` reads them).
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.datadir import DataDir
from asr.errors import AsrError
from asr.fileio import atomic_write
from asr.gmm.feats import FeatOpts, load_features
from asr.gmm.model import GmmModel, single_gaussian
from asr.graph.lang import read_int_list, read_symbols

log = logging.getLogger(__name__)

KALDI_MONO_REALIGN = "1 2 3 4 5 6 7 8 9 10 12 14 16 18 20 23 26 29 32 35 38"
KALDI_DELTAS_REALIGN = "10 20 30"


@dataclass
class MonoConfig:
    """Options of :func:`train_mono` (Kaldi ``steps/train_mono.sh``'s defaults).

    Attributes:
        num_iters: training passes.
        max_iter_inc: passes over which the Gaussians grow to ``totgauss``.
        totgauss: target number of Gaussians.
        realign_iters: passes (space-separated) that start with a realignment.
        power: exponent of the occupancy that shares the Gaussians among pdfs.
        boost_silence: factor on the silence pdfs' weights while aligning.
        beam, retry_beam: alignment beams (Kaldi: 6 and 4 x 6).
        careful: check that the alignment reaches the graph's final state (Kaldi's ``--careful``).
        transition_scale, acoustic_scale, self_loop_scale: Kaldi's ``scale_opts``.
        init_utts: utterances whose statistics initialise the Gaussians (Kaldi: 10).
        seed: random perturbation of split Gaussians (the only randomness: runs repeat exactly).
    """

    num_iters: int = 40
    max_iter_inc: int = 30
    totgauss: int = 1000
    realign_iters: str = KALDI_MONO_REALIGN
    power: float = 0.25
    boost_silence: float = 1.0
    beam: float = 6.0
    retry_beam: float = 24.0
    careful: bool = False
    transition_scale: float = 1.0
    acoustic_scale: float = 0.1
    self_loop_scale: float = 0.1
    init_utts: int = 10
    seed: int = 0


def read_transcripts(data: DataDir, lang_dir: Path) -> dict[str, list[int]]:
    """Word ids of every transcript, unknown words mapped to the lang dir's OOV word (Kaldi's
    ``sym2int.pl --map-oov``), with a count of the mapped words in the log."""
    words = read_symbols(lang_dir / "words.txt")
    oov = (lang_dir / "oov.txt").read_text(encoding="utf-8").split()[0]
    n_oov = 0
    out: dict[str, list[int]] = {}
    for utt, text in (data.text or {}).items():
        ids = []
        for w in text.split():
            if w not in words:
                n_oov += 1
                w = oov
            ids.append(words[w])
        out[utt] = ids
    if n_oov:
        log.warning("%s/text: %d words not in %s/words.txt mapped to %s", data.path, n_oov, lang_dir, oov)
    return out


class GraphCompiler:
    """Training graphs (HMM states of a transcript with optional silence) for one model."""

    def __init__(self, model: GmmModel, lang_dir: Path) -> None:
        import kaldi_hmm_gmm as khg
        import kaldifst

        self.lex = kaldifst.StdVectorFst.read(str(lang_dir / "L.fst"))
        kaldifst.arcsort(self.lex, sort_type="olabel")
        disambig = read_int_list(lang_dir / "phones" / "disambig.int")
        opts = khg.TrainingGraphCompilerOptions()
        # As Kaldi's compile-train-graphs: no transition probabilities in the graphs; the aligner adds
        # them, scaled, from the current model (kaldi-hmm-gmm's defaults of 1.0 count them twice)
        opts.transition_scale = 0.0
        opts.self_loop_scale = 0.0
        self.gc = khg.TrainingGraphCompiler(trans_model=model.tm, ctx_dep=model.tree, lex_fst=self.lex,
                                            disambig_syms=disambig, opts=opts)

    def compile(self, word_ids: list[int]):
        return self.gc.compile_graph_from_text(word_ids)


def equal_alignment(graph, num_frames: int) -> list[int] | None:
    """Kaldi's ``align-equal-compiled``: a path through the graph with frames shared out equally;
    None when the utterance has fewer frames than the path needs."""
    import kaldifst

    ok, fst = kaldifst.equal_align(ifst=graph, length=num_frames, rand_seed=3, num_retries=10)
    if not ok:
        return None
    ok, ali, _, _ = kaldifst.get_linear_symbol_sequence(fst)
    return list(ali) if ok else None


def align_utterance(model: GmmModel, graph, feats: np.ndarray, cfg: MonoConfig, utt: str,
                    am=None) -> list[int] | None:
    """Viterbi alignment of one utterance to its training graph (``gmm-align-compiled``);
    None when it fails even with the retry beam."""
    import kaldi_hmm_gmm as khg
    import torch

    g = graph.copy()
    khg.add_transition_probs(trans_model=model.tm, transition_scale=cfg.transition_scale,
                             self_loop_scale=cfg.self_loop_scale, fst=g)
    dec = khg.DecodableAmDiagGmmScaled(am=am if am is not None else model.am, tm=model.tm,
                                       feats=torch.from_numpy(feats), scale=cfg.acoustic_scale)
    conf = khg.AlignConfig()
    conf.beam, conf.retry_beam, conf.careful = cfg.beam, cfg.retry_beam, cfg.careful
    done, err, _, _, _, ali, _ = khg.align_utterance_wrapper(
        config=conf, utt=utt, acoustic_scale=cfg.acoustic_scale, fst=g, decodable=dec,
        num_done=0, num_error=0, num_retried=0, tot_like=0.0, frame_count=0)
    return list(ali) if done and not err and len(ali) == feats.shape[0] else None


def boost_silence(model: GmmModel, silence_phones: list[int], boost: float):
    """A copy of the GMMs with the silence pdfs' weights times ``boost`` (``gmm-boost-silence``)."""
    import kaldi_hmm_gmm as khg
    import torch

    am = khg.AmDiagGmm()
    am.copy_from_am_diag_gmm(model.am)
    if boost == 1.0:
        return am
    _, pdfs = khg.get_pdfs_for_phones(model.tm, sorted(silence_phones))
    for pdf in pdfs:
        g = am.get_pdf(pdf)
        g.set_weights(torch.from_numpy(np.asarray(g.weights)) * boost)
        g.compute_gconsts()
    return am


def accumulate(model: GmmModel, feats: dict[str, np.ndarray], alis: dict[str, list[int]]):
    """Statistics for one re-estimation (``gmm-acc-stats-ali``): GMM accumulators, transition
    counts and the total log-likelihood and frames."""
    import kaldi_hmm_gmm as khg
    import torch

    accs = khg.AccumAmDiagGmm()
    accs.init(model=model.am, flags=khg.GmmUpdateFlags.kGmmAll)
    tstats = model.tm.init_stats()
    tid2pdf = model.tm.transition_id_to_pdf_array()  # index: transition id
    like, frames = 0.0, 0
    for utt, ali in alis.items():
        x = torch.from_numpy(feats[utt])
        for t, tid in enumerate(ali):
            tstats = model.tm.accumulate(prob=1.0, trans_id=tid, stats=tstats)
            like += accs.accumulate_for_gmm(model=model.am, data=x[t], gmm_index=tid2pdf[tid], weight=1.0)
        frames += len(ali)
    return accs, tstats, like, frames


def split_targets(occs: np.ndarray, target: int, power: float, min_count: float) -> list[int]:
    """Gaussians per pdf after mixing up to ``target`` in all (Kaldi's ``GetSplitTargets``): one more
    at a time to the pdf with the largest occupancy^power per Gaussian, while each keeps at least
    ``min_count`` frames per Gaussian."""
    import heapq

    counts = [1] * len(occs)
    heap = [(-(float(o) ** power), i) for i, o in enumerate(occs)]
    heapq.heapify(heap)
    for _ in range(len(occs), target):
        if not heap:
            break
        _, i = heapq.heappop(heap)
        if (counts[i] + 1) * min_count >= occs[i]:
            continue  # too few frames for another Gaussian: never again
        counts[i] += 1
        heapq.heappush(heap, (-(float(occs[i]) ** power) / counts[i], i))
    return counts


def split_gmm(gmm, target: int, perturb_factor: float, rng: np.random.Generator) -> None:
    """Split a diagonal GMM in place to ``target`` components (Kaldi's ``DiagGmm::Split``): the
    heaviest component is halved into two whose means move apart by ``perturb_factor`` standard
    deviations along a random direction. Seeded here (kaldi-hmm-gmm's own split draws from
    ``std::random_device``, so its runs do not repeat)."""
    import kaldi_hmm_gmm as khg
    import torch

    w = np.asarray(gmm.weights, dtype=np.float64).copy()
    iv = np.asarray(gmm.inv_vars, dtype=np.float64).copy()
    mu = np.asarray(gmm.means, dtype=np.float64).copy()
    while w.size < target:
        k = int(np.argmax(w))
        delta = perturb_factor * rng.standard_normal(mu.shape[1]) / np.sqrt(iv[k])
        w[k] /= 2.0
        w = np.append(w, w[k])
        mu = np.vstack([mu, mu[k] + delta])
        mu[k] -= delta
        iv = np.vstack([iv, iv[k]])
    new = khg.DiagGmm(nmix=int(w.size), dim=int(mu.shape[1]))
    new.set_weights(torch.tensor(w, dtype=torch.float32))
    new.set_invvars(torch.tensor(iv, dtype=torch.float32))
    new.set_means(torch.tensor(mu, dtype=torch.float32))
    new.compute_gconsts()
    gmm.copy_from_diag_gmm(new)


def estimate(model: GmmModel, accs, tstats, mixup: int, power: float, min_gaussian_occupancy: float = 10.0,
             perturb_factor: float = 0.01, min_count: float = 20.0, rng: np.random.Generator | None = None) -> None:
    """Maximum-likelihood update of transitions and GMMs, then Gaussian splitting (``gmm-est``)."""
    import kaldi_hmm_gmm as khg

    model.tm.mle_update(tstats, khg.MleTransitionUpdateConfig())
    opts = khg.MleDiagGmmOptions()
    opts.min_gaussian_occupancy = min_gaussian_occupancy
    khg.mle_am_diag_gmm_update(config=opts, amdiag_gmm_acc=accs, flags=khg.str_to_gmm_flags("mvwt"),
                               am_gmm=model.am)
    if mixup > model.num_gauss:
        rng = rng if rng is not None else np.random.default_rng(0)
        occs = np.array([float(np.sum(accs.get_acc(i).occupancy)) for i in range(accs.num_accs)])
        for pdf, n in enumerate(split_targets(occs, mixup, power, min_count)):
            g = model.am.get_pdf(pdf)
            if g.num_gauss < n:
                split_gmm(g, n, perturb_factor, rng)


def write_alignments(path: str | os.PathLike, alis: dict[str, list[int]]) -> None:
    """Kaldi's ``ark:|gzip -c > ali.1.gz``: binary int32 vectors, gzipped, written atomically."""
    import kaldiio

    buf = io.BytesIO()
    kaldiio.save_ark(buf, {u: np.asarray(a, dtype=np.int32) for u, a in alis.items()})
    with atomic_write(path, "wb") as f:
        f.write(gzip.compress(buf.getvalue(), mtime=0))


def read_alignments(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an ``ali.N.gz`` archive: utterance -> transition ids."""
    import kaldiio

    try:
        with gzip.open(path, "rb") as f:
            return {k: np.asarray(v, dtype=np.int32) for k, v in kaldiio.load_ark(io.BytesIO(f.read()))}
    except (OSError, EOFError, ValueError) as e:
        raise AsrError(f"{path}: cannot read alignments: {e}") from e


def _log_line(fh, msg: str) -> None:
    log.info("%s", msg)
    if fh is not None:
        fh.write(msg + "\n")
        fh.flush()


def _realign(model, graphs, feats, cfg, sil_phones, where: str) -> dict[str, list[int]]:
    am = boost_silence(model, sil_phones, cfg.boost_silence)
    new: dict[str, list[int]] = {}
    failed = []
    for utt, g in graphs.items():
        a = align_utterance(model, g, feats[utt], cfg, utt, am=am)
        if a is None:
            failed.append(utt)
        else:
            new[utt] = a
    if failed:
        log.warning("%s: %d utterances did not align (left out of this pass): %s", where, len(failed),
                    " ".join(failed[:10]) + (" ..." if len(failed) > 10 else ""))
    return new


def _em_passes(model: GmmModel, graphs: dict, feats: dict, alis: dict, cfg: MonoConfig, sil_phones: list[int], fh,
               where: str) -> dict[str, list[int]]:
    """Passes 1 .. ``num_iters - 1`` of accumulate + re-estimate, realigning first on
    ``realign_iters`` and growing the Gaussians evenly from the model's count towards ``totgauss``
    up to pass ``max_iter_inc`` (split perturbations seeded by ``cfg.seed``); returns the last
    alignments."""
    rng = np.random.default_rng(cfg.seed)
    numgauss = model.num_gauss
    incgauss = max(0, (cfg.totgauss - numgauss) // max(cfg.max_iter_inc, 1))
    realign = {int(x) for x in cfg.realign_iters.split()}
    like = 0.0
    for it in range(1, cfg.num_iters):
        if it in realign:
            alis = _realign(model, graphs, feats, cfg, sil_phones, f"pass {it}")
        accs, tstats, like, frames = accumulate(model, feats, alis)
        estimate(model, accs, tstats, mixup=numgauss, power=cfg.power, rng=rng)
        _log_line(fh, f"pass {it}: log-likelihood per frame {like / max(frames, 1):.4f} over {frames} frames"
                      f"{' (realigned)' if it in realign else ''}; {model.num_gauss} Gaussians")
        if it <= cfg.max_iter_inc:
            numgauss += incgauss
    if not math.isfinite(like):
        raise AsrError(f"{where}: training diverged (log-likelihood {like})")
    return alis


def _write_model_dir(out: Path, model: GmmModel, opts: FeatOpts, alis: dict[str, list[int]], lang: Path) -> None:
    """A model dir in Kaldi's layout: final.mdl, tree, ali.1.gz, the feature options, num_jobs, phones.txt."""
    model.save(out / "final.mdl", out / "tree")
    write_alignments(out / "ali.1.gz", alis)
    opts.save(out)
    with atomic_write(out / "num_jobs") as f:
        f.write("1\n")
    (out / "phones.txt").write_bytes((lang / "phones.txt").read_bytes())


def train_mono(data_dir: str | os.PathLike, lang_dir: str | os.PathLike, exp_dir: str | os.PathLike,
               cfg: MonoConfig | None = None, feat_opts: FeatOpts | None = None) -> GmmModel:
    """Train a monophone system into ``exp_dir`` (``final.mdl``, ``tree``, ``ali.1.gz``,
    ``cmvn_opts``, ``delta_opts``, ``phones.txt``, ``num_jobs``, ``log/train.log``; Kaldi's layout).

    Raises:
        AsrError: bad inputs (named), or no utterance that can be aligned.
    """
    cfg = cfg or MonoConfig()
    feat_opts = feat_opts or FeatOpts()
    lang, out = Path(lang_dir), Path(exp_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    data = DataDir.load(data_dir)
    if not data.text:
        raise AsrError(f"{data_dir}/text: training needs transcripts")
    feats = load_features(data_dir, feat_opts)
    trans = read_transcripts(data, lang)
    utts = [u for u in feats if u in trans]
    first = utts[: cfg.init_utts]
    stack = np.concatenate([feats[u] for u in first]).astype(np.float64)
    model = GmmModel.init_mono((lang / "topo").read_text(), stack.mean(0), stack.var(0) + 1e-6)
    sil_phones = read_int_list(lang / "phones" / "silence.int")
    with open(out / "log" / "train.log", "w", encoding="utf-8") as fh:
        _log_line(fh, f"train_mono: {len(utts)} utterances of {data_dir}, lang {lang}, feature dim "
                      f"{model.dim}; {model.info()}")
        comp = GraphCompiler(model, lang)
        graphs = {u: comp.compile(trans[u]) for u in utts}
        alis: dict[str, list[int]] = {}
        short = []
        for u in utts:
            a = equal_alignment(graphs[u], feats[u].shape[0])
            if a is None:
                short.append(u)
            else:
                alis[u] = a
        if short:
            log.warning("%d utterances are too short for their transcripts (no equal alignment; left out): %s",
                        len(short), " ".join(short[:10]))
            for u in short:
                graphs.pop(u)
        if not alis:
            raise AsrError(f"{data_dir}: no utterance could be aligned to its transcript")
        accs, tstats, like, frames = accumulate(model, feats, alis)
        # no Gaussian is split in pass 0 (mixup = the current count), so its estimate needs no random numbers
        estimate(model, accs, tstats, mixup=model.num_gauss, power=cfg.power, min_gaussian_occupancy=3.0)
        _log_line(fh, f"pass 0 (equal alignment): log-likelihood per frame {like / max(frames, 1):.4f} over "
                      f"{frames} frames")
        alis = _em_passes(model, graphs, feats, alis, cfg, sil_phones, fh, str(exp_dir))
        _log_line(fh, f"done: {model.info()}")
    _write_model_dir(out, model, feat_opts, alis, lang)
    return model


def align(data_dir: str | os.PathLike, lang_dir: str | os.PathLike, model_dir: str | os.PathLike,
          ali_dir: str | os.PathLike, cfg: MonoConfig | None = None) -> dict[str, list[int]]:
    """Align a data dir with a trained model (``steps/align_si.sh``): ``ali_dir/ali.1.gz`` and the
    model, tree and feature options copied beside it (Kaldi's ``exp/mono_ali`` layout).

    Utterances that fail to align are named in the log and left out.
    """
    cfg = cfg or MonoConfig()
    lang, src, out = Path(lang_dir), Path(model_dir), Path(ali_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    model = GmmModel.load(src / "final.mdl", src / "tree")
    opts = FeatOpts.load(src)
    data = DataDir.load(data_dir)
    feats = load_features(data_dir, opts)
    trans = read_transcripts(data, lang)
    comp = GraphCompiler(model, lang)
    graphs = {u: comp.compile(trans[u]) for u in feats if u in trans}
    alis = _realign(model, graphs, feats, cfg, read_int_list(lang / "phones" / "silence.int"), str(data_dir))
    log.info("aligned %d of %d utterances of %s", len(alis), len(graphs), data_dir)
    _write_model_dir(out, model, opts, alis, lang)
    return alis


@dataclass
class DeltasConfig(MonoConfig):
    """Options of :func:`train_deltas` (Kaldi ``steps/train_deltas.sh``'s defaults; the rest as
    :class:`MonoConfig`).

    Attributes:
        num_leaves: leaves of the tree to grow to (Kaldi's ``--max-leaves``; a recipe's first argument).
        thresh: smallest likelihood gain of a split (``build-tree --thresh``, 300).
        cluster_thresh: merge cost under which leaves of a root are merged (-1: the last split's gain).
    """

    num_iters: int = 35
    max_iter_inc: int = 25
    totgauss: int = 10000
    realign_iters: str = KALDI_DELTAS_REALIGN
    beam: float = 10.0
    retry_beam: float = 40.0
    num_leaves: int = 2000
    thresh: float = 300.0
    cluster_thresh: float = -1.0


def _read_sets(path: Path) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in path.read_text(encoding="utf-8").splitlines() if line.split()]


def init_from_tree(old: GmmModel, tree, stats, num_pdfs: int):
    """Kaldi's ``gmm-init-model``: a model of the tree's pdfs, one Gaussian each from the statistics
    of its leaves (a pdf without statistics takes the statistics of all frames, with a warning),
    fresh transitions from the topology."""
    import kaldi_hmm_gmm as khg

    from asr.gmm.tree import VAR_FLOOR, context_dependency, leaf_stats

    ctx = context_dependency(tree, stats.N, stats.P)
    c, x, x2 = leaf_stats(tree, stats, num_pdfs)
    gc, gx, gx2 = stats.count.sum(), stats.x.sum(0), stats.x2.sum(0)
    empty = np.flatnonzero(c <= 0)
    if len(empty):
        log.warning("%d pdfs of the tree have no statistics (phones never aligned); they start from all frames' "
                    "mean and variance", len(empty))
        c[empty], x[empty], x2[empty] = gc, gx, gx2
    mean = x / c[:, None]
    var = np.maximum(x2 / c[:, None] - mean * mean, VAR_FLOOR)
    am = khg.AmDiagGmm()
    for p in range(num_pdfs):
        am.add_pdf(single_gaussian(mean[p], var[p]))
    tm = khg.TransitionModel(ctx_dep=ctx, hmm_topo=old.topo)
    return GmmModel(old.topo, ctx, tm, am)


def train_deltas(data_dir: str | os.PathLike, lang_dir: str | os.PathLike, ali_dir: str | os.PathLike,
                 exp_dir: str | os.PathLike, cfg: DeltasConfig | None = None) -> GmmModel:
    """Train a triphone system on the alignments of ``ali_dir`` (Kaldi's ``steps/train_deltas.sh``):
    tree statistics, phone questions, a decision tree of ``num_leaves`` leaves, one Gaussian per
    leaf, the alignments converted to the new model, then EM passes with realignment and Gaussian
    splitting towards ``totgauss``. The features are ``ali_dir``'s (its cmvn/delta/dct options).

    Writes Kaldi's layout into ``exp_dir``: ``final.mdl``, ``tree`` (text), ``ali.1.gz``,
    ``questions.int``, the feature options, ``num_jobs``, ``phones.txt``, ``log/train.log``.

    Raises:
        AsrError: bad inputs (named), e.g. a lang dir without ``phones/roots.int``.
    """
    from asr.gmm.tree import (
        TreeError,
        accumulate_tree_stats,
        build_tree,
        cluster_phones,
        compile_questions,
        convert_alignments,
        read_roots,
    )

    cfg = cfg or DeltasConfig()
    lang, src, out = Path(lang_dir), Path(ali_dir), Path(exp_dir)
    for f in (src / "final.mdl", src / "ali.1.gz", lang / "phones" / "roots.int", lang / "phones" / "sets.int",
              lang / "topo"):
        if not f.is_file():
            raise AsrError(f"{f}: no such file (train_deltas needs an alignment dir and a lang dir)")
    (out / "log").mkdir(parents=True, exist_ok=True)
    old = GmmModel.load(src / "final.mdl", src / "tree")
    opts = FeatOpts.load(src)
    data = DataDir.load(data_dir)
    if not data.text:
        raise AsrError(f"{data_dir}/text: training needs transcripts")
    feats = load_features(data_dir, opts)
    alis = {u: a for u, a in read_alignments(src / "ali.1.gz").items() if u in feats}
    if not alis:
        raise AsrError(f"{src}/ali.1.gz: no alignment of an utterance of {data_dir}")
    phones_dir = lang / "phones"
    ci = read_int_list(phones_dir / "context_indep.int") if (phones_dir / "context_indep.int").is_file() else []
    extra = _read_sets(phones_dir / "extra_questions.int") if (phones_dir / "extra_questions.int").is_file() else []
    sil_phones = read_int_list(phones_dir / "silence.int")
    with open(out / "log" / "train.log", "w", encoding="utf-8") as fh:
        try:
            stats = accumulate_tree_stats(old, feats, alis, N=3, P=1, ci_phones=ci)
            qs = cluster_phones(stats, _read_sets(phones_dir / "sets.int"))
            p2n = old.topo.get_phone_to_num_pdf_classes()
            questions = compile_questions(qs, extra, 3, max(p2n))
            tree, num_pdfs, info = build_tree(stats, read_roots(phones_dir / "roots.int"), questions, p2n,
                                              cfg.num_leaves, thresh=cfg.thresh, cluster_thresh=cfg.cluster_thresh)
        except TreeError as e:
            raise AsrError(f"{exp_dir}: {e}") from e
        with atomic_write(out / "questions.int") as f:
            f.write("".join(" ".join(map(str, q)) + "\n" for q in questions[0]))
        _log_line(fh, f"train_deltas: {len(alis)} utterances of {data_dir}, alignments {src}; tree statistics for "
                      f"{len(stats.count)} phone windows x states, {len(qs)} phone questions "
                      f"(+{len(extra)} extra); tree: {info}")
        model = init_from_tree(old, tree, stats, num_pdfs)
        try:
            alis = {u: list(a) for u, a in convert_alignments(old, model, alis).items()}
        except TreeError as e:
            raise AsrError(f"{exp_dir}: converting {src}'s alignments: {e}") from e
        trans = read_transcripts(data, lang)
        comp = GraphCompiler(model, lang)
        graphs = {u: comp.compile(trans[u]) for u in alis if u in trans}
        alis = {u: a for u, a in alis.items() if u in graphs}
        _log_line(fh, f"initial model: {model.info()}")
        alis = _em_passes(model, graphs, feats, alis, cfg, sil_phones, fh, str(exp_dir))
        _log_line(fh, f"done: {model.info()}")
    _write_model_dir(out, model, opts, alis, lang)
    return model
