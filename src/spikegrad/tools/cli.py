"""The ``spikegrad`` command (also ``python -m spikegrad``): list, plot, check, bench, demo.

This module holds the command's only argument parser. ``--help``, ``--version`` and ``list``
compute nothing and work whatever the environment holds; the computing subcommands first check
the ``SPIKEGRAD_*`` environment variables. Every error a user can cause (a bad name, parameter
or setting, a missing framework, a file that cannot be read or written, a check target whose
code fails to load) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
from typing import Any, Sequence

import spikegrad as sg
from spikegrad import _config
from spikegrad import compat
from spikegrad.compat._table import rows as compat_rows
from spikegrad.tools import _check_writable


class _TextProgress:
    """A minimal progress bar for when tqdm is not installed."""

    def __init__(self, description: str, total: int) -> None:
        self.description, self.total, self.done = description, max(total, 1), 0

    def update(self, n: int = 1) -> None:
        self.done += n
        width = 30
        filled = int(width * self.done / self.total)
        sys.stderr.write(f"\r{self.description} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.done:  # end the bar's line; nothing was drawn otherwise
            sys.stderr.write("\n")


def progress(description: str, total: int) -> Any:
    """A progress bar on stderr: tqdm's when installed."""
    if importlib.util.find_spec("tqdm") is not None:
        from tqdm import tqdm

        return tqdm(total=total, desc=description, leave=False, file=sys.stderr)
    return _TextProgress(description, total)


def _installed_backends() -> dict[str, str]:
    status = {"numpy": "yes", "array_api": "yes (any Array-API library)"}
    for name in ("jax", "torch", "cupy"):
        installed = importlib.util.find_spec(name) is not None
        status[name] = "yes" if installed else f"no (pip install 'spikegrad[{name}]')"
    return status


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in sg.available():
        default = sg.get(name)
        params = ", ".join(f"{k}={v!r}" for k, v in default.params.items()) or "-"
        rows.append((name, type(default).__name__, params))
    if args.json:
        spelled = [{**r, "name": f"{r['library']}.{r['name'].partition('(')[0]}",
                    "call": r["name"]} for r in compat_rows()]
        print(json.dumps([{"name": n, "class": c, "parameters": p} for n, c, p in rows]
                         + spelled, indent=1))
        return 0
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"{'name':{w[0]}}  {'class':{w[1]}}  parameters (defaults)")
    print("-" * (w[0] + w[1] + 26))
    for n, c, p in rows:
        print(f"{n:{w[0]}}  {c:{w[1]}}  {p}")
    for library in compat.LIBRARIES:
        lines = compat_rows(library)
        width = max(len(r["name"]) for r in lines)
        print(f"\n{library} {lines[0]['version']} (spikegrad.compat.{library}; "
              f"sg.get('{library}.<name>'); spikes on {lines[0]['forward']})")
        for r in lines:
            print(f"  {r['name']:{width}}  = {r['canonical']}")
    installed = "; ".join(f"{k}: {v}" for k, v in _installed_backends().items())
    print(f"\nbackends installed: {installed}")
    return 0


def _parse_plot_targets(tokens: Sequence[str]) -> list[sg.Surrogate]:
    """``NAME [k=v ...] [NAME [k=v ...]]`` -> surrogates; k=v applies to the preceding name."""
    groups: list[tuple[str, dict[str, Any]]] = []
    for token in tokens:
        if "=" in token:
            if not groups:
                raise ValueError(f"parameter {token!r} comes before any surrogate name")
            key, _, value = token.partition("=")
            if value in ("True", "False"):  # the options origin and spike_at_zero
                groups[-1][1][key] = value == "True"
                continue
            try:
                number: Any = int(value) if value.strip().lstrip("-").isdigit() else float(value)
            except ValueError:
                raise ValueError(f"parameter {key}={value!r} is not a number (or True or "
                                 "False)") from None
            groups[-1][1][key] = number
        else:
            groups.append((token, {}))
    if not groups:
        raise ValueError("name at least one surrogate, e.g. spikegrad plot sigmoid alpha=2")
    return [sg.get(name, **params) for name, params in groups]


