"""The ``spikegrad`` command (also ``python -m spikegrad``): list, plot, check, bench, demo."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any, Sequence

import spikegrad as sg


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
        status[name] = "yes" if importlib.util.find_spec(name) else f"no (pip install 'spikegrad[{name}]')"
    return status


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in sg.available():
        cls = type(sg.get(name))
        params = ", ".join(f"{p.name}={p.default!r}" for p in cls._params) or "-"
        rows.append((name, cls.__name__, params))
    if args.json:
        print(json.dumps([{"name": n, "class": c, "parameters": p} for n, c, p in rows], indent=1))
        return 0
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"{'name':{w[0]}}  {'class':{w[1]}}  parameters (defaults)")
    print("-" * (w[0] + w[1] + 26))
    for n, c, p in rows:
        print(f"{n:{w[0]}}  {c:{w[1]}}  {p}")
    print("\nbackends installed: " + "; ".join(f"{k}: {v}" for k, v in _installed_backends().items()))
    return 0


def _parse_plot_targets(tokens: Sequence[str]) -> list[sg.Surrogate]:
    """``NAME [k=v ...] [NAME [k=v ...]]`` -> surrogates; k=v applies to the preceding name."""
    groups: list[tuple[str, dict[str, Any]]] = []
    for token in tokens:
        if "=" in token:
            if not groups:
                raise ValueError(f"parameter {token!r} comes before any surrogate name")
            key, _, value = token.partition("=")
            try:
                number: Any = int(value) if value.strip().lstrip("-").isdigit() else float(value)
            except ValueError:
                raise ValueError(f"parameter {key}={value!r} is not a number") from None
            groups[-1][1][key] = number
        else:
            groups.append((token, {}))
    if not groups:
        raise ValueError("name at least one surrogate, e.g. spikegrad plot sigmoid alpha=2")
    return [sg.get(name, **params) for name, params in groups]


def cmd_plot(args: argparse.Namespace) -> int:
    from .plotting import plot_surrogates

    surrogates = _parse_plot_targets(args.targets)
    fig = plot_surrogates(surrogates, (args.xmin, args.xmax))
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}: " + ", ".join(repr(s) for s in surrogates))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from . import check

    rows = check.run(lambda total: progress("checking", total))
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(check.format_table(rows))
    failed = sum(len(r["failures"]) for r in rows)
    print(f"\n{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    frameworks = tuple(args.framework or ("jax", "torch"))
    bar = progress("benchmarking", len(frameworks))
    rows = bench.run(frameworks, args.surrogate, tuple(args.sizes), progress=lambda f: bar.update(1))
    bar.close()
    print(json.dumps(rows, indent=1) if args.json else bench.format_table(rows))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo

    config = DemoConfig(surrogate=args.surrogate, epochs=args.epochs, seed=args.seed)
    report = run_demo(args.framework, config, plot=args.plot or None,
                      progress_factory=lambda f, n: progress(f"training ({f})", n))
    ok = all(r["test_accuracy"] >= 0.9 for r in report["results"])
    ok = ok and report.get("gradient_difference", 0.0) <= 1e-5
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    from .bench import DEFAULT_SIZES

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
                       description="Plot surrogates: spikegrad plot sigmoid alpha=2 arctan -o s.png")
    p.add_argument("targets", nargs="+", metavar="NAME [k=v ...]",
                   help="surrogate names, each followed by its parameters")
    p.add_argument("-o", "--output", required=True, help="the PNG file to write")
    p.add_argument("--xmin", type=float, default=-3.0)
    p.add_argument("--xmax", type=float, default=3.0)
    p.set_defaults(run=cmd_plot)

    p = sub.add_parser("check", help="verify every surrogate on every installed backend")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("bench", help="forward+backward speed against native baselines")
    p.add_argument("--framework", action="append", choices=["jax", "torch"])
    p.add_argument("--surrogate", action="append", help="surrogate name (repeatable)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("demo", help="train a spiking network on the digits data set")
    p.add_argument("--framework", default="auto", choices=["auto", "jax", "torch", "all"],
                   help="auto: the first installed of jax, torch; all: both, compared")
    p.add_argument("--surrogate", default="arctan", help="surrogate name (see spikegrad list)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default="spikegrad-demo.png",
                   help="where to write the training curve ('' for none)")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, RuntimeError, ImportError) as exc:
        print(f"spikegrad {args.command}: error: {exc}", file=sys.stderr)
        return 2
