"""Forward+backward benchmark of every catalogue surrogate against the native op, in one run.

Every time is reported beside its ratio to a native baseline measured in the same process
(machines of different speeds then give comparable ratios):

* PyTorch: ``torch.autograd.grad`` through the spike against the same through
  ``torch.sigmoid`` (one native kernel each way), float32, on the CPU and, when present, on
  CUDA. Peak memory: the most bytes PyTorch held at once during one forward+backward beyond
  its inputs (CUDA: ``torch.cuda.max_memory_allocated``; CPU: the allocation and free events
  recorded by ``torch.profiler`` with ``profile_memory=True``, summed in time order).
* JAX: ``jax.vjp`` and the pull-back against the same for ``jax.nn.sigmoid``, under
  ``jax.jit`` and called eagerly.
* Other libraries, when importable, in the same run: the same surrogates of snntorch,
  spikingjelly and norse (PyTorch) and braintools (JAX), at the same parameters.

Each framework is measured under its own backend (``spikegrad.backend(framework)``), whatever
``SPIKEGRAD_BACKEND`` selects. Timings are the median of ``repeat`` batches, each long enough to
time reliably; every batch comes right after a batch of the baseline, and a ratio is the median
of the ratios of those neighbours (a shared machine's speed drifts over seconds: neighbours see
the same speed). A process's own layout and threads move its ratios too (in some processes
of this machine ``jax.nn.sigmoid`` takes twice its usual time at 65,536 elements, and every
ratio to it drops): ``processes=N`` (``--processes N``) measures in ``N`` fresh processes, one
after the other, and reports each cell's median over them with the lowest and highest
(:func:`merge`). Run ``spikegrad bench`` (``--help`` for the options).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, NamedTuple

from spikegrad.tools import _check_count

__all__ = ["DEFAULT_SIZES", "MAX_PROCESSES", "ONE_XLA_THREAD", "format_rst", "format_table",
           "load", "machine", "merge", "pin", "plot", "run"]

DEFAULT_SIZES = (4096, 1 << 16, 1 << 20, 1 << 24)

# The same maths in other libraries, at the catalogue's default parameters (see the porting
# guide): (library, label, catalogue name, factory of a function of a tensor).
_TORCH_PEERS: list[tuple[str, str, str, Callable[[], Callable[[Any], Any]]]] = [
    ("snntorch", "sigmoid(slope=4)", "sigmoid",
     lambda: __import__("snntorch.surrogate").surrogate.sigmoid(slope=4.0)),
    ("snntorch", "atan(alpha=1)", "arctan",
     lambda: __import__("snntorch.surrogate").surrogate.atan(alpha=1.0)),
    ("snntorch", "fast_sigmoid(slope=100)", "inv_square_grad",
     lambda: __import__("snntorch.surrogate").surrogate.fast_sigmoid(slope=100.0)),
    ("spikingjelly", "Sigmoid(alpha=4)", "sigmoid",
     lambda: _spikingjelly().Sigmoid(alpha=4.0)),
    ("spikingjelly", "ATan(alpha=1)", "arctan", lambda: _spikingjelly().ATan(alpha=1.0)),
    ("spikingjelly", "PiecewiseQuadratic(alpha=1)", "piecewise_quadratic",
     lambda: _spikingjelly().PiecewiseQuadratic(alpha=1.0)),
    ("spikingjelly", "PiecewiseExp(alpha=1)", "piecewise_exp",
     lambda: _spikingjelly().PiecewiseExp(alpha=1.0)),
    ("spikingjelly", "Erf(alpha=1)", "erf", lambda: _spikingjelly().Erf(alpha=1.0)),
    ("norse", "heavi_tanh_fn(k=2) (scaled)", "sigmoid",
     lambda: _norse(lambda t, x: t.heavi_tanh_fn(x, 2.0))),
    ("norse", "super_fn(alpha=100)", "inv_square_grad",
     lambda: _norse(lambda t, x: t.super_fn(x, 100.0))),
    ("norse", "heavi_erfc_fn(k=1) (scaled)", "erf",
     lambda: _norse(lambda t, x: t.heavi_erfc_fn(x, 1.0))),
]


def _spikingjelly() -> Any:
    from spikingjelly.activation_based import surrogate

    return surrogate


def _norse(call: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    import norse.torch.functional.threshold as threshold

    return lambda x: call(threshold, x)


def machine() -> dict[str, Any]:
    """The machine and versions a run measured (for the report)."""
    info: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    for module in ("torch", "numba", "jax", "snntorch", "spikingjelly", "norse", "braintools"):
        if importlib.util.find_spec(module) is not None:
            try:
                info[module] = _version(module)
                if module == "torch":
                    info["torch_threads"] = __import__(module).get_num_threads()
            except Exception:  # noqa: BLE001 - a peer that fails to import is left out
                pass
    return info


def _version(module: str) -> str:
    """The version of an importable ``module``: its ``__version__``, or where it has none
    (spikingjelly 2.0.0), that of the installed distribution of the same name."""
    version = getattr(__import__(module), "__version__", None)
    return version if isinstance(version, str) else importlib.metadata.version(module)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class _Timing(NamedTuple):
    """One function's measurement (see :func:`_time_all`)."""

    seconds: float  # per call: the median of its batches
    ratio: float  # the median of its per-round ratios to the baseline
    ratios: list[float]  # those ratios, one per round, in order (empty for the baseline)
    against: tuple[float, int] | None = None  # see _timed


