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
        _cls = register(compat_class(_e), globals())
        globals()[_e.name] = _factory(_cls)
        globals()[_CLASS_NAMES[_e.name]] = _autograd(_cls)
        __all__ += [_e.name, _CLASS_NAMES[_e.name]]


# snntorch's two surrogates whose backward is not a function of x alone: a user's function of
# the cotangent, and random noise. They are PyTorch autograd Functions, as snntorch's, and run
# on PyTorch only (torch is imported when they are first used).
_torch_functions: dict[str, Any] = {}


def _functions() -> dict[str, Any]:
    if not _torch_functions:
        import torch

        class CustomSurrogate(torch.autograd.Function):
            """``CustomSurrogate.apply(x, fn)``: spikes ``x > 0`` (in ``x``'s dtype); the
            backward is ``fn(x, grad_output, spikes)``."""

            @staticmethod
            def forward(ctx: Any, x: Any, fn: Any) -> Any:
                out = (x > 0).to(x.dtype)
                ctx.save_for_backward(x, out)
                ctx.fn = fn
                return out

            @staticmethod
            def backward(ctx: Any, grad_output: Any) -> Any:
                x, out = ctx.saved_tensors
                return ctx.fn(x, grad_output.clone(), out), None

        class StochasticSpikeOperator(torch.autograd.Function):
            """``StochasticSpikeOperator.apply(x, mean, variance)``: spikes ``x > 0``; the
            gradient is 1 where x spikes and ``(U - 0.5 + mean) * variance`` elsewhere, with U
            uniform in [0, 1) drawn in the backward from PyTorch's default generator."""

            @staticmethod
            def forward(ctx: Any, x: Any, mean: float, variance: float) -> Any:
                out = (x > 0).to(x.dtype)
                ctx.save_for_backward(x, out)
                ctx.mean, ctx.variance = mean, variance
                return out

            @staticmethod
            def backward(ctx: Any, grad_output: Any) -> Any:
                x, out = ctx.saved_tensors
                noise = (torch.rand_like(x) - 0.5 + ctx.mean) * ctx.variance
                return grad_output * out + grad_output * (1 - out) * noise, None, None

        _torch_functions.update(CustomSurrogate=CustomSurrogate,
                                StochasticSpikeOperator=StochasticSpikeOperator)
    return _torch_functions


def custom_surrogate(custom_surrogate_function: Any) -> Any:
    """snntorch's ``custom_surrogate(fn)``: spikes ``x > 0`` whose backward is
    ``fn(input_, grad_input, spikes)`` (PyTorch only)."""

    def inner(x: Any) -> Any:
        return _functions()["CustomSurrogate"].apply(x, custom_surrogate_function)

    return inner


def SSO(mean: float = 0, variance: float = 0.2) -> Any:  # noqa: N802 - snntorch's name
    """snntorch's stochastic spike operator ``SSO(mean, variance)`` (PyTorch only): see
    ``StochasticSpikeOperator``."""

    def inner(x: Any) -> Any:
        return _functions()["StochasticSpikeOperator"].apply(x, mean, variance)

    return inner


def __getattr__(name: str) -> Any:
    if name in ("CustomSurrogate", "StochasticSpikeOperator"):
        return _functions()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ += ["SSO", "custom_surrogate"]


def canonical_of(surrogate: Any) -> CompatSurrogate:
    """The snntorch spelling of a catalogue surrogate (``ValueError`` if snntorch has none)."""
    return from_canonical(surrogate, "snntorch")
