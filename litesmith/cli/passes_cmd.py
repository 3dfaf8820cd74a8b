"""List the registered passes (built-in and from the litesmith.passes entry point group).

example:
  litesmith passes
"""
from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("--options", action="store_true", help="also show each pass's options and defaults")


def run(args) -> int:
    from litesmith.passes import get_pass, list_passes

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
