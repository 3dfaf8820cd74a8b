"""Would this .tflite run on a target engine? A profile (``targets.py``) applied to the flatbuffer itself.

The check reads the written bytes (the flatbuffer read API, no copy of the
weights), so it judges exactly what the engine will load, whichever tool
wrote the file. One finding per operator or tensor that breaks a rule, with
a stable code and a fix; ``convert --target`` refuses to write a file with
findings (``TargetRejectedError``, exit 2), ``inspect --check --target``
lists them.
"""
from __future__ import annotations

import functools
import struct
from typing import Dict, List, Optional, Sequence, Union

from litesmith.ir.errors import UserError

from .legality_check import Finding
from .targets import TargetProfile, get_target, tflm_resolver_call

__all__ = ["TARGET_CODES", "TargetRejectedError", "check_target", "ops_used", "tflm_resolver_calls",
           "format_target_findings", "require_target"]

# Stable reason codes; never renumber.
TARGET_CODES = {
    "op": ("T001", "no-kernel"),
    "dtype": ("T002", "dtype"),
    "float": ("T003", "not-integer-only"),
    "dynamic": ("T004", "dynamic-shape"),
    "offset-buffer": ("T005", "external-buffer"),
    "subgraphs": ("T006", "subgraphs"),
    "activation": ("T007", "fused-activation"),
    "custom": ("T008", "custom-op"),
    "version": ("T009", "op-version"),
    "rank": ("T010", "rank"),
    "per-channel": ("T011", "per-channel-weights"),
    "omitted-input": ("T012", "omitted-input"),
    "softmax-width": ("T013", "softmax-width"),
}

INTEGER_FIX = "convert with --quantize int8 --integer-only --calibration DATA.npz (or --quantize int16x8 --integer-only)"


class TargetRejectedError(UserError):
    """The written model breaks the target's rules: one finding per problem (``findings``)."""

    def __init__(self, target: str, findings: Sequence[Finding]):
        self.target = target
        self.findings = list(findings)
        super().__init__(f"{len(self.findings)} problem(s) for target {target}:\n"
                         + "\n".join(f.line() for f in self.findings))


def _names(enum_cls) -> Dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _model(blob: Union[bytes, bytearray]):
    from . import schema_generated as schema

    try:
        return schema.Model.GetRootAs(blob, 0)
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"not a TFLite flatbuffer: {e}") from None


def _reads_flatbuffer(fn):
    """The flatbuffer is read lazily as the walk goes: a truncated or corrupt file fails deep in
    it (struct.error, IndexError), which is bad input, not a bug."""
    @functools.wraps(fn)
    def walk(blob, *args, **kwargs):
        try:
            return fn(blob, *args, **kwargs)
        except (struct.error, IndexError, ValueError) as e:
            raise UserError(f"not a valid TFLite flatbuffer (truncated or corrupt): {e}") from None
    return walk


def _builtin_name(code, names) -> str:
    value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    return names.get(value, f"BUILTIN_{value}")


def _custom_name(code) -> str:
    """A CUSTOM operator code's name ("" when the file leaves it out)."""
    return (code.CustomCode() or b"").decode("utf-8", "replace")


@_reads_flatbuffer
def ops_used(blob: Union[bytes, bytearray]) -> List[str]:
    """The builtin operator names the model's operators use (sorted; CUSTOM ops as ``CUSTOM:code``)."""
    from . import schema_generated as schema

    model = _model(blob)
    names = _names(schema.BuiltinOperator)
    used = set()
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            code = model.OperatorCodes(sg.Operators(i).OpcodeIndex())
            op = _builtin_name(code, names)
            used.add(f"CUSTOM:{_custom_name(code)}" if op == "CUSTOM" else op)
    return sorted(used)


def tflm_resolver_calls(blob: Union[bytes, bytearray]) -> List[str]:
    """The ``MicroMutableOpResolver<N>`` calls a C++ app needs for this model, one per builtin used."""
    return [tflm_resolver_call(op) for op in ops_used(blob) if not op.startswith("CUSTOM:")]


