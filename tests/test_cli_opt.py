"""``litesmith opt`` and ``litesmith passes``."""
import subprocess
import sys
from textwrap import dedent

from litesmith.cli import main
from litesmith.ir.text import load_ir, print_ir

SRC = dedent("""\
    graph @main(%x: f32[2]) {
      %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
      %a = core.identity(%c) : f32[2]
      %dead = core.identity(%x) : f32[2]
      %y = core.identity(%x) : f32[2]
      return %y, %a
    }
""")
OUT = dedent("""\
    graph @main(%x: f32[2]) {
      %a = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
      %y = core.identity(%x) : f32[2]
      return %y, %a
    }
""")


def write(tmp_path, text, name="in.ir"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_opt_prints_to_stdout(tmp_path, capsys):
    assert main(["opt", write(tmp_path, SRC), "-p", "fold-constants,dce", "--verify-each", "--check-numerics"]) == 0
    assert capsys.readouterr().out == OUT


def test_opt_writes_output_file_and_instruments(tmp_path, capsys):
    out = tmp_path / "out.ir"
    rc = main(["opt", write(tmp_path, SRC), "-p", "fold-constants,dce", "-o", str(out), "--time-passes",
               "--print-ir-after-change", "--dump-dir", str(tmp_path / "d")])
    assert rc == 0
    assert print_ir(load_ir(out)) == OUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "IR after fold-constants (#1)" in captured.err and "pass execution timing" in captured.err
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["00-input.ir", "01-fold-constants.ir", "02-dce.ir"]


def test_opt_malformed_ir_exits_2_with_line_and_column(tmp_path):
    bad = write(tmp_path, "graph @main(%x: f32[2]) {\n  %y = core.identity(%z) : f32[2]\n  return %y\n}\n", "bad.ir")
    proc = subprocess.run([sys.executable, "-m", "litesmith", "opt", bad, "-p", "dce"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"litesmith: error: {bad}:2:22: undefined value %z")
    assert "Traceback" not in proc.stderr


def test_opt_unknown_pass_and_bad_pipeline_exit_2(tmp_path, capsys):
    path = write(tmp_path, SRC)
    assert main(["opt", path, "-p", "dce,frobnicate"]) == 2
    assert "unknown pass 'frobnicate'; known passes:" in capsys.readouterr().err
    assert main(["opt", path, "-p", "dce{"]) == 2
    assert "pipeline:1:5:" in capsys.readouterr().err


def test_opt_reruns_a_reproducer_without_p(tmp_path, capsys):
    repro = write(tmp_path, "// pipeline: fold-constants,dce\n" + SRC, "repro.ir")
    assert main(["opt", repro]) == 0
    assert capsys.readouterr().out == OUT
    assert main(["opt", write(tmp_path, SRC)]) == 2
    assert "no pipeline given" in capsys.readouterr().err


def test_passes_lists_builtins(capsys):
    assert main(["passes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names) and {"canonicalize", "cse", "dce", "fold-constants"} <= set(names)
    fold = next(line for line in lines if line.startswith("fold-constants"))
    assert "Evaluate nodes whose inputs are all constants" in fold
