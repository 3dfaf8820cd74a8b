"""The one progress bar (ir/progress.py): frames only on a terminal, a summary line anywhere."""
from __future__ import annotations

import os
import pty

from litesmith.ir.progress import ProgressBar, is_terminal


def _run(stream, **kw):
    bar = ProgressBar(4, "work", stream, interval=0.0, **kw)
    for _ in range(4):
        bar.step(note="loss 1.5")
    bar.close()


def _read_all(leader: int) -> str:
    """Everything the terminal received: one read() returns only what the pty has passed so far
    (under load, the first frame alone); once the follower is closed the leader reads to EIO."""
    chunks = []
    try:
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the follower side is closed and drained
        pass
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_real_terminal_gets_frames_and_a_pipe_only_the_summary():
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as tty:
        assert is_terminal(tty)
        _run(tty)
    drawn = _read_all(leader)
    assert drawn.count("\r") >= 4 + 2  # four frames; the terminal turns each "\n" into "\r\n"
    assert "work [" + "#" * 30 + "] 4/4 loss 1.5" in drawn and "work: 4/4 in " in drawn

    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        assert not is_terminal(pipe)
        _run(pipe)
    with os.fdopen(read_end) as f:
        logged = f.read()
    assert "\r" not in logged and "[" not in logged
    assert logged.startswith("work: 4/4 in ") and logged.endswith(" s, loss 1.5\n") and logged.count("\n") == 1


def test_disabled_or_summary_off_writes_nothing_off_a_terminal():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        _run(pipe, enabled=False)
        _run(pipe, summary=False)
    with os.fdopen(read_end) as f:
        assert f.read() == ""


def test_streams_without_isatty_are_not_terminals():
    assert not is_terminal(object())
