"""``snntorch.surrogate`` (snntorch 1.0), spelled as snntorch spells it, on every backend.

``from spikegrad.compat import snntorch as surrogate`` in place of
``from snntorch import surrogate``: the factory functions (``atan(alpha=2.0)``,
``fast_sigmoid(slope=25)``, ...) return a callable ``x -> spikes`` as snntorch's do, and the
autograd classes (``ATan.apply(x, alpha)``, ...) work as snntorch's. The forward is snntorch's
``x > 0`` (0 at the threshold); the result keeps the input's dtype (snntorch always returns
float32). Each object is a :class:`~spikegrad.Surrogate`: its ``canonical()`` is the catalogue
surrogate it is, and it runs on NumPy, JAX, PyTorch and CuPy with every transform.

Where snntorch's code departs from its documentation (``sigmoid``'s NaN, ``heaviside`` at 0,
``LSO``'s TypeError), spikegrad gives the documented value: see the porting guide.

>>> import numpy as np
>>> from spikegrad.compat import snntorch as surrogate
>>> spike_grad = surrogate.atan(alpha=2.0)
>>> spike_grad
snntorch.atan(alpha=2.0) = Arctan(alpha=2.0, spike_at_zero=False)
>>> spike_grad(np.array([-1.0, 0.0, 1.0]))
array([0., 0., 1.])
"""

from __future__ import annotations

import inspect
from typing import Any

from ._base import CompatSurrogate, compat_class, from_canonical, register
from ._mapping import ENTRIES

__all__ = ["canonical_of"]  # and, below, each entry's function and class

# snntorch's autograd class for each factory function.
_CLASS_NAMES = {
    "atan": "ATan", "sigmoid": "Sigmoid", "fast_sigmoid": "FastSigmoid",
    "straight_through_estimator": "StraightThroughEstimator", "triangular": "Triangular",
    "spike_rate_escape": "SpikeRateEscape", "heaviside": "Heaviside", "SFS": "SparseFastSigmoid",
    "LSO": "LeakySpikeOperator",
}


def _factory(cls: type[CompatSurrogate]) -> Any:
    """snntorch's factory function: ``name(**params)`` returning the callable surrogate."""

    def make(*args: Any, **kwargs: Any) -> CompatSurrogate:
        return cls(*args, **kwargs)

    make.__name__ = make.__qualname__ = cls.entry.name
    make.__signature__ = inspect.signature(cls)  # type: ignore[attr-defined]
    make.__doc__ = cls.__doc__
    return make


def _autograd(cls: type[CompatSurrogate]) -> type:
    """snntorch's ``torch.autograd.Function`` spelling: ``Class.apply(x, *params)``."""

    def apply(x: Any, *params: Any) -> Any:
        return cls(*params)(x)

    return type(_CLASS_NAMES[cls.entry.name], (), {
        "apply": staticmethod(apply), "__module__": __name__,
        "__doc__": f"``{_CLASS_NAMES[cls.entry.name]}.apply(x, *params)``: {cls.__doc__}",
    })


for _e in ENTRIES:
    if _e.library == "snntorch":
        _cls = register(compat_class(_e))
        globals()[_e.name] = _factory(_cls)
        globals()[_CLASS_NAMES[_e.name]] = _autograd(_cls)
        __all__ += [_e.name, _CLASS_NAMES[_e.name]]


def canonical_of(surrogate: Any) -> CompatSurrogate:
    """The snntorch spelling of a catalogue surrogate (``ValueError`` if snntorch has none)."""
    return from_canonical(surrogate, "snntorch")
