"""``python -m litesmith.demo``: train (or load) the LM, compile it with litesmith, type a scripted session.

The transcript shows, for each word typed letter by letter: the context so far,
each key, the top-3 suggestions after it and the per-key latency; then a phrase
completion. Training progress goes to stderr; the transcript to stdout.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Sequence

from litesmith.ir.errors import UserError

SCRIPT = (
    "return a list of the",
    "if the file does not exist",
)


def main(argv: Sequence[str] = None) -> int:
    args = _parse(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"litesmith.demo: error: {e}", file=sys.stderr)
        return 2


def run(args) -> int:
    from litesmith.demo import compile as compiling
    from litesmith.demo.engine import Keyboard
    from litesmith.demo.train import CONFIGS, load_or_train

    _quiet_tensorflow()
    artifacts = load_or_train(CONFIGS[args.config], cache_dir=args.cache, retrain=args.retrain)
    print(f"model: {args.config} config, {artifacts.config.layers}x{artifacts.config.hidden} LSTM, "
          f"{len(artifacts.vocab)} words ({'trained now' if artifacts.trained_now else 'from cache'}: "
          f"{artifacts.folder})")
    try:
        model_path = compiling.compile_model(artifacts, args.route)
        how = f"compiled by litesmith (route '{args.route}')"
    except (ImportError, NotImplementedError, UserError) as e:
        if not args.dev_tf_converter:
            print(f"litesmith.demo: litesmith cannot compile the {args.route} model yet: "
                  f"{type(e).__name__}: {e}\n  (developers: --dev-tf-converter uses TensorFlow's converter "
                  "instead; not the demo's real path)", file=sys.stderr)
            return 2
        from litesmith.demo.dev_fallback import convert_step_with_tf

        model_path = artifacts.folder / "step.tf-converter.tflite"
        model_path.write_bytes(convert_step_with_tf(artifacts))
        how = f"DEV FALLBACK: converted by TensorFlow's TFLiteConverter, litesmith not used ({type(e).__name__})"
    print(f"tflite: {model_path} ({os.path.getsize(model_path) / 1024:.0f} KiB), {how}")
    keyboard = Keyboard(model_path, artifacts.vocab, pairs=compiling.state_pairs_for(args.route, artifacts))
    print()
    for line in type_session(keyboard, SCRIPT):
        print(line)
    return 0


def type_session(keyboard, sentences: Sequence[str]) -> List[str]:
    """Type each sentence letter by letter; return the transcript lines."""
    lines: List[str] = []
    for sentence in sentences:
        keyboard.reset()
        for word in sentence.split():
            lines.append(f'context: "{" ".join(keyboard.context)}"')
            for typed in [word[:n] for n in range(len(word) + 1)]:
                suggestions = keyboard.suggest(typed, k=3)
                key = typed[-1] if typed else "(none)"
                lines.append(f"  key {key:<6} -> {' | '.join(suggestions) or '-':<32} "
                             f"{keyboard.last_latency_ms('suggest'):6.3f} ms")
            keyboard.feed(word)
            commit = f"commit '{word}'"
            lines.append(f"  key space  -> {commit:<32} {keyboard.last_latency_ms('feed'):6.3f} ms")
        phrase = keyboard.complete_phrase(max_words=4, beam=4)
        lines.append(f'phrase completion after "{" ".join(keyboard.context)}": "{" ".join(phrase)}" '
                     f"({keyboard.last_latency_ms('complete_phrase'):.3f} ms)")
        lines.append("")
    for call, times in sorted(keyboard.latency_ms.items()):
        ordered = sorted(times)
        lines.append(f"latency {call:<16} n={len(times):3d}  median {ordered[len(ordered) // 2]:.3f} ms  "
                     f"max {ordered[-1]:.3f} ms")
    return lines


def _parse(argv):
    from litesmith.demo.compile import ROUTES

    p = argparse.ArgumentParser(prog="python -m litesmith.demo", description=__doc__.splitlines()[0])
    p.add_argument("--config", choices=("demo", "test"), default="demo", help="model size (default: demo, 2x256)")
    p.add_argument("--cache", help="artifact folder (default: $LITESMITH_CACHE or .cache/demo/ in the repo)")
    p.add_argument("--retrain", action="store_true", help="train even if cached artifacts exist")
    p.add_argument("--route", choices=sorted(ROUTES), default="full-lm",
                   help="what litesmith compiles: the hand-split step graph, or the full LM")
    p.add_argument("--dev-tf-converter", action="store_true",
                   help="DEV ONLY: if litesmith cannot compile yet, convert with TensorFlow's converter")
    return p.parse_args(argv)


def _quiet_tensorflow():
    """Keep TF's deprecation chatter out of the transcript (the TF1 API is deliberate: it is the seed's)."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


if __name__ == "__main__":
    sys.exit(main())
