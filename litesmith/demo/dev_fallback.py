"""DEV FALLBACK ONLY -- not the demo's shipped path.

Converts the hand-split step graph with TensorFlow's own converter, so the engine
and transcript can be developed while litesmith's TFLite backend is unfinished.
``python -m litesmith.demo`` uses it only when given ``--dev-tf-converter``.
"""
from __future__ import annotations

import os

from litesmith.demo.train import Artifacts, import_tf


def convert_step_with_tf(artifacts: Artifacts) -> bytes:
    """TFLite bytes of ``step.pb`` made by ``tf.compat.v1.lite.TFLiteConverter`` (TF imported here)."""
    tf = import_tf()
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        os.fspath(artifacts.step_pb), artifacts.step_inputs(), artifacts.step_outputs())
    return converter.convert()
