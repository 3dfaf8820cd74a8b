"""docs/ops.md is generated from the registry and must not go stale."""
from __future__ import annotations

from pathlib import Path

from litesmith.ir import all_ops
from litesmith.ir.docgen import render_ops_markdown

OPS_MD = Path(__file__).resolve().parent.parent / "docs" / "ops.md"


def test_ops_md_is_up_to_date():
    assert OPS_MD.exists(), "docs/ops.md is missing: run `make docs`"
    assert OPS_MD.read_text(encoding="utf-8") == render_ops_markdown(), "docs/ops.md is stale: run `make docs`"


def test_catalogue_lists_every_core_op_and_nothing_else():
    text = render_ops_markdown()
    core = [op.name for op in all_ops() if op.dialect == "core"]
    for name in core:
        assert f"### `{name}`" in text
    assert text.count("### `") == len(core)
    assert "tfl." not in text


def test_catalogue_shows_attribute_kinds_and_defaults():
    text = render_ops_markdown()
    conv = text.split("### `core.conv2d`")[1].split("### ")[0]
    assert '- `padding`: str = "VALID"' in conv
    assert "- `strides`: ints = [1, 1]" in conv
    assert "- operands: `x`, `filter`" in conv
    assert "- `axis`: int (required)" in text.split("### `core.concat`")[1].split("### ")[0]
    assert "`?constant_value`" in text and "`*values`" in text


def test_catalogue_shows_traits_and_batch_axis_rule():
    text = render_ops_markdown()
    add = text.split("### `core.add`")[1].split("### ")[0]
    assert "- traits: commutative, elementwise" in add
    assert "- batch axis: `elementwise`" in add