def _time_all(fns: dict[Any, Callable[[], Any]], sync: Callable[[Any], Any], repeat: int,
              min_seconds: float, baseline: Any) -> dict[Any, _Timing]:
    """Seconds per call of each function and its ratio to ``fns[baseline]``.

    Every function runs in batches long enough to time reliably (at least ``min_seconds``), in
    ``repeat`` rounds, in the order of ``fns``; in each round, every batch of a function comes
    right after a batch of the baseline. The seconds are the median of a function's batches;
    the ratio is the median of the ratios of each batch to the baseline batch just before it.
    A shared machine's speed drifts by up to a factor of two over seconds: a batch and the
    baseline batch next to it see the same speed, where a function and a baseline measured a
    second apart would not."""
    def seconds(fn: Callable[[], Any], number: int) -> float:  # of `number` calls
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        sync(out)
        return time.perf_counter() - start

    numbers = {}
    for key, fn in fns.items():
        sync(fn())  # warm up (tracing, caches)
        number = 1
        while seconds(fn, number) < min_seconds and number < 1 << 16:
            number *= 2
        numbers[key] = number

    def batch(key: Any) -> float:
        return seconds(fns[key], numbers[key]) / numbers[key]

    samples: dict[Any, list[float]] = {key: [] for key in fns}
    ratios: dict[Any, list[float]] = {key: [] for key in fns}
    for _ in range(repeat):
        for key in fns:
            if key == baseline:
                continue
            base = batch(baseline)
            t = batch(key)
            samples[baseline].append(base)
            samples[key].append(t)
            ratios[key].append(t / base)
    return {key: _Timing(statistics.median(samples[key]),
                         1.0 if key == baseline else statistics.median(ratios[key]), ratios[key])
            for key in fns}


