"""spikegrad bench (spikegrad.tools.bench): what it measures and reports; no timing asserted."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

import spikegrad as sg
from spikegrad.tools import bench


def fake_time_all(fns, sync, repeat, min_seconds, baseline):
    return {key: bench._Timing(2.0, 2.0, [2.0] * repeat) if key[0] == "spikegrad"
            else bench._Timing(1.0, 1.0, [1.0] * repeat) for key in fns}


def test_every_catalogue_surrogate_against_the_native_op_in_one_run(monkeypatch):
    """Rows for every registered surrogate (new entries included without a change here), each
    with its ratio to the native op of the same size, under the framework's own backend."""
    pytest.importorskip("torch")
    seen = []

    def spy(fns, sync, repeat, min_seconds, baseline):
        seen.append(sg.get_backend())
        return fake_time_all(fns, sync, repeat, min_seconds, baseline)

    monkeypatch.setattr(bench, "_time_all", spy)
    sg.set_backend("numpy")
    try:
        results = bench.run(("torch",), sizes=(16, 32), repeat=1, peers=False)
    finally:
        sg.set_backend(None)
    rows = results["rows"]
    assert set(seen) == {"torch"}
    assert {r["surrogate"] for r in rows if r["library"] == "spikegrad"} == set(sg.available())
    for r in rows:
        assert r["baseline"] == "torch.sigmoid" and r["elements"] in (16, 32)
        assert r["ratio"] == (2.0 if r["library"] == "spikegrad" else 1.0)
        assert r["peak_bytes"] is None or r["peak_bytes"] >= 0
    assert {"date", "processor", "cpus", "torch"} <= set(results["machine"])
    assert bench._malformed(json.loads(json.dumps(results))) is None  # --load takes it


def test_a_library_without_a_version_attribute_is_named_by_its_distribution(monkeypatch):
    """spikingjelly 2.0.0 has no ``__version__``: the report names its installed version."""
    module = type(sys)("unversioned_library")
    monkeypatch.setitem(sys.modules, "unversioned_library", module)
    monkeypatch.setattr(bench.importlib.metadata, "version",
                        lambda name: {"unversioned_library": "2.0.0"}[name])
    assert bench._version("unversioned_library") == "2.0.0"
    module.__version__ = "2.0.1"
    assert bench._version("unversioned_library") == "2.0.1"


def test_the_published_results_load():
    """The documentation's benchmark page is made from this file with --load."""
    path = pathlib.Path(__file__).parents[2] / "docs" / "guides" / "benchmark_results.json"
    results = bench.load(str(path))
    assert "torch.sigmoid" in bench.format_table(results)


class DriftingClock:
    """``time.perf_counter`` of a machine whose speed changes: each call of a timed function
    advances it by the function's cost times the speed factor in force."""

    def __init__(self, factors):
        self.now, self.calls, self.factors = 0.0, 0, factors

    def __call__(self):
        return self.now

    def work(self, cost):
        self.now += cost * self.factors(self.calls)
        self.calls += 1


