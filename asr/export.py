"""Export a trained system to ONNX or TorchScript, and recognise with the exported file.

What is exported is the **acoustic model**: its graph takes *normalised features* ``feats``
(1, T, F) -- the frontend's output: filterbanks (deltas) after CMVN -- and gives
log-posteriors ``log_probs`` (1, T', V), T' = ceil(T / subsample), for one utterance at a time
(any T). The frontend (filterbank options, CMVN statistics and prior) and the units travel in
the file as JSON (ONNX metadata ``asr_system``; TorchScript extra file ``asr_system.json``), so
an exported file alone transcribes: :func:`load_exported` rebuilds the frontend and tokenizer
from it and runs the graph with onnxruntime (or ``torch.jit``), without the toolkit's model code.

``quantize`` stores int8 weights (onnxruntime's dynamic quantisation for ONNX; torch's
``quantize_dynamic`` of the LSTM and linear layers for TorchScript).

Exportable models are those ``torch.nn.LSTM`` can run (cell ``lstm``, uni- or bidirectional, no
``nonrec_proj``, ``gate_norm`` or clipping): a model trained on the fused recurrence is converted to
that layout first (:func:`asr.models.encoder.fused_to_torch_lstm`). LSTMP (recurrent projection)
models export to TorchScript only: ONNX's LSTM has no projection.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asr.errors import AsrError

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
META_KEY = "asr_system"
FORMAT_VERSION = 1


class ExportError(AsrError):
    """A model that cannot be exported, or an exported file that cannot be read."""


class _LogProbs(nn.Module):
    """The exported graph: normalised features (1, T, F) -> log-posteriors (1, T', V)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
        logits, _ = self.model(feats, lens)
        return torch.log_softmax(logits, dim=-1)


def _plain(x: Any) -> Any:
    """``x`` as JSON: bytes -> {"b64": ...}, tensors -> nested lists, recursively."""
    if isinstance(x, bytes | bytearray):
        return {"__b64__": base64.b64encode(bytes(x)).decode("ascii")}
    if isinstance(x, torch.Tensor):
        return {"__tensor__": x.tolist(), "dtype": str(x.dtype).removeprefix("torch.")}
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def _unplain(x: Any) -> Any:
    if isinstance(x, dict):
        if "__b64__" in x:
            return base64.b64decode(x["__b64__"])
        if "__tensor__" in x:
            return torch.tensor(x["__tensor__"], dtype=getattr(torch, x["dtype"]))
        return {k: _unplain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_unplain(v) for v in x]
    return x


def _exportable(system: Any) -> nn.Module:
    """The system's acoustic model in a layout torch.onnx / torch.jit.trace handle (nn.LSTM)."""
    from asr.models import build_model
    from asr.models.encoder import _torch_lstm, fused_to_torch_lstm, uses_torch_lstm

    cfg = system.cfg.model
    if uses_torch_lstm(cfg):
        return system.model
    if not _torch_lstm(cfg.cell, cfg.proj, cfg.nonrec_proj, cfg.bidirectional, "torch"):
        raise ExportError(f"export needs a model torch.nn.LSTM can run (cell lstm without nonrec_proj); this one "
                          f"is cell={cfg.cell}, nonrec_proj={cfg.nonrec_proj}")
    if cfg.fused_only:
        raise ExportError("export: gate_norm, cell_clip, rec_grad_clip and proj_clip run on the fused recurrence only, "
                          "which has no exportable graph yet")
    torch_cfg = dataclasses.replace(cfg, lstm_impl="torch")
    model = build_model(torch_cfg, system.input_dim, system.tokenizer.vocab_size)
    state = {k: v.clone() for k, v in system.model.state_dict().items()}
    fused_to_torch_lstm(state, "encoder.", torch_cfg)
    model.load_state_dict(state)
    return model.eval()


def _metadata(system: Any, fmt: str, quantized: bool, source: str) -> str:
    meta = {"format_version": FORMAT_VERSION, "format": fmt, "quantized": quantized, "exported_from": source,
            "input": "feats: normalised features (1, T, F), the frontend's output (filterbanks, deltas, CMVN)",
            "output": "log_probs: log-posteriors (1, ceil(T / subsample), V), unit 0 = CTC blank",
            "subsample": system.subsample, "system": _plain(dataclasses.asdict(system.cfg)),
            "frontend": _plain({k: v.detach().cpu() for k, v in system.frontend.state_dict().items()}),
            "tokenizer": _plain(system.tokenizer.state())}
    return json.dumps(meta)


def export(model: str | os.PathLike, fmt: str, out: str | os.PathLike, quantize: bool = False) -> Path:
    """Write ``model`` (a checkpoint or experiment dir) as an ONNX or TorchScript file ``out``.

    Raises:
        ExportError: an unknown format, or a model that cannot be exported.
    """
    from asr.checkpoint import load_checkpoint
    from asr.fileio import atomic_save_bytes
    from asr.system import System

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} ({' | '.join(FORMATS)})")
    state = load_checkpoint(model)
    system = System.from_state(state)
    system.eval()
    if fmt == "onnx" and system.cfg.model.proj:
        raise ExportError("ONNX has no LSTM with a recurrent projection (torch.onnx cannot export nn.LSTM's "
                          "proj_size): export this LSTMP model with --format torchscript")
    graph = _LogProbs(_exportable(system)).eval()
    example = torch.zeros(1, 50, system.input_dim)
    meta = _metadata(system, fmt, quantize, str(state["path"]))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent Python (lengths) and deprecations
        if fmt == "onnx":
            import onnx

            torch.onnx.export(graph, (example,), buf, dynamo=False, input_names=["feats"],
                              output_names=["log_probs"], dynamic_axes={"feats": {1: "T"}, "log_probs": {1: "T_out"}},
                              opset_version=17)
            proto = onnx.load_from_string(buf.getvalue())
            if quantize:
                proto = _quantize_onnx(proto)
            entry = proto.metadata_props.add()
            entry.key, entry.value = META_KEY, meta
            data = proto.SerializeToString()
        else:
            if quantize:
                graph = torch.ao.quantization.quantize_dynamic(graph, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
            with torch.no_grad():
                traced = torch.jit.trace(graph, (example,), check_trace=False)
            torch.jit.save(traced, buf, _extra_files={f"{META_KEY}.json": meta})
            data = buf.getvalue()
    atomic_save_bytes(out, data)
    log.info("exported %s to %s (%s%s, %.1f MB): input normalised features (1, T, %d), output log-posteriors",
             state["path"], out, fmt, ", int8 weights" if quantize else "", len(data) / 1e6, system.input_dim)
    return Path(out)


def _quantize_onnx(proto: Any) -> Any:
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # onnxruntime's quantiser logs its notes on the root logger
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            onnx.save(proto, str(src))
            logging.disable(logging.WARNING)
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
            return onnx.load(str(dst))
    finally:
        logging.disable(logging.NOTSET)
        root.setLevel(level)


# ----- recognition with an exported file ------------------------------------------------------------

class _Runner(nn.Module):
    """Stands in for the acoustic model of a :class:`~asr.system.System`: runs the exported graph on
    each utterance of a batch (unpadded) and pads the log-posteriors back into a batch."""

    def __init__(self, run: Any, subsample: int) -> None:
        super().__init__()
        self.run = run
        self.subsample = subsample
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)  # System.device reads a parameter

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [self.run(x[i: i + 1, : int(n)].float().cpu().contiguous())[0] for i, n in enumerate(x_lens)]
        lens = torch.tensor([o.shape[0] for o in outs], dtype=torch.long)
        batch = torch.full((len(outs), int(lens.max()), outs[0].shape[-1]), -1e4)
        for i, o in enumerate(outs):
            batch[i, : o.shape[0]] = o
        return batch, lens


