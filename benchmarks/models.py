"""Build the TF test-model zoo outside pytest (for benchmarks, or to inspect the .pb files).

    .venv/bin/python benchmarks/models.py --out /tmp/zoo [--only seed_lm rnn_cells ...]

Writes every frozen graph under --out and prints one line per model: name, build seconds,
.pb size. The graphs are exactly the ones tests/tf_models.py gives the tests.

Also here: a MobileNetV2 whose predictions depend on its input (``synthetic_images``,
``build_mobilenet_v2_synthetic``, cached by ``mobilenet_v2_synthetic_paths``), for the quantization
benchmark (benchmarks/quant_cnn.py): no pretrained weights are reachable offline, and the zoo's random
MobileNetV2 gives the same logits for every input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

GROUPS = ("seed_lm", "rnn_cells", "rnn_cells_dyn", "dynamic_cnn", "keras_rnn", "keras_cnns", "small_graphs")


def build(tf, zoo, group, out_dir):
    """{model name: TFModel} for one group of the zoo."""
    timed = zoo._timed  # stamps meta["build_seconds"] like the fixtures do
    if group == "seed_lm":
        v1_models = timed(lambda: zoo.build_seed_lm(tf, out_dir, "v1"))
        v2_model = timed(lambda: zoo.build_seed_lm(tf, out_dir, "v2"))[0]
        return {m.name: m for m in [*v1_models, v2_model]}
    if group == "rnn_cells":
        return {m.name: m for form in ("v1", "v2") for m in zoo.build_rnn_cells(tf, out_dir, form).values()}
    if group == "rnn_cells_dyn":
        return {m.name: m for form in ("v1", "v2") for m in zoo.build_rnn_cells(tf, out_dir, form, True).values()}
    if group == "dynamic_cnn":
        return {"dynamic_batch_cnn": timed(lambda: zoo.build_dynamic_batch_cnn(tf, out_dir))}
    if group == "keras_rnn":
        return {f"keras_{k}_v2": timed(lambda k=k: zoo.build_keras_rnn(tf, out_dir, k)) for k in ("lstm", "gru")}
    if group == "keras_cnns":
        return {f"keras_{a}": timed(lambda a=a: zoo.build_keras_cnn(tf, out_dir, a)) for a in zoo.CNN_INPUT_SIZES}
    return {m.name: m for m in zoo.build_small_graphs(tf, out_dir).values()}


# -- a MobileNetV2 with input-dependent predictions ------------------------------------------------

SYNTH_SIZE = 224
SYNTH_SHAPES = ("disc", "square", "stripes", "ring", "edge")
SYNTH_TEXTURES = ("none", "stripes", "checks", "dots", "grain")
SYNTH_SEEDS = {"build": 1000, "head": 1001, "check": 1002}  # the benchmark draws its images with other seeds
SYNTH_COUNTS = {"build": 64, "head": 640, "check": 200}
HEAD_CLASSES = 20  # feature clusters the head is trained to tell apart (of its 1000 outputs)


def synthetic_images(n: int, seed: int, size: int = SYNTH_SIZE) -> np.ndarray:
    """[n, size, size, 3] float32 in [-1, 1] (MobileNetV2's input range) with image-like statistics.

    Each image: a smooth colour field (a few low-frequency waves, amplitude ~ 1/frequency), a linear
    colour gradient, a texture over the whole image at part strength (none, stripes, checks, dots or
    grain, any orientation and scale), one object with sharp or soft edges (disc, square, striped
    disc, ring or half disc) in a random colour, and a little pixel noise. Seeded: the same (n, seed)
    gives the same images."""
    rng = np.random.default_rng(seed)
    coords = np.arange(size, dtype=np.float32) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([_synthetic_image(rng, yy, xx) for _ in range(n)])


def _synthetic_image(rng, yy, xx) -> np.ndarray:
    img = np.zeros(yy.shape + (3,), np.float32) + _colour(rng, 0.2)
    for _ in range(6):  # smooth colour field
        freq, angle, phase = rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
        wave = np.cos(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
        img += wave[..., None] * _colour(rng, 0.35 / freq)
    angle = rng.uniform(0, 2 * np.pi)  # gradient
    img += (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))[..., None] * _colour(rng, 0.6)
    texture = _texture(rng, yy, xx, SYNTH_TEXTURES[rng.integers(len(SYNTH_TEXTURES))]) * rng.uniform(0.3, 0.7)
    img = _paint(img, texture, _colour(rng, 0.6))
    img = _paint(img, _object_mask(rng, yy, xx, SYNTH_SHAPES[rng.integers(len(SYNTH_SHAPES))]), _colour(rng, 0.6))
    return np.clip(img + rng.normal(0, 0.04, img.shape).astype(np.float32), -1, 1)


def _colour(rng, std: float) -> np.ndarray:
    return rng.normal(0, std, 3).astype(np.float32)


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    return img * (1 - m) + colour * m


def _texture(rng, yy, xx, kind: str) -> np.ndarray:
    t, freq = rng.uniform(0, np.pi), rng.uniform(6, 16)
    u, v = np.cos(t) * xx + np.sin(t) * yy, -np.sin(t) * xx + np.cos(t) * yy
    wu, wv = np.cos(2 * np.pi * freq * u), np.cos(2 * np.pi * freq * v)
    if kind == "stripes":
        return wu > 0
    if kind == "checks":
        return (wu > 0) ^ (wv > 0)
    if kind == "dots":
        return wu * wv > 0.5
    if kind == "grain":
        return rng.random(xx.shape) > 0.7
    return np.zeros_like(xx)


def _object_mask(rng, yy, xx, shape: str) -> np.ndarray:
    cy, cx = rng.uniform(0.25, 0.75, 2)
    r = rng.uniform(0.12, 0.3)
    dy, dx = yy - cy, xx - cx
    dist = np.sqrt(dy * dy + dx * dx)
    if shape == "disc":  # soft edge
        return 1 / (1 + np.exp((dist - r) / 0.01))
    t = rng.uniform(0, 2 * np.pi)
    u, v = np.cos(t) * dx + np.sin(t) * dy, -np.sin(t) * dx + np.cos(t) * dy
    if shape == "square":
        return (np.abs(u) < r) & (np.abs(v) < r * rng.uniform(0.5, 1))
    if shape == "stripes":
        return (dist < 1.2 * r) & (np.cos(2 * np.pi * rng.uniform(8, 20) * u) > 0)
    if shape == "ring":
        return np.abs(dist - r) < 0.25 * r
    return (u > 0) & (dist < 2 * r)  # "edge": a half disc, one straight edge


def build_mobilenet_v2_synthetic(tf, out_dir: str):
    """``tf.keras.applications.MobileNetV2(weights=None)`` 224x224 made input-dependent, frozen like the zoo's
    (outputs logits ``Identity`` and probs ``Identity_1``). Returns (TFModel, facts dict).

    1. Depthwise kernels are a smoothing filter plus noise, (1 + 0.5 N(0, 1)) / 9: zero-mean random 3x3
       filters are high-pass on image-like inputs, their outputs small, and BN recalibration (2.) then
       multiplies them, and any rounding noise, by 1 / std (int8 logits then erred by 44% of their spread).
    2. BN gamma/beta randomized (U(0.5, 1.5), N(0, 0.2)), so folding bugs would show; BN recalibration:
       one training-mode pass over 64 synthetic images with momentum 0 sets every BN's moving
       mean/variance to the statistics its input has on that data, given the layers before it already
       recalibrated (batch statistics are computed in graph order): activations neither collapse nor
       saturate.
    3. The head: the pooled features of 640 other images are clustered (k-means, 20 clusters) and the
       Dense layer is trained (Adam, 40 epochs, seconds) to tell the clusters apart: a classifier that
       generalizes to new images of the distribution, its top-1 varying over them (20 of its 1000
       classes in use, the others trained down).
    """
    import tf_models as zoo

    tf.keras.utils.set_random_seed(zoo.SEED)
    tf.keras.backend.clear_session()
    model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(SYNTH_SIZE, SYNTH_SIZE, 3),
                                              classifier_activation=None)
    rng = np.random.default_rng(zoo.SEED)
    _smooth_depthwise(tf, model, rng)
    _recalibrate_batchnorm(tf, model, rng, synthetic_images(SYNTH_COUNTS["build"], SYNTH_SEEDS["build"]))
    facts = _fit_head(tf, model, rng)

    @tf.function(input_signature=[tf.TensorSpec([1, SYNTH_SIZE, SYNTH_SIZE, 3], tf.float32, name="images")])
    def forward(images):
        logits = model(images, training=False)
        return {"logits": tf.identity(logits, name="logits"), "probs": tf.nn.softmax(logits, axis=-1)}

    check = synthetic_images(SYNTH_COUNTS["check"], SYNTH_SEEDS["check"])
    facts.update(_logit_facts(model.predict(check, batch_size=32, verbose=0)))
    meta = {"arch": "mobilenet_v2", "input_size": SYNTH_SIZE, "weights": "random, smoothing depthwise, "
            "BN recalibrated on synthetic images, head trained on feature clusters"}
    frozen = zoo._freeze_tf2(tf, out_dir, "keras_mobilenet_v2_synthetic", forward, [check[:1]], None, meta, pbtxt=False)
    return frozen, facts


def _smooth_depthwise(tf, model, rng) -> None:
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            kernel, *rest = layer.get_weights()
            taps = kernel[..., 0, 0].size  # 3 x 3
            layer.set_weights([((1 + 0.5 * rng.standard_normal(kernel.shape)) / taps).astype(np.float32), *rest])


def _recalibrate_batchnorm(tf, model, rng, images: np.ndarray) -> None:
    layers = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    momentum = {layer: layer.momentum for layer in layers}
    for layer in layers:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                           rng.normal(0, 0.2, beta.shape).astype(np.float32), mean, var])
        layer.momentum = 0.0  # moving = moving * momentum + batch * (1 - momentum)
    model(images, training=True)  # moving stats := this batch's statistics, layer after layer
    for layer in layers:
        layer.momentum = momentum[layer]


def _fit_head(tf, model, rng) -> dict:
    """Cluster pooled features (k-means), then train the Dense layer to predict each image's cluster."""
    pool = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.GlobalAveragePooling2D))
    pooled = tf.keras.Model(model.input, pool.output)
    feats = pooled.predict(synthetic_images(SYNTH_COUNTS["head"], SYNTH_SEEDS["head"]), batch_size=32, verbose=0)
    labels = _kmeans(feats, HEAD_CLASSES, rng)
    dense = model.get_layer("predictions")
    head = tf.keras.Sequential([tf.keras.Input(feats.shape[1:]), tf.keras.layers.Dense(dense.units)])
    head.layers[0].set_weights(dense.get_weights())
    head.compile(tf.keras.optimizers.Adam(1e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 metrics=["accuracy"])
    head.fit(feats, labels, epochs=40, batch_size=64, verbose=0)
    dense.set_weights(head.layers[0].get_weights())
    return {"head_classes": HEAD_CLASSES, "head_train_accuracy": float(head.evaluate(feats, labels, verbose=0)[1])}


def _kmeans(x: np.ndarray, k: int, rng, steps: int = 100) -> np.ndarray:
    """Cluster index of each row of ``x`` (Lloyd's algorithm from k random rows)."""
    centres = x[rng.choice(len(x), k, replace=False)]
    for _ in range(steps):
        nearest = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.array([x[nearest == c].mean(0) if np.any(nearest == c) else centres[c] for c in range(k)])
    return ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)


