"""Cepstral mean and variance normalisation (CMVN) with Kaldi's statistics layout.

Statistics are a float64 matrix of shape (2, F+1), exactly what Kaldi's
``compute-cmvn-stats`` writes: row 0 holds the per-dimension sums and, in its
last column, the frame count; row 1 holds the sums of squares (last column 0).
Statistics add up, so global, per-speaker and per-utterance statistics are the
same object accumulated over different sets of frames.

:func:`apply_cmvn` is Kaldi's ``apply-cmvn`` (``ApplyCmvn`` in
``transform/cmvn.cc``): the offset and scale are computed in double precision,
variances are floored at 1e-20 and fewer than one frame of statistics is an
error. Everything works on padded batches and never reads padding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

VAR_FLOOR = 1.0e-20  # Kaldi's ApplyCmvn variance floor


def _valid_mask(x_lens: torch.Tensor, T: int, device: torch.device) -> torch.Tensor:
    """(B, T) bool mask of real (non-padding) frames."""
    return torch.arange(T, device=device)[None, :] < x_lens.to(device)[:, None]


def utterance_cmvn_stats(x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
    """CMVN statistics of each utterance of a padded batch.

    Args:
        x: (B, T, F) padded features.
        x_lens: (B,) valid lengths; frames at or beyond a length are ignored.

    Returns:
        (B, 2, F+1) float64 statistics in Kaldi's layout, one matrix per utterance.
    """
    B, T, F = x.shape
    mask = _valid_mask(x_lens, T, x.device)[..., None]  # (B, T, 1)
    xd = torch.where(mask, x.to(torch.float64), torch.zeros((), dtype=torch.float64, device=x.device))
    stats = torch.zeros(B, 2, F + 1, dtype=torch.float64, device=x.device)
    stats[:, 0, :F] = xd.sum(dim=1)
    stats[:, 0, F] = mask[..., 0].sum(dim=1).to(torch.float64)
    stats[:, 1, :F] = (xd * xd).sum(dim=1)
    return stats


def accumulate_cmvn_stats(feats: torch.Tensor, x_lens: torch.Tensor | None = None) -> torch.Tensor:
    """Sum CMVN statistics over all real frames (Kaldi ``compute-cmvn-stats``).

    Args:
        feats: (T, F) one utterance, or (B, T, F) a padded batch.
        x_lens: (B,) valid lengths for a batch (default: every frame is real).

    Returns:
        (2, F+1) float64 statistics: ``[[sum x..., count], [sum x^2..., 0]]``.
    """
    if feats.dim() == 2:
        feats = feats[None]
    if feats.dim() != 3:
        raise ValueError(f"expected (T, F) or (B, T, F) features, got shape {tuple(feats.shape)}")
    if x_lens is None:
        x_lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
    return utterance_cmvn_stats(feats, x_lens).sum(dim=0)


def cmvn_transform(stats: torch.Tensor, norm_vars: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Offset and scale that Kaldi's ``apply-cmvn`` derives from statistics.

    ``y = x * scale + offset``; without ``norm_vars`` the scale is 1 and the
    offset ``-mean``; with it ``scale = 1 / sqrt(max(var, 1e-20))`` and
    ``offset = -mean * scale``.

    Args:
        stats: (2, F+1) or (B, 2, F+1) statistics.
        norm_vars: also normalise the variance (default False, as Kaldi).

    Returns:
        ``(offset, scale)``, each (F,) or (B, F), float64.

    Raises:
        ValueError: a count below 1 (Kaldi: "Insufficient stats").
    """
    stats = stats.to(torch.float64)
    count = stats[..., 0, -1]  # () or (B,)
    if bool((count < 1.0).any()):
        raise ValueError(f"insufficient statistics for CMVN: count = {count.min().item()} (< 1)")
    mean = stats[..., 0, :-1] / count[..., None]
    if not norm_vars:
        return -mean, torch.ones_like(mean)
    var = stats[..., 1, :-1] / count[..., None] - mean * mean
    if bool((var < VAR_FLOOR).any()):
        log.warning("flooring cepstral variance from %g to %g", var.min().item(), VAR_FLOOR)
        var = var.clamp(min=VAR_FLOOR)
    scale = 1.0 / torch.sqrt(var)
    if not bool(torch.isfinite(scale).all()):
        raise ValueError("NaN or infinity in cepstral mean/variance computation")
    return -(mean * scale), scale