@_reads_flatbuffer
def check_target(blob: Union[bytes, bytearray], target: Union[str, TargetProfile]) -> List[Finding]:
    """Every rule of ``target`` the model in ``blob`` breaks; empty when the engine will take it."""
    from . import schema_generated as schema

    profile = get_target(target) if isinstance(target, str) else target
    model = _model(blob)
    op_names, type_names = _names(schema.BuiltinOperator), _names(schema.TensorType)
    act_names, options_names = _names(schema.ActivationFunctionType), _names(schema.BuiltinOptions)
    findings: List[Finding] = []

    def add(kind: str, node: str, op: str, reason: str, fix: str) -> None:
        code, name = TARGET_CODES[kind]
        findings.append(Finding(code, name, node, op, reason, fix))

    if profile.single_subgraph and model.SubgraphsLength() > 1:
        add("subgraphs", "(model)", "(model)", f"{model.SubgraphsLength()} subgraphs; {profile.name} reads only one",
            "unroll the loops (--passes strip-batch,unroll-rnn or unroll-loops) so no WHILE/IF bodies remain")
    if profile.inline_buffers:
        for b in range(model.BuffersLength()):
            if model.Buffers(b).Offset() > 1:
                add("offset-buffer", f"buffer {b}", "(buffer)",
                    f"buffer {b} is stored outside the flatbuffer (offset {model.Buffers(b).Offset()}); "
                    f"{profile.name} misreads such weights", "write the model with litesmith (weights inline)")
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)

        def tensor_name(i: int) -> str:
            return sg.Tensors(i).Name().decode("utf-8", "replace") if i >= 0 else "(none)"

        for i in range(sg.OperatorsLength()):
            operator = sg.Operators(i)
            code = model.OperatorCodes(operator.OpcodeIndex())
            op = _builtin_name(code, op_names)
            outputs = [operator.Outputs(k) for k in range(operator.OutputsLength())]
            inputs = [operator.Inputs(k) for k in range(operator.InputsLength())]
            node = tensor_name(outputs[0]) if outputs else f"operator {i}"
            if op == "CUSTOM":
                custom = _custom_name(code)
                if profile.ops is not None and custom not in profile.custom_ops:
                    add("custom", node, f"CUSTOM:{custom}", f"{profile.name} has no kernel for custom op {custom}",
                        "register the kernel in the app, or choose ops the target has (inspect --check)")
                continue
            if profile.ops is not None and op not in profile.ops:
                add("op", node, op, f"{profile.name} has no kernel for {op}",
                    profile.op_fixes.get(op, "rewrite the model without it, or choose another --target"))
                continue
            max_version = profile.ops.get(op) if profile.ops is not None else None
            if max_version is not None and code.Version() > max_version:
                add("version", node, op, f"{op} version {code.Version()} > {max_version}, the highest {profile.name} runs",
                    "choose options or types that need an older version")
            _check_options(profile, operator, op, node, inputs, sg, act_names, options_names, add)
            _check_tensors(profile, op, node, inputs, outputs, sg, type_names, add)
    return _dedupe(findings)


