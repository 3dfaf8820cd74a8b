"""Record the bytes of every .tflite the test suite writes, to prove a refactoring changes no output.

    LITESMITH_RECORD_TFLITE=/tmp/before.jsonl make test     # on the old commit
    LITESMITH_RECORD_TFLITE=/tmp/after.jsonl make test      # on the new one
    .venv/bin/python tests/output_record.py /tmp/before.jsonl /tmp/after.jsonl

Each line is ``{"test": nodeid, "call": k, "sha256": ...}`` for the k-th
flatbuffer written in-process by that test (subprocess CLI runs are not seen).
The comparison lists every (test, call) whose bytes differ or that exists on
one side only.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import defaultdict

ENV = "LITESMITH_RECORD_TFLITE"


class OutputRecorder:
    """A pytest plugin: wraps the flatbuffer writer while each test runs."""

    def __init__(self, path: str):
        self.path = path
        self.calls = defaultdict(int)
        self.current = None

    def pytest_runtest_setup(self, item):
        self.current = item.nodeid

    def pytest_sessionstart(self, session):
        from litesmith.backends.tflite import writer

        original = writer.write_tflite

        def recording_write(graph, **options):
            blob = original(graph, **options)
            test = self.current or "<collection>"
            k = self.calls[test]
            self.calls[test] += 1
            with open(self.path, "a") as f:
                f.write(json.dumps({"test": test, "call": k, "sha256": hashlib.sha256(blob).hexdigest()}) + "\n")
            return blob

        writer.write_tflite = recording_write


def register(config) -> None:
    path = os.environ.get(ENV)
    if path:
        config.pluginmanager.register(OutputRecorder(path), "litesmith-output-recorder")


def _load(path):
    with open(path) as f:
        return {(r["test"], r["call"]): r["sha256"] for r in map(json.loads, f)}


def compare(before_path: str, after_path: str) -> int:
    before, after = _load(before_path), _load(after_path)
    differ = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    only = sorted(before.keys() ^ after.keys())
    for test, call in differ:
        print(f"DIFFERENT  {test} #{call}")
    for test, call in only:
        side = "before" if (test, call) in before else "after"
        print(f"only {side:6s} {test} #{call}")
    same = len(before.keys() & after.keys()) - len(differ)
    print(f"{same} identical, {len(differ)} different, {len(only)} on one side only")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(compare(sys.argv[1], sys.argv[2]))