def apply_cmvn(x: torch.Tensor, x_lens: torch.Tensor, stats: torch.Tensor, norm_vars: bool = False) -> torch.Tensor:
    """Normalise features with CMVN statistics (Kaldi ``apply-cmvn``).

    Args:
        x: (B, T, F) padded features.
        x_lens: (B,) valid lengths.
        stats: (2, F+1) shared statistics (global), or (B, 2, F+1) one matrix per
            utterance (its speaker's or its own statistics).
        norm_vars: also normalise variances (default False, as Kaldi).

    Returns:
        (B, T, F) normalised features in ``x``'s dtype; padded frames are zero.
    """
    B, T, F = x.shape
    if stats.shape[-2:] != (2, F + 1) or stats.dim() not in (2, 3) or (stats.dim() == 3 and stats.shape[0] != B):
        raise ValueError(f"CMVN statistics of shape {tuple(stats.shape)} do not fit features of shape "
                         f"{tuple(x.shape)}: expected (2, {F + 1}) or ({B}, 2, {F + 1})")
    mask = _valid_mask(x_lens, T, x.device)
    if stats.dim() == 3:
        # Empty utterances in a batch have no statistics of their own; they produce no output anyway.
        empty = x_lens.to(stats.device) == 0
        if bool(empty.any()):
            stats = stats.clone()
            stats[empty, 0, -1] = 1.0
    offset, scale = cmvn_transform(stats.to(x.device), norm_vars)
    # Kaldi converts the double-precision transform to float before applying it.
    offset, scale = offset.to(x.dtype), scale.to(x.dtype)
    if offset.dim() == 1:
        offset, scale = offset[None], scale[None]
    y = x * scale[:, None, :] + offset[:, None, :]
    return y * mask[..., None].to(y.dtype)


def speaker_cmvn_stats(utt_stats: Mapping[str, np.ndarray | torch.Tensor],
                       spk2utt: Mapping[str, Iterable[str]]) -> dict[str, np.ndarray]:
    """Sum per-utterance statistics into per-speaker statistics (``compute-cmvn-stats --spk2utt``).

    Args:
        utt_stats: utterance -> (2, F+1) statistics.
        spk2utt: speaker -> its utterances; utterances without statistics are
            skipped with a warning (as Kaldi does).

    Returns:
        speaker -> (2, F+1) float64 statistics; speakers with no statistics at all are left out.
    """
    out: dict[str, np.ndarray] = {}
    for spk, utts in spk2utt.items():
        acc: np.ndarray | None = None
        for utt in utts:
            s = utt_stats.get(utt)
            if s is None:
                log.warning("no features for utterance %s (speaker %s)", utt, spk)
                continue
            s = s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else np.asarray(s)
            acc = s.astype(np.float64) if acc is None else acc + s
        if acc is None:
            log.warning("no statistics for speaker %s", spk)
            continue
        out[spk] = acc
    return out


def stats_for_utterances(utts: Iterable[str], utt2spk: Mapping[str, str],
                         spk_stats: Mapping[str, np.ndarray | torch.Tensor]) -> torch.Tensor:
    """Stack each utterance's speaker statistics into a batch for :func:`apply_cmvn`.

    Args:
        utts: the B utterance ids of a batch, in batch order.
        utt2spk: utterance -> speaker.
        spk_stats: speaker -> (2, F+1) statistics, e.g. ``FeatsReader(data.cmvn_scp)``
            (Kaldi's ``cmvn.scp`` keyed by speaker).

    Returns:
        (B, 2, F+1) float64 tensor.

    Raises:
        KeyError: an utterance without a speaker, or a speaker without statistics (the message names it).
    """
    rows = []
    for utt in utts:
        spk = utt2spk.get(utt)
        if spk is None:
            raise KeyError(f"utterance {utt} is not in utt2spk")
        if spk not in spk_stats:
            raise KeyError(f"no CMVN statistics for speaker {spk} (utterance {utt}): is cmvn.scp up to date?")
        s = spk_stats[spk]
        rows.append(s.detach().cpu().to(torch.float64) if isinstance(s, torch.Tensor)
                    else torch.from_numpy(np.asarray(s, dtype=np.float64)))
    return torch.stack(rows)


def fake_cmvn_stats(dim: int) -> np.ndarray:
    """Statistics that normalise nothing (mean 0, variance 1, count 1): Kaldi's ``--fake``.

    Args:
        dim: feature dimension F.

    Returns:
        (2, F+1) float64 matrix ``[[0..., 1], [1..., 0]]``.
    """
    stats = np.zeros((2, dim + 1), dtype=np.float64)
    stats[0, dim] = 1.0
    stats[1, :dim] = 1.0
    return stats


def write_cmvn_stats(path: str | Path, stats: np.ndarray | torch.Tensor) -> None:
    """Write one statistics matrix as a Kaldi binary double matrix (readable by ``apply-cmvn``), atomically.

    Args:
        path: output file.
        stats: (2, F+1) statistics.
    """
    import kaldiio

    from asr.fileio import atomic_write

    arr = stats.detach().cpu().numpy() if isinstance(stats, torch.Tensor) else np.asarray(stats)
    with atomic_write(path, "wb", encoding=None) as f:
        kaldiio.save_mat(f, arr.astype(np.float64))


def read_cmvn_stats(rxspec: str | Path) -> torch.Tensor:
    """Read a statistics matrix: a file (Kaldi binary/text matrix) or an ``ark:offset`` scp value.

    Args:
        rxspec: path or rxspecifier such as ``cmvn_train.ark:17``.

    Returns:
        (2, F+1) float64 tensor.
    """
    from asr.features.io import read_feats

    arr = read_feats(str(rxspec))
    if arr.ndim != 2 or arr.shape[0] != 2 or arr.shape[1] < 2:
        from asr.features.io import FeatsError

        raise FeatsError(f"{rxspec}: not CMVN statistics (shape {arr.shape}, expected (2, F+1))")
    return torch.from_numpy(np.asarray(arr, dtype=np.float64).copy())