def _timed(fns: dict[tuple[str, str, str], Callable[[], Any]], sync: Callable[[Any], Any],
           repeat: int, min_seconds: float) -> dict[tuple[str, str, str], _Timing]:
    """:func:`_time_all` of ``fns`` keyed ``(library, label, surrogate)``, the first the
    baseline, each other library's function timed right after spikegrad's same surrogate (so
    that a comparison of the two is one of neighbours in time too); in the order of ``fns``.

    Such a peer's timing is compared with spikegrad's round by round (``against``): the median
    of the ratios of its round's ratio to spikegrad's (above 1: spikegrad was faster), and the
    number of rounds in which spikegrad was the slower of the two. Two equally fast functions
    are each the slower in half the rounds; one is slower in all ``repeat`` rounds by chance
    once in ``2**repeat`` comparisons, where its medians alone differ by a few percent every
    other time."""
    keys = list(fns)
    order = keys[:1]
    for key in keys[1:]:
        if key[0] == "spikegrad":
            order += [key] + [k for k in keys if k[0] != "spikegrad" and k[2] == key[2]]
    order += [k for k in keys if k not in order]
    times = _time_all({k: fns[k] for k in order}, sync, repeat, min_seconds, keys[0])
    for key in keys[1:]:
        ours = times.get(("spikegrad", key[2], key[2]))
        if key[0] != "spikegrad" and ours is not None:
            pairs = list(zip(times[key].ratios, ours.ratios))
            times[key] = times[key]._replace(against=(
                statistics.median(theirs / mine for theirs, mine in pairs),
                sum(mine > theirs for theirs, mine in pairs)))
    return {k: times[k] for k in keys}


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """File descriptor 2 sent to ``os.devnull`` for the block (the profiler and the step it
    measures, which has already run while being timed): PyTorch's profiler (kineto) writes a
    line there as it starts and as it stops (``USDT: ... profiler_start``) whatever
    ``KINETO_LOG_LEVEL`` says, two lines per measured cell."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to quiet
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _torch_peak_bytes(step: Callable[[], Any], device: str) -> int | None:
    """The most bytes PyTorch held at once during ``step()`` beyond what existed before."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    try:
        from torch._C._profiler import _EventType

        with _quiet_stderr(), torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            step()
        # Every allocation (positive size) and free (negative) the profiler recorded, each at
        # its own time: the bytes live at each moment, and their maximum.
        changes = []
        stack = list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            event = stack.pop()
            stack.extend(event.children)
            if event.typed[0] == _EventType.Allocation:
                changes.append((event.start_time_ns, event.typed[1].alloc_size))
    except Exception:  # noqa: BLE001 - no profiler (or another version of it): no memory column
        return None
    live = peak = 0
    for _, change in sorted(changes):
        live += change
        peak = max(peak, live)
    return peak


def _torch_rows(names: list[str], sizes: tuple[int, ...], repeat: int, peers: bool,
                min_seconds: float) -> list[dict[str, Any]]:
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # quiets older PyTorch versions' profiler
    import torch

    import spikegrad as sg
    from spikegrad.backends import _torch_kernels

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    peer_fns = []
    if peers:
        for library, label, name, factory in _TORCH_PEERS:
            if name in names and importlib.util.find_spec(library) is not None:
                try:
                    peer_fns.append((library, label, name, factory()))
                except Exception:  # noqa: BLE001 - a peer that does not build is left out
                    pass
    rows = []
    for device in devices:
        sync = (lambda out: torch.cuda.synchronize()) if device == "cuda" else (lambda out: None)
        for n in sizes:
            x = torch.linspace(-3, 3, n, dtype=torch.float32, device=device).requires_grad_()
            ct = torch.ones(n, device=device)

            def fwd_bwd(f: Callable[[Any], Any]) -> Callable[[], Any]:
                def step() -> Any:
                    (g,) = torch.autograd.grad(f(x), x, ct)
                    return g

                return step

            fns: dict[tuple[str, str, str], Callable[[], Any]] = {
                ("torch", "torch.sigmoid", "native"): fwd_bwd(torch.sigmoid)
            }
            for name in names:
                fns[("spikegrad", name, name)] = fwd_bwd(sg.get(name))
            for library, label, name, fn in peer_fns:
                fns[(library, label, name)] = fwd_bwd(fn)
            if device == "cpu":  # the first backward of each surrogate starts compiling
                # its kernel (the plan serves meanwhile): time the steady state
                for fn in fns.values():
                    fn()
                _torch_kernels.wait(_torch_kernels.COMPILE_TIMEOUT)
            times = _timed(fns, sync, repeat, min_seconds)
            base = times[("torch", "torch.sigmoid", "native")].seconds
            for (library, label, name), timing in times.items():
                rows.append(_row("torch", device, library, label, name, n, timing.seconds, base,
                                 timing.ratio, "torch.sigmoid",
                                 _torch_peak_bytes(fns[(library, label, name)], device),
                                 timing.against, repeat))
    return rows


