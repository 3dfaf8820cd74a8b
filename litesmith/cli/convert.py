"""Compile a model to a .tflite file the stock LiteRT interpreter runs.

Loads MODEL (.pb, .pbtxt, .onnx, .tflite or .ir) and runs one pipeline:
--passes, the default clean-up (canonicalize,fold-constants,canonicalize,dce;
channel-first ONNX graphs run nchw-to-nhwc first), then the backend's
lower-tflite,fuse-tflite,dce and, with --quantize, quantize-MODE; then writes
OUT atomically. The pass instruments (--print-ir-after-all, --verify-each,
--check-numerics, --time-passes, --reproducer-dir...) see every pass, as in
`litesmith opt`. If some ops cannot be lowered, nothing is written: the exit
code is 2, stderr says which ops, and --report holds the full legality report
(JSON) with a hint per node.

--stubs-dir DIR runs stub-custom-ops after --passes (unless --passes has it
already) and writes its C++ kernel stubs into DIR once the model is written:
a failed conversion writes nothing there.

example:
  litesmith convert model.pb -o model.tflite --input-shape x:1x28x28x3
  litesmith convert lm.pb -o lm.tflite --inputs ids,state --outputs logits \\
      --passes strip-batch,unroll-rnn --report lm-report.json
  litesmith convert cnn.pb -o cnn-int8.tflite --quantize int8 --calibration calib.npz
  litesmith convert cnn.pb -o cnn.tflite --print-ir-after-all --check-numerics 2> passes.log
  litesmith convert resnet.onnx -o resnet.tflite --io-layout nhwc
  litesmith convert ctc.pb -o ctc.tflite --passes compose-ops --stubs-dir stubs/
  litesmith convert lm.pb -o lm-micro.tflite --passes strip-batch,unroll-rnn --quantize int8 \\
      --integer-only --calibration calib.npz --target tflm --report micro.json   # arena, AddXxx() calls

--target tflm|armnn checks the written bytes against the engine's profile
(docs/targets.md) before anything is written.
"""
from __future__ import annotations

import json
import sys

from litesmith.backends.quantize import MODES
from litesmith.backends.tflite.targets import DEFAULT_TARGET, TARGET_NAMES

from .options import add_io_arguments, add_pass_manager_arguments, add_quantize_arguments, load_model, pass_manager_options


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="the model: .pb/.pbtxt (frozen GraphDef), .onnx, .tflite or .ir")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite", help="where to write the flatbuffer")
    add_io_arguments(p)
    p.add_argument("--passes", metavar="PIPELINE", help="passes to run before the default clean-up pipeline")
    p.add_argument("--io-layout", choices=("nchw", "nhwc"),
                   help="ONNX models: nhwc makes rank-4 inputs and outputs channel-last (no transposes at the "
                        "edges); default nchw keeps the model's interface")
    p.add_argument("--quantize", choices=MODES, metavar="MODE",
                   help="quantize after lowering: dynamic (int8 weights), int8 (full integer; needs --calibration), "
                        "int16x8 (int16 activations, int8 weights; needs --calibration) or float16")
    add_quantize_arguments(p)
    p.add_argument("--stubs-dir", metavar="DIR",
                   help="stub the ops TFLite lacks as custom ops (stub-custom-ops) and write their C++ kernel "
                        "stubs here, after the model is written")
    p.add_argument("--target", choices=TARGET_NAMES, default=DEFAULT_TARGET,
                   help="the engine the file is for (default litert): tflm (TFLite Micro: integer-only, static "
                        "shapes, micro kernels) or armnn (Arm NN 20.08's TFLite parser); a model the target "
                        "would reject is not written (exit 2, one line per problem)")
    p.add_argument("--report", metavar="REPORT.json",
                   help="write ops before/after, fusions and the legality report here (also on failure)")
    add_pass_manager_arguments(p)


