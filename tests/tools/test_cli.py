"""The spikegrad command (spikegrad.tools.cli): list, plot, check, bench, demo, and its errors."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import _config
from spikegrad.tools.cli import _parse_plot_targets, main


def run_command(*argv: str, cwd: object = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m spikegrad *argv`` in a fresh interpreter, with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "spikegrad", *argv],
        capture_output=True, text=True, timeout=600, cwd=cwd, env={**os.environ, **env},
    )


def test_list_shows_every_surrogate_with_defaults(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in sg.available():
        assert name in out
    assert "alpha=0.1, beta=1.0" in out and "backends installed: numpy: yes" in out
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(sg.available()) | set(sg.compat.available())
    assert {"name": "snntorch.atan", "call": "atan(alpha=2.0)", "canonical": "Arctan(alpha=alpha)",
            "forward": "x > 0"}.items() <= next(r for r in rows if r["name"] == "snntorch.atan").items()


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "s.png"
    assert main(["plot", "sigmoid", "alpha=2", "arctan", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Sigmoid(alpha=2.0), Arctan(alpha=1.0)" in capsys.readouterr().out
    # a name without a suffix: matplotlib appends .png, and the report names that file
    assert main(["plot", "sigmoid", "-o", str(tmp_path / "bare")]) == 0
    assert (tmp_path / "bare.png").exists()
    assert f"wrote {tmp_path / 'bare.png'}: " in capsys.readouterr().out
    assert main(["plot", "sigmoid", "-o", str(tmp_path / "dot.")]) == 0  # (so is a final dot)
    assert (tmp_path / "dot.png").exists()
    assert f"wrote {tmp_path / 'dot.png'}: " in capsys.readouterr().out


def test_plot_target_parsing():
    assert _parse_plot_targets(["squarewave_fourier_series", "n=3", "t_period=4"]) == [
        sg.SquarewaveFourierSeries(n=3, t_period=4.0)
    ]
    with pytest.raises(ValueError, match="before any surrogate name"):
        _parse_plot_targets(["alpha=2"])
    with pytest.raises(ValueError, match="alpha='two' is not a number"):
        _parse_plot_targets(["sigmoid", "alpha=two"])
    # the boolean options (origin=1 is refused as not a bool, so True/False must parse)
    assert _parse_plot_targets(["sigmoid", "origin=True", "spike_at_zero=False"]) == [
        sg.Sigmoid(origin=True, spike_at_zero=False)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "sigmiod", "-o", "x.png"], "unknown surrogate 'sigmiod'; available:"),
        (["plot", "sigmoid", "alpha=-1", "-o", "x.png"], "alpha=-1.0 is out of range"),
        (["plot", "sigmoid", "gamma=1", "-o", "x.png"], "has no parameter 'gamma'"),
        (["demo", "--surrogate", "nope"], "unknown surrogate 'nope'"),
        (["plot", "sigmoid", "--xmin", "3", "--xmax", "-3", "-o", "x.png"],
         "--xmin 3 must be below --xmax -3"),
        (["plot", "sigmoid", "--xmin=-inf", "-o", "x.png"], "must be finite numbers"),
        (["plot", "sigmoid", "--xmin=-1e308", "--xmax=1e308", "-o", "x.png"],
         "less than the largest float apart"),
        (["plot", "sigmoid", "-o", "."], "cannot write the plot to '.': it is a directory"),
        (["plot", "sigmoid", "-o", ""], "cannot write the plot to '': no file name"),
        (["demo", "--epochs", "0"], "epochs=0: pass a whole number of training epochs, 1 or more"),
        (["demo", "--epochs", "-2"], "epochs=-2: pass a whole number of training epochs"),
        (["demo", "--surrogate", "snntorch.atan", "--train-surrogate"],
         ("'snntorch.atan' has no parameters to train; train its catalogue surrogate, "
          "Arctan(alpha=2.0, spike_at_zero=False)")),
        (["check", "--samples", "1000000000", "sigmoid"],
         ("samples=1000000000: pass a whole number of random inputs per property and dtype, "
          "1 to 100000")),
    ],
)
def test_clear_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_files_that_cannot_be_read_or_written_are_one_line(tmp_path, capsys):
    """An unwritable output, a missing or malformed --load file: one line, exit 2 (they were
    tracebacks, with exit 1 like a failed check; the demo trained before it failed)."""
    pytest.importorskip("matplotlib")
    missing = str(tmp_path / "no" / "such" / "dir")
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "row.json").write_text('{"machine": {"date": 1, "platform": 1, "processor": 1, '
                                       '"cpus": 1, "python": 1}, "rows": [{"ratio": 1}]}')
    paired = {"framework": "jax", "mode": "jit", "library": "braintools", "label": "Sigmoid()",
              "surrogate": "sigmoid", "elements": 4096, "seconds": 1e-5, "ratio": 1.0,
              "vs_spikegrad": 1.1, "spikegrad_slower_rounds": None, "rounds": 7}
    (tmp_path / "paired.json").write_text(json.dumps({"machine": {
        "date": 1, "platform": 1, "processor": 1, "cpus": 1, "python": 1}, "rows": [paired]}))
    cases = [
        (["plot", "sigmoid", "-o", f"{missing}.png"], f"cannot write the plot to '{missing}.png'"),
        # checked before the measurement: no minutes lost
        (["bench", "--plot", f"{missing}.png", "--sizes", "0"],
         f"cannot write the chart to '{missing}.png'"),
        (["bench", "--rst", f"{missing}.rst", "--sizes", "0"],
         f"cannot write the page to '{missing}.rst'"),
        (["demo", "--epochs", "1", "--plot", f"{missing}.png"],
         f"cannot write the plot to '{missing}.png'"),
        (["bench", "--load", f"{missing}.json"], "No such file or directory"),
        (["bench", "--load", str(tmp_path / "empty.json")],
         "is not the output of spikegrad bench --json: it is not a JSON object with 'machine'"),
        (["bench", "--load", str(tmp_path / "list.json")], "is not a JSON object with 'machine'"),
        (["bench", "--load", str(tmp_path / "bad.json")], "is not JSON"),
        (["bench", "--load", str(tmp_path / "row.json")],
         "row 0 is not an object with the keys framework, mode"),
        (["bench", "--load", str(tmp_path / "paired.json")],
         ("row 0 compares with spikegrad but has not all of vs_spikegrad, "
          "spikegrad_slower_rounds, rounds as numbers")),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_a_check_target_whose_code_raises_is_one_line(tmp_path, monkeypatch, capsys):
    """A module or factory of the user's that raises is a target that cannot be loaded (exit 2,
    naming the exception), not a traceback with the exit status of a failed check."""
    (tmp_path / "raising_factory.py").write_text("def make():\n    raise KeyError('x')\n")
    (tmp_path / "raising_module.py").write_text("raise NameError('broken on import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "raising_factory:make"]) == 2
    assert "raising_factory:make() raised KeyError: 'x'" in capsys.readouterr().err
    assert main(["check", "raising_module:Anything"]) == 2
    assert ("importing raising_module (raising_module:Anything) raised NameError: broken on "
            "import") in capsys.readouterr().err


def test_help_everywhere():
    for sub in ([], ["list"], ["plot"], ["check"], ["bench"], ["demo"]):
        with pytest.raises(SystemExit) as exc:
            main([*sub, "--help"])
        assert exc.value.code == 0


def test_check_passes_on_this_installation_whatever_is_selected(capsys):
    """Every registered surrogate on every installed backend, each under its own name while
    another backend is selected."""
    with sg.backend("numpy"):
        assert main(["check", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.split("\n\n")[0])
    ran = [r for r in rows if not r["skipped"]]
    installed = {b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None}
    assert {r["backend"] for r in ran} >= {"numpy", "array_api", *installed}
    # every registered surrogate passed, or (a user's, registered by another test) the check
    # does not apply to it
    assert all(r["passed"] == r["total"] == len(sg.available()) - len(r["not_applicable"])
               for r in ran)


def test_bench_json_small(capsys):
    pytest.importorskip("torch")
    assert main(["bench", "--framework", "torch", "--surrogate", "sigmoid", "--sizes", "256",
                 "--repeat", "1", "--no-peers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    (row,) = [r for r in rows if r["library"] == "spikegrad"]
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
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda n, *a: None if n == "tqdm" else real(n, *a))
    plot = tmp_path / "curve.png"
    assert main(["demo", "--framework", "torch", "--epochs", "3", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "torch: test accuracy" in out and plot.exists()


@pytest.mark.slow
def test_demo_all_frameworks_agree_and_learn(tmp_path):
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from spikegrad.tools.demo import DemoConfig, run_demo

    lines = []
    report = run_demo("all", DemoConfig(epochs=6), plot=str(tmp_path / "curve.png"),
                      echo=lines.append)
    assert report["gradient_difference"] <= 1e-5
    assert all(r["test_accuracy"] >= 0.9 for r in report["results"])
    assert (tmp_path / "curve.png").exists()
    assert any("agree to 1e-5" in line for line in lines)


def test_demo_runs_each_framework_under_its_own_backend(monkeypatch):
    """SPIKEGRAD_BACKEND=torch selects the demo's framework under ``auto``; with jax selected,
    the PyTorch half of ``all`` still runs (it was "backend 'jax' cannot take a
    torch.Tensor")."""
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from spikegrad.tools import demo

    config = demo.DemoConfig(epochs=1, hidden=16, steps=2)
    monkeypatch.setattr(_config, "_env_backend", "torch")  # jax is the first installed
    (result,) = demo.run_demo("auto", config, plot=None, echo=lambda line: None)["results"]
    assert result["framework"] == "torch" and result["test_accuracy"] > 0.2
    monkeypatch.setattr(_config, "_env_backend", "jax")
    data = demo.load_digits_split(config.seed)
    assert demo.train("torch", config, data)["test_accuracy"] > 0.2
    grads = demo.first_step_gradients("torch", config, data)
    assert all(np.isfinite(g).all() and g.any() for g in grads.values())


@pytest.mark.slow
def test_python_dash_m():
    result = run_command("list")
    assert result.returncode == 0 and "leaky_relu" in result.stdout


# ------------------------------------------------------------------ configuration errors


BAD_BACKEND = "unknown spikegrad backend 'bogus' (from $SPIKEGRAD_BACKEND); valid names: auto"
BAD_FUSE = "SPIKEGRAD_TORCH_FUSE='yes' is not valid; choose one of auto, always, plan, off"


def one_error_line(stderr: str, command: str, message: str) -> None:
    """``stderr`` shows one line, ``spikegrad <command>: error: ...message...`` (a progress bar
    it erased with carriage returns aside)."""
    assert "Traceback" not in stderr, stderr
    lines = [shown for line in stderr.split("\n") if (shown := line.rsplit("\r", 1)[-1].strip())]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"spikegrad {command}: error: ") and message in lines[0], stderr


