"""The public API: construction, parameter validation, value semantics, registry, errors."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spikegrad as sg
from spikegrad import _surrogate

from .conftest import SURROGATE_CLASSES


BRAINTOOLS_NAMES = {
    "Sigmoid", "PiecewiseQuadratic", "PiecewiseExp", "SoftSign", "Arctan", "NonzeroSignLog", "ERF",
    "PiecewiseLeakyRelu", "SquarewaveFourierSeries", "S2NN", "QPseudoSpike", "LeakyRelu",
    "LogTailedRelu", "ReluGrad", "GaussianGrad", "MultiGaussianGrad", "InvSquareGrad", "SlayerGrad",
}
NEW_NAMES = {
    "Rect", "FakeNumericalGradient", "EscapeRate", "SparseFastSigmoid", "AlgebraicSigmoid",
    "QPseudoSpikeUnitArea",
}


def test_catalogue_has_the_braintools_surrogates_and_the_peers_maths():
    names = {type(sg.get(n)).__name__ for n in sg.available()}
    assert names == BRAINTOOLS_NAMES | NEW_NAMES
    for name in sg.available():
        cls = sg.get(name).__class__
        assert getattr(sg, cls.__name__) is cls
        assert callable(getattr(sg, name))


def test_braintools_constructor_signatures():
    assert sg.LeakyRelu(alpha=0.1, beta=1.0) == sg.LeakyRelu()
    assert sg.LeakyRelu(0.2, 0.5).params == {"alpha": 0.2, "beta": 0.5}
    assert sg.LogTailedRelu(alpha=0.0).alpha == 0.0
    assert str(inspect.signature(sg.LeakyRelu)) == (
        "(alpha=0.1, beta=1.0, *, origin=False, gain=1.0, spike_at_zero=True, trainable=())"
    )
    assert str(inspect.signature(sg.leaky_relu)) == "(x, alpha=0.1, beta=1.0)"


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_value_semantics(cls):
    a, b = cls(), cls()
    assert a == b and hash(a) == hash(b)
    assert cls(origin=True) != a
    assert pickle.loads(pickle.dumps(a)) == a
    assert pickle.loads(pickle.dumps(cls(origin=True))).origin is True
    assert copy.deepcopy(a) == a
    assert repr(a).startswith(f"{cls.__name__}(") and eval(repr(a), vars(sg)) == a  # noqa: S307
    assert sg.get(cls.registry_name, **a.params) == a
    assert sg.get(cls.__name__) == a


def test_different_parameters_differ():
    assert sg.Sigmoid(alpha=4.0) != sg.Sigmoid(alpha=5.0)
    assert sg.Sigmoid() != sg.ERF()
    assert len({sg.Sigmoid(), sg.Sigmoid(alpha=4), sg.Sigmoid(alpha=2)}) == 2


def test_parameters_are_immutable_but_origin_switches():
    f = sg.LeakyRelu()
    with pytest.raises(AttributeError, match=r"LeakyRelu\(alpha=0.5\)"):
        f.alpha = 0.5
    f.origin = True
    x = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(f(x), [-0.1, 2.0])
    with pytest.raises(TypeError, match="True or False"):
        f.origin = 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: sg.Sigmoid(alpha=0.0), r"Sigmoid: alpha=0.0 is out of range; allowed: 1e-30 <= alpha <= \d+ \(finite\)"),
        (lambda: sg.Sigmoid(alpha=-1), r"alpha=-1.0 is out of range"),
        (lambda: sg.ERF(alpha=float("nan")), r"ERF: alpha=nan is out of range"),
        (lambda: sg.S2NN(epsilon=float("inf")), r"S2NN: epsilon=inf is out of range; allowed: 0 <= epsilon"),
        (lambda: sg.PiecewiseLeakyRelu(w=0), r"w=0.0 is out of range; allowed: \S+ <=? w"),
        (lambda: sg.LeakyRelu(alpha=float("inf")), r"LeakyRelu: alpha=inf is out of range; allowed: "),
        (lambda: sg.SquarewaveFourierSeries(n=0), r"n=0.0 is out of range; allowed: 1 <= n <= 100 \(whole number\)"),
        (lambda: sg.SquarewaveFourierSeries(n=2.5), r"n=2.5 must be a whole number"),
    ],
)
def test_invalid_parameters_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("bad", ["1", None, True, 1j, [1.0], np.ones(2)])
def test_non_numeric_parameters_raise_type_error(bad):
    with pytest.raises(TypeError, match="Sigmoid: alpha"):
        sg.Sigmoid(alpha=bad)


def test_parameter_given_as_numpy_or_0d_array_is_normalised():
    assert sg.Sigmoid(alpha=np.float32(2.0)) == sg.Sigmoid(alpha=2.0)
    assert sg.Sigmoid(alpha=np.asarray(2.0)).alpha == 2.0
    assert type(sg.SquarewaveFourierSeries(n=np.int64(3)).n) is int
    assert sg.SquarewaveFourierSeries(n=3.0).n == 3


def test_wrong_constructor_arguments():
    with pytest.raises(TypeError, match="has no parameter 'gamma'; its parameters are: alpha, beta"):
        sg.LeakyRelu(gamma=1.0)
    with pytest.raises(TypeError, match="at most 2 positional"):
        sg.LeakyRelu(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="twice"):
        sg.LeakyRelu(0.2, alpha=0.3)


def test_get_unknown_name_lists_available():
    with pytest.raises(ValueError, match=r"unknown surrogate 'sigmiod'; available: algebraic_sigmoid, arctan"):
        sg.get("sigmiod")


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "complex64", "uint8"])
def test_non_floating_inputs_raise_type_error(backend, dtype):
    if backend.name == "array_api_strict" and dtype == "uint8":
        pytest.skip("not needed twice")
    values = np.asarray([0, 1, 1]).astype(dtype)
    try:
        x = backend.array(values, dtype)
    except (TypeError, ValueError, AttributeError):
        pytest.skip(f"{backend.name} has no {dtype}")
    s = sg.Sigmoid()
    for call in (s, s.surrogate_grad, s.surrogate_fun):
        with pytest.raises(TypeError, match=f"real floating arrays.*got dtype .*{dtype}.*Convert"):
            call(x)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_math_on_a_bare_namespace_ignores_its_unrelated_functions(cls):
    """The math asks namespaces for optional hooks by name: a library function of the same
    name (``numpy.choose``) must not be taken for one. g' with bare NumPy as ``xp`` is the
    same as through spikegrad's wrapped namespace (surrogates whose math needs ``erfc``, which
    NumPy lacks, excepted)."""
    s = cls()
    x = np.linspace(-3.0, 3.0, 61)
    try:
        bare = s.spec.formula.derivative(x, s.spec.values, xp=np)
    except AttributeError as exc:
        assert "erfc" in str(exc)
        return
    np.testing.assert_array_equal(bare, s.surrogate_grad(x))


def test_python_scalars_and_lists_use_numpy():
    out = sg.sigmoid([-1.0, 0.0, 2.0])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.0, 1.0, 1.0])
    zero_d = sg.Sigmoid().surrogate_grad(0.0)
    assert isinstance(zero_d, np.ndarray) and zero_d.shape == () and zero_d == 1.0
    with pytest.raises(TypeError, match="got dtype int64"):
        sg.sigmoid(0)


def test_unsupported_object_raises_type_error():
    with pytest.raises(TypeError, match="cannot evaluate a surrogate on builtins.str"):
        sg.sigmoid("0.5")


def test_vjp_checks_the_cotangent():
    with pytest.raises(TypeError, match="float"):
        sg.Sigmoid().vjp(np.zeros(3), np.zeros(3, dtype=int))


def test_vjp_refuses_a_cotangent_of_another_array_library():
    """An Array-API x with a NumPy cotangent failed deep in the math ("'dtype' must be a dtype,
    not a <class 'numpy.dtypes.Float64DType'>")."""
    xp = pytest.importorskip("array_api_strict")
    x = xp.asarray([-1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match=r"^the cotangent is a numpy.ndarray and x a "
                                        r"array_api_strict.*; pass a cotangent of x's array"):
        sg.Sigmoid().vjp(x, np.ones(3))
    got = sg.Sigmoid().vjp(x, 2 * xp.ones(3))
    np.testing.assert_allclose(np.asarray(got), 2 * sg.Sigmoid().surrogate_grad(np.asarray(
        [-1.0, 0.0, 1.0])), rtol=1e-15)


# --------------------------------------------------------------- user-defined surrogates


class Box(sg.Surrogate):
    """Only g' is defined: origin mode is unavailable."""

    width = sg.Param(0.5, gt=0)

    def grad(x, width, *, xp):
        return xp.where(xp.abs(x) <= width, 0.5 / width, xp.zeros_like(x))


def test_user_surrogate_without_primitive():
    b = Box(width=0.25)
    np.testing.assert_array_equal(b.surrogate_grad(np.array([-0.5, 0.0, 0.2])), [0.0, 2.0, 2.0])
    np.testing.assert_array_equal(b.vjp(np.array([0.0]), np.array([3.0])), [6.0])
    with pytest.raises(NotImplementedError, match="defines no primitive"):
        b.surrogate_fun(np.zeros(2))
    with pytest.raises(TypeError, match="origin=True is unavailable"):
        Box(origin=True)
    assert Box.registry_name is None and "box" not in sg.available()


def test_a_formula_that_returns_none_is_a_type_error_on_every_backend():
    """A forgotten ``return``: NumPy made it an array of NaN, silently; JAX a TypeError about
    ``full_like``. Now one TypeError naming the function, with or without a gain."""

    class Forgot(sg.Surrogate):
        def grad(x, *, xp):
            xp.exp(-xp.abs(x))

    arrays = [np.array([0.0, 1.0])]
    if importlib.util.find_spec("jax") is not None:
        import jax.numpy as jnp

        arrays.append(jnp.array([0.0, 1.0]))
    for x in arrays:
        for s in (Forgot(), Forgot(gain=2.0)):
            with pytest.raises(TypeError, match=r"Forgot.grad returned None; .* return missing"):
                s.surrogate_grad(x)


def test_user_surrogate_needs_a_gradient():
    class Nothing(sg.Surrogate):  # an abstract base is allowed; using it says what is missing
        pass

    for use in (Nothing(), Nothing().surrogate_grad):
        with pytest.raises(NotImplementedError, match="defines no surrogate gradient; define grad"):
            use(np.zeros(2))


def _declare(body: str) -> type:
    namespace: dict = {}
    exec("class Declared(sg.Surrogate):\n" + body, {"sg": sg}, namespace)
    return namespace["Declared"]


@pytest.mark.parametrize(("body", "error", "message"), [
    # a permutation binds silently by position: the numbers would be another parameter's
    (("    alpha = sg.Param(1.0, gt=0)\n    beta = sg.Param(2.0, gt=0)\n"
      "    def grad(x, beta, alpha, *, xp): return alpha + 0 * x\n"), TypeError,
     (r"^Declared.grad takes beta in the place of alpha: .* \(alpha, beta\); reorder .*"
      r"def grad\(x, alpha, beta, \*, xp\)$")),
    ("    alpha = sg.Param(1.0, gt=0)\n    def grad(x, *, xp): return 0 * x\n", TypeError,
     (r"^Declared.grad takes 0 parameter\(s\) after x \(none\), but the class declares 1 "
      r"\(alpha\)")),
    ("    def grad(x, alpha, *, xp): return 0 * x\n", TypeError,
     r"takes 1 parameter\(s\) after x \(alpha\), but the class declares 0 \(none\)"),
    (("    alpha = sg.Param(1.0, gt=0)\n    def primitive(x, alpha): return x\n"
      "    def grad(x, alpha, *, xp): return 0 * x\n"), TypeError,
     r"^Declared.primitive must take the array namespace as the keyword argument xp"),
    ("    surrogate_grad = sg.Param(1.0)\n", TypeError,
     r"^Declared: a parameter cannot be named 'surrogate_grad'.*rename it"),
    ("    params = sg.Param(1.0)\n", TypeError, r"cannot be named 'params'"),
    ("    replace = sg.Param(1.0)\n", TypeError, r"cannot be named 'replace'"),
    ("    alpha = sg.Param(-1.0, gt=0)\n", ValueError,
     (r"^Declared: alpha=-1.0 is out of range; allowed: alpha > 0 \(finite\) "
      r"\(the declared default\)$")),
    ("    alpha = sg.Param(3.0, gt=5, lt=2)\n", ValueError,
     r"^Declared: alpha: the declared range \(5 < alpha < 2 \(finite\)\) holds no number$"),
    ("    alpha = sg.Param(2.0, gt=2, le=2)\n", ValueError, r"holds no number"),
    ("    alpha = sg.Param(2.0, gt=float('nan'))\n", ValueError,
     r"^Declared: alpha: gt=nan bounds nothing; pass a real number, or None for no bound$"),
    ("    n = sg.Param(2.5, integer=True, le=4)\n", ValueError,
     r"^Declared: n=2.5 must be a whole number .*\(the declared default\)$"),
    ("    alpha = sg.Param(1.0, gt=0, ge=5, le=10)\n", ValueError,  # the tighter bound shown
     r"^Declared: alpha=1.0 is out of range; allowed: 5 <= alpha <= 10 \(finite\)"),
    ("    alpha = sg.Param(1.0, gt=0, ge=5, le=3)\n", ValueError,
     r"the declared range \(5 <= alpha <= 3 \(finite\)\) holds no number"),
    ("    alpha = sg.Param(1.0, le='3')\n", TypeError,
     r"^Declared: alpha: le='3' is not a number; a bound is a real number, or None"),
    ("    alpha = sg.Param(1.0, le=-10**400)\n", ValueError,  # (no OverflowError)
     r"allowed: alpha <= -100000000...\(401 digits\)"),
    ("    alpha = sg.Param(1.0, gt=0)\n    def grad(x, xp, alpha): return alpha + 0 * x\n",
     TypeError, (r"^Declared.grad takes xp in the place of alpha: it is called as "
                 r"grad\(x, alpha, xp=xp\); make xp keyword-only")),
    ("    def grad(x, *, xp, eps): return eps + 0 * x\n", TypeError,
     r"^Declared.grad requires the keyword argument\(s\) eps, which nothing passes"),
    ("    def grad(*, xp): return 1.0\n", TypeError,
     r"^Declared.grad takes no x: it is called as grad\(x, xp=xp\)"),
])
def test_declaration_mistakes_are_refused_when_the_class_is_made(body, error, message):
    """A class statement's mistakes, each named with the class and parameter, when the class
    is made (a permuted grad used to give another parameter's numbers silently; a parameter
    named surrogate_grad broke that method; an invalid default named neither)."""
    with pytest.raises(error, match=message):
        _declare(body)


def test_subclasses_of_catalogue_classes():
    """A subclass may add a parameter and its own grad (the inherited primitive, which cannot
    take it, is not kept: g is not defined, and surrogate_fun says so), but not keep an
    inherited grad that cannot take it (refused when the class is made; it failed with
    Python's count of arguments at the first call), and may re-declare a parameter to change
    its default, which keeps its place (it moved to the end: LeakyRelu's alpha and beta got
    each other's values)."""
    class Shifted(sg.Sigmoid):
        centre = sg.Param(0.0, ge=-10, le=10)

        def grad(x, alpha, centre, *, xp):
            return sg.Sigmoid.grad(x - centre, alpha, xp=xp)

    np.testing.assert_allclose(Shifted(centre=1.0).surrogate_grad(np.array([1.0])), [1.0])
    assert Shifted.primitive is None and sg.Sigmoid.primitive is not None
    with pytest.raises(NotImplementedError, match="defines no primitive"):
        Shifted().surrogate_fun(np.zeros(2))
    with pytest.raises(TypeError, match=r"Wider.grad takes 1 parameter\(s\) after x \(alpha\), "
                                        r"but the class declares 2 \(alpha, beta\)"):
        class Wider(sg.Sigmoid):
            beta = sg.Param(2.0)

    class Leakier(sg.LeakyRelu):
        alpha = sg.Param(0.2, ge=-1e4, le=1e4)

    assert [p.name for p in Leakier._params] == ["alpha", "beta"]
    np.testing.assert_array_equal(Leakier().surrogate_grad(np.array([-1.0, 1.0])), [0.2, 1.0])
    assert Leakier() == Leakier(alpha=0.2) and repr(Leakier()) == "Leakier(alpha=0.2, beta=1.0)"


def test_parameters_of_a_mixin_are_checked_and_normalised():
    class Mixin:
        alpha = sg.Param(1, gt=0)

    class Fine(Mixin, sg.Surrogate):
        def grad(x, alpha, *, xp):
            return alpha + 0 * x

    assert repr(Fine()) == "Fine(alpha=1.0)"  # the default normalised to a float
    with pytest.raises(ValueError, match=r"^Bad: alpha=-1.0 is out of range; allowed: alpha > 0"):
        class Bad:
            alpha = sg.Param(-1, gt=0)

        class Made(Bad, sg.Surrogate):
            pass


def test_declarations_the_math_can_take_are_accepted():
    """Positions bind: other names, *params, xp taken by position or **kwargs, and a range of
    one number are all fine."""
    for body in ("    alpha = sg.Param(1.0, gt=0)\n    def grad(x, a, *, xp): return a + 0 * x\n",
                 "    alpha = sg.Param(1.0, gt=0)\n    def grad(x, *p, xp): return p[0] + 0 * x\n",
                 "    alpha = sg.Param(1.0, gt=0)\n    def grad(x, alpha, xp): return alpha + 0 * x\n",
                 ("    alpha = sg.Param(1.0, gt=0)\n"
                  "    def grad(x, alpha, **kw): return alpha + 0 * x\n"),
                 ("    alpha = sg.Param(2.0, ge=2, le=2)\n"
                  "    def grad(x, alpha, *, xp): return alpha + 0 * x\n")):
        expected = 2.0 if "le=2" in body else 1.0
        assert _declare(body)().surrogate_grad(np.zeros(1)) == expected, body


def test_subclasses_are_registered_only_when_named():
    class Steeper(sg.Sigmoid):
        pass

    assert Steeper.registry_name is None and sg.get("sigmoid").__class__ is sg.Sigmoid
    assert Steeper(alpha=8.0).surrogate_grad(np.zeros(1)) == 2.0


def test_registry_names_are_unique():
    with pytest.raises(ValueError, match="already taken by spikegrad.surrogates.Sigmoid"):

        class Mine(sg.Surrogate, name="sigmoid"):
            def grad(x, *, xp):
                return x


@pytest.mark.parametrize(("name", "error"), [("snntorch.atan", ValueError), ("", ValueError),
                                             (5, TypeError)])
def test_registry_names_are_reachable_strings(name, error):
    """A dotted name could never be reached through get (dots are other libraries' spellings);
    it was accepted, as were an empty name and a number."""
    with pytest.raises(error, match=rf"^Mine: name={name!r} cannot be registered: "):
        _declare_named(name)
    assert name not in sg.available()


def _declare_named(name):
    class Mine(sg.Surrogate, name=name):
        def grad(x, *, xp):
            return x


def test_redefining_a_class_replaces_its_registration():
    """Re-running a notebook cell defines a new class with the same module and qualified name."""
    source = (
        "class Tri(sg.Surrogate, name='test_redefined_tri'):\n"
        "    scale = sg.Param(1.0, gt=0)\n"
        "    def grad(x, scale, *, xp):\n"
        "        return scale * xp.clip(1 - xp.abs(x), min=0.0)\n"
    )
    namespace = {"sg": sg, "__name__": "__main__"}
    try:
        exec(source, namespace)
        first = namespace["Tri"]
        exec(source, namespace)  # the same cell again
        assert sg.get("test_redefined_tri").__class__ is namespace["Tri"] is not first
        with pytest.raises(ValueError, match="already taken by __main__.Tri"):
            exec(source.replace("class Tri", "class Other"), namespace)
    finally:
        _surrogate._REGISTRY.pop("test_redefined_tri", None)  # leave the catalogue as it was


@given(alpha=st.floats(0.01, 100), beta=st.floats(0.01, 100))
def test_functional_form_equals_class(alpha, beta):
    x = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(sg.s2nn(x, alpha, beta), sg.S2NN(alpha, beta)(x))


# ------------------------------------------------------------ gain and the forward convention


def test_gain_scales_g_and_gprime_on_every_backend(backend):
    x64 = np.asarray([-2.0, -0.3, 0.0, 0.4, 3.0])
    x = backend.array(x64, "float64")
    plain, scaled = sg.Arctan(alpha=2.0), sg.Arctan(alpha=2.0, gain=0.25)
    exact = 0.25 * (1.0 / (1.0 + (np.pi * x64) ** 2))  # (alpha/2)/(1+(pi alpha x/2)^2), alpha=2
    np.testing.assert_allclose(backend.to_numpy(scaled.surrogate_grad(x)), exact, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(scaled.surrogate_fun(x)),
                               0.25 * backend.to_numpy(plain.surrogate_fun(x)), rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(scaled(x)), backend.to_numpy(plain(x)))


def test_spike_at_zero_false_spikes_on_x_above_zero(backend):
    x64 = np.asarray([-1.0, -0.0, 0.0, 1e-300, np.nan])
    x = backend.array(x64, "float64")
    strict = sg.Sigmoid(spike_at_zero=False)
    np.testing.assert_array_equal(backend.to_numpy(strict(x)), [0.0, 0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(backend.to_numpy(sg.Sigmoid()(x)), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_options_in_repr_equality_and_replace():
    s = sg.Sigmoid(alpha=2.0, gain=3.0, spike_at_zero=False)
    assert repr(s) == "Sigmoid(alpha=2.0, gain=3.0, spike_at_zero=False)"
    assert eval(repr(s), vars(sg)) == s  # noqa: S307
    assert s != sg.Sigmoid(alpha=2.0, gain=3.0) and s != sg.Sigmoid(alpha=2.0, spike_at_zero=False)
    assert s.replace(gain=1.0) == sg.Sigmoid(alpha=2.0, spike_at_zero=False)
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"gain": 0.0}, ValueError,
     r"^Sigmoid: gain=0.0 is out of range; allowed: 0.0001 <= gain <= 10000"),
    ({"gain": "2"}, TypeError, r"gain"),
    ({"spike_at_zero": 1}, TypeError, r"spike_at_zero must be True \(spike on x >= 0\) or False"),
])
def test_bad_options_are_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        sg.Sigmoid(**kwargs)


def test_traced_gain_is_refused():
    jax = pytest.importorskip("jax")
    with pytest.raises(TypeError, match="gain is a constant of the formula"):
        jax.jit(lambda g: sg.Sigmoid(gain=g)(1.0))(2.0)


# ------------------------------------------------------------------ braintools-style subclasses


def _braintools_style():
    jnp = pytest.importorskip("jax.numpy")

    class MySurrogate(sg.Surrogate):
        def __init__(self, alpha=1.0):
            super().__init__()
            self.alpha = alpha

        def surrogate_fun(self, x):
            return jnp.sin(x) * self.alpha

        def surrogate_grad(self, x):
            return self.alpha * jnp.cos(x)

    return MySurrogate


def test_braintools_style_subclass_runs_under_jax_transforms():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    s = _braintools_style()(alpha=2.0)
    x = jnp.asarray([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(s(x)), [0.0, 1.0, 1.0])
    want = 2.0 * np.cos([-1.0, 0.0, 1.0])
    for fn in (jax.grad(lambda v: s(v).sum()), jax.jit(jax.grad(lambda v: s(v).sum())),
               jax.vmap(jax.grad(s))):
        np.testing.assert_allclose(np.asarray(fn(x)), want, rtol=1e-6)
    _, tangent = jax.jvp(s, (x,), (jnp.ones(3),))
    np.testing.assert_allclose(np.asarray(tangent), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(s.surrogate_fun(x)),
                               2.0 * np.sin([-1.0, 0.0, 1.0]), rtol=1e-6)
    assert repr(s) == "MySurrogate(alpha=2.0)"


def test_braintools_style_attributes_are_read_afresh_even_under_jit():
    jax = pytest.importorskip("jax")
    s = _braintools_style()(alpha=2.0)
    grad = jax.jit(jax.grad(lambda v: s(v).sum()))
    x = jax.numpy.zeros(2)
    np.testing.assert_allclose(np.asarray(grad(x)), [2.0, 2.0])
    s.alpha = 5.0  # a changed attribute is a new formula: no stale compiled code
    np.testing.assert_allclose(np.asarray(jax.grad(lambda v: s(v).sum())(x)), [5.0, 5.0])


def test_braintools_style_identity_pickling_and_missing_methods():
    cls = _braintools_style()
    a, b = cls(alpha=1.0), cls(alpha=1.0)
    assert a == a and a != b and hash(a) != hash(b)
    assert copy.deepcopy(a).alpha == 1.0 and copy.deepcopy(a) is not a

    class OnlyGrad(sg.Surrogate):
        def surrogate_grad(self, x):
            return x * 0 + 1.0

    s = OnlyGrad()
    np.testing.assert_array_equal(s(np.asarray([-1.0, 1.0])), [0.0, 1.0])
    with pytest.raises(NotImplementedError, match="defines no primitive"):
        s.surrogate_fun(np.asarray([1.0]))
    with pytest.raises(NotImplementedError, match="override the method surrogate_grad"):
        sg.Surrogate()(np.asarray([1.0]))