def _logit_facts(logits: np.ndarray) -> dict:
    top2 = np.sort(logits, axis=1)[:, -2:]
    return {"check_images": len(logits), "logit_std_across_inputs": float(logits.std(0).mean()),
            "distinct_top1": len(set(logits.argmax(1).tolist())),
            "median_top1_margin": float(np.median(top2[:, 1] - top2[:, 0])),
            "median_row_spread": float(np.median(np.ptp(logits, axis=1)))}


def mobilenet_v2_synthetic_paths(cache: str) -> dict:
    """{"pb", "inputs", "outputs", "facts"} of :func:`build_mobilenet_v2_synthetic`, built once into ``cache``."""
    folder = os.path.join(cache, "cnns")
    info_path = os.path.join(folder, "keras_mobilenet_v2_synthetic.json")
    if not os.path.exists(info_path):
        os.makedirs(folder, exist_ok=True)
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        start = time.perf_counter()
        frozen, facts = build_mobilenet_v2_synthetic(tf, folder)
        facts["build_seconds"] = round(time.perf_counter() - start, 1)
        with open(info_path, "w") as f:
            json.dump({"pb": frozen.pb_path, "inputs": ["images"], "outputs": ["Identity", "Identity_1"],
                       "facts": facts}, f, indent=1)
    with open(info_path) as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/litesmith_zoo", help="directory for the .pb/.pbtxt files")
    parser.add_argument("--only", nargs="*", choices=GROUPS, default=list(GROUPS))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    start = time.perf_counter()
    import tensorflow as tf
    import tf_models as zoo

    tf.get_logger().setLevel("ERROR")  # TF1 API deprecation notices

    print(f"import tensorflow: {time.perf_counter() - start:.1f}s")
    total = 0.0
    for group in args.only:
        group_start = time.perf_counter()
        models = build(tf, zoo, group, args.out)
        seconds = time.perf_counter() - group_start
        total += seconds
        print(f"{group}: {seconds:.1f}s")
        for name, model in models.items():
            size_kb = os.path.getsize(model.pb_path) / 1024
            print(f"  {name:<32} {model.meta['build_seconds']:>6.2f}s {size_kb:>10.0f} KiB")
    print(f"total build: {total:.1f}s")


if __name__ == "__main__":
    main()
