"""What a process costs: peak resident memory and the shared libraries it mapped.

Read from /proc/self in the measured child itself, so the figures belong to
one runtime only (the parent's own memory never mixes in).
"""
from __future__ import annotations

import os
import resource


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mapped_libraries(package_dir: str) -> dict[str, int]:
    """{path: size on disk} of the shared objects under ``package_dir`` this process has mapped.

    This is the runtime's real footprint: the .so files it loaded, not every file the
    wheel ships (stub wrappers point into one big common library)."""
    root = os.path.realpath(package_dir) + os.sep
    found: dict[str, int] = {}
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = os.path.realpath(parts[5].strip())
                if path.startswith(root) and ".so" in os.path.basename(path) and path not in found:
                    found[path] = os.path.getsize(path)
    except OSError:
        pass
    return found
