"""Declared surrogate parameters: default, allowed range, validation."""

from __future__ import annotations

import math
import numbers
import struct
import sys
from typing import Any

from ._dtypes import needs_float32_compute
from ._types import is_array_value, is_traced, torch_compiling, traced_by_torch

__all__ = ["Param"]


class Param:
    """A parameter of a :class:`~spikegrad.Surrogate`, declared as a class attribute.

    Parameters
    ----------
    default
        The value used when the parameter is not given.
    gt, ge, lt, le
        Bounds of the allowed range (``>``, ``>=``, ``<``, ``<=``); ``None`` for no bound.
        Values must also be finite.
    integer
        The parameter is a whole number fixing the *structure* of the formula (such as a
        number of series terms). Integer parameters are static: they cannot be traced by JAX,
        and each value gets its own compiled kernel. The work grows with the value, so an
        integer parameter must declare an upper bound (``le`` or ``lt``).
    doc
        One line saying what the parameter does.

    Examples
    --------
    >>> import spikegrad as sg
    >>> class Triangle(sg.Surrogate):
    ...     alpha = sg.Param(1.0, gt=0, doc="peak height; the base is 2/alpha wide")
    ...     def grad(x, alpha, *, xp):
    ...         return xp.clip(alpha - alpha * alpha * xp.abs(x), min=0.0)
    >>> Triangle(alpha=2.0)
    Triangle(alpha=2.0)
    >>> Triangle(alpha=0.0)
    Traceback (most recent call last):
    ...
    ValueError: Triangle: alpha=0.0 is out of range; allowed: alpha > 0 (finite)
    """

    def __init__(
        self,
        default: float,
        *,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        integer: bool = False,
        doc: str = "",
    ) -> None:
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.integer = integer
        self.doc = doc
        self.name = "<unbound>"
        self.owner = "Param"
        self.default = default  # validated by check(), once the class names the parameter

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner.__name__

    def check(self) -> None:
        """Validate the declaration: a bounded range that holds a number, and a default in it
        (normalised as by :meth:`validate`). Called when the class that declares the parameter
        is made, so that a message names the class and the parameter.

        Raises
        ------
        TypeError
            A bound that is not a number, an integer parameter without an upper bound, or a
            default that is not a number.
        ValueError
            A NaN bound, an empty range, or a default outside the range.
        """
        where = f"{self.owner}: {self.name}"
        for keyword in ("gt", "ge", "lt", "le"):
            bound = getattr(self, keyword)
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, numbers.Real)):
                raise TypeError(f"{where}: {keyword}={bound!r} is not a number; a bound is a real "
                                "number, or None for no bound")
            if bound is not None and not isinstance(bound, numbers.Integral) and math.isnan(bound):
                raise ValueError(f"{where}: {keyword}=nan bounds nothing; pass a real number, or "
                                 "None for no bound")
            if bound is not None:  # Python numbers (NumPy's compare with huge ints overflows)
                setattr(self, keyword,
                        int(bound) if isinstance(bound, numbers.Integral) else float(bound))
        if self.integer and self.le is None and self.lt is None:
            raise TypeError(
                f"{where} is an integer (structural) parameter and needs an upper bound, le=... "
                "or lt=...: the formula's size grows with it, and an unbounded value would never "
                "finish"
            )
        lower, upper = self._bounds()
        if lower is not None and upper is not None and (
                lower[0] > upper[0] or (lower[0] == upper[0] and (lower[1] or not upper[1]))):
            raise ValueError(f"{where}: the declared range ({self.range_text()}) holds no number")
        try:
            self.default = self.validate(self.default)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (the declared default)") from None
        self.__dict__.pop("_clamp", None)  # (bounds normalised above)
        self._clamp_bounds()

    # The descriptor protocol: on an instance the attribute is the parameter's value; on the
    # class it is this Param (for introspection). Values are fixed at construction.
    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._param_values[instance._param_index[self.name]]

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(
            f"{type(instance).__name__}.{self.name} cannot be changed: surrogates are immutable "
            f"values (hashable, usable as static arguments). Create a new one instead, e.g. "
            f"{type(instance).__name__}({self.name}={value!r})"
        )

    def _clamp_bounds(self) -> tuple[float | None, float | None]:
        """The bounds :meth:`from_raw` clamps into: the range's, or just inside an exclusive
        one (see :func:`_inside`). Computed once, when :meth:`check` runs: ``torch.compile``
        with dynamic shapes traces ``from_raw`` (a layer's forward) with the bounds as
        symbolic numbers, and the float32 rounding of :func:`_inside` is not traceable."""
        try:
            return self.__dict__["_clamp"]
        except KeyError:
            low, high = self._bounds()
            clamp = self.__dict__["_clamp"] = (
                None if low is None else _inside(low[0], 1.0, low[1]),
                None if high is None else _inside(high[0], -1.0, not high[1]))
            return clamp

    def _bounds(self) -> tuple[tuple[Any, bool] | None, tuple[Any, bool] | None]:
        """The tightest lower bound as ``(bound, strict)`` and upper bound as ``(bound,
        inclusive)``, or None (of ``gt`` and ``ge`` the larger, ``gt`` at a tie; of ``lt`` and
        ``le`` the smaller, ``lt`` at a tie)."""
        # (plain comparisons: torch.compile traces this, through from_raw, and not max() of a
        # generator)
        lower = upper = None
        if self.gt is not None and (self.ge is None or self.gt >= self.ge):
            lower = (self.gt, True)
        elif self.ge is not None:
            lower = (self.ge, False)
        if self.lt is not None and (self.le is None or self.lt <= self.le):
            upper = (self.lt, False)
        elif self.le is not None:
            upper = (self.le, True)
        return lower, upper

    def range_text(self) -> str:
        """The allowed range, e.g. ``'alpha > 0 (finite)'``, ``'1 <= n <= 100 (whole number)'``."""
        kind = "whole number" if self.integer else "finite"
        lower, upper = self._bounds()
        if lower is None and upper is None:
            return f"{self.name} any {'whole number' if self.integer else 'finite real number'}"
        below = "<=" if upper is not None and upper[1] else "<"
        if lower is not None and upper is not None:
            return (f"{_shown(lower[0])} {'<' if lower[1] else '<='} {self.name} {below} "
                    f"{_shown(upper[0])} ({kind})")
        if lower is not None:
            return f"{self.name} {'>' if lower[1] else '>='} {_shown(lower[0])} ({kind})"
        return f"{self.name} {below} {_shown(upper[0])} ({kind})"  # type: ignore[index]

    def _in_range(self, v: float) -> bool:
        return (
            (self.gt is None or v > self.gt)
            and (self.ge is None or v >= self.ge)
            and (self.lt is None or v < self.lt)
            and (self.le is None or v <= self.le)
        )

    def validate(self, value: Any, owner: str | None = None) -> Any:
        """Return ``value`` normalised (a Python int or float), or raise; messages name
        ``owner`` (default: the class that declares the parameter).

        JAX tracers are returned unchanged and unchecked: their value is unknown at trace time.

        Raises
        ------
        TypeError
            ``value`` is not a real number (a string, a bool, a complex number, a non-scalar
            array, ...).
        ValueError
            ``value`` is outside the allowed range, not finite, or not whole for an integer
            parameter.
        """
        where = f"{owner or self.owner}: {self.name}"
        if is_traced(value):
            if self.integer:
                raise TypeError(
                    f"{where} is an integer parameter that fixes the formula's structure and "
                    "cannot be traced by JAX; pass a Python int (mark it static under jax.jit)"
                )
            return value
        number = _as_real_number(value, where)
        # number - number != 0: not finite (inf - inf and NaN are NaN). Not math.isfinite, which
        # torch.compile cannot trace where it has made a float argument symbolic.
        if number - number != 0 or not self._in_range(number):
            if torch_compiling():  # Dynamo cannot format a number it has made symbolic
                raise ValueError(f"{where} is out of range (a value torch.compile traces); "
                                 f"allowed: {self.range_text()}")
            shown = repr(number if number - number == 0 else value)
            if len(shown) > 40:  # an integer beyond float's range
                shown = f"{shown[:10]}...({len(shown)} digits)"
            raise ValueError(f"{where}={shown} is out of range; allowed: {self.range_text()}")
        if self.integer:
            if number != int(number):
                raise ValueError(f"{where}={number!r} must be a whole number ({self.range_text()})")
            return int(number)
        return float(number) + 0.0  # + 0.0: -0.0 becomes 0.0 (one value, one repr, one hash)

    def validate_trainable(self, value: Any) -> Any:
        """Like :meth:`validate`, for a parameter the surrogate trains (``trainable=``).

        A JAX array or tracer, or a ``torch.Tensor``, is kept as given, so that gradients reach
        it; what is knowable without reading its value is checked (a 0-d real floating array).
        Its value is not range-checked: reading it would synchronise a GPU or break a
        ``torch.compile`` graph (:meth:`from_raw` keeps trained values in range). Anything else
        is validated and converted as by :meth:`validate`.

        Raises
        ------
        TypeError
            An array of another shape or of a non-floating dtype.
        """
        if not is_array_value(value):
            return self.validate(value)
        where = f"{self.owner}: {self.name}"
        shape = tuple(getattr(value, "shape", ()))
        dtype = str(getattr(value, "dtype", ""))
        if shape != ():
            raise TypeError(
                f"{where} is an array of shape {shape}; a trained parameter is one scalar, a 0-d "
                "floating array or tensor (to use several values, vmap over them)"
            )
        if "float" not in dtype or "complex" in dtype or "float8" in dtype or "float4" in dtype:
            raise TypeError(
                f"{where} is a {dtype} array; a trained parameter is a 0-d floating array or "
                "tensor of 16 bits or more, e.g. torch.tensor(1.0, requires_grad=True)"
            )
        return value

    # ------------------------------------------------------------ the unconstrained space

    @property
    def space(self) -> str:
        """The space in which the parameter is trained: ``"log"`` or ``"plain"``.

        ``"log"`` for a parameter whose values are positive (``gt >= 0`` or ``ge > 0``): the
        trained number is ``raw = log(value)``, so a step of any size keeps the value
        positive and steps are relative (a change of ``raw`` by 0.1 is 10% of the value,
        whatever its scale). ``"plain"`` otherwise (ranges that include 0 or negative
        values): the trained number is the value. Either way :meth:`from_raw` clamps into the
        declared range, so a step can never make the value invalid.

        Examples
        --------
        >>> import spikegrad as sg
        >>> sg.Sigmoid.alpha.space, sg.LeakyRelu.alpha.space
        ('log', 'plain')
        """
        if self.integer:
            raise TypeError(f"{self.owner}: {self.name} is an integer (structural) parameter; "
                            "it has no unconstrained space and cannot be trained")
        positive = (self.gt is not None and self.gt >= 0) or (self.ge is not None and self.ge > 0)
        return "log" if positive else "plain"

    def to_raw(self, value: float) -> float:
        """The unconstrained number that :meth:`from_raw` maps to ``value`` (validated).

        Examples
        --------
        >>> import spikegrad as sg
        >>> sg.Sigmoid.alpha.to_raw(1.0), sg.LeakyRelu.alpha.to_raw(0.1)
        (0.0, 0.1)
        """
        value = self.validate(value)
        return math.log(value) if self.space == "log" else value

    def from_raw(self, raw: Any, *, xp: Any) -> Any:
        """The parameter value of the unconstrained number ``raw``, an array of namespace
        ``xp`` (differentiable: autodiff goes through it to ``raw``).

        ``exp(raw)`` in log space, ``raw`` in plain space; then clamped into the declared
        range (where a bound is exclusive, just inside it). The clamp changes nothing inside
        the range; at a bound the value stays valid and its gradient stops there. In log
        space ``raw`` is clamped to the logarithms of the bounds first (of half the largest
        number where there is no upper bound), so ``exp`` never overflows: its infinite derivative
        times the clamp's zero would make the gradient NaN. A 16-bit ``raw`` is computed in
        float32, where the bounds are numbers inside the range (a bound just inside, such as
        ``alpha > 1.001``'s, rounds onto the bound or beyond it in 16 bits).

        Examples
        --------
        >>> import numpy as np
        >>> import spikegrad as sg
        >>> float(sg.Sigmoid.alpha.from_raw(np.float64(np.log(2.0)), xp=np))
        2.0
        >>> float(sg.LeakyRelu.alpha.from_raw(np.float64(5e4), xp=np))  # clamped: alpha <= 1e4
        10000.0
        """
        lower, upper = self._clamp_bounds()
        info = _floating_info(raw, xp)
        if info is not None and needs_float32_compute(info.bits):
            raw = raw.to(xp.float32) if hasattr(raw, "to") else raw.astype(xp.float32)
            info = xp.finfo(raw.dtype)
        if self.space == "log":  # (lower > 0 here)
            # without an upper bound, half the largest number: exp of log(max) itself may round
            # beyond it, to inf
            largest = float(info.max) if info is not None else sys.float_info.max
            raw = xp.clip(raw, min=math.log(lower),
                          max=math.log(0.5 * largest if upper is None else upper))
            value = xp.exp(raw)
        else:
            value = raw
        if lower is None and upper is None:
            return value
        return xp.clip(value, min=lower, max=upper)


