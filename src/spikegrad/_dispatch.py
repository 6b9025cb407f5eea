"""Find the adapter (``spikegrad.backends._<name>``) that evaluates a call on an array.

Adapters are imported on first use, so ``import spikegrad`` imports no framework. In ``"auto"``
mode the adapter is chosen from the array's *type* (JAX tracers included) by
:func:`spikegrad._types.kind`, which looks only at frameworks already imported; the answer is
cached per type.

Under ``torch.compile``, Dynamo runs the two functions marked below at trace time rather than
tracing them (they import modules, which Dynamo refuses to trace); their results depend only
on their arguments and on the backend in force, which the compiled graph bakes in.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _config, _types
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


_BACKEND_OF_KIND = {"python": "numpy", "jax-tracer": "jax"}  # other kinds: their own name


def _detect(t: type) -> str:
    """The backend for arrays of type ``t`` (by type: under ``torch.compile`` this runs at
    trace time with the type as a constant)."""
    found = _types.kind(t)
    if found is None:
        raise TypeError(
            f"spikegrad cannot evaluate a surrogate on {_types.type_name(t)}; "
            "pass a NumPy, JAX, PyTorch or CuPy array, any array with __array_namespace__, "
            "or a Python float or list of floats"
        )
    return _BACKEND_OF_KIND.get(found, found)


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
            f"{_types.type_name(type(x))}; pass {adapter.accepts_text}, "
            "or select the backend 'auto'"
        )
    return adapter
