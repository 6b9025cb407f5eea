"""Evaluate a formula on an array under the dtype rules every adapter shares.

The rules (see ``docs/guides/semantics.rst``), written once here:

* results have ``x``'s dtype and shape (a formula that returns a constant, such as a
  straight-through estimator's ``1.0``, is broadcast to ``x``);
* float16 and bfloat16 are computed in float32 and rounded once at the end, products with a
  cotangent or tangent included: computed in 16 bits, ``cotangent * g'(x)`` would be rounded
  twice (a quarter of float16 results one unit off), and the sigmoid surrogate's gradient at
  ``x = 2`` in bfloat16 would come out 0 instead of 0.0013;
* a cotangent must have ``x``'s shape: broadcasting it would silently return a gradient of
  another shape.
"""

from __future__ import annotations

from typing import Any, Callable

from ._dtypes import needs_float32_compute

__all__ = ["evaluate", "check_cotangent_shape", "finite_points"]


def check_cotangent_shape(x: Any, cotangent: Any) -> None:
    """Raise ``ValueError`` naming both shapes unless ``cotangent`` has ``x``'s shape."""
    if tuple(cotangent.shape) != tuple(x.shape):
        raise ValueError(
            f"the cotangent has shape {tuple(cotangent.shape)} but x has shape "
            f"{tuple(x.shape)}; pass a cotangent of x's shape (vjp does not broadcast)"
        )


def finite_points(x: Any, xp: Any) -> Any:
    """``x`` with +-inf lowered to +-the largest number of its dtype (NaN stays NaN): the points
    at which the adapters take a trained parameter's gradient ``dg/dalpha``.

    At ``x = +-inf`` autodiff of the primitive meets ``0 * inf`` (``exp(-alpha |x|)`` is 0, its
    derivative in ``alpha`` that times ``|x|``) where ``dg/dalpha`` has a limit; at the largest
    finite ``x`` the same formulas give that limit where ``g`` saturates (0, or a number such
    as ``InvSquareGrad``'s ``-2/alpha**2``), and that largest number times the slope's
    derivative where ``g`` has a linear tail (whose limit is infinite), not NaN.
    """
    largest = float(xp.finfo(x.dtype).max)
    return xp.clip(x, min=-largest, max=largest)


def _on_device_of(x: Any, out: Any, xp: Any) -> Any:
    """``out`` on ``x``'s device (a formula may build a constant array on the default one)."""
    try:
        same = out.device == x.device
    except Exception:  # noqa: BLE001 - no comparable device (a JAX tracer): the framework places it
        return out
    return out if same else xp.asarray(out, device=x.device)


def evaluate(
    fn: Callable[..., Any],
    x: Any,
    values: tuple[Any, ...],
    xp: Any,
    cotangent: Any = None,
) -> Any:
    """``fn(x, values, xp=xp)`` (times ``cotangent``, if given) in ``x``'s dtype and shape.

    Parameters
    ----------
    fn
        ``Formula.derivative`` or ``Formula.primitive`` of a :class:`~spikegrad._contract.Spec`.
    x
        A real floating array of the namespace ``xp`` (checked by the adapter).
    values
        The spec's parameter values.
    xp
        The :class:`~spikegrad._namespace.MathNamespace` of ``x``'s library.
    cotangent
        A floating array of ``x``'s shape (a cotangent, or a tangent in forward mode).
    """
    dtype = x.dtype
    compute = xp.float32 if needs_float32_compute(xp.finfo(dtype).bits) else dtype
    xc = x if compute == dtype else xp.astype(x, compute)
    out = fn(xc, values, xp=xp)
    if not hasattr(out, "shape"):  # a Python number: a constant formula
        out = xp.full_like(xc, out)
    elif tuple(out.shape) != tuple(xc.shape):
        out = xp.broadcast_to(_on_device_of(xc, out, xp), xc.shape)
    if cotangent is not None:
        check_cotangent_shape(x, cotangent)
        ct = cotangent if cotangent.dtype == compute else xp.astype(cotangent, compute)
        out = ct * out
    return out if out.dtype == dtype else xp.astype(out, dtype)