def _check_options(profile, operator, op, node, inputs, sg, act_names, options_names, add) -> None:
    if not profile.omitted_inputs and any(i < 0 for i in inputs):
        add("omitted-input", node, op, f"input {inputs.index(-1)} is omitted (index -1), which {profile.name} 20.08's "
            "parser refuses", "write the model with litesmith, which leaves an omitted trailing input out")
    if profile.fully_connected_per_tensor and op == "FULLY_CONNECTED" and len(inputs) > 1 and inputs[1] >= 0:
        q = sg.Tensors(inputs[1]).Quantization()
        if q is not None and q.ScaleLength() > 1:
            add("per-channel", node, op, f"FULLY_CONNECTED weights quantized per channel ({q.ScaleLength()} scales); "
                f"{profile.name} 20.08 takes per-tensor int8 weights only", "convert with --target armnn (int8 FULLY_CONNECTED weights per tensor)")
    if profile.fully_connected_min_rank and op == "FULLY_CONNECTED":
        ranks = [sg.Tensors(i).ShapeLength() for i in (inputs[0], *_outputs_of(operator)) if i >= 0]
        if min(ranks) < profile.fully_connected_min_rank:
            add("rank", node, op, f"FULLY_CONNECTED on rank-{min(ranks)} tensors; {profile.name} needs rank "
                f"{profile.fully_connected_min_rank} ([batch, features])",
                "convert with --target armnn (its dense-rank2 pass reshapes them to [1, K])")
    limit = profile.int8_softmax_max_classes
    if limit and op == "SOFTMAX" and inputs and inputs[0] >= 0 and _outputs_of(operator):
        from . import schema_generated as schema

        x, y = sg.Tensors(inputs[0]), sg.Tensors(_outputs_of(operator)[0])
        classes = int(x.ShapeAsNumpy()[-1]) if x.ShapeLength() else 1
        if x.Type() == y.Type() == schema.TensorType.INT8 and classes > limit:
            add("softmax-width", node, op, f"int8 SOFTMAX over {classes} classes: {profile.name}'s reference "
                f"kernel aborts (SIGABRT) when a row's sum of exp(x - max) reaches {limit + 1} "
                "(flat scores)", "convert with --target tflm (its softmax-int16 pass computes that SOFTMAX "
                "in int16), or cut the model before it (--outputs LOGITS)")
    if profile.fused_activations is None:
        return
    table = operator.BuiltinOptions()
    if table is None:
        return
    kind = options_names.get(operator.BuiltinOptionsType(), "")
    from . import schema_generated as schema

    cls = getattr(schema, kind, None)
    if cls is None or not hasattr(cls, "FusedActivationFunction"):
        return
    options = cls()
    options.Init(table.Bytes, table.Pos)
    act = act_names.get(options.FusedActivationFunction(), "?")
    if act not in profile.fused_activations:
        add("activation", node, op, f"fused activation {act} is not supported by {profile.name}",
            "leave the activation unfused (a separate op)")


def _outputs_of(operator) -> List[int]:
    return [operator.Outputs(k) for k in range(operator.OutputsLength())]


def _check_tensors(profile, op, node, inputs, outputs, sg, type_names, add) -> None:
    edge_in = op == "QUANTIZE"
    edge_out = op == "DEQUANTIZE"
    for role, indices in (("input", inputs), ("output", outputs)):
        for i in indices:
            if i < 0:
                continue
            t = sg.Tensors(i)
            name = t.Name().decode("utf-8", "replace")
            dtype = type_names.get(t.Type(), str(t.Type()))
            if profile.tensor_types is not None and dtype not in profile.tensor_types:
                add("dtype", node, op, f"{role} {name!r} is {dtype}, which {profile.name} does not take",
                    INTEGER_FIX if profile.integer_only else "cast or quantize it to a supported type")
            elif (profile.integer_only and dtype in ("FLOAT32", "FLOAT16", "FLOAT64")
                  and not (role == "input" and edge_in) and not (role == "output" and edge_out)):
                add("float", node, op, f"{role} {name!r} is {dtype}; {profile.name} runs integer-only models",
                    INTEGER_FIX)
            if profile.static_shapes and t.ShapeSignatureLength() and (t.ShapeSignatureAsNumpy() < 0).any():
                add("dynamic", node, op, f"{role} {name!r} has a dynamic shape {t.ShapeSignatureAsNumpy().tolist()}",
                    "fix the dimension with --input-shape NAME:1x...")


def _dedupe(findings: List[Finding]) -> List[Finding]:
    """One finding per (code, node, op): a float op with three float tensors is one problem."""
    seen, out = set(), []
    for f in findings:
        key = (f.code, f.node, f.op)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def format_target_findings(target: str, findings: List[Finding]) -> str:
    if not findings:
        return f"all ops run on {target}"
    return "\n".join([f"{len(findings)} problem(s) for target {target}:"] + ["  " + f.line() for f in findings])


def require_target(blob: Union[bytes, bytearray], target: Optional[str]) -> None:
    """Raise ``TargetRejectedError`` if ``blob`` breaks ``target``'s rules (no-op for None)."""
    if target:
        findings = check_target(blob, target)
        if findings:
            raise TargetRejectedError(target, findings)
