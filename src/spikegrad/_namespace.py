"""The array namespace the math layer is evaluated with.

The surrogate math (:mod:`spikegrad._math`) is written against the Python Array API standard
with the namespace passed in as ``xp``. The standard lacks one function the catalogue needs, the
complementary error function ``erfc``; every backend supplies it through :class:`MathNamespace`,
which forwards every other name to the wrapped namespace. Backends whose library has a native
``erfc`` (JAX, PyTorch, CUDA) pass that; the others get :func:`erfc_fallback`, written in the
standard itself.

A namespace may also offer *hooks*: optional native operations that do in one pass what the
portable math does in several. The math asks for a hook with ``getattr(xp, name, None)`` and
keeps its portable form when there is none, so each formula is still written once, in
:mod:`spikegrad._math`. :class:`MathNamespace` defines every hook as ``None`` unless the backend
passes one:

``choose_finite(condition, a, b)``
    ``where(condition, a, b)`` for two branches that are finite numbers wherever the argument
    is not NaN, in a form the library runs fast (PyTorch's planned backward: a comparison into
    a float mask ``m`` and ``lerp(b, a, m)``, exact for ``m`` = 0 or 1, where its CPU ``where``
    is not vectorized: 0.25 against 3.8 ms per million elements). Used by
    :func:`spikegrad._math._choose_finite`.

``compare_as(x, comparison, threshold)``
    ``comparison`` (``"greater_equal"`` or ``"greater"``) of ``x`` and ``threshold`` as an array
    of ``x``'s dtype, in one pass (PyTorch: ``torch.ge(x, 0, out=...)``, ten times faster than
    a boolean comparison then a cast, and no boolean temporary). Used by
    :func:`spikegrad._math.spike`.

``inverse_power(a, d, alpha)``
    ``(1 + 2 a / d)**-alpha`` for ``a >= 0`` and ``d > 0``, a number wherever the value is a
    normal one (JAX and the generated kernels: one ``log1p`` per element whatever ``d``, with
    scalars chosen once per call, :func:`spikegrad._math.inverse_power_by_halves`, where the
    portable math needs two for an ``alpha`` that is not a number). Used by
    :func:`spikegrad._math._inverse_power`.

``lower_infinite(t)``
    ``t`` with +-inf lowered to the dtype's largest number where derivatives of it are taken,
    and ``t`` itself where only its value is (JAX: a ``jax.custom_jvp`` identity whose rule
    clips). The formulas that use it have the same value either way; the clip keeps their
    derivatives from multiplying 0 by inf (g'' at +-inf). Evaluated for its value, in every
    first-order pass, the clip costs XLA's fused loop a clamp per element, 15-30% of the time of
    erf and gaussian_grad at a million elements. Used by :func:`spikegrad._math._finite`.

``nan_through(x, out)``
    ``out`` with NaN wherever ``x`` is NaN (``where(isnan(x), x, out)``), written with
    operations the library runs fast (PyTorch: ``maximum(out, clip(x, max=-inf))``, both
    vectorized, six times faster than its boolean ``isnan`` and ``where`` on the CPU; JAX:
    ``clamp(out, x, out)``, a maximum and a minimum in XLA's loop, its derivatives those of
    the ``where``). Used by :func:`spikegrad._math._nan_through`.

``phase_cos(t)``
    ``cos t`` for a phase ``0 <= t <= 2 pi 199`` (or NaN): the square wave's cosines, whose
    arguments are phases of ``|x|``, at most 199 turns for its 100 terms (JAX: Cody and
    Waite's reduction by pi/2 and Cephes' float32 polynomials, in float32, which XLA
    vectorizes, where its own ``cos`` for any argument takes 10 ns per element). Used by
    :func:`spikegrad._math._phase_cos`.

``magnitude_remainder(x, b)``
    ``|x| mod b`` for ``b > 0`` (NaN for a NaN or infinite ``x``), exact, in one step, without
    the sign fix-ups of ``remainder`` (a third of the periodic surrogate's time on 4096
    elements). Used by :func:`spikegrad._math._period_phase` instead of its two-step reduction.
    It takes ``x`` rather than ``|x|`` so that a library may choose how to compute it from
    ``x`` itself (JAX: a vectorized reduction for quotients up to 2048 and C's ``fmod``
    beyond, chosen by a ``lax.cond`` over ``x``; over a computed ``|x|``, XLA would write
    that to memory first. The generated kernels: C's ``fmod``). (PyTorch's vectorized
    ``fmod`` computes ``a - b trunc(a / b)``, which overflows: not a ``magnitude_remainder``.)

``rsqrt(s)``
    ``1 / sqrt(s)`` in one pass (PyTorch: ``torch.rsqrt``, within 1.5 ulps in float32, where
    ``1 / sqrt(s)`` is within 2; its CPU ``sqrt`` kernel alone takes 1.5 times as long). Used by
    :func:`spikegrad._math._rsqrt`.

``scaled_exp_neg(scale, t)``
    ``scale * exp(-t)`` for ``t >= 0``, a normal number wherever the result is (JAX: one
    exponential, where the portable form squares ``exp(-t/2)`` to keep the scale ahead of
    underflow; XLA flushes subnormal numbers to zero). Used by
    :func:`spikegrad._math._scaled_exp_neg`.

``sigmoid_slope(z, scale)``
    ``scale * sigmoid(z) * (1 - sigmoid(z))`` with full relative accuracy in both tails (JAX: one
    exponential, where XLA turns the portable form's square of ``exp(-|z|/2)`` into a second
    one, and the guard against ``exp``'s overflow only where it is differentiated). Used by
    :func:`spikegrad._math._sigmoid_slope`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

__all__ = ["MathNamespace", "erfc_fallback"]

_SERIES_TERMS = 32
_FRACTION_TERMS = 80
_SERIES_LIMIT = 1.5
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_ONE_OVER_SQRT_PI = 1.0 / math.sqrt(math.pi)


def erfc_fallback(x: Any, *, xp: Any) -> Any:
    r"""Complementary error function in pure Array-API operations.

    For :math:`|x| < 1.5` it sums the Maclaurin series of :math:`\operatorname{erf}`; beyond,
    it evaluates Laplace's continued fraction

    .. math:: \operatorname{erfc}(z) = \frac{e^{-z^2}}{\sqrt\pi}\,
              \cfrac{1}{z + \cfrac{1/2}{z + \cfrac{1}{z + \cfrac{3/2}{z + \cdots}}}}

    backwards from a fixed depth, and reflects negative arguments with
    :math:`\operatorname{erfc}(-z) = 2 - \operatorname{erfc}(z)`. Both branches are evaluated
    on clamped inputs, so neither produces inf or NaN for any finite ``x``. Relative error
    below 1e-13 in float64 wherever the result is a normal number.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad._namespace import erfc_fallback
    >>> erfc_fallback(np.asarray([0.0, 1.0, 3.0]), xp=np).round(8).tolist()
    [1.0, 0.15729921, 2.209e-05]
    """
    a = xp.abs(x)
    z = xp.clip(a, max=_SERIES_LIMIT)
    minus_z2 = -(z * z)
    term = z
    total = z
    for n in range(1, _SERIES_TERMS):
        term = term * minus_z2 / n
        total = total + term / (2 * n + 1)
    near = 1.0 - _TWO_OVER_SQRT_PI * total

    w = xp.clip(a, min=_SERIES_LIMIT)
    fraction = w
    for k in range(_FRACTION_TERMS, 0, -1):
        fraction = w + (0.5 * k) / fraction
    far = xp.exp(-(w * w)) * _ONE_OVER_SQRT_PI / fraction

    upper = xp.where(a < _SERIES_LIMIT, near, far)
    return xp.where(x < 0, 2.0 - upper, upper)


# The Array API standard's functions the math layer may use (elementwise functions, the
# creation and data-type functions that make sense elementwise, and the floating dtypes).
_STANDARD_NAMES = (
    "abs acos acosh add asin asinh atan atan2 atanh ceil clip copysign cos cosh divide equal "
    "exp expm1 floor floor_divide greater greater_equal hypot isfinite isinf isnan less "
    "less_equal log log1p log2 log10 logaddexp logical_and logical_not logical_or logical_xor "
    "maximum minimum multiply negative nextafter not_equal positive pow reciprocal remainder "
    "round sign signbit sin sinh square sqrt subtract tan tanh trunc where full_like zeros_like "
    "ones_like empty_like broadcast_to astype asarray finfo isdtype float16 float32 float64"
).split()


class MathNamespace:
    """An array namespace plus the few functions the standard lacks (currently ``erfc``).

    The standard's functions are copied in at construction, so the math layer's lookups are
    plain attribute reads (which ``torch.compile`` can trace); other names are forwarded to the
    wrapped namespace on first use.

    Parameters
    ----------
    xp
        The array namespace (``numpy``, ``jax.numpy``, ``torch``, an array-api-strict
        namespace, ...).
    erfc
        The namespace's complementary error function, or ``None`` to use
        :func:`erfc_fallback`.
    **overrides
        Standard functions the library spells differently (PyTorch has no ``astype``), and
        hooks (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> ns = MathNamespace(np)
    >>> float(ns.exp(0.0)), float(ns.erfc(np.asarray(0.0)))
    (1.0, 1.0)
    """

    choose_finite: Callable[[Any, Any, Any], Any] | None = None
    """The choice between finite branches (see the module docstring), or ``None``."""

    compare_as: Callable[[Any, str, Any], Any] | None = None
    """The one-pass compare-and-cast hook (see the module docstring), or ``None``."""

    inverse_power: Callable[[Any, Any, Any], Any] | None = None
    """The one-logarithm inverse power (see the module docstring), or ``None``."""

    lower_infinite: Callable[[Any], Any] | None = None
    """The clip of +-inf where derivatives are taken (see the module docstring), or ``None``."""

    nan_through: Callable[[Any, Any], Any] | None = None
    """The NaN pass-through hook (see the module docstring), or ``None``."""

    phase_cos: Callable[[Any], Any] | None = None
    """The cosine of a phase (see the module docstring), or ``None``."""

    magnitude_remainder: Callable[[Any, Any], Any] | None = None
    """The exact remainder of ``|x|`` (see the module docstring), or ``None``."""

    rsqrt: Callable[[Any], Any] | None = None
    """The reciprocal square root hook (see the module docstring), or ``None``."""

    scaled_exp_neg: Callable[[Any, Any], Any] | None = None
    """The underflow-safe scaled exponential hook (see the module docstring), or ``None``."""

    sigmoid_slope: Callable[[Any, Any], Any] | None = None
    """The logistic density hook (see the module docstring), or ``None``."""

    def __init__(
        self, xp: Any, erfc: Callable[[Any], Any] | None = None, **overrides: Callable[..., Any]
    ) -> None:
        self._xp = xp
        for name in _STANDARD_NAMES:
            value = getattr(xp, name, None)
            if value is not None:
                setattr(self, name, value)
        self.erfc = erfc if erfc is not None else (lambda x: erfc_fallback(x, xp=xp))
        for name, value in overrides.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only for names outside the standard list; private names are never forwarded (copies
        # made without __init__ lack _xp).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._xp, name)

    def __repr__(self) -> str:
        return f"MathNamespace({getattr(self._xp, '__name__', self._xp)!r})"
