"""litesmith.testing.check_pass fails a test for each thing it promises to check."""
import os

import pytest

from litesmith.cli.plugins import load_file
from litesmith.passes.manager import PassCrashError
from litesmith.testing import check_pass

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_files", "faulty_passes.py")

SRC = """
    graph @main(%x: f32[3]) {
      %c = core.const() {value = dense<f32[3]> [1.0, 2.0, 3.0]} : f32[3]
      %m = core.mul(%x, %c) : f32[3]
      %y = core.tanh(%m) : f32[3]
      return %y
    }
"""


@pytest.fixture(scope="module", autouse=True)
def faulty_passes():
    load_file(PLUGIN)


def test_passes_and_returns_the_report():
    report = check_pass("cse,dce", SRC, SRC)
    assert [r.name for r in report] == ["cse", "dce"]


def test_text_difference_fails_with_both_texts():
    with pytest.raises(AssertionError, match="differs from the expected text"):
        check_pass("dce", SRC, SRC.replace("tanh", "sigmoid"))


def test_changed_numerics_fail_even_without_expected_text():
    with pytest.raises(AssertionError, match="numerics changed: output 'y' differs"):
        check_pass("broken-mul-by-const", SRC)


def test_tolerance_and_feeds():
    src = SRC.replace("[1.0, 2.0, 3.0]", "[1.0, 1.0, 1.0]")
    with pytest.raises(AssertionError, match="numerics changed"):
        check_pass("broken-mul-by-const", src, feeds={"x": [1.0, 2.0, 3.0]}, atol=0.1)


def test_a_pass_that_raises_is_named():
    src = SRC.replace("%y = core.tanh(%m)", "%y = core.exp(%m)").replace(
        "%m = core.mul(%x, %c)", "%e = core.exp(%x) : f32[3]\n      %m = core.sub(%e, %c)")
    with pytest.raises(PassCrashError, match="pass crash-on-exp-sub .*IndexError"):
        check_pass("crash-on-exp-sub", src)
