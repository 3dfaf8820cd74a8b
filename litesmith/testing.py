"""Test helpers for pass authors: IR text in, IR text out, numerics unchanged, in one call.

    from litesmith.testing import check_pass

    def test_my_pass():
        check_pass("my-pass,dce", '''
            graph @main(%x: f32[3]) { ... }
        ''', '''
            graph @main(%x: f32[3]) { ... }
        ''')

The pass runs through the pass manager with the verifier after each pass, so a
broken graph fails the test with the pass named; the reference interpreter runs
the graph before and after on the same random inputs (or ``feeds``).
litesmith's own pass tests use this helper too.
"""
from __future__ import annotations

from textwrap import dedent
from typing import Any, Mapping, Optional

from litesmith.ir.interpreter import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes.manager import PassRunReport, run_pipeline
from litesmith.passes.numerics import adapt_feeds, compare_outputs, random_feeds

__all__ = ["check_pass"]


def check_pass(
    pipeline: str,
    src: str,
    expected: Optional[str] = None,
    *,
    feeds: Optional[Mapping[str, Any]] = None,
    seed: int = 0,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> PassRunReport:
    """Run ``pipeline`` on the IR text ``src`` and check three things, raising ``AssertionError``:

    - the graph verifies after every pass;
    - printed, the result is ``expected`` (both dedented; skipped when ``expected`` is None);
    - the outputs on ``feeds`` (default: random inputs from ``seed``) are unchanged:
      exactly by default, within ``rtol``/``atol`` for floats when given.

    Returns the pipeline's report, so a test can also check what a pass counted.
    """
    graph = parse_ir(dedent(src))
    verify(graph)
    feeds = dict(feeds) if feeds is not None else random_feeds(graph, seed)
    before = run(graph, feeds)
    report = run_pipeline(graph, pipeline, verify_each=True)
    if expected is not None:
        got, want = print_ir(graph), dedent(expected).lstrip("\n")
        assert got == want, f"{pipeline}: the IR differs from the expected text.\n--- got:\n{got}--- expected:\n{want}"
    after_feeds = adapt_feeds(graph, feeds)
    assert after_feeds is not None, f"{pipeline}: the graph inputs changed; give feeds that fit both graphs"
    after = run(graph, after_feeds)
    assert list(after) == list(before), f"{pipeline}: outputs changed from {list(before)} to {list(after)}"
    problem = compare_outputs(before, after, rtol=rtol, atol=atol)
    assert problem is None, f"{pipeline}: numerics changed: {problem}"
    return report
