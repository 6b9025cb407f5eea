"""The compatibility names give their library's own numbers (snntorch 1.0, spikingjelly 2.0,
norse 1.1; measured by running the libraries, ``peers-1.0.json``) on every backend: forward,
``surrogate_grad``, ``vjp`` and, on PyTorch and JAX, the gradient of ``sum(forward)`` through
the framework's autodiff. Where the library's code departs from its documentation (listed in
the porting guide from ``_mapping``), the documented value is asserted instead."""

from __future__ import annotations

import json
import pathlib
import math

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import compat
from spikegrad.compat import _mapping

ROOT = pathlib.Path(__file__).resolve().parents[2]

PEERS = json.loads((ROOT / "src" / "spikegrad" / "data" / "peers-1.0.json").read_text())
CASES = [c for c in PEERS["cases"] if "error" not in c]
IDS = [f"{c['lib']}.{c['name']}" for c in CASES]


def documented(case: dict) -> np.ndarray:
    """The library's gradient as its documentation states it (the reference, except where the
    library's code departs from its documentation)."""
    x, grad = np.asarray(case["x"]), np.asarray(case["grad"])
    name = (case["lib"], case["name"])
    if name == ("snntorch", "heaviside"):  # documented: 1 for U >= threshold
        return np.where(x >= 0, 1.0, 0.0)
    if name in (("norse", "super_fn"), ("norse", "threshold:super")):  # 1/(1 + alpha|x|)^2
        return 1.0 / (1.0 + case["params"]["alpha"] * np.abs(x)) ** 2
    return grad


def make(case: dict):
    """The compat surrogate object of a case, built through the library's own spelling."""
    lib, name, params = case["lib"], case["name"], case["params"]
    if lib == "norse":
        if name.startswith("threshold:"):
            entry = _mapping.NORSE_METHODS[name.split(":")[1]]
            return compat.norse.surrogate(entry, **dict(zip([p for p, _ in
                                          _mapping.entry("norse", entry).params], params.values())))
        keys = [p for p, _ in _mapping.entry("norse", name).params]
        return compat.norse.surrogate(name, **dict(zip(keys, params.values())))
    if lib == "snntorch":
        return getattr(compat.snntorch, name)(**params)
    return getattr(compat.spikingjelly, name)(**params)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_gradient_are_the_librarys(backend, case):
    s = make(case)
    x64 = np.asarray(case["x"])
    x = backend.array(x64, "float64")
    np.testing.assert_array_equal(backend.to_numpy(s(x)), case["forward"])
    want = documented(case)
    np.testing.assert_allclose(backend.to_numpy(s.surrogate_grad(x)), want, rtol=1e-6, atol=1e-12)
    ct = backend.array(np.linspace(0.5, 2.0, x64.size), "float64")
    np.testing.assert_allclose(backend.to_numpy(s.vjp(x, ct)), np.linspace(0.5, 2.0, x64.size)
                               * want, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_autodiff_of_the_library_call_gives_the_gradient(case, jax_x64):
    """d sum(forward)/dx through PyTorch's and JAX's autodiff, called as the library is called
    (norse's functions with ``alpha`` as a 0-d tensor, as its neurons pass it)."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    lib, name, params = case["lib"], case["name"], case["params"]
    if lib == "norse":
        if name.startswith("threshold:"):
            def call(x, alpha):
                return compat.norse.threshold(x, name.split(":")[1], alpha)
        else:
            def call(x, alpha):
                return getattr(compat.norse, name)(x, alpha)
        (value,) = params.values()
        t_fn, j_fn = (lambda x: call(x, torch.tensor(value))), (lambda x: call(x, value))
    else:
        s = make(case)
        t_fn = j_fn = s
    want = documented(case)
    xt = torch.tensor(case["x"], dtype=torch.float64, requires_grad=True)
    t_fn(xt).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=1e-6, atol=1e-12)
    g = jax.grad(lambda x: j_fn(x).sum())(jax.numpy.asarray(case["x"], dtype="float64"))
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-6, atol=1e-12)


def test_every_reference_case_is_covered():
    measured = {(c["lib"], c["name"].split(":")[-1] if c["lib"] != "norse" else c["name"])
                for c in CASES}
    spelled = {(e.library, e.name) for e in _mapping.ENTRIES}
    norse = {("norse", _mapping.NORSE_METHODS.get(n.split(":")[1], n)) if ":" in n else ("norse", n)
             for (lib, n) in measured if lib == "norse"}
    assert {m for m in measured if m[0] != "norse"} | norse <= spelled


def test_differences_are_exactly_where_the_code_departs_from_its_documentation():
    """Where the documented value is asserted instead of the measured one, the two differ (the
    difference is real) and the entry says so (the porting guide lists it)."""
    for case in CASES:
        measured, want = np.asarray(case["grad"]), documented(case)
        if not np.allclose(measured, want, rtol=1e-6, atol=1e-12):
            name = case["name"].split(":")[-1]
            name = _mapping.NORSE_METHODS.get(name, name)
            assert _mapping.entry(case["lib"], name).difference, case["name"]


def test_norse_heaviside_has_no_gradient_as_norses():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    for out in (compat.norse.heaviside(x), compat.norse.threshold(x, "heaviside", 100.0)):
        np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 1.0])
        assert out.grad_fn is None


def test_norse_sign_doubles_the_gradient():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
    out = compat.norse.sign(x, "triangle", 2.0)
    out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), [-1.0, -1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2.0 * np.maximum(0, 1 - np.abs([-0.5, 0, 0.5])))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_output_keeps_the_input_dtype_unlike_snntorch(dtype):
    """snntorch returns float32 whatever the input; spikegrad keeps the input's dtype."""
    x = np.asarray([-1.0, 0.0, 2.0], dtype=dtype)
    assert compat.snntorch.atan()(x).dtype == np.dtype(dtype)


def test_snntorch_sigmoid_is_finite_where_snntorch_gives_nan():
    x = np.asarray([-30.0, -3.5], dtype=np.float32)
    g = compat.snntorch.sigmoid(slope=25).surrogate_grad(x)
    assert np.isfinite(g).all() and (g >= 0).all()
    assert math.isclose(float(g[1]), 25 * math.exp(-87.5) / (1 + math.exp(-87.5)) ** 2,
                        rel_tol=1e-5)
