"""JAX adapter: the spike as a ``jax.custom_jvp`` whose tangent rule is ``g'(x) * t``.

Why ``custom_jvp`` and not ``custom_vjp``: braintools users rely on forward mode (``jax.jvp``,
``jax.jacfwd``, ``jax.hessian``), which ``custom_vjp`` forbids. A custom JVP rule that is
linear in the tangent is transposed by JAX for reverse mode, so one rule serves ``grad``,
``vjp``, ``jvp``, ``jacfwd``, ``jacrev``, ``linearize`` and higher derivatives; the rule computes
g'(x) with ordinary ``jax.numpy`` operations, so differentiating it again gives g''(x).

The formula (the math and its structural parameters) is a static argument; parameter values are
ordinary arguments, concrete or traced (``jit`` or ``vmap`` over a parameter), so new values need
no recompilation. Either way the spike's derivative with respect to a parameter is zero, unless
the surrogate trains it (``trainable=``, :attr:`Formula.trainable`): then the rule adds
``dg/dalpha * alpha_dot``, with ``dg/dalpha`` from ``jax.jvp`` of the primitive (autodiff
through the one definition, no hand-written parameter derivative). That tangent is linear in
``alpha_dot``, so JAX transposes it for reverse mode: ``grad`` gives ``sum(v * dg/dalpha)``.

The math runs inside ``jax.jit``-compiled helpers, cached per formula and mode: called eagerly,
a surrogate costs one dispatch per pass, not one per ``jax.numpy`` operation. Under an outer
``jit`` they are inlined and fused by XLA.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from spikegrad._contract import Formula, Spec
from spikegrad._dtypes import FLOATING_DTYPES, not_floating_error
from spikegrad._evaluate import check_cotangent_shape, evaluate, finite_points
from spikegrad._math import (
    COS_COEFFICIENTS,
    SIN_COEFFICIENTS,
    _finite,
    inverse_power_by_halves,
)
from spikegrad._math import _nan_through as _portable_nan_through  # the form it differentiates
from spikegrad._namespace import MathNamespace


def _differentiated_as(guarded: Callable[..., jax.Array]
                       ) -> Callable[[Callable[..., jax.Array]], Callable[..., jax.Array]]:
    """Decorator: the function as written where only its value is asked for, and ``guarded``
    (the same value, written so that its derivatives are numbers where the plain form's
    would multiply 0 by inf) wherever it is differentiated.

    A ``jax.custom_jvp`` whose rule is ``jax.jvp(guarded, ...)``: the rule's primal and tangent
    are ``guarded``'s, so every derivative (g'' and higher, ``hessian``, a trained parameter's
    tangent, in every argument) goes through the guards, while the first-order pass, which
    only evaluates g', runs without them: the guards are compares, selects and clamps in
    every element of XLA's loop."""

    def decorate(plain: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
        function = jax.custom_jvp(plain)
        function.defjvp(lambda primals, tangents: jax.jvp(guarded, primals, tangents))
        return functools.wraps(plain)(function)

    return decorate


def _sigmoid_slope_as(z: jax.Array, scale: Any, guarded: bool) -> jax.Array:
    """:func:`_sigmoid_slope` as written (``guarded=False``) or, for its derivatives, with the
    exponent lowered where ``exp`` overflows: the value is 0 either way, and the derivative is
    then 0 too, not 0 * inf (NaN in g'' at +-inf and for huge x)."""
    t = jnp.abs(z)
    m = jnp.maximum(0.25 * scale, 1.0)
    u = t - jnp.log(m)
    c, r = jnp.minimum(scale, 4.0), jnp.reciprocal(m)
    if guarded:
        over = u > _log_largest(t.dtype)
        a = jnp.where(over, 0.0, c / (r + jnp.exp(jnp.where(over, 0.0, u))))
    else:
        a = c / (r + jnp.exp(u))
    return a * (1.0 - jnp.minimum(jnp.reciprocal(scale), jnp.finfo(t.dtype).max) * a)


@_differentiated_as(functools.partial(_sigmoid_slope_as, guarded=True))
def _sigmoid_slope(z: jax.Array, scale: Any) -> jax.Array:
    """The ``sigmoid_slope`` hook: ``scale * sigmoid(z) * (1 - sigmoid(z))`` with one
    exponential and one division per element.

    The portable form squares ``exp(-|z|/2)``, which XLA rewrites into a second exponential
    (``exp(a) * exp(a)`` becomes ``exp(2a)``): 1.5x braintools' time at 1M elements. Here
    ``a = scale / (1 + exp(|z|))`` (``scale * sigmoid(-|z|)``) and the result is
    ``a (1 - a / scale)``, where ``a / scale = sigmoid(-|z|) <= 1/2`` (no cancellation).
    ``a`` is a normal number wherever the result is (XLA flushes subnormal intermediates to
    zero). ``exp(|z|)`` overflows once ``scale e^-|z|`` is below the smallest normal number only
    while ``scale <= 4`` (``log(max * tiny) = log 4`` in IEEE formats); a larger scale shifts
    the exponent by ``log(m)``, ``m = scale / 4``, computed once per call:
    ``a = (scale/m) / (1/m + exp(|z| - log m))``. ``1/scale`` is capped at the dtype's largest
    number, so a scale that is 0 in the compute dtype gives 0, not NaN. Where ``exp`` overflows,
    ``a`` is 0 as written; derivatives are taken through :func:`_sigmoid_slope_as` with its guard.
    """
    return _sigmoid_slope_as(z, scale, guarded=False)


def _nan_through_as_where(x: jax.Array, out: jax.Array) -> jax.Array:
    """:func:`_nan_through` as the portable math writes it, ``where(isnan(x), 0 * x, out)``."""
    return _portable_nan_through(x, out, jnp)


@_differentiated_as(_nan_through_as_where)
def _nan_through(x: jax.Array, out: jax.Array) -> jax.Array:
    """The ``nan_through`` hook: ``out``, or NaN where ``x`` is NaN, as ``clamp(out, x, out)``.

    XLA's clamp keeps a NaN operand (HLO's maximum and minimum propagate NaN), so a clamp
    between two equal bounds is ``out`` wherever ``x`` is a number, infinities included, and
    NaN where it is NaN: a maximum and a minimum per element, where ``where(isnan(x), x, out)``
    is an unordered comparison and a blend whose mask registers LLVM spills in the
    surrogate's loop (``leaky_relu`` under ``jit`` at 16M elements: 1.08-1.12 of braintools'
    time with the ``where``, 1.00-1.04 with the clamp, 15 and 21 interleaved rounds in one
    process).
    Derivatives go through the ``where`` (:func:`_differentiated_as`): a clamp's tangent in
    its bounds is not ``out``'s. Where ``out`` has another shape or dtype than ``x`` (a
    trained parameter's array), the ``where`` serves. This needs XLA's NaN-propagating
    minimum and maximum, its default (``--xla_cpu_enable_fast_min_max`` off).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from spikegrad.backends._jax import _nan_through
    >>> x = jnp.array([jnp.nan, jnp.inf, -jnp.inf, -0.0, 2.0])
    >>> _nan_through(x, jnp.where(x < 0, 0.1, 1.0)).tolist()
    [nan, 1.0, 0.10000000149011612, 1.0, 1.0]
    """
    if x.shape != out.shape or x.dtype != out.dtype:
        return _nan_through_as_where(x, out)
    return jax.lax.clamp(out, x, out)


def _scaled_exp_neg(scale: Any, t: jax.Array) -> jax.Array:
    """The ``scaled_exp_neg`` hook: ``scale * exp(-t)`` (``t >= 0``) with one exponential.

    The portable form, ``(scale * exp(-t/2)) * exp(-t/2)``, keeps the scale ahead of underflow
    (XLA flushes subnormal numbers to zero) at the cost of two multiplications, which tip
    XLA's CPU loop over LLVM's unrolling threshold: 1.2-1.3x braintools' time at 1M elements.
    Here a scale up to 1 multiplies ``exp(-t)`` as written (where that is subnormal, so is the
    result), and a larger scale enters the exponent: ``k exp(-(t - s))`` with ``s = log scale``
    rounded and ``k = scale exp(-s)``, which is 1 but for the rounding of ``s``, so the peak
    (``t = 0``) is exact to the roundings of two exponentials. ``exp(-(t - s))`` is the result
    itself, a normal number wherever the result is; where ``t`` is below ``s``, ``t - s``
    keeps ``t`` to the ulp of ``s``, which moves the result by up to about ``log(scale) / 2``
    ulps near the peak (scales of 5,000 to 40,000: 7-11 ulps, against the halves' 2-6).
    ``s`` and ``k`` are computed once per call, in ``t``'s dtype (a 16-bit trained scale is
    converted, as 16-bit inputs are computed in float32). Written with a multiplication by
    -1: XLA's CPU code for ``exp(negate(u))`` is slower.
    """
    scale = jnp.asarray(scale, dtype=t.dtype)
    shift = jnp.log(jnp.maximum(scale, 1.0))
    return (scale * jnp.exp(-shift)) * jnp.exp((t - shift) * -1.0)


def _inverse_power(a: jax.Array, d: Any, alpha: Any) -> jax.Array:
    """The ``inverse_power`` hook: ``(1 + 2 a / d)**-alpha`` (``a >= 0``, ``d > 0``) with one
    ``log1p`` per element for every ``d``, where ``alpha`` and ``d`` are traced (as the adapter
    passes every parameter) and the portable math takes two to avoid the overflow of
    ``2 a / d`` (3.6x ``jax.nn.sigmoid``'s time at a million elements under ``jit``): see
    :func:`spikegrad._math.inverse_power_by_halves`, here with ``h = d / 2`` in ``a``'s dtype
    (``h - 1`` is then exact)."""
    return inverse_power_by_halves(a, jnp.asarray(0.5 * d, dtype=a.dtype), alpha, jnp)


# pi/2 in four float32 parts (8e-20 from it), the first three of 8, 11 and 11 bits: k times each
# is exact for the k of a phase (k < 2**10), and so is t - k P1 (Sterbenz).
_PIO2 = (1.5703125, 4.837512969970703125e-4, 7.549533620476723e-08, 2.5633440682570896e-12)


def _phase_cos(t: jax.Array) -> jax.Array:
    """The ``phase_cos`` hook: ``cos t`` for ``0 <= t <= 2 pi 199`` (the square wave's phases),
    in float32 operations XLA vectorizes (its own ``cos``, for any argument, takes about 10
    ns per element on the CPU, most of the square wave's time). ``t = k pi/2 + r`` with ``k``
    the nearest whole number to ``2t / pi`` and ``|r| <= pi/4`` (Cody and Waite's reduction
    in four parts), then ``cos r``, ``-sin r``, ``-cos r`` or ``sin r`` by ``k mod 4``, from
    Cephes' float32 polynomials; within 2 ulps. Other dtypes take ``jnp.cos``."""
    if t.dtype != jnp.float32:
        return jnp.cos(t)
    k = jnp.round(t * np.float32(2.0 / np.pi))
    r = t
    for part in _PIO2:
        r = r - k * np.float32(part)
    z = r * r
    c, s = np.float32(COS_COEFFICIENTS[0]), np.float32(SIN_COEFFICIENTS[0])
    for cos_coefficient, sin_coefficient in zip(COS_COEFFICIENTS[1:], SIN_COEFFICIENTS[1:]):
        c = c * z + np.float32(cos_coefficient)
        s = s * z + np.float32(sin_coefficient)
    c = c * (z * z) - np.float32(0.5) * z + np.float32(1.0)
    s = s * (z * r) + r
    quadrant = k - np.float32(4.0) * jnp.floor(k * np.float32(0.25))
    v = jnp.where((quadrant == 1.0) | (quadrant == 3.0), s, c)
    return jnp.where((quadrant == 1.0) | (quadrant == 2.0), -v, v)


REMAINDER_QUOTIENTS = 2.0**11
"""The largest quotient ``a / b`` that :func:`_magnitude_remainder` reduces in its own
operations (``k`` and ``hi`` share a float32 significand: 11 + 13 bits)."""
_REMAINDER_DIVISORS = (2.0**-100, 2.0**100)
"""The divisors it reduces: far from subnormal numbers (XLA flushes them to zero) and
overflow."""


def _nearest_remainder(a: jax.Array, b: jax.Array) -> jax.Array:
    """``fmod(a, b)``, exactly, for float32 ``0 <= a <= REMAINDER_QUOTIENTS b`` and ``b`` within
    :data:`_REMAINDER_DIVISORS`, in operations XLA vectorizes; NaN for a NaN ``a``.

    ``b = hi + lo`` with ``hi`` the first 13 bits of ``b``'s significand (``lo >= 0`` the
    rest) and ``k`` the whole number nearest to ``a / b``, from the reciprocal (near a half
    it may be the other neighbour). Then ``k hi`` and ``k lo`` are exact (11 + 13 bits and 11
    + 11), and so is ``a - k hi``: a multiple of ``b``'s last place (or within a factor of two
    of ``hi``, for ``k = 1`` and ``a < b``) whose magnitude ``|a - k b| + k lo`` stays below
    the top of ``b``'s binade. So is the remainder nearest to zero, ``(a - k hi) - k lo``, a
    number, which a negative sign moves up by ``b``. ``k = 0`` gives ``a`` itself, also where
    ``a`` is subnormal (a select: arithmetic would flush it to zero). Checked bit for bit
    against NumPy's ``fmod`` on 84 million pairs from across the range of ``b``, with ``a``
    at and next to whole and half multiples of ``b``."""
    significand_mask = np.int32(~0x7FF)  # keeps 13 of the 24 bits (11 of the 23 stored)
    hi = jax.lax.bitcast_convert_type(
        jax.lax.bitcast_convert_type(b, jnp.int32) & significand_mask, jnp.float32)
    lo = b - hi
    k = jnp.round(a * (np.float32(1.0) / b))
    r = (a - k * hi) - k * lo
    return jnp.where(k == 0.0, a, jnp.where(r < 0.0, r + b, r))


def _magnitude_remainder(x: jax.Array, b: Any) -> jax.Array:
    """The ``magnitude_remainder`` hook: ``|x| mod b`` for ``b > 0``, exactly.

    XLA's ``remainder`` (``jnp.fmod``) is a call of C's ``fmod`` for every element, about 5 ns
    each on the CPU (unless the divisor is a constant power of two), most of the square
    wave's time. In float32, :func:`_nearest_remainder` computes it in vectorized operations
    (a tenth of that time) wherever the quotient is at most :data:`REMAINDER_QUOTIENTS`
    (``|x|`` up to 2048 periods). An array with any other element (or a NaN or infinite one)
    takes ``jnp.fmod`` for those elements, and a divisor outside :data:`_REMAINDER_DIVISORS`
    for all, chosen by a ``lax.cond`` over ``x`` (under ``vmap`` both branches run): its
    operand is ``x`` itself, not a computed ``|x|``, which XLA would write to memory first.
    Other dtypes take ``jnp.fmod``."""
    if x.dtype != jnp.float32:
        return jnp.fmod(jnp.abs(x), b)
    b = jnp.asarray(b, dtype=x.dtype)
    smallest, largest = (np.float32(bound) for bound in _REMAINDER_DIVISORS)
    limit = np.float32(REMAINDER_QUOTIENTS) * b
    # A parameter batched by vmap is an array: every divisor in range, or C's fmod throughout.
    divisors_in_range = (jnp.min(b) >= smallest) & (jnp.max(b) <= largest)

    def nearest(x: jax.Array, b: jax.Array) -> jax.Array:
        return _nearest_remainder(jnp.abs(x), b)

    def by_fmod(x: jax.Array, b: jax.Array) -> jax.Array:
        a = jnp.abs(x)
        outside = (a > limit) | ~divisors_in_range
        return jnp.where(outside, jnp.fmod(a, b), _nearest_remainder(a, b))

    # A NaN maximum is not below the limit either.
    largest_x = jnp.max(jnp.abs(x), initial=np.float32(0.0))
    inside = (largest_x <= jnp.min(limit)) & divisors_in_range
    return jax.lax.cond(inside, nearest, by_fmod, x, b)


@_differentiated_as(lambda t: _finite(t, jnp))
def _lower_infinite(t: jax.Array) -> jax.Array:
    """The ``lower_infinite`` hook: ``t`` itself where only the value is asked for, and the
    portable clip of :func:`spikegrad._math._finite` wherever it is differentiated (g'' and
    higher, the trained parameters' tangents).

    :func:`spikegrad._math._finite` is used only where the formula's value is the same with
    ``t`` infinite or lowered to the largest number (``t * t`` overflows to inf either way), so
    the first-order pass, which only evaluates g', needs no clip: under ``jit`` XLA's loop
    drops a clamp (erf and gaussian_grad at a million elements: 1.15-1.3x braintools' time
    with it). A derivative of g' would multiply 0 by an infinite ``t``; the clipped ``t`` is
    what JAX differentiates through instead.
    """
    return t


@functools.lru_cache(maxsize=None)
def _log_largest(dtype: Any) -> float:
    """The largest number of ``dtype`` whose exponential is finite (log of its largest number,
    rounded down)."""
    largest = np.finfo(dtype).max
    u = np.asarray(np.log(np.float64(largest)), dtype=dtype)
    with np.errstate(over="ignore"):
        while not np.isfinite(np.exp(u)):
            u = np.nextafter(u, dtype.type(0))
    return float(u)


_NS = MathNamespace(
    jnp, erfc=jax.lax.erfc, sigmoid_slope=_sigmoid_slope, scaled_exp_neg=_scaled_exp_neg,
    magnitude_remainder=_magnitude_remainder, lower_infinite=_lower_infinite,
    inverse_power=_inverse_power, phase_cos=_phase_cos, nan_through=_nan_through,
)


# Compared as dtype objects: ``dtype.name`` is computed in Python by NumPy on every access
# (2 us, a fifth of an eager call on 4096 elements).
_FLOATING = frozenset(jnp.dtype(name) for name in FLOATING_DTYPES)


def _as_floating(x: Any, what: str = "x") -> jax.Array:
    if not isinstance(x, (jax.Array, jax.core.Tracer)):
        try:
            x = jnp.asarray(x)
        except (TypeError, ValueError) as exc:
            np.asarray(x)  # a ragged list: NumPy's ValueError names the inconsistent shape
            raise TypeError(
                f"spikegrad cannot make a JAX array of {what}={x!r} ({exc}); pass a floating "
                "JAX or NumPy array, Python float or list of floats"
            ) from None
    if x.dtype not in _FLOATING:
        raise not_floating_error(x.dtype, f"{what}.astype(jnp.float32)")
    return x


@functools.partial(jax.jit, static_argnums=(0,))
def _derivative(formula: Formula, x: jax.Array, values: tuple[Any, ...]) -> jax.Array:
    return evaluate(formula.derivative, x, values, _NS)


@functools.partial(jax.jit, static_argnums=(0,))
def _primitive(formula: Formula, x: jax.Array, values: tuple[Any, ...]) -> jax.Array:
    return evaluate(formula.primitive, x, values, _NS)


@functools.partial(jax.jit, static_argnums=(0,))
def _times_derivative(
    formula: Formula, x: jax.Array, values: tuple[Any, ...], v: jax.Array
) -> jax.Array:
    """``v * g'(x)``: a cotangent, or a tangent (linear in ``v``, so JAX transposes it)."""
    return evaluate(formula.derivative, x, values, _NS, v)


@functools.partial(jax.jit, static_argnums=(0,))
def _parameter_tangent(
    formula: Formula, x: jax.Array, values: tuple[Any, ...], dots: tuple[Any, ...]
) -> jax.Array:
    """``sum_i dg(x; values)/dvalue_i * dot_i`` over the trainable values, in ``x``'s dtype: the
    forward-mode derivative of the primitive (computed under the dtype rules of ``evaluate``)
    with respect to those values, taken at :func:`~spikegrad._evaluate.finite_points` (no NaN
    at +-inf)."""
    trained = formula.trainable
    x = finite_points(x, _NS)

    def primitive(*chosen: Any) -> jax.Array:
        merged = list(values)
        for i, value in zip(trained, chosen):
            merged[i] = value
        return evaluate(formula.primitive, x, tuple(merged), _NS)

    _, tangent = jax.jvp(primitive, tuple(values[i] for i in trained), dots)
    return tangent


@functools.partial(jax.jit, static_argnums=(0,))
def _step(formula: Formula, x: jax.Array) -> jax.Array:
    return formula.spike(x, xp=_NS)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _differentiable(
    formula: Formula, origin: bool, recompute: bool, x: jax.Array, values: tuple[Any, ...]
) -> jax.Array:
    """The spike (or g when ``origin``) at x; its derivative in x is g'(x), in the trainable
    values that of g, in the other values 0. With ``recompute``, reverse mode keeps ``x``
    (and the values) for the backward pass and computes g'(x) there, fused with the product
    by the cotangent (see :func:`_recomputed`)."""
    return _primitive(formula, x, values) if origin else _step(formula, x)


def _recomputed(function: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """``function`` (of a static formula and arrays) under ``jax.checkpoint`` saving nothing:
    linearized, it keeps its inputs rather than its intermediates.

    Linearized eagerly (``jax.grad`` or ``jax.vjp`` outside ``jit``), the tangent rule's
    ``v * g'(x)`` is split by JAX into a forward part, g'(x), written to a new array kept for
    the backward pass, and a backward part, its product with the cotangent. Kept as inputs
    instead, ``x`` is the caller's array (the forward part writes nothing but the spike) and
    the backward pass is one compiled loop over ``x``, the values and the cotangent: eager
    forward+backward at a million elements took 0.15-0.65x the native eager call's time,
    against 0.9-1.3x with g'(x) kept. Under ``jit`` XLA fuses both parts anyway, and the
    checkpoint's barrier costs it 5-15%: the adapter asks for it only where the values are
    known (:func:`_known`)."""
    return jax.checkpoint(function, static_argnums=(0,),
                          policy=jax.checkpoint_policies.nothing_saveable)


_times_derivative_recomputed = _recomputed(_times_derivative)
_parameter_tangent_recomputed = _recomputed(_parameter_tangent)


@_differentiable.defjvp
def _differentiable_jvp(
    formula: Formula, origin: bool, recompute: bool, primals: tuple[Any, ...],
    tangents: tuple[Any, ...]
) -> tuple[jax.Array, jax.Array]:
    x, values = primals
    x_dot, values_dot = tangents  # constant parameters: their tangents are dropped
    out = _differentiable(formula, origin, recompute, x, values)
    times_derivative, parameter_tangent = (
        (_times_derivative_recomputed, _parameter_tangent_recomputed) if recompute
        else (_times_derivative, _parameter_tangent))
    tangent = times_derivative(formula, x, values, x_dot)
    if formula.trainable:
        dots = tuple(values_dot[i] for i in formula.trainable)
        tangent = tangent + parameter_tangent(formula, x, values, dots)
    return out, tangent


# Called eagerly, a jitted function is differentiated as one unit whose JVP and transpose JAX
# caches; the bare custom_jvp function would be re-traced rule by rule on every call.
_differentiable_jit = jax.jit(_differentiable, static_argnums=(0, 1, 2))


def _known(x: Any) -> bool:
    """Whether ``x``'s value is known now: an array, or the tracer of eager autodiff
    (``jax.grad``, ``jax.vjp``, ``jax.jvp`` outside ``jit``) of one, whose primal is an array;
    not under ``jit``, ``vmap`` or any other trace. Tracers without a ``primal`` (JAX's
    internal attribute) count as unknown: the choice only changes where g'(x) is computed."""
    while isinstance(x, jax.core.Tracer):
        x = getattr(x, "primal", None)
    return x is not None


def _differentiable_of(spec: Spec, origin: bool, x: jax.Array) -> jax.Array:
    """The spike (or g) of ``spec`` at ``x``, recomputing g'(x) in reverse mode where ``x``'s
    value is known (see :func:`_recomputed`)."""
    return _differentiable_jit(spec.formula, origin, _known(x), x, spec.values)


class JaxAdapter:
    """The JAX backend (see the module docstring)."""

    name = "jax"
    accepts_text = "a JAX array (or a NumPy array, Python float or list, converted)"

    def accepts(self, x: Any) -> bool:
        return isinstance(x, (jax.Array, jax.core.Tracer, np.ndarray, np.generic, numbers.Real,
                              list, tuple))

    def spike(self, spec: Spec, x: Any) -> jax.Array:
        return _differentiable_of(spec, False, _as_floating(x))

    def fun(self, spec: Spec, x: Any) -> jax.Array:
        return _differentiable_of(spec, True, _as_floating(x))

    def grad(self, spec: Spec, x: Any) -> jax.Array:
        return _derivative(spec.formula, _as_floating(x), spec.values)

    def vjp(self, spec: Spec, x: Any, cotangent: Any) -> jax.Array:
        x = _as_floating(x)
        cotangent = _as_floating(cotangent, "cotangent")
        check_cotangent_shape(x, cotangent)  # before tracing: a clear error, not a trace error
        return _times_derivative(spec.formula, x, spec.values, cotangent)


ADAPTER = JaxAdapter()