def run(args) -> int:
    from litesmith.api import pipeline_for, write_atomic
    from litesmith.backends.tflite.compile import compile_to_tflite
    from litesmith.backends.tflite.legalize import IllegalOpsError
    from litesmith.backends.tflite.stub_custom_ops import DEFERRED_STUBS
    from litesmith.backends.tflite.stubs import write_stubs
    from litesmith.passes.instruments import Instrument

    graph = load_model(args)
    pipeline = pipeline_for(graph, _with_stub_pass(args.passes, args.stubs_dir), args.io_layout)
    deferred_stubs: list = []  # (stubs_dir, specs) of each stub-custom-ops run, written after the model
    report = {"model": args.model, "passes": pipeline}

    class LayoutReport(Instrument):
        """Copies the layout pass's transpose counts into --report."""

        def after_pass(self, p, index, graph, record):
            if record.name == "nchw-to-nhwc":
                report["transposes"] = record.report.get("transposes")

    manager_options = dict(pass_manager_options(args), instruments=[LayoutReport()])
    try:
        blob = compile_to_tflite(graph, passes=pipeline, report=report, quantize=args.quantize,
                                 calibration=args.calibration, io_dtype=args.io, percentile=args.percentile,
                                 integer_only=args.integer_only, max_drop=args.max_drop, target=args.target,
                                 budget_steps=args.budget_steps,
                                 manager_options=manager_options,
                                 resources={DEFERRED_STUBS: deferred_stubs},
                                 as_bytearray=True)  # written to a file: no second copy of the weights
    except IllegalOpsError as e:
        report["status"] = "illegal-ops"
        _write_report(args.report, report)
        print(f"litesmith: error: {args.model}: {e.report.summary()}"
              + (f"; full report in {args.report}" if args.report else "; pass --report FILE.json for details"),
              file=sys.stderr)
        return 2
    if not _target_accepts(args, blob, report):
        return 2
    write_atomic(args.output, blob)
    files = [f for stubs_dir, specs in deferred_stubs if stubs_dir or args.stubs_dir
             for f in write_stubs(specs, stubs_dir or args.stubs_dir)]
    if files:
        report["stub_files"] = files
    report["status"] = "ok"
    report["bytes"] = len(blob)
    _write_report(args.report, report)
    return 0


def _target_accepts(args, blob, report) -> bool:
    """Check ``blob`` against ``--target``; on problems print one line each and write the report.
    For tflm, the report also gets the op resolver calls and the arena TFLM measures."""
    from litesmith.backends.tflite.target_check import check_target, tflm_resolver_calls
    from litesmith.backends.tflite.tflm_arena import measure_arena

    report["target"] = args.target
    findings = check_target(blob, args.target)
    if findings:
        report["status"] = "target-rejected"
        report["target_findings"] = [f.to_dict() for f in findings]
        _write_report(args.report, report)
        print(f"litesmith: error: {args.model}: {len(findings)} problem(s) for target {args.target}; nothing written",
              file=sys.stderr)
        for f in findings:
            print(f"litesmith: error: {f.line()}", file=sys.stderr)
        return False
    if args.target == "tflm" and args.report:
        arena = measure_arena(blob) or {"arena_bytes": None, "note": "pip install --pre tflite-micro to measure it"}
        report["tflm"] = {"op_resolver": tflm_resolver_calls(blob), **arena}
    return True


def _with_stub_pass(passes, stubs_dir):
    """``--passes`` with stub-custom-ops at the end when ``--stubs-dir`` is given and it has none."""
    if not stubs_dir:
        return passes
    from litesmith.ir.errors import ParseError
    from litesmith.passes.pipeline import parse_pipeline_syntax

    try:
        if passes and any(name == "stub-custom-ops" for name, _ in parse_pipeline_syntax(passes)):
            return passes
    except ParseError:
        return passes  # the compile reports the syntax error
    return ",".join(p for p in (passes, "stub-custom-ops") if p)


def _write_report(path, report) -> None:
    if path:
        from litesmith.api import write_atomic

        write_atomic(path, (json.dumps(report, indent=2, default=str) + "\n").encode("utf-8"))
