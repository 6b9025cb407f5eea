r"""The single definition of every surrogate: pure, elementwise Array-API math.

Each surrogate is a pair of functions of ``x`` and its parameters (positional, in the order the
surrogate class declares them) and the array namespace ``xp`` (keyword-only):

* ``<name>_primitive(x, ..., *, xp)``: the smooth stand-in :math:`g(x)` for the spike;
* ``<name>_derivative(x, ..., *, xp)``: its derivative :math:`g'(x)`, the surrogate gradient.

Each function's docstring is its formula in LaTeX (the right-hand side); the surrogate's class
docstring and documentation page show it from there.

Rules every function here follows, so that the same code runs on NumPy, array-api-strict, JAX
(traced, jitted, vmapped), PyTorch (eager and ``torch.compile``) and the CUDA code generator:

* only functions of the Array API standard, plus ``xp.erfc`` (see
  :class:`spikegrad._namespace.MathNamespace`); no ``.shape``, no framework import, no Python
  control flow on array values (loops over a static integer parameter are fine);
* parameters enter only through arithmetic operators, so they may be Python numbers, 0-d arrays
  or JAX tracers;
* every branch of a ``where`` is finite for every finite ``x`` in float32 and float64 (the
  "double where"): an unselected inf or NaN would poison derivatives taken through the ``where``;
* no overflow for finite inputs up to the dtype's maximum (stable sigmoid, clamped arguments);
* NaN in, NaN out: a piecewise-constant formula (where every comparison with NaN is false picks a
  constant) passes ``x`` through :func:`_nan_through`;
* a formula may return a Python number or an array that broadcasts against ``x`` (a constant
  g'); the adapters broadcast it to ``x``'s shape.

The adapters evaluate these functions in float32 for float16 and bfloat16 inputs and round once.
"""

from __future__ import annotations

import math
from typing import Any

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_FLOAT32_MAX = 3.4028234663852886e38  # float32's largest number
_SUM_SCALE = 2.0**64  # see multi_gaussian_grad_derivative
LOG2E = 1.4426950408889634
"""``log2(e)``: backends that compute ``exp(a)`` as ``exp2(a * LOG2E)`` (PyTorch on the CPU,
its compiled kernels) share it."""


# ----------------------------------------------------------------------------------- the spike


def spike(x: Any, *, xp: Any, at_zero: bool = True) -> Any:
    r"""The forward pass :math:`H(x) = [x \ge 0]`, in ``x``'s dtype (0 for NaN).

    With ``at_zero=False`` it is :math:`[x > 0]` instead (0 at the threshold: the convention of
    snntorch and norse). The one place the threshold convention is written; every adapter and
    the kernel generator call it (through :meth:`spikegrad._contract.Formula.spike`).
    A namespace with a ``compare_as`` hook (see :mod:`spikegrad._namespace`) computes it in one
    pass, without a boolean temporary.
    """
    compare_as = getattr(xp, "compare_as", None)
    if compare_as is not None:
        return compare_as(x, "greater_equal" if at_zero else "greater", 0)
    return xp.astype(x >= 0 if at_zero else x > 0, x.dtype)


# ----------------------------------------------------------------------------------- helpers


def _flat_at_infinity(out: Any, x: Any, xp: Any) -> Any:
    """``out`` (a slope times ``x`` or times a tail ``x - c``) with 0 where ``x`` is infinite
    and ``out`` NaN: a slope of 0 times infinity, where a flat tail's value is its limit, 0. A
    NaN slope stays NaN at every finite ``x``."""
    return xp.where(xp.isinf(x) & xp.isnan(out), 0.0, out)


def _nan_through(x: Any, out: Any, xp: Any) -> Any:
    """``out`` with NaN wherever ``x`` is NaN.

    A formula built only from comparisons and constants (a piecewise-constant g') would give a
    number for NaN, since every comparison with NaN is false; NaN must come out instead.
    A namespace with a ``nan_through`` hook (see :mod:`spikegrad._namespace`) does it its way.
    The NaN is ``0 * x``, whose derivative in ``x`` is 0: g'' of a piecewise-constant g' is 0
    at NaN as elsewhere, in JAX as in PyTorch (whose hook's ``clip`` passes no gradient to a
    NaN), not the 1 of ``x`` itself.
    """
    hook = getattr(xp, "nan_through", None)
    if hook is not None:
        return hook(x, out)
    return xp.where(xp.isnan(x), 0.0 * x, out)


def _exp_neg_abs(z: Any, xp: Any) -> Any:
    """``exp(-|z|)``: in (0, 1], never overflows.

    Written ``-1.0 * |z|`` (the same number): XLA's CPU code for ``exp(negate(t))`` is 20-40%
    slower than for ``exp(multiply(t, -1))``.
    """
    return xp.exp(-1.0 * xp.abs(z))