def _jax_rows(names: list[str], sizes: tuple[int, ...], repeat: int, peers: bool,
              min_seconds: float) -> list[dict[str, Any]]:
    import jax
    import jax.numpy as jnp

    import spikegrad as sg

    def fwd_bwd(f: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def step(x: Any, ct: Any) -> Any:
            out, pullback = jax.vjp(f, x)
            return out, pullback(ct)[0]

        return step

    def block(out: Any) -> None:
        jax.block_until_ready(out)

    funcs: dict[tuple[str, str, str], Callable[[Any], Any]] = {
        ("jax", "jax.nn.sigmoid", "native"): jax.nn.sigmoid
    }
    for name in names:
        funcs[("spikegrad", name, name)] = sg.get(name)
    if peers and importlib.util.find_spec("braintools") is not None:
        try:
            import braintools

            for name in names:
                cls = type(sg.get(name))
                peer = getattr(braintools.surrogate, cls.__name__, None)
                if peer is not None:
                    funcs[("braintools", f"{cls.__name__}()", name)] = peer()
        except Exception:  # noqa: BLE001 - braintools that does not import is left out
            pass
    rows = []
    for n in sizes:
        x = jnp.linspace(-3, 3, n, dtype=jnp.float32)
        ct = jnp.ones(n, jnp.float32)
        for mode in ("jit", "eager"):
            if mode == "eager" and n > 1 << 20:
                continue  # eager calls measure per-call overhead; large sizes add nothing
            fns = {}
            for key, f in funcs.items():
                step = jax.jit(fwd_bwd(f)) if mode == "jit" else fwd_bwd(f)
                fns[key] = (lambda s: lambda: s(x, ct))(step)
            times = _timed(fns, block, repeat, min_seconds)
            base = times[("jax", "jax.nn.sigmoid", "native")].seconds
            for (library, label, name), timing in times.items():
                rows.append(_row("jax", mode, library, label, name, n, timing.seconds, base,
                                 timing.ratio, "jax.nn.sigmoid", None, timing.against, repeat))
    return rows


def _row(framework: str, mode: str, library: str, label: str, name: str, n: int, t: float,
         base: float, ratio: float, baseline: str, peak: int | None,
         against: tuple[float, int] | None = None, rounds: int | None = None
         ) -> dict[str, Any]:
    """One row of the results, timed in ``rounds`` rounds. Another library's row compared with
    spikegrad's same surrogate (:func:`_timed`) has ``vs_spikegrad`` (its time over
    spikegrad's, paired by round: above 1, spikegrad is faster) and
    ``spikegrad_slower_rounds`` (of ``rounds``); None elsewhere."""
    return {
        "framework": framework,
        "mode": mode,
        "library": library,
        "label": label,
        "surrogate": name,
        "elements": n,
        "seconds": t,
        "baseline": baseline,
        "baseline_seconds": base,
        "ratio": ratio,
        "peak_bytes": peak,
        "vs_spikegrad": None if against is None else against[0],
        "spikegrad_slower_rounds": None if against is None else against[1],
        "rounds": rounds,
    }


ONE_XLA_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
"""The ``XLA_FLAGS`` that keep XLA's CPU code on the calling thread."""


def pin() -> int:
    """Run this process on one CPU core, with one thread for each framework; return the core.

    On a shared machine with two cores, a framework that splits an operation between two
    threads is slowed by large, irregular factors whenever anything else runs: two runs of
    the same JAX loops differ by 0.1-0.3 in their ratios. On one core, with one thread, the
    comparison of two loops is steady to a few percent. The process is bound to the last core
    it may run on (``os.sched_setaffinity``), PyTorch to one thread, and XLA's CPU code to the
    calling thread (:data:`ONE_XLA_THREAD`, added to ``XLA_FLAGS``, which JAX reads when it
    first runs: after that, this raises ``RuntimeError`` and changes nothing).
    """
    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if getattr(xla_bridge, "backends_are_initialized", lambda: True)():
            raise RuntimeError(
                "JAX has already run in this process, so its threads are set; pin before JAX "
                "first runs (spikegrad bench --pin does)")
    if not hasattr(os, "sched_setaffinity"):
        raise RuntimeError("pinning needs os.sched_setaffinity (Linux); run without --pin")
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {ONE_XLA_THREAD}".strip()
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)
    return core


