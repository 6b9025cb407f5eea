r"""The single definition of every surrogate: pure, elementwise Array-API math.

Each surrogate is a pair of functions of ``x`` and its parameters (positional, in the order the
surrogate class declares them) and the array namespace ``xp`` (keyword-only):

* ``<name>_primitive(x, ..., *, xp)``: the smooth stand-in :math:`g(x)` for the spike;
* ``<name>_grad(x, ..., *, xp)``: its derivative :math:`g'(x)`, the surrogate gradient.

Rules every function here follows, so that the same code runs on NumPy, array-api-strict, JAX
(traced, jitted, vmapped), PyTorch (eager and ``torch.compile``) and the CUDA code generator:

* only functions of the Array API standard, plus ``xp.erfc`` (see
  :class:`spikegrad._namespace.MathNamespace`); no ``.shape``, no framework import, no Python
  control flow on array values (loops over a static integer parameter are fine);
* parameters enter only through arithmetic operators, so they may be Python numbers, 0-d arrays
  or JAX tracers;
* every branch of a ``where`` is finite for every finite ``x`` in float32 and float64 (the
  "double where"): an unselected inf or NaN would poison derivatives taken through the ``where``;
* no overflow for finite inputs up to the dtype's maximum (stable sigmoid, clamped arguments).

The adapters evaluate these functions in float32 for float16 and bfloat16 inputs and round once.
"""

from __future__ import annotations

import math
from typing import Any

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ----------------------------------------------------------------------------------- helpers


def _exp_neg_abs(z: Any, xp: Any) -> Any:
    """``exp(-|z|)``: in (0, 1], never overflows."""
    return xp.exp(-xp.abs(z))


def _sigmoid(z: Any, xp: Any) -> Any:
    """Logistic function, overflow-free for every finite ``z``."""
    e = _exp_neg_abs(z, xp)
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_slope(z: Any, xp: Any) -> Any:
    """``sigmoid(z) * (1 - sigmoid(z))`` as ``e / (1 + e)**2`` with ``e = exp(-|z|)``.

    The textbook product cancels to zero once ``sigmoid(z)`` rounds to 1 (z > 17 in float32);
    this form keeps full relative accuracy in both tails and is exactly symmetric.
    """
    e = _exp_neg_abs(z, xp)
    return e / ((1.0 + e) * (1.0 + e))


def _normal_pdf(x: Any, mu: Any, sigma: Any, xp: Any) -> Any:
    """Density of the normal distribution N(mu, sigma**2) at ``x``."""
    z = (x - mu) / sigma
    return xp.exp(-0.5 * (z * z)) / (_SQRT_2PI * sigma)


def _normal_cdf(x: Any, mu: Any, sigma: Any, xp: Any) -> Any:
    """Distribution function of N(mu, sigma**2), accurate in the lower tail (via ``erfc``)."""
    return 0.5 * xp.erfc(-(x - mu) / (sigma * _SQRT_2))


def _expm1_ratio(z: Any, xp: Any) -> Any:
    """``expm1(z) / z``, continuous at ``z = 0`` where it is 1."""
    nonzero = z != 0
    safe = xp.where(nonzero, z, 1.0)
    return xp.where(nonzero, xp.expm1(safe) / safe, 1.0)


def _log1p_2t(t: Any, xp: Any) -> Any:
    """``log(1 + 2 t)`` for ``t >= 0`` without overflow of ``2 t``.

    Uses ``1 + 2t = (1 + t) (1 + t / (1 + t))``: both factors are finite for every finite
    ``t`` and both logs are computed by ``log1p``, so small ``t`` keeps full accuracy.
    """
    return xp.log1p(t) + xp.log1p(t / (1.0 + t))


# ----------------------------------------------------------------------------------- catalogue


def sigmoid_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    return alpha * _sigmoid_slope(alpha * x, xp)


def sigmoid_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    return _sigmoid(alpha * x, xp)


def piecewise_quadratic_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    return xp.clip(alpha - alpha * alpha * xp.abs(x), min=0.0)


def piecewise_quadratic_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    half_width = 1.0 / alpha
    xc = xp.clip(x, min=-half_width, max=half_width)
    return (-0.5 * alpha * alpha) * xp.abs(xc) * xc + alpha * xc + 0.5


def piecewise_exp_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    return (0.5 * alpha) * _exp_neg_abs(alpha * x, xp)


def piecewise_exp_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    tail = 0.5 * _exp_neg_abs(alpha * x, xp)
    return xp.where(x < 0, tail, 1.0 - tail)


def soft_sign_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    d = 1.0 + alpha * xp.abs(x)
    return (0.5 * alpha) / (d * d)


def soft_sign_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    # x / (1/alpha + |x|) rather than alpha x / (1 + |alpha x|): the latter is inf/inf for huge x.
    return 0.5 * (x / (1.0 / alpha + xp.abs(x)) + 1.0)


def arctan_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    z = (0.5 * math.pi * alpha) * x
    return (0.5 * alpha) / (1.0 + z * z)


def arctan_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    return xp.atan((0.5 * math.pi * alpha) * x) / math.pi + 0.5


def nonzero_sign_log_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    return 1.0 / (1.0 / alpha + xp.abs(x))


def nonzero_sign_log_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
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


def erf_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    z = alpha * x
    return (alpha / _SQRT_PI) * xp.exp(-(z * z))


def erf_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    return 0.5 * xp.erfc(-alpha * x)


def piecewise_leaky_relu_grad(x: Any, c: Any, w: Any, *, xp: Any) -> Any:
    return xp.where(xp.abs(x) <= w, 0.5 / w, xp.full_like(x, c))


