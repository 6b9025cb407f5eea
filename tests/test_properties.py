"""Properties of every registered surrogate, at parameters drawn across their declared ranges.

Nothing here names a surrogate (a new one needs no new test code) except the closed-form
references that check the high-precision reference itself. Every property draws the
parameters as well as the inputs: each parameter across its declared range (``Param``'s
``gt``/``ge``/``lt``/``le``), edges included, log-uniformly over wide positive ranges, whole
numbers for integer parameters. A bug that only shows away from the defaults (an ``epsilon``
dropped, a ``1/alpha`` missing where the default is 1) is then found.

* the forward pass is the exact step on every backend, in the input's dtype and shape;
* g and g' are finite for every finite input, the dtype's extremes included, in every dtype
  and on every backend (JAX also with 32-bit parameters, XLA's default);
* g' is the derivative of g (central differences in float64, away from jumps of g');
* g' integrates to g, and g(-inf) = 0 where the integral converges;
* float16 and float32 results are close to float64 (``ULPS`` of ``conftest``), allowing for
  the conditioning of the formula (its sensitivity to a few roundings of x and parameters);
* in the tails, where g' is tiny but a normal float32 number, float32 results are within a small
  relative error of a high-precision reference (mpmath), so a cancelling formula is found;
* ``vjp`` and the backward of the spike (PyTorch autograd, ``jax.vjp``, forward mode) give
  ``cotangent * g'(x)`` for random cotangents, so a backward that ignores its cotangent is found.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spikegrad as sg
from spikegrad import _config
from spikegrad.tools.verify import (
    EPS32,
    PLAN_ULPS,
    assert_product_close,
    check_difference_quotients,
    check_finite,
    check_reduced_precision,
    extremes,
    perturbations,
    primitive_size,
    rounds_to_infinity,
    scales,
)

from .conftest import SURROGATE_CLASSES

try:  # installed with PyTorch (through sympy); only the high-precision properties need it
    import mpmath
except ImportError:  # pragma: no cover - depends on the environment
    mpmath = None
needs_mpmath = pytest.mark.skipif(mpmath is None, reason="mpmath is not installed")

settings.register_profile(
    "spikegrad",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the backend fixture is stateless
)
settings.load_profile("spikegrad")

DTYPES = ("float16", "float32", "float64")
F64_MAX = float(np.finfo(np.float64).max)
TINY32 = float(np.finfo(np.float32).tiny)

WITH_PRIMITIVE = [c for c in SURROGATE_CLASSES if c.primitive is not None]


# ------------------------------------------------------------------ parameters drawn by range


def param_bounds(p: sg.Param) -> tuple[float, float]:
    """The smallest and largest allowed value: open bounds one float inside, none the float64
    extremes (the parameter must still give finite results there)."""
    if p.gt is not None:
        lo = math.nextafter(float(p.gt), math.inf)
    else:
        lo = -F64_MAX if p.ge is None else float(p.ge)
    if p.lt is not None:
        hi = math.nextafter(float(p.lt), -math.inf)
    else:
        hi = F64_MAX if p.le is None else float(p.le)
    return lo, hi


def _log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Values in [lo, hi] (0 < lo < hi) with a uniformly distributed logarithm."""
    return st.floats(math.log(lo), math.log(hi)).map(lambda t: min(max(math.exp(t), lo), hi))


def param_values(p: sg.Param, integers: str = "all") -> st.SearchStrategy[Any]:
    """Any allowed value of ``p``: the edges and the default, anything in between, and (where the
    range spans decades) log-uniform magnitudes, down to subnormal ones above an open 0.

    Integer (structural) parameters: any whole number in range, or with ``integers="edges"``
    only the edges and the default (each value is a new compilation for JAX).
    """
    lo, hi = param_bounds(p)
    if p.integer:
        first, last = math.ceil(lo), math.floor(hi)
        edges = st.sampled_from(sorted({first, last, p.default}))
        return edges if integers == "edges" else st.one_of(edges, st.integers(first, last))
    parts = [st.sampled_from(sorted({lo, hi, float(p.default)})), st.floats(lo, hi)]
    smallest = 5e-324
    if hi > 0 and hi > 10 * max(lo, smallest):
        parts.append(_log_uniform(max(lo, smallest), hi))
    if lo < 0 and -lo > 10 * max(-hi, smallest):
        parts.append(_log_uniform(max(-hi, smallest), -lo).map(lambda v: -v))
    return st.one_of(*parts)


