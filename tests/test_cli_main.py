"""The CLI dispatcher: version, help, unknown verbs, exit codes."""
import subprocess
import sys

from litesmith.cli import main


def test_version(capsys):
    import litesmith

    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert litesmith.__version__ in capsys.readouterr().out


def test_no_verb_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "convert" in capsys.readouterr().out


def test_unknown_verb_exits_2(capsys):
    try:
        rc = main(["frobnicate"])
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and err.count("\n") == 1 and "usage:" not in err, err


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "litesmith", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("litesmith ")


def test_passes_options_and_a_bad_argument(capsys):
    assert main(["passes", "--options"]) == 0
    out = capsys.readouterr().out
    assert "strip-batch" in out and "unroll-rnn" in out and "steps = 1" in out
    try:
        rc = main(["passes", "--frobnicate"])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and "unrecognized arguments" in err and err.count("\n") == 1, err
    assert err.startswith("litesmith: error: litesmith: unrecognized arguments: --frobnicate"), err


def test_a_bad_option_value_is_one_line_naming_the_option(capsys):
    """A subcommand's choice error names the option and the choices on one line, no usage block."""
    try:
        rc = main(["convert", "m.pb", "-o", "m.tflite", "--quantize", "int3"])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert "argument --quantize: invalid choice: 'int3'" in err and "int8" in err, err


def test_passes_describes_one_pass(capsys):
    assert main(["passes", "strip-batch"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("strip-batch: Remove the batch axis")
    assert "mode = 'strip'  # strip: remove the axis; pin: keep it with size 1" in out  # the option's comment
    assert "docs/passes/strip-batch.md" in out
    assert main(["passes", "strip-btach"]) == 2
    err = capsys.readouterr().err
    assert "unknown pass 'strip-btach'" in err and "strip-batch" in err and err.count("\n") == 1


def test_every_verb_has_help_with_an_example(capsys):
    from litesmith.cli import VERBS

    for verb in VERBS:
        try:
            main([verb, "--help"])
        except SystemExit as e:
            assert e.code == 0
        assert "example" in capsys.readouterr().out, verb


def test_error_prefix_needs_parsed_args():
    """A UserError raised before the arguments are parsed keeps its message (no file to name)."""
    from argparse import Namespace

    from litesmith.cli import _with_file

    assert _with_file(None, "bad plugin") == "bad plugin"
    assert _with_file(Namespace(model="m.ir"), "graph main: bad") == "m.ir: graph main: bad"
    assert _with_file(Namespace(model="m.ir"), "m.ir:3:1: bad") == "m.ir:3:1: bad"
