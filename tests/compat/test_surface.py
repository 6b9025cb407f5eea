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
            "straight_through_estimator", "triangular", "custom_surrogate", "SSO",
            "CustomSurrogate", "StochasticSpikeOperator"]
SPIKINGJELLY = ["ATan", "DeterministicPass", "Erf", "FakeNumericalGradient", "LeakyKReLU",
                "LogTailedReLU", "NonzeroSignLogAbs", "PiecewiseExp", "PiecewiseLeakyReLU",
                "PiecewiseQuadratic", "PoissonPass", "QPseudoSpike", "Rect", "S2NN", "Sigmoid",
                "SoftSign", "SquarewaveFourierSeries", "SuperSpike", "SurrogateFunctionBase",
                "heaviside", "atan", "sigmoid", "rect", "atan_backward", "sigmoid_backward",
                "MultiLevelSpikeCount", "poisson_pass", "check_manual_grad",
                "plot_surrogate_function"]
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
    lazy = {"superspike_fn", "CustomSurrogate", "StochasticSpikeOperator"}  # not in __all__
    assert set(names) - lazy <= set(module.__all__)


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
    assert str(inspect.signature(sj.ATan)) == "(alpha=2.0, spiking=True)"
    # spiking after the parameters, by position too, as spikingjelly's classes take it
    assert sj.ATan(3.0, False) == sj.ATan(alpha=3.0, spiking=False) and not sj.ATan(3.0, False).spiking
    assert sj.PiecewiseLeakyReLU(1.0, 0.01, False).params == {"w": 1.0, "c": 0.01}
    with pytest.raises(TypeError, match="got spiking twice"):
        sj.ATan(3.0, False, spiking=True)
    with pytest.raises(TypeError, match="spiking must be True or False; got None"):
        sj.ATan(spiking=None)
    # the backward helpers return the gradient of x and a None for each parameter, as spikingjelly's
    torch = pytest.importorskip("torch")
    t = torch.tensor([0.5])
    assert [len(sj.atan_backward(t, t, 2.0)), len(sj.piecewise_leaky_relu_backward(t, t, 1.0, 0.01)),
            len(sj.leaky_k_relu_backward(t, t, 0.0, 1.0))] == [2, 3, 3]
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


def test_norse_functions_can_be_called_from_torchscript():
    """norse compiles functions calling heaviside and threshold with torch.jit.script when it
    is imported; the compat functions must not break that."""
    torch = pytest.importorskip("torch")

    @torch.jit.script
    def scripted(x: torch.Tensor) -> torch.Tensor:
        return compat.norse.heaviside(x) + compat.norse.threshold(x, "super", 100.0)

    x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    out = scripted(x)
    out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), [0.0, 0.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [1 / 101**2, 1.0, 1 / 101**2], rtol=1e-6)


def test_integer_inputs_give_spikes_in_their_dtype_as_the_libraries():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-2, 0, 3])
    assert compat.norse.super_fn(x).dtype == torch.int64
    np.testing.assert_array_equal(compat.norse.super_fn(x).numpy(), [0, 0, 1])
    np.testing.assert_array_equal(compat.spikingjelly.ATan()(np.asarray([-2, 0, 3])), [0, 1, 1])
    with pytest.raises(TypeError, match="floating"):  # the catalogue keeps its rule
        sg.Arctan()(np.asarray([-2, 0, 3]))


def test_spikingjelly_parameters_are_attributes_read_at_every_call():
    torch = pytest.importorskip("torch")
    f = compat.spikingjelly.ATan()
    assert f.alpha == 2.0
    f.alpha = 6.0  # as spikingjelly's model code anneals it
    x = torch.tensor([0.1], dtype=torch.float64, requires_grad=True)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0 / (1 + (np.pi * 3.0 * 0.1) ** 2)])
    assert repr(f) == "ATan(alpha=6.0, spiking=True)" and f.canonical() == sg.Arctan(alpha=6.0)
    with pytest.raises(ValueError, match="alpha"):
        f.alpha = -1.0
    with pytest.raises(AttributeError, match="beta"):
        f.beta  # noqa: B018
    # hashed (a jax.jit static argument, a dict key): a change would leave cached results stale
    cache = {f: "compiled for alpha=6"}
    with pytest.raises(AttributeError, match=r"hashed .* spikingjelly.ATan\(alpha=8.0\)"):
        f.alpha = 8.0
    f.alpha = 6.0  # (the same value changes nothing)
    assert f in cache and f.alpha == 6.0


def test_norse_surrogate_returns_an_object_of_the_callers_own():
    """Setting ``origin`` on it (the porting guide's idiom) leaves norse's functions spiking:
    it was the object their calls reuse, and every later call returned g instead."""
    s = compat.norse.surrogate("heavi_tanh_fn", k=0.3)
    s.origin = True
    x = np.array([-1.0, 0.5])
    np.testing.assert_array_equal(compat.norse.heavi_tanh_fn(x, 0.3), [0.0, 1.0])
    np.testing.assert_array_equal(compat.norse.threshold(x, "tanh", 0.3), [0.0, 1.0])
    assert s(x)[1] > 1.0  # g, where it asked for it
    with pytest.raises(ValueError, match="no surrogate function 'bogus'.*super_fn"):
        compat.norse.surrogate("bogus")