def test_ratios_are_taken_against_the_neighbouring_baseline_batch(monkeypatch):
    """On a machine whose speed halves and recovers every four calls, the ratio of each
    function to the baseline is still exact: each batch is divided by the baseline batch just
    before it. The ratio of the medians is off here (2.0 for both); the seconds are medians
    (between each cost and twice it)."""
    clock = DriftingClock(lambda calls: 2.0 if (calls // 4) % 2 == 0 else 1.0)
    monkeypatch.setattr(bench.time, "perf_counter", clock)
    costs = {"base": 1e-3, "a": 3e-3, "b": 1.5e-3}

    def costing(cost):
        return lambda: clock.work(cost)

    fns = {k: costing(cost) for k, cost in costs.items()}
    times = bench._time_all(fns, lambda out: None, 9, 4e-3, "base")
    assert times["base"][1] == 1.0
    assert times["a"][1] == pytest.approx(3.0) and times["b"][1] == pytest.approx(1.5)
    for key, cost in costs.items():
        assert cost * (1 - 1e-9) <= times[key][0] <= 2 * cost * (1 + 1e-9)
    assert times["a"][0] / times["base"][0] != pytest.approx(3.0)  # the scenario tells them apart


def test_peers_are_timed_next_to_spikegrads_same_surrogate(monkeypatch):
    order = []
    monkeypatch.setattr(bench, "_time_all", lambda fns, sync, repeat, min_seconds, baseline: (
        order.extend(fns), {k: bench._Timing(1.0, 1.0, [1.0]) for k in fns})[1])
    keys = [("torch", "torch.sigmoid", "native"), ("spikegrad", "arctan", "arctan"),
            ("spikegrad", "sigmoid", "sigmoid"), ("snntorch", "atan", "arctan"),
            ("norse", "sig", "sigmoid"), ("snntorch", "sig", "sigmoid"),
            ("norse", "other", "unmatched")]
    times = bench._timed({k: None for k in keys}, None, 1, 0.0)
    assert order == [keys[0], keys[1], keys[3], keys[2], keys[4], keys[5], keys[6]]
    assert list(times) == keys  # reported in the given order


def test_peers_are_compared_with_spikegrad_round_by_round(monkeypatch, tmp_path):
    """A peer's ratio to the baseline is divided by spikegrad's of the same round: the median
    of those (above 1: spikegrad faster) and the rounds spikegrad was the slower in go into its
    row and into the reports, which name a cell where spikegrad was slower in every round.
    Rows of neither kind, and results saved before these fields, report none."""
    rounds = {
        ("jax", "jax.nn.sigmoid", "native"): [],
        ("spikegrad", "sigmoid", "sigmoid"): [1.0, 1.2, 1.1, 1.3, 1.0],
        ("braintools", "Sigmoid()", "sigmoid"): [1.1, 1.1, 1.0, 1.4, 1.2],  # slower in two
        ("spikegrad", "arctan", "arctan"): [2.0, 2.0, 2.2, 2.0, 2.0],
        ("braintools", "Arctan()", "arctan"): [1.9, 1.8, 2.1, 1.0, 1.9],  # slower in all five
        ("norse", "unmatched", "rect"): [3.0] * 5,
    }
    monkeypatch.setattr(bench, "_time_all", lambda fns, sync, repeat, min_seconds, baseline: {
        k: bench._Timing(1.0, 1.0, rounds[k]) for k in fns})
    times = bench._timed(dict.fromkeys(rounds), None, 5, 0.0)
    # the round's ratios: 1.1, 11/12, 10/11, 14/13, 1.2
    assert times[("braintools", "Sigmoid()", "sigmoid")].against == (pytest.approx(14 / 13), 2)
    assert times[("braintools", "Arctan()", "arctan")].against == (pytest.approx(0.95), 5)
    for key in (("jax", "jax.nn.sigmoid", "native"), ("spikegrad", "sigmoid", "sigmoid"),
                ("norse", "unmatched", "rect")):
        assert times[key].against is None
    rows = [bench._row("jax", "jit", *key, 4096, 1e-5, 1e-5, 1.0, "jax.nn.sigmoid", None,
                       times[key].against, 5) for key in rounds]
    assert [r["vs_spikegrad"] is None for r in rows] == [True, True, False, True, False, True]
    results = {"machine": {"date": "2026-01-01", "processor": "cpu", "cpus": 2,
                           "platform": "linux", "python": "3.11"}, "rows": rows}
    line = ("jax jit against braintools: spikegrad faster in 1 of 2 cells; slower in every "
            "round (5) in 1: braintools Arctan() 4K (spikegrad at 1.05x its time)")
    assert line in bench.format_table(results) and f"* {line}" in bench.format_rst(results)
    saved = tmp_path / "results.json"  # as --json writes them, read back by --load
    saved.write_text(json.dumps(results))
    assert bench.format_table(bench.load(str(saved))) == bench.format_table(results)
    for row in rows:
        del row["vs_spikegrad"], row["spikegrad_slower_rounds"], row["rounds"]
    assert "against" not in bench.format_table(results).lower()
    assert "Against" not in bench.format_rst(results)


@pytest.mark.parametrize("kwargs, message", [
    ({"repeat": 0}, "repeat=0: pass a whole number of timed batches, 1 or more"),
    ({"repeat": 2.5}, "repeat=2.5"),
    ({"sizes": (4096, -5)}, r"sizes=\[4096, -5\]: pass one or more whole numbers of elements"),
    ({"sizes": (0,)}, r"sizes=\[0\]"),
    ({"sizes": ()}, r"sizes=\[\]"),
    ({"processes": 0}, "processes=0: pass a whole number of processes to measure in, 1 to 25"),
    ({"processes": 26}, "processes=26"),
    ({"processes": True}, "processes=True"),
    ({"processes": 2, "frameworks": ("tensorflow",)}, "unknown framework 'tensorflow'"),
])
def test_bad_repeat_or_sizes_are_refused_before_any_timing(monkeypatch, kwargs, message):
    monkeypatch.setattr(bench, "_time_all", lambda *a: pytest.fail("timed"))
    monkeypatch.setattr(bench, "_run_in_a_process", lambda *a: pytest.fail("started"))
    with pytest.raises(ValueError, match=message):
        bench.run(**{"frameworks": ("torch",), **kwargs})


def _one_process(ratio, peer_ratio, slower, peak):
    """The rows of one process's run: the baseline, spikegrad's sigmoid and a peer's."""
    rows = [bench._row("torch", "cpu", "torch", "torch.sigmoid", "native", 4096, 1e-5, 1e-5,
                       1.0, "torch.sigmoid", 100, rounds=7),
            bench._row("torch", "cpu", "spikegrad", "sigmoid", "sigmoid", 4096, ratio * 1e-5,
                       1e-5, ratio, "torch.sigmoid", peak, rounds=7),
            bench._row("torch", "cpu", "snntorch", "sigmoid(slope=4)", "sigmoid", 4096,
                       peer_ratio * 1e-5, 1e-5, peer_ratio, "torch.sigmoid", 300,
                       (peer_ratio / ratio, slower), 7)]
    machine = {"date": "2026-12-07", "processor": "cpu", "cpus": 2, "platform": "linux",
               "python": "3.11"}
    return {"machine": machine, "rows": rows}


def test_runs_of_several_processes_merge_into_medians_with_their_range():
    """Per cell: the median time and ratio of the processes, the lowest and highest ratio, the
    paired comparison's median, its rounds summed (slower in every round = in all 21), the
    largest peak; the reports show the range and say how many processes."""
    runs = [_one_process(1.5, 3.0, 0, 200), _one_process(1.2, 2.4, 1, 180),
            _one_process(1.9, 3.8, 0, 220)]
    merged = bench.merge(runs)
    assert merged["machine"]["processes"] == 3 and merged["machine"]["date"] == "2026-12-07"
    native, ours, peer = merged["rows"]
    assert (native["ratio"], native["ratio_range"], native["processes"]) == (1.0, [1.0, 1.0], 3)
    assert ours["ratio"] == 1.5 and ours["ratio_range"] == [1.2, 1.9]
    assert ours["seconds"] == pytest.approx(1.5e-5) and ours["peak_bytes"] == 220
    assert ours["vs_spikegrad"] is None and ours["rounds"] == 21
    assert peer["vs_spikegrad"] == 2.0 and peer["spikegrad_slower_rounds"] == 1
    assert peer["rounds"] == 21 and peer["ratio_range"] == [2.4, 3.8]
    assert bench._malformed(json.loads(json.dumps(merged))) is None
    table = bench.format_table(merged)
    assert table.startswith("median of 3 processes")
    assert "15 us (1.50; 1.20-1.90)" in table and "10 us (1.00)" in table
    assert "slower in every round (21) in 0" in table
    assert "Measured in 3 processes, one after the other" in bench.format_rst(merged)
    assert "processes" not in bench.format_rst(runs[0])
    with pytest.raises(ValueError, match="got none"):
        bench.merge([])


@pytest.mark.parametrize("spread", [[1.6, 1.9], [1.2], "1.2-1.9", [1.2, True]])
def test_saved_results_with_a_wrong_range_are_refused(spread):
    merged = bench.merge([_one_process(1.5, 3.0, 0, 200), _one_process(1.2, 2.4, 1, 180)])
    merged["rows"][1]["ratio_range"] = spread
    assert "ratio_range is not the lowest and highest" in bench._malformed(merged)


def test_each_process_gets_the_same_options_and_their_runs_merge(monkeypatch):
    started, steps = [], []

    def fake(options):
        started.append(options)
        return _one_process(1.0 + len(started) / 10, 3.0, 0, 200)

    monkeypatch.setattr(bench, "_run_in_a_process", fake)
    monkeypatch.setattr(bench, "_time_all", lambda *a: pytest.fail("timed in this process"))
    merged = bench.run(("torch",), ["sigmoid"], (4096,), progress=steps.append, repeat=3,
                       peers=False, processes=3)
    assert steps == ["process 1/3", "process 2/3", "process 3/3"]
    assert started == [{"frameworks": ["torch"], "names": ["sigmoid"], "sizes": [4096],
                        "repeat": 3, "peers": False, "min_seconds": 0.02, "pinned": False}] * 3
    assert merged["rows"][1]["ratio"] == pytest.approx(1.2)


def test_a_process_imports_this_copy_of_spikegrad_first(monkeypatch):
    """The child finds the spikegrad that started it (a source tree run in place included)
    ahead of any other on ``PYTHONPATH``."""
    seen = {}

    def fake_run(command, env, **kwargs):
        seen.update(env=env, command=command)
        pathlib.Path(command[-1]).write_text(json.dumps({"machine": {}, "rows": []}))
        return subprocess.CompletedProcess(command, 0, None, "")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    assert bench._run_in_a_process({"names": ["sigmoid"]}) == {"machine": {}, "rows": []}
    home = os.path.dirname(os.path.dirname(os.path.abspath(sg.__file__)))
    assert seen["env"]["PYTHONPATH"].split(os.pathsep) == [home, "/elsewhere"]
    assert seen["command"][0] == sys.executable
    assert json.loads(seen["command"][-2]) == {"names": ["sigmoid"]}


@pytest.mark.slow
def test_a_process_measures_and_its_failure_is_reported():
    """A real child process: its results come back; one that fails raises with its error."""
    pytest.importorskip("torch")
    options = {"frameworks": ["torch"], "names": ["sigmoid"], "sizes": [64], "repeat": 1,
               "peers": False, "min_seconds": 0.0, "pinned": False}
    results = bench._run_in_a_process(options)
    assert {(r["library"], r["elements"]) for r in results["rows"]} == {
        ("torch", 64), ("spikegrad", 64)}
    with pytest.raises(RuntimeError, match="(?s)a benchmark process failed.*no_such_surrogate"):
        bench._run_in_a_process({**options, "names": ["no_such_surrogate"]})


def test_the_command_line_names_a_bad_repeat(capsys):
    from spikegrad.tools.cli import main

    assert main(["bench", "--repeat", "0", "--no-peers"]) == 2
    assert ("spikegrad bench: error: repeat=0: pass a whole number of timed batches, 1 or more"
            in capsys.readouterr().err)


def test_peak_memory_of_a_real_step_is_counted():
    torch = pytest.importorskip("torch")
    x = torch.linspace(-1, 1, 1 << 14, requires_grad=True)
    peak = bench._torch_peak_bytes(lambda: torch.autograd.grad(torch.sigmoid(x).sum(), x), "cpu")
    assert peak is None or peak >= 4 * (1 << 14)  # at least the forward's output


def test_peak_memory_leaves_standard_error_alone(capfd):
    # PyTorch's profiler writes "USDT: ... profiler_start" and "profiler_stop" lines to file
    # descriptor 2 (two per table cell); the measurement hides them, and standard error is
    # restored after it.
    torch = pytest.importorskip("torch")
    x = torch.linspace(-1, 1, 1 << 10, requires_grad=True)
    bench._torch_peak_bytes(lambda: torch.autograd.grad(torch.sigmoid(x).sum(), x), "cpu")
    print("after", file=sys.stderr)
    err = capfd.readouterr().err
    assert "profiler_st" not in err
    assert err == "after\n"


PINNED = """
import json, os
from spikegrad.tools import bench
core = bench.pin()
import jax, jax.numpy as jnp, torch
loop = jax.jit(lambda v: jnp.exp(v) * 2).lower(jnp.ones(1 << 20)).compile().as_text()
print(json.dumps({"core": core, "affinity": sorted(os.sched_getaffinity(0)),
                  "torch_threads": torch.get_num_threads(),
                  "split": "outer_dimension_partitions" in loop}))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_pin_runs_on_one_core_with_one_thread_per_framework():
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, "-c", PINNED], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["affinity"] == [got["core"]]
    assert got["torch_threads"] == 1
    assert not got["split"]  # XLA's loop runs on the calling thread, not split between threads


def test_pin_after_jax_has_run_changes_nothing():
    jax = pytest.importorskip("jax")
    jax.numpy.ones(2).block_until_ready()  # JAX has run: its threads are set
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    flags = os.environ.get("XLA_FLAGS")
    with pytest.raises(RuntimeError, match="pin before JAX first runs"):
        bench.pin()
    assert os.environ.get("XLA_FLAGS") == flags
    if affinity is not None:
        assert os.sched_getaffinity(0) == affinity


def test_reports_from_saved_results(tmp_path):
    results = {
        "machine": {"date": "2026-01-01", "processor": "cpu", "cpus": 2, "platform": "linux",
                    "python": "3.11", "torch": "2.13"},
        "rows": [bench._row("torch", "cpu", lib, label, "sigmoid", n, t, 1e-5, t / 1e-5,
                            "torch.sigmoid", 1024)
                 for lib, label in (("torch", "torch.sigmoid"), ("spikegrad", "sigmoid"))
                 for n, t in ((4096, 2e-5), (1 << 20, 3e-5))],
    }
    table = bench.format_table(results)
    assert "4K" in table and "1M" in table and "20 us (2.00)" in table
    rst = bench.format_rst(results, "chart.png")
    assert ".. image:: chart.png" in rst and "Measured 2026-01-01 on cpu (2 CPUs)" in rst
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(results))
    out = subprocess.run(
        [sys.executable, "-m", "spikegrad", "bench", "--load", str(saved), "--rst",
         str(tmp_path / "page.rst")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "30 us (3.00)" in out.stdout
    assert (tmp_path / "page.rst").read_text() == bench.format_rst(results)
    assert "pinned" not in table and "pinned" not in rst
    results["machine"]["pinned_core"] = 1  # a --pin run says so
    assert bench.format_table(results).startswith("pinned to core 1, one thread per framework")
    assert "(2 CPUs, pinned to one core, XLA on one thread)" in bench.format_rst(results)


def test_bench_has_no_parser_of_its_own():
    assert not hasattr(bench, "main") and not hasattr(bench, "argparse")


def test_python_dash_m_bench_is_the_bench_command():
    result = subprocess.run(
        [sys.executable, "-m", "spikegrad.tools.bench", "--help"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: spikegrad bench" in result.stdout
    for flag in ("--sizes", "--json", "--plot", "--repeat", "--load", "--processes"):
        assert flag in result.stdout


def test_a_plot_of_other_surrogates_draws_them(tmp_path):
    """--plot highlights sigmoid, arctan and inv_square_grad; results of other surrogates only
    (spikegrad bench --surrogate erf --plot ...) drew an empty chart and warned."""
    pytest.importorskip("matplotlib")
    import warnings

    results = {"machine": {}, "rows": [
        bench._row("torch", "cpu", lib, label, name, n, 2e-5, 1e-5, 2.0, "torch.sigmoid", None)
        for lib, label, name in (("torch", "torch.sigmoid", "native"), ("spikegrad", "erf", "erf"))
        for n in (4096, 1 << 20)]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib: "No artists with labels found"
        bench.plot(results, str(tmp_path / "erf.png"), ("sigmoid", "arctan", "inv_square_grad"))
    assert (tmp_path / "erf.png").read_bytes()[:4] == b"\x89PNG"