def _floating_info(raw: Any, xp: Any) -> Any:
    """``xp.finfo`` of ``raw``'s dtype, or None for a Python number or an integer array."""
    dtype = getattr(raw, "dtype", None)
    if dtype is None:
        return None
    try:
        return xp.finfo(dtype)
    except (TypeError, ValueError):  # an integer dtype
        return None


def _shown(bound: Any) -> str:
    """A bound as a message shows it (``%g``; an integer beyond float's range in digits)."""
    try:
        return f"{bound:g}"
    except OverflowError:
        text = str(bound)
        return f"{text[:10]}...({len(text.lstrip('-'))} digits)"


def _inside(bound: float | None, direction: float, strict: bool = True) -> float | None:
    """A clamp bound that stays in the range once rounded to float32 or float64: ``bound``
    itself if inclusive and exact in float32, else a point just inside it (``direction`` 1 for
    a lower bound, -1 for an upper one)."""
    if bound is None:
        return None
    step = max(abs(bound) * 2.0**-22, 2.0**-126)
    value = bound + direction * step if strict else bound
    as_float32 = struct.unpack("f", struct.pack("f", value))[0]
    if (as_float32 - bound) * direction < 0 or (strict and as_float32 == bound):
        value += direction * step
    return value


def _as_real_number(value: Any, where: str) -> float:
    """A Python float from a real scalar (Python number, NumPy scalar, 0-d array or tensor)."""
    hint = "pass a real number such as 1.0"
    if isinstance(value, bool) or (
        type(value).__module__ == "numpy" and type(value).__name__ == "bool"
    ):
        raise TypeError(f"{where}={value!r} is a bool; {hint}")
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range: out of every range
            return math.inf if value > 0 else -math.inf
    if isinstance(value, (str, bytes)) or isinstance(value, numbers.Complex):
        raise TypeError(f"{where}={value!r} is not a real number; {hint}")
    if traced_by_torch(value):
        raise TypeError(
            f"{where} is a torch.Tensor, whose value cannot be read while torch.compile traces "
            "(it would break the graph); pass a Python float, or build the surrogate outside "
            "the compiled function"
        )
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) == ():
        dtype = str(getattr(value, "dtype", ""))
        if "bool" in dtype or "complex" in dtype:
            raise TypeError(f"{where} is a {dtype} array; {hint}")
        try:  # .item() where there is one: float() of a tensor that requires grad warns
            return float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError, RuntimeError, NotImplementedError):
            pass  # e.g. a meta tensor, which has no value: refused below
    raise TypeError(
        f"{where}={value!r} ({type(value).__name__}) is not a real scalar; {hint} "
        "(parameters are scalars; to use several values, vmap over them under JAX)"
    )