def surrogates(
    cls: type[sg.Surrogate], integers: str = "all", **kwargs: Any
) -> st.SearchStrategy[sg.Surrogate]:
    """``cls`` with every parameter drawn by :func:`param_values`."""
    values = st.fixed_dictionaries({p.name: param_values(p, integers) for p in cls._params})
    return values.map(lambda kw: cls(**kw, **kwargs))


def points(s: sg.Surrogate, size: int, decades: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    """``size`` nonzero float64 points, each a signed scale of ``s`` times 10**u, |u| <= decades."""
    sc = scales(s)
    return st.tuples(
        hnp.arrays(np.int64, size, elements=st.integers(0, len(sc) - 1)),
        hnp.arrays(np.float64, size, elements=st.floats(-decades, decades)),
        hnp.arrays(np.bool_, size),
    ).map(lambda t: np.where(t[2], -1.0, 1.0) * np.asarray(sc)[t[0]] * 10.0 ** t[1])


# --------------------------------------------------------------------- inputs of every dtype


# The shape of the arrays of the backend tests: one shape, one compilation per dtype for JAX.
SHAPE = (2, 4)


def NORMAL_FLOATS(bound: float) -> st.SearchStrategy[float]:  # noqa: N802 - a strategy constant
    """Floats in [-bound, bound], none so small that a 16-bit or float32 copy is subnormal (XLA
    flushes subnormal numbers to zero)."""
    return st.floats(-bound, bound).map(lambda v: v if abs(v) >= 1e-4 else 0.0)


def finite_arrays(dtype: str, max_side: int = 8, subnormal: bool = False):
    # No subnormals by default: XLA on CPU flushes them to zero, so JAX sees -1e-310 as 0 (spike 1).
    return hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=max_side),
        elements=st.floats(
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=subnormal,
            width=np.dtype(dtype).itemsize * 8,
        ),
    )


# ------------------------------------------------------------------ high-precision reference


