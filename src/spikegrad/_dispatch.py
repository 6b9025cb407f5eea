"""Find the adapter (``spikegrad.backends._<name>``) that evaluates a call on an array.

Adapters are imported on first use, so ``import spikegrad`` imports no framework. In ``"auto"``
mode the adapter is chosen from the array's *type* (JAX tracers included) by looking only at
frameworks that are already imported; the answer is cached per type.

Under ``torch.compile``, Dynamo runs the two functions marked below at trace time rather than
tracing them (they import modules, which Dynamo refuses to trace); their results depend only
on their arguments and on the backend in force, which the compiled graph bakes in.
"""

from __future__ import annotations

import importlib
import numbers
import sys
from typing import Any

from . import _config
from ._contract import Adapter

__all__ = ["backend_for", "load"]

_INSTALL_HINT = {
    "jax": "pip install 'spikegrad[jax]'",
    "torch": "pip install 'spikegrad[torch]'",
    "cupy": "pip install 'spikegrad[cupy]' (and a CUDA GPU)",
    "array_api": "",
    "numpy": "",
}

_loaded: dict[str, Adapter] = {}
_by_type: dict[type, str] = {}


def load(name: str) -> Adapter:
    """Import (once) and return the adapter of backend ``name`` (its module's ``ADAPTER``)."""
    adapter = _loaded.get(name)
    if adapter is None:
        _config.validate(name, "passed to spikegrad._dispatch.load")
        try:
            module = importlib.import_module(f"spikegrad.backends._{name}")
        except ImportError as exc:
            raise ImportError(
                f"the spikegrad backend {name!r} needs a package that is not installed "
                f"({exc}); install it with: {_INSTALL_HINT[name]}"
            ) from exc
        adapter = _loaded[name] = module.ADAPTER
    return adapter


def _is_subclass(t: type, module: str, *names: str) -> bool:
    """``issubclass(t, module.name)`` for any of the names, without importing ``module``."""
    mod = sys.modules.get(module)
    if mod is None:
        return False
    for name in names:
        obj: Any = mod
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and issubclass(t, obj):
            return True
    return False


def _detect(t: type) -> str:
    """The backend for arrays of type ``t``.

    By type, not by instance (array-api-compat's ``is_*_array`` take instances): under
    ``torch.compile`` this runs at trace time with the type as a constant.
    """
    import numpy as np

    if issubclass(t, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        return "numpy"
    if _is_subclass(t, "torch", "Tensor"):
        return "torch"
    if _is_subclass(t, "jax", "Array", "core.Tracer"):  # tracers are no jax.Array since 0.8.2
        return "jax"
    if _is_subclass(t, "cupy", "ndarray"):
        return "cupy"
    if hasattr(t, "__array_namespace__"):
        return "array_api"
    raise TypeError(
        f"spikegrad cannot evaluate a surrogate on {t.__module__}.{t.__qualname__}; "
        "pass a NumPy, JAX, PyTorch or CuPy array, any array with __array_namespace__, "
        "or a Python float or list of floats"
    )


def _auto_backend(t: type) -> str:
    """The backend for arrays of type ``t``, its adapter loaded (cached per type)."""
    name = _by_type.get(t)
    if name is None:
        name = _detect(t)
        load(name)
        _by_type[t] = name
    return name


def _loaded_backend(name: str) -> str:
    """``name``, its adapter loaded."""
    load(name)
    return name


_auto_backend._dynamo_marked_constant = True  # type: ignore[attr-defined]
_loaded_backend._dynamo_marked_constant = True  # type: ignore[attr-defined]


def backend_for(x: Any) -> Adapter:
    """The adapter for ``x`` under the backend selection in force."""
    name = _config.current()
    if name == "auto":
        return _loaded[_auto_backend(type(x))]
    adapter = _loaded[_loaded_backend(name)]
    if not adapter.accepts(x):
        raise TypeError(
            f"the spikegrad backend {name!r} ({_config.source()}) cannot take a "
            f"{type(x).__module__}.{type(x).__qualname__}; pass {adapter.accepts_text}, "
            "or select the backend 'auto'"
        )
    return adapter
