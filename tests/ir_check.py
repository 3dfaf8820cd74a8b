"""Shared helper for text-IR pass tests: IR text in, IR text out, interpreter outputs unchanged."""
from textwrap import dedent

import numpy as np

from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes import run_pipeline
from litesmith.passes.numerics import random_feeds


def check(pipeline: str, src: str, expected: str):
    """Run ``pipeline`` on ``src``; the printed result must be ``expected`` and the outputs unchanged."""
    g = parse_ir(dedent(src))
    feeds = random_feeds(g)
    before = run(g, feeds)
    report = run_pipeline(g, pipeline, verify_each=True)
    verify(g)
    assert print_ir(g) == dedent(expected).lstrip("\n")
    after = run(g, feeds)
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    return report
