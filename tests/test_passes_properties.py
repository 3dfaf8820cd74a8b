"""Property tests: every built-in pass keeps the interpreter's outputs, on random graphs."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from irgen import random_graphs
from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes import run_pipeline

PIPELINES = ["dce", "cse", "canonicalize", "fold-constants", "canonicalize,cse,fold-constants,dce"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_same(before, after):
    assert list(after) == list(before)
    for name in before:
        assert after[name].dtype == before[name].dtype, name
        np.testing.assert_allclose(after[name], before[name], rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("pipeline", PIPELINES)
@SETTINGS
@given(case=random_graphs())
def test_pass_keeps_outputs(pipeline, case):
    graph, feeds = case
    before = run(graph, feeds)
    run_pipeline(graph, pipeline, verify_each=True)
    verify(graph)
    _assert_same(before, run(graph, feeds))


@pytest.mark.parametrize("pipeline", ["dce", "cse", "canonicalize", "fold-constants"])
@SETTINGS
@given(case=random_graphs())
def test_pass_is_idempotent(pipeline, case):
    """A second run of the same pass finds nothing left to do, and says so."""
    graph, _ = case
    run_pipeline(graph, pipeline)
    text = print_ir(graph, elide_above=1 << 30)
    report = run_pipeline(graph, pipeline)
    assert print_ir(graph, elide_above=1 << 30) == text
    assert not report.changed
    assert print_ir(parse_ir(text)) == print_ir(graph)
