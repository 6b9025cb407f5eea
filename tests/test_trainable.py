"""Trainable surrogate parameters: the straight-through parameter gradient sum(v * dg/dalpha),
the same in JAX and PyTorch (float64, 1e-12), checked against a NumPy finite difference."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikegrad as sg
from spikegrad._namespace import MathNamespace
from spikegrad.tools.verify import primitive_size

from .conftest import SURROGATE_CLASSES

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("jax_x64")
JAX_NS = MathNamespace(jnp, erfc=jax.lax.erfc)

RNG = np.random.default_rng(14)
X = RNG.uniform(-3.0, 3.0, 64)  # random points: no kink of any formula is hit exactly
V = RNG.uniform(0.1, 2.0, 64)  # a cotangent


def test_value(p: sg.Param) -> float:
    """The parameter's default, or a point inside its range when the default is at (or within
    a finite-difference step of) a bound, or 0."""
    d = float(p.default)
    lower = p.ge if p.ge is not None else p.gt
    if d == 0.0 or (lower is not None and d - lower < 1e-3):
        return d + 0.05 * max(1.0, abs(d))
    if p.le is not None and p.le - d < 1e-3:
        return d - 0.05 * max(1.0, abs(d))
    return d


test_value.__test__ = False  # a helper, not a test

CASES = [
    pytest.param(cls, p.name, id=f"{cls.registry_name}-{p.name}")
    for cls in SURROGATE_CLASSES
    for p in cls._params
    if not p.integer
]


def values_of(cls: type[sg.Surrogate]) -> dict[str, float]:
    return {p.name: test_value(p) for p in cls._params if not p.integer} | {
        p.name: p.default for p in cls._params if p.integer}


def jax_gradient(cls, name, values, x=X, v=V, origin=False):
    def loss(alpha):
        s = cls(**{**values, name: alpha}, trainable=(name,), origin=origin)
        return jnp.sum(jnp.asarray(v) * s(jnp.asarray(x)))

    return float(jax.grad(loss)(jnp.float64(values[name])))


def torch_gradient(cls, name, values, x=X, v=V, origin=False):
    """The gradient of the trained parameter; on the way, the gradient of x through the same
    pass is checked against the NumPy float64 g' (a trained beta of LeakyRelu once broke it:
    torch.full_like refused the 0-d tensor)."""
    alpha = torch.tensor(values[name], dtype=torch.float64, requires_grad=True)
    s = cls(**{**values, name: alpha}, trainable=(name,), origin=origin)
    xt = torch.tensor(x, requires_grad=True)
    (torch.as_tensor(v) * s(xt)).sum().backward()
    expected = v * cls(**values).surrogate_grad(np.asarray(x))
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-12, atol=1e-300)
    return float(alpha.grad)


def finite_difference(cls, name, values, x=X, v=V):
    """d/dalpha of sum(v * g(x; alpha)) in NumPy float64 (central, h relative to alpha)."""
    h = 1e-6 * max(1.0, abs(values[name]))

    def total(a):
        return float(np.sum(v * cls(**{**values, name: a}).surrogate_fun(x)))

    return (total(values[name] + h) - total(values[name] - h)) / (2 * h)


def scale(cls, name, values, x=X, v=V):
    """sum(|v * dg/dalpha|) plus sum(|v|) |g| / |alpha| (|g|: its size, ``primitive_size``):
    the size the sum's rounding is relative to. Terms may cancel, and so may the parts of one
    term: ReluGrad's g is 0 left of its support, computed as w x_c - |x_c| x_c / 2 + w**2 / 2
    at x_c = -w, so dg/dw there is rounding noise of the size of w, not 0."""
    s = cls(**values)
    spec = s.spec
    i = spec.formula.value_names.index(name)

    def g(alpha):
        vals = list(spec.values)
        vals[i] = alpha
        return spec.formula.primitive(jnp.asarray(x), tuple(vals), xp=JAX_NS)

    _, dg = jax.jvp(g, (jnp.float64(values[name]),), (jnp.float64(1.0),))
    natural = np.sum(np.abs(v)) * primitive_size(s) / (abs(values[name]) or 1.0)
    return float(np.sum(np.abs(v * np.asarray(dg)))) + float(natural) + 1e-300


@pytest.mark.parametrize(("cls", "name"), CASES)
def test_jax_and_torch_agree_with_each_other_and_a_finite_difference(cls, name):
    values = values_of(cls)
    gj = jax_gradient(cls, name, values)
    gt = torch_gradient(cls, name, values)
    size = scale(cls, name, values)
    assert abs(gj - gt) <= 1e-12 * size, (gj, gt, size)
    fd = finite_difference(cls, name, values)
    assert abs(gj - fd) <= 1e-6 * max(size, 1e-3), (gj, fd, size)


@pytest.mark.parametrize(("cls", "name"), CASES[::5])
def test_origin_gives_the_same_parameter_gradient(cls, name):
    values = values_of(cls)
    for framework in (jax_gradient, torch_gradient):
        assert framework(cls, name, values, origin=True) == pytest.approx(
            framework(cls, name, values), rel=1e-12, abs=1e-300)


_POSITIVE = [(cls, p) for cls in SURROGATE_CLASSES for p in cls._params
             if not p.integer and p.space == "log"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_POSITIVE), st.floats(-1.5, 1.5), st.floats(-4.0, 4.0))
def test_hypothesis_agreement_across_the_range(case, log_scale, shift):
    """Over positive parameters scaled by e^-1.5..e^1.5 and shifted inputs, JAX and PyTorch
    agree to 1e-12 of the gradient's scale."""
    cls, p = case
    values = values_of(cls)
    value = float(p.from_raw(np.float64(math.log(values[p.name]) + log_scale), xp=np))
    values[p.name] = value
    x = X + shift
    gj = jax_gradient(cls, p.name, values, x=x)
    gt = torch_gradient(cls, p.name, values, x=x)
    assert abs(gj - gt) <= 1e-12 * scale(cls, p.name, values, x=x), (gj, gt)


