"""``litesmith opt --load FILE.py``: passes from a plain Python file; pipeline errors are the pipeline's."""
import re
from textwrap import dedent

from litesmith.cli import main
from litesmith.passes.registry import _REGISTERED

SRC = dedent("""\
    graph @main(%x: f32[3]) {
      %a = core.neg(%x) : f32[3]
      %b = core.neg(%a) : f32[3]
      %y = core.tanh(%b) : f32[3]
      return %y
    }
""")

PLUGIN = dedent('''\
    from dataclasses import dataclass

    from litesmith.passes import Pass, apply_patterns_greedily, pattern, register_pass


    @pattern("core.neg")
    def double_negation(node, rw):
        inner = node.inputs[0].producer
        if inner is None or inner.op != "core.neg":
            return rw.why_not("not neg(neg(x))")
        rw.replace_node(node, [inner.inputs[0]])
        return True


    @register_pass("test-load-double-negation")
    @dataclass
    class FoldDoubleNegation(Pass):
        """Rewrite neg(neg(x)) to x (loaded with --load)."""

        def run(self, graph, ctx) -> bool:
            return apply_patterns_greedily(graph, [double_negation]).changed
''')


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_load_registers_a_pass_from_a_file(tmp_path, capsys):
    model = write(tmp_path, "m.ir", SRC)
    plugin = write(tmp_path, "my_passes.py", PLUGIN)
    try:
        assert main(["opt", model, "--load", plugin, "-p", "test-load-double-negation,dce", "--verify-each"]) == 0
        out = capsys.readouterr().out
        assert "core.neg" not in out and "core.tanh(%x)" in out
        assert main(["passes", "--load", plugin]) == 0
        listed = re.search(r"^test-load-double-negation +(.*)$", capsys.readouterr().out, re.M)
        assert listed and listed.group(1) == "Rewrite neg(neg(x)) to x (loaded with --load).  [registered]"
    finally:
        _REGISTERED.pop("test-load-double-negation", None)


def test_unknown_pass_is_a_pipeline_error_listing_known_passes(tmp_path, capsys):
    model = write(tmp_path, "m.ir", SRC)
    assert main(["opt", model, "-p", "dce,frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("litesmith: error: pipeline 'dce,frobnicate': unknown pass 'frobnicate'; known passes: ")
    assert "canonicalize" in err and "dce" in err and model not in err and err.count("\n") == 1


def test_load_errors_name_the_file_and_line(tmp_path, capsys):
    model = write(tmp_path, "m.ir", SRC)
    missing = str(tmp_path / "nope.py")
    assert main(["opt", model, "--load", missing, "-p", "dce"]) == 2
    assert capsys.readouterr().err == f"litesmith: error: --load {missing}: no such file\n"
    broken = write(tmp_path, "broken.py", "import os\n\nraise ValueError('half-written plugin')\n")
    assert main(["opt", model, "--load", broken, "-p", "dce"]) == 2
    err = capsys.readouterr().err
    assert err == (f"litesmith: error: --load {broken}: importing it raised ValueError: half-written plugin "
                   f"({broken}:3)\n")
