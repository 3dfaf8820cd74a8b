"""Models exported from PyTorch (when torch is installed: it is not a test dependency, 750 MB;
`pip install torch==2.13.0 onnxscript` here): a CNN, an MLP, an LSTM language model and a GPT-2-style
decoder (stepped by decode-step), with
torch.onnx.export's default (dynamo) exporter and the legacy TorchScript one, against onnxruntime.

torch is imported by the ``torch`` fixture, never at collection: importing it changes what the
standard library modules hold, which other tests (the demo's corpus) must not see."""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest

import onnx

import litesmith
from litesmith.frontends.onnx import load_onnx
from litesmith.ir import run
from litesmith.passes import run_pipeline
from onnx_models import check_against_ort, run_ort, run_tflite, step_in_litert

EXPORTERS = [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _export(torch, module, args, dynamo: bool, **kw):
    if dynamo:
        pytest.importorskip("onnxscript")
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, f, dynamo=dynamo, input_names=["x"], output_names=["y"], **kw)
    return onnx.load_from_string(f.getvalue())


def _cnn(torch):
    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.bn = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8)
            self.c2, self.fc = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            x = torch.relu(self.bn(self.c1(x)))
            x = torch.nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
            return torch.softmax(self.fc(torch.flatten(x, 1)), -1)

    return CNN()


def _lm(torch):
    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.out = torch.nn.Embedding(11, 6), torch.nn.LSTM(6, 8), torch.nn.Linear(8, 11)

        def forward(self, ids):
            y, _ = self.lstm(self.emb(ids))
            return torch.softmax(self.out(y), -1)

    return LM()


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_exported_cnn_and_mlp_match(torch, dynamo, litert_interpreter):
    torch.manual_seed(0)
    cnn = _cnn(torch)
    with torch.no_grad():  # statistics that are not the identity
        cnn.bn.running_mean.normal_()
        cnn.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 16, 16)
    graph, ops = check_against_ort(_export(torch, cnn, (x,), dynamo), {"x": x.numpy()}, litert_interpreter)
    assert ops["TRANSPOSE"] == 1 and ops["CONV_2D"] == 2  # the input's; flatten moved into the weights
    np.testing.assert_allclose(run(graph, {"x": x.numpy()})["y"], cnn.eval()(x).detach().numpy(), atol=1e-6)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4), torch.nn.Tanh())
    v = torch.randn(3, 8)
    check_against_ort(_export(torch, mlp, (v,), dynamo), {"x": v.numpy()}, litert_interpreter)


@pytest.mark.parametrize("dynamo,dynamic", [(True, False), (False, False), (False, True)],
                         ids=["dynamo", "torchscript", "torchscript-dynamic-axes"])
def test_exported_lstm_lm_runs_one_step_at_a_time(torch, dynamo, dynamic, litert_interpreter):
    """dynamic: ids exported with symbolic T and B (``dynamic_axes``; the initial state is then
    ConstantOfShape of a computed [1, B, 8])."""
    torch.manual_seed(1)
    ids = torch.randint(0, 11, (5, 1))
    kw = {"dynamic_axes": {"x": {0: "T", 1: "B"}}} if dynamic else {}
    model = _export(torch, _lm(torch), (ids,), dynamo, **kw)
    if dynamic:
        assert [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim] == ["T", "B"]
    want = run_ort(model, {"x": ids.numpy()})["y"]
    graph = load_onnx(model.SerializeToString())
    blob = litesmith.compile(graph, "strip-batch,unroll-rnn,fold-constants")
    run_pipeline(graph, "strip-batch,unroll-rnn,fold-constants", verify_each=True)
    assert [(v.name, v.shape) for v in graph.inputs] == [("x", ()), ("state/0", (8,)), ("state/1", (8,))]
    pairs = json.loads(graph.meta["litesmith.state"])
    state = tstate = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
    for t in range(5):
        out = run(graph, {"x": ids.numpy()[t, 0], **state})
        np.testing.assert_allclose(out["y"].reshape(-1), want[t, 0], atol=1e-6)
        state = {p["input"]: out[p["output"]] for p in pairs}
        touts, _ = run_tflite(litert_interpreter, blob, {"x": ids.numpy()[t, 0], **tstate})
        np.testing.assert_allclose(touts["y"].reshape(-1), want[t, 0], atol=1e-5)
        tstate = {p["input"]: touts[p["output"]] for p in pairs}


