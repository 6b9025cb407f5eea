"""Functional forms: ``leaky_relu(x, alpha=0.1, beta=1.0)`` for each surrogate class."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from ._surrogate import Surrogate
from ._types import traced_by_torch

__all__ = ["functional"]

_MAX_CACHED = 256
_instances: dict[tuple[Any, ...], Surrogate] = {}


def _instance(cls: type[Surrogate], args: tuple[Any, ...], kwargs: dict[str, Any],
              x: Any = None) -> Surrogate:
    """``cls(*args, **kwargs)``, reusing validated instances for repeated Python-number parameters.

    Only plain ints and floats are cached: arrays, tensors and tracers hash by identity (or not
    at all), and a new tensor may reuse a freed one's identity with another value. Nor while
    ``torch.compile`` traces a call on ``x``: the cache's state would be guarded (its change
    after the first call would recompile the code), and construction costs nothing at run time.
    """
    if (not all(type(v) in (int, float) for v in (*args, *kwargs.values()))
            or traced_by_torch(x)):
        return cls(*args, **kwargs)
    key = (cls, args, tuple(kwargs.items()))
    found = _instances.get(key)
    if found is None:
        found = cls(*args, **kwargs)
        if len(_instances) >= _MAX_CACHED:
            _instances.clear()
        _instances[key] = found
    return found


def functional(cls: type[Surrogate]) -> Callable[..., Any]:
    """The function ``name(x, *params)`` equivalent to ``cls(*params)(x)``.

    Its signature, name and docstring are derived from ``cls``.
    """
    name = cls.registry_name or cls.__name__.lower()

    def spike(x: Any, *args: Any, **kwargs: Any) -> Any:
        return _instance(cls, args, kwargs, x)(x)

    params = [
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default)
        for p in cls._params
    ]
    spike.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + params
    )
    spike.__name__ = spike.__qualname__ = name
    spike.__module__ = cls.__module__
    call = ", ".join(p.name for p in cls._params)
    summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else cls.__name__
    spike.__doc__ = (
        f"{summary}\n\n"
        f"Functional form of :class:`{cls.__name__}`: ``{name}(x, {call})`` is "
        f"``{cls.__name__}({call})(x)``, the spike ``x >= 0`` whose derivative with respect "
        f"to ``x`` is the surrogate gradient. See :class:`{cls.__name__}` for the formulas "
        "and parameters."
    )
    return spike
