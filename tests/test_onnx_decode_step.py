"""decode-step on GPT-2-style causal decoders written in ONNX the way PyTorch exports them
(tests/onnx_models.py ``gpt2_decoder``: Gather embeddings, LayerNormalization, a sliced constant
lower-triangular mask applied with Where or Add): the step runs in LiteRT token by token with the caches
threaded from zeros and matches onnxruntime's whole-sequence output at every position; every
FULLY_CONNECTED works on one row. A bidirectional ONNX encoder is refused in one line (CLI exit 2)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from onnx_models import gpt2_decoder, run_ort, save, step_in_litert

import litesmith
from litesmith.ir import UserError
from litesmith.ir.state import graph_state

PIPELINE = "strip-batch,decode-step,fold-constants"

FORMS = {
    "where_erf_2blocks": dict(gelu="erf", mask="where", blocks=2, heads=2),
    "add_tanh_1block_4heads": dict(gelu="tanh", mask="add", blocks=1, heads=4),
}


@pytest.mark.parametrize("name", list(FORMS))
def test_onnx_gpt2_step_matches_onnxruntime_at_every_position(tmp_path, litert_interpreter, name):
    model, ids = gpt2_decoder(**FORMS[name])
    want = run_ort(model, {"ids": ids})["logits"]
    graph = litesmith.optimize(litesmith.load(save(model, str(tmp_path))), PIPELINE)
    assert len(graph_state(graph)) == 2 * FORMS[name]["blocks"]
    assert [(v.name, v.shape) for v in graph.inputs][:2] == [("ids", (1,)), ("position", ())]
    outputs, rows, ops = step_in_litert(litert_interpreter, litesmith.compile(graph), ids[0])
    for t, got in enumerate(outputs):
        np.testing.assert_allclose(got[0], want[0, t], atol=1e-5, rtol=1e-5, err_msg=f"position {t}")
    assert rows and set(rows) == {1}
    assert "DYNAMIC_UPDATE_SLICE" in ops


def test_onnx_encoder_without_causal_mask_is_refused_by_the_cli(tmp_path):
    path = save(gpt2_decoder(causal=False)[0], str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "litesmith", "convert", path, "-o", str(tmp_path / "s.tflite"),
                           "--passes", PIPELINE], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "decode-step: core.softmax node 'b0.probs' normalizes over all key positions with no causal mask" \
        in proc.stderr


@pytest.mark.parametrize("mask,op", [("where", "core.select"), ("add", "core.add")])
def test_onnx_mask_that_sees_the_next_position_is_refused(tmp_path, mask, op):
    path = save(gpt2_decoder(mask=mask, leak=1, blocks=1)[0], str(tmp_path))
    with pytest.raises(UserError, match=rf"decode-step: {op} node 'b0.masked' is not a causal mask: it lets "
                                        r"position 0 see the later position 1"):
        litesmith.optimize(litesmith.load(path), PIPELINE)