class MpNamespace:
    """The Array-API subset of the math layer on mpmath scalars: the math functions evaluated in
    arbitrary precision, elementwise (comparisons give Python bools, so ``where`` is ``if``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(mpmath, name)  # exp, expm1, log, log1p, erfc, atan, cos, sin, sqrt, ...

    @staticmethod
    def abs(x: Any) -> Any:
        return abs(x)

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        return a if c else b

    @staticmethod
    def clip(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        if min is not None and x < min:
            x = mpmath.mpf(min)
        if max is not None and x > max:
            x = mpmath.mpf(max)
        return x

    @staticmethod
    def minimum(a: Any, b: Any) -> Any:
        return a if a < b else b

    @staticmethod
    def maximum(a: Any, b: Any) -> Any:
        return a if a > b else b

    @staticmethod
    def remainder(x: Any, y: Any) -> Any:
        return x - y * mpmath.floor(x / y)

    @staticmethod
    def full_like(x: Any, value: Any) -> Any:
        return mpmath.mpf(value)

    @staticmethod
    def zeros_like(x: Any) -> Any:
        return mpmath.mpf(0)

    @staticmethod
    def ones_like(x: Any) -> Any:
        return mpmath.mpf(1)

    @staticmethod
    def square(x: Any) -> Any:
        return x * x

    @staticmethod
    def sign(x: Any) -> Any:
        return mpmath.sign(x)

    @staticmethod
    def isnan(x: Any) -> bool:
        return mpmath.isnan(x)

    @staticmethod
    def astype(x: Any, dtype: Any) -> Any:  # a comparison (a Python bool) as 0 or 1
        return mpmath.mpf(x)


class MpArgument(mpmath.mpf):
    """An mpmath number with the ``dtype`` attribute the math reads (``astype(c, x.dtype)``);
    results of arithmetic on it are plain mpmath numbers."""

    dtype = "mpf"


MP = MpNamespace()
MP_DPS = 60  # float32 tails reach 1e-38 next to terms of order 1: 38 digits, and margin


def mp_values(s: sg.Surrogate) -> list[Any]:
    """The parameters as the math functions take them, as mpmath numbers (integers as ints)."""
    return [v if p.integer else mpmath.mpf(v) for p, v in zip(type(s)._params, s._param_values)]


# Closed forms of a few surrogates' g', written independently of spikegrad._math, so that the
# mpmath evaluation of the math functions is itself checked (test_math_matches_closed_forms).
def _mp_sigmoid(z: Any) -> Any:
    return 1 / (1 + mpmath.exp(-z))


# sigma(z) (1 - sigma(z)) is written sigma(z) sigma(-z): no cancellation at any precision.
CLOSED_FORMS: dict[str, Callable[..., Any]] = {
    "Sigmoid": lambda x, a: a * _mp_sigmoid(a * x) * _mp_sigmoid(-a * x),
    "S2NN": lambda x, a, b, e: (
        a * _mp_sigmoid(a * x) * _mp_sigmoid(-a * x) if x < 0 else b / (x + 1 + e)
    ),
    "PiecewiseExp": lambda x, a: a / 2 * mpmath.exp(-a * abs(x)),
    "ERF": lambda x, a: a / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(a * x) ** 2),
    "GaussianGrad": lambda x, sigma, a: a * mpmath.npdf(x, 0, sigma),
    "SlayerGrad": lambda x, a: mpmath.exp(-a * abs(x)),
    "InvSquareGrad": lambda x, a: 1 / (a * abs(x) + 1) ** 2,
    "Arctan": lambda x, a: a / 2 / (1 + (mpmath.pi / 2 * a * x) ** 2),
    "SoftSign": lambda x, a: a / 2 / (1 + abs(a * x)) ** 2,
    "AlgebraicSigmoid": lambda x, a: a / 2 * (1 + (a * x) ** 2) ** mpmath.mpf(-1.5),
    "FakeNumericalGradient": lambda x, a: a if a * abs(x) <= 1 else 1 / abs(x),
    "LogTailedRelu": lambda x, a: a if x <= 0 else 1 if x <= 1 else 1 / x,
    "SparseFastSigmoid": lambda x, a, b: 1 / (1 + a * abs(x)) ** 2 if x > b else mpmath.mpf(0),
    "QPseudoSpike": lambda x, a: (1 + 2 * abs(x) / (a + 1)) ** -a,
    "QPseudoSpikeUnitArea": lambda x, a: (1 + 2 * abs(x) / (a - 1)) ** -a,
}


def mp_grad(s: sg.Surrogate, x: np.ndarray) -> list[Any]:
    """g'(x) in high precision: the closed form where there is one, else the math function."""
    closed = CLOSED_FORMS.get(type(s).__name__)
    values = mp_values(s)
    with mpmath.workdps(MP_DPS):
        if closed is not None:
            return [closed(mpmath.mpf(float(v)), *values) for v in np.ravel(x)]
        fn = type(s).grad
        return [mpmath.mpf(fn(MpArgument(float(v)), *values, xp=MP)) for v in np.ravel(x)]


def mp_to_float(values: list[Any]) -> np.ndarray:
    return np.asarray([float(v) for v in values])