def test_a_bad_environment_breaks_no_command_that_computes_nothing():
    """--help, --version and list work with an invalid $SPIKEGRAD_BACKEND (a fresh process:
    the variable is read at import)."""
    env = {"SPIKEGRAD_BACKEND": "bogus", "SPIKEGRAD_TORCH_FUSE": "yes"}
    help_ = run_command("--help", **env)
    assert help_.returncode == 0 and "usage: spikegrad" in help_.stdout, help_.stderr
    version = run_command("--version", **env)
    assert version.returncode == 0 and version.stdout.strip() == f"spikegrad {sg.__version__}"
    listing = run_command("list", "--json", **env)
    assert listing.returncode == 0, listing.stderr
    names = {r["name"] for r in json.loads(listing.stdout)}
    assert names == set(sg.available()) | set(sg.compat.available())


@pytest.mark.parametrize(
    "env, message",
    [({"SPIKEGRAD_BACKEND": "bogus"}, BAD_BACKEND), ({"SPIKEGRAD_TORCH_FUSE": "yes"}, BAD_FUSE)],
    ids=["backend", "torch-fuse"],
)
def test_a_bad_environment_is_one_error_line_when_computing(tmp_path, env, message):
    result = run_command("plot", "sigmoid", "-o", "s.png", cwd=tmp_path, **env)
    assert result.returncode == 2
    one_error_line(result.stderr, "plot", message)
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize(
    "argv",
    [["plot", "sigmoid", "-o", "s.png"], ["check"], ["bench", "--sizes", "16"], ["demo"]],
    ids=lambda argv: argv[0],
)
def test_every_computing_command_checks_the_environment_first(argv, monkeypatch, capsys):
    monkeypatch.setattr(_config, "_env_backend_error", BAD_BACKEND + ", numpy")
    assert main(argv) == 2
    captured = capsys.readouterr()
    one_error_line(captured.err, argv[0], BAD_BACKEND)
    assert captured.out == ""  # nothing ran


