"""Find the adapter (``spikegrad.backends._<name>``) that evaluates a call on an array.

Adapters are imported on first use, so ``import spikegrad`` imports no framework. In ``"auto"``
mode the adapter is chosen from the array's type with array-api-compat's detectors (which look
only at already-imported modules and recognise JAX tracers); the answer is cached per type.
"""

from __future__ import annotations

import importlib
import numbers

from typing import Any

import array_api_compat as _compat

from . import _config

__all__ = ["backend_for", "load"]

Adapter = Any  # a spikegrad.backends module, or the ADAPTER object it defines

_INSTALL_HINT = {
    "jax": "pip install 'spikegrad[jax]'",
    "torch": "pip install 'spikegrad[torch]'",
    "cupy": "pip install 'spikegrad[cupy]' (and a CUDA GPU)",
    "array_api": "",
    "numpy": "",
}

_loaded: dict[str, Adapter] = {}
_by_type: dict[type, Adapter] = {}


def load(name: str) -> Adapter:
    """Import (once) and return the adapter module for backend ``name``."""
    adapter = _loaded.get(name)
    if adapter is None:
        if name not in _INSTALL_HINT:
            raise ValueError(
                f"unknown spikegrad backend {name!r}; valid names: {', '.join(_config.BACKENDS)}"
            )
        try:
            module = importlib.import_module(f"spikegrad.backends._{name}")
        except ImportError as exc:
            raise ImportError(
                f"the spikegrad backend {name!r} needs a package that is not installed "
                f"({exc}); install it with: {_INSTALL_HINT[name]}"
            ) from exc
        # An adapter is the module itself, or an ADAPTER object it defines (shared classes).
        adapter = _loaded[name] = getattr(module, "ADAPTER", module)
    return adapter


def _detect(x: Any) -> str:
    if _compat.is_numpy_array(x) or isinstance(x, (numbers.Number, list, tuple)):
        return "numpy"
    if _compat.is_torch_array(x):
        return "torch"
    if _compat.is_jax_array(x):
        return "jax"
    if _compat.is_cupy_array(x):
        return "cupy"
    if hasattr(x, "__array_namespace__"):
        return "array_api"
    raise TypeError(
        f"spikegrad cannot evaluate a surrogate on {type(x).__module__}.{type(x).__qualname__}; "
        "pass a NumPy, JAX, PyTorch or CuPy array, any array with __array_namespace__, "
        "or a Python float or list of floats"
    )


def backend_for(x: Any) -> Adapter:
    """The adapter for ``x`` under the backend selection in force."""
    name = _config.current()
    if name == "auto":
        adapter = _by_type.get(type(x))
        if adapter is None:
            adapter = load(_detect(x))
            _by_type[type(x)] = adapter
        return adapter
    adapter = load(name)
    if not adapter.accepts(x):
        raise TypeError(
            f"the spikegrad backend {name!r} ({_config.source()}) cannot take a "
            f"{type(x).__module__}.{type(x).__qualname__}; pass {adapter.ACCEPTS}, "
            "or select the backend 'auto'"
        )
    return adapter