def piecewise_leaky_relu_primitive(x: Any, c: Any, w: Any, *, xp: Any) -> Any:
    xc = xp.clip(x, min=-w, max=w)
    return xc * (0.5 / w) + 0.5 + c * (x - xc)


def squarewave_fourier_series_grad(x: Any, n: int, t_period: Any, *, xp: Any) -> Any:
    # The series is t_period-periodic: reduce first so the phases stay finite for huge x.
    phase = xp.remainder(x, t_period) * (2.0 * math.pi / t_period)
    total = xp.cos(phase)
    for i in range(2, n + 1):
        total = total + xp.cos((2 * i - 1) * phase)
    return (4.0 / t_period) * total


def squarewave_fourier_series_primitive(x: Any, n: int, t_period: Any, *, xp: Any) -> Any:
    phase = xp.remainder(x, t_period) * (2.0 * math.pi / t_period)
    total = xp.sin(phase)
    for i in range(2, n + 1):
        total = total + xp.sin((2 * i - 1) * phase) / (2 * i - 1)
    return 0.5 + (2.0 / math.pi) * total


def s2nn_grad(x: Any, alpha: Any, beta: Any, epsilon: Any, *, xp: Any) -> Any:
    # |x| in the right branch keeps it finite where it is not selected (x <= -1).
    right = beta / (xp.abs(x) + (1.0 + epsilon))
    return xp.where(x < 0, alpha * _sigmoid_slope(alpha * x, xp), right)


def s2nn_primitive(x: Any, alpha: Any, beta: Any, epsilon: Any, *, xp: Any) -> Any:
    right = beta * xp.log1p(xp.abs(x) + epsilon) + 0.5
    return xp.where(x < 0, _sigmoid(alpha * x, xp), right)


def q_pseudo_spike_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    log_base = _log1p_2t(xp.abs(x) / (alpha + 1.0), xp)
    return xp.exp(-alpha * log_base)


def q_pseudo_spike_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    # integral of (1 + 2|t|/d)^-alpha, d = alpha + 1:
    #   (d/2) (1 - (1 + 2|x|/d)^(1-alpha)) / (alpha - 1) = (d/2) L expm1((1-alpha) L)/((1-alpha) L)
    # with L = log(1 + 2|x|/d); the ratio form is continuous through alpha = 1 (then (d/2) L).
    log_base = _log1p_2t(xp.abs(x) / (alpha + 1.0), xp)
    half_area = (0.5 * (alpha + 1.0)) * log_base * _expm1_ratio((1.0 - alpha) * log_base, xp)
    return 0.5 + xp.where(x < 0, -half_area, half_area)


def leaky_relu_grad(x: Any, alpha: Any, beta: Any, *, xp: Any) -> Any:
    return xp.where(x < 0, alpha, xp.full_like(x, beta))


def leaky_relu_primitive(x: Any, alpha: Any, beta: Any, *, xp: Any) -> Any:
    return xp.where(x < 0, alpha * x, beta * x)


def log_tailed_relu_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    tail = x > 1.0
    inner = xp.where(x > 0, 1.0, xp.full_like(x, alpha))
    return xp.where(tail, 1.0 / xp.where(tail, x, 1.0), inner)


def log_tailed_relu_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    tail = x > 1.0
    inner = xp.where(x > 0, x, alpha * x)
    return xp.where(tail, 1.0 + xp.log(xp.where(tail, x, 1.0)), inner)


def relu_grad_grad(x: Any, alpha: Any, width: Any, *, xp: Any) -> Any:
    return alpha * xp.clip(width - xp.abs(x), min=0.0)


def relu_grad_primitive(x: Any, alpha: Any, width: Any, *, xp: Any) -> Any:
    xc = xp.clip(x, min=-width, max=width)
    return alpha * (width * xc - 0.5 * xp.abs(xc) * xc + 0.5 * width * width)


def gaussian_grad_grad(x: Any, sigma: Any, alpha: Any, *, xp: Any) -> Any:
    return alpha * _normal_pdf(x, 0.0, sigma, xp)


def gaussian_grad_primitive(x: Any, sigma: Any, alpha: Any, *, xp: Any) -> Any:
    return alpha * _normal_cdf(x, 0.0, sigma, xp)


def multi_gaussian_grad_grad(x: Any, h: Any, s: Any, sigma: Any, scale: Any, *, xp: Any) -> Any:
    centre = (1.0 + h) * _normal_pdf(x, 0.0, sigma, xp)
    sides = _normal_pdf(x, sigma, s * sigma, xp) + _normal_pdf(x, -sigma, s * sigma, xp)
    return scale * (centre - h * sides)


def multi_gaussian_grad_primitive(
    x: Any, h: Any, s: Any, sigma: Any, scale: Any, *, xp: Any
) -> Any:
    centre = (1.0 + h) * _normal_cdf(x, 0.0, sigma, xp)
    sides = _normal_cdf(x, sigma, s * sigma, xp) + _normal_cdf(x, -sigma, s * sigma, xp)
    return scale * (centre - h * sides)


def inv_square_grad_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    d = 1.0 + alpha * xp.abs(x)
    return 1.0 / (d * d)


def inv_square_grad_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    tail = 1.0 / (alpha * (1.0 + alpha * xp.abs(x)))
    return xp.where(x < 0, tail, 2.0 / alpha - tail)


def slayer_grad_grad(x: Any, alpha: Any, *, xp: Any) -> Any:
    return _exp_neg_abs(alpha * x, xp)


def slayer_grad_primitive(x: Any, alpha: Any, *, xp: Any) -> Any:
    tail = _exp_neg_abs(alpha * x, xp) / alpha
    return xp.where(x < 0, tail, 2.0 / alpha - tail)