def test_bench_load_works_with_a_bad_environment(tmp_path, monkeypatch, capsys):
    """``bench --load`` reports an earlier run, computing nothing: a bad environment does not
    stop it (it did: the check for computing commands ran first)."""
    from spikegrad.tools import bench

    monkeypatch.setattr(_config, "_env_backend_error", BAD_BACKEND)
    monkeypatch.setattr(_config, "_env_torch_fuse_error", BAD_FUSE)
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({
        "machine": {"date": "2026-01-01", "platform": "linux", "processor": "cpu", "cpus": 2,
                    "python": "3.11"},
        "rows": [bench._row("torch", "cpu", "torch", "torch.sigmoid", "sigmoid", 4096, 2e-5,
                            2e-5, 1.0, "torch.sigmoid", None)]}))
    assert main(["bench", "--load", str(saved)]) == 0
    assert "20 us (1.00)" in capsys.readouterr().out


def test_list_works_with_a_bad_environment(monkeypatch, capsys):
    monkeypatch.setattr(_config, "_env_backend_error", BAD_BACKEND)
    monkeypatch.setattr(_config, "_env_torch_fuse_error", BAD_FUSE)
    assert main(["list"]) == 0
    assert "leaky_relu" in capsys.readouterr().out


def test_a_configuration_error_inside_a_command_is_one_line(monkeypatch, capsys):
    """Raised by the dispatch while a command computes (here: past the up-front check), a
    configuration error is still one line."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    monkeypatch.setattr(_config, "check_environment", lambda: None)
    monkeypatch.setattr(_config, "_env_backend_error", BAD_BACKEND)
    assert main(["demo", "--epochs", "1", "--plot", ""]) == 2  # auto: reads the backend
    one_error_line(capsys.readouterr().err, "demo", BAD_BACKEND)


def test_an_import_error_while_loading_a_framework_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" raises
    assert main(["plot", "sigmoid", "-o", str(tmp_path / "s.png")]) == 2
    one_error_line(capsys.readouterr().err, "plot", "matplotlib")


@pytest.mark.slow
def test_check_of_a_target_checks_every_backend_whatever_the_environment_selects():
    """With ``SPIKEGRAD_BACKEND=torch``, ``spikegrad check sigmoid`` computes its properties on
    NumPy float64 arrays and PyTorch bfloat16 tensors (each to its own backend: they failed
    with TypeErrors) and checks every installed backend under its own name."""
    pytest.importorskip("torch")
    result = run_command("check", "sigmoid", "--json", "--no-compile", SPIKEGRAD_BACKEND="torch")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (report,) = json.loads(result.stdout)
    assert report["ok"] and report["counts"]["fail"] == 0, report
    passed = {r["group"] for r in report["results"] if r["status"] == "pass"}
    installed = {b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None}
    assert passed >= {"properties", "numpy", "array_api", "kernels", *installed}