def _gpt2(torch, attention: str, T: int = 8, D: int = 16, heads: int = 2, vocab: int = 24):
    """A GPT-2-style decoder as Hugging Face writes it: learned positions from ``arange``, pre-LN blocks, one
    ``c_attn`` projection split in three, and a causal mask that is either GPT-2's ``bias`` buffer sliced to
    [T, T] and applied with ``where(mask, w, finfo.min)`` ("where") or ``scaled_dot_product_attention(...,
    is_causal=True)`` ("sdpa"); tanh GELU; final LN; lm head."""
    F = torch.nn.functional

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
            self.c_attn, self.c_proj = torch.nn.Linear(D, 3 * D), torch.nn.Linear(D, D)
            self.c_fc, self.mlp_proj = torch.nn.Linear(D, 4 * D), torch.nn.Linear(4 * D, D)
            self.register_buffer("bias", torch.tril(torch.ones(2 * T, 2 * T, dtype=torch.bool))[None, None],
                                 persistent=False)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = (z.view(b, t, heads, D // heads).transpose(1, 2) for z in self.c_attn(self.ln_1(x)).split(D, 2))
            if attention == "sdpa":
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                w = torch.matmul(q, k.transpose(-1, -2)) / (D // heads) ** 0.5
                w = torch.where(self.bias[:, :, :t, :t], w, torch.finfo(w.dtype).min)
                a = torch.matmul(torch.softmax(w, -1), v)
            x = x + self.c_proj(a.transpose(1, 2).reshape(b, t, D))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = torch.nn.Embedding(vocab, D), torch.nn.Embedding(2 * T, D)
            self.h = torch.nn.ModuleList([Block(), Block()])
            self.ln_f, self.lm_head = torch.nn.LayerNorm(D), torch.nn.Linear(D, vocab, bias=False)

        def forward(self, ids):
            h = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], dtype=torch.long))[None]
            for block in self.h:
                h = block(h)
            return self.lm_head(self.ln_f(h))

    model = GPT()
    with torch.no_grad():  # LayerNorm weights and biases that are not the identity
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("attention", ["where", "sdpa"])
def test_exported_gpt2_decoder_steps_one_token_at_a_time(torch, dynamo, attention, litert_interpreter):
    """decode-step on the export (static T = 8; the dynamo exporter writes SDPA's keys as reshapes to
    [heads, T, d] and back, which the frontend makes a squeeze and an expand_dims of the batch axis): the step in LiteRT, caches threaded from zeros, matches
    onnxruntime's whole-sequence logits at every position, and every FULLY_CONNECTED has one row."""
    torch.manual_seed(2)
    model = _gpt2(torch, attention)
    ids = torch.randint(0, 24, (1, 8))
    if dynamo:
        pytest.importorskip("onnxscript")
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids,), f, dynamo=dynamo, input_names=["ids"], output_names=["logits"])
    exported = onnx.load_from_string(f.getvalue())
    want = run_ort(exported, {"ids": ids.numpy()})["logits"]
    graph = load_onnx(exported.SerializeToString())
    run_pipeline(graph, "strip-batch,decode-step,fold-constants", verify_each=True)
    assert [p["input"] for p in json.loads(graph.meta["litesmith.state"])] == \
        ["cache/0/key", "cache/0/value", "cache/1/key", "cache/1/value"]
    outputs, rows, ops = step_in_litert(litert_interpreter, litesmith.compile(graph), ids.numpy()[0])
    for t, got in enumerate(outputs):
        np.testing.assert_allclose(got[0], want[0, t], atol=1e-5, rtol=1e-5, err_msg=f"position {t}")
    assert rows and set(rows) == {1}
    assert "DYNAMIC_UPDATE_SLICE" in ops
