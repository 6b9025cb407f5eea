"""The adapter for array libraries without autodiff: NumPy and any Array-API namespace.

It evaluates the math layer directly. The backward pass is explicit: ``grad`` gives g'(x) and
``vjp`` gives ``cotangent * g'(x)`` in one call.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from spikegrad._dtypes import needs_float32_compute, not_floating_error
from spikegrad._namespace import MathNamespace


class EagerAdapter:
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
        self.NAME = name
        self.ACCEPTS = accepts_text
        self.accepts = accepts
        self._namespace_of = namespace_of
        self._as_array = as_array
        self._finish = finish
        self._math_namespaces: dict[int, tuple[Any, MathNamespace]] = {}

    def _math_namespace(self, xp: Any) -> MathNamespace:
        entry = self._math_namespaces.get(id(xp))
        if entry is None:
            entry = self._math_namespaces[id(xp)] = (xp, MathNamespace(xp))
        return entry[1]

    def _prepare(self, x: Any) -> tuple[Any, Any, Any, Any]:
        """``(x, xp, dtype, compute_dtype)`` after checking that ``x`` is real floating."""
        x = self._as_array(x)
        xp = self._namespace_of(x)
        dtype = x.dtype
        if not xp.isdtype(dtype, "real floating"):
            raise not_floating_error(dtype, "xp.astype(x, xp.float32)")
        compute = xp.float32 if needs_float32_compute(xp.finfo(dtype).bits) else dtype
        return x, xp, dtype, compute

    def _evaluate(self, fn: Callable[..., Any], s: Any, x: Any, cotangent: Any = None) -> Any:
        x, xp, dtype, compute = self._prepare(x)
        xc = x if compute == dtype else xp.astype(x, compute)
        # Intermediate overflow to inf (e.g. exp(-(z*z)) for huge z) and underflow are part of
        # the design: the math only ever lets them round to 0 or pick another branch. NumPy
        # (also under array-api-strict) would warn about each; the results are what matter.
        with np.errstate(all="ignore"):
            out = fn(xc, *s._param_values, xp=self._math_namespace(xp))
        if cotangent is not None:
            ct = self._as_array(cotangent)
            if not xp.isdtype(ct.dtype, "real floating"):
                raise not_floating_error(ct.dtype, "xp.astype(cotangent, x.dtype)")
            out = xp.astype(ct, compute) * out
        if out.dtype != dtype:
            out = xp.astype(out, dtype)
        return self._finish(out)

    def spike(self, s: Any, x: Any) -> Any:
        x, xp, dtype, _ = self._prepare(x)
        return self._finish(xp.astype(x >= 0, dtype))

    def fun(self, s: Any, x: Any) -> Any:
        return self._evaluate(type(s).primitive, s, x)

    def grad(self, s: Any, x: Any) -> Any:
        return self._evaluate(type(s).grad, s, x)

    def vjp(self, s: Any, x: Any, cotangent: Any) -> Any:
        return self._evaluate(type(s).grad, s, x, cotangent)
