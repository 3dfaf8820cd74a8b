"""litesmith: compile frozen models into small TFLite models for phones.

    import litesmith
    g = litesmith.load("lm.pb")                      # frontends -> IR
    blob = litesmith.compile(g, passes="strip-batch,unroll-rnn,fold-constants")
    litesmith.save(blob, "lm.tflite")

Importing litesmith never imports TensorFlow.
"""
__version__ = "0.1.0"

from .api import compile, load, optimize, save  # noqa: E402,F401

__all__ = ["__version__", "compile", "load", "optimize", "save"]
