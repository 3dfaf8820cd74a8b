"""The ``litesmith`` command. Each verb lives in ``litesmith/cli/<verb>.py`` and
exposes ``add_arguments(parser)`` and ``run(args) -> int``.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback),
1 a bug in litesmith (traceback, so it can be reported).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import List, Optional

# verb -> (module, one-line help). Modules are imported only when their verb runs.
VERBS = {
    "convert": ("convert", "compile a model (.pb, .pbtxt, .tflite, .ir) to a .tflite file"),
    "inspect": ("inspect_cmd", "describe a model: ops, inputs/outputs, loops, foreign ops"),
    "opt": ("opt", "run a pass pipeline on IR text"),
    "run": ("run_cmd", "execute a model on inputs from an .npz file"),
    "quantize": ("quantize", "quantize a .tflite model (dynamic, int8, float16)"),
    "bench": ("bench", "benchmark a single-step model: TensorFlow vs LiteRT"),
    "passes": ("passes_cmd", "list the registered passes"),
    "reduce": ("reduce", "shrink a model on which litesmith fails to a small .ir file that still fails"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the CLI's rule for bad input) instead of a usage block."""

    def error(self, message: str):
        print(f"litesmith: error: {self.prog}: {_one_line(message)} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser; only the verb ``only`` gets its module imported and its options."""
    from litesmith import __version__

    parser = _Parser(prog="litesmith", description="A compiler for on-device models.")
    parser.add_argument("--version", action="version", version=f"litesmith {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module, help_) in VERBS.items():
        if verb != only:
            sub.add_parser(verb, help=help_)
            continue
        mod = _load(module)
        p = sub.add_parser(
            verb,
            help=help_,
            description=(mod.__doc__ or help_).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def _load(module: str):
    return importlib.import_module(f"litesmith.cli.{module}")


def main(argv: Optional[List[str]] = None) -> int:
    from litesmith.ir.errors import UserError

    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    args = None
    try:
        parser = build_parser(only=verb if verb in VERBS else None)
        args = parser.parse_args(argv)
        if getattr(args, "_module", None) is None:
            parser.print_help()
            return 2
        return int(args._module.run(args) or 0)
    except UserError as e:
        from .options import OptionError

        msg = _one_line(str(e))
        print(f"litesmith: error: {msg if isinstance(e, OptionError) else _with_file(args, msg)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("litesmith: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        print("litesmith: internal error (a bug in litesmith; please report it with the traceback above)", file=sys.stderr)
        return 1


def _with_file(args, msg: str) -> str:
    """Prefix the model file to a message that names none of the files given (a verifier or
    pass error names only the graph), so the one line says which file is bad."""
    path = getattr(args, "model", None) or getattr(args, "file", None)
    if not isinstance(path, str):  # also: no args yet (the error came while building the parser)
        return msg
    files = [v for v in vars(args).values() if isinstance(v, str) and ("." in v or "/" in v)]
    if any(f in msg for f in files):
        return msg
    return f"{path}: {msg}"


def _one_line(msg: str) -> str:
    return " ".join(msg.split()) if "\n" in msg else msg


if __name__ == "__main__":
    sys.exit(main())
