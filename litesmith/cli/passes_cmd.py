"""List the registered passes (built-in and from the litesmith.passes entry point group).

example:
  litesmith passes
  litesmith passes --options
  litesmith passes strip-batch       # one pass: its documentation and options
  litesmith passes --load my_passes.py   # with the passes a file registers
"""
from __future__ import annotations

import sys

from .plugins import add_load_argument, load_files


def add_arguments(p) -> None:
    p.add_argument("name", nargs="?", metavar="PASS", help="show this pass's documentation and options")
    p.add_argument("--options", action="store_true", help="also show each pass's options and defaults")
    add_load_argument(p)


def run(args) -> int:
    from litesmith.passes import get_pass, list_passes

    load_files(args.load)
    if args.name:
        cls = get_pass(args.name)  # an unknown name is a UserError listing the known ones
        return _describe(cls, args.name, any(i.name == args.name and i.origin == "builtin" for i in list_passes()))
    infos = list_passes()
    width = max((len(i.name) for i in infos), default=0)
    for info in infos:
        origin = "" if info.origin == "builtin" else f"  [{info.origin}]"
        sys.stdout.write(f"{info.name:<{width}}  {info.summary}{origin}\n")
        if args.options:
            cls = get_pass(info.name)
            for key, value in cls().options().items():
                sys.stdout.write(f"{'':<{width}}    {key} = {value!r}\n")
    return 0


def _describe(cls, name: str, builtin: bool) -> int:
    import inspect
    import os
    import re

    sys.stdout.write(f"{name}: {inspect.getdoc(cls) or '(no documentation)'}\n\noptions:\n")
    try:  # an option's comment in the dataclass body is its documentation
        comments = dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", inspect.getsource(cls), re.M))
    except (OSError, TypeError):
        comments = {}
    options = cls().options()
    for key, value in options.items():
        note = f"  # {comments[key]}" if key in comments else ""
        sys.stdout.write(f"  {key} = {value!r}{note}\n")
    if not options:
        sys.stdout.write("  (none)\n")
    example = f"{name}{{{next(iter(options))}=...}}" if options else name
    sys.stdout.write(f"\nuse: litesmith opt MODEL.ir -p '{example}'   or   litesmith convert MODEL --passes '{example}'\n")
    if builtin:
        sys.stdout.write(f"more: {os.path.join('docs', 'passes', name + '.md')} in the litesmith repository\n")
    return 0
