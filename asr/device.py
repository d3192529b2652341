"""Device names of the command line and the configs (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

import torch

from asr.errors import AsrError


def resolve_device(name: str | torch.device) -> torch.device:
    """Turn a device name into a device: ``auto`` is CUDA when available, else CPU.

    Args:
        name: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``, or a device (returned as is).

    Raises:
        AsrError: CUDA requested but not available, or an unknown name.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise AsrError(f"unknown device {name!r} (cpu | cuda | cuda:N | auto)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AsrError(f"device {name!r} requested but CUDA is not available")
    return dev
