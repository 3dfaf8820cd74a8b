"""``litesmith reduce``: 2,000-node graphs with one injected fault shrink to a few nodes that still fail.

The faults come from tests/plugin_files/faulty_passes.py (loaded with ``--load``) and from an op
the TFLite lowering cannot handle (``core.erf``). Each reduced file is checked with a command other
than the reducer (``opt``, ``convert``) so the check does not trust the reducer's own predicate.
"""
import os
import re

import pytest
from faulty_graphs import FAULTS, build_graph

from litesmith.cli import main
from litesmith.ir.text import load_ir, save_ir

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_files", "faulty_passes.py")
MAX_NODES = 10


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reduce")
    paths = {}
    for fault in FAULTS:
        path = str(folder / f"{fault}.ir")
        graph = build_graph(2000, fault)
        assert len(graph) >= 2000
        save_ir(graph, path)
        paths[fault] = path
    return paths


def reduce(capsys, model, out, *args):
    assert main(["reduce", model, "-o", str(out), *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress drawn when stderr is not a terminal
    reduced = load_ir(str(out))
    assert len(reduced) <= MAX_NODES, captured.out
    header = [line for line in open(out, encoding="utf-8") if line.startswith("//")]
    command = next(line.split("reproduce: ", 1)[1].strip() for line in header if "reproduce: " in line)
    return reduced, header, command, captured.out


def test_crash_in_a_plugin_pass(models, tmp_path, capsys):
    out = tmp_path / "crash.ir"
    reduced, header, command, stdout = reduce(capsys, models["exp-sub"], out, "--crash", "--load", PLUGIN,
                                              "-p", "crash-on-exp-sub")
    assert re.match(r".*exp-sub\.ir: 20\d\d -> \d nodes in \d+ tests", stdout)
    assert sorted(n.op for n in reduced) == ["core.exp", "core.sub"]
    assert any("failure: crash: IndexError at " in line and "faulty_passes.py:" in line for line in header)
    # the reduced file crashes the pass on its own (opt reads the pipeline from the header) ...
    assert main(["opt", str(out), "--load", PLUGIN]) == 1
    assert "IndexError: sub of exp" in capsys.readouterr().err
    # ... and the reproducer line says so
    assert command == f"litesmith reduce {out} --crash -p crash-on-exp-sub --load {PLUGIN} --check"
    assert main(command.split()[1:]) == 0
    assert "crash: IndexError" in capsys.readouterr().out


def test_illegal_op_for_tflite(models, tmp_path, capsys):
    out = tmp_path / "illegal.ir"
    reduced, header, command, _ = reduce(capsys, models["erf"], out, "--illegal")
    assert [n.op for n in reduced] == ["core.erf"]
    assert "// failure: illegal after lowering: core.erf (no-builtin)\n" in header
    assert main(["convert", str(out), "-o", str(tmp_path / "x.tflite")]) == 2
    assert "cannot lower 1 node(s) to TFLite (core.erf)" in capsys.readouterr().err


def test_mismatch_from_a_broken_rewrite(models, tmp_path, capsys):
    out = tmp_path / "mismatch.ir"
    reduced, header, command, _ = reduce(capsys, models["mul-const"], out, "--mismatch", "1e-4", "--load", PLUGIN,
                                         "-p", "broken-mul-by-const")
    assert "core.mul" in [n.op for n in reduced]
    assert all(v.shape in ((), (1, 1), (1,)) for v in reduced.inputs)  # dims shrunk too
    assert main(["opt", str(out), "--load", PLUGIN, "--check-numerics"]) == 1
    assert "numerics changed" in capsys.readouterr().err


def test_until_command_keeps_the_exit_status(models, tmp_path, capsys):
    out = tmp_path / "until.ir"
    # exit 3 while the file has an erf node, 1 (grep's "no match") otherwise: only 3 is kept
    reduced, header, command, _ = reduce(capsys, models["erf"], out, "--until", "grep -q core.erf {} && exit 3")
    assert [n.op for n in reduced] == ["core.erf"]
    assert "// failure: the command exits with status 3\n" in header
    assert command == f"grep -q core.erf {out} && exit 3"


def test_model_without_the_failure_is_refused(models, tmp_path, capsys):
    assert main(["reduce", models["erf"], "--crash", "--load", PLUGIN, "-p", "crash-on-exp-sub",
                 "-o", str(tmp_path / "x.ir")]) == 2
    err = capsys.readouterr().err
    assert "runs without an internal error" in err and err.count("\n") == 1
    assert not (tmp_path / "x.ir").exists()


def test_budget_keeps_the_best_so_far(models, tmp_path, capsys):
    out = tmp_path / "budget.ir"
    assert main(["reduce", models["tanh"], "--crash", "--load", PLUGIN, "-p", "crash-on-op{op=core.tanh}",
                 "-o", str(out), "--max-tests", "3"]) == 0
    assert "budget used up" in capsys.readouterr().out
    assert 2 <= len(load_ir(str(out))) < 2000
    assert main(["opt", str(out), "--load", PLUGIN]) == 1  # still fails
    capsys.readouterr()


def test_until_command_the_shell_cannot_run_is_refused(models, capsys):
    assert main(["reduce", models["erf"], "--until", "no-such-command-here {}"]) == 2
    assert "exits with status 127 (the shell cannot run it)" in capsys.readouterr().err


def test_option_errors(models, capsys):
    assert main(["reduce", models["erf"], "--illegal", "-p", "dce,frobnicate"]) == 2
    assert capsys.readouterr().err.startswith("litesmith: error: pipeline 'dce,frobnicate': unknown pass 'frobnicate'")
    assert main(["reduce", models["erf"], "--until", "true", "-p", "dce"]) == 2
    assert "--until runs only its command" in capsys.readouterr().err


def test_reduce_frozen_tf_and_tflite_models(small_graphs, tmp_path, capsys):
    import litesmith

    mlp = small_graphs["mlp"]
    out = tmp_path / "tf.ir"
    assert main(["reduce", mlp.pb_path, "--crash", "--load", PLUGIN, "-p", "crash-on-op{op=core.tanh}",
                 "-o", str(out)]) == 0
    assert [n.op for n in load_ir(str(out))] == ["core.tanh"]
    tflite = tmp_path / "mlp.tflite"
    litesmith.save(litesmith.compile(litesmith.load(mlp.pb_path)), str(tflite))
    assert main(["reduce", str(tflite), "--crash", "--load", PLUGIN, "-p", "crash-on-op{op=tfl.tanh}",
                 "-o", str(out)]) == 0
    assert [n.op for n in load_ir(str(out))] == ["tfl.tanh"]
    capsys.readouterr()


def test_mismatch_in_litert(tmp_path, capsys):
    model = str(tmp_path / "small.ir")
    save_ir(build_graph(200, "mul-const"), model)
    out = tmp_path / "litert.ir"
    assert main(["reduce", model, "--mismatch", "1e-4", "--litert", "--load", PLUGIN, "-p", "broken-mul-by-const",
                 "-o", str(out)]) == 0
    assert "core.mul" in [n.op for n in load_ir(str(out))] and len(load_ir(str(out))) <= MAX_NODES
    assert main(["reduce", str(out), "--mismatch", "1e-4", "--litert", "--load", PLUGIN, "-p", "broken-mul-by-const",
                 "--check"]) == 0
    assert "mismatch after pipeline 'broken-mul-by-const' + the TFLite compile + LiteRT" in capsys.readouterr().out


def test_crash_signature_type_and_place():
    from litesmith.ir.errors import UserError
    from litesmith.reducer import crash_signature
    from litesmith.reducer.predicates import LiteRTRejected

    def raise_here():
        raise KeyError("x")

    try:
        raise_here()
    except KeyError as e:
        kind, where = crash_signature(e)
    assert kind == "KeyError" and where == f"{__file__}:{raise_here.__code__.co_firstlineno + 1}"
    assert crash_signature(UserError("bad input")) is None
    first = LiteRTRejected("tensorflow/lite/kernels/add.cc:123 dims mismatch Node number 5 (ADD) failed to prepare.")
    other = LiteRTRejected("tensorflow/lite/kernels/add.cc:123 dims mismatch Node number 1 (ADD) failed to prepare.")
    assert crash_signature(first) == crash_signature(other) == ("LiteRTRejected", "tensorflow/lite/kernels/add.cc:123")
