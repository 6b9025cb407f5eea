"""The built wheel ships the core, the adapters (as spikegrad.backends) and py.typed."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_wheel_contains_backends_and_py_typed(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
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
    }
    assert expected <= names, expected - names
    assert not any(n.startswith(("tests/", "backends/")) for n in names)
