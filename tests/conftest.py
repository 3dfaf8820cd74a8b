"""Shared test setup. TensorFlow is imported at most once per session, lazily,
through the ``tf`` fixture; tests that don't need it never pay for it."""
from __future__ import annotations

import os
import sys

# Must be set before TensorFlow is first imported (TF1 RNN cells need tf-keras).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tf():
    """The TensorFlow module (imported once per test session)."""
    import tensorflow as tf_module

    return tf_module


@pytest.fixture(scope="session")
def litert_interpreter():
    """``ai_edge_litert``'s Interpreter class: the runtime oracle for emitted models."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter


# Fixtures that build TensorFlow test models live in tf_models.py.
try:
    from tf_models import *  # noqa: F401,F403,E402
except ImportError as e:  # pragma: no cover - only while tf_models.py is being written
    if "tf_models" not in str(e):
        raise
from keras_rnn_models import *  # noqa: F401,F403,E402  (the Keras recurrent variant matrix)


def pytest_configure(config):
    """LITESMITH_RECORD_TFLITE=FILE records every written .tflite's hash (see output_record.py)."""
    from output_record import register

    register(config)