def is_exported(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an exported file (``.onnx``, or a TorchScript ``.ts``/``.torchscript``)."""
    return Path(path).suffix.lower() in (".onnx", ".ts", ".torchscript")


def load_exported(path: str | os.PathLike, threads: int = 0) -> tuple[Any, dict[str, Any]]:
    """A :class:`~asr.system.System` whose acoustic model is the exported graph of ``path``, and the metadata.

    Raises:
        ExportError: a missing or unreadable file, or one without the toolkit's metadata.
    """
    from asr.config import from_dict
    from asr.features.frontend import Frontend
    from asr.system import System, SystemConfig
    from asr.text import Tokenizer

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"{p}: no such exported model")
    try:
        if p.suffix.lower() == ".onnx":
            import onnx
            import onnxruntime as ort

            proto = onnx.load(str(p))
            meta_text = next((m.value for m in proto.metadata_props if m.key == META_KEY), None)
            opts = ort.SessionOptions()
            if threads > 0:
                opts.intra_op_num_threads = threads
            sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])

            def run(feats: torch.Tensor) -> torch.Tensor:
                return torch.from_numpy(sess.run(None, {"feats": feats.numpy()})[0])
        else:
            extra = {f"{META_KEY}.json": ""}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit's deprecation notice
                module = torch.jit.load(str(p), map_location="cpu", _extra_files=extra)
            module.eval()
            meta_text = extra[f"{META_KEY}.json"] or None

            def run(feats: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    return module(feats)
    except ExportError:
        raise
    except Exception as e:  # onnx/onnxruntime/torch.jit raise many kinds on a bad file
        raise ExportError(f"{p}: cannot read this exported model ({type(e).__name__}: {e})") from None
    if not meta_text:
        raise ExportError(f"{p}: no '{META_KEY}' metadata: not exported by asr export")
    meta = json.loads(meta_text)
    cfg = from_dict(SystemConfig, _unplain(meta["system"]), where=f"{p}: {META_KEY}")
    frontend = Frontend(cfg.frontend)
    frontend.load_state_dict(_unplain(meta["frontend"]))
    tokenizer = Tokenizer.from_state(_unplain(meta["tokenizer"]))
    system = System(cfg, frontend, _Runner(run, int(meta["subsample"])), tokenizer)  # type: ignore[arg-type]
    system.eval()
    return system, meta
