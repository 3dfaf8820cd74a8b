"""Time each stage of `litesmith convert` on one model, in this process (run it as a child).

    .venv/bin/python benchmarks/scale_stages.py MODEL.pb OUT.tflite RESULT.json \\
        [--inputs x] [--outputs y] [--input-shape x:1x16] [--passes PIPELINE]

Writes {"stages": {"import": s, "load": s, "passes": s, "lower": s, "fuse": s, "write": s}, "passes": [{name,
seconds}, ...], "ops": n} to RESULT.json. The stages are what `litesmith convert` does
(litesmith/cli/convert.py and backends/tflite/compile.py), split in one place: ``convert_stages``.
"""
from __future__ import annotations

import argparse
import json
import time


def convert_stages(model: str, out: str, *, inputs=None, outputs=None, input_shapes=None, passes=None):
    """([(stage name, run), ...], state): calling each ``run()`` in order converts ``model`` to ``out``
    and leaves the per-pass times ("passes") and the op count ("ops") in ``state``.

    The one place that knows how `litesmith convert` splits into stages: "lower" runs the
    backend's ``lower-tflite`` pass, "fuse" its ``fuse-tflite,dce`` (the float compile pipeline,
    backends/tflite/compile.py). "import" loads the
    modules the others use (the frontend, the backend and its 690 KB flatbuffer schema), so the
    later stages time work on the graph, not Python importing code.
    """
    state: dict = {}
    m: dict = {}

    def import_():
        import litesmith.frontends.tf  # noqa: F401  (what load() imports for a .pb)
        from litesmith.backends.tflite import passes as backend_passes  # noqa: F401  (lower-tflite, fuse-tflite)
        from litesmith.backends.tflite import writer
        from litesmith.ir.verify import verify
        from litesmith.passes import PassManager

        import litesmith.api as api

        m.update(api=api, writer=writer, verify=verify, PassManager=PassManager)

    def load_():
        state["graph"] = m["api"].load(model, inputs=inputs, outputs=outputs, input_shapes=input_shapes)

    def passes_():
        pipeline = ",".join(p for p in (passes, m["api"].DEFAULT_PIPELINE) if p)
        report = m["PassManager"].parse(pipeline).run(state["graph"])
        state["passes"] = [{"name": r.name, "seconds": r.seconds} for r in report.passes]

    def lower_():  # the backend pipeline's first pass, which verifies first (backends/tflite/compile.py tflite_pipeline)
        m["PassManager"].parse("lower-tflite").run(state["graph"])

    def fuse_():  # ... and the rest of the float pipeline, then compile_to_tflite's verify
        m["PassManager"].parse("fuse-tflite,dce").run(state["graph"])
        m["verify"](state["graph"], trust_inferred=True)

    def write_():
        m["api"].write_atomic(out, m["writer"].write_tflite(state["graph"]))
        state["ops"] = sum(1 for n in state["graph"].walk() if n.op != "core.const")

    return [("import", import_), ("load", load_), ("passes", passes_), ("lower", lower_), ("fuse", fuse_),
            ("write", write_)], state


STAGES = ("import", "load", "passes", "lower", "fuse", "write")


def time_stages(model: str, out: str, **options) -> dict:
    """{"stages": {stage: wall seconds}, "cpu": {stage: CPU seconds}, "passes": [...], "ops": n} of one conversion."""
    seconds, cpu = {}, {}
    stages, state = convert_stages(model, out, **options)
    for name, run in stages:
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        seconds[name] = time.perf_counter() - start
        cpu[name] = time.process_time() - start_cpu
    return {"stages": seconds, "cpu": cpu, "passes": state.get("passes", []), "ops": state.get("ops")}


def main(argv=None):
    from litesmith.cli.options import parse_input_shapes, split_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("result")
    parser.add_argument("--inputs")
    parser.add_argument("--outputs")
    parser.add_argument("--input-shape", action="append", default=[])
    parser.add_argument("--passes")
    args = parser.parse_args(argv)
    result = time_stages(args.model, args.out, inputs=split_names(args.inputs), outputs=split_names(args.outputs),
                         input_shapes=parse_input_shapes(args.input_shape), passes=args.passes)
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