# ------------------------------------------------------------------------------ the forward


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=10)  # every new shape is a new compilation for JAX
@given(data=st.data())
def test_forward_is_exactly_the_step(backend, cls, data):
    dtype = data.draw(st.sampled_from([d for d in backend.dtypes if d in DTYPES]))
    values = data.draw(finite_arrays(dtype))
    x = backend.array(values, dtype)
    spikes = data.draw(surrogates(cls, integers="edges"))(x)
    assert backend.dtype_name(spikes) == dtype
    assert tuple(spikes.shape) == values.shape
    np.testing.assert_array_equal(backend.to_numpy(spikes), (values >= 0).astype("float64"))


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_step_at_threshold_nan_and_infinities(backend, cls):
    x = backend.array([0.0, -0.0, np.nan, np.inf, -np.inf], "float32")
    np.testing.assert_array_equal(backend.to_numpy(cls()(x)), [1.0, 1.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("cls", WITH_PRIMITIVE)
@settings(max_examples=8)
@given(data=st.data())
def test_origin_forward_is_the_primitive(backend, cls, data):
    s = data.draw(surrogates(cls, integers="edges"))
    x = backend.array([-1.5, -0.2, 0.0, 0.7, 3.0], "float64")
    np.testing.assert_allclose(
        backend.to_numpy(s.replace(origin=True)(x)), backend.to_numpy(s.surrogate_fun(x)),
        rtol=1e-15,
    )
    assert cls(origin=True).origin and not cls().origin


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_dtype_and_shape_kept_for_every_operation(backend, cls):
    s = cls()
    rng = np.random.default_rng(0)
    cases = [(dtype, SHAPE) for dtype in backend.dtypes] + [("float32", ()), ("float32", (0,))]
    for dtype, shape in cases:
        values = np.linspace(-2, 2, int(np.prod(shape))).reshape(shape)
        x = backend.array(values, dtype)
        ct = backend.array(rng.normal(size=shape), dtype)
        outs = [s(x), s.surrogate_grad(x), s.vjp(x, ct)]
        if s.primitive is not None:
            outs.append(s.surrogate_fun(x))
        for out in outs:
            assert backend.dtype_name(out) == dtype
            assert tuple(out.shape) == shape


# ------------------------------------------------------------------------------- finiteness


def where_gprime_fits(s: sg.Surrogate, x: np.ndarray, dtype: str) -> np.ndarray:
    """The points of ``x`` where g' (in float64) is within ``dtype``'s range. A narrow peak can
    exceed float16's 65504 at allowed parameters (multi_gaussian_grad's side peaks, about
    ``scale h / (s sigma)**2``: -71,683 at ``h=5, s=0.1, sigma=0.001, scale=4`` near
    ``x = 0.001``), where inf is the correct rounding of g'. ``check_finite`` counts that as a
    failure, as ``spikegrad check`` reports such parameters of a user's surrogate; the properties
    below assert that nothing else overflows."""
    with np.errstate(all="ignore"):
        exact = s.surrogate_grad(np.asarray(x, dtype=np.float64))
    return x[~rounds_to_infinity(exact, dtype)]


def test_only_a_gprime_beyond_the_dtype_is_left_out_of_the_finiteness_properties():
    """The peak of the example above is left out, and only it: at every surrogate's defaults no
    extreme input is, so the properties below check all of them."""
    peaked = sg.MultiGaussianGrad(h=5, s=0.1, sigma=0.001, scale=4)
    x = extremes("float16")
    with pytest.raises(AssertionError, match=r"grad is not finite in float16 at x = \[ 0.00097656"):
        check_finite(peaked, x, "float16")
    kept = where_gprime_fits(peaked, x, "float16")
    np.testing.assert_array_equal(np.setdiff1d(x, kept), [-0.0009765625, 0.0009760856628417969,
                                                          0.0009765625])
    check_finite(peaked, kept, "float16")
    for cls in SURROGATE_CLASSES:
        for dtype in ("float16", "bfloat16", "float32"):
            assert where_gprime_fits(cls(), extremes(dtype), dtype).size == extremes(dtype).size


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=5)
@given(data=st.data())
def test_g_and_gprime_finite_at_extreme_inputs(backend, cls, data):
    """At any allowed parameters, every backend and dtype (16-bit ones rounded from float32;
    JAX's are checked with 32-bit parameters below)."""
    s = data.draw(surrogates(cls, integers="edges"))
    for dtype in ("float32", "float64") if backend.name == "jax" else backend.dtypes:
        check_finite(s, where_gprime_fits(s, extremes(dtype), dtype), dtype,
                     lambda method, s, v, d: backend.to_numpy(method(s, backend.array(v, d))))


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=5)
@given(data=st.data())
def test_g_and_gprime_finite_with_32_bit_jax_parameters(jax_x32, cls, data):
    """JAX without x64 (its default) computes parameter expressions (1/alpha, ...) in float32
    and flushes subnormal values to zero: tiny and huge allowed parameters must survive that."""
    import jax.numpy as jnp

    s = data.draw(surrogates(cls, integers="edges"))
    for dtype in ("float16", "float32"):  # 16-bit types are computed in float32
        check_finite(s, where_gprime_fits(s, extremes(dtype), dtype), dtype,
                     lambda method, s, v, d: np.asarray(method(s, jnp.asarray(v, dtype=d))))


@pytest.fixture
def jax_x32():
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=40)
@given(data=st.data())
def test_g_and_gprime_finite_for_all_finite_inputs(cls, data):
    s = data.draw(surrogates(cls))
    dtype = data.draw(st.sampled_from(DTYPES))
    x = data.draw(finite_arrays(dtype, max_side=16, subnormal=True))

    def in_dtype(method, s, values, d):
        out = method(s, values.astype(d))
        assert out.dtype == np.dtype(d)
        return out

    check_finite(s, where_gprime_fits(s, x, dtype), dtype, in_dtype)


# ------------------------------------------------------------------ g' is the derivative of g


