"""The built wheel ships the core, the adapters (as spikegrad.backends), the tools and py.typed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_wheel_contains_backends_tools_and_py_typed(tmp_path):
    # From a clean copy of the sources, as CI and a release would: a stale build/ directory in
    # the working tree (setuptools reuses it) would otherwise ship files that no longer exist.
    sources = tmp_path / "sources"
    shutil.copytree(ROOT, sources, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "_build"
    ))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
         str(sources)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("spikegrad-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "spikegrad/__init__.py",
        "spikegrad/_math.py",
        "spikegrad/py.typed",
        "spikegrad/backends/__init__.py",
        "spikegrad/backends/_numpy.py",
        "spikegrad/backends/_array_api.py",
        "spikegrad/tools/__init__.py",
        "spikegrad/tools/cli.py",
        "spikegrad/tools/check.py",
        "spikegrad/tools/bench.py",
        "spikegrad/tools/demo.py",
        "spikegrad/tools/plotting.py",
        "spikegrad/data/braintools-0.3.0.json",
    }
    assert expected <= names, expected - names
    assert not any(n.startswith(("tests/", "backends/")) for n in names)
    # the tools moved out of the core: no stale copy beside it
    assert not {f"spikegrad/{m}.py" for m in ("cli", "check", "bench", "demo", "plotting")} & names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "spikegrad = spikegrad.tools.cli:main" in scripts
