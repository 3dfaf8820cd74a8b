"""Benchmark plumbing for ``litesmith bench`` and benchmarks/*.py.

Each measured side (TensorFlow, LiteRT) runs in its own child process
(``python -m litesmith.benchmarking.child SPEC.json``) so its peak memory and
the runtime libraries it maps are its own. Nothing here imports TensorFlow;
only the TensorFlow child does.
"""