# ------------------------------------------------------------------ opt-in, errors, values


def test_without_opt_in_parameters_get_zero_gradient():
    x = jnp.asarray(X)
    # JAX: traced alpha, not trainable -> 0; trainable alpha does not make beta trainable.
    assert float(jax.grad(lambda a: sg.Sigmoid(alpha=a)(x).sum())(2.0)) == 0.0
    dbeta = jax.grad(lambda b: sg.LeakyRelu(beta=b, trainable=("alpha",))(x).sum())(0.5)
    assert float(dbeta) == 0.0
    # PyTorch: a tensor for a constant parameter is read once; it gets no gradient.
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    xt = torch.as_tensor(X).requires_grad_()
    (sg.Sigmoid(alpha=a)(xt).sum() + sg.LeakyRelu(alpha=0.2, beta=b, trainable="alpha")(xt).sum()
     ).backward()
    assert a.grad is None and b.grad is None
    assert xt.grad is not None


def test_errors_say_what_is_wrong():
    with pytest.raises(TypeError, match="integer parameter .* cannot be trained"):
        sg.SquarewaveFourierSeries(trainable=("n",))
    with pytest.raises(TypeError, match="has no parameter 'beta' to train"):
        sg.Sigmoid(trainable=("beta",))
    with pytest.raises(TypeError, match="tuple of parameter names"):
        sg.Sigmoid(trainable=(1,))

    class Box(sg.Surrogate):
        alpha = sg.Param(1.0, gt=0)

        def grad(x, alpha, *, xp):
            return xp.where(xp.abs(x) < 0.5 / alpha, alpha, 0.0)

    with pytest.raises(TypeError, match="defines no primitive .* define primitive"):
        Box(trainable=("alpha",))
    with pytest.raises(TypeError, match="shape \\(2,\\)"):
        sg.Sigmoid(alpha=torch.ones(2), trainable=("alpha",))
    with pytest.raises(TypeError, match="int64 array"):
        sg.Sigmoid(alpha=torch.tensor(2), trainable=("alpha",))
    with pytest.raises(ValueError, match="out of range"):  # concrete numbers: the usual checks
        sg.Sigmoid(alpha=-1.0, trainable=("alpha",))
    with pytest.raises(ValueError, match="trains no parameters"):
        sg.from_dict({**sg.compat.snntorch.atan().to_dict(), "trainable": ["alpha"]})
    with pytest.raises(TypeError, match="float8_e4m3fn array; .* of 16 bits or more"):
        sg.Sigmoid(alpha=jnp.array(2.0, jnp.float8_e4m3fn), trainable=("alpha",))
    # not names: an error, not silently "train nothing" (0 and False were; 1 was Python's
    # "'int' object is not iterable" in the layer)
    for wrong in (0, False, 1):
        for make in (lambda t: sg.Sigmoid(trainable=t), lambda t: sg.nn.Spike("sigmoid", trainable=t)):
            with pytest.raises(TypeError, match="tuple of parameter names"):
                make(wrong)
    for nothing in (None, (), []):
        assert sg.Sigmoid(trainable=nothing).trainable == ()
        assert sg.nn.Spike("sigmoid", trainable=nothing).surrogate.trainable == ()


