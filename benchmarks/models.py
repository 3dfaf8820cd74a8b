"""Build the TF test-model zoo outside pytest (for benchmarks, or to inspect the .pb files).

    .venv/bin/python benchmarks/models.py --out /tmp/zoo [--only seed_lm rnn_cells ...]

Writes every frozen graph under --out and prints one line per model: name, build seconds,
.pb size. The graphs are exactly the ones tests/tf_models.py gives the tests.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

GROUPS = ("seed_lm", "rnn_cells", "keras_rnn", "keras_cnns", "small_graphs")


def build(tf, zoo, group, out_dir):
    """{model name: TFModel} for one group of the zoo."""
    timed = zoo._timed  # stamps meta["build_seconds"] like the fixtures do
    if group == "seed_lm":
        v1_models = timed(lambda: zoo.build_seed_lm(tf, out_dir, "v1"))
        v2_model = timed(lambda: zoo.build_seed_lm(tf, out_dir, "v2"))[0]
        return {m.name: m for m in [*v1_models, v2_model]}
    if group == "rnn_cells":
        return {m.name: m for form in ("v1", "v2") for m in zoo.build_rnn_cells(tf, out_dir, form).values()}
    if group == "keras_rnn":
        return {f"keras_{k}_v2": timed(lambda k=k: zoo.build_keras_rnn(tf, out_dir, k)) for k in ("lstm", "gru")}
    if group == "keras_cnns":
        return {f"keras_{a}": timed(lambda a=a: zoo.build_keras_cnn(tf, out_dir, a)) for a in zoo.CNN_INPUT_SIZES}
    return {m.name: m for m in zoo.build_small_graphs(tf, out_dir).values()}


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
