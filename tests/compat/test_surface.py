"""Each namespace has its library's names, signatures, defaults and behaviours, clear errors for
values the library would fail on, and works on every backend like any surrogate."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import compat
from spikegrad.compat import _mapping

# Public names of each library's module (snntorch 1.0.0, spikingjelly 2.0.0, norse 1.1.0) that
# spikegrad spells, by name.
SNNTORCH = ["ATan", "FastSigmoid", "Heaviside", "LSO", "LeakySpikeOperator", "SFS", "Sigmoid",
            "SparseFastSigmoid", "SpikeRateEscape", "StraightThroughEstimator", "Triangular",
            "atan", "fast_sigmoid", "heaviside", "sigmoid", "spike_rate_escape",
            "straight_through_estimator", "triangular"]
SPIKINGJELLY = ["ATan", "DeterministicPass", "Erf", "FakeNumericalGradient", "LeakyKReLU",
                "LogTailedReLU", "NonzeroSignLogAbs", "PiecewiseExp", "PiecewiseLeakyReLU",
                "PiecewiseQuadratic", "PoissonPass", "QPseudoSpike", "Rect", "S2NN", "Sigmoid",
                "SoftSign", "SquarewaveFourierSeries", "SuperSpike", "SurrogateFunctionBase",
                "heaviside", "atan", "sigmoid", "rect", "atan_backward", "sigmoid_backward"]
NORSE = ["threshold", "sign", "heaviside", "super_fn", "superspike_fn", "triangle_fn",
         "heavi_erfc_fn", "heavi_tanh_fn", "heavi_circ_fn", "logistic_fn", "circ_dist_fn",
         "SuperSpike", "Triangle", "HeaviErfc", "HeaviTanh", "HeaviCirc", "Logistic",
         "CircDist"]


@pytest.mark.parametrize(("module", "names"), [(compat.snntorch, SNNTORCH),
                                                (compat.spikingjelly, SPIKINGJELLY),
                                                (compat.norse, NORSE)])
def test_the_librarys_names_are_there(module, names):
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing
    assert set(names) - {"superspike_fn"} <= set(module.__all__) | {"superspike_fn"}


def test_snntorch_factories_return_callables_with_snntorchs_defaults():
    assert compat.snntorch.atan().params == {"alpha": 2.0}
    assert compat.snntorch.fast_sigmoid().params == {"slope": 25}
    assert compat.snntorch.spike_rate_escape().params == {"beta": 1, "slope": 25}
    x = np.asarray([-0.5, 0.0, 0.5])
    np.testing.assert_array_equal(compat.snntorch.fast_sigmoid(slope=25)(x), [0.0, 0.0, 1.0])
    torch = pytest.importorskip("torch")
    xt = torch.tensor([0.5, 0.0], requires_grad=True)
    out = compat.snntorch.FastSigmoid.apply(xt, 25)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), [1 / 13.5**2, 1.0], rtol=1e-6)


def test_spikingjelly_classes_spiking_mode_and_static_functions():
    sj = compat.spikingjelly
    f = sj.Sigmoid()
    assert repr(f) == "Sigmoid(alpha=4.0, spiking=True)"
    assert f.extra_repr() == "alpha=4.0, spiking=True"
    x = np.asarray([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(f(x), [0.0, 1.0, 1.0])
    f.set_spiking_mode(False)
    np.testing.assert_allclose(f(x), 1 / (1 + np.exp(-4 * x)))
    np.testing.assert_allclose(sj.Sigmoid.primitive_function(x, 4.0), 1 / (1 + np.exp(-4 * x)))
    np.testing.assert_array_equal(sj.Sigmoid.spiking_function(x, 4.0), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(sj.Sigmoid.backward(np.ones(3), x, 4.0),
                               sg.Sigmoid(4.0).surrogate_grad(x))
    assert str(inspect.signature(sj.ATan)) == "(alpha=2.0, *, spiking=True)"
    assert str(inspect.signature(compat.snntorch.spike_rate_escape)) == "(beta=1, slope=25)"
    assert str(inspect.signature(compat.norse.heavi_tanh_fn)) == "(x: 'Any', k: 'float') -> 'Any'"
    assert sj.ATan(3.0, spiking=False).params == {"alpha": 3.0}
    np.testing.assert_array_equal(sj.heaviside(x), [0.0, 1.0, 1.0])


def test_spikingjelly_pickles_and_copies():
    f = compat.spikingjelly.PiecewiseLeakyReLU(w=0.5, c=0.1)
    g = pickle.loads(pickle.dumps(f))
    assert g == f and repr(g) == "PiecewiseLeakyReLU(w=0.5, c=0.1, spiking=True)"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: compat.spikingjelly.QPseudoSpike(alpha=1.0), r"QPseudoSpike\(alpha=1.0\) is "
                                                           r"QPseudoSpikeUnitArea with .*alpha"),
    (lambda: compat.spikingjelly.SquarewaveFourierSeries(n=1), r"n must be a whole number >= 2"),
    (lambda: compat.norse.heavi_circ_fn(np.ones(2), 0.0), r"heavi_circ_fn: k must be > 0"),
    (lambda: compat.snntorch.atan(beta=2.0), r"snntorch.atan has no parameter 'beta'"),
    (lambda: compat.norse.threshold(np.ones(2), "sigmoid", 1.0), r"no such function"),
    (lambda: compat.get("pytorch.atan"), r"unknown library 'pytorch'"),
    (lambda: compat.get("snntorch.arctan"), r"snntorch has no surrogate 'arctan'.*atan"),
    (lambda: compat.norse.logistic_fn(np.ones(2), 1.0), r"rng=numpy.random.default_rng"),
])
def test_values_the_library_fails_on_are_clear_errors(call, message):
    with pytest.raises((TypeError, ValueError, ZeroDivisionError), match=message):
        call()


def test_samplers_are_reproducible_and_carry_the_surrogate_gradient():
    torch = pytest.importorskip("torch")
    x = torch.linspace(-2, 2, 64, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(3)
    z = compat.norse.logistic_fn(x, 0.7)
    torch.manual_seed(3)  # norse draws torch.bernoulli(p) from the default generator
    expected = torch.bernoulli(0.5 + 0.5 * torch.tanh(0.7 * x.detach()))
    assert torch.equal(z.detach(), expected)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh(0.7 * x.detach().numpy()) ** 2,
                               rtol=1e-12)
    p = torch.full((4000,), 0.25, dtype=torch.float64)
    assert abs(float(compat.spikingjelly.PoissonPass()(p).mean()) - 0.25) < 0.05


def test_samplers_in_jax_and_numpy_take_the_callers_random_source():
    jax = pytest.importorskip("jax")
    x = np.linspace(-2, 2, 32)
    a = compat.norse.circ_dist_fn(x, 0.5, rng=np.random.default_rng(1))
    b = compat.norse.circ_dist_fn(x, 0.5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    key = jax.random.key(0)
    g = jax.grad(lambda v: compat.norse.circ_dist_fn(v, 0.5, key=key).sum())(jax.numpy.asarray(x))
    np.testing.assert_allclose(np.asarray(g), 0.5**3 / (0.5**2 + x**2) ** 1.5, rtol=1e-5)
    with pytest.raises(TypeError, match="random key"):
        compat.norse.circ_dist_fn(jax.numpy.asarray(x), 0.5)


@pytest.mark.parametrize("e", _mapping.ENTRIES, ids=[f"{e.library}.{e.name}" for e in
                                                      _mapping.ENTRIES])
def test_every_entry_runs_on_every_backend(backend, e):
    s = compat.get(f"{e.library}.{e.name}", **{n: (0.5 if v is None else v) for n, v in e.params})
    x64 = np.asarray([-1.5, -0.2, 0.0, 0.3, 2.0])
    x = backend.array(x64, "float64")
    ref = s.canonical()
    with sg.backend("numpy"):
        want = ref.surrogate_grad(x64)
    np.testing.assert_allclose(backend.to_numpy(s.surrogate_grad(x)), want, rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(s(x)),
                                  (x64 >= 0) if e.spike_at_zero else (x64 > 0))