def test_trainable_is_part_of_the_value():
    s = sg.Sigmoid(alpha=2.0, trainable="alpha")
    assert s.trainable == ("alpha",)
    assert repr(s) == "Sigmoid(alpha=2.0, trainable=('alpha',))"
    assert s != sg.Sigmoid(alpha=2.0) and hash(s) != hash(sg.Sigmoid(alpha=2.0))
    assert s == sg.Sigmoid(alpha=2.0, trainable=["alpha", "alpha"])
    assert sg.from_dict(s.to_dict()) == s and s.to_dict()["trainable"] == ["alpha"]
    assert "trainable" not in sg.Sigmoid().to_dict()  # dictionaries of before stay the same
    assert s.replace(alpha=3.0).trainable == ("alpha",)
    assert sg.LeakyRelu(trainable=("beta", "alpha")).trainable == ("alpha", "beta")
    t = sg.Sigmoid(alpha=torch.tensor(2.0), trainable=("alpha",))
    same = t
    assert t == same and t != sg.Sigmoid(alpha=torch.tensor(2.0), trainable=("alpha",))
    with pytest.raises(TypeError, match="not hashable"):
        hash(t)


def test_unconstrained_spaces():
    assert sg.Sigmoid.alpha.space == "log" and sg.InvSquareGrad.alpha.space == "log"
    assert sg.LeakyRelu.alpha.space == "plain" and sg.Rect.leak.space == "plain"  # ge=0
    for cls in SURROGATE_CLASSES:
        for p in cls._params:
            if p.integer:
                continue
            v = test_value(p)
            assert float(p.from_raw(np.float64(p.to_raw(v)), xp=np)) == pytest.approx(v, rel=1e-15)
            for raw in (-1e3, -50.0, 50.0, 1e3):  # any step lands inside the range
                with np.errstate(over="ignore"):
                    p.validate(float(p.from_raw(np.float64(raw), xp=np)))
                p.validate(float(p.from_raw(torch.tensor(raw), xp=torch)))


# ------------------------------------------------------------------------------- JAX


def test_jax_jit_vmap_and_grad_over_x_and_alpha():
    x = jnp.asarray(X)
    v = jnp.asarray(V)

    def loss(x, alpha):
        return jnp.sum(v * sg.Arctan(alpha=alpha, trainable=("alpha",))(x))

    gx, ga = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, 2.0)
    np.testing.assert_allclose(np.asarray(gx), V * sg.Arctan(alpha=2.0).surrogate_grad(X),
                               rtol=1e-13)
    assert float(ga) == pytest.approx(finite_difference(sg.Arctan, "alpha", {"alpha": 2.0}),
                                      rel=1e-7)
    alphas = jnp.asarray([0.5, 1.0, 2.0])
    batched = jax.jit(jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, 0)))(x, alphas)
    one_by_one = [float(jax.grad(loss, argnums=1)(x, a)) for a in alphas]
    np.testing.assert_allclose(np.asarray(batched), one_by_one, rtol=1e-13)
    xs = jnp.stack([x, -x])
    per_x = jax.vmap(jax.grad(loss, argnums=1), in_axes=(0, None))(xs, 2.0)
    np.testing.assert_allclose(np.asarray(per_x), [float(jax.grad(loss, argnums=1)(r, 2.0))
                                                   for r in xs], rtol=1e-13)
    # forward mode: the tangent of alpha gives the same number
    _, tangent = jax.jvp(lambda a: loss(x, a), (2.0,), (1.0,))
    assert float(tangent) == pytest.approx(float(ga), rel=1e-13)