def test_multi_level_spike_count():
    torch = pytest.importorskip("torch")
    m = compat.spikingjelly.MultiLevelSpikeCount(3)
    assert repr(m) == ("MultiLevelSpikeCount(max_spike_count=3, grad_min=0.0, grad_max=3.0, "
                       "spiking=True)")
    x = torch.tensor([-1.0, 0.4, 1.6, 2.5, 3.0, 5.0], requires_grad=True)
    y = m(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [0, 0, 2, 2, 3, 3])  # half to even
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 1, 0])
    with pytest.raises(TypeError, match="whole number"):
        compat.spikingjelly.MultiLevelSpikeCount(2.5)
    with pytest.raises(ValueError, match="grad_min <= grad_max"):
        compat.spikingjelly.MultiLevelSpikeCount(2, grad_window=(2.0, 1.0))


def test_snntorch_custom_surrogate_and_stochastic_operator():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    y = compat.snntorch.custom_surrogate(lambda inp, grad, spk: grad * (1 + spk))(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 2.0])
    x.grad = None
    torch.manual_seed(0)
    compat.snntorch.SSO(mean=0.1, variance=0.5)(x).sum().backward()
    torch.manual_seed(0)  # snntorch draws rand_like(x) in the backward
    noise = (torch.rand(3) - 0.5 + 0.1) * 0.5
    np.testing.assert_allclose(x.grad.numpy(), [noise[0], noise[1], 1.0], rtol=1e-6)


def test_spikingjelly_n_is_any_whole_number_the_catalogue_takes():
    """``n=3.0``, a NumPy integer and a 0-d array are 3, as the catalogue reads them (they were
    refused as not "a whole number >= 2"); 1 and 2.5 still are refused, in spikingjelly's
    terms."""
    sj = compat.spikingjelly
    x = np.linspace(-3, 3, 7)
    expected = sj.SquarewaveFourierSeries(n=3).surrogate_grad(x)
    for n in (3.0, np.int64(3), np.array(3)):
        s = sj.SquarewaveFourierSeries(n=n)
        assert s.canonical().n == 2
        np.testing.assert_array_equal(s.surrogate_grad(x), expected)
    for n in (1, 2.5, 1.0):
        with pytest.raises(ValueError, match="n must be a whole number >= 2"):
            sj.SquarewaveFourierSeries(n=n)


def test_snntorch_objects_pickle_unlike_snntorchs_closures():
    s = compat.snntorch.fast_sigmoid(slope=25)
    assert pickle.loads(pickle.dumps(s)) == s
    t = compat.norse.surrogate("heavi_tanh_fn", k=0.5)
    assert pickle.loads(pickle.dumps(t)) == t


def test_spikingjelly_check_manual_grad_prints_the_difference(capsys):
    pytest.importorskip("torch")
    sj = compat.spikingjelly
    sj.check_manual_grad(sj.ATan.primitive_function, sj.ATan.spiking_function, 2.0)
    assert float(capsys.readouterr().out.split()[-1]) < 1e-6


def test_a_traced_parameter_is_taken_or_clearly_refused():
    """Under ``jax.jit`` a library's parameter may be traced: taken where it becomes a
    parameter of the canonical surrogate (spikingjelly's ``w``), refused with spikegrad's message
    where it becomes a gain, a constant of the formula (norse's ``k``); the library's own
    checks (``k > 0``) used to compare the tracer and raise JAX's TracerBoolConversionError."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.array([-1.0, 0.2, 1.0])
    traced = jax.jit(jax.grad(lambda x, w: compat.spikingjelly.PiecewiseLeakyReLU(w=w)(x).sum()))
    eager = jax.grad(lambda x: compat.spikingjelly.PiecewiseLeakyReLU(w=0.5)(x).sum())
    np.testing.assert_allclose(traced(x, 0.5), eager(x))
    np.testing.assert_allclose(eager(x), [0.01, 1.0, 0.01])
    for call in (lambda x, k: compat.norse.heavi_tanh_fn(x, k),
                 lambda x, k: compat.norse.threshold(x, "circ", k)):
        with pytest.raises(TypeError, match="cannot be traced by JAX; pass a Python float"):
            jax.jit(call)(x, 0.5)
    # the concrete ones beside a traced one are still checked, in the library's terms
    with pytest.raises(ValueError, match="PiecewiseLeakyReLU: w must be > 0; got -1.0"):
        jax.jit(lambda x, c: compat.spikingjelly.PiecewiseLeakyReLU(w=-1.0, c=c)(x))(x, 0.01)
    with pytest.raises(ValueError, match="n must be a whole number >= 2"):
        jax.jit(lambda x, t: compat.spikingjelly.SquarewaveFourierSeries(n=1, T_period=t)(x))(
            x, 8.0)
    hashed = compat.spikingjelly.ATan()
    assert hashed in {hashed}
    with pytest.raises(AttributeError, match="has been hashed"):  # not a TracerBoolConversionError
        jax.jit(lambda x, a: setattr(hashed, "alpha", a))(x, 3.0)


def test_a_parameter_changes_after_torch_compile_traced_the_object():
    """Dynamo hashes every callable it traces, and guards on its attributes: that hash does
    not freeze the object (annealing alpha, spikingjelly's use, was refused after one call)."""
    torch = pytest.importorskip("torch")
    f = compat.spikingjelly.ATan(2.0, False)
    compiled = torch.compile(lambda x: f(x), backend="eager", fullgraph=True)
    x = torch.tensor([0.5], dtype=torch.float64)
    torch.testing.assert_close(compiled(x), compat.spikingjelly.ATan(2.0, False)(x))
    f.alpha = 6.0
    torch.testing.assert_close(compiled(x), compat.spikingjelly.ATan(6.0, False)(x))
