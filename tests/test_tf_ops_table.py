"""docs/tf-ops.md is generated (benchmarks/tf_ops_table.py) from the TF-legalized op list and
litesmith's registries: it must match a fresh render, and the list must name real TFLite builtins."""
from __future__ import annotations

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _generator():
    spec = importlib.util.spec_from_file_location("tf_ops_table", os.path.join(REPO, "benchmarks", "tf_ops_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_table_is_current():
    gen = _generator()
    with open(gen.TABLE, encoding="utf-8") as f:
        committed = f.read()
    assert committed == gen.render(), "docs/tf-ops.md is stale: run .venv/bin/python benchmarks/tf_ops_table.py"


def test_op_list_names_tflite_builtins_and_its_sources():
    from litesmith.backends.tflite.schema_generated import BuiltinOperator

    gen = _generator()
    rows, header = gen.read_ops()
    builtins = {k for k in vars(BuiltinOperator) if k.isupper()}
    sources = {line.split()[0] for line in gen._sources(header)}
    assert len(rows) == len({op for op, _, _ in rows}) > 100
    for op, emitted, files in rows:
        assert set(emitted) <= builtins, (op, emitted)
        assert set(files) <= sources, (op, files)
    status = gen.statuses([op for op, _, _ in rows])
    assert set(status.values()) <= set(gen.STATUSES)
    assert status["Conv2D"] == "core" and status["MatMul"] == "core"