def test_jax_16_bit_inputs_give_a_float32_gradient_close_to_float64():
    x16 = jnp.asarray(X, dtype=jnp.bfloat16)

    def loss(alpha):
        return jnp.sum(sg.Sigmoid(alpha=alpha, trainable=("alpha",))(x16).astype(jnp.float32))

    got = float(jax.grad(loss)(jnp.float32(2.0)))
    exact = finite_difference(sg.Sigmoid, "alpha", {"alpha": 2.0}, x=np.asarray(x16, np.float64),
                              v=np.ones(64))
    assert got == pytest.approx(exact, rel=1e-2)


# ---------------------------------------------------------------------------- PyTorch


def _torch_loss(alpha, x=None):
    x = torch.as_tensor(X) if x is None else x
    return (torch.as_tensor(V) * sg.Arctan(alpha=alpha, trainable=("alpha",))(x)).sum()


def test_torch_func_grad_vmap_and_jvp():
    expected = finite_difference(sg.Arctan, "alpha", {"alpha": 2.0})
    a = torch.tensor(2.0, dtype=torch.float64)
    assert float(torch.func.grad(_torch_loss)(a)) == pytest.approx(expected, rel=1e-7)
    alphas = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    batched = torch.func.vmap(torch.func.grad(_torch_loss))(alphas)
    np.testing.assert_allclose(batched.numpy(), [float(torch.func.grad(_torch_loss)(b))
                                                 for b in alphas], rtol=1e-13)
    _, tangent = torch.func.jvp(_torch_loss, (a,), (torch.tensor(1.0, dtype=torch.float64),))
    assert float(tangent) == pytest.approx(expected, rel=1e-7)
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(a, torch.tensor(1.0, dtype=torch.float64))
        t = torch.autograd.forward_ad.unpack_dual(_torch_loss(dual)).tangent
    assert float(t) == pytest.approx(expected, rel=1e-7)
    # grad with respect to x and alpha at once, x's part is v * g'(x)
    x = torch.as_tensor(X)
    gx, _ = torch.func.grad(lambda x, a: _torch_loss(a, x), argnums=(0, 1))(x, a)
    np.testing.assert_allclose(gx.numpy(), V * sg.Arctan(alpha=2.0).surrogate_grad(X), rtol=1e-13)


def test_torch_compile_fullgraph():
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    torch.compile(_torch_loss, fullgraph=True)(a).backward()
    expected = finite_difference(sg.Arctan, "alpha", {"alpha": 2.0})
    assert float(a.grad) == pytest.approx(expected, rel=1e-7)
    layer = sg.nn.Spike("arctan", alpha=2.0, trainable=("alpha",)).double()
    x = torch.as_tensor(X)
    torch.compile(lambda x: (torch.as_tensor(V) * layer(x)).sum(), fullgraph=True)(x).backward()
    # d/dlog(alpha) = alpha * d/dalpha
    assert float(layer.log_alpha.grad) == pytest.approx(2.0 * expected, rel=1e-7)


def test_torch_16_bit_inputs():
    x16 = torch.as_tensor(X, dtype=torch.bfloat16)
    a = torch.tensor(2.0, requires_grad=True)
    sg.Sigmoid(alpha=a, trainable=("alpha",))(x16).float().sum().backward()
    assert a.grad.dtype == torch.float32
    exact = finite_difference(sg.Sigmoid, "alpha", {"alpha": 2.0},
                              x=x16.double().numpy(), v=np.ones(64))
    assert float(a.grad) == pytest.approx(exact, rel=1e-2)


def test_no_anchor_without_gradients():
    a = torch.tensor(2.0, requires_grad=True)
    with torch.no_grad():
        out = sg.Sigmoid(alpha=a, trainable=("alpha",))(torch.as_tensor(X))
    assert not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), (X >= 0).astype(float))


# ---------------------------------------------------------------------------- nn.Spike


