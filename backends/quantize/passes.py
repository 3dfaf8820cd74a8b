"""One pass per quantization mode: ``quantize-float16``, ``quantize-dynamic``, ``quantize-int8``,
``quantize-int16x8``.

They run on a lowered ``tfl`` graph (``compile_to_tflite`` puts them after
``lower-tflite,fuse-tflite,dce``; ``litesmith quantize`` runs one on a read
.tflite) and reach the registry through the ``litesmith.passes`` entry-point
group. Calibration samples are no pipeline option: whoever runs the pipeline
hands them over as a resource of the pass context,

    PassManager.parse("quantize-int8", resources={"calibration": "calib.npz"})

(an .npz path, {input name: [samples, *shape]} or a callable yielding feed
dicts; see calibrate.py). Resource ``progress`` (bool, default True) draws a
calibration progress bar on a terminal. Each pass sweeps what it bypassed
with a ``dce`` sub-pipeline and, when calibration data is given, reports
the accuracy against the float graph (``report["accuracy"]``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from litesmith.ir.clone import clone_graph
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

from . import IO_DTYPES
from .kernels import QuantizedInterpreter

__all__ = ["QuantizeFloat16", "QuantizeDynamic", "QuantizeInt8", "QuantizeInt16x8", "CALIBRATION_HINT"]

CALIBRATION_HINT = ("int8 quantization needs calibration data (--calibration DATA.npz): "
                    "one array per model input, shaped [samples, *input_shape]")


class _QuantizePass(Pass):
    """The steps every mode shares: rewrite, sweep, measure."""

    mode: ClassVar[str] = ""
    approximate = True  # outputs move by the quantization error: numerics checks measure it
    interpreter = QuantizedInterpreter  # integer kernels for the quantized nodes

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        """BLAS runs on one thread meanwhile: calibration, GPTQ and the accuracy report are
        thousands of small matrix products, where OpenBLAS's threads cost more than they give;
        on the shared 2-core box MobileNetV2's int8 conversion took 220 s with them and 28 s
        without (docs/benchmarks.md section 5). The limit is lifted on return."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._run(graph, ctx)

    def _run(self, graph: Graph, ctx: PassContext) -> bool:
        calibration = ctx.resources.get("calibration")
        self.check(calibration)
        ctx.report["mode"] = self.mode
        float_graph = clone_graph(graph) if calibration is not None else None
        self.rewrite(graph, calibration, ctx)
        ctx.run_pipeline("dce", graph)
        if float_graph is not None:
            from .accuracy import accuracy_report

            ctx.report["accuracy"] = accuracy_report(float_graph, graph, calibration)
        return True

    def check(self, calibration) -> None:
        """Raise a UserError for options or data the mode cannot use."""

    def rewrite(self, graph: Graph, calibration, ctx: PassContext) -> None:
        raise NotImplementedError


@register_pass("quantize-float16")
@dataclass
class QuantizeFloat16(_QuantizePass):
    """Store float32 weights as float16, widened once by DEQUANTIZE (float16.py)."""

    mode: ClassVar[str] = "float16"

    def rewrite(self, graph, calibration, ctx):
        from .float16 import quantize_float16

        quantize_float16(graph, ctx.report)


@register_pass("quantize-dynamic")
@dataclass
class QuantizeDynamic(_QuantizePass):
    """Dynamic range: int8 weights, float activations; hybrid FULLY_CONNECTED/CONV_2D (dynamic.py)."""

    mode: ClassVar[str] = "dynamic"

    def rewrite(self, graph, calibration, ctx):
        from .dynamic import quantize_dynamic

        quantize_dynamic(graph, ctx.report)


@register_pass("quantize-int8")
@dataclass
class QuantizeInt8(_QuantizePass):
    """Full-integer int8 from calibrated ranges (resource ``calibration``; int8.py, gptq.py)."""

    mode: ClassVar[str] = "int8"
    io_dtype: str = "float32"  # model input/output type: float32 (QUANTIZE/DEQUANTIZE at the edges) or int8
    percentile: Optional[float] = None  # clip activation ranges to the [100-P, P] percentiles (e.g. 99.99)
    integer_only: bool = False  # every op int8, no float kept for accuracy; an op without an int8 kernel is an error
    max_drop: Optional[float] = None  # accuracy budget in percent (top-1 agreement): weighted layers made hybrid or kept float to meet it
    per_tensor_fc: bool = False  # one weight scale per FULLY_CONNECTED (Arm NN 20.08: --target armnn)
    budget_steps: int = 512  # steps the budget measures over (a stateful model: calibration sequences threaded)
    float_requantize: bool = False  # no int8 -> int8 QUANTIZE: requantize through float (--target armnn)

    def check(self, calibration) -> None:
        if self.io_dtype not in IO_DTYPES:
            raise UserError(f"unknown io dtype {self.io_dtype!r}; choose float32 or int8")
        if calibration is None:
            raise UserError(CALIBRATION_HINT)
        if self.budget_steps < 1:
            raise UserError(f"budget-steps {self.budget_steps}: give a positive number of steps")
        if self.max_drop is not None and (self.integer_only or not 0 <= self.max_drop <= 100):
            raise UserError(f"max-drop {self.max_drop}: give a percentage in [0, 100] (and no integer-only: "
                            "the budget keeps layers float)")

    def rewrite(self, graph, calibration, ctx):
        from .calibrate import calibrate
        from .gptq import InputMoments
        from .int8 import quantize_int8

        moments = InputMoments(graph, fully_connected=True)
        ranges = calibrate(graph, calibration, percentile=self.percentile, progress=ctx.resources.get("progress", True),
                           also=moments)
        second = moments.second_moments()
        choices: dict = {}
        if self.max_drop is not None:
            from .budget import choose_layers

            budget: dict = {}
            choices = choose_layers(graph, ranges, second, calibration, self.max_drop, self.io_dtype,
                                    lambda g: ctx.run_pipeline("dce", g), budget, steps=self.budget_steps)
            ctx.report["budget"] = budget
        quantize_int8(graph, ranges, self.io_dtype, ctx.report, integer_only=self.integer_only, moments=second,
                      float_layers={k for k, v in choices.items() if v == "float"},
                      hybrid_layers={k for k, v in choices.items() if v == "hybrid"},
                      int16_layers={k for k, v in choices.items() if v == "int16"},
                      per_tensor_fc=self.per_tensor_fc, float_requantize=self.float_requantize)


@register_pass("quantize-int16x8")
@dataclass
class QuantizeInt16x8(_QuantizePass):
    """16x8: int16 activations, int8 weights, int64 biases, from calibrated ranges (int16x8.py)."""

    mode: ClassVar[str] = "int16x8"
    percentile: Optional[float] = None  # clip activation ranges to the [100-P, P] percentiles

    def check(self, calibration) -> None:
        if calibration is None:
            raise UserError(CALIBRATION_HINT.replace("int8", "int16x8", 1))

    def rewrite(self, graph, calibration, ctx):
        from .calibrate import calibrate
        from .gptq import InputMoments
        from .int16x8 import quantize_int16x8

        moments = InputMoments(graph)
        ranges = calibrate(graph, calibration, percentile=self.percentile, progress=ctx.resources.get("progress", True),
                           also=moments)
        quantize_int16x8(graph, ranges, ctx.report, moments=moments.second_moments())
