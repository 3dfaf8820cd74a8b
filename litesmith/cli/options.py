"""Option parsing shared by the verbs (one definition of `--input-shape` and name lists)."""
from __future__ import annotations

import sys
from typing import Dict, List, Optional

from litesmith.ir.errors import UserError


class OptionError(UserError):
    """A bad command-line option (a pipeline, a --load file): the message names it, not the model file."""


def pipeline_error(text: str, error: UserError) -> OptionError:
    """A pipeline's syntax error, unknown pass or bad option, said as an error of the pipeline."""
    from litesmith.ir.errors import ParseError

    return OptionError(str(error) if isinstance(error, ParseError) else f"pipeline {text!r}: {error}")


def add_io_arguments(p) -> None:
    """``--inputs``, ``--outputs`` and ``--input-shape``, as every loading verb spells them."""
    p.add_argument("--inputs", metavar="A,B", help="graph inputs by name (default: auto-detected placeholders)")
    p.add_argument("--outputs", metavar="X,Y", help="graph outputs by name (default: tensors nobody consumes)")
    p.add_argument("--input-shape", metavar="NAME:1x28x28x3", action="append", default=[],
                   help="static shape of an input; ? for an unknown dim, NAME: for a scalar (repeatable)")
    p.add_argument("--signature", metavar="NAME",
                   help="SavedModel directories: the signature to convert (default serving_default)")
    add_custom_shape_argument(p)


def add_custom_shape_argument(p) -> None:
    """``--custom-shape``: result shapes of ops litesmith does not map (it cannot infer them)."""
    p.add_argument("--custom-shape", metavar="OP:1x3", action="append", default=[],
                   help="static result shape of an unmapped op: OP is its op type (Lgamma: every such node), "
                        "a node name or a result name (node:1 for result 1); repeatable")


def add_quantize_arguments(p) -> None:
    """The calibration and int8 options `convert --quantize` and `quantize` share."""
    p.add_argument("--calibration", metavar="DATA.npz",
                   help="calibration inputs keyed by input name, [samples, *shape] (stateful models: "
                        "[sequences, steps, *shape]); required for int8, enables the accuracy report")
    p.add_argument("--io", choices=("float32", "int8"), default="float32", help="model input/output type (int8 needs int8 mode)")
    p.add_argument("--percentile", type=float, metavar="P", help="clip activation ranges to the [100-P, P] percentiles (e.g. 99.99)")
    p.add_argument("--integer-only", action="store_true",
                   help="int8: every op int8 (no float kept for accuracy: LM logits, large softmax, recurrent "
                        "state updates); an op without an int8 kernel is an error. For integer-only hardware")
    p.add_argument("--max-drop", type=float, metavar="X",
                   help="int8: accuracy budget in percent (top-1 agreement with float on the calibration data, "
                        "else relative error); the most sensitive FULLY_CONNECTED layers become int16 islands (16x8) or "
                        "hybrid (int8 weights either way), then FULLY_CONNECTED/CONV_2D layers stay float, until the "
                        "drop is within X; every trial is in --report")
    p.add_argument("--budget-steps", type=int, metavar="N",
                   help="with --max-drop: measure the budget over N steps (default 512); a model with state "
                        "plays the calibration sequences one after another, state carried across them as a "
                        "keyboard carries it, repeated until N steps")


def add_pass_manager_arguments(p) -> None:
    """The pass manager's instruments, as `opt`, `convert` and `quantize` spell them."""
    g = p.add_argument_group("pass instruments (stderr)")
    g.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    g.add_argument("--print-ir-after-change", action="store_true", help="print the IR after passes that changed it")
    g.add_argument("--verify-each", action="store_true", help="verify the graph after every pass")
    g.add_argument("--time-passes", action="store_true", help="print how long each pass took")
    g.add_argument("--dump-dir", metavar="DIR", help="write NN-passname.ir after each pass into DIR")
    g.add_argument("--check-numerics", action="store_true",
                   help="compare outputs with the reference interpreter after each pass (random inputs)")
    g.add_argument("--reproducer-dir", metavar="DIR", help="on a pass failure, write input IR + pipeline here")


def pass_manager_options(args) -> Dict[str, object]:
    """``PassManager`` keywords from the arguments of ``add_pass_manager_arguments``."""
    return dict(
        verify_each=args.verify_each,
        print_ir_after_all=args.print_ir_after_all,
        print_ir_after_change=args.print_ir_after_change,
        time_passes=args.time_passes,
        dump_dir=args.dump_dir,
        check_numerics=args.check_numerics,
        reproducer_dir=args.reproducer_dir,
        out=sys.stderr,
    )


def parse_input_shapes(specs, option: str = "--input-shape") -> Optional[Dict[str, List[Optional[int]]]]:
    """``["x:1x28x28x3", "y:?x4", "s:"]`` -> ``{"x": [1, 28, 28, 3], "y": [None, 4], "s": []}``."""
    shapes: Dict[str, List[Optional[int]]] = {}
    for spec in specs or ():
        name, sep, dims = spec.rpartition(":")
        if not sep or not name:
            raise UserError(f"{option} {spec!r}: expected NAME:DIMS such as input:1x28x28x3")
        out: List[Optional[int]] = []
        parts = dims.lower().split("x") if dims else []
        if "" in parts:
            raise UserError(f"{option} {spec!r}: empty dimension; write dimensions like 1x28x28x3 ('NAME:' for a scalar)")
        for d in parts:
            if d in ("?", "-1"):
                out.append(None)
            elif d.isdigit():
                out.append(int(d))
            else:
                raise UserError(f"{option} {spec!r}: dimension {d!r} is not a number or ?")
        shapes[name] = out
    return shapes or None


def split_names(text: Optional[str]) -> Optional[List[str]]:
    """``"a, b"`` -> ``["a", "b"]``; empty -> None (auto-detect)."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def load_model(args):
    """Load ``args.model`` with the I/O overrides of ``add_io_arguments``."""
    from litesmith.api import load
    from litesmith.ir.notes import graph_notes

    graph = load(args.model, inputs=split_names(args.inputs), outputs=split_names(args.outputs),
                 input_shapes=parse_input_shapes(args.input_shape),
                 custom_shapes=parse_input_shapes(args.custom_shape, "--custom-shape"), signature=args.signature)
    for note in graph_notes(graph):
        print(f"litesmith: note: {args.model}: {note}", file=sys.stderr)
    return graph