def test_spike_layer_trains_alpha_in_log_space_and_stays_in_range():
    layer = sg.nn.Spike("sigmoid", alpha=2.0, trainable=("alpha",))
    assert [n for n, _ in layer.named_parameters()] == ["log_alpha"]
    assert layer.log_alpha.item() == pytest.approx(math.log(2.0))
    x = torch.as_tensor(X, dtype=torch.float32)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (torch.as_tensor(V, dtype=torch.float32) * layer(x)).sum().backward()
        opt.step()
    learned = layer.surrogate
    assert isinstance(learned, sg.Sigmoid) and learned.trainable == ("alpha",)
    assert learned.alpha != 2.0 and learned.alpha > 0
    # an absurd step cannot leave the range: alpha stays in (0, 1e4]
    for lr in (1e6, -1e6):
        with torch.no_grad():
            layer.log_alpha.add_(lr)
        sg.Sigmoid(alpha=layer.surrogate.alpha)  # validates
    # plain space, clamped: LeakyRelu's alpha lies in [-1e4, 1e4]
    leaky = sg.nn.Spike(sg.LeakyRelu(), trainable="alpha")
    assert [n for n, _ in leaky.named_parameters()] == ["alpha"]
    with torch.no_grad():
        leaky.alpha.fill_(5e4)
    assert leaky.surrogate.alpha == 1e4


