"""``spikegrad check``: every surrogate, every installed backend, every transform it supports.

Each check compares a backend's result with the NumPy float64 reference (itself checked
against the numbers of the library each surrogate comes from, braintools 0.3.0, snntorch 1.0,
spikingjelly 2.0 or norse 1.1, shipped with the package). A user's way to trust an
installation: a failure names the backend, the check and the surrogate.

Each backend's checks run under that backend (``spikegrad.backend(name)``) and the references
under ``numpy``, whatever ``SPIKEGRAD_BACKEND`` or ``spikegrad.set_backend`` select: the tool
checks the backends it names.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Callable, Iterator

import numpy as np

import spikegrad as sg
from spikegrad.surrogates import published

__all__ = ["CHECKS", "X", "format_table", "plan", "reference", "run"]

X = np.array([-2.5, -1.2, -0.3, 0.4, 0.9, 1.7, 3.0])  # no 0: some g' have a kink there

Reference = dict[str, np.ndarray]
# A check: (surrogate, its reference) -> (actual, expected), compared with assert_allclose.
Check = Callable[[Any, Reference], tuple[Any, Any]]


def reference(s: Any) -> Reference:
    """The NumPy float64 values on ``X`` that every backend must reproduce.

    ``grad`` (g'), ``fun`` (g; absent without a primitive) and ``grad2`` (g'', by central
    differences), computed with the ``numpy`` backend whatever backend is selected.
    """
    h = 1e-5
    with sg.backend("numpy"):
        ref = {
            "grad": s.surrogate_grad(X),
            "grad2": (s.surrogate_grad(X + h) - s.surrogate_grad(X - h)) / (2 * h),
        }
        if s.primitive is not None:
            ref["fun"] = s.surrogate_fun(X)
    return ref


def _numpy_checks() -> dict[str, Check]:
    def library(s: Any, ref: Reference) -> tuple[Any, Any]:
        theirs = published(type(s))
        s = type(s)(**theirs["params"])
        x = np.asarray(theirs["x"])
        # The forward where the conventions agree (snntorch and norse spike on x > 0).
        got = [s(x[x != 0]), s.surrogate_grad(x)]
        want = [np.asarray(theirs["forward"])[x != 0], theirs["grad"]]
        if theirs["primitive"]:
            got.append(s.surrogate_fun(x))
            want.append(theirs["primitive"])
        return np.concatenate(got), np.concatenate(want)

    return {
        "published values": library,
        "float32": lambda s, ref: (s.surrogate_grad(X.astype(np.float32)), ref["grad"]),
        "vjp": lambda s, ref: (s.vjp(X, 2 * X), 2 * X * ref["grad"]),
    }


def _array_api_checks() -> dict[str, Check]:
    import array_api_strict as xp

    x = xp.asarray(X)
    return {
        "g' (array-api-strict)": lambda s, ref: (np.asarray(s.surrogate_grad(x)), ref["grad"]),
        "g (array-api-strict)": lambda s, ref: (np.asarray(s.surrogate_fun(x)), ref["fun"]),
    }


def _jax_checks() -> dict[str, Check]:
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(X, jnp.float32)

    def total(s: Any) -> Callable[[Any], Any]:
        return lambda v: s(v).sum()

    return {
        "grad": lambda s, ref: (jax.grad(total(s))(x), ref["grad"]),
        "jit(grad)": lambda s, ref: (jax.jit(jax.grad(total(s)))(x), ref["grad"]),
        "vmap": lambda s, ref: (jax.vmap(jax.grad(s))(x), ref["grad"]),
        "jvp": lambda s, ref: (jax.jvp(s, (x,), (jnp.ones_like(x),))[1], ref["grad"]),
        "hessian (g'')": lambda s, ref: (jax.vmap(jax.hessian(s))(x), ref["grad2"]),
        "origin": lambda s, ref: (jax.grad(total(s.replace(origin=True)))(x),
                                  ref["grad"]),
    }


def _torch_checks() -> dict[str, Check]:
    import torch
    from torch.func import grad, jvp, vmap

    def x_() -> Any:
        return torch.tensor(X, dtype=torch.float32, requires_grad=True)

    def backward(s: Any) -> Any:
        x = x_()
        s(x).sum().backward()
        return x.grad

    def double(s: Any) -> Any:
        x = x_()
        (g,) = torch.autograd.grad(s(x).sum(), x, create_graph=True)
        return torch.autograd.grad(g.sum(), x)[0] if g.requires_grad else torch.zeros_like(x)

    def compiled(s: Any) -> Any:
        torch._dynamo.reset()  # one lambda, 18 surrogates: stay clear of the recompile limit
        x = x_()
        torch.compile(lambda v: s(v) * 1.0, fullgraph=True, backend="aot_eager")(x).sum().backward()
        return x.grad

    t = torch.tensor(X, dtype=torch.float32)
    return {
        "backward": lambda s, ref: (backward(s), ref["grad"]),
        "double backward (g'')": lambda s, ref: (double(s), ref["grad2"]),
        "torch.func vmap(grad)": lambda s, ref: (vmap(grad(s))(t), ref["grad"]),
        "torch.func jvp": lambda s, ref: (jvp(s, (t,), (torch.ones_like(t),))[1], ref["grad"]),
        "torch.compile": lambda s, ref: (compiled(s), ref["grad"]),
    }


def _cupy_checks() -> dict[str, Check]:
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 1:
        raise RuntimeError("no CUDA GPU")
    x = cupy.asarray(X)
    return {
        "g' kernel": lambda s, ref: (cupy.asnumpy(s.surrogate_grad(x)), ref["grad"]),
        "g kernel": lambda s, ref: (cupy.asnumpy(s.surrogate_fun(x)), ref["fun"]),
        "vjp kernel": lambda s, ref: (cupy.asnumpy(s.vjp(x, x)), X * ref["grad"]),
    }


CHECKS: dict[str, tuple[str | None, Callable[[], dict[str, Check]]]] = {
    "numpy": (None, _numpy_checks),
    "array_api": ("array_api_strict", _array_api_checks),
    "jax": ("jax", _jax_checks),
    "torch": ("torch", _torch_checks),
    "cupy": ("cupy", _cupy_checks),
}
"""For each backend name (run under ``spikegrad.backend(name)``): the module it needs, or None,
and a function returning its checks by name (called once, under that backend)."""


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu()
    return np.asarray(a, dtype=np.float64)


def plan() -> Iterator[tuple[str, str, Check | None, str]]:
    """(backend, check, function or None, reason when skipped)."""
    for backend, (module, make) in CHECKS.items():
        if module is not None and importlib.util.find_spec(module) is None:
            yield backend, "-", None, f"{module} not installed"
            continue
        try:
            with sg.backend(backend):
                checks = make()
        except Exception as exc:  # noqa: BLE001 - report, do not crash the whole check
            yield backend, "-", None, f"unusable: {exc}"
            continue
        for name, fn in checks.items():
            yield backend, name, fn, ""


def run(progress_factory: Callable[[int], Any] | None = None) -> list[dict[str, Any]]:
    """One row per (backend, check): passed, total, and the failing surrogates.

    ``progress_factory(total)`` may return a progress bar (``update(n)``, ``close()``).
    """
    surrogates = [sg.get(n) for n in sg.available()]
    references = [reference(s) for s in surrogates]
    items = list(plan())
    bar = None
    if progress_factory:
        bar = progress_factory(len(surrogates) * sum(fn is not None for _, _, fn, _ in items))
    rows = []
    for backend, name, fn, reason in items:
        if fn is None:
            rows.append({"backend": backend, "check": name, "passed": 0, "total": 0,
                         "failures": [], "skipped": reason})
            continue
        failures = []
        for s, ref in zip(surrogates, references):
            try:
                with sg.backend(backend):
                    actual, expected = fn(s, ref)
                np.testing.assert_allclose(_to_numpy(actual), np.asarray(expected, np.float64),
                                           rtol=2e-5, atol=1e-5)
            except Exception as exc:  # noqa: BLE001 - any failure is a failed check
                message = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
                failures.append(f"{type(s).__name__}: {type(exc).__name__}: {message}")
            if bar:
                bar.update(1)
        rows.append({"backend": backend, "check": name, "passed": len(surrogates) - len(failures),
                     "total": len(surrogates), "failures": failures, "skipped": ""})
    if bar:
        bar.close()
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table, failures listed under their check."""
    lines = [f"{'backend':10} {'check':26} result", "-" * 52]
    for r in rows:
        if r["skipped"]:
            lines.append(f"{r['backend']:10} {'(skipped)':26} {r['skipped']}")
            continue
        status = "PASS" if not r["failures"] else "FAIL"
        lines.append(f"{r['backend']:10} {r['check']:26} {status} {r['passed']}/{r['total']}")
        lines += [f"{'':10}   {f}" for f in r["failures"]]
    return "\n".join(lines)
