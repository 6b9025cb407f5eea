"""The spikegrad command: list, plot, check, bench, demo, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import spikegrad as sg
from spikegrad.cli import _parse_plot_targets, main


def test_list_shows_every_surrogate_with_defaults(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in sg.available():
        assert name in out
    assert "alpha=0.1, beta=1.0" in out and "backends installed: numpy: yes" in out
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(sg.available())


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "s.png"
    assert main(["plot", "sigmoid", "alpha=2", "arctan", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Sigmoid(alpha=2.0), Arctan(alpha=1.0)" in capsys.readouterr().out


def test_plot_target_parsing():
    assert _parse_plot_targets(["squarewave_fourier_series", "n=3", "t_period=4"]) == [
        sg.SquarewaveFourierSeries(n=3, t_period=4.0)
    ]
    with pytest.raises(ValueError, match="before any surrogate name"):
        _parse_plot_targets(["alpha=2"])
    with pytest.raises(ValueError, match="alpha='two' is not a number"):
        _parse_plot_targets(["sigmoid", "alpha=two"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "sigmiod", "-o", "x.png"], "unknown surrogate 'sigmiod'; available:"),
        (["plot", "sigmoid", "alpha=-1", "-o", "x.png"], "alpha=-1.0 is out of range"),
        (["plot", "sigmoid", "gamma=1", "-o", "x.png"], "has no parameter 'gamma'"),
        (["demo", "--surrogate", "nope"], "unknown surrogate 'nope'"),
    ],
)
def test_clear_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_help_everywhere():
    for sub in ([], ["list"], ["plot"], ["check"], ["bench"], ["demo"]):
        with pytest.raises(SystemExit) as exc:
            main([*sub, "--help"])
        assert exc.value.code == 0


def test_check_passes_on_this_installation(capsys):
    assert main(["check", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.split("\n\n")[0])
    ran = [r for r in rows if not r["skipped"]]
    assert {r["backend"] for r in ran} >= {"numpy"}
    assert all(r["passed"] == r["total"] == 18 for r in ran)


def test_bench_json_small(capsys):
    pytest.importorskip("torch")
    assert main(["bench", "--framework", "torch", "--surrogate", "sigmoid", "--sizes", "256", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["framework"] == "torch" and row["elements"] == 256 and row["ratio"] > 0


@pytest.mark.parametrize("with_tqdm", [True, False], ids=["tqdm", "text-bar"])
def test_demo_command_with_progress_bar(tmp_path, capsys, monkeypatch, with_tqdm):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:
        import importlib.util

        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tqdm" else real(n, *a))
    plot = tmp_path / "curve.png"
    assert main(["demo", "--framework", "torch", "--epochs", "3", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "torch: test accuracy" in out and plot.exists()


@pytest.mark.slow
def test_demo_all_frameworks_agree_and_learn(tmp_path):
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from spikegrad.demo import DemoConfig, run_demo

    lines = []
    report = run_demo("all", DemoConfig(epochs=6), plot=str(tmp_path / "curve.png"), echo=lines.append)
    assert report["gradient_difference"] <= 1e-5
    assert all(r["test_accuracy"] >= 0.9 for r in report["results"])
    assert (tmp_path / "curve.png").exists()
    assert any("agree to 1e-5" in line for line in lines)


@pytest.mark.slow
def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "spikegrad", "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "leaky_relu" in result.stdout
