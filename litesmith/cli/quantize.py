"""Quantize a .tflite model: float16 weights, dynamic-range int8 weights, full int8, or 16x8.

Runs the mode's pass (quantize-float16, quantize-dynamic, quantize-int8{...} or quantize-int16x8)
through the pass manager, so the instruments of `litesmith opt` apply
(--print-ir-after-all, --check-numerics: measures the quantization error).

example:
  litesmith quantize model.tflite -o model_int8.tflite --mode int8 --calibration calib.npz --report report.json
  litesmith quantize model.tflite -o model_dyn.tflite --mode dynamic
  litesmith quantize model.tflite -o model_f16.tflite --mode float16
  litesmith quantize model.tflite -o model_16x8.tflite --mode int16x8 --calibration calib.npz

calib.npz holds one array per model input, keyed by input name, shaped
[samples, *input_shape] ([sequences, steps, *input_shape] for models with
state inputs, which are not given: they start at zero and are threaded).
"""
from __future__ import annotations

import json
import sys

from litesmith.ir.errors import UserError

from litesmith.backends.quantize import MODES

from .options import add_pass_manager_arguments, add_quantize_arguments, pass_manager_options


def add_arguments(p) -> None:
    p.add_argument("file", metavar="IN.tflite", help="a float .tflite model")
    p.add_argument("-o", "--output", metavar="OUT.tflite", required=True, help="where to write the quantized model")
    p.add_argument("--mode", choices=MODES, default="int8", help="quantization mode (default: int8)")
    add_quantize_arguments(p)
    p.add_argument("--report", metavar="REPORT.json", help="write a JSON report (ops converted, accuracy vs the float model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_pass_manager_arguments(p)


def run(args) -> int:
    from litesmith.backends.quantize import quantize_graph
    from litesmith.backends.tflite import read_tflite, write_tflite
    from litesmith.ir.fileio import write_atomic

    if not args.file.endswith(".tflite"):
        raise UserError(f"{args.file}: give a .tflite model (convert other formats first with 'litesmith convert')")
    try:
        graph = read_tflite(args.file)
    except FileNotFoundError:
        raise UserError(f"{args.file}: no such file") from None
    report: dict = {}
    quantize_graph(graph, args.mode, calibration=args.calibration, io_dtype=args.io, percentile=args.percentile,
                   report=report, progress=not args.quiet, integer_only=args.integer_only, max_drop=args.max_drop,
                   budget_steps=args.budget_steps, manager_options=pass_manager_options(args))
    blob = write_tflite(graph, as_bytearray=True)  # written to a file: no second copy of the weights
    write_atomic(args.output, blob)
    report["output_bytes"] = len(blob)
    if args.report:
        write_atomic(args.report, json.dumps(report, indent=2, sort_keys=True).encode("utf-8"))
    print(f"wrote {args.output} ({len(blob)} bytes, mode {args.mode})", file=sys.stderr)
    return 0