def cmd_plot(args: argparse.Namespace) -> int:
    from spikegrad.tools.plotting import plot_surrogates

    surrogates = _parse_plot_targets(args.targets)
    _check_writable(args.output, "the plot")
    # (matplotlib appends .png to a name without a suffix, or ending in a dot: the name
    # reported is the file's)
    root, suffix = os.path.splitext(args.output)
    output = args.output if suffix not in ("", ".") else f"{root}.png"
    if not (math.isfinite(args.xmin) and math.isfinite(args.xmax)
            and math.isfinite(args.xmax - args.xmin)):
        raise ValueError(f"--xmin {args.xmin:g} and --xmax {args.xmax:g} must be finite numbers "
                         "less than the largest float apart, e.g. --xmin=-3 --xmax=3")
    if not args.xmin < args.xmax:
        raise ValueError(f"--xmin {args.xmin:g} must be below --xmax {args.xmax:g}")
    fig = plot_surrogates(surrogates, (args.xmin, args.xmax))
    fig.savefig(output, dpi=120)
    print(f"wrote {output}: " + ", ".join(repr(s) for s in surrogates))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from spikegrad.tools import check

    backends = args.backend or None
    if not args.targets:  # the whole registry, one row per backend and check
        rows = check.run(lambda total: progress("checking", total), backends)
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print(check.format_table(rows))
        failed = sum(len(r["failures"]) for r in rows)
        print(f"\n{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
        return 1 if failed else 0
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # "my_module:MySurrogate" from the current directory
    surrogates = [check.resolve(t) for t in args.targets]  # every target found before any work
    reports = []
    for s in surrogates:
        reports.append(check.verify(s, backends, samples=args.samples, compile=not args.no_compile))
        if not args.json:
            print(f"{reports[-1]}\n", flush=True)
    if args.json:
        print(json.dumps([{"target": t, **r.to_dict()} for t, r in zip(args.targets, reports)],
                         indent=1))
    else:
        bad = [t for t, r in zip(args.targets, reports) if not r.ok]
        print(f"FAILED: {', '.join(bad)}" if bad else
              f"all checks passed ({len(reports)} surrogate{'s' if len(reports) > 1 else ''})")
    return 0 if all(r.ok for r in reports) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from spikegrad.tools import bench

    for path, what in ((args.plot, "the chart"), (args.rst, "the page")):
        if path:  # before minutes of measurement
            _check_writable(path, what)
    if args.load:
        results = bench.load(args.load)
    else:
        frameworks = tuple(args.framework or ("jax", "torch"))
        steps = args.processes if args.processes > 1 else len(frameworks)
        bar = progress("benchmarking", steps)
        try:
            results = bench.run(frameworks, args.surrogate, tuple(args.sizes),
                                progress=lambda f: bar.update(1), repeat=args.repeat,
                                peers=not args.no_peers, pinned=args.pin,
                                processes=args.processes)
        finally:  # also on an error: the error message then starts on a clean line
            bar.close()
    if args.plot:
        bench.plot(results, args.plot, ("sigmoid", "arctan", "inv_square_grad"))
    if args.rst:
        with open(args.rst, "w") as f:
            f.write(bench.format_rst(results, args.rst_image))
    print(json.dumps(results, indent=1) if args.json else bench.format_table(results))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from spikegrad.tools.demo import DemoConfig, run_demo

    config = DemoConfig(surrogate=args.surrogate, epochs=args.epochs, seed=args.seed,
                        train_surrogate=args.train_surrogate)
    report = run_demo(args.framework, config, plot=args.plot or None,
                      progress_factory=lambda f, n: progress(f"training ({f})", n))
    ok = all(r["test_accuracy"] >= 0.9 for r in report["results"])
    ok = ok and report.get("gradient_difference", 0.0) <= 1e-5
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    from spikegrad.tools.bench import DEFAULT_SIZES

    parser = argparse.ArgumentParser(
        prog="spikegrad",
        description="Surrogate gradients for spiking neural networks, one definition for "
                    "NumPy, JAX, PyTorch and CuPy.",
    )
    parser.add_argument("--version", action="version", version=f"spikegrad {sg.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the catalogue: names, parameters, installed backends")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("plot", help="PNG of step, g and g' (several names overlay)",
                       description="Plot surrogates: "
                                   "spikegrad plot sigmoid alpha=2 arctan -o s.png")
    p.add_argument("targets", nargs="+", metavar="NAME [k=v ...]",
                   help="surrogate names, each followed by its parameters")
    p.add_argument("-o", "--output", required=True, help="the PNG file to write")
    p.add_argument("--xmin", type=float, default=-3.0)
    p.add_argument("--xmax", type=float, default=3.0)
    p.set_defaults(run=cmd_plot, computes=True)

    p = sub.add_parser(
        "check", help="verify surrogates (the catalogue, or your own) on every installed backend",
        description="Without TARGET: every registered surrogate on every installed backend and "
                    "transform. With TARGETs: everything the project verifies of its catalogue "
                    "(g' the derivative of g, finiteness in every dtype, 16-bit accuracy, every "
                    "backend and autodiff path, the generated CUDA kernels), for each target: "
                    "spikegrad check my_package.my_module:MySurrogate sigmoid snntorch.atan")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="a registered name (sigmoid), another library's spelling "
                        "(snntorch.atan), or module.path:Attribute (a Surrogate subclass, an "
                        "object, or a function returning one)")
    p.add_argument("--backend", action="append", choices=["numpy", "array_api", "jax", "torch",
                                                          "cupy"],
                   help="backend to check (repeatable; default: every installed one)")
    p.add_argument("--samples", type=int, default=64,
                   help="random inputs per property and dtype, 1 to 100000 (with TARGETs)")
    p.add_argument("--no-compile", action="store_true",
                   help="do not compile the generated kernels (nvcc, C++) (with TARGETs)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_check, computes=True)

    p = sub.add_parser("bench", help="forward+backward speed against native baselines")
    p.add_argument("--framework", action="append", choices=["jax", "torch"],
                   help="framework to measure (repeatable; default: every installed one)")
    p.add_argument("--surrogate", action="append", help="surrogate name (repeatable)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                   help="array sizes in elements")
    p.add_argument("--repeat", type=int, default=7, help="timed batches per measurement")
    p.add_argument("--no-peers", action="store_true",
                   help="leave out snntorch, spikingjelly, norse and braintools")
    p.add_argument("--pin", action="store_true",
                   help="run on one core with one thread per framework (steadier ratios)")
    p.add_argument("--processes", type=int, default=1,
                   help="measure in this many fresh processes, one after the other, and "
                        "report the median with the lowest and highest (1 to 25)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--plot", metavar="PNG", help="also write a chart of the ratios")
    p.add_argument("--rst", metavar="PATH", help="also write the results as reStructuredText")
    p.add_argument("--rst-image", metavar="PATH", help="the chart to show in the --rst output")
    p.add_argument("--load", metavar="JSON",
                   help="report the results of an earlier --json run instead of measuring")
    p.set_defaults(run=cmd_bench, computes=True)

    p = sub.add_parser("demo", help="train a spiking network on the digits data set")
    p.add_argument("--framework", default="auto", choices=["auto", "jax", "torch", "all"],
                   help="auto: the selected backend ($SPIKEGRAD_BACKEND) if jax or torch, else the "
                        "first installed of them; all: both, compared")
    p.add_argument("--surrogate", default="arctan", help="surrogate name (see spikegrad list)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-surrogate", action="store_true",
                   help="also train the surrogate's parameters (log space for positive ones) "
                        "and report the learned values")
    p.add_argument("--plot", default="spikegrad-demo.png",
                   help="where to write the training curve ('' for none)")
    p.set_defaults(run=cmd_demo, computes=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spikegrad`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # (bench --load reports an earlier run: it computes nothing)
        if getattr(args, "computes", False) and not getattr(args, "load", None):
            _config.check_environment()  # a bad SPIKEGRAD_* value: one line, before any work
        return args.run(args)
    except (ValueError, TypeError, RuntimeError, ImportError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"spikegrad {args.command}: error: {message}", file=sys.stderr)
        return 2
