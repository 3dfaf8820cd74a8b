"""Replay every input the fuzzers (tests/fuzz_readers.py, `make fuzz`) ever flagged.

Each file in tests/data/fuzz_findings/TARGET/ once crashed, hung or exhausted memory in
litesmith; now it must end in success or a one-line UserError (exit 2) naming the file,
through the API and the CLI (``assert_handled``). The seeds each fuzzer starts from must
still load, so the fuzzers keep reaching past the parsers.
"""
from __future__ import annotations

import os
import shutil

import pytest

from fuzz_readers import EXTENSIONS, FINDINGS, TARGETS
from test_malformed_inputs import assert_handled

CASES = sorted((target, name) for target in EXTENSIONS if os.path.isdir(os.path.join(FINDINGS, target))
               for name in os.listdir(os.path.join(FINDINGS, target)))


@pytest.mark.parametrize("target,name", CASES, ids=[f"{t}/{n[:20]}" for t, n in CASES])
def test_finding_is_handled(tmp_path, target, name):
    path = str(tmp_path / ("finding" + EXTENSIONS[target]))
    shutil.copyfile(os.path.join(FINDINGS, target, name), path)
    assert_handled(path)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_seeds_load(tmp_path, target):
    import litesmith

    seeds, parse, _ = TARGETS[target]()
    for i, seed in enumerate(seeds):
        parse(seed)  # the structured mutator can read its own seeds
        path = tmp_path / f"seed{i}{EXTENSIONS[target]}"
        path.write_bytes(seed)
        assert litesmith.load(str(path)).outputs, f"{target} seed {i} lifts to a graph with no outputs"


DIFF_FINDINGS = os.path.join(os.path.dirname(FINDINGS), "diff_findings")
DIFF_CASES = sorted(n[:-3] for n in os.listdir(DIFF_FINDINGS) if n.endswith(".ir")) if os.path.isdir(
    DIFF_FINDINGS) else []


@pytest.mark.parametrize("stem", DIFF_CASES)
def test_differential_finding_is_fixed(stem):
    """A graph tests/difftest.py once flagged now compiles to a model that agrees with the interpreter
    after every pass and in LiteRT (or is refused with a UserError)."""
    import numpy as np
    from difftest import check

    from litesmith.ir.text import load_ir

    from litesmith.ir import UserError

    try:
        graph = load_ir(os.path.join(DIFF_FINDINGS, stem + ".ir"))
    except UserError as e:  # fixed by refusing the graph: inference now rejects what LiteRT cannot run
        assert "type inference fails" in str(e), e
        return
    feeds = dict(np.load(os.path.join(DIFF_FINDINGS, stem + ".npz")))
    outcome = check(graph, feeds)
    assert outcome == "match" or outcome.startswith(("refused", "ambiguous")), outcome


def test_differential_tester_agrees_on_random_graphs(tmp_path):
    """A short run of the differential tester itself: 30 random graphs, no finding."""
    from difftest import main

    assert main(["--count", "30", "--seed", "7", "--findings", str(tmp_path)]) == 0, os.listdir(tmp_path)



def test_differential_tester_survives_a_runtime_crash():
    """LiteRT runs in a child process during `make fuzz`, so a model that kills the runtime is a
    finding (and the next graph gets a fresh worker) rather than the end of the run."""
    import json

    from difftest import Finding, _LiteRTWorker

    worker = _LiteRTWorker()
    with pytest.raises(Finding, match="LiteRT crashes on the output"):
        worker.call(os.abort)  # what a segfault in a kernel does to the process
    assert worker.call(json.loads, "[1]") == [1]  # a fresh worker takes the next model
