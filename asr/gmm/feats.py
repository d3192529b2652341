"""A data dir's features the way Kaldi's GMM scripts feed them.

``apply-cmvn --utt2spk=... scp:cmvn.scp scp:feats.scp ark:- | add-deltas ark:- ark:-``: each
utterance normalised with its speaker's statistics (means only unless ``norm_vars``), then the
delta and delta-delta features appended. The options are what Kaldi stores in an experiment dir as
``cmvn_opts`` and ``delta_opts``; :class:`FeatOpts` reads and writes those two files, so a model
dir says how its features were made.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.datadir import DataDir, validate_data_dir
from asr.errors import AsrError
from asr.fileio import atomic_write

log = logging.getLogger(__name__)


@dataclass
class FeatOpts:
    """How features are normalised and extended (Kaldi's ``cmvn_opts`` and ``delta_opts``).

    Attributes:
        norm_vars: CMVN also normalises variances (``--norm-vars``).
        delta_order: delta orders appended (``--delta-order``, 2 = deltas and delta-deltas).
        delta_window: regression window (``--delta-window``).
        num_ceps: keep this many cepstra of a DCT of the (normalised) log-mel features: MFCCs
            without the lifter, decorrelated as diagonal Gaussians need (0: the features as stored).
            The DCT is linear, so mean normalisation before it equals mean normalisation after it.
    """

    norm_vars: bool = False
    delta_order: int = 2
    delta_window: int = 2
    num_ceps: int = 13

    def __post_init__(self) -> None:
        if self.num_ceps < 0:
            raise AsrError(f"num_ceps must be >= 0, got {self.num_ceps}")

    def save(self, exp_dir: str | os.PathLike) -> None:
        d = Path(exp_dir)
        with atomic_write(d / "cmvn_opts") as f:
            f.write(f"--norm-vars={'true' if self.norm_vars else 'false'}\n")
        with atomic_write(d / "delta_opts") as f:
            f.write(f"--delta-order={self.delta_order} --delta-window={self.delta_window}\n")
        with atomic_write(d / "dct_opts") as f:
            f.write(f"--num-ceps={self.num_ceps}\n")

    @classmethod
    def load(cls, exp_dir: str | os.PathLike) -> FeatOpts:
        d = Path(exp_dir)
        opts = cls()
        for name in ("cmvn_opts", "delta_opts", "dct_opts"):
            p = d / name
            if not p.is_file():
                continue
            for tok in p.read_text().split():
                key, _, val = tok.lstrip("-").partition("=")
                if key == "norm-vars":
                    opts.norm_vars = val == "true"
                elif key == "delta-order":
                    opts.delta_order = int(val)
                elif key == "delta-window":
                    opts.delta_window = int(val)
                elif key == "num-ceps":
                    opts.num_ceps = int(val)
                else:
                    raise AsrError(f"{p}: unknown option {tok!r}")
        return opts


def dct_matrix(num_bins: int, num_ceps: int) -> torch.Tensor:
    """(num_ceps, num_bins) orthonormal DCT-II, the transform Kaldi's MFCC applies to log-mel energies."""
    if num_ceps > num_bins:
        raise AsrError(f"num_ceps {num_ceps} is more than the {num_bins} feature bins")
    n = torch.arange(num_bins, dtype=torch.float64)
    k = torch.arange(num_ceps, dtype=torch.float64)[:, None]
    m = torch.cos(torch.pi / num_bins * (n + 0.5) * k) * (2.0 / num_bins) ** 0.5
    m[0] /= 2.0 ** 0.5
    return m.to(torch.float32)


def load_features(data_dir: str | os.PathLike, opts: FeatOpts, utts: list[str] | None = None) -> dict[str, np.ndarray]:
    """The features of a data dir (or of ``utts`` of it) after CMVN and deltas.

    Args:
        data_dir: a data dir with ``feats.scp`` and ``cmvn.scp`` (per speaker); without
            ``cmvn.scp`` the features are used as they are, with a warning.
        opts: the normalisation and deltas.
        utts: the utterances to load (default all, in the data dir's order).

    Returns:
        utterance -> (T, D) float32 matrix.

    Raises:
        AsrError: an invalid data dir or an unreadable matrix (names the utterance and file).
    """
    from asr.features.cmvn import apply_cmvn
    from asr.features.deltas import add_deltas
    from asr.features.io import FeatsReader

    validate_data_dir(data_dir, no_wav=True, no_text=True)
    data = DataDir.load(data_dir)
    if data.feats_scp is None:
        raise AsrError(f"{data_dir}: no feats.scp (run steps/make_fbank.sh first)")
    feats = FeatsReader(data.feats_scp)
    cmvn = FeatsReader(data.cmvn_scp) if data.cmvn_scp is not None else None
    if cmvn is None:
        log.warning("%s: no cmvn.scp: features are not normalised", data_dir)
    out: dict[str, np.ndarray] = {}
    for utt in utts if utts is not None else list(data.feats_scp):
        x = torch.from_numpy(np.asarray(feats[utt], dtype=np.float32))[None]
        lens = torch.tensor([x.shape[1]])
        if cmvn is not None:
            spk = data.utt2spk[utt]
            if spk not in cmvn:
                raise AsrError(f"{data_dir}/cmvn.scp: no statistics for speaker {spk} (utterance {utt})")
            stats = torch.from_numpy(np.asarray(cmvn[spk], dtype=np.float64))
            x = apply_cmvn(x, lens, stats, norm_vars=opts.norm_vars)
        if opts.num_ceps:
            x = x @ dct_matrix(x.shape[-1], opts.num_ceps).T
        x, _ = add_deltas(x, lens, order=opts.delta_order, window=opts.delta_window)
        out[utt] = x[0].numpy().astype(np.float32)
    return out
