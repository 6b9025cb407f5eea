"""What kind of array a Python type is, without importing any framework.

One classifier, :func:`kind`, answers for every caller: which backend takes an array
(:mod:`spikegrad._dispatch`), whether a parameter value is a JAX tracer or an array a framework
differentiates (:mod:`spikegrad._params`), which Array-API namespace an array has.

Only frameworks that are already imported are looked at (an array of a framework implies the
framework is imported). The answer depends only on the type, and is cached per type.

Under ``torch.compile``, Dynamo runs :func:`kind` at trace time rather than tracing it (it is
marked as a function of constant result, of a type, which a compiled graph guards anyway).
Traced, the look-up of ``sys.modules`` would have Dynamo copy that whole dictionary into the
trace (some 2,400 entries), guard the compiled code on which modules are *not* imported (every
later ``import jax`` would recompile it), and fail the trace with "dictionary changed size
during iteration" whenever another thread imported a module meanwhile, such as the thread that
loads spikegrad's compiled kernels.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

__all__ = ["array_namespace", "is_array_value", "is_traced", "kind", "traced_by_torch"]

# The kinds: None, or a backend name (as in spikegrad.BACKENDS), "python" (numbers, lists and
# tuples, which the NumPy backend takes) or "jax-tracer" (a value traced by JAX).
_FRAMEWORK_TYPES = (  # (kind, module, attribute path of a base class): first match wins
    ("torch", "torch", "Tensor"),
    ("jax-tracer", "jax", "core.Tracer"),  # tracers are no jax.Array since jax 0.8.2
    ("jax", "jax", "Array"),
    ("cupy", "cupy", "ndarray"),
)

_kinds: dict[type, str | None] = {}
_torch_is_compiling: Any = None  # torch.compiler.is_compiling, once a tensor type was classified


def kind(t: type) -> str | None:
    """The kind of array ``t`` is: ``"numpy"``, ``"python"``, ``"torch"``, ``"jax"``,
    ``"jax-tracer"``, ``"cupy"``, ``"array_api"`` (has ``__array_namespace__``) or None.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad._types import kind
    >>> kind(np.ndarray), kind(float), kind(str)
    ('numpy', 'python', None)
    """
    try:
        return _kinds[t]
    except KeyError:
        found = _kinds[t] = _classify(t)
        return found


kind._dynamo_marked_constant = True  # type: ignore[attr-defined]


def _classify(t: type) -> str | None:
    numpy = sys.modules.get("numpy")
    if numpy is not None and issubclass(t, (numpy.ndarray, numpy.generic)):
        return "numpy"
    if issubclass(t, (numbers.Number, list, tuple)):
        return "python"
    for name, module, path in _FRAMEWORK_TYPES:
        base: Any = sys.modules.get(module)
        for part in path.split("."):
            base = getattr(base, part, None)
        if isinstance(base, type) and issubclass(t, base):
            if name == "torch":
                global _torch_is_compiling
                _torch_is_compiling = sys.modules["torch"].compiler.is_compiling
            return name
    if hasattr(t, "__array_namespace__"):
        return "array_api"
    return None


def is_traced(value: Any) -> bool:
    """True for a JAX tracer (a value known only inside ``jit``/``vmap``/``grad``)."""
    return kind(type(value)) == "jax-tracer"


def is_array_value(value: Any) -> bool:
    """True for a value an autodiff framework can differentiate: a JAX tracer or array, a
    ``torch.Tensor``."""
    return kind(type(value)) in ("jax-tracer", "jax", "torch")


def torch_compiling() -> bool:
    """True while ``torch.compile`` (Dynamo) traces, False where PyTorch is not imported."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def traced_by_torch(value: Any) -> bool:
    """True for a ``torch.Tensor`` while ``torch.compile`` traces (a fake tensor, whose value
    cannot be read)."""
    return kind(type(value)) == "torch" and _torch_is_compiling()


def array_namespace(x: Any) -> Any:
    """``array_api_compat.array_namespace(x)``, also while ``torch.compile`` traces (where
    array-api-compat's own type test would read ``sys.modules``, see the module's text)."""
    if kind(type(x)) == "torch":
        import array_api_compat.torch as xp  # Dynamo imports it, as a constant

        return xp
    from array_api_compat import array_namespace as namespace

    return namespace(x)


def type_name(t: type) -> str:
    """``module.QualifiedName`` of a type, as error messages name it."""
    return f"{t.__module__}.{t.__qualname__}"