LOG_CASES = [(cls, p.name) for cls in SURROGATE_CLASSES for p in cls._params
             if not p.integer and p.space == "log"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize(("cls", "name"), LOG_CASES)
def test_a_raw_value_far_beyond_the_range_stays_valid_with_finite_gradients(cls, name, dtype):
    """A log-space parameter's raw value beyond its bounds, in a layer of any float dtype:
    the value is the bound, inside the declared range (``alpha > 1.001`` too, which rounds onto
    its bound in 16 bits), the layer saves, and every gradient is a number (the raw value's,
    0). ``exp`` of the raw value used to overflow first (float32 from 88.7, float16 from 11.1):
    0 times inf made the gradient NaN, and an optimizer step then made the whole layer NaN."""
    for raw in (-120.0, 0.0, 120.0):
        layer = sg.nn.Spike(cls(), trainable=(name,)).to(dtype)
        with torch.no_grad():
            getattr(layer, f"log_{name}").fill_(raw)
        x = torch.tensor([-1.0, -0.25, 0.0, 0.25, 1.0], dtype=dtype, requires_grad=True)
        (layer(x) * torch.linspace(0.5, 1.5, 5, dtype=dtype)).sum().backward()
        value = layer.surrogate.params[name]  # validated: inside the declared range
        cls(**{name: value})
        assert torch.isfinite(x.grad).all(), (raw, x.grad)
        grad = getattr(layer, f"log_{name}").grad
        assert torch.isfinite(grad), (raw, grad)
        if raw != 0.0:
            assert grad == 0.0, (raw, grad)  # clamped: the gradient stops at the bound
        assert name in layer.state_dict()["_extra_state"]["params"]


class _Unbounded(sg.Surrogate):
    """A log-space parameter with no upper bound."""

    alpha = sg.Param(1.0, gt=0)

    def grad(x, alpha, *, xp):
        return 1.0 / (1.0 + alpha * xp.abs(x)) ** 2

    def primitive(x, alpha, *, xp):
        return xp.where(x < 0, 0.5 / (1.0 - alpha * x), 1.0 - 0.5 / (1.0 + alpha * x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_an_unbounded_parameter_stays_finite_with_a_zero_gradient(dtype):
    """Without an upper bound the raw value is clamped below half the largest float32 number:
    exp of log(max) itself rounded to inf (a value out of range, a NaN gradient in JAX)."""
    layer = sg.nn.Spike(_Unbounded(), trainable=("alpha",)).to(dtype)
    with torch.no_grad():
        layer.log_alpha.fill_(100.0)
    x = torch.tensor([-1.0, 0.5], dtype=dtype, requires_grad=True)
    layer(x).sum().backward()
    assert 1e38 < layer.surrogate.alpha < float(np.finfo(np.float32).max)
    assert layer.log_alpha.grad == 0.0 and torch.isfinite(x.grad).all()
    assert float(jax.grad(lambda r: _Unbounded.alpha.from_raw(r, xp=jnp))(jnp.float32(100.0))) == 0.0


def test_an_integer_raw_value_is_taken_as_a_number():
    """(finfo of an integer dtype raised)"""
    for raw, xp in ((np.asarray(1), np), (torch.tensor(1), torch), (jnp.asarray(1), jnp)):
        assert float(sg.Sigmoid.alpha.from_raw(raw, xp=xp)) == pytest.approx(math.e, rel=1e-6)
        assert float(sg.LeakyRelu.alpha.from_raw(raw, xp=xp)) == 1.0


def test_spike_layer_gradient_is_the_straight_through_one():
    layer = sg.nn.Spike(sg.Arctan(alpha=2.0), trainable=("alpha",)).double()
    with torch.no_grad():
        layer.log_alpha.fill_(math.log(2.0))  # float32's log(2) would give another alpha
    (torch.as_tensor(V) * layer(torch.as_tensor(X))).sum().backward()
    expected = 2.0 * torch_gradient(sg.Arctan, "alpha", {"alpha": 2.0})
    assert float(layer.log_alpha.grad) == pytest.approx(expected, rel=1e-12)


def test_spike_layer_state_dict_round_trip():
    layer = sg.nn.Spike("arctan", alpha=2.0, trainable=("alpha",))
    with torch.no_grad():
        layer.log_alpha.fill_(0.25)
    state = layer.state_dict()
    assert state["_extra_state"]["params"]["alpha"] == pytest.approx(math.exp(0.25), rel=1e-6)
    fresh = sg.nn.Spike("arctan", trainable=("alpha",))
    fresh.load_state_dict(state)
    assert fresh.log_alpha.item() == 0.25 and fresh.surrogate == layer.surrogate
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    again = sg.nn.Spike("arctan", trainable=("alpha",))
    again.load_state_dict(torch.load(buffer, weights_only=True))
    assert again.surrogate == layer.surrogate
    with pytest.raises(ValueError, match="trainable=\\('alpha',\\)"):
        sg.nn.Spike("arctan").load_state_dict(state, strict=False)
    # assigning a surrogate sets the values in place (an optimiser keeps its parameters)
    raw = layer.log_alpha
    layer.surrogate = sg.Arctan(alpha=3.0, trainable=("alpha",))
    assert layer.log_alpha is raw and raw.item() == pytest.approx(math.log(3.0))
    layer.surrogate = sg.Arctan(alpha=3.0)
    assert list(layer.parameters()) == []


def test_a_diverged_or_meta_spike_layer_still_prints_and_saves():
    """A raw parameter gone NaN (a diverged run) or a layer on the meta device: ``repr`` and
    ``state_dict`` work (they re-validated the learned value and raised), showing the
    surrogate as built and the raw values; the state dict keeps the NaN raw parameter."""
    layer = sg.nn.Spike("sigmoid", alpha=2.0, trainable=("alpha",))
    with torch.no_grad():
        layer.log_alpha.fill_(float("nan"))
    text = repr(torch.nn.Sequential(layer))
    assert "Sigmoid(alpha=2.0, trainable=('alpha',)) as built" in text
    assert "log_alpha=tensor(nan)" in text
    state = layer.state_dict()
    assert math.isnan(float(state["log_alpha"]))
    with pytest.raises(ValueError, match="alpha=nan is out of range"):
        _ = layer.surrogate  # asked for explicitly, the learned surrogate says what is wrong
    with torch.device("meta"):
        meta = sg.nn.Spike("arctan", trainable=("alpha",))
    assert "device='meta'" in repr(meta)
    assert set(meta.state_dict()) == {"log_alpha", "_extra_state"}


def test_loading_another_surrogates_trained_state_changes_nothing():
    """The state of a trained LeakyRelu (raw ``alpha``) loaded into a trained Rect (raw
    ``log_alpha``): a ValueError naming both, and the layer as it was (it became a LeakyRelu
    reading Rect's log-space number as alpha)."""
    source = sg.nn.Spike("leaky_relu", alpha=0.5, trainable=("alpha",))
    target = sg.nn.Spike("rect", alpha=2.0, trainable=("alpha",))
    before = repr(target)
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"LeakyRelu.*Rect.*with a LeakyRelu"):
            target.load_state_dict(source.state_dict(), strict=strict)
        assert repr(target) == before
    assert float(target.surrogate.alpha) == pytest.approx(2.0)


def test_spike_layer_refuses_a_peer_spelling():
    with pytest.raises(TypeError, match="canonical"):
        sg.nn.Spike(sg.compat.snntorch.atan(), trainable=("alpha",))


# ------------------------------------------------------------------------------- demo


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_demo_trains_the_surrogate(framework):
    pytest.importorskip("sklearn")
    from spikegrad.tools.demo import DemoConfig, run_demo

    config = DemoConfig(hidden=16, steps=3, epochs=1, batch=256, train_surrogate=True)
    lines = []
    report = run_demo(framework, config, plot=None, echo=lines.append)
    learned = report["results"][0]["learned"]
    assert set(learned) == {"alpha"} and learned["alpha"] > 0 and learned["alpha"] != 1.0
    assert any("learned surrogate" in line for line in lines)


def test_demo_first_step_gradients_agree_with_a_trained_surrogate():
    pytest.importorskip("sklearn")
    from spikegrad.tools.demo import (
        DemoConfig,
        compare_gradients,
        first_step_gradients,
        load_digits_split,
    )

    config = DemoConfig(hidden=16, steps=3, train_surrogate=True)
    data = load_digits_split(0)
    gj = first_step_gradients("jax", config, data)
    gt = first_step_gradients("torch", config, data)
    assert "log_alpha" in gj and "log_alpha" in gt
    assert compare_gradients(gj, gt) <= 1e-5


@pytest.mark.parametrize("cls", [sg.QPseudoSpike, sg.QPseudoSpikeUnitArea])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trained_alpha_gradient_is_finite_at_zero_and_tiny_x(cls, dtype):
    """x = 0, tiny and subnormal in a batch leave the trained alpha's gradient a number (a ratio
    in log(1 + 2t) once divided by t, and expm1(h) / h at a subnormal h, whose derivatives
    made 0 * inf or 0 / 0 there): the finite difference's of the same batch."""
    x = np.asarray([0.0, -0.0, 1e-30, -1e-40, 0.5, -2.0])
    v = np.asarray([1.0, -0.5, 0.25, 2.0, -1.0, 0.75])
    alpha = torch.tensor(2.0, dtype=dtype, requires_grad=True)
    s = cls(alpha=alpha, trainable=("alpha",))
    (torch.as_tensor(v, dtype=dtype) * s(torch.as_tensor(x, dtype=dtype))).sum().backward()
    expected = finite_difference(cls, "alpha", {"alpha": 2.0}, x, v)
    np.testing.assert_allclose(float(alpha.grad), expected,
                               rtol=1e-4 if dtype == torch.float32 else 1e-6)


@pytest.mark.parametrize("alpha", [1e-30, 1e-20, 1e-12])
def test_q_pseudo_spike_alpha_gradient_as_alpha_goes_to_zero(alpha):
    """d g / d alpha of ``QPseudoSpike`` near its lower bound, against its limit at alpha = 0,
    -sgn(x) ((1 + 2|x|) log(1 + 2|x|) - 2|x|) / 2 (the derivative of (1 + 2|s|/(1 + alpha))
    ** -alpha there is -log(1 + 2|s|)). A cap of the half area at |x|/2, onto which it rounds
    as alpha -> 0, made it 0 or half of it in float64."""
    x = np.asarray([-2.5, -0.3, 0.4, 1.7, 30.0])
    t = np.abs(x)
    limit = -np.sign(x) * ((1 + 2 * t) * np.log1p(2 * t) - 2 * t) / 2
    for gradient in (jax_gradient, torch_gradient):
        got = [gradient(sg.QPseudoSpike, "alpha", {"alpha": alpha}, np.asarray([xi]), np.ones(1))
               for xi in x]
        np.testing.assert_allclose(got, limit, rtol=1e-9, err_msg=gradient.__name__)


def test_q_pseudo_spike_unit_area_alpha_gradient_at_huge_x_near_alpha_one():
    """alpha = 1.001: |x| / (alpha - 1) overflows for |x| > 1.8e305 (float64) where
    log(1 + 2|x| / (alpha - 1)) does not; d g / d alpha = sgn(x) B**-d (L - 2|x| / (d B)) / 2,
    B = 1 + 2|x| / d, L = log B, d = alpha - 1 (was NaN there, and at x = +-inf, which takes
    the largest number's). JAX and PyTorch."""
    alpha = 1.001
    d = alpha - 1.0
    largest = float(np.finfo(np.float64).max)
    for x in (1e306, -1e306, largest, -largest, np.inf, -np.inf):
        t = min(abs(x), largest)
        log_b = math.log(2.0) + math.log(t) - math.log(d)  # 1 + 2t/d is 2t/d to every digit
        expected = math.copysign(0.5 * math.exp(-d * log_b) * (log_b - 1.0), x)
        for gradient in (jax_gradient, torch_gradient):
            got = gradient(sg.QPseudoSpikeUnitArea, "alpha", {"alpha": alpha}, np.asarray([x]),
                           np.ones(1))
            np.testing.assert_allclose(got, expected, rtol=1e-9, err_msg=(gradient.__name__, x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_soft_sign_alpha_gradient_at_a_tiny_alpha(dtype):
    """d g / d alpha = x / (2 (1 + alpha |x|)**2), about x / 2 for alpha = 1e-25 (inside the
    range, which starts at 1e-30): the form with 1/alpha, whose derivative -1/alpha**2
    overflows float32, gave NaN, and inf for huge x. JAX in float32 too."""
    x = [2.0, -3.0, 1e30]
    expected = np.asarray(x) / (2 * (1 + 1e-25 * np.abs(x)) ** 2)
    for xi, want in zip(x, expected):
        a = torch.tensor(1e-25, dtype=dtype, requires_grad=True)
        sg.SoftSign(alpha=a, trainable=("alpha",))(torch.tensor([xi], dtype=dtype)).sum().backward()
        np.testing.assert_allclose(float(a.grad), want, rtol=1e-2 if dtype == torch.bfloat16 else 1e-5)
    got = jax.grad(lambda a: jnp.sum(sg.SoftSign(alpha=a, trainable=("alpha",))(
        jnp.asarray(x[:2], jnp.float32))))(jnp.float32(1e-25))
    np.testing.assert_allclose(float(got), sum(expected[:2]), rtol=1e-5)


@pytest.mark.parametrize(("cls", "name"), CASES)
def test_parameter_gradient_at_infinite_and_huge_x_is_a_number(cls, name):
    """One infinite or huge input leaves a trained parameter's gradient a number, not the NaN
    of autodiff's 0 * inf: at x = +-inf it is the gradient at the dtype's largest number (the
    limit where g saturates), in JAX and in PyTorch."""
    values = values_of(cls)
    largest = float(np.finfo(np.float64).max)
    for x in (-np.inf, np.inf, -largest, largest, -1e300, 1e300):
        for gradient in (jax_gradient, torch_gradient):
            g = gradient(cls, name, values, np.asarray([x]), np.ones(1))
            assert not math.isnan(g), (gradient.__name__, x, g)
            if math.isinf(x):
                assert g == gradient(cls, name, values, np.asarray([math.copysign(largest, x)]),
                                     np.ones(1)), (gradient.__name__, x)


@pytest.mark.parametrize(("cls", "name"), CASES)
def test_derivative_of_g_prime_in_a_parameter_at_huge_x_is_a_number(cls, name):
    """d g'(x) / d(parameter) (g' differentiated in a trained parameter, as a meta-learned
    shape or a Hessian needs it) is a number where x is huge but finite, in JAX and in
    PyTorch: where g' has decayed to 0 it is 0, not the NaN of 0 * inf where a quotient or a
    square overflows (the normal densities' ``(x - mu) / sigma`` at the largest float, and
    ``(x - mu)**2`` times the tangent of ``1 / (2 sigma**2)`` in a form they briefly had)."""
    values = values_of(cls)
    largest = float(np.finfo(np.float64).max)
    x = np.asarray([-largest, -1e300, -1e160, 1e160, 1e300, largest])

    def jax_g_prime(p):
        return jnp.sum(cls(**{**values, name: p}, trainable=(name,)).surrogate_grad(
            jnp.asarray(x)))

    p = torch.tensor(values[name], dtype=torch.float64, requires_grad=True)
    total = cls(**{**values, name: p}, trainable=(name,)).surrogate_grad(torch.as_tensor(x)).sum()
    # (g' of sparse_fast_sigmoid does not depend on its cutoff: no graph, a derivative of 0)
    torch_derivative = torch.autograd.grad(total, p)[0] if total.requires_grad else 0.0
    for got in (float(jax.grad(jax_g_prime)(jnp.float64(values[name]))),
                float(torch_derivative)):
        assert not math.isnan(got), (name, got)
        if np.all(cls(**values).surrogate_grad(x) == 0.0):
            assert got == 0.0, (name, got)
