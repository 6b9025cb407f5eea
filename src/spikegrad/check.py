"""``spikegrad check``: every surrogate, every installed backend, every transform it supports.

Each check compares a backend's result with the NumPy float64 reference (itself checked
against braintools 0.3.0's own numbers, shipped with the package). A user's way to trust an
installation: a failure names the backend, the check and the surrogate.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
from typing import Any, Callable, Iterator

import numpy as np

X = np.array([-2.5, -1.2, -0.3, 0.4, 0.9, 1.7, 3.0])  # no 0: some g' have a kink there
REFERENCE = pathlib.Path(__file__).parent / "data" / "braintools-0.3.0.json"

Check = Callable[[Any], tuple[Any, Any]]  # surrogate -> (actual, expected)


def _reference(s: Any) -> dict[str, np.ndarray]:
    h = 1e-5
    return {
        "grad": s.surrogate_grad(X),
        "fun": s.surrogate_fun(X),
        "grad2": (s.surrogate_grad(X + h) - s.surrogate_grad(X - h)) / (2 * h),
        "spike": (X >= 0).astype(float),
    }


def _numpy_checks() -> dict[str, Check]:
    table = json.loads(REFERENCE.read_text())["surrogates"]

    def braintools(s: Any) -> tuple[Any, Any]:
        ref = table[type(s).__name__]
        x = np.asarray(ref["x"])
        got = [s(x), s.surrogate_grad(x)] + ([s.surrogate_fun(x)] if ref["primitive"] else [])
        want = [ref["forward"], ref["grad"]] + ([ref["primitive"]] if ref["primitive"] else [])
        return np.concatenate(got), np.concatenate(want)

    return {
        "braintools 0.3.0 values": braintools,
        "float32": lambda s: (s.surrogate_grad(X.astype(np.float32)), _reference(s)["grad"]),
        "vjp": lambda s: (s.vjp(X, 2 * X), 2 * X * _reference(s)["grad"]),
    }


def _array_api_checks() -> dict[str, Check]:
    import array_api_strict as xp

    return {
        "g' (array-api-strict)": lambda s: (np.asarray(s.surrogate_grad(xp.asarray(X))), _reference(s)["grad"]),
        "g (array-api-strict)": lambda s: (np.asarray(s.surrogate_fun(xp.asarray(X))), _reference(s)["fun"]),
    }


def _jax_checks() -> dict[str, Check]:
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(X, jnp.float32)

    def total(s: Any) -> Callable[[Any], Any]:
        return lambda v: s(v).sum()

    return {
        "grad": lambda s: (jax.grad(total(s))(x), _reference(s)["grad"]),
        "jit(grad)": lambda s: (jax.jit(jax.grad(total(s)))(x), _reference(s)["grad"]),
        "vmap": lambda s: (jax.vmap(jax.grad(s))(x), _reference(s)["grad"]),
        "jvp": lambda s: (jax.jvp(s, (x,), (jnp.ones_like(x),))[1], _reference(s)["grad"]),
        "hessian (g'')": lambda s: (jax.vmap(jax.hessian(s))(x), _reference(s)["grad2"]),
        "origin": lambda s: (jax.grad(total(type(s)(*s._param_values, origin=True)))(x),
                             _reference(s)["grad"]),
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
        "backward": lambda s: (backward(s), _reference(s)["grad"]),
        "double backward (g'')": lambda s: (double(s), _reference(s)["grad2"]),
        "torch.func vmap(grad)": lambda s: (vmap(grad(s))(t), _reference(s)["grad"]),
        "torch.func jvp": lambda s: (jvp(s, (t,), (torch.ones_like(t),))[1], _reference(s)["grad"]),
        "torch.compile": lambda s: (compiled(s), _reference(s)["grad"]),
    }


def _cupy_checks() -> dict[str, Check]:
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 1:
        raise RuntimeError("no CUDA GPU")
    x = cupy.asarray(X)
    return {
        "g' kernel": lambda s: (cupy.asnumpy(s.surrogate_grad(x)), _reference(s)["grad"]),
        "g kernel": lambda s: (cupy.asnumpy(s.surrogate_fun(x)), _reference(s)["fun"]),
        "vjp kernel": lambda s: (cupy.asnumpy(s.vjp(x, x)), X * _reference(s)["grad"]),
    }


BACKENDS: dict[str, tuple[str | None, Callable[[], dict[str, Check]]]] = {
    "numpy": (None, _numpy_checks),
    "array_api": ("array_api_strict", _array_api_checks),
    "jax": ("jax", _jax_checks),
    "torch": ("torch", _torch_checks),
    "cupy": ("cupy", _cupy_checks),
}


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu()
    return np.asarray(a, dtype=np.float64)


def plan() -> Iterator[tuple[str, str, Check | None, str]]:
    """(backend, check, function or None, reason when skipped)."""
    for backend, (module, make) in BACKENDS.items():
        if module is not None and importlib.util.find_spec(module) is None:
            yield backend, "-", None, f"{module} not installed"
            continue
        try:
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
    import spikegrad as sg

    surrogates = [sg.get(n) for n in sg.available()]
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
        for s in surrogates:
            try:
                actual, expected = fn(s)
                np.testing.assert_allclose(_to_numpy(actual), np.asarray(expected, np.float64),
                                           rtol=2e-5, atol=1e-5)
            except Exception as exc:  # noqa: BLE001 - any failure is a failed check
                failures.append(f"{type(s).__name__}: {str(exc).strip().splitlines()[0][:120]}")
            if bar:
                bar.update(1)
        rows.append({"backend": backend, "check": name, "passed": len(surrogates) - len(failures),
                     "total": len(surrogates), "failures": failures, "skipped": ""})
    if bar:
        bar.close()
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'backend':10} {'check':26} result", "-" * 52]
    for r in rows:
        if r["skipped"]:
            lines.append(f"{r['backend']:10} {'(skipped)':26} {r['skipped']}")
            continue
        status = "PASS" if not r["failures"] else "FAIL"
        lines.append(f"{r['backend']:10} {r['check']:26} {status} {r['passed']}/{r['total']}")
        lines += [f"{'':10}   {f}" for f in r["failures"]]
    return "\n".join(lines)
