"""spikegrad: one definition of every surrogate gradient, for every array framework.

The forward pass of a spiking neuron emits a hard spike ``x >= 0 -> 1``; the backward pass uses
the derivative ``g'(x)`` of a smooth stand-in ``g(x)``. spikegrad defines each surrogate once as
pure Array-API math and attaches it to NumPy, any Array-API library, JAX, PyTorch and CuPy, with
the same import and the same numbers everywhere. The API follows ``braintools.surrogate``.

>>> import numpy as np
>>> import spikegrad as sg
>>> f = sg.LeakyRelu(alpha=0.1, beta=1.0)
>>> x = np.array([-1.0, 0.0, 1.0])
>>> f(x), f.surrogate_grad(x)
(array([0., 1., 1.]), array([0.1, 1. , 1. ]))
"""

from __future__ import annotations

from ._codegen import cuda_source
from ._config import BACKENDS, backend, get_backend, set_backend
from ._params import Param
from ._surrogate import SPEC_VERSION, Surrogate, available, from_dict, get
from .surrogates import *  # noqa: F403
from .surrogates import __all__ as _catalogue

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # spikegrad.nn (PyTorch layers) imports torch, so it loads only when first used; so does
    # spikegrad.compat (the other libraries' spellings), to keep `import spikegrad` quick.
    if name in ("nn", "compat"):
        import importlib

        return importlib.import_module(f"spikegrad.{name}")
    raise AttributeError(f"module 'spikegrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The public names only: not the private modules, nor `annotations` (a __future__ import).
    return sorted([*__all__, "__version__", "compat", "nn"])


__all__ = [
    "BACKENDS",
    "Param",
    "SPEC_VERSION",
    "Surrogate",
    "available",
    "backend",
    "cuda_source",
    "from_dict",
    "get",
    "get_backend",
    "set_backend",
    *_catalogue,
]