def _sigmoid(z: Any, xp: Any) -> Any:
    """Logistic function, overflow-free for every finite ``z``."""
    e = _exp_neg_abs(z, xp)
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _number(value: Any) -> bool:
    """Whether ``value`` is a Python number (a parameter known when the math is evaluated, not
    an array, a tensor or a traced value), on which the math may choose its form."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def power_of_two(c: Any) -> bool:
    """Whether ``c`` is a Python ``int`` or ``float`` that is a power of two or the negative of
    one: multiplying by it rounds nothing, away from overflow and subnormal numbers (the
    PyTorch plan and the kernel generator fold such factors)."""
    return type(c) in (int, float) and math.isfinite(c) and abs(math.frexp(c)[0]) == 0.5


def _scaled_exp_neg(scale: Any, t: Any, xp: Any, hook: bool = True) -> Any:
    """``scale * exp(-t)`` for ``t >= 0``, with no subnormal intermediate.

    Computed as ``(scale * exp(-t/2)) * exp(-t/2)``: where ``exp(-t)`` alone is subnormal but
    the product with a large ``scale`` is a normal number, the halves are normal (XLA, CPU and
    GPU, and fast CUDA modes flush subnormal intermediates to zero, which would turn such a
    tail value into 0). Where ``scale`` is a number of magnitude up to 1, as written (where
    ``exp(-t)`` is subnormal, so is the result). A namespace with a ``scaled_exp_neg`` hook
    (see :mod:`spikegrad._namespace`) computes it its own way, which may move the exponent by
    ``log(scale)`` (a rounding of that size): ``hook=False`` keeps the halves for a scale far
    from 1.
    """
    if hook and getattr(xp, "scaled_exp_neg", None) is not None:
        return xp.scaled_exp_neg(scale, t)
    if _number(scale) and abs(scale) <= 1:
        return scale * xp.exp(-1.0 * t)
    return _by_halves(scale, -0.5 * t, xp)


def _by_halves(scale: Any, u: Any, xp: Any) -> Any:
    """``scale * exp(2 u)`` (``u <= 0``) as ``(scale * exp(u)) * exp(u)``: see
    :func:`_scaled_exp_neg`, whose halves these are (``u = -t/2``)."""
    half = xp.exp(u)
    return (scale * half) * half


def _sigmoid_slope(z: Any, xp: Any, scale: Any = 1.0) -> Any:
    """``scale * sigmoid(z) * (1 - sigmoid(z))`` as ``(scale q) q``, ``q = h / (1 + h**2)``,
    ``h = exp(-|z|/2)``.

    The textbook product cancels to zero once ``sigmoid(z)`` rounds to 1 (z > 17 in float32);
    this form (``sigmoid(z) (1 - sigmoid(z)) = e / (1 + e)**2 = q**2`` with ``e = h**2``) keeps
    full relative accuracy in both tails and is exactly symmetric. Where ``q**2`` alone would be
    subnormal but the result is a normal number, the scale (the surrogate's alpha) enters first
    (see :func:`_scaled_exp_neg`). One exponential and five arithmetic operations when
    evaluated as written (XLA turns ``h * h`` into a second exponential: a namespace with a
    ``sigmoid_slope`` hook, see :mod:`spikegrad._namespace`, computes it its own way).
    """
    hook = getattr(xp, "sigmoid_slope", None)
    if hook is not None:
        return hook(z, scale)
    h = xp.exp(-0.5 * xp.abs(z))
    q = h / (1.0 + h * h)
    return (scale * q) * q


def _choose_finite(condition: Any, a: Any, b: Any, xp: Any) -> Any:
    """``where(condition, a, b)`` for branches that are finite numbers for every ``x`` but NaN
    (and NaN where it is). A namespace with a ``choose_finite`` hook (see
    :mod:`spikegrad._namespace`) may blend them with a 0/1 mask instead, exact for such
    branches (PyTorch's planned backward: one ``lerp``, where its CPU ``where`` is not
    vectorized)."""
    hook = getattr(xp, "choose_finite", None)
    return hook(condition, a, b) if hook is not None else xp.where(condition, a, b)


def _finite(t: Any, xp: Any) -> Any:
    """``t`` with +-inf lowered to the largest finite number of its dtype (when the namespace
    knows the dtype: ``xp.finfo``), for formulas whose value is the same either way (``t * t``
    overflows to inf all the same) and whose derivative would otherwise multiply 0 by inf:
    g'' would be NaN at +-inf, and where ``t`` overflows for finite x.

    Only derivatives need it: the planned PyTorch backward, first order only, records no
    ``finfo`` and leaves it out (the same numbers, one pass fewer), and so do the generated
    CUDA kernels. A namespace with a ``lower_infinite`` hook (see :mod:`spikegrad._namespace`)
    lowers them only where g' is itself differentiated (JAX)."""
    hook = getattr(xp, "lower_infinite", None)
    if hook is not None:
        return hook(t)
    try:
        largest = float(xp.finfo(t.dtype).max)
    except (AttributeError, TypeError, ValueError):  # mpmath numbers, generated kernels
        return t
    return xp.clip(t, min=-largest, max=largest)


def _rsqrt(s: Any, xp: Any) -> Any:
    """``1 / sqrt(s)``, in one pass where the namespace has an ``rsqrt`` hook (see
    :mod:`spikegrad._namespace`)."""
    hook = getattr(xp, "rsqrt", None)
    return hook(s) if hook is not None else 1.0 / xp.sqrt(s)


def _normal_pdf(
    x: Any, mu: Any, sigma: Any, xp: Any, scale: Any = 1.0, hook: bool = True
) -> Any:
    """``scale`` times the density of the normal distribution N(mu, sigma**2) at ``x``
    (``hook``: see :func:`_scaled_exp_neg`; without it, its halves whatever the scale)."""
    # The exponent is d (d c), d = x - mu, with c = 1 / (2 sigma**2) computed once per call.
    # For the halves c takes their -1/2, which XLA folds into it: one multiplication per
    # element fewer than halving the square of (x - mu) / sigma (multi_gaussian_grad's CPU
    # loop at braintools' 87 instructions per eight elements, from 90). Each factor is finite
    # where differentiated: the derivatives multiply them by the exponential's 0 where the
    # product overflows ((d d) c would multiply an overflowed d d, a constant in sigma, which
    # a namespace's lower_infinite leaves as it is). No declared sigma overflows c or makes
    # it 0.
    d = _finite(x - mu, xp)
    factor = scale / (_SQRT_2PI * sigma)
    if hook:
        return _scaled_exp_neg(factor, d * _finite(d * (0.5 / (sigma * sigma)), xp), xp)
    return _by_halves(factor, d * _finite(d * (-0.25 / (sigma * sigma)), xp), xp)


def _normal_cdf(x: Any, mu: Any, sigma: Any, xp: Any) -> Any:
    """Distribution function of N(mu, sigma**2), accurate in the lower tail (via ``erfc``)."""
    # (mu - x) times 1 / (sigma sqrt 2): where x / sigma**2 overflows (huge x, small sigma),
    # the derivative in sigma is 0 * |x| = 0, not 0 * inf.
    return 0.5 * xp.erfc((mu - x) * (1.0 / (sigma * _SQRT_2)))


def _expm1_ratio(z: Any, xp: Any) -> Any:
    """``expm1(z) / z``, continuous at ``z = 0`` where it is 1.

    Computed from half the argument, ``expm1(z) = expm1(z/2) (expm1(z/2) + 2)``, so that no
    intermediate overflows while the ratio itself is finite (``expm1(z)`` alone overflows
    float32 for ``z > 88.7``, where ``expm1(z) / z`` is still representable).
    """
    half = 0.5 * z
    # Below 2**-60 the ratio is 1 to every dtype's rounding; there it is taken as 1, which also
    # keeps the quotient's derivative from dividing by an underflowed half**2 (NaN for a
    # subnormal half, in the gradient of a trained parameter).
    nonzero = xp.abs(half) > 2.0**-60
    safe = xp.where(nonzero, half, 1.0)
    m = xp.expm1(safe)
    first = xp.where(nonzero, m / safe, 1.0)  # expm1(z/2) / (z/2)
    second = xp.where(nonzero, 0.5 * m + 1.0, 1.0)  # (expm1(z/2) + 2) / 2
    return first * second


def _log1p_2t(t: Any, xp: Any) -> Any:
    """``log(1 + 2 t)`` for ``t >= 0`` without overflow of ``2 t``.

    Uses ``1 + 2t = (1 + t) (1 + t / (1 + t))``: both factors are finite for every finite
    ``t`` and both logs are computed by ``log1p``, so small ``t`` keeps full accuracy. The
    ratio is computed with ``t`` lowered to float32's largest number: the same ratio for every
    finite ``t`` (beyond it the ratio rounds to 1 in float64 too), and 1, its limit, at
    ``t = inf`` (the result is inf), with no special case and no division by zero, and with
    finite derivatives (``t / (1 + t)`` is NaN at inf; ``1 / (1 + 1/t)`` has a 0 * inf in its
    derivative at 0).
    """
    c = xp.clip(t, max=_FLOAT32_MAX)
    return xp.log1p(t) + xp.log1p(c / (1.0 + c))


def _inverse_power(a: Any, d: Any, alpha: Any, xp: Any) -> Any:
    """``(1 + 2 a / d)**-alpha`` for ``a >= 0``, ``d > 0``, as ``exp(-alpha log(1 + 2 a / d))``.

    For an ``alpha`` that is a number above 1.5, one ``log1p(a / (d / 2))``: where that
    quotient overflows to inf (and the result is 0), ``log(1 + 2 a / d)`` is at least the log
    of the dtype's largest number, and ``(1 + 2 a / d)**-alpha`` is below its smallest
    subnormal number (float32 and float64 need an ``alpha`` above 1.17 and 1.05; 16-bit
    inputs are computed in float32), so 0 is its value rounded. Otherwise (a trained or traced
    ``alpha``, or one up to 1.5) the overflow-free :func:`_log1p_2t`, two ``log1p``. A
    namespace with an ``inverse_power`` hook (see :mod:`spikegrad._namespace`) computes it its
    own way.
    """
    hook = getattr(xp, "inverse_power", None)
    if hook is not None:
        return hook(a, d, alpha)
    if _number(alpha) and alpha > 1.5:
        log_base = xp.log1p(a / (0.5 * d))  # halving d rounds nothing: one rounding of 2a / d
    else:
        log_base = _log1p_2t(a / d, xp)
    return xp.exp(-alpha * log_base)


def inverse_power_by_halves(a: Any, h: Any, alpha: Any, xp: Any) -> Any:
    """``(1 + a / h)**-alpha`` (``a >= 0``, ``h = d / 2 > 0``) with one ``log1p`` per element
    for every ``h``, with scalars chosen once per call: the ``inverse_power`` hook of the
    namespaces whose ``alpha`` and ``d`` are not numbers (JAX's, where they are traced, and the
    generated kernels', where they are arguments), where :func:`_inverse_power` takes two
    ``log1p`` to avoid the overflow of ``2 a / d``.

    The logarithm ``L = log(1 + a / h)`` is taken as ``log1p(a / s + q) - c``:

    * ``h >= 1``: ``log1p(a / h)``, the portable math's own form for a number ``alpha`` above
      1.5; ``a / h <= a`` cannot overflow;
    * ``1/2 <= h < 1``: ``log1p(a + (h - 1)) - log h`` (``log(h + a) - log h``): ``h - 1`` is
      exact there (Sterbenz) for an ``h`` of ``a``'s dtype (JAX's; the kernels compute ``h`` in
      double and round ``h - 1`` and ``log h`` once each), ``a + (h - 1)`` cannot overflow,
      and the cancellation near ``a = 0`` costs ``L`` at most ``|log h| <= 0.7`` ulp of 1 (a
      few with the kernels' roundings), which ``exp(-alpha L)`` turns into ``alpha`` times
      that (``alpha < 1`` or ``< 3`` here) relative error;
    * ``h < 1/2`` (only the unit-area form, ``alpha < 2``, so ``alpha > 1``): ``log1p(a / h)``,
      which overflows to inf where ``a / h`` does, giving 0 where the value is below
      ``largest**-alpha``, a subnormal number (which XLA flushes to 0 all the same).
    """
    middle = (h >= 0.5) & (h < 1.0)
    s = xp.where(middle, 1.0, h)
    q = xp.where(middle, h - 1.0, 0.0)
    c = xp.where(middle, xp.log(h), 0.0)
    return xp.exp(-alpha * (xp.log1p(a / s + q) - c))


COS_COEFFICIENTS = (2.443315711809948e-05, -1.388731625493765e-03, 4.166664568298827e-02)
"""Cephes' float32 ``cos r = 1 - r**2/2 + r**4 p(r**2)`` for ``|r| <= pi/4``: ``p``, highest
power first (the cosines of the generated kernels and of JAX's ``phase_cos`` hook)."""
SIN_COEFFICIENTS = (-1.9515295891e-04, 8.3321608736e-03, -1.6666654611e-01)
"""Cephes' float32 ``sin r = r + r**3 p(r**2)`` for ``|r| <= pi/4``: ``p``, highest first."""

PHASE_MAX = 2.0 * math.pi * 199
"""The largest argument of :func:`_phase_cos`: the phase of the last term of a square wave of
100 terms (its ``n`` allows no more)."""


def _phase_cos(t: Any, xp: Any) -> Any:
    """``cos t`` of a phase, ``0 <= t <= PHASE_MAX`` (or NaN): the namespace's ``phase_cos``
    hook where it has one (a cosine for that range alone), else ``xp.cos``."""
    hook = getattr(xp, "phase_cos", None)
    return xp.cos(t) if hook is None else hook(t)


def _period_phase(x: Any, period: Any, xp: Any) -> Any:
    """``2 pi (|x| mod period) / period``, in ``[0, 2 pi)``, for every finite ``x``.

    The remainder of ``|x|`` (both operands positive) is exact where the library computes it
    exactly (NumPy, JAX, the generated kernels), with no rounding of ``x + period`` for
    negative ``x``. It is taken in two steps, modulo ``128 period`` (an exact multiple) and then
    ``period``: a library that computes ``a - b floor(a / b)`` would otherwise overflow
    ``a / b`` for huge ``|x|`` and a period below 1, and return NaN. A namespace with a
    ``magnitude_remainder`` hook (the exact remainder of ``|x|``; see
    :mod:`spikegrad._namespace`) takes it in one step, and so does a period that is a number
    from 1 on (``a / b <= a``).
    """
    magnitude_remainder = getattr(xp, "magnitude_remainder", None)
    if magnitude_remainder is not None:
        a = magnitude_remainder(x, period)
    elif _number(period) and period >= 1:
        a = xp.remainder(xp.abs(x), period)
    else:
        a = xp.remainder(xp.remainder(xp.abs(x), 128.0 * period), period)
    return a * (2.0 * math.pi / period)


# ----------------------------------------------------------------------------------- catalogue


def sigmoid_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\alpha\,\sigma(\alpha x)\,(1 - \sigma(\alpha x))"""
    return _sigmoid_slope(alpha * x, xp, alpha)


def sigmoid_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\sigma(\alpha x) = \frac{1}{1 + e^{-\alpha x}}"""
    return _sigmoid(alpha * x, xp)


def piecewise_quadratic_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\max(0,\ \alpha - \alpha^2 |x|)"""
    # alpha (1 - alpha |x|): alpha**2 would underflow (tiny alpha) or overflow (huge alpha).
    return alpha * xp.clip(1.0 - alpha * xp.abs(x), min=0.0)


def piecewise_quadratic_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} 0 & x < -1/\alpha \\
    -\tfrac{\alpha^2}{2}|x|x + \alpha x + \tfrac12 & |x| \le 1/\alpha \\
    1 & x > 1/\alpha \end{cases}
    """
    # With u = clip(alpha x, -1, 1): g = (1 + u)**2 / 2 for u < 0, 1 - (1 - u)**2 / 2 otherwise
    # (the same polynomial), written so that the left tail keeps its relative accuracy and no
    # alpha**2 or 1/alpha appears.
    u = xp.clip(alpha * x, min=-1.0, max=1.0)
    v = 1.0 - xp.abs(u)
    half_square = 0.5 * (v * v)
    return xp.where(u < 0, half_square, 1.0 - half_square)


def piecewise_exp_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{\alpha}{2} e^{-\alpha|x|}"""
    return _scaled_exp_neg(0.5 * alpha, xp.abs(alpha * x), xp)


def piecewise_exp_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} \tfrac12 e^{\alpha x} & x < 0 \\ 1 - \tfrac12 e^{-\alpha x} & x \ge 0 \end{cases}
    """
    tail = 0.5 * _exp_neg_abs(alpha * x, xp)
    return xp.where(x < 0, tail, 1.0 - tail)


def soft_sign_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{\alpha}{2\,(1 + |\alpha x|)^2}"""
    d = _finite(1.0 + alpha * xp.abs(x), xp)
    return (0.5 * alpha) / (d * d)


def soft_sign_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac12\left(\frac{\alpha x}{1 + |\alpha x|} + 1\right)"""
    # The tail q = 1 / (2 (1 + alpha |x|)), g = q left of 0 and 1 - q right of it: no quotient
    # inf/inf (alpha |x| overflowing gives q = 0, the limit), the left tail keeps its relative
    # accuracy, and no 1/alpha, whose derivative -1/alpha**2 overflows for a small trained
    # alpha (below about 2e-21 in float32: dg/dalpha was NaN there, not x/2).
    q = 0.5 / (1.0 + alpha * xp.abs(x))
    return xp.where(x < 0, q, 1.0 - q)


def arctan_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{\alpha}{2\,\left(1 + (\tfrac{\pi}{2}\alpha x)^2\right)}"""
    z = _finite((0.5 * math.pi * alpha) * x, xp)
    return (0.5 * alpha) / (1.0 + z * z)


def arctan_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{1}{\pi}\arctan\left(\tfrac{\pi}{2}\alpha x\right) + \frac12"""
    return xp.atan((0.5 * math.pi * alpha) * x) / math.pi + 0.5


def nonzero_sign_log_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{1}{1/\alpha + |x|}"""
    return 1.0 / (1.0 / alpha + xp.abs(x))


def nonzero_sign_log_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\operatorname{sgn}(x)\,\log(1 + \alpha|x|), \quad \operatorname{sgn}(0) = 1"""
    t = xp.abs(x)
    u = alpha * t  # may overflow to inf for alpha > 1; then the second branch is taken
    small = u <= 1.0
    t_big = xp.where(small, 1.0, t)  # keep 1/t finite in the branch not taken
    magnitude = xp.where(
        small,
        xp.log1p(xp.where(small, u, 0.0)),
        xp.log(t_big) + xp.log(alpha + 1.0 / t_big),
    )
    return xp.where(x < 0, -magnitude, magnitude)


def erf_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{\alpha}{\sqrt\pi} e^{-\alpha^2 x^2}"""
    z = _finite(alpha * x, xp)
    return _scaled_exp_neg(alpha / _SQRT_PI, z * z, xp)


def erf_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \frac12\operatorname{erfc}(-\alpha x) = \frac12\left(1 + \operatorname{erf}(\alpha x)\right)
    """
    return 0.5 * xp.erfc(-alpha * x)


def piecewise_leaky_relu_derivative(x: Any, c: Any, w: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \frac{1}{2w} & |x| \le w \\ c & |x| > w \end{cases}"""
    return _nan_through(x, xp.where(xp.abs(x) <= w, 0.5 / w, xp.full_like(x, c)), xp)


def piecewise_leaky_relu_primitive(x: Any, c: Any, w: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} c x + c w & x < -w \\
    \frac{x}{2w} + \frac12 & |x| \le w \\
    c x - c w + 1 & x > w \end{cases}
    """
    xc = xp.clip(x, min=-w, max=w)
    leak = c * (x - xc)
    leak = _flat_at_infinity(leak, x, xp)
    return xc * (0.5 / w) + 0.5 + leak


def squarewave_fourier_series_derivative(x: Any, n: int, t_period: Any, *, xp: Any) -> Any:
    r"""\frac{4}{T}\sum_{i=1}^{n}\cos\left((2i-1)\frac{2\pi}{T}x\right)"""
    # g' is even and t_period-periodic: the phase of |x| (see _period_phase).
    phase = _period_phase(x, t_period, xp)
    c = _phase_cos(phase, xp)
    if n == 1:
        total = c
    else:
        # The first two terms from one cosine: cos p + cos 3p = 2 cos p cos 2p = c (4 c^2 - 2).
        # Cosines cost most of g' (half the time of the default n = 2), and 3p is not rounded.
        total = c * (4.0 * (c * c) - 2.0)
    for i in range(3, n + 1):
        total = total + _phase_cos((2 * i - 1) * phase, xp)
    return (4.0 / t_period) * total


def squarewave_fourier_series_primitive(x: Any, n: int, t_period: Any, *, xp: Any) -> Any:
    r"""\frac12 + \frac{2}{\pi}\sum_{i=1}^{n}\frac{\sin\left((2i-1)\frac{2\pi}{T}x\right)}{2i-1}"""
    # g - 1/2 is odd: the sine series at the phase of |x|, with x's sign.
    phase = _period_phase(x, t_period, xp)
    total = xp.sin(phase)
    for i in range(2, n + 1):
        total = total + xp.sin((2 * i - 1) * phase) / (2 * i - 1)
    total = (2.0 / math.pi) * total
    return 0.5 + xp.where(x < 0, -total, total)


def s2nn_derivative(x: Any, alpha: Any, beta: Any, epsilon: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} \alpha\,\sigma(\alpha x)(1 - \sigma(\alpha x)) & x < 0 \\
    \frac{\beta}{x + 1 + \epsilon} & x \ge 0 \end{cases}
    """
    # |x| in the right branch keeps it finite where it is not selected (x <= -1).
    right = beta / (xp.abs(x) + (1.0 + epsilon))
    return _choose_finite(x < 0, _sigmoid_slope(alpha * x, xp, alpha), right, xp)


def s2nn_primitive(x: Any, alpha: Any, beta: Any, epsilon: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} \sigma(\alpha x) & x < 0 \\
    \beta \log(x + 1 + \epsilon) + \frac12 & x \ge 0 \end{cases}
    """
    right = beta * xp.log1p(xp.abs(x) + epsilon) + 0.5
    return xp.where(x < 0, _sigmoid(alpha * x, xp), right)


def q_pseudo_spike_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\left(1 + \frac{2|x|}{\alpha + 1}\right)^{-\alpha}"""
    return _inverse_power(xp.abs(x), alpha + 1.0, alpha, xp)


def q_pseudo_spike_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \frac12 + \operatorname{sgn}(x)\,\frac{\alpha + 1}{2(\alpha - 1)}\left(1 - \left(1 + \frac{2|x|}{\alpha+1}\right)^{1-\alpha}\right)
    \quad (\text{its limit } \operatorname{sgn}(x)\log(1+|x|) + \tfrac12 \text{ at } \alpha = 1)
    """
    # integral of (1 + 2|t|/d)^-alpha, d = alpha + 1:
    #   (d/2) (1 - (1 + 2|x|/d)^(1-alpha)) / (alpha - 1) = (d/2) L expm1((1-alpha) L)/((1-alpha) L)
    # with L = log(1 + 2|x|/d); the ratio form is continuous through alpha = 1 (then (d/2) L).
    # Since g' <= 1, the half area is at most |x| (up to rounding: a few units above it as
    # alpha -> 0): computed at half its size, it stays finite where it approaches |x| (|x| near
    # the dtype's maximum), except where rounding pushes its double past the maximum: there it
    # is |x|. (Not min(half, |x|/2): as alpha -> 0
    # the half rounds onto |x|/2 or past it, and the minimum dropped d g / d alpha, to 0 or
    # half its value in float64 for alpha below about 1e-10.)
    # At x = +-inf (where L = inf and the ratio form is inf * 0) the half area is its limit:
    # d / (2 (alpha - 1)) for alpha > 1, else inf (|x| itself).
    infinite = xp.isinf(x)
    t = xp.abs(xp.where(infinite, 0.0, x))
    log_base = _log1p_2t(t / (alpha + 1.0), xp)
    half = (0.25 * (alpha + 1.0)) * log_base * _expm1_ratio((1.0 - alpha) * log_base, xp)
    doubled = 2.0 * half
    half_area = xp.where(xp.isinf(doubled), t, doubled)
    a = alpha + xp.zeros_like(x)
    converges = a > 1.0
    limit = xp.where(converges, (0.5 * (a + 1.0)) / xp.where(converges, a - 1.0, 1.0), xp.abs(x))
    half_area = xp.where(infinite, limit, half_area)
    return 0.5 + xp.where(x < 0, -half_area, half_area)


def leaky_relu_derivative(x: Any, alpha: Any, beta: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \alpha & x < 0 \\ \beta & x \ge 0 \end{cases}"""
    return _nan_through(x, xp.where(x < 0, alpha, xp.full_like(x, beta)), xp)


def leaky_relu_primitive(x: Any, alpha: Any, beta: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \alpha x & x < 0 \\ \beta x & x \ge 0 \end{cases}"""
    return _flat_at_infinity(xp.where(x < 0, alpha * x, beta * x), x, xp)


def log_tailed_relu_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \alpha & x \le 0 \\ 1 & 0 < x \le 1 \\ 1/x & x > 1 \end{cases}"""
    # 1 / max(x, 1) where x > 0, alpha elsewhere: selected by a 0/1 mask m, which is exact
    # (m / max(x, 1) is finite or NaN; NaN comes out for NaN).
    m = xp.astype(x > 0, x.dtype)
    return m / xp.clip(x, min=1.0) + (1.0 - m) * alpha


def log_tailed_relu_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \alpha x & x \le 0 \\ x & 0 < x \le 1 \\ 1 + \log x & x > 1 \end{cases}"""
    tail = x > 1.0
    left = alpha * x
    left = _flat_at_infinity(left, x, xp)
    inner = xp.where(x > 0, x, left)
    return xp.where(tail, 1.0 + xp.log(xp.where(tail, x, 1.0)), inner)


def relu_grad_derivative(x: Any, alpha: Any, width: Any, *, xp: Any) -> Any:
    r"""\max(0,\ \alpha\,w - \alpha|x|)"""
    return alpha * xp.clip(width - xp.abs(x), min=0.0)


def relu_grad_primitive(x: Any, alpha: Any, width: Any, *, xp: Any) -> Any:
    r"""
    \alpha\left(w\,x_c - \tfrac12|x_c|x_c + \tfrac12 w^2\right),
    \quad x_c = \operatorname{clip}(x, -w, w)
    """
    # The same polynomial as alpha (w + x_c)^2 / 2 left of 0 and alpha (w^2 - (w - x_c)^2 / 2)
    # right of it: exactly 0 at x_c = -w and no cancellation in the left tail (the sum as
    # written left alpha times a subnormal rounding of w^2 where w^2 is subnormal: g(-inf) > 0).
    xc = xp.clip(x, min=-width, max=width)
    left = width + xc
    right = width - xc
    return alpha * xp.where(xc < 0, 0.5 * (left * left), width * width - 0.5 * (right * right))


def gaussian_grad_derivative(x: Any, sigma: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\alpha\,\frac{1}{\sqrt{2\pi}\,\sigma} e^{-x^2/(2\sigma^2)}"""
    return _normal_pdf(x, 0.0, sigma, xp, alpha)


def gaussian_grad_primitive(x: Any, sigma: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \alpha\,\Phi(x/\sigma) = \frac{\alpha}{2}\operatorname{erfc}\left(-\frac{x}{\sigma\sqrt2}\right)
    """
    return alpha * _normal_cdf(x, 0.0, sigma, xp)


def multi_gaussian_grad_derivative(
    x: Any, h: Any, s: Any, sigma: Any, scale: Any, *, xp: Any
) -> Any:
    r"""
    \text{scale}\left[(1+h)\,\mathcal N(x; 0, \sigma) - h\,\mathcal N(x; \sigma, s\sigma) - h\,\mathcal N(x; -\sigma, s\sigma)\right]
    """
    # The factors enter each density before its exponential can underflow (_scaled_exp_neg),
    # and the three densities are summed at 2**64 times their size: each may be subnormal
    # where their sum is not, and XLA (and fast CUDA modes) flush subnormal numbers to zero.
    # Scaling by a power of two rounds nothing (the peak is below 1e6, far from overflowing);
    # the halves keep it so (a namespace's scaled_exp_neg may move the exponent by its log).
    up = _SUM_SCALE
    centre = _normal_pdf(x, 0.0, sigma, xp, (scale * (1.0 + h)) * up, hook=False)
    side = (scale * h) * up
    sides = (_normal_pdf(x, sigma, s * sigma, xp, side, hook=False)
             + _normal_pdf(x, -sigma, s * sigma, xp, side, hook=False))
    return (centre - sides) * (1.0 / up)


def multi_gaussian_grad_primitive(
    x: Any, h: Any, s: Any, sigma: Any, scale: Any, *, xp: Any
) -> Any:
    r"""
    \text{scale}\left[(1+h)\,\Phi\left(\tfrac{x}{\sigma}\right) - h\,\Phi\left(\tfrac{x-\sigma}{s\sigma}\right) - h\,\Phi\left(\tfrac{x+\sigma}{s\sigma}\right)\right]
    """
    centre = (1.0 + h) * _normal_cdf(x, 0.0, sigma, xp)
    sides = _normal_cdf(x, sigma, s * sigma, xp) + _normal_cdf(x, -sigma, s * sigma, xp)
    return scale * (centre - h * sides)


def inv_square_grad_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{1}{(\alpha|x| + 1)^2}"""
    d = _finite(1.0 + alpha * xp.abs(x), xp)
    return 1.0 / (d * d)


def inv_square_grad_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} \frac{1}{\alpha(1 + \alpha|x|)} & x < 0 \\
    \frac{2}{\alpha} - \frac{1}{\alpha(1 + \alpha|x|)} & x \ge 0 \end{cases}
    """
    # (1 / (1 + alpha |x|)) / alpha: where alpha |x| overflows, the derivative in alpha is
    # |x| / inf**2 = 0, where 1 / (alpha (1 + alpha |x|)) made it 0 * inf.
    tail = (1.0 / (1.0 + alpha * xp.abs(x))) / alpha
    return xp.where(x < 0, tail, 2.0 / alpha - tail)


def slayer_grad_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""e^{-\alpha|x|}"""
    return _exp_neg_abs(alpha * x, xp)


def slayer_grad_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} \frac{1}{\alpha}e^{\alpha x} & x < 0 \\
    \frac{2}{\alpha} - \frac{1}{\alpha}e^{-\alpha x} & x \ge 0 \end{cases}
    """
    tail = _scaled_exp_neg(1.0 / alpha, xp.abs(alpha * x), xp)
    return xp.where(x < 0, tail, 2.0 / alpha - tail)


# ------------------------------------------- from the snntorch, spikingjelly and norse catalogues


def rect_derivative(x: Any, alpha: Any, leak: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \alpha & |x| < \frac{1}{2\alpha} \\ c & |x| \ge \frac{1}{2\alpha} \end{cases}"""
    inside = xp.abs(x) < 0.5 / alpha
    return _nan_through(x, xp.where(inside, alpha, xp.full_like(x, leak)), xp)


def rect_primitive(x: Any, alpha: Any, leak: Any, *, xp: Any) -> Any:
    r"""
    \alpha x_c + \tfrac12 + c\,(x - x_c), \quad x_c = \operatorname{clip}\left(x, -\frac{1}{2\alpha},
    \frac{1}{2\alpha}\right)
    """
    return piecewise_leaky_relu_primitive(x, leak, 0.5 / alpha, xp=xp)


def fake_numerical_gradient_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\min\left(\alpha, \frac{1}{|x|}\right)"""
    # As written: 1/|x| is 0 at +-inf, and |x| is raised to 2**-32 first, below which 1/|x| is
    # above every alpha (<= 1e4) all the same: no division by zero (which some number types,
    # mpmath's, refuse), and a finite derivative (g'' = 0 there, not 0 * inf). Four arithmetic
    # passes, no select.
    return xp.clip(1.0 / xp.clip(xp.abs(x), min=2.0**-32), max=alpha)


def fake_numerical_gradient_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \operatorname{sgn}(x) \begin{cases} \alpha|x| & \alpha|x| \le 1 \\
    1 + \log(\alpha|x|) & \alpha|x| > 1 \end{cases}
    """
    t = xp.abs(x)
    inner = alpha * t <= 1.0
    t_far = xp.where(inner, 1.0, t)
    magnitude = xp.where(
        inner, alpha * xp.where(inner, t, 0.0),
        1.0 + xp.log(t_far) + xp.log(alpha + xp.zeros_like(t)),
    )
    return xp.where(x < 0, -magnitude, magnitude)


def escape_rate_derivative(x: Any, rate: Any, center: Any, *, xp: Any) -> Any:
    r"""e^{-\beta|x - c|}"""
    return _exp_neg_abs(rate * (x - center), xp)


def escape_rate_primitive(x: Any, rate: Any, center: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} \frac{1}{\beta}e^{\beta (x - c)} & x < c \\
    \frac{2}{\beta} - \frac{1}{\beta}e^{-\beta (x - c)} & x \ge c \end{cases}
    """
    return slayer_grad_primitive(x - center, rate, xp=xp)


def _fast_sigmoid_rise(t: Any, b: Any, alpha: Any, xp: Any) -> Any:
    """``(t - b) / (1 + alpha t)`` for ``0 <= b <= t`` (``t`` may be inf), with no overflow and
    no cancellation: ``(1 - b/t) / (1/t + alpha)`` from ``t = 1`` on."""
    big = t >= 1.0
    t_big = xp.where(big, t, 1.0)
    t_small = xp.where(big, 0.0, t)
    return xp.where(
        big,
        (1.0 - b / t_big) / (1.0 / t_big + alpha),
        (t_small - xp.where(big, 0.0, b)) / (1.0 + alpha * t_small),
    )


def sparse_fast_sigmoid_derivative(x: Any, alpha: Any, cutoff: Any, *, xp: Any) -> Any:
    r"""\begin{cases} \frac{1}{(1 + \alpha|x|)^2} & x > B \\ 0 & x \le B \end{cases}"""
    # A 0/1 mask over d**2 >= 1 (or inf, or NaN for NaN): exactly 1/d**2 or 0, NaN for NaN.
    d = _finite(1.0 + alpha * xp.abs(x), xp)
    return xp.astype(x > cutoff, x.dtype) / (d * d)


def sparse_fast_sigmoid_primitive(x: Any, alpha: Any, cutoff: Any, *, xp: Any) -> Any:
    r"""
    \begin{cases} 0 & x \le B \\ F(x) - F(B) & x > B \end{cases}, \quad
    F(x) = \frac{x}{1 + \alpha|x|}
    """
    # F(x) - F(B) cancels where x and B are close or both large; on each side of 0 the
    # difference is written as one quotient instead ((x - B) / ((1 + aB)(1 + ax)) for B >= 0).
    b = xp.zeros_like(x) + cutoff
    c = xp.abs(b)
    above = x > b
    xa = xp.where(above, x, b)  # x where it counts; the cutoff elsewhere (a valid argument)
    nonnegative = b >= 0
    right = _fast_sigmoid_rise(xp.where(nonnegative, xa, c), c, alpha, xp) / (1.0 + alpha * c)
    t = xp.minimum(xp.abs(xp.clip(xa, max=0.0)), c)  # |x| for B < x <= 0
    left = _fast_sigmoid_rise(c, t, alpha, xp) / (1.0 + alpha * t)
    zero = xp.zeros_like(x)
    across = _fast_sigmoid_rise(c, zero, alpha, xp) + _fast_sigmoid_rise(
        xp.clip(xa, min=0.0), zero, alpha, xp
    )
    value = xp.where(nonnegative, right, xp.where(xa <= 0, left, across))
    return _nan_through(x, xp.where(above, value, 0.0), xp)


def algebraic_sigmoid_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac{\alpha}{2}\left(1 + (\alpha x)^2\right)^{-3/2}"""
    # r = (1 + t^2)^-1/2 in (0, 1], the scale entering first (see _scaled_exp_neg). Where t^2
    # overflows (|t| > 1.8e19 in float32, 1.3e154 in float64), r = 0 gives the correctly
    # rounded 0: g' < (alpha / 2) |t|^-3 is then below the type's smallest number (alpha <= 1e4).
    # t = +-inf is lowered to the largest number (_finite): the same 0, and g'' = 0 there.
    t = _finite(alpha * x, xp)
    r = _rsqrt(1.0 + t * t, xp)
    return ((0.5 * alpha) * r) * r * r


def algebraic_sigmoid_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\frac12\left(1 + \frac{\alpha x}{\sqrt{1 + (\alpha x)^2}}\right)"""
    t = xp.abs(alpha * x)
    big = t > 1.0
    u = 1.0 / xp.where(big, t, 1.0)
    r = xp.sqrt(1.0 + u * u)
    far_left = 0.5 * (u * u) / ((1.0 + r) * r)  # (1 - 1/r) / 2 without cancellation
    t_near = xp.where(big, 0.0, t)
    q = t_near / xp.sqrt(1.0 + t_near * t_near)
    near = 0.5 + 0.5 * xp.where(x < 0, -q, q)
    return xp.where(big, xp.where(x < 0, far_left, 1.0 - far_left), near)


def q_pseudo_spike_unit_area_derivative(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""\left(1 + \frac{2|x|}{\alpha - 1}\right)^{-\alpha}"""
    return _inverse_power(xp.abs(x), alpha - 1.0, alpha, xp)


def q_pseudo_spike_unit_area_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    r"""
    \frac12 + \frac{\operatorname{sgn}(x)}{2}\left(1 - \left(1 + \frac{2|x|}{\alpha - 1}\right)^{1-\alpha}\right)
    """
    # integral of (1 + 2|t|/d)^-alpha over [0, |x|], d = alpha - 1: (1 - (1 + 2|x|/d)^-d) / 2,
    # written -expm1(-d L) / 2 with L = log(1 + 2|x|/d) (no cancellation near 0).
    # |x|/d overflows for a huge |x| where L does not (alpha near 1: d is small); there
    # 1 + 2|x|/d is 2|x|/d to every digit and L = log 2 + log|x| - log d, which keeps the
    # gradient of a trained alpha a number (it was NaN at |x| > 1.8e305 in float64 for
    # alpha = 1.001, from d(|x|/d)/d alpha = -inf). (The double where: no inf in either branch.)
    d = alpha - 1.0
    t = xp.abs(x)
    huge = xp.isinf(t / d) & ~xp.isinf(t)
    small_base = _log1p_2t(xp.where(huge, 0.0, t) / d, xp)
    log_d = math.log(d) if _number(d) else xp.log(d)  # (d: a number, or a trained array)
    huge_base = (math.log(2.0) - log_d) + xp.log(xp.where(huge, t, 1.0))
    log_base = xp.where(huge, huge_base, small_base)
    half_area = -0.5 * xp.expm1(-d * log_base)
    return 0.5 + xp.where(x < 0, -half_area, half_area)