MAX_PROCESSES = 25
"""The most processes :func:`run` measures in (each takes minutes with the default sizes)."""


def run(
    frameworks: tuple[str, ...] = ("jax", "torch"),
    names: list[str] | None = None,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    progress: Callable[[str], None] | None = None,
    repeat: int = 7,
    peers: bool = True,
    min_seconds: float = 0.02,
    pinned: bool = False,
    processes: int = 1,
) -> dict[str, Any]:
    """Measure; ``{"machine": machine(), "rows": [...]}`` (one row per framework, mode,
    library, surrogate and size) for the installed frameworks. ``names`` defaults to the whole
    catalogue; ``pinned=True`` first calls :func:`pin` (this process, from then on).

    With ``processes`` above 1, nothing is measured in this process: each of that many fresh
    Python processes, started one after the other, runs the same measurement (pinned there
    when ``pinned``), and the result is their :func:`merge`. ``progress`` is then called after
    each process, with ``"process i/N"``.
    """
    import spikegrad as sg

    names = list(names or sg.available())
    for name in names:
        sg.get(name)  # validates the names before any timing
    _check_count("repeat", repeat, "timed batches", 7)
    _check_count("processes", processes, "processes to measure in", 1, MAX_PROCESSES)
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes={list(sizes)!r}: pass one or more whole numbers of elements, "
                         f"each 1 or more (by default {list(DEFAULT_SIZES)})")
    runners = {"jax": _jax_rows, "torch": _torch_rows}
    for framework in frameworks:
        if framework not in runners:
            raise ValueError(f"unknown framework {framework!r}; choose from {', '.join(runners)}")
    if processes > 1:
        options = {"frameworks": list(frameworks), "names": names, "sizes": list(sizes),
                   "repeat": repeat, "peers": peers, "min_seconds": min_seconds,
                   "pinned": pinned}
        runs = []
        for i in range(processes):
            runs.append(_run_in_a_process(options))
            if progress:
                progress(f"process {i + 1}/{processes}")
        return merge(runs)
    core = pin() if pinned else None
    rows: list[dict[str, Any]] = []
    for framework in frameworks:
        if importlib.util.find_spec(framework) is None:
            continue
        if progress:
            progress(framework)
        with sg.backend(framework):
            rows += runners[framework](names, sizes, repeat, peers, min_seconds)
    info = machine()
    if core is not None:
        info["pinned_core"] = core
    return {"machine": info, "rows": rows}


_CHILD = """
import json, sys
from spikegrad.tools import bench
options = json.loads(sys.argv[1])
options["frameworks"] = tuple(options["frameworks"])
options["sizes"] = tuple(options["sizes"])
results = bench.run(**options)
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
"""