@pytest.mark.parametrize("cls", WITH_PRIMITIVE)
@settings(max_examples=40)
@given(data=st.data())
def test_gprime_is_the_derivative_of_g(cls, data):
    """Central differences of g in float64 with a step relative to |x|, where g' has no jump.

    The tolerance is the difference quotient's own error: its truncation (estimated from the
    second difference of g') and the rounding of g divided by the step. Parameters are drawn up
    to their upper bounds, where a dropped term (S2NN's epsilon) is far above it.
    """
    s = data.draw(surrogates(cls))
    check_difference_quotients(s, data.draw(points(s, 32)))


def _integral(fn: Callable[[np.ndarray], np.ndarray], a: float, b: float, breaks: list[float]):
    """``(integral of fn over [a, b], integral of |fn|, error estimate)`` by adaptive Gauss-Legendre
    quadrature: pieces between the breakpoints and the powers of 10 (each spans at most a
    decade), each split until its 16-point rule agrees with that of its two parts. A piece
    still unresolved when too narrow to split or among too many (an oscillation too fast to
    follow) adds its disagreement to the error estimate instead."""
    if a == b:
        return 0.0, 0.0, 0.0
    nodes, weights = np.polynomial.legendre.leggauss(16)
    nonzero = [abs(v) for v in (a, b, *breaks) if v != 0]
    k = np.arange(math.floor(math.log10(min(nonzero))), math.ceil(math.log10(max(nonzero))) + 1)
    decades = 10.0 ** k.astype(np.float64)
    cuts = np.concatenate([[a, b], breaks, decades, -decades])
    cuts = np.unique(cuts[(cuts >= a) & (cuts <= b)])
    lo, hi = cuts[:-1], cuts[1:]

    def rule(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half, mid = ((v - u) / 2)[:, None], ((u + v) / 2)[:, None]
        terms = half * weights * fn((mid + half * nodes).ravel()).reshape(u.size, -1)
        return terms.sum(axis=1), np.abs(terms).sum(axis=1)

    total, size, error = 0.0, 0.0, 0.0
    whole, _ = rule(lo, hi)
    while lo.size:
        mid = lo + 0.5414213562373095 * (hi - lo)  # off-centre: no aliasing with round periods
        left, left_abs = rule(lo, mid)
        right, right_abs = rule(mid, hi)
        halves = left + right
        disagreement = np.abs(halves - whole)
        done = disagreement <= 1e-12 * (left_abs + right_abs) + 1e-300
        # a piece too narrow to split further in float64, or too many pieces: stop there
        narrow = hi - lo <= 1e-9 * np.maximum(np.abs(lo), np.abs(hi))
        give_up = ~done & (narrow | (lo.size > 4096))
        total += float(halves[done | give_up].sum())
        size += float((left_abs + right_abs)[done | give_up].sum())
        error += float(disagreement[give_up].sum())
        split = ~(done | give_up)
        lo, hi = np.concatenate([lo[split], mid[split]]), np.concatenate([mid[split], hi[split]])
        whole = np.concatenate([left[split], right[split]])
    return total, size, error


@pytest.mark.parametrize("cls", WITH_PRIMITIVE)
@settings(max_examples=25)
@given(data=st.data())
def test_gprime_integrates_to_g(cls, data):
    """g(b) - g(a) is the integral of g' over [a, b] (kinks of g' sit at 0, at the scales of
    the parameters and at parameter values, the breakpoints of the quadrature); and g(-inf) = 0
    where g' is
    integrable on the left, except where the documented formula of g says otherwise."""
    s = data.draw(surrogates(cls))
    a, b = np.sort(data.draw(points(s, 2)))
    sc = scales(s)
    # ... and at a parameter's value, shifted by the scales (EscapeRate's centre, a cutoff)
    at = [v for p, v in zip(cls._params, s._param_values) if not p.integer]
    signed = [0.0, *sc, *(-v for v in sc)]
    halves = [s_ * 0.5 / v for v in at if 1e-300 < abs(v) for s_ in (1, -1)]  # Rect's edges
    breaks = [*signed, *halves, *(c + d for c in at for d in signed)]
    integral, size, error = _integral(s.surrogate_grad, float(a), float(b), breaks)
    jump_at, jump = PRIMITIVE_JUMPS.get(cls.__name__, (0.0, lambda s: 0.0))
    if a < jump_at <= b:
        integral += jump(s)
    g = s.surrogate_fun(np.asarray([a, b]))
    allowed = 1e-9 * (size + primitive_size(s)) + 2 * error + 1e-300
    assert abs((g[1] - g[0]) - integral) <= allowed, (s, a, b, g[1] - g[0], integral)

    if cls.__name__ in OFFSET_PRIMITIVES:
        return
    # Far left, beyond every scale, where g' decays (at least as 1/|x|) and the mass beyond -X,
    # of the order of X |g'(-X)|, is negligible: g(-X) is then the integral from -inf, 0.
    far = -min(1e20 * max(sc), 1e300) * np.asarray([1.0, 1e-3])
    gp_far = np.abs(s.surrogate_grad(far))
    left = np.asarray([-1e-300, *(-v for v in sc), a, b])
    peak = float(np.abs(s.surrogate_grad(left[left < 0])).max())
    size = primitive_size(s)
    decaying = peak > 1e-290 and gp_far[0] <= 1e-3 * gp_far[1] and gp_far[1] <= 1e-6 * peak
    if decaying and far[0] * -gp_far[0] <= 1e-12 * size:
        mass = -far[0] * gp_far[0]
        assert abs(s.surrogate_fun(far)[0]) <= 10 * mass + 1e-12 * size, (s, far[0])


# Where the documented formula of g differs from the antiderivative of g' with g(-inf) = 0.
# QPseudoSpike (braintools' g): g(-inf) = 1/2 - (alpha + 1) / (2 (alpha - 1)) for alpha > 1.
OFFSET_PRIMITIVES = {"QPseudoSpike"}
# S2NN (braintools' g): g jumps at 0 from 1/2 to 1/2 + beta log(1 + epsilon).
PRIMITIVE_JUMPS = {"S2NN": (0.0, lambda s: s.beta * math.log1p(s.epsilon))}


# -------------------------------------------------------------------------------- precision


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@settings(max_examples=20)
@given(data=st.data())
def test_reduced_precision_close_to_float64(cls, dtype, data):
    """float16 is the float64 reference rounded once (computed in float32); float32 is close.

    Values below the function's scale are compared on that scale, and the tolerance includes
    the reference's change under a few float32 roundings of x and of each parameter (which a
    float32 computation cannot avoid: the parameters themselves are rounded to float32).
    """
    s = data.draw(surrogates(cls))
    width = np.dtype(dtype).itemsize * 8
    moderate = data.draw(hnp.arrays(dtype, 16, elements=st.floats(-40, 40, width=width)))
    with np.errstate(over="ignore"):  # beyond the dtype's range: dropped below
        scaled = data.draw(points(s, 16)).astype(dtype)
        special = np.asarray([0.0, *scales(s), *(-v for v in scales(s))]).astype(dtype)
    x = np.concatenate([moderate, scaled, special])
    check_reduced_precision(s, x[np.isfinite(x)].astype(np.float64), dtype)


def test_reduced_precision_beyond_the_dtypes_range():
    """Found by hypothesis: a narrow multi-Gaussian's g' at its peaks is beyond float16's
    largest number, and rounded once it is -inf, which the check accepts; an infinity of the
    other sign it does not."""
    from spikegrad.tools.verify import assert_close_to_float64

    s = sg.MultiGaussianGrad(h=3.0, s=0.1, sigma=0.001, scale=6.0)
    x = np.float16([0.001, -0.001, 0.0, 0.002]).astype(np.float64)
    assert np.isinf(s.surrogate_grad(x.astype(np.float16))).any()
    check_reduced_precision(s, x, "float16")
    with pytest.raises(AssertionError):
        assert_close_to_float64(np.array([np.inf]), np.array([-66004.0]), "float16", 1.0)


def test_soft_sign_with_the_smallest_alpha():
    """Found by hypothesis when alpha could be a float32-subnormal number (1/alpha + |x|
    overflowed, and g at x = 1/alpha was 1/2 in float32): at the smallest allowed alpha, g at
    x = +-1/alpha is 3/4 and 1/4 in float32 and float64."""
    alpha = sg.SoftSign.alpha.ge
    s = sg.SoftSign(alpha=alpha)
    for dtype in (np.float32, np.float64):
        x = np.asarray([1 / alpha, -1 / alpha], dtype=dtype)
        np.testing.assert_allclose(s.surrogate_fun(x), [0.75, 0.25], rtol=1e-6)


@needs_mpmath
@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=25)
@given(data=st.data())
def test_float32_tails_are_relatively_accurate(cls, data):
    """Where g' is tiny (below 1e-3 of its peak, decaying) but a normal float32 number, float32
    results (NumPy, PyTorch, JAX with its default 32-bit parameters) are within a few ulps,
    relatively, of the high-precision reference, allowing for the reference's own change under a
    few roundings of x and the parameters. A formula that cancels (the textbook sigmoid slope
    s (1 - s), with s rounding to 1) gives 0 or garbage there.
    """
    s = data.draw(surrogates(cls))
    with np.errstate(over="ignore", under="ignore"):
        x = data.draw(points(s, 16, decades=6)).astype(np.float32)
    x = np.where(np.isfinite(x) & (np.abs(x) >= TINY32), x, np.float32(1.0))
    x64 = x.astype(np.float64)
    with mpmath.workdps(MP_DPS):
        ref = mp_grad(s, x64)
        peak = max(abs(v) for v in mp_grad(s, np.asarray([0.0, *x64])))
        wider, narrower = mp_grad(s, 2 * x64), mp_grad(s, 0.5 * x64)
        tail = np.asarray([
            TINY32 <= abs(r) <= min(1e-3 * peak, 1e38)
            and mpmath.sign(r) == mpmath.sign(w) == mpmath.sign(n)
            and abs(w) <= abs(r) <= abs(n)
            for r, w, n in zip(ref, wider, narrower)
        ], dtype=bool)
    target(float(tail.sum()), label="points in a tail")
    if not tail.any():
        return
    delta = 4 * EPS32
    with mpmath.workdps(MP_DPS):
        picked = [r for r, t in zip(ref, tail) if t]
        xt = x64[tail]
        dev = np.zeros(xt.size)
        for xs in (xt * (1 + delta), xt * (1 - delta)):
            moved = [float(abs(a - r) / abs(r)) for a, r in zip(mp_grad(s, xs), picked)]
            dev = np.maximum(dev, moved)
        for other in perturbations(s, delta):
            dev = dev + [float(abs(a - r) / abs(r)) for a, r in zip(mp_grad(other, xt), picked)]
    allowed = 16 * EPS32 + 2 * dev
    for backend, got in float32_results(s, x):
        with mpmath.workdps(MP_DPS):
            error = np.asarray(
                [float(abs(mpmath.mpf(g) - r) / abs(r)) for g, r in zip(got[tail], picked)]
            )
        bad = ~(error <= allowed)
        assert not bad.any(), (
            backend, s, xt[bad], got[tail][bad], mp_to_float(picked)[bad], error[bad], allowed[bad]
        )


