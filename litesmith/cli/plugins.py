"""``--load FILE.py``: import a Python file that registers passes (``@register_pass``) before a
pipeline is parsed, so research code runs in ``litesmith opt`` without a package or entry point."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from types import ModuleType
from typing import List, Sequence

from .options import OptionError


def add_load_argument(p) -> None:
    p.add_argument("--load", action="append", default=[], metavar="FILE.py",
                   help="import this Python file first, e.g. one that registers passes with "
                        "@register_pass (repeatable)")


def load_files(paths: Sequence[str]) -> List[ModuleType]:
    return [load_file(p) for p in paths]


def load_file(path: str) -> ModuleType:
    """Import ``path`` once per process (again only if its bytes changed); errors name the file and line."""
    if not os.path.isfile(path):
        raise OptionError(f"--load {path}: no such file")
    if not path.endswith(".py"):
        raise OptionError(f"--load {path}: expected a Python file (.py)")
    with open(path, "rb") as f:
        digest = hashlib.sha1(os.path.abspath(path).encode() + b"\0" + f.read()).hexdigest()[:12]
    name = f"litesmith_load_{digest}"  # a real module name: dataclasses and pickling look it up
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise OptionError(f"--load {path}: importing it raised {type(e).__name__}: {e}{_where(e, path)}") from None
    return module


def _where(exc: BaseException, path: str) -> str:
    """`` (FILE.py:LINE)`` for the deepest frame of the error in the loaded file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" ({path}:{exc.lineno})"
    return f" ({path}:{frames[-1].lineno})" if frames else ""
