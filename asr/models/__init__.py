"""Acoustic models: deep uni/bidirectional LSTM, LSTMP and the LSTM ablations of Levy et al. (2018)."""

from asr.models.cells import CELL_TYPES, fused_recurrence, reverse_padded
from asr.models.encoder import (
    AcousticModel,
    Encoder,
    EncoderConfig,
    EncoderState,
    LayerState,
    RecurrentLayer,
    build_model,
)

__all__ = [
    "CELL_TYPES",
    "AcousticModel",
    "Encoder",
    "EncoderConfig",
    "EncoderState",
    "LayerState",
    "RecurrentLayer",
    "build_model",
    "fused_recurrence",
    "reverse_padded",
]
