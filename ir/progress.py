"""The one progress bar, for every layer (ir/ is the layer all others may import).

It redraws in place (``\\r``) only when its stream is a terminal: a log file or a pipe gets no
frames at all, only the one summary line ``close()`` writes (so CI logs stay readable)."""
from __future__ import annotations

import sys
import time


def is_terminal(stream) -> bool:
    """True when ``stream`` says it is a TTY (streams without ``isatty`` are not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressBar:
    """``label [#####.....] 512/10000 note eta 3s``, redrawn at most every ``interval`` seconds.

    ``stream``: default ``sys.stderr`` as it is when the bar is made; ``enabled=False`` writes
    nothing. ``summary``: the
    line ``close()`` writes (``label: N/N in 1.2 s``) on a terminal and off one."""

    def __init__(self, total: int, label: str, stream=None, *, enabled: bool = True, width: int = 30,
                 interval: float = 0.1, summary: bool = True):
        self.total, self.label, self.width, self.interval = max(int(total), 1), label, width, interval
        self.stream = (sys.stderr if stream is None else stream) if enabled else None
        self.draws = self.stream is not None and is_terminal(self.stream)
        self.summary = summary and self.stream is not None
        self.done, self.note = 0, ""
        self.start, self._last_draw, self._drawn = time.monotonic(), float("-inf"), False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def step(self, count: int = 1, note: str = "") -> None:
        self.update(self.done + count, note)

    def update(self, done: int, note: str = "") -> None:
        self.done, self.note = done, note or self.note
        if not self.draws:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval and done < self.total:
            return
        self._last_draw, self._drawn = now, True
        filled = self.width * min(done, self.total) // self.total
        eta = self.elapsed / done * (self.total - done) if 0 < done < self.total else 0.0
        tail = f" {self.note}" if self.note else ""
        tail += f" eta {eta:.0f}s" if eta else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{done:>{len(str(self.total))}}/{self.total}{tail}\033[K")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (terminal) and write the summary line (if asked)."""
        if self.stream is None:
            return
        if self._drawn:
            self.stream.write("\n")
        if self.summary:
            note = f", {self.note}" if self.note else ""
            self.stream.write(f"{self.label}: {self.done}/{self.total} in {self.elapsed:.1f} s{note}\n")
        self.stream.flush()
