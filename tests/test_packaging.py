"""Packaging: every package directory ships in the wheel under its litesmith.* name."""
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAPPED = {"litesmith": "litesmith", "ir": "litesmith/ir", "passes": "litesmith/passes",
          "backends": "litesmith/backends", "frontends": "litesmith/frontends"}


def _package_dirs():
    for top, dest in MAPPED.items():
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            if "__init__.py" in filenames:
                rel = os.path.relpath(dirpath, os.path.join(ROOT, top))
                yield dest if rel == "." else f"{dest}/{rel}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), ROOT],
        check=True, cwd=str(out),
    )
    (whl,) = [p for p in os.listdir(out) if p.endswith(".whl")]
    return out / whl


@pytest.fixture(scope="module")
def wheel_names(wheel):
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_every_package_directory_is_in_the_wheel(wheel_names):
    missing = [d for d in _package_dirs() if f"{d}/__init__.py" not in wheel_names]
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_wheel_declares_cli_and_dialect_entry_points(wheel, wheel_names):
    (ep,) = [n for n in wheel_names if n.endswith("entry_points.txt")]
    with zipfile.ZipFile(wheel) as z:
        text = z.read(ep).decode()
    assert "litesmith = litesmith.cli:main" in text
    assert "tfl = litesmith.backends.tflite.ops" in text
