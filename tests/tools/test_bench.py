"""spikegrad bench (spikegrad.tools.bench): settings through _config, one argument parser."""

from __future__ import annotations

import subprocess
import sys

import pytest

import spikegrad as sg
from spikegrad import _config
from spikegrad.tools import bench


def test_torch_modes_select_the_fused_backward_through_config(monkeypatch):
    """"unfused" rows run with the fused-backward mode "off" (selected with _config, not by
    patching the adapter), only at sizes where "auto" fuses; each framework under its own
    backend, whatever is selected outside."""
    pytest.importorskip("torch")
    seen = []

    def fake_time(fn, sync, min_seconds=0.5):
        seen.append((_config.torch_fuse(), sg.get_backend()))
        return 1.0

    monkeypatch.setattr(bench, "_time", fake_time)
    big = _config.TORCH_FUSE_MIN_ELEMENTS
    sg.set_backend("numpy")
    with _config.torch_fuse_mode("always"):
        rows = bench.run(("torch",), ["sigmoid"], (16, big))
        assert _config.torch_fuse() == "always"  # restored
    modes = [(r["mode"], r["elements"]) for r in rows]
    assert modes == [("auto", 16), ("auto", big), ("unfused", big)]
    # one baseline and one surrogate timing per mode: the fuse mode in force for each
    assert seen == [("always", "torch"), ("auto", "torch"),
                    ("always", "torch"), ("auto", "torch"), ("off", "torch")]


def test_bench_has_no_parser_of_its_own():
    assert not hasattr(bench, "main") and not hasattr(bench, "argparse")


def test_python_dash_m_bench_is_the_bench_command():
    result = subprocess.run(
        [sys.executable, "-m", "spikegrad.tools.bench", "--help"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: spikegrad bench" in result.stdout and "--sizes" in result.stdout
