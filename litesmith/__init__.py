"""litesmith: compile frozen models into small TFLite models for phones.

    import litesmith
    g = litesmith.load("lm.pb")                      # frontends -> IR
    blob = litesmith.compile(g, passes="strip-batch,unroll-rnn,fold-constants")
    litesmith.save(blob, "lm.tflite")

Importing litesmith never imports TensorFlow. The API is loaded on first
use, so importing a layer (``litesmith.ir.graph``, which Python reaches
through this package) loads nothing above that layer.
"""
__version__ = "0.1.0"

__all__ = ["__version__", "compile", "load", "optimize", "save"]


def __getattr__(name):  # PEP 562: litesmith.load etc. import the API module when first asked for
    if name in ("compile", "load", "optimize", "save"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'litesmith' has no attribute {name!r}")
