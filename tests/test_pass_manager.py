"""Pipelines, the pass registry and the pass manager's instruments."""
import io
import os
from dataclasses import dataclass, field
from textwrap import dedent
from typing import List

import numpy as np
import pytest

from litesmith.ir import TensorType, DType, run
from litesmith.ir.interpreter import Interpreter
from litesmith.ir.errors import ParseError, UserError
from litesmith.ir.text import load_ir, parse_ir, print_ir
from litesmith.passes import Pass, PassManager, get_pass, list_passes, parse_pipeline, register_pass, run_pipeline
from litesmith.passes.manager import NumericsError, PassBrokeGraphError, PassCrashError, PassUserError
from litesmith.passes.pass_base import OptionError

SRC = dedent("""
    graph @main(%x: f32[2]) {
      %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
      %a = core.identity(%c) : f32[2]
      %dead = core.identity(%x) : f32[2]
      %y = core.identity(%x) : f32[2]
      return %y, %a
    }
""")


@register_pass("test-options")
@dataclass
class OptionsPass(Pass):
    """A pass with one option of each kind."""

    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    label: str = "x"
    names: List[str] = field(default_factory=list)
    sizes: List[int] = field(default_factory=list)

    def run(self, graph, ctx):
        ctx.report["seen"] = self.options()
        return False


@register_pass("test-negate-outputs")
@dataclass
class BreakNumerics(Pass):
    """Multiplies constants by -1: a miscompile for the numerics check to catch."""

    def run(self, graph, ctx):
        for n in graph:
            if n.op == "core.const":
                n.attrs["value"] = -n.attrs["value"]
        return True


@register_pass("test-bad-type")
@dataclass
class BreakTypes(Pass):
    """Gives the first output a wrong dtype: invalid IR for the verifier to catch."""

    def run(self, graph, ctx):
        graph.outputs[0].set_type(TensorType(DType.INT32, (2,)))
        return True


@register_pass("test-crash")
@dataclass
class Crash(Pass):
    """Raises a bug-like exception."""

    def run(self, graph, ctx):
        raise ZeroDivisionError("boom")


@register_pass("test-refuse")
@dataclass
class Refuse(Pass):
    """Rejects the graph like a user error."""

    def run(self, graph, ctx):
        raise UserError("this graph has no loop to unroll")


# -- pipeline syntax and registry -------------------------------------------------------------


def test_parse_pipeline_types_options():
    got = parse_pipeline(' dce , test-options{count=3, ratio=2, flag=true, label="a,b", names=p:q, sizes=[1, 2]},cse')
    assert got == [
        ("dce", {}),
        ("test-options", {"count": 3, "ratio": 2.0, "flag": True, "label": "a,b", "names": ["p", "q"], "sizes": [1, 2]}),
        ("cse", {}),
    ]
    assert parse_pipeline("") == []


@pytest.mark.parametrize("text, col", [("dce,", 5), ("dce{x}", 6), ("dce cse", 5), ("fold-constants{max_elements=1", 30), ("a{b=[1,2", 5)])
def test_pipeline_syntax_errors_name_the_column(text, col):
    with pytest.raises(ParseError, match=f"pipeline:1:{col}:"):
        parse_pipeline(text)


def test_unknown_pass_lists_known_ones():
    with pytest.raises(UserError, match="unknown pass 'nope'; known passes: ") as info:
        parse_pipeline("dce,nope")
    for name in ("canonicalize", "cse", "dce", "fold-constants"):
        assert name in str(info.value)


def test_unknown_and_mistyped_options():
    with pytest.raises(OptionError, match="pass 'fold-constants' has no option 'max' .*max_elements"):
        parse_pipeline("fold-constants{max=3}")
    with pytest.raises(OptionError, match="option max_elements='lots' is not an int"):
        parse_pipeline("fold-constants{max_elements=lots}")
    with pytest.raises(OptionError, match="is not a bool"):
        parse_pipeline("test-options{flag=maybe}")


