"""A plain-text progress bar on stderr (no dependencies, no terminal tricks beyond ``\\r``)."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """``[#####.....]  512/10000 tensorflow``, redrawn at most ~10 times a second."""

    def __init__(self, total: int, label: str, stream=None, width: int = 30, enabled: bool = True):
        self.total, self.label, self.width, self.enabled = max(total, 1), label, width, enabled
        self.stream = stream or sys.stderr
        self.done, self._last_draw = 0, 0.0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and (now - self._last_draw > 0.1 or done >= self.total):
            self._last_draw = now
            filled = self.width * min(done, self.total) // self.total
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done:>{len(str(self.total))}}/{self.total} {self.label}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self.total)
            self.stream.write("\n")
            self.stream.flush()
