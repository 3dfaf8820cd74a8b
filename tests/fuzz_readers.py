"""Coverage-guided, structure-aware fuzzing of every model reader with atheris (`make fuzz`).

    python tests/fuzz_readers.py TARGET [--runs N] [--seconds S] [--findings DIR]

TARGET is one of graphdef, tflite, ir, onnx. Each input is written to a file with the
target's extension and goes through what a user runs (``litesmith.load`` then
``litesmith.compile``). Success and ``UserError`` (exit 2) are fine; any other exception,
a hang over 10 s or more than 2 GB of memory is a finding. libFuzzer saves each finding
in ``tests/data/fuzz_findings/TARGET/`` (crash-*, timeout-*, oom-*), and
tests/test_fuzz_findings.py replays every file there in ``make test``.

Mutation is structure-aware: most inputs are a parsed seed (or the previous input) with
one to three edits of its structure (the same edits as the hypothesis tests in
test_malformed_inputs.py / test_onnx_malformed.py: node inputs, op types, attributes,
tensor dims and contents, flatbuffer indices and option fields, IR tokens), then
re-serialized; the rest are libFuzzer's own byte-level mutations, which also reach the
parsers' handling of undecodable bytes. Seeds are small valid models built without
TensorFlow. atheris-libprotobuf-mutator does not build here (it compiles
libprotobuf-mutator from source), so the protobuf edits are ours.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import traceback
from typing import Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FINDINGS = os.path.join(HERE, "data", "fuzz_findings")
EXTENSIONS = {"graphdef": ".pb", "tflite": ".tflite", "ir": ".ir", "onnx": ".onnx"}


# -- seeds and structured mutators, one pair per reader --------------------------------------------


def _graphdef_target():
    from test_malformed_inputs import _BASES, apply_edit

    from litesmith.frontends.tf import proto

    def parse(blob: bytes):
        gd = proto.GraphDef()
        gd.ParseFromString(blob)
        return gd

    def mutate(gd, rng: random.Random) -> bytes:
        for _ in range(rng.randint(1, 3)):
            apply_edit(gd, rng.randint(0, 10), rng.randint(0, 999), rng.randint(0, 999))
        return gd.SerializeToString()

    return [b.SerializeToString() for b in _BASES.values()], parse, mutate


def _tflite_target():
    from test_malformed_inputs import _edit_model, _model, _pack, tflite_bases

    def mutate(model, rng: random.Random) -> bytes:
        for _ in range(rng.randint(1, 3)):
            _edit_model(model, rng.randint(0, 10), rng.randint(0, 999), rng.randint(0, 999))
        return _pack(model)

    return list(tflite_bases().values()), _model, mutate


def _ir_target():
    from test_malformed_inputs import _IR_GOOD, _IR_LOOP, _IR_WORDS

    def parse(blob: bytes):
        text = blob.decode("utf-8")
        return text.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split(" ")

    def mutate(tokens: List[str], rng: random.Random) -> bytes:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(tokens)) if tokens else 0
            kind = rng.randint(0, 3)
            if kind == 0 and tokens:
                tokens[i] = rng.choice(_IR_WORDS)
            elif kind == 1:
                tokens.insert(i, rng.choice(_IR_WORDS))
            elif kind == 2 and tokens:
                del tokens[i]
            elif tokens:  # duplicate a run of tokens: deeper nesting, repeated definitions
                j = min(len(tokens), i + rng.randint(1, 12))
                tokens[i:i] = tokens[i:j]
        return " ".join(tokens).encode()

    return [_IR_GOOD.encode(), _IR_LOOP.encode()], parse, mutate


def _onnx_target():
    import onnx
    from onnx_models import mlp, small_cnn
    from test_onnx_malformed import _ATTRS, _OPS, _shape_ops_model, apply_edit

    ints = [0, 1, 2, 3, -1, -7, 5, 2 ** 31, 2 ** 40, -(2 ** 40)]

    def parse(blob: bytes):
        model = onnx.ModelProto()
        model.ParseFromString(blob)
        if not len(model.opset_import):
            raise ValueError("no opset")
        return model

    def edit(rng: random.Random):
        n = rng.randint(0, 12)
        return rng.choice([
            lambda: ("op", n, rng.choice(_OPS)),
            lambda: ("drop_input", n, rng.randint(0, 4)),
            lambda: ("add_input", n, rng.choice(["x", "y", "W1", "nope", "", "r"])),
            lambda: ("attr_int", n, rng.choice(_ATTRS), rng.choice(ints)),
            lambda: ("attr_ints", n, rng.choice(_ATTRS), [rng.choice(ints) for _ in range(rng.randint(0, 9))]),
            lambda: ("attr_float", n, rng.choice(_ATTRS), rng.choice([0.0, -1.0, 1e30, float("nan")])),
            lambda: ("attr_str", n, rng.choice(_ATTRS), rng.choice(["", "bidirectional", "nearest", "NCHW"])),
            lambda: ("attr_tensor", n, rng.choice(_ATTRS)),
            lambda: ("dim", rng.randint(0, 3), rng.randint(0, 4), rng.choice(ints)),
            lambda: ("elem_type", rng.randint(0, 3), rng.randint(0, 27)),
            lambda: ("init_dtype", n, rng.randint(0, 27)),
            lambda: ("init_dims", n, [rng.choice(ints) for _ in range(rng.randint(0, 4))]),
            lambda: ("init_raw", n, rng.randint(0, 40)),
            lambda: ("opset", rng.choice([1, 6, 7, 9, 11, 13, 18, 23, 40])),
            lambda: ("domain", n, rng.choice(["com.microsoft", "ai.onnx.ml", "x"])),
            lambda: ("swap", n, rng.randint(0, 12)),
            lambda: ("rename_output", n, rng.choice(["x", "y", "W1", "dup"])),
        ])()

    def mutate(model, rng: random.Random) -> bytes:
        for _ in range(rng.randint(1, 3)):
            apply_edit(model, *edit(rng))
        return model.SerializeToString()

    return [b().SerializeToString() for b in (small_cnn, mlp, _shape_ops_model)], parse, mutate


TARGETS: Dict[str, Callable] = {"graphdef": _graphdef_target, "tflite": _tflite_target, "ir": _ir_target,
                                "onnx": _onnx_target}


# -- the oracle -------------------------------------------------------------------------------------


def run_one(path: str) -> str:
    """"ok" or the UserError message; any other exception propagates (a finding)."""
    import litesmith
    from litesmith.ir import UserError

    try:
        litesmith.compile(litesmith.load(path))
        return "ok"
    except UserError as e:
        return str(e)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--runs", type=int, default=0, help="stop after this many inputs (0: no limit)")
    parser.add_argument("--seconds", type=int, default=60, help="stop after this many seconds (0: no limit)")
    parser.add_argument("--findings", default=FINDINGS, help="folder for crash-/timeout-/oom- files")
    parser.add_argument("--keep-going", action="store_true",
                        help="record one input per distinct exception and continue (hangs and OOMs still stop)")
    args, libfuzzer_args = parser.parse_known_args(argv)
    sys.path.insert(0, HERE)
    import atheris

    with atheris.instrument_imports(include=["litesmith"]):
        import litesmith  # noqa: F401  (instrumented for coverage feedback)
        import litesmith.backends.tflite  # noqa: F401
        import litesmith.frontends.onnx  # noqa: F401
        import litesmith.frontends.tf  # noqa: F401
        import litesmith.passes  # noqa: F401
    seeds, parse, mutate = TARGETS[args.target]()
    work = tempfile.mkdtemp(prefix=f"fuzz-{args.target}-")
    path = os.path.join(work, "input" + EXTENSIONS[args.target])
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus)
    for i, seed in enumerate(seeds):
        with open(os.path.join(corpus, f"seed{i}"), "wb") as f:
            f.write(seed)
    findings = os.path.join(args.findings, args.target)
    os.makedirs(findings, exist_ok=True)

    seen = set()

    def test_one_input(data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)
        if not args.keep_going:
            run_one(path)
            return
        try:
            run_one(path)
        except Exception as e:  # record one input per distinct failure and go on
            where = traceback.extract_tb(e.__traceback__)[-1]
            signature = f"{type(e).__name__} at {os.path.relpath(where.filename, ROOT)}:{where.lineno}"
            if signature not in seen:
                seen.add(signature)
                name = "crash-" + hashlib.sha1(data).hexdigest()
                with open(os.path.join(findings, name), "wb") as f:
                    f.write(data)
                print(f"FINDING {name}: {signature}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                      file=sys.stderr, flush=True)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.2:
            return atheris.Mutate(data, max_size)
        try:
            tree = parse(data)
        except Exception:  # not parseable any more: restart from a seed
            tree = parse(rng.choice(seeds))
        try:
            return mutate(tree, rng)
        except Exception:  # an edit the object model refuses (e.g. an out-of-range enum)
            return atheris.Mutate(data, max_size)

    flags = [sys.argv[0], f"-artifact_prefix={findings}/", "-timeout=10", "-rss_limit_mb=2048",
             "-max_len=1000000"]
    if args.runs:
        flags.append(f"-runs={args.runs}")
    if args.seconds:
        flags.append(f"-max_total_time={args.seconds}")
    atheris.Setup(flags + libfuzzer_args + [corpus], test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
