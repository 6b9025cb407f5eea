"""The documentation builds with warnings as errors; every surrogate page carries its plot.

(The examples in docs/ run as doctests in the ordinary test run: see pyproject.toml.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import spikegrad as sg

from .conftest import ROOT


@pytest.mark.slow
def test_sphinx_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("furo")
    pytest.importorskip("numpydoc")
    pytest.importorskip("matplotlib")
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    for name in sg.available():
        page = (out / "surrogates" / "generated" / f"{name}.html").read_text()
        cls = type(sg.get(name)).__name__
        assert f"{cls}</h1>" in page or f">{cls}<" in page
        assert ".png" in page, f"no plot on the page of {name}"
        assert "Examples" in page and "References" in page
    assert (out / "guides" / "porting.html").exists()
