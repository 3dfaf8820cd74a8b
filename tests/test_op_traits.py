"""Traits and batch-axis rules are declared with the op; passes find them there, not in tables of names."""
import ast
import re
from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest

from litesmith.ir import run
from litesmith.ir.registry import _REGISTRY, Attr, all_ops, defop, get_op
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.traits import BATCH_AXIS_RULES, ELEMENTWISE
from litesmith.ir.types import TensorType
from litesmith.passes import run_pipeline
from litesmith.passes.axis_rules import NO_RULE, RULES, rule_for

ROOT = Path(__file__).resolve().parent.parent


def test_every_rule_kind_has_one_implementation():
    assert set(RULES) == set(BATCH_AXIS_RULES)


def test_elementwise_ops_follow_the_elementwise_rule_and_others_name_theirs():
    core = [op for op in all_ops() if op.dialect == "core"]
    elementwise = [op for op in core if op.has(ELEMENTWISE)]
    assert len(elementwise) >= 50
    assert all(op.batch_axis == "elementwise" for op in elementwise)
    assert get_op("core.reduce_mean").batch_axis == "reduce_axes"
    assert get_op("core.softmax").batch_axis == "along_axis"
    assert rule_for("core.while") is NO_RULE and rule_for("tf.Foo") is NO_RULE


def test_defop_rejects_an_unknown_trait_or_rule():
    with pytest.raises(ValueError, match="unknown trait"):
        defop("traits_test.bad_trait", doc="x", operands=["x"], infer=None, traits=["elementwize"])
    with pytest.raises(ValueError, match="unknown batch-axis rule"):
        defop("traits_test.bad_rule", doc="x", operands=["x"], infer=None, batch_axis="reduce")
    assert get_op("traits_test.bad_trait") is None and get_op("traits_test.bad_rule") is None


def test_the_axis_passes_keep_no_tables_of_op_names():
    """Rules are chosen by the op's declared kind: the only op names left are ops the passes create."""
    created = {"core.squeeze", "core.expand_dims", "core.identity", "core.while"}
    for path in ("passes/batch_analysis.py", "passes/axis_rules.py"):
        tree = ast.parse((ROOT / path).read_text())
        names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and re.fullmatch(r"core\.\w+", n.value)}
        assert names <= created, (path, names - created)


def _infer_sum_last(ctx):
    t = ctx.types[0]
    return [TensorType(t.dtype, t.shape[:-1])]


@pytest.fixture(scope="module")
def sum_last():
    """A reduction declared in-process with a batch-axis rule kind and nothing else."""
    name = "traits_test.sum_last"
    defop(name, doc="Sum over the last dim (`axes` names it for the rule).", operands=["x"],
          attrs={"axes": Attr("ints", [-1]), "keepdims": Attr("bool", False)}, infer=_infer_sum_last,
          kernel=lambda x, axes, keepdims: np.sum(x, axis=-1), batch_axis="reduce_axes")
    yield name
    del _REGISTRY[name]


def test_a_new_op_with_a_declared_rule_strips_like_its_kind(sum_last):
    g = parse_ir(dedent(f"""
    graph @main(%x: f32[3,4,5]) {{
      %s = {sum_last}(%x) {{axes = [2], keepdims = false}} : f32[3,4]
      %e = core.exp(%s) : f32[3,4]
      return %e
    }}
    """))
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    before = run(g, {"x": x})["e"]
    run_pipeline(g, "strip-batch", verify_each=True)
    text = print_ir(g)
    assert "%x: f32[4,5]" in text and f"{sum_last}(%x) {{axes = [1], keepdims = false}} : f32[4]" in text
    for b in range(3):
        np.testing.assert_allclose(run(g, {"x": x[b]})["e"], before[b], rtol=1e-6)


def test_canonicalization_patterns_attach_at_registration():
    """In a fresh process, the declaration carries its patterns without the canonicalize pass imported."""
    import subprocess
    import sys

    code = ("import sys; from litesmith.ir.registry import get_op; "
            "print(sorted(f.__name__ for f in get_op('core.mul').canonicalize), "
            "'litesmith.passes.canonicalize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['gelu', 'mul_one', 'one_mul'] False"


def test_commutative_ops_get_the_left_neutral_pattern():
    names = {op: [f.__name__ for f in get_op(op).canonicalize] for op in ("core.add", "core.sub", "core.mul", "core.div")}
    assert "zero_add" in names["core.add"] and "zero_add" not in names["core.sub"]
    assert "one_mul" in names["core.mul"] and "one_mul" not in names["core.div"]


# -- typed accessors -----------------------------------------------------------------------------------

ACCESSED = """
graph @main(%x: f32[2,3], %y: f32[2,3]) {
  %pads = core.const() {value = dense<i32[2,2]> [[0, 0], [1, 1]]} : i32[2,2]
  %p = core.pad(%x, %pads) : f32[2,5]
  %c = core.concat(%x, %y, %x) {axis = -1} : f32[2,9]
  %s = core.reduce_sum(%c) {axes = [1]} : f32[2]
  return %p, %s
}
"""


def test_typed_accessors_read_by_declared_name():
    g = parse_ir(dedent(ACCESSED))
    pad, concat, total = [n for n in g if n.op != "core.const"]
    concat.attrs["axis"] = np.int64(-1)  # as a frontend may leave it
    assert concat.attr("axis") == -1 and type(concat.attr("axis")) is int
    assert total.attr("axes") == [1] and total.attr("keepdims") is False  # the default, typed
    assert [v.name for v in concat.operand("values")] == ["x", "y", "x"]  # variadic: a list
    assert pad.operand("paddings").name == "pads" and pad.operand("constant_value") is None
    with pytest.raises(KeyError, match=r"core.reduce_sum declares no attribute 'axis'"):
        total.attr("axis")
    with pytest.raises(KeyError, match=r"core.pad declares no operand 'padding'"):
        pad.operand("padding")