def float32_results(s: sg.Surrogate, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """g'(x) of a float32 array on NumPy and, where installed, PyTorch and JAX (JAX with its
    default configuration: 32-bit parameters), as float64."""
    out = [("numpy", s.surrogate_grad(x).astype(np.float64))]
    if importlib.util.find_spec("torch") is not None:
        import torch

        out.append(("torch", s.surrogate_grad(torch.from_numpy(x)).double().numpy()))
    if importlib.util.find_spec("jax") is not None:
        import jax
        import jax.numpy as jnp

        if not jax.config.jax_enable_x64:
            out.append(("jax", np.asarray(s.surrogate_grad(jnp.asarray(x))).astype(np.float64)))
    return out


@needs_mpmath
@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@settings(max_examples=20)
@given(data=st.data())
def test_math_matches_closed_forms(name, data):
    """The math functions, evaluated in high precision (MpNamespace), are the textbook formulas:
    the tail property's reference is right, and so is the math (epsilon included)."""
    cls = sg.get(name).__class__
    s = data.draw(surrogates(cls))
    x = data.draw(points(s, 8, decades=4))
    values = mp_values(s)
    with mpmath.workdps(MP_DPS):
        for v in x:
            xv = mpmath.mpf(float(v))
            closed = CLOSED_FORMS[name](xv, *values)
            mine = cls.grad(MpArgument(xv), *values, xp=MP)
            assert abs(mine - closed) <= 1e-14 * abs(closed) + mpmath.mpf(10) ** -300, (s, v)


# ------------------------------------------------------------------- cotangents and backward


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=6)
@given(data=st.data())
def test_vjp_is_cotangent_times_gradient(backend, cls, data):
    """``vjp(x, ct)`` is ``ct * g'(x)`` for a random (non-constant) cotangent, on every backend;
    16-bit products are computed in float32 and rounded once."""
    s = data.draw(surrogates(cls, integers="edges"))
    values = data.draw(hnp.arrays(np.float64, SHAPE, elements=NORMAL_FLOATS(20)))
    ct_values = data.draw(hnp.arrays(np.float64, SHAPE, elements=NORMAL_FLOATS(4), unique=True))
    for dtype in backend.dtypes:
        compute = "float64" if dtype == "float64" else "float32"
        x, ct = backend.array(values, dtype), backend.array(ct_values, dtype)
        got = backend.to_numpy(s.vjp(x, ct))
        xc = backend.array(backend.to_numpy(x), compute)
        expected = backend.to_numpy(ct).astype(np.float64) * backend.to_numpy(s.surrogate_grad(xc))
        assert_product_close(got, expected, dtype, f"{s!r} vjp", factor=np.abs(ct_values).max(),
                             ulps=_ulps(backend.name, dtype))


