"""docs/writing-a-pass.md must stay true: its Python blocks are executed and its tests run."""
import os
import re
import types

import pytest

from litesmith.ir import get_op, verify

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "writing-a-pass.md")


def python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_doc_pass_is_short_and_its_test_passes():
    text = open(DOC, encoding="utf-8").read()
    blocks = python_blocks(text)
    assert len(blocks) == 3  # the pass, creating nodes with the Builder, the test
    assert len(blocks[0].strip().splitlines()) <= 40, "the example pass must fit in 40 lines"
    missing = sorted({op for op in re.findall(r"core\.[a-z_]+", text) if get_op(op) is None})
    if missing:
        pytest.skip(f"the doc uses ops not declared yet: {', '.join(missing)}")
    module = types.ModuleType("writing_a_pass_doc")
    exec(compile("\n".join(blocks), DOC, "exec"), module.__dict__)
    tests = [fn for name, fn in vars(module).items() if name.startswith("test_") and callable(fn)]
    assert tests, "the doc defines no test"
    for fn in tests:
        fn()

    graph = module.graph  # the Builder example
    verify(graph)
    assert [n.op for n in graph] == ["core.const", "core.mul", "core.split"]
    assert [str(v.type) for v in graph.outputs] == ["f32[2,4]", "f32[2,4]"]

    from litesmith.passes import get_pass, list_passes

    assert get_pass("fold-negations").summary() == "Rewrite neg(neg(x)) to x and neg(a - b) to b - a."
    assert "fold-negations" in {i.name for i in list_passes()}
