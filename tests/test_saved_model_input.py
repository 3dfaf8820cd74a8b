"""SavedModel directories and Keras files as input: TensorFlow only freezes the chosen function, the
GraphDef path does the rest; the result runs in LiteRT and matches TF. Without TensorFlow: one line
naming the extra to install; listing a SavedModel's signatures needs no TensorFlow at all."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from litesmith.cli import main
from tf_litert import assert_close

RNG = np.random.default_rng(31)


@pytest.fixture(scope="module")
def saved_model(tf, tmp_path_factory):
    """A tf.Module with variables and two signatures over a dynamic batch: (directory, the module)."""

    class Net(tf.Module):
        def __init__(self):
            self.w = tf.Variable(RNG.normal(size=(3, 4)).astype(np.float32))
            self.b = tf.Variable(RNG.normal(size=(4,)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x):
            h = tf.nn.relu(tf.matmul(x, self.w) + self.b)
            return {"probs": tf.nn.softmax(h), "total": tf.reduce_sum(h, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                      tf.TensorSpec([None, 4], tf.float32, name="bias")])
        def shifted(self, x, bias):
            return {"out": tf.tanh(tf.matmul(x, self.w) + bias)}

    net = Net()
    path = tmp_path_factory.mktemp("sm") / "net"
    tf.saved_model.save(net, str(path), signatures={"serving_default": net.serve, "shifted": net.shifted})
    return path, net


def _run_litert(litert, path, feeds):
    runner = litert(model_path=str(path)).get_signature_runner("serving_default")
    return {k: np.asarray(v) for k, v in runner(**feeds).items()}


def test_saved_model_default_signature_converts_and_matches_tf(saved_model, litert_interpreter, tmp_path):
    path, net = saved_model
    feeds = {"x": RNG.normal(size=(2, 3)).astype(np.float32)}
    out = tmp_path / "m.tflite"
    assert main(["convert", str(path), "-o", str(out), "--input-shape", "x:2x3"]) == 0
    want = {k: np.asarray(v) for k, v in net.serve(**feeds).items()}
    assert_close(_run_litert(litert_interpreter, out, feeds), want, atol=1e-6)


def test_saved_model_other_signature(saved_model, litert_interpreter, tmp_path):
    path, net = saved_model
    feeds = {"x": RNG.normal(size=(1, 3)).astype(np.float32), "bias": RNG.normal(size=(1, 4)).astype(np.float32)}
    out = tmp_path / "m.tflite"
    assert main(["convert", str(path / "saved_model.pb"), "-o", str(out), "--signature", "shifted",
                 "--input-shape", "x:1x3", "--input-shape", "bias:1x4"]) == 0
    want = {k: np.asarray(v) for k, v in net.shifted(**feeds).items()}
    assert_close(_run_litert(litert_interpreter, out, feeds), want, atol=1e-6)


def test_inspect_lists_signatures_without_tensorflow(saved_model):
    """In a fresh interpreter: the listing (text and JSON) reads saved_model.pb with litesmith's own schema."""
    path, _ = saved_model
    code = ("import sys; from litesmith.cli import main; "
            f"assert main(['inspect', {str(path)!r}]) == 0; assert main(['inspect', {str(path)!r}, '--json']) == 0; "
            "assert 'tensorflow' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text, js = out.stdout.split("{", 1)
    assert text.split("\n") == [
        "signature serving_default:", "  inputs:", "    x: f32[?,3]", "  outputs:", "    probs: f32[?,4]",
        "    total: f32[?]", "signature shifted:", "  inputs:", "    bias: f32[?,4]", "    x: f32[?,3]",
        "  outputs:", "    out: f32[?,4]", ""]
    sigs = json.loads("{" + js)["signatures"]
    assert [s["name"] for s in sigs] == ["serving_default", "shifted"]
    assert sigs[0]["inputs"] == [{"key": "x", "dtype": "f32", "shape": [None, 3]}]


def test_inspect_one_signature_shows_its_graph(saved_model, capsys):
    path, _ = saved_model
    assert main(["inspect", str(path), "--signature", "serving_default", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in summary["inputs"]] == ["x"]
    assert [v["name"] for v in summary["outputs"]] == ["probs", "total"]
    assert summary["foreign_ops"] == {}


def test_unknown_signature_is_a_one_line_error(saved_model, tmp_path, capsys):
    path, _ = saved_model
    assert main(["convert", str(path), "-o", str(tmp_path / "m.tflite"), "--signature", "predict"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no signature 'predict'; it has serving_default, shifted" in err, err


@pytest.fixture(scope="module")
def keras_model(tf, tmp_path_factory):
    """A Keras 3 functional model (conv, layer norm, dense heads) saved as .keras and as .h5."""
    import keras

    keras.utils.set_random_seed(5)
    ids = keras.Input((6, 4), name="feats")
    h = keras.layers.Conv1D(5, 3, padding="same", activation="relu")(ids)
    h = keras.layers.LayerNormalization()(h)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling1D()(h))
    model = keras.Model(ids, [logits, keras.layers.Softmax(name="probs")(logits)])
    folder = tmp_path_factory.mktemp("keras")
    model.save(str(folder / "m.keras"))
    model.save(str(folder / "m.h5"))  # Keras 3 still writes the legacy HDF5 format
    return folder, model


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_keras_files_convert_and_match_keras(keras_model, litert_interpreter, tmp_path, name):
    folder, model = keras_model
    feeds = {"feats": RNG.normal(size=(1, 6, 4)).astype(np.float32)}
    out = tmp_path / "m.tflite"
    assert main(["convert", str(folder / name), "-o", str(out), "--input-shape", "feats:1x6x4"]) == 0
    logits, probs = (np.asarray(t) for t in model(feeds["feats"], training=False))
    assert_close(_run_litert(litert_interpreter, out, feeds), {"logits": logits, "probs": probs}, atol=1e-5)


@pytest.mark.parametrize("what", ["saved_model", "keras"])
def test_without_tensorflow_one_line_names_the_extra(saved_model, keras_model, tmp_path, capsys, monkeypatch, what):
    path = saved_model[0] if what == "saved_model" else keras_model[0] / "m.keras"
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` now raises ImportError
    assert main(["convert", str(path), "-o", str(tmp_path / "m.tflite")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "needs TensorFlow" in err and "pip install 'litesmith[tf]'" in err, err
    assert str(path) in err and not (tmp_path / "m.tflite").exists()


def test_graphdef_and_ir_routes_never_import_tensorflow(saved_model, tmp_path):
    """convert of a .pb and inspect of a directory that is no SavedModel stay TensorFlow-free."""
    (tmp_path / "empty").mkdir()
    code = ("import sys; from litesmith.cli import main; import litesmith; "
            "from litesmith.ir import Builder, DType, Graph, TensorType; "
            "g = Graph('m'); x = g.add_input(TensorType(DType.FLOAT32, (2,)), 'x'); "
            "g.outputs = [Builder(g).op('core.relu', [x], name='y')]; "
            f"litesmith.save(g, {str(tmp_path / 'm.ir')!r}); "
            f"assert main(['convert', {str(tmp_path / 'm.ir')!r}, '-o', {str(tmp_path / 'm.tflite')!r}]) == 0; "
            f"assert main(['inspect', {str(tmp_path / 'empty')!r}]) == 2; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "a directory without saved_model.pb" in out.stderr
