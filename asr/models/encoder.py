"""Deep (B)LSTM(P) encoders and the acoustic model built on them.

A layer is one of the cell types of :mod:`asr.models.cells`, uni- or
bidirectional, with an optional recurrent projection (LSTMP, Sak et al. 2014)
and an optional non-recurrent projection (Kaldi's LSTMP "non-recurrent
projection": a second projection ``p_t = W_pm m_t`` of the cell output that is
output alongside ``r_t`` but not fed back; the layer output is
``concat(r_t, p_t)``). Bidirectional layers concatenate the forward and the
backward outputs.

The full LSTM and the BLSTM(P) run on ``torch.nn.LSTM`` (oneDNN on CPU, cuDNN on
GPU) over packed sequences; every other configuration, the unidirectional LSTMP
included, runs on :func:`asr.models.cells.fused_recurrence` (``lstm_impl``
chooses otherwise; oneDNN has no projected LSTM, and torch's own loop is slower
than ours for one direction, faster for two). A padded batch gives each utterance exactly
the output it gets alone. Parameters saved in one layout load into the other
(:meth:`Encoder.load_state_dict` converts ``torch.nn.LSTM`` weights).

Recurrent state goes in and comes out (``forward_state``), so that truncated BPTT
over chunks and streaming decoding can carry it: a layer's state is ``(h, c)`` with
``h`` (L * D, B, R) the recurrent output (``r_t`` with a projection, else ``m_t``)
and ``c`` (L * D, B, H) the cell state, for each of the L layers the module runs
(one, or the whole stack of a multi-layer ``torch.nn.LSTM``) and each of the D
directions, taken at each utterance's own last frame. An encoder's state is the
list of its layers' states. Running a unidirectional encoder over consecutive
chunks, each starting from the state the previous one ended in, gives the output
of the whole utterance.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.features.splice import stack_frames
from asr.models.cells import (
    CELL_TYPES,
    FORGET_BLOCK,
    MODE,
    NUM_BLOCKS,
    NUM_RECURRENT,
    SRNN_HIDDEN,
    fused_recurrence,
    reversal_index,
)

LayerState: TypeAlias = tuple[torch.Tensor, torch.Tensor]  # (h (L*D, B, R), c (L*D, B, H))
EncoderState: TypeAlias = list[LayerState]  # one per RecurrentLayer of the encoder
LSTM_IMPLS = ("auto", "torch", "fused")


_TORCH_LAYER = re.compile(r"_l(\d+)(_reverse)?$")


def recurrent_layer_of(name: str) -> int | None:
    """Which recurrent layer (0 = lowest) the parameter ``name`` of an :class:`AcousticModel` belongs to.

    Works for both implementations: our layers (``encoder.layers.K.*``) and one multi-layer
    ``torch.nn.LSTM`` (``encoder.layers.0.lstm.weight_ih_lK[_reverse]``). None for the output layer.
    """
    parts = name.split(".")
    if parts[:2] != ["encoder", "layers"] or len(parts) < 4:
        return None
    if parts[3] == "lstm":
        m = _TORCH_LAYER.search(parts[-1])
        if m:
            return int(parts[2]) + int(m.group(1))
    return int(parts[2])


def uses_torch_lstm(cfg: EncoderConfig) -> bool:
    """Whether the encoder of ``cfg`` runs on one multi-layer ``torch.nn.LSTM``."""
    return _torch_lstm(cfg.cell, cfg.proj, cfg.nonrec_proj, cfg.bidirectional, cfg.lstm_impl, cfg.fused_only)


def _torch_lstm(cell: str, proj: int, nonrec_proj: int, bidirectional: bool, impl: str = "auto",
                fused_only: bool = False) -> bool:
    """The rule of ``lstm_impl``: whether such a layer runs on ``torch.nn.LSTM``.

    ``fused_only``: an option only the fused recurrence has (clipping, gate_norm) is set.
    """
    if cell != "lstm" or nonrec_proj or fused_only:
        return False
    # auto: the fused loop only where it was measured faster (tests/bench/train_throughput.py, one
    # CPU thread, 16 x 200 frames): a unidirectional LSTMP (1.27x nn.LSTM(proj_size) at 128/p64,
    # 1.11x at 512/p128); bidirectionally torch's is faster (our 0.84x and 0.60x).
    return impl == "torch" or (impl == "auto" and (proj == 0 or bidirectional))


@dataclass
class EncoderConfig:
    """Acoustic model: frame stacking, a stack of recurrent layers, a linear output layer."""

    cell: str = "lstm"  # lstm | lstm-srnn | lstm-srnn-out | lstm-srnn-hidden | lstm-gates (Levy et al. 2018)
    hidden: int = 320  # cell width (memory cells per direction)
    proj: int = 0  # recurrent projection size r_t (LSTMP); 0 = none; must be < hidden
    nonrec_proj: int = 0  # non-recurrent projection size p_t (Kaldi LSTMP); 0 = none
    layers: int = 4  # number of recurrent layers
    bidirectional: bool = False  # BLSTM(P): concatenate forward and backward outputs
    dropout: float = 0.0  # dropout on each layer's input except the first
    forget_bias: float = 1.0  # initial forget-gate bias (ignored for lstm-gates)
    stack: int = 1  # input frames stacked into one vector (current and future frames)
    subsample: int = 1  # keep every subsample-th stacked frame (output frame rate reduction)
    delay: int = 0  # unidirectional only: output t is computed after seeing input frame t + delay
    # torch (torch.nn.LSTM, proj_size for LSTMP) | fused (asr.models.cells) | auto (fused for a
    # unidirectional LSTMP, torch otherwise: the faster on CPU; fused whenever an option below needs it)
    lstm_impl: str = "auto"  # auto | torch | fused (cell=lstm)
    # Stabilisers of deep (projected) LSTMs, fused recurrence only (0 = off):
    cell_clip: float = 0.0  # clip cell values c_t to [-cell_clip, cell_clip] (e.g. 50)
    rec_grad_clip: float = 0.0  # clip the derivative back through the recurrence to this 2-norm per
    #                             frame (Kaldi's BackpropTruncationComponent clipping-threshold: 30)
    gate_norm: bool = False  # layer-normalise each gate block's input-side pre-activation W x_t (fused only;
    #                          a learnt gain per unit, then the bias): large inputs cannot saturate the gates
    proj_clip: float = 0.0  # clip each value of the projection's output r_t to [-proj_clip, proj_clip]
    #                         (TensorFlow's LSTMCell proj_clip; with proj only)
    proj_max_norm: float = 0.0  # after each update, rescale rows of the recurrent projections to at most
    #                             this 2-norm (max-norm constraint; bounds r_t as tanh bounds an LSTM's m_t)

    @property
    def fused_only(self) -> bool:
        """Whether an option that only the fused recurrence has is set (torch.nn.LSTM and export have none)."""
        return bool(self.cell_clip or self.rec_grad_clip or self.gate_norm or self.proj_clip)

    def __post_init__(self) -> None:
        if self.cell not in CELL_TYPES:
            raise ValueError(f"cell {self.cell!r} is not one of {', '.join(CELL_TYPES)}")
        if self.hidden < 1 or self.layers < 1:
            raise ValueError(f"hidden ({self.hidden}) and layers ({self.layers}) must be >= 1")
        if self.proj < 0 or self.nonrec_proj < 0:
            raise ValueError(f"proj ({self.proj}) and nonrec_proj ({self.nonrec_proj}) must be >= 0")
        if self.proj >= self.hidden:
            raise ValueError(f"proj ({self.proj}) must be smaller than hidden ({self.hidden})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout ({self.dropout}) must be in [0, 1)")
        if self.stack < 1 or self.subsample < 1:
            raise ValueError(f"stack ({self.stack}) and subsample ({self.subsample}) must be >= 1")
        if self.delay < 0:
            raise ValueError(f"delay ({self.delay}) must be >= 0")
        if self.lstm_impl not in LSTM_IMPLS:
            raise ValueError(f"lstm_impl {self.lstm_impl!r} is not one of {', '.join(LSTM_IMPLS)}")
        if self.lstm_impl == "torch" and (self.cell != "lstm" or self.nonrec_proj):
            raise ValueError("lstm_impl=torch is for cell=lstm without nonrec_proj (torch.nn.LSTM has neither)")
        if self.proj_max_norm < 0:
            raise ValueError(f"proj_max_norm ({self.proj_max_norm}) must be >= 0")
        if self.cell_clip < 0 or self.rec_grad_clip < 0:
            raise ValueError(f"cell_clip ({self.cell_clip}) and rec_grad_clip ({self.rec_grad_clip}) must be >= 0")
        if self.lstm_impl == "torch" and self.fused_only:
            raise ValueError("cell_clip, rec_grad_clip, proj_clip and gate_norm need the fused recurrence "
                             "(lstm_impl auto, fused)")
        if self.proj_clip < 0 or (self.proj_clip and (not self.proj or self.cell == "lstm-srnn-hidden")):
            raise ValueError(f"proj_clip ({self.proj_clip}) must be >= 0, and > 0 only with a recurrent projection "
                             f"(proj > 0, a cell with a recurrence)")
        if self.cell_clip and self.cell in ("lstm-srnn-hidden", "lstm-gates"):
            raise ValueError(f"cell_clip: {self.cell} has no recurrent cell state to clip")
        if self.delay and self.bidirectional:
            raise ValueError("delay is for unidirectional models; a bidirectional one sees the future already")


class RecurrentLayer(nn.Module):
    """One uni- or bidirectional recurrent layer of any cell type (time-major).

    Parameters, with D directions, H = ``hidden``, G = blocks * H:
    ``weight_ih`` (D * G, F), ``bias`` (D * G), ``weight_hh`` (D, G_rec, R),
    ``weight_proj`` (D, R, H) when ``proj``, ``weight_nonrec`` (D, P, H) when
    ``nonrec_proj``. Blocks: input gate, forget gate, [output gate], candidate.

    Args:
        cell: cell type (see :mod:`asr.models.cells`).
        input_size: F.
        hidden: H.
        proj: recurrent projection size R (0 = none, R = H).
        nonrec_proj: non-recurrent projection size P (0 = none).
        bidirectional: two directions, outputs concatenated.
        forget_bias: initial forget-gate bias (default 1.0).
        num_layers: only for the ``torch.nn.LSTM`` case: that many stacked layers in one
            ``nn.LSTM`` call (default 1).
        dropout: dropout between those stacked layers (default 0.0).
        torch_lstm: run on ``torch.nn.LSTM`` (``cell="lstm"`` without ``nonrec_proj`` only;
            default: ``lstm_impl: auto``'s rule, see :func:`uses_torch_lstm`).
        cell_clip, grad_clip, proj_clip: the fused recurrence's stabilisers (see
            :func:`asr.models.cells.fused_recurrence`; default 0: off).
        gate_norm: layer-normalise the input-side pre-activation of each gate block over its H
            units (then a learnt gain ``gate_gain`` (D, blocks, H) and the bias); fused only.
    """

    def __init__(self, cell: str, input_size: int, hidden: int, proj: int = 0, nonrec_proj: int = 0,
                 bidirectional: bool = False, forget_bias: float = 1.0, num_layers: int = 1,
                 dropout: float = 0.0, torch_lstm: bool | None = None, cell_clip: float = 0.0,
                 grad_clip: float = 0.0, gate_norm: bool = False, proj_clip: float = 0.0) -> None:
        super().__init__()
        self.cell, self.mode = cell, MODE[cell]
        self.hidden, self.proj, self.nonrec_proj = hidden, proj, nonrec_proj
        self.num_directions = 2 if bidirectional else 1
        D, H = self.num_directions, hidden
        self.output_size = D * ((proj or H) + nonrec_proj)
        if torch_lstm is None:
            torch_lstm = _torch_lstm(cell, proj, nonrec_proj, bidirectional,
                                     fused_only=bool(cell_clip or grad_clip or gate_norm or proj_clip))
        if torch_lstm and (cell != "lstm" or nonrec_proj):
            raise ValueError("torch.nn.LSTM runs cell=lstm without nonrec_proj only")
        if torch_lstm and (cell_clip or grad_clip or gate_norm or proj_clip):
            raise ValueError("cell_clip, grad_clip, proj_clip and gate_norm need the fused recurrence, "
                             "not torch.nn.LSTM")
        self.use_nn_lstm = torch_lstm
        self.cell_clip, self.grad_clip, self.proj_clip = cell_clip, grad_clip, proj_clip
        if num_layers != 1 and not self.use_nn_lstm:
            raise ValueError("num_layers > 1 only for the torch.nn.LSTM case; stack layers with Encoder")
        bound = 1.0 / math.sqrt(H)  # the initialisation of torch.nn.LSTM
        if self.use_nn_lstm:
            self.lstm = nn.LSTM(input_size, H, num_layers=num_layers, proj_size=proj,
                                bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
            with torch.no_grad():
                for name, param in self.lstm.named_parameters():
                    if name.startswith("bias_ih"):  # torch gate order i, f, g, o
                        param[H:2 * H].fill_(forget_bias)
                    elif name.startswith("bias_hh"):
                        param[H:2 * H].zero_()
            return
        G = NUM_BLOCKS[self.mode] * H
        R = proj or H
        self.weight_ih = nn.Parameter(torch.empty(D * G, input_size).uniform_(-bound, bound))
        bias = torch.empty(D, G).uniform_(-bound, bound)
        if cell != "lstm-gates":
            bias[:, FORGET_BLOCK * H:(FORGET_BLOCK + 1) * H] = forget_bias
        self.bias = nn.Parameter(bias.reshape(D * G))
        n_rec = NUM_RECURRENT[self.mode] * H
        self.weight_hh = (nn.Parameter(torch.empty(D, n_rec, R).uniform_(-bound, bound))
                          if n_rec else None)
        self.weight_proj = (nn.Parameter(torch.empty(D, proj, H).uniform_(-bound, bound))
                            if proj else None)
        self.weight_nonrec = (nn.Parameter(torch.empty(D, nonrec_proj, H).uniform_(-bound, bound))
                              if nonrec_proj else None)
        self.gate_gain = nn.Parameter(torch.ones(D, NUM_BLOCKS[self.mode], H)) if gate_norm else None

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        """Run the layer from a zero state.

        Args:
            x: (T, B, F) time-major padded input.
            x_lens: (B,) lengths (any device).

        Returns:
            (T, B, ``output_size``); frames past an utterance's length are zero.
        """
        return self.forward_state(x, x_lens)[0]

    def forward_state(self, x: torch.Tensor, x_lens: torch.Tensor, state: LayerState | None = None
                      ) -> tuple[torch.Tensor, LayerState]:
        """Run the layer from a given state and return the state it ends in.

        Args:
            x: (T, B, F) time-major padded input.
            x_lens: (B,) lengths (any device), each >= 1.
            state: ``(h (L*D, B, R), c (L*D, B, H))`` before frame 0 (default None: zeros).

        Returns:
            ``(y, state)``: y (T, B, ``output_size``), zero past each utterance's length; the
            state after each utterance's last frame (see the module docstring).
        """
        T, B, _ = x.shape
        if self.use_nn_lstm:
            if bool((x_lens == T).all()):  # nothing to pack: same result, no packing cost
                y, (h, c) = self.lstm(x, state)
                return y, (h, c)
            packed = pack_padded_sequence(x, x_lens.cpu(), enforce_sorted=False)
            y, (h, c) = self.lstm(packed, state)
            return pad_packed_sequence(y, total_length=T)[0], (h, c)
        D, H = self.num_directions, self.hidden
        if self.gate_gain is not None:  # normalise W x_t per gate block, then gain and bias
            gx = torch.mm(x.reshape(T * B, -1), self.weight_ih.t()).view(T * B, D, -1, H)
            gx = torch.nn.functional.layer_norm(gx, (H,)) * self.gate_gain
            gx = gx.reshape(T * B, -1) + self.bias
        else:
            gx = torch.addmm(self.bias, x.reshape(T * B, -1), self.weight_ih.t())  # all frames at once
        gx = gx.reshape(T, B, D, -1).transpose(1, 2)  # (T, D, B, G)
        idx = None
        if D == 2:  # the backward direction runs forward over per-utterance reversed input
            lens = x_lens.to(x.device)
            fwd = torch.arange(T, device=x.device)[:, None].expand(T, B)
            idx = torch.stack([fwd, reversal_index(T, lens)], 1)  # (T, 2, B), its own inverse
            gx = torch.gather(gx, 0, idx[..., None].expand_as(gx))
        else:
            gx = gx.contiguous()
        recurrent_proj = self.weight_proj if self.mode != SRNN_HIDDEN else None
        s0, c0 = state if state is not None else (None, None)
        s, m, c = fused_recurrence(gx, self.weight_hh, recurrent_proj, self.mode, H,
                                   s0 if self.mode != SRNN_HIDDEN else None, c0, self.cell_clip, self.grad_clip,
                                   proj_clip=self.proj_clip)
        # Each utterance's state at its own last frame (the backward direction's last is frame 0).
        last = (x_lens.to(x.device) - 1).clamp(min=0).view(1, 1, B, 1)
        final = (s.gather(0, last.expand(1, D, B, s.shape[-1]))[0],
                 c.gather(0, last.expand(1, D, B, c.shape[-1]))[0])
        outs = [s]
        if self.mode == SRNN_HIDDEN and self.weight_proj is not None:
            outs = [torch.einsum("tdbh,drh->tdbr", m, self.weight_proj)]
        if self.weight_nonrec is not None:
            outs.append(torch.einsum("tdbh,dph->tdbp", m, self.weight_nonrec))
        y = torch.cat(outs, -1) if len(outs) > 1 else outs[0]  # (T, D, B, R + P)
        if idx is not None:
            y = torch.gather(y, 0, idx[..., None].expand_as(y))
        y = y.transpose(1, 2).reshape(T, B, -1)
        mask = torch.arange(T, device=x.device)[:, None] < x_lens.to(x.device)[None, :]
        return y * mask[..., None].to(y.dtype), final


class Encoder(nn.Module):
    """A stack of :class:`RecurrentLayer` with dropout between layers.

    Args:
        cfg: the encoder configuration.
        input_size: feature dimension F of each (stacked) input frame.
    """

    def __init__(self, cfg: EncoderConfig, input_size: int) -> None:
        super().__init__()
        layers = []
        size = input_size
        self.cfg = cfg
        if uses_torch_lstm(cfg):
            # one multi-layer torch.nn.LSTM (cuDNN runs the whole stack); its dropout
            # argument is the same inter-layer dropout
            layers.append(RecurrentLayer(cfg.cell, size, cfg.hidden, cfg.proj, 0, cfg.bidirectional,
                                         cfg.forget_bias, num_layers=cfg.layers, dropout=cfg.dropout,
                                         torch_lstm=True))
            size = layers[0].output_size
        for _ in range(cfg.layers if not layers else 0):
            layer = RecurrentLayer(cfg.cell, size, cfg.hidden, cfg.proj, cfg.nonrec_proj,
                                   cfg.bidirectional, cfg.forget_bias, torch_lstm=False,
                                   cell_clip=cfg.cell_clip, grad_clip=cfg.rec_grad_clip, gate_norm=cfg.gate_norm,
                                   proj_clip=cfg.proj_clip)
            layers.append(layer)
            size = layer.output_size
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_size = size

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        if not self.layers[0].use_nn_lstm and prefix + "layers.0.lstm.weight_ih_l0" in state_dict:
            _torch_lstm_to_fused(state_dict, prefix, self.cfg)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        """(T, B, F) time-major input, (B,) lengths -> (T, B, ``output_size``), from a zero state."""
        return self.forward_state(x, x_lens)[0]

    def forward_state(self, x: torch.Tensor, x_lens: torch.Tensor, state: EncoderState | None = None
                      ) -> tuple[torch.Tensor, EncoderState]:
        """Run the stack from ``state`` (default None: zeros); returns the output and the final state.

        Args:
            x: (T, B, F) time-major padded input.
            x_lens: (B,) lengths.
            state: one :data:`LayerState` per layer of :attr:`layers`, or None.

        Returns:
            ``(y (T, B, output_size), state)``.
        """
        if state is not None and len(state) != len(self.layers):
            raise ValueError(f"state has {len(state)} layer states, the encoder {len(self.layers)} layers")
        new_state: EncoderState = []
        for k, layer in enumerate(self.layers):
            if k > 0:
                x = self.dropout(x)
            x, st = layer.forward_state(x, x_lens, state[k] if state is not None else None)
            new_state.append(st)
        return x, new_state


def _torch_lstm_to_fused(state_dict: dict, prefix: str, cfg: EncoderConfig) -> None:
    """Rewrite, in place, one multi-layer ``torch.nn.LSTM``'s parameters as the fused layers' ones.

    torch orders the gate blocks i, f, g, o and has two biases; the fused layout orders them
    i, f, o, g (candidate last) with one bias, and stacks the directions on a leading axis.
    """
    H = cfg.hidden
    order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
    src = prefix + "layers.0.lstm."
    for k in range(cfg.layers):
        dirs = ["", "_reverse"] if cfg.bidirectional else [""]
        get = [lambda name, d=d, k=k: state_dict.pop(f"{src}{name}_l{k}{d}") for d in dirs]
        dst = f"{prefix}layers.{k}."
        state_dict[dst + "weight_ih"] = torch.cat([g("weight_ih")[order] for g in get])
        ws, bs, ps = [], [], []
        for g in get:
            ws.append(g("weight_hh")[order])
            bs.append((g("bias_ih") + g("bias_hh"))[order])
            if cfg.proj:
                ps.append(g("weight_hr"))
        state_dict[dst + "weight_hh"] = torch.stack(ws)
        state_dict[dst + "bias"] = torch.cat(bs)
        if cfg.proj:
            state_dict[dst + "weight_proj"] = torch.stack(ps)


def fused_to_torch_lstm(state_dict: dict, prefix: str, cfg: EncoderConfig) -> None:
    """The inverse of :func:`_torch_lstm_to_fused`: the fused layers' parameters as one ``torch.nn.LSTM``'s
    (``bias_hh`` zero), in place. For a config that ``torch.nn.LSTM`` can run (:func:`_torch_lstm` with
    ``impl="torch"``)."""
    H = cfg.hidden
    order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
    inverse = torch.argsort(order)
    dst = prefix + "layers.0.lstm."
    D = 2 if cfg.bidirectional else 1
    for k in range(cfg.layers):
        src = f"{prefix}layers.{k}."
        w_ih = state_dict.pop(src + "weight_ih").reshape(D, 4 * H, -1)
        w_hh = state_dict.pop(src + "weight_hh")
        bias = state_dict.pop(src + "bias").reshape(D, 4 * H)
        proj = state_dict.pop(src + "weight_proj") if cfg.proj else None
        for d, suffix in enumerate(["", "_reverse"][:D]):
            state_dict[f"{dst}weight_ih_l{k}{suffix}"] = w_ih[d][inverse]
            state_dict[f"{dst}weight_hh_l{k}{suffix}"] = w_hh[d][inverse]
            state_dict[f"{dst}bias_ih_l{k}{suffix}"] = bias[d][inverse]
            state_dict[f"{dst}bias_hh_l{k}{suffix}"] = torch.zeros_like(bias[d])
            if proj is not None:
                state_dict[f"{dst}weight_hr_l{k}{suffix}"] = proj[d]


class AcousticModel(nn.Module):
    """Frame stacking/subsampling -> recurrent encoder -> linear output layer.

    Output delay (unidirectional models, ``delay`` = d > 0, counted in frames
    after subsampling): each utterance's input is extended by d copies of its
    last frame, the encoder runs over the len + d frames, and output frame t is
    the encoder output at frame t + d. So output t (scored against target
    frame t) has seen input frames 0 .. t + d: the targets are in effect
    delayed by d frames relative to the input. Output lengths are unchanged.

    Args:
        cfg: the configuration.
        input_dim: feature dimension F of the input frames.
        num_outputs: V, output units (e.g. CTC tokens including the blank).
    """

    def __init__(self, cfg: EncoderConfig, input_dim: int, num_outputs: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.subsample = cfg.subsample
        self.encoder = Encoder(cfg, input_dim * cfg.stack)
        self.output = nn.Linear(self.encoder.output_size, num_outputs)

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute unnormalised output scores.

        Args:
            x: (B, T, F) padded features.
            x_lens: (B,) valid lengths.

        Returns:
            ``(logits, out_lens)``: logits (B, T', V) with T' = ceil(T / subsample),
            out_lens (B,) = ceil(x_lens / subsample). Frames past out_lens are
            not meaningful.
        """
        logits, out_lens, _ = self.forward_state(x, x_lens)
        return logits, out_lens

    def forward_state(self, x: torch.Tensor, x_lens: torch.Tensor, state: EncoderState | None = None,
                      chunk_width: int = 0) -> tuple[torch.Tensor, torch.Tensor, EncoderState]:
        """:meth:`forward` from a recurrent state, returning the state it ends in.

        Frame stacking looks ``stack - 1`` frames ahead within ``x`` only, so chunked
        calls match a whole-utterance call exactly when ``stack`` is 1 (or the chunks
        were cut from stacked features). An output delay extends the utterance's end,
        which a chunk does not have: ``delay`` > 0 with a given ``state`` is refused.

        Args:
            x: (B, T, F) padded features.
            x_lens: (B,) valid lengths.
            state: the encoder's state before frame 0 (default None: zeros).
            chunk_width: truncated BPTT (:meth:`forward_truncated`) over chunks of this many
                output frames (default 0: none).

        Returns:
            ``(logits (B, T', V), out_lens (B,), state)``.

        Raises:
            ValueError: a ``state`` for a model with an output delay; ``chunk_width`` for a
                bidirectional model, or below 0.
        """
        if chunk_width and self.cfg.bidirectional:
            raise ValueError("truncated BPTT with carried state needs a unidirectional model")
        if chunk_width < 0:
            raise ValueError(f"chunk_width must be >= 0, got {chunk_width}")
        x, x_lens = stack_frames(x, x_lens, self.cfg.stack, self.cfg.subsample)
        B, T, _ = x.shape
        d = self.cfg.delay
        if d and state is not None:
            raise ValueError("model.delay > 0: an output delay cannot be carried across chunks")
        enc_lens = x_lens
        if d:
            t = torch.arange(T + d, device=x.device)[None, :]
            last = (x_lens.to(x.device) - 1).clamp(min=0)[:, None]
            idx = torch.minimum(t, last)  # frames past the end repeat the last frame
            x = torch.gather(x, 1, idx[..., None].expand(B, T + d, x.shape[-1]))
            enc_lens = x_lens + d
        if chunk_width:
            y, new_state = self._encode_truncated(x.transpose(0, 1), enc_lens.to(x.device), state, chunk_width)
        else:
            y, new_state = self.encoder.forward_state(x.transpose(0, 1), enc_lens, state)  # (T + d, B, H)
        if d:
            y = y[d:]
        return self.output(y.transpose(0, 1)), x_lens, new_state

    def forward_truncated(self, x: torch.Tensor, x_lens: torch.Tensor, chunk_width: int
                          ) -> tuple[torch.Tensor, torch.Tensor, EncoderState]:
        """:meth:`forward_state` from zeros with gradients truncated every ``chunk_width`` frames.

        Truncated backpropagation through time as Sak et al. (2014) trained their LSTMs: the
        encoder runs over consecutive chunks of ``chunk_width`` (output) frames, each starting
        from the state the previous one ended in, detached. The outputs equal the whole-utterance
        ones; the gradients are the whole-utterance ones when ``chunk_width`` covers the utterance.
        The output delay is applied before chunking (the extended utterance is cut into chunks),
        so a delayed model trains the same way. For unidirectional models.

        Raises:
            ValueError: a bidirectional model, or ``chunk_width`` < 1.
        """
        if chunk_width < 1:
            raise ValueError(f"chunk_width must be >= 1, got {chunk_width}")
        return self.forward_state(x, x_lens, chunk_width=chunk_width)

    def _encode_truncated(self, xt: torch.Tensor, lens: torch.Tensor, state: EncoderState | None,
                          chunk_width: int) -> tuple[torch.Tensor, EncoderState]:
        """The encoder over (T, B, F) ``xt`` chunk by chunk, the state carried and detached at each chunk."""
        ys = []
        for start in range(0, xt.shape[0], chunk_width):
            chunk = xt[start:start + chunk_width]
            # utterances that ended before this chunk run one padding frame: their output is masked
            # below and their state is never read again
            c_lens = (lens - start).clamp(min=1, max=chunk.shape[0])
            if state is not None:
                state = [tuple(s.detach() for s in st) for st in state]  # type: ignore[misc]
            y, state = self.encoder.forward_state(chunk, c_lens, state)
            ys.append(y)
        y = torch.cat(ys, 0)
        mask = torch.arange(y.shape[0], device=xt.device)[:, None] < lens[None, :]
        assert state is not None
        return y * mask[..., None].to(y.dtype), state

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Enforce the parameter constraints after an update (``proj_max_norm``); nothing without them."""
        c = self.cfg.proj_max_norm
        if c <= 0:
            return
        for layer in self.encoder.layers:
            for w in _projections(layer):
                norms = w.norm(dim=-1, keepdim=True)
                w.mul_((c / norms.clamp(min=1e-12)).clamp(max=1.0))

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _projections(layer: RecurrentLayer) -> list[torch.Tensor]:
    """The recurrent projections of a layer, rows (last axis H) = output units: (R, H) or (D, R, H)."""
    if layer.use_nn_lstm:
        return [w for name, w in layer.lstm.named_parameters() if name.startswith("weight_hr")]
    return [layer.weight_proj] if layer.weight_proj is not None else []


def build_model(cfg: EncoderConfig, input_dim: int, num_outputs: int) -> AcousticModel:
    """Build the acoustic model of ``cfg`` for ``input_dim`` features and ``num_outputs`` units."""
    return AcousticModel(cfg, input_dim, num_outputs)
