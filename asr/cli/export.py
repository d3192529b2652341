"""``asr export``: write a trained model as an ONNX or TorchScript file that transcribes on its own.

The exported graph is the acoustic model: it takes normalised features (1, T, F) -- filterbanks
after CMVN, the frontend's output -- and gives log-posteriors (1, T', V). The frontend (fbank
options, CMVN statistics) and the units are stored in the file, so ``asr transcribe --model
model.onnx`` computes the features and runs the graph with onnxruntime (``.ts``: TorchScript),
without the toolkit's model code, and gives the words the checkpoint gives.

Examples::

    asr export --model exp/ctc --format onnx exp/ctc/model.onnx
    asr export --model exp/ctc --format onnx --quantize exp/ctc/model.int8.onnx   # int8 weights
    asr export --model exp/ctc --format torchscript exp/ctc/model.ts
    asr transcribe --model exp/ctc/model.onnx audio.wav
"""

from __future__ import annotations

import argparse

from asr.cli.args import add_bool_arg, add_logging_args


def main(argv: list[str]) -> int:
    """Run ``asr export``; returns the exit status."""
    p = argparse.ArgumentParser(prog="asr export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint file or experiment dir")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default onnx")
    add_bool_arg(p, "--quantize", False, "int8 weights (dynamic quantisation; default: float32)")
    p.add_argument("out", help="the file to write (.onnx, or .ts for TorchScript)")
    add_logging_args(p)
    args = p.parse_args(argv)

    from asr.export import ExportError, export
    from asr.log import setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file)
    suffix = ".onnx" if args.format == "onnx" else ".ts"
    if not args.out.endswith(suffix):
        raise ExportError(f"{args.out}: a {args.format} file must end in {suffix} "
                          "(asr transcribe tells the formats apart by it)")
    export(args.model, args.format, args.out, quantize=args.quantize)
    return 0
