"""Quantization of tfl-level graphs: float16, dynamic-range int8, full-integer int8, 16x8.

    graph = read_tflite("model.tflite")
    quantize_graph(graph, "int8", calibration="calib.npz", report=info)

Each mode is a pass (passes.py: ``quantize-float16``, ``quantize-dynamic``,
``quantize-int8{io_dtype=int8,percentile=99.99,integer_only=true}``);
``quantize_graph`` runs the one for ``mode`` through the pass manager, with
the calibration data as a resource of the pass context. int8: calibrate
(ranges from the reference interpreter), then rewrite to quantized types and
ops. ``report`` (a dict) receives what was converted and, when calibration
data is given, the accuracy report.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

MODES = ("float16", "dynamic", "int8", "int16x8")
IO_DTYPES = ("float32", "int8")


def quantize_pipeline(mode: str, io_dtype: str = "float32", percentile: Optional[float] = None,
                      integer_only: bool = False, max_drop: Optional[float] = None, per_tensor_fc: bool = False,
                      budget_steps: Optional[int] = None, float_requantize: bool = False) -> str:
    """The pipeline element for a mode and its options (``quantize-int8{io_dtype=int8}``); a UserError
    for a combination that makes no sense (io int8 or integer-only without int8)."""
    from litesmith.ir.errors import UserError

    if mode not in MODES:
        raise UserError(f"unknown quantization mode {mode!r}; choose one of {', '.join(MODES)}")
    if io_dtype not in IO_DTYPES:
        raise UserError(f"unknown io dtype {io_dtype!r}; choose float32 or int8")
    if integer_only and mode != "int8":
        raise UserError(f"integer-only needs mode int8 (mode {mode} keeps float activations)")
    if max_drop is not None and mode != "int8":
        raise UserError(f"max-drop needs mode int8 (mode {mode} has no per-layer choice)")
    if budget_steps is not None and max_drop is None:
        raise UserError("budget-steps sets how long the accuracy budget measures: give --max-drop too")
    if io_dtype == "int8" and mode != "int8":
        raise UserError(f"io int8 needs mode int8 (mode {mode} keeps float activations)")
    from .passes import QuantizeDynamic, QuantizeFloat16, QuantizeInt8, QuantizeInt16x8

    if mode == "int8":
        extra = {} if budget_steps is None else {"budget_steps": budget_steps}
        return QuantizeInt8(io_dtype=io_dtype, percentile=percentile, integer_only=integer_only,
                            max_drop=max_drop, per_tensor_fc=per_tensor_fc,
                            float_requantize=float_requantize, **extra).pipeline_text()
    if mode == "int16x8":
        return QuantizeInt16x8(percentile=percentile).pipeline_text()
    return (QuantizeFloat16 if mode == "float16" else QuantizeDynamic)().pipeline_text()


def quantize_graph(graph, mode: str, calibration=None, io_dtype: str = "float32", percentile: Optional[float] = None,
                   report: Optional[dict] = None, progress: bool = True, integer_only: bool = False,
                   manager_options: Optional[Mapping[str, Any]] = None, max_drop: Optional[float] = None,
                   budget_steps: Optional[int] = None):
    """Quantize ``graph`` (tfl ops + constants) in place and return it.

    ``calibration``: .npz path, {input name: [samples, *shape]} or a callable
    yielding feed dicts; required for int8. ``report`` gets a JSON-able
    summary, including the accuracy report when calibration data is given. ``integer_only``
    (int8): every op int8, no float kept for accuracy; an op without an int8 kernel is an error.
    ``max_drop`` / ``budget_steps``: the accuracy budget (budget.py).
    ``manager_options``: keywords for the ``PassManager`` (verify_each, print_ir_after_all, ...)."""
    from litesmith.passes.manager import PassManager, PassUserError

    pipeline = quantize_pipeline(mode, io_dtype, percentile, integer_only, max_drop, budget_steps=budget_steps)
    pm = PassManager.parse(pipeline, resources={"calibration": calibration, "progress": progress},
                           **dict(manager_options or {}))
    try:
        run = pm.run(graph)
    except PassUserError as e:  # the pass's own message: the caller asked for a mode, not a pipeline
        raise e.__cause__ from None
    if report is not None:
        report.update(run[0].report)
    return graph


__all__ = ["MODES", "quantize_graph", "quantize_pipeline"]
