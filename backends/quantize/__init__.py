"""Quantization of tfl-level graphs: float16, dynamic-range int8, full-integer int8.

    graph = read_tflite("model.tflite")
    quantize_graph(graph, "int8", calibration="calib.npz", report=info)

Passes run in order: (calibrate: ranges from the reference interpreter) ->
rewrite to quantized types and ops. ``report`` (a dict) receives what was
converted and, when calibration data is given, the accuracy report.
"""
from __future__ import annotations

from typing import Optional

MODES = ("float16", "dynamic", "int8")
IO_DTYPES = ("float32", "int8")


def quantize_graph(graph, mode: str, calibration=None, io_dtype: str = "float32", percentile: Optional[float] = None,
                   report: Optional[dict] = None, progress: bool = True, integer_only: bool = False):
    """Quantize ``graph`` (tfl ops + constants) in place and return it.

    ``calibration``: .npz path, {input name: [samples, *shape]} or a callable
    yielding feed dicts; required for int8. ``report`` gets a JSON-able
    summary, including the accuracy report when calibration data is given. ``integer_only``
    (int8): every op int8, no float kept for accuracy; an op without an int8 kernel is an error.

    BLAS runs on one thread meanwhile: calibration, GPTQ and the accuracy report are thousands of
    small matrix products, where OpenBLAS's threads cost more than they give; on the shared 2-core
    box MobileNetV2's int8 conversion took 220 s with them and 28 s without (docs/benchmarks.md
    section 5). The limit is lifted on return."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _quantize_graph(graph, mode, calibration, io_dtype, percentile, report, progress, integer_only)


def _quantize_graph(graph, mode, calibration, io_dtype, percentile, report, progress, integer_only):
    from litesmith.ir.errors import UserError

    from .calibrate import calibrate
    from litesmith.ir.clone import clone_graph

    if mode not in MODES:
        raise UserError(f"unknown quantization mode {mode!r}; choose one of {', '.join(MODES)}")
    if io_dtype not in IO_DTYPES:
        raise UserError(f"unknown io dtype {io_dtype!r}; choose float32 or int8")
    if integer_only and mode != "int8":
        raise UserError(f"integer-only needs mode int8 (mode {mode} keeps float activations)")
    if io_dtype == "int8" and mode != "int8":
        raise UserError(f"io int8 needs mode int8 (mode {mode} keeps float activations)")
    report = {} if report is None else report
    report["mode"] = mode
    float_graph = clone_graph(graph) if calibration is not None else None
    if mode == "float16":
        from .float16 import quantize_float16

        quantize_float16(graph, report)
    elif mode == "dynamic":
        from .dynamic import quantize_dynamic

        quantize_dynamic(graph, report)
    else:
        if calibration is None:
            raise UserError("int8 quantization needs calibration data (--calibration DATA.npz): "
                            "one array per model input, shaped [samples, *input_shape]")
        from .gptq import InputMoments
        from .int8 import quantize_int8

        moments = InputMoments(graph)
        ranges = calibrate(graph, calibration, percentile=percentile, progress=progress, also=moments)
        quantize_int8(graph, ranges, io_dtype, report, integer_only=integer_only, moments=moments.second_moments())
    from .rewrite import remove_dead

    remove_dead(graph)
    if float_graph is not None:
        from .accuracy import accuracy_report

        report["accuracy"] = accuracy_report(float_graph, graph, calibration)
    return graph


__all__ = ["MODES", "quantize_graph"]
