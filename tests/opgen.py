"""Random valid graphs over every core op the registry declares, NNSmith-style.

    from opgen import declared_graphs

    @given(declared_graphs())
    def test_x(case):
        graph, feeds = case

Unlike ``irgen`` (a fixed list of ops chosen for pass properties), this draws from the op
declarations themselves: each core op with a batch-axis rule (``ir/traits.py``) is a
candidate, its operands come from the declared operand list (variadic ones get 2-3
values), its attributes from their declared kinds (an ``int`` named ``axis`` is drawn in
``[-rank, rank)``, ``ints`` named ``axes`` as a subset of the dims, ``bool``/``float``/
``dtype`` from small domains), and the shape operands a rule implies (a transpose's perm,
a reshape's shape, slice begin/size, pad widths, tile multiples, gather indices) are
constants drawn to fit the first operand. The op's own type inference is the shape
constraint: a draw it rejects is discarded and drawn again (rejection sampling), so a new
op declared with a rule is generated with no change here.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from litesmith.ir import Builder, DType, Graph, TensorType, Value
from litesmith.ir.registry import all_ops

F32 = DType.FLOAT32
# Rules whose extra operands opgen knows how to draw; other ops (regions, tensor lists, shape
# queries, spatial NHWC ops with filters) are left to the dedicated tests and irgen.
RULES = {"elementwise", "reduce_axes", "along_axis", "index_along_axis", "matmul", "transpose", "concat",
         "pack", "split", "unpack", "reshape", "expand_dims", "squeeze", "reverse", "per_dim_operands",
         "gather", "broadcast_to", "passthrough"}
_SKIP = {"core.tensor_list_get_item"}
# No subnormals: LiteRT (XNNPACK) flushes them to zero, so gelu(-1e-38) >= relu6(-1e-38) differs
# from numpy for a reason that is not litesmith's (a difftest false positive).
_elements = st.floats(-2, 2, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def candidate_ops() -> List[str]:
    """Core ops opgen can build, read off the registry (sorted, so draws are reproducible)."""
    return sorted(o.name for o in all_ops()
                  if o.name.startswith("core.") and o.batch_axis in RULES and not o.num_regions and o.name not in _SKIP)


def _i32(values) -> np.ndarray:
    return np.asarray(values, np.int32)


@st.composite
def _shape_operand(draw, op: str, name: str, x: Value) -> Optional[np.ndarray]:
    """A constant for operand ``name`` of ``op`` that fits ``x`` (None: not a shape operand)."""
    shape = list(x.shape or ())
    rank = len(shape)
    if name == "perm":
        return _i32(draw(st.permutations(list(range(rank))))) if rank else _i32([])
    if name == "shape":  # reshape / broadcast_to
        n = int(np.prod(shape)) if shape else 1
        if op == "core.broadcast_to":
            return _i32([draw(st.integers(1, 2))] + shape)
        return _i32(draw(st.sampled_from([[n], [1, n], [-1], list(reversed(shape)) or [1], [n, 1]])))
    if name == "multiples":
        return _i32([draw(st.integers(1, 2)) for _ in shape])
    if name == "begin":
        return _i32([draw(st.integers(0, max(d - 1, 0))) for d in shape])
    if name == "size":
        return None  # drawn with begin below
    if name == "paddings":
        return _i32([[draw(st.integers(0, 1)), draw(st.integers(0, 1))] for _ in shape]).reshape(rank, 2)
    if name == "indices":
        return _i32(draw(st.lists(st.integers(0, max(shape[0] - 1, 0) if shape else 0), min_size=1, max_size=3)))
    return None


@st.composite
def _attr(draw, name: str, kind: str, rank: int, first: Optional[Value]):
    if kind == "int":
        if name in ("axis",):
            return draw(st.integers(-max(rank, 1), max(rank, 1) - 1))
        if name == "num" and first is not None and first.shape:
            return int(first.shape[0])
        return draw(st.integers(0, 2))
    if kind == "ints":
        if name == "sizes" and first is not None and first.shape:
            n = int(first.shape[-1])
            cut = draw(st.integers(0, n))
            return [cut, n - cut]
        return sorted(draw(st.sets(st.integers(0, max(rank - 1, 0)), max_size=rank)))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "float":
        return draw(st.sampled_from([0.1, 0.5, 1.0, 2.0]))
    if kind == "dtype":
        return draw(st.sampled_from([DType.FLOAT32, DType.INT32, DType.BOOL]))
    return None


@st.composite
def declared_graphs(draw, max_nodes: int = 10, max_inputs: int = 2):
    """Strategy yielding ``(graph, feeds)`` over :func:`candidate_ops`."""
    from litesmith.ir.registry import get_op

    ops = candidate_ops()
    base = (draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    g = Graph("main")
    feeds: Dict[str, np.ndarray] = {}
    pool: List[Value] = []
    for i in range(draw(st.integers(1, max_inputs))):
        shape = draw(st.sampled_from([base, base, base[1:], ()]))
        x = g.add_input(TensorType(F32, shape), f"x{i}")
        feeds[x.name] = draw(hnp.arrays(np.float32, shape, elements=_elements))
        pool.append(x)
    b = Builder(g)
    for _ in range(draw(st.integers(1, max_nodes))):
        for _attempt in range(8):  # rejection sampling: the op's inference is the constraint
            opdef = get_op(draw(st.sampled_from(ops)))
            inputs: List[Value] = []
            first: Optional[Value] = None
            ok = True
            for operand in opdef.operands:
                if operand.variadic:
                    x = draw(st.sampled_from(pool))
                    same = [v for v in pool if v.type == x.type]
                    inputs += [x] + [draw(st.sampled_from(same)) for _ in range(draw(st.integers(1, 2)))]
                    first = first or x
                    continue
                if first is not None:
                    const = draw(_shape_operand(opdef.name, operand.name, first))
                    if operand.name == "size":
                        begin = inputs[-1].const_value()
                        const = _i32([draw(st.integers(1, max(d - int(s), 1))) for d, s in zip(first.shape, begin)])
                    if const is not None:
                        inputs.append(b.const(const))
                        continue
                if operand.optional:
                    break
                x = draw(st.sampled_from(pool))
                inputs.append(x)
                first = first or x
            if not ok:
                continue
            rank = len(first.shape) if first is not None and first.shape is not None else 0
            attrs = {}
            for key, a in opdef.attrs.items():
                if not a.required and draw(st.booleans()):
                    continue  # keep the default
                value = draw(_attr(key, a.kind, rank, first))
                if value is None:
                    if a.required:
                        ok = False
                    continue
                attrs[key] = value
            if not ok:
                continue
            try:
                outs = b.create(opdef.name, inputs, attrs).outputs
            except Exception:  # inference (or attribute validation) rejected the draw
                continue
            pool.extend(v for v in outs if v.type.shape is not None and not v.type.is_list)
            break
    made = [v for v in pool if v.producer is not None and v.producer.op != "core.const"]
    outs = draw(st.lists(st.sampled_from(made or pool), min_size=1, max_size=3, unique_by=id))
    for i, v in enumerate(outs):
        if v.producer is not None:
            v.name = f"out{i}"
    g.outputs = outs
    return g, feeds
