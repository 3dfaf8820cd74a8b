"""stub-custom-ops: tfl.custom nodes with flexbuffer options, safe stub files that g++ accepts."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from flatbuffers import flexbuffers

from litesmith.backends.tflite import compile_to_tflite
from litesmith.backends.tflite.stubs import identifier
from litesmith.ir import Builder, DType, Graph, Node, TensorType
from litesmith.passes import run_pipeline

from test_inspect_check import HEADERS


def _graph(op_name: str) -> Graph:
    g = Graph("stubbed")
    x = g.add_input(TensorType(DType.FLOAT32, (2, 3)), "x")
    r = Builder(g).op("core.relu", [x], name="r")
    attrs = {"T": DType.FLOAT32, "beam_width": 3, "scales": [0.5, 2.0], "merge": True, "table": np.arange(3, dtype=np.int32)}
    y = g.append(Node(op_name, [r], attrs, [TensorType(DType.INT64, (None, 2)), r.type], output_names=["idx", "p"])).outputs
    g.outputs = list(y)
    return g


def test_hostile_op_name_stays_inside_stubs_dir(tmp_path, litert_interpreter):
    g = _graph("tf.../../evil")
    stubs = tmp_path / "a" / "stubs"
    run_pipeline(g, f"stub-custom-ops{{stubs_dir={stubs}}}", verify_each=True)
    assert sorted(p.name for p in stubs.iterdir()) == ["README.md", "evil.cc"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["README.md", "evil.cc"]
    (custom,) = [n for n in g if n.op == "tfl.custom"]
    assert custom.attrs["custom_code"] == "../../evil"
    assert flexbuffers.Loads(custom.attrs["custom_options"]) == {
        "T": "f32", "beam_width": 3, "merge": True, "scales": [0.5, 2.0], "table": [0, 1, 2]}
    assert [v.name for v in g.outputs] == ["idx", "p"]
    model = tmp_path / "m.tflite"
    model.write_bytes(compile_to_tflite(g))
    it = litert_interpreter(model_path=str(model))
    with pytest.raises(RuntimeError, match="unresolved custom op: ../../evil"):
        it.allocate_tensors()


@pytest.mark.parametrize("name", ["CTCBeamSearchDecoder", "9lives", "a\"b*/c\nd"])
def test_stub_compiles_with_the_c_api_headers(tmp_path, name):
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    stubs = tmp_path / "stubs"
    run_pipeline(_graph("tf." + name), f"stub-custom-ops{{stubs_dir={stubs}}}")
    source = stubs / f"{identifier(name)}.cc"
    text = source.read_text()
    assert f"TfLiteRegistration* Register_{identifier(name)}()" in text
    assert "//   0: idx  i64[?, 2]" in text and "beam_width = 3" in text
    done = subprocess.run(["g++", "-fsyntax-only", "-Wall", "-Werror", "-I", str(HEADERS), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "AddCustom" in (stubs / "README.md").read_text()


def test_ops_with_a_lowering_are_not_stubbed(tmp_path):
    g = Graph()
    x = g.add_input(TensorType(DType.FLOAT32, (2, 3)), "x")
    g.outputs = [Builder(g).op("core.relu", [x], name="r")]
    report = run_pipeline(g, f"stub-custom-ops{{stubs_dir={tmp_path}}}")
    assert report.passes[0].report["stubbed"] == {} and not any(Path(tmp_path).iterdir())
    assert [n.op for n in g] == ["core.relu"]
