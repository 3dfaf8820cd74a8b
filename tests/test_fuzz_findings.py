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
