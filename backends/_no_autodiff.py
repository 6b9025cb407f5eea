"""The adapter for array libraries without autodiff: NumPy and any Array-API namespace.

It evaluates the math directly. The backward pass is explicit: ``grad`` gives g'(x) and
``vjp`` gives ``cotangent * g'(x)`` in one call.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from spikegrad._contract import Spec
from spikegrad._dtypes import not_floating_error
from spikegrad._evaluate import evaluate
from spikegrad._namespace import MathNamespace
from spikegrad._types import type_name


class NoAutodiffAdapter:
    """Forward, g, g' and the vector-Jacobian product on a namespace without autodiff.

    Parameters
    ----------
    name
        The backend name.
    accepts
        Whether the adapter can take an object (used when the backend is forced).
    accepts_text
        What it accepts, for error messages.
    namespace_of
        ``x -> xp``: the Array-API namespace of an array.
    as_array
        Converts accepted inputs (Python scalars and lists, for NumPy) to arrays.
    finish
        Applied to every result (NumPy: keep 0-d results arrays, not scalars).
    """

    def __init__(
        self,
        name: str,
        *,
        accepts: Callable[[Any], bool],
        accepts_text: str,
        namespace_of: Callable[[Any], Any],
        as_array: Callable[[Any], Any] = lambda x: x,
        finish: Callable[[Any], Any] = lambda y: y,
    ) -> None:
        self.name = name
        self.accepts_text = accepts_text
        self.accepts = accepts
        self._namespace_of = namespace_of
        self._as_array = as_array
        self._finish = finish
        self._math_namespaces: dict[int, tuple[Any, MathNamespace]] = {}

    def _floating(self, x: Any, what: str = "x") -> tuple[Any, MathNamespace]:
        """``(x as an array, its math namespace)`` after checking that ``x`` is real floating."""
        x = self._as_array(x)
        xp = self._namespace_of(x)
        try:
            floating = xp.isdtype(x.dtype, "real floating") and xp.finfo(x.dtype).bits <= 64
        except (TypeError, ValueError):  # a dtype the namespace does not know (ml_dtypes')
            floating = False
        if not floating:
            raise not_floating_error(x.dtype, f"xp.astype({what}, xp.float32)")
        entry = self._math_namespaces.get(id(xp))
        if entry is None:
            entry = self._math_namespaces[id(xp)] = (xp, MathNamespace(xp))
        return x, entry[1]

    def _evaluate(self, fn: Callable[..., Any], spec: Spec, x: Any, cotangent: Any = None) -> Any:
        x, ns = self._floating(x)
        if cotangent is not None:
            cotangent, cotangent_ns = self._floating(cotangent, "cotangent")
            if cotangent_ns is not ns:
                raise TypeError(
                    f"the cotangent is a {type_name(type(cotangent))} and x a "
                    f"{type_name(type(x))}; pass a "
                    "cotangent of x's array library (xp.asarray(cotangent), xp being x's "
                    "namespace)"
                )
        # Intermediate overflow to inf (e.g. exp(-(z*z)) for huge z) and underflow are part of
        # the design: the math only ever lets them round to 0 or pick another branch. NumPy
        # (also under array-api-strict) would warn about each; the results are what matter.
        with np.errstate(all="ignore"):
            return self._finish(evaluate(fn, x, spec.values, ns, cotangent))

    def spike(self, spec: Spec, x: Any) -> Any:
        x, ns = self._floating(x)
        return self._finish(spec.formula.spike(x, xp=ns))

    def fun(self, spec: Spec, x: Any) -> Any:
        return self._evaluate(spec.formula.primitive, spec, x)

    def grad(self, spec: Spec, x: Any) -> Any:
        return self._evaluate(spec.formula.derivative, spec, x)

    def vjp(self, spec: Spec, x: Any, cotangent: Any) -> Any:
        return self._evaluate(spec.formula.derivative, spec, x, cotangent)
