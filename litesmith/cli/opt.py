"""Run a pass pipeline on IR text and print (or write) the result.

example:
  litesmith opt model.ir -p "canonicalize,fold-constants{max_elements=4096},dce" -o out.ir
  litesmith opt model.ir -p cse --print-ir-after-change --verify-each
  litesmith opt reproducer-02-cse.ir          # a reproducer names its own pipeline
  litesmith opt model.pb -p "canonicalize,fold-constants,canonicalize,dce,lower-tflite,fuse-tflite,dce"
  litesmith opt model.tflite -p quantize-int8 --calibration calib.npz --check-numerics
  litesmith opt model.ir --load my_passes.py -p my-pass,dce   # passes from a file, no package needed
"""
from __future__ import annotations

import sys

from litesmith.ir.errors import UserError

from .options import add_custom_shape_argument, add_pass_manager_arguments, parse_input_shapes, pass_manager_options, pipeline_error
from .plugins import add_load_argument, load_files


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE.ir", help="IR text (a .pb, .pbtxt or .tflite model also works)")
    p.add_argument("-p", "--pipeline", help='passes, e.g. "cse,fold-constants{max_elements=64}"; '
                   "default: the '// pipeline:' line of FILE")
    p.add_argument("-o", "--output", metavar="OUT.ir", help="write the result here (default: stdout)")
    p.add_argument("--calibration", metavar="DATA.npz",
                   help="calibration inputs for quantize-int8 (and the accuracy report of any quantize-* pass)")
    add_custom_shape_argument(p)
    add_pass_manager_arguments(p)
    add_load_argument(p)


def run(args) -> int:
    from litesmith.api import load, write_atomic
    from litesmith.ir.text import print_ir, save_ir
    from litesmith.passes import PassManager

    load_files(args.load)
    pipeline = args.pipeline if args.pipeline is not None else _pipeline_from_file(args.file)
    try:
        pm = PassManager.parse(pipeline, resources={"calibration": args.calibration}, **pass_manager_options(args))
    except UserError as e:  # an unknown pass is the pipeline's error, not the model file's
        if args.pipeline is None:
            raise UserError(f"{args.file}: its '// pipeline:' line: {e}") from None
        raise pipeline_error(pipeline, e) from None
    graph = load(args.file, custom_shapes=parse_input_shapes(args.custom_shape, "--custom-shape"))
    pm.run(graph)
    if args.output:
        if args.output.endswith(".ir"):
            save_ir(graph, args.output)  # large constants go to OUT.ir.npz
        else:
            write_atomic(args.output, print_ir(graph, elide_above=1 << 62).encode("utf-8"))
    else:
        sys.stdout.write(print_ir(graph))
    return 0


def _pipeline_from_file(path: str) -> str:
    from litesmith.passes.manager import REPRODUCER_PIPELINE_PREFIX

    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(REPRODUCER_PIPELINE_PREFIX):
                    return line[len(REPRODUCER_PIPELINE_PREFIX):].strip()
                if not line.startswith("//"):
                    break
    except (OSError, UnicodeDecodeError):
        pass  # load() reports unreadable files
    raise UserError(f"{path}: no pipeline given; pass -p PIPELINE (or add a '{REPRODUCER_PIPELINE_PREFIX}...' first line)")