def _ulps(backend: str, dtype: str) -> float:
    """The tolerance of a product against ``ct * surrogate_grad(x)`` (the plain operations):
    PyTorch's planned backward rounds its fused sums once (``PLAN_ULPS``)."""
    return PLAN_ULPS if backend == "torch" and dtype in ("float32", "float64") else 2


@pytest.fixture(params=["torch", "jax"])
def autodiff(request):
    """A framework with autodiff: ``(name, array, to_numpy, vjp, jvp or None)``."""
    if request.param == "jax":
        request.getfixturevalue("jax_x64")
        import jax
        import jax.numpy as jnp

        def vjp(f, x, ct):
            _, pullback = jax.vjp(f, x)
            return pullback(ct)[0]

        # Forward mode is the same custom_jvp rule that reverse mode transposes: vjp covers it
        # (and each transform of each dtype is another compilation).
        return (
            "jax",
            lambda v, d: jnp.asarray(np.asarray(v), dtype=d),
            lambda a: np.asarray(a).astype(np.float64),
            vjp,
            None,
        )
    torch = pytest.importorskip("torch")

    def vjp(f, x, ct):
        # The plan, deterministically (in mode "auto" a compiled kernel may serve instead,
        # depending on when it was ready: tested against these operations in test_torch_kernels).
        x = x.detach().requires_grad_(True)
        with _config.torch_fuse_mode("plan"):
            return torch.autograd.grad(f(x), x, ct)[0]

    def jvp(f, x, t):
        return torch.func.jvp(f, (x,), (t,))[1]

    return (
        "torch",
        lambda v, d: torch.as_tensor(np.asarray(v)).to(getattr(torch, d)),
        lambda a: a.detach().to(torch.float64).numpy(),
        vjp,
        jvp,
    )


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=5)  # each (dtype, origin) is a new compilation for JAX
@given(data=st.data())
def test_spike_backward_uses_the_cotangent(autodiff, cls, data):
    """The spike's reverse-mode derivative with a random cotangent is ``ct * g'(x)``, and its
    forward-mode derivative with a random tangent ``t * g'(x)``, with or without ``origin``, in
    any dtype (16-bit: the product in float32, rounded once)."""
    name, array, to_numpy, vjp, jvp = autodiff
    s = data.draw(surrogates(cls, integers="edges"))
    dtype = data.draw(st.sampled_from(["float16", "bfloat16", "float32", "float64"]))
    f = s.replace(origin=data.draw(st.booleans()) and cls.primitive is not None)
    values = data.draw(hnp.arrays(np.float64, SHAPE, elements=NORMAL_FLOATS(20)))
    ct_values = data.draw(hnp.arrays(np.float64, SHAPE, elements=NORMAL_FLOATS(4), unique=True))
    compute = "float64" if dtype == "float64" else "float32"
    x, ct = array(values, dtype), array(ct_values, dtype)
    expected = to_numpy(ct) * to_numpy(s.surrogate_grad(array(to_numpy(x), compute)))
    factor = np.abs(ct_values).max()
    assert_product_close(to_numpy(vjp(f, x, ct)), expected, dtype, f"{name} vjp {f!r}", factor,
                         ulps=_ulps(name, dtype))
    if jvp is not None:
        assert_product_close(to_numpy(jvp(f, x, ct)), expected, dtype, f"{name} jvp {f!r}",
                             factor)
