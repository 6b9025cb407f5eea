"""Forward+backward benchmark of spikegrad surrogates against native baselines, in one run.

Every number is a ratio to a native baseline measured in the same process, so machines of
different speeds give comparable results:

* PyTorch: ``torch.sigmoid`` forward and backward through autograd (one fused kernel each way)
  against a spikegrad spike forward and backward, float32 on the CPU: ``auto`` is what users
  get (the backward fused from ``TORCH_FUSE_MIN_ELEMENTS`` elements on), ``unfused`` the plain
  eager operations at those sizes (the fused-backward mode ``"off"``).
* JAX: ``jax.nn.sigmoid`` against a spikegrad spike, forward and backward (``jax.vjp`` and the
  pull-back) under ``jax.jit``, and called eagerly without ``jit``.

Each framework is measured under its own backend (``spikegrad.backend(framework)``), whatever
``SPIKEGRAD_BACKEND`` selects. Run ``spikegrad bench`` (``--help`` for the options; ``--json``
prints machine-readable results). Timings are the minimum over repeats of the mean over a batch
of calls.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Callable

__all__ = ["DEFAULT_SIZES", "format_table", "run"]

DEFAULT_SIZES = (4096, 1 << 20, 1 << 24)


def _time(fn: Callable[[], Any], sync: Callable[[Any], Any], min_seconds: float = 0.5) -> float:
    """Seconds per call: the best of 10 batches, each batch long enough to time reliably."""
    sync(fn())  # warm up (compilation, caches)
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        sync(out)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds / 10 or number >= 1 << 16:
            break
        number *= 2
    best = elapsed / number
    for _ in range(9):
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        sync(out)
        best = min(best, (time.perf_counter() - start) / number)
    return best


def _torch_rows(names: list[str], sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    import torch

    import spikegrad as sg
    from spikegrad import _config

    rows = []
    for n in sizes:
        x = torch.linspace(-3, 3, n, dtype=torch.float32).requires_grad_()
        ct = torch.ones(n)

        def fwd_bwd(f: Callable[[Any], Any]) -> Callable[[], Any]:
            def step() -> Any:
                (g,) = torch.autograd.grad(f(x), x, ct)
                return g

            return step

        base = _time(fwd_bwd(torch.sigmoid), lambda out: None)
        # "auto": what users get (the fused backward from TORCH_FUSE_MIN_ELEMENTS on);
        # "unfused": the plain eager operations, for comparison on the sizes where fusion applies.
        modes = [("auto", "auto")]
        if n >= _config.TORCH_FUSE_MIN_ELEMENTS:
            modes.append(("unfused", "off"))
        for mode, fuse in modes:
            with _config.torch_fuse_mode(fuse):  # the backward runs in this thread (CPU)
                for name in names:
                    t = _time(fwd_bwd(sg.get(name)), lambda out: None)
                    rows.append(_row("torch", mode, name, n, t, base, "torch.sigmoid"))
    return rows


def _jax_rows(names: list[str], sizes: tuple[int, ...]) -> list[dict[str, Any]]:
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

    rows = []
    for n in sizes:
        x = jnp.linspace(-3, 3, n, dtype=jnp.float32)
        ct = jnp.ones(n, jnp.float32)
        base_jit = jax.jit(fwd_bwd(jax.nn.sigmoid))
        base = _time(lambda: base_jit(x, ct), block)
        for name in names:
            fn = jax.jit(fwd_bwd(sg.get(name)))
            rows.append(_row("jax", "jit", name, n, _time(lambda: fn(x, ct), block), base,
                             "jax.nn.sigmoid"))
        if n <= 1 << 16:  # eager calls: per-call overhead, what un-jitted loops pay
            base_eager = _time(lambda: fwd_bwd(jax.nn.sigmoid)(x, ct), block)
            for name in names:
                step = fwd_bwd(sg.get(name))
                rows.append(_row("jax", "eager", name, n, _time(lambda: step(x, ct), block),
                                 base_eager, "jax.nn.sigmoid"))
    return rows


def _row(framework: str, mode: str, name: str, n: int, t: float, base: float, baseline: str
         ) -> dict[str, Any]:
    return {
        "framework": framework,
        "mode": mode,
        "surrogate": name,
        "elements": n,
        "seconds": t,
        "baseline": baseline,
        "baseline_seconds": base,
        "ratio": t / base,
    }


def run(
    frameworks: tuple[str, ...] = ("jax", "torch"),
    names: list[str] | None = None,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Benchmark rows (one per framework, mode, surrogate and size) for installed frameworks."""
    import spikegrad as sg

    names = names or ["sigmoid", "arctan", "multi_gaussian_grad"]
    for name in names:
        sg.get(name)  # validates the names before any timing
    rows: list[dict[str, Any]] = []
    runners = {"jax": _jax_rows, "torch": _torch_rows}
    for framework in frameworks:
        if framework not in runners:
            raise ValueError(f"unknown framework {framework!r}; choose from {', '.join(runners)}")
        if importlib.util.find_spec(framework) is None:
            continue
        if progress:
            progress(framework)
        with sg.backend(framework):
            rows += runners[framework](names, sizes)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    header = f"{'framework':9} {'mode':7} {'surrogate':22} {'elements':>9} {'time':>10} " \
             f"{'baseline':>10} {'ratio':>6}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['framework']:9} {r['mode']:7} {r['surrogate']:22} {r['elements']:>9} "
            f"{r['seconds'] * 1e6:>8.1f}us {r['baseline_seconds'] * 1e6:>8.1f}us {r['ratio']:>6.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m spikegrad.tools.bench: the same as spikegrad bench
    import sys

    from spikegrad.tools.cli import main

    raise SystemExit(main(["bench", *sys.argv[1:]]))
