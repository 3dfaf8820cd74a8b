"""Compile a model to a .tflite file the stock LiteRT interpreter runs.

Loads MODEL (.pb, .pbtxt, .tflite or .ir), runs --passes and then the default
clean-up pipeline (canonicalize,fold-constants,canonicalize,dce), lowers to TFLite ops and
writes OUT atomically. If some ops cannot be lowered, nothing is written: the
exit code is 2, stderr says which ops, and --report holds the full legality
report (JSON) with a hint per node.

example:
  litesmith convert model.pb -o model.tflite --input-shape x:1x28x28x3
  litesmith convert lm.pb -o lm.tflite --inputs ids,state --outputs logits \\
      --passes strip-batch,unroll-rnn --report lm-report.json
  litesmith convert cnn.pb -o cnn-int8.tflite --quantize int8 --calibration calib.npz
"""
from __future__ import annotations

import json
import sys

from .options import add_io_arguments, add_quantize_arguments, load_model


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="the model: .pb/.pbtxt (frozen GraphDef), .tflite or .ir")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite", help="where to write the flatbuffer")
    add_io_arguments(p)
    p.add_argument("--passes", metavar="PIPELINE", help="passes to run before the default clean-up pipeline")
    p.add_argument("--quantize", choices=("dynamic", "int8", "float16"), metavar="MODE",
                   help="quantize after lowering: dynamic (int8 weights), int8 (full integer; needs --calibration) or float16")
    add_quantize_arguments(p)
    p.add_argument("--report", metavar="REPORT.json",
                   help="write ops before/after, fusions and the legality report here (also on failure)")


def run(args) -> int:
    from litesmith.api import DEFAULT_PIPELINE, optimize, write_atomic
    from litesmith.backends.tflite.compile import compile_to_tflite
    from litesmith.backends.tflite.legalize import IllegalOpsError

    graph = load_model(args)
    pipeline = ",".join(p for p in (args.passes, DEFAULT_PIPELINE) if p)
    optimize(graph, pipeline)
    report = {"model": args.model, "passes": pipeline}
    try:
        blob = compile_to_tflite(graph, report=report, quantize=args.quantize, calibration=args.calibration,
                                 io_dtype=args.io, percentile=args.percentile, integer_only=args.integer_only,
                                 as_bytearray=True)  # written to a file: no second copy of the weights
    except IllegalOpsError as e:
        report["status"] = "illegal-ops"
        _write_report(args.report, report)
        print(f"litesmith: error: {args.model}: {e.report.summary()}"
              + (f"; full report in {args.report}" if args.report else "; pass --report FILE.json for details"),
              file=sys.stderr)
        return 2
    write_atomic(args.output, blob)
    report["status"] = "ok"
    report["bytes"] = len(blob)
    _write_report(args.report, report)
    return 0


def _write_report(path, report) -> None:
    if path:
        from litesmith.api import write_atomic

        write_atomic(path, (json.dumps(report, indent=2, default=str) + "\n").encode("utf-8"))
