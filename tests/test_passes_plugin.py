"""A third-party pass registered through an entry point is listed and runs."""
import os
from textwrap import dedent

import pytest

from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import get_pass, list_passes, run_pipeline
from litesmith.passes.registry import clear_caches

PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_example")


@pytest.fixture
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    clear_caches()
    yield
    monkeypatch.undo()
    clear_caches()


def test_plugin_pass_is_listed_and_runs(plugin_on_path):
    infos = {i.name: i for i in list_passes()}
    assert infos["plugin-tag"].summary == "Write a tag into every node's meta (an example plugin pass)."
    assert infos["plugin-tag"].origin == "litesmith_plugin_example:TagNodes"
    g = parse_ir(dedent("""
        graph @main(%x: f32[2]) {
          %y = core.identity(%x) : f32[2]
          return %y
        }
    """))
    report = run_pipeline(g, "plugin-tag{tag=hello},dce")
    assert report["plugin-tag"].report == {"tagged": 1}
    assert '#{plugin_tag = "hello"}' in print_ir(g)


def test_plugin_pass_in_cli(plugin_on_path, capsys):
    from litesmith.cli import main

    assert main(["passes"]) == 0
    assert "plugin-tag" in capsys.readouterr().out


def test_without_the_plugin_the_pass_is_unknown():
    clear_caches()
    with pytest.raises(Exception, match="unknown pass 'plugin-tag'"):
        get_pass("plugin-tag")