def test_list_passes_has_one_line_help_without_importing_pass_modules():
    import subprocess
    import sys

    code = (
        "import sys; from litesmith.passes import list_passes; infos = list_passes();"
        "assert 'litesmith.passes.fold_constants' not in sys.modules, sorted(sys.modules);"
        "print({i.name: i.summary for i in infos}['fold-constants'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == get_pass("fold-constants").summary()
    assert {i.name for i in list_passes()} >= {"dce", "cse", "canonicalize", "fold-constants"}


def test_pipeline_text_round_trips():
    pm = PassManager.parse("dce,fold-constants{max_elements=64},test-options{names=[a,b],label=\"x y\"}")
    assert pm.pipeline_text == 'dce,fold-constants{max_elements=64},test-options{label="x y",names=[a,b]}'
    assert PassManager.parse(pm.pipeline_text).pipeline_text == pm.pipeline_text


# -- running and instruments ---------------------------------------------------------------------


def test_report_per_pass():
    g = parse_ir(SRC)
    report = run_pipeline(g, "dce,test-options{count=2},fold-constants")
    assert [r.name for r in report] == ["dce", "test-options", "fold-constants"]
    assert [r.changed for r in report] == [True, False, True]
    assert report["test-options"].options["count"] == 2
    assert report["test-options"].report["seen"]["count"] == 2
    assert report["dce"].report["removed"] == {"core.identity": 1}
    assert all(r.seconds >= 0 for r in report) and report.changed


def test_print_ir_after_all_and_after_change():
    out = io.StringIO()
    run_pipeline(parse_ir(SRC), "dce,cse", print_ir_after_all=True, out=out)
    text = out.getvalue()
    assert "// -----// IR after dce (#1) //----- //" in text and "IR after cse (#2)" in text
    out = io.StringIO()
    run_pipeline(parse_ir(SRC), "dce,cse", print_ir_after_change=True, out=out)
    text = out.getvalue()
    assert "IR after dce (#1)" in text and "IR after cse" not in text
    assert "%dead" not in text.split("IR after dce")[1]


def test_time_passes_prints_a_table():
    out = io.StringIO()
    run_pipeline(parse_ir(SRC), "dce,cse", time_passes=True, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "===-- pass execution timing --===" and "1. dce" in lines[2] and "2. cse (no change)" in lines[3]


def test_dump_dir_writes_numbered_files(tmp_path):
    g = parse_ir(SRC)
    run_pipeline(g, "dce,fold-constants", dump_dir=str(tmp_path / "dump"))
    files = sorted(os.listdir(tmp_path / "dump"))
    assert files == ["00-input.ir", "01-dce.ir", "02-fold-constants.ir"]
    assert print_ir(load_ir(tmp_path / "dump" / "02-fold-constants.ir")) == print_ir(g)
    assert "%dead" in (tmp_path / "dump" / "00-input.ir").read_text()


def test_verify_each_names_the_breaking_pass(tmp_path):
    with pytest.raises(PassBrokeGraphError, match=r"pass test-bad-type \(#2\) broke the graph, after dce: .*invalid") as e:
        run_pipeline(parse_ir(SRC), "dce,test-bad-type,cse", verify_each=True)
    assert e.value.pass_name == "test-bad-type" and e.value.passes_before == ["dce"]


def test_check_numerics_names_first_diverging_pass_and_writes_reproducer(tmp_path):
    with pytest.raises(NumericsError) as e:
        run_pipeline(parse_ir(SRC), "dce,cse,test-negate-outputs,fold-constants", check_numerics=True,
                     reproducer_dir=str(tmp_path))
    msg = str(e.value)
    assert "pass test-negate-outputs (#3) broke the graph, after dce, cse: numerics changed: output 'a'" in msg
    path = e.value.reproducer
    assert path and msg.endswith(f"reproducer: {path}")
    text = open(path).read()
    assert "// pipeline: dce,cse,test-negate-outputs,fold-constants" in text
    g = load_ir(path)  # the reproducer is the input graph
    assert print_ir(g) == print_ir(parse_ir(SRC))


def test_check_numerics_uses_given_feeds_and_passes_when_correct():
    g = parse_ir(SRC)
    x = np.array([3.0, -1.0], np.float32)
    run_pipeline(g, "canonicalize,fold-constants,cse,dce", check_numerics=True, numerics_feeds={"x": x}, verify_each=True)
    out = run(g, {"x": x})
    np.testing.assert_array_equal(out["y"], x)
    np.testing.assert_array_equal(out["a"], [1.0, 2.0])


def test_crash_and_user_error_in_a_pass(tmp_path):
    with pytest.raises(PassCrashError, match=r"pass test-crash \(#1\) failed, as the first pass: ZeroDivisionError: boom; reproducer: ") as e:
        run_pipeline(parse_ir(SRC), "test-crash,dce", reproducer_dir=str(tmp_path))
    assert isinstance(e.value.__cause__, ZeroDivisionError)
    assert os.path.exists(e.value.reproducer)
    with pytest.raises(PassUserError, match=r"pass test-refuse \(#2\) failed, after dce: this graph has no loop") as e:
        run_pipeline(parse_ir(SRC), "dce,test-refuse")
    assert isinstance(e.value, UserError) and e.value.reproducer is None


def test_custom_instrument_can_skip_passes():
    from litesmith.passes.instruments import Instrument

    class StopAfterFirst(Instrument):
        def should_run(self, p, index, graph):
            return index == 0

    g = parse_ir(SRC)
    report = PassManager.parse("test-options,dce", instruments=[StopAfterFirst()]).run(g)
    assert [r.skipped for r in report] == [False, True]
    assert "%dead" in print_ir(g)


# -- sub-pipelines (ctx.run_pipeline) and approximate passes ---------------------------------------


@register_pass("test-outer")
@dataclass
class Outer(Pass):
    """Runs a sub-pipeline (an option chooses it) twice, the second time on a clone."""

    inner: str = "dce,cse"

    def run(self, graph, ctx):
        from litesmith.ir.clone import clone_graph

        sub = ctx.run_pipeline(self.inner, graph)
        ctx.run_pipeline("dce", clone_graph(graph))  # another graph: no instruments, records kept
        ctx.report["inner_changed"] = sub.changed
        return sub.changed


def test_sub_pipeline_records_nest_and_instruments_see_them(tmp_path):
    out = io.StringIO()
    g = parse_ir(SRC)
    report = run_pipeline(g, "test-outer,cse", print_ir_after_all=True, verify_each=True, time_passes=True,
                          dump_dir=str(tmp_path / "dump"), out=out)
    outer = report["test-outer"]
    assert [(c.name, c.number, c.label) for c in outer.children] == [
        ("dce", "1.1", "test-outer/dce"), ("cse", "1.2", "test-outer/cse"), ("dce", "1.3", "test-outer/dce")]
    assert outer.children[0].report["removed"] == {"core.identity": 1}  # the sub-pass's report is kept
    assert outer.report["inner_changed"] and outer.changed
    text = out.getvalue()
    headers = [line for line in text.splitlines() if line.startswith("// -----//")]
    assert headers == ["// -----// IR after test-outer/dce (#1.1) //----- //", "// -----// IR after test-outer/cse (#1.2) //----- //",
                       "// -----// IR after test-outer (#1) //----- //", "// -----// IR after cse (#2) //----- //"]
    assert "    1.1. dce\n" in text and "    1.2. cse (no change)" in text  # indented under its pass
    assert sorted(os.listdir(tmp_path / "dump")) == ["00-input.ir", "01-test-outer.ir", "01.1-dce.ir", "01.2-cse.ir", "02-cse.ir"]
    assert report.to_dict()["passes"][0]["passes"][0]["report"] == {"removed": {"core.identity": 1}}


def test_sub_pipeline_without_a_manager_keeps_its_records():
    from litesmith.passes import PassContext

    g = parse_ir(SRC)
    ctx = PassContext()
    assert Outer().run(g, ctx)
    assert [c.name for c in ctx.children] == ["dce", "cse", "dce"] and ctx.children[0].report["removed"]


def test_print_ir_after_change_with_sub_passes():
    out = io.StringIO()
    run_pipeline(parse_ir(SRC), "test-outer{inner=test-options}", print_ir_after_change=True, out=out)
    assert out.getvalue() == ""  # test-options changes nothing, so neither does test-outer
    out = io.StringIO()
    run_pipeline(parse_ir(SRC), "test-outer{inner=dce}", print_ir_after_change=True, out=out)
    headers = [line for line in out.getvalue().splitlines() if line.startswith("// -----//")]
    assert headers == ["// -----// IR after test-outer{inner=dce}/dce (#1.1) //----- //",
                       "// -----// IR after test-outer{inner=dce} (#1) //----- //"]


def test_numerics_failure_in_a_sub_pass_names_it_and_its_pass(tmp_path):
    with pytest.raises(NumericsError) as e:
        run_pipeline(parse_ir(SRC), "dce,test-outer{inner=test-negate-outputs}", check_numerics=True,
                     reproducer_dir=str(tmp_path))
    msg = str(e.value)
    assert ("pass test-outer{inner=test-negate-outputs} (#2) broke the graph, after dce: after its sub-pass "
            "test-outer{inner=test-negate-outputs}/test-negate-outputs (#2.1): numerics changed: output 'a'") in msg
    assert e.value.pass_name == "test-outer" and os.path.exists(e.value.reproducer)
    assert e.value.run_report["test-outer"].children[0].name == "test-negate-outputs"


class _Halve(Interpreter):
    """An interpreter whose constants come out halved: what test-approximate's graphs mean."""

    def execute(self, node, inputs):
        outs = super().execute(node, inputs)
        return [o / 2 for o in outs] if node.op == "core.const" else outs


@register_pass("test-approximate")
@dataclass
class Approximate(Pass):
    """Doubles constants (read back halved by its interpreter) and perturbs them: an approximate rewrite."""

    approximate = True
    interpreter = _Halve

    def run(self, graph, ctx):
        for n in graph:
            if n.op == "core.const":
                n.attrs["value"] = n.attrs["value"] * 2 + 0.25
        ctx.run_pipeline("test-negate-outputs", graph)  # inside an approximate pass: not checked
        ctx.run_pipeline("test-negate-outputs", graph)
        return True


def test_approximate_pass_is_measured_then_becomes_the_reference():
    out = io.StringIO()
    g = parse_ir(SRC)
    run_pipeline(g, "test-approximate,cse,dce", check_numerics=True, out=out)
    note = out.getvalue()
    assert note.startswith("check-numerics: test-approximate (#1) approximates by design: output 'y' max abs error 0 ")
    assert "output 'a' max abs error 0.125 (|expected| <= 2); later passes are compared with its outputs" in note
    with pytest.raises(NumericsError, match=r"pass test-negate-outputs \(#2\) broke the graph, after test-approximate"):
        run_pipeline(parse_ir(SRC), "test-approximate,test-negate-outputs", check_numerics=True, out=io.StringIO())


def test_numerics_error_lists_the_rewrites_a_pass_applied():
    @register_pass("test-bad-pattern")
    @dataclass
    class BadPattern(Pass):
        """Reports a pattern it applied, and negates constants."""

        def run(self, graph, ctx):
            BreakNumerics().run(graph, ctx)
            ctx.report["applied"] = {"negate-constants": 1, "dead": 2}
            return True

    with pytest.raises(NumericsError, match=r"numerics changed: .*; the pass applied negate-constants x1$"):
        run_pipeline(parse_ir(SRC), "test-bad-pattern", check_numerics=True)