def _run_in_a_process(options: dict[str, Any]) -> dict[str, Any]:
    """:func:`run` with ``options`` in a fresh Python process (this interpreter, importing this
    copy of spikegrad first); its results (written to a file: what the libraries print does
    not mix with them).

    Raises ``RuntimeError`` with the end of the process's error output when it fails."""
    import spikegrad

    home = os.path.dirname(os.path.dirname(os.path.abspath(spikegrad.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [home, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "results.json")
        done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(options), path],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              check=False, env=env)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(
                f"a benchmark process failed (exit status {done.returncode}):\n{tail}")
        with open(path) as f:
            return json.load(f)


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of several runs of the same measurement (each one :func:`run`'s, in its
    own process) as one: per row (framework, mode, library, function, size), the median of
    the runs' times, baseline times, ratios and ``vs_spikegrad``, with ``ratio_range`` (the
    lowest and highest of the runs' ratios) and ``processes`` (how many runs had the row);
    ``spikegrad_slower_rounds`` and ``rounds`` summed over the runs (so "slower in every
    round" means in every round of every run); ``peak_bytes`` the largest. The machine is the
    first run's, with ``processes``: the number of runs.

    Examples
    --------
    >>> from spikegrad.tools import bench
    >>> def one(ratio):
    ...     rows = [bench._row("jax", "jit", "spikegrad", "sigmoid", "sigmoid", 4096,
    ...                        ratio * 1e-5, 1e-5, ratio, "jax.nn.sigmoid", None, rounds=7)]
    ...     return {"machine": {"date": "2026-12-07"}, "rows": rows}
    >>> merged = bench.merge([one(1.0), one(1.3), one(0.9)])
    >>> row = merged["rows"][0]
    >>> row["ratio"], row["ratio_range"], row["processes"], row["rounds"]
    (1.0, [0.9, 1.3], 3, 21)
    """
    if not runs:
        raise ValueError("merge needs the results of one or more runs; got none")
    fields = ("framework", "mode", "library", "label", "surrogate", "elements")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for results in runs:
        for row in results["rows"]:
            groups.setdefault(tuple(row[k] for k in fields), []).append(row)
    rows = []
    for group in groups.values():
        row = dict(group[0])
        for key in ("seconds", "baseline_seconds", "ratio"):
            row[key] = statistics.median(r[key] for r in group)
        ratios = [r["ratio"] for r in group]
        row["ratio_range"] = [min(ratios), max(ratios)]
        row["processes"] = len(group)
        peaks = [r["peak_bytes"] for r in group if r.get("peak_bytes") is not None]
        row["peak_bytes"] = max(peaks) if peaks else None
        if all(r.get("rounds") is not None for r in group):
            row["rounds"] = sum(r["rounds"] for r in group)
        if all(r.get("vs_spikegrad") is not None for r in group):
            row["vs_spikegrad"] = statistics.median(r["vs_spikegrad"] for r in group)
            row["spikegrad_slower_rounds"] = sum(r["spikegrad_slower_rounds"] for r in group)
        else:
            row["vs_spikegrad"] = row["spikegrad_slower_rounds"] = None
        rows.append(row)
    info = dict(runs[0]["machine"])
    info["processes"] = len(runs)
    return {"machine": info, "rows": rows}


_MACHINE_KEYS = ("date", "platform", "processor", "cpus", "python")
_ROW_KEYS = ("framework", "mode", "library", "label", "surrogate", "elements", "seconds", "ratio")
# Optional (see _row): every row written since they were added has "rounds"; a peer's row
# compared with spikegrad's the other two.
_PAIRED_KEYS = ("vs_spikegrad", "spikegrad_slower_rounds", "rounds")


def load(path: str) -> dict[str, Any]:
    """The results of an earlier ``spikegrad bench --json`` run, read from the file ``path``.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        It is not JSON, or not such results (the message says what is missing).
    """
    with open(path) as f:
        try:
            results = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON ({exc}); pass a file written by "
                             "spikegrad bench --json") from None
    problem = _malformed(results)
    if problem:
        raise ValueError(f"{path} is not the output of spikegrad bench --json: {problem}")
    return results


def _malformed(results: Any) -> str | None:
    """What the reports would miss in ``results`` (None: nothing)."""
    if not isinstance(results, dict) or not isinstance(results.get("machine"), dict) \
            or not isinstance(results.get("rows"), list):
        return "it is not a JSON object with 'machine' (an object) and 'rows' (a list)"
    missing = [k for k in _MACHINE_KEYS if k not in results["machine"]]
    if missing:
        return f"its machine has no {', '.join(missing)}"
    if not results["rows"]:
        return "it has no rows"
    for i, row in enumerate(results["rows"]):
        if not isinstance(row, dict) or any(k not in row for k in _ROW_KEYS):
            return f"row {i} is not an object with the keys {', '.join(_ROW_KEYS)}"
        if isinstance(row["elements"], bool) or not isinstance(row["elements"], int) or not all(
                isinstance(row[k], (int, float)) and not isinstance(row[k], bool)
                for k in ("seconds", "ratio")):
            return f"row {i}'s elements, seconds or ratio is not a number"
        spread = row.get("ratio_range")
        if spread is not None and not (
                isinstance(spread, list) and len(spread) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spread)
                and spread[0] <= row["ratio"] <= spread[1]):
            return (f"row {i}'s ratio_range is not the lowest and highest ratio of its "
                    "processes (two numbers around its ratio)")
        paired = [row.get(k) for k in _PAIRED_KEYS]
        if (paired[0] is not None or paired[1] is not None) and not (
                all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in paired)
                and paired[0] > 0):
            return (f"row {i} compares with spikegrad but has not all of "
                    f"{', '.join(_PAIRED_KEYS)} as numbers (vs_spikegrad above 0)")
    return None


def _size(n: int) -> str:
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one line per framework, mode and function; per size the time in
    microseconds and the ratio to the native op."""
    rows = results["rows"]
    sizes = sorted({r["elements"] for r in rows})
    lines: dict[tuple[str, str, str, str], dict[int, dict[str, Any]]] = {}
    for r in rows:
        key = (r["framework"], r["mode"], r["library"], r["label"])
        lines.setdefault(key, {})[r["elements"]] = r
    header = ["framework", "mode", "library", "function"]
    header += [f"{_size(n)}" for n in sizes]
    body = []
    for (framework, mode, library, label), by_size in lines.items():
        cells = [framework, mode, library, label]
        for n in sizes:
            r = by_size.get(n)
            cells.append("" if r is None else f"{r['seconds'] * 1e6:.0f} us ({_ratio(r)})")
        body.append(cells)
    return header, body


def _ratio(row: dict[str, Any]) -> str:
    """A row's ratio to the native op, followed by the lowest and highest of its processes'
    where they differ (:func:`merge`; the baseline's is 1 in every process)."""
    text = f"{row['ratio']:.2f}"
    if row.get("ratio_range") is not None and row["ratio_range"][0] != row["ratio_range"][1]:
        low, high = row["ratio_range"]
        text += f"; {low:.2f}-{high:.2f}"
    return text


def _against_peers(results: dict[str, Any]) -> list[str]:
    """Per framework and mode, how spikegrad fared against the other libraries' same surrogates
    in rounds paired in time (see :func:`_timed`): the cells it was faster in (by the median of
    the paired ratios) and those it was slower in every round, named; nothing for results
    without such comparisons (no peer installed, or saved by an earlier version)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results["rows"]:
        if r.get("vs_spikegrad") is not None:
            groups.setdefault((r["framework"], r["mode"]), []).append(r)
    lines = []
    for (framework, mode), rows in groups.items():
        libraries = ", ".join(dict.fromkeys(r["library"] for r in rows))
        faster = sum(r["vs_spikegrad"] > 1 for r in rows)
        slower = [r for r in rows if r["spikegrad_slower_rounds"] == r["rounds"]]
        line = (f"{framework} {mode} against {libraries}: spikegrad faster in {faster} of "
                f"{len(rows)} cells; slower in every round ({rows[0]['rounds']}) in "
                f"{len(slower)}")
        if slower:
            line += ": " + ", ".join(
                f"{r['library']} {r['label']} {_size(r['elements'])} "
                f"(spikegrad at {1 / r['vs_spikegrad']:.2f}x its time)" for r in slower)
        lines.append(line)
    return lines


def format_table(results: dict[str, Any]) -> str:
    """The results as an aligned text table: time in microseconds (ratio to the native op)."""
    header, body = _table(results)
    widths = [max(len(c) for c in column) for column in zip(header, *body)]
    out = []
    if "pinned_core" in results["machine"]:
        out += [f"pinned to core {results['machine']['pinned_core']}, one thread per framework", ""]
    if results["machine"].get("processes", 1) > 1:
        count = results["machine"]["processes"]
        out += [f"median of {count} processes (after the ratio: the lowest and highest process)",
                ""]
    out.append("  ".join(c.ljust(w) for c, w in zip(header, widths)))
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in body]
    memory = [r for r in results["rows"] if r.get("peak_bytes") is not None]
    if memory:
        out += ["", "peak memory of one forward+backward (MiB), PyTorch:"]
        for r in memory:
            if r["elements"] == max(m["elements"] for m in memory):
                out.append(f"  {r['library']:12} {r['label']:30} {_size(r['elements']):>4}: "
                           f"{r['peak_bytes'] / 2**20:.1f}")
    peers = _against_peers(results)
    if peers:
        out += ["", "against other libraries, rounds paired in time:"]
        out += [f"  {line}" for line in peers]
    return "\n".join(out)


def format_rst(results: dict[str, Any], image: str | None = None) -> str:
    """The results as a reStructuredText section (the documentation's benchmark page)."""
    m = results["machine"]
    versions = ", ".join(f"{k} {m[k]}" for k in ("torch", "numba", "jax", "snntorch",
                                                   "spikingjelly", "norse", "braintools") if k in m)
    text = [
        f"Measured {m['date']} on {m['processor']} ({m['cpus']} CPUs"
        + (f", PyTorch using {m['torch_threads']} threads" if "torch_threads" in m else "")
        + (", pinned to one core, XLA on one thread" if "pinned_core" in m else "")
        + f"), {m['platform']}, Python {m['python']}; {versions}. Each cell: median time of one forward+backward "
        "in microseconds, and in parentheses its ratio to the native op of the same "
        "framework (``torch.sigmoid``, ``jax.nn.sigmoid``): the median of the ratios of its "
        "batches to the native op's batch timed just before each."
        + (f" Measured in {m['processes']} processes, one after the other: each cell is the "
           "median of the processes' times and ratios, followed by the lowest and highest "
           "process's ratio." if m.get("processes", 1) > 1 else ""),
        "",
    ]
    if image:
        text += [f".. image:: {image}", "   :alt: ratio to the native op against size", ""]
    header, body = _table(results)
    widths = [max(len(c) for c in column) for column in zip(header, *body)]
    rule = "  ".join("=" * w for w in widths)
    text += [rule, "  ".join(c.ljust(w) for c, w in zip(header, widths)), rule]
    text += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in body]
    text += [rule, ""]
    memory = [r for r in results["rows"] if r.get("peak_bytes") is not None]
    if memory:
        n = max(r["elements"] for r in memory)
        text += [f"Peak memory of one PyTorch forward+backward on {_size(n)} float32 elements "
                 "(bytes held at once beyond the inputs):", ""]
        text += [f"* {r['library']} ``{r['label']}``: {r['peak_bytes'] / 2**20:.1f} MiB"
                 for r in memory if r["elements"] == n]
        text.append("")
    peers = _against_peers(results)
    if peers:
        text += [("Against the other libraries' same surrogates, each timed right after "
                  "spikegrad's in every round (faster: by the median of the rounds' ratios; "
                  "slower in every round: what chance gives one comparison of two equally "
                  "fast functions in 2 to the power of the rounds):"), ""]
        text += [f"* {line}" for line in peers]
        text.append("")
    return "\n".join(text)


def plot(results: dict[str, Any], path: str, names: tuple[str, ...] | None = None) -> None:
    """A PNG of the ratio to the native op against size, one panel per framework and mode: the
    surrogates of ``names``, or every surrogate when ``names`` is None or ``results`` holds
    none of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    if names and not any(r["surrogate"] in names for r in rows):
        names = None  # none of them measured: every surrogate that was
    panels = sorted({(r["framework"], r["mode"]) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (framework, mode) in zip(axes[0], panels):
        lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for r in rows:
            if (r["framework"], r["mode"]) != (framework, mode) or r["library"] == framework:
                continue
            if names and r["surrogate"] not in names:
                continue
            lines.setdefault((r["library"], r["label"]), []).append((r["elements"], r["ratio"]))
        for (library, label), points in lines.items():
            points.sort()
            style = "-" if library == "spikegrad" else "--"
            alpha = 1.0 if library != "spikegrad" or label in (names or ()) else 0.35
            ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o",
                    markersize=3, alpha=alpha,
                    label=label if library == "spikegrad" else f"{library} {label}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{framework} ({mode})")
        ax.set_xlabel("elements")
        ax.set_ylabel("time / native op")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # python -m spikegrad.tools.bench: the same as spikegrad bench
    import sys

    from spikegrad.tools.cli import main

    raise SystemExit(main(["bench", *sys.argv[1:]]))
