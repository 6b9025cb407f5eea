"""``spikingjelly.activation_based.surrogate`` (spikingjelly 2.0), spelled as spikingjelly
spells it, on every backend.

``from spikegrad.compat import spikingjelly as surrogate`` in place of
``from spikingjelly.activation_based import surrogate``: the classes take spikingjelly's
parameters and ``spiking`` (``ATan(alpha=2.0, spiking=True)``); ``spiking=False`` (or
``set_spiking_mode(False)``) returns the primitive g instead of spikes; ``spiking_function``,
``primitive_function`` and ``backward`` are there as static methods, the lower-case autograd
classes (``atan.apply(x, alpha)``), the ``<name>_backward`` helpers and ``heaviside``. The
forward is spikingjelly's ``x >= 0``. Each object is a :class:`~spikegrad.Surrogate` (not a
``torch.nn.Module``): its ``canonical()`` is the catalogue surrogate it is, and it runs on
NumPy, JAX, PyTorch and CuPy with every transform.

>>> import numpy as np
>>> from spikegrad.compat import spikingjelly as surrogate
>>> f = surrogate.ATan()
>>> f
ATan(alpha=2.0, spiking=True)
>>> f.canonical()
Arctan(alpha=2.0)
>>> f(np.array([-1.0, 0.0, 1.0]))
array([0., 1., 1.])
"""

from __future__ import annotations

from typing import Any

from .._types import array_namespace, is_traced
from ._base import CompatSurrogate, compat_class, from_canonical, number, register
from ._mapping import ENTRIES
from ._straight_through import sample_spikes, straight_through

__all__ = [
    "MultiLevelSpikeCount", "PoissonPass", "SurrogateFunctionBase", "canonical_of",
    "check_manual_grad", "heaviside", "plot_surrogate_function", "poisson_pass",
]


def heaviside(x: Any) -> Any:
    """spikingjelly's ``heaviside``: ``x >= 0`` in ``x``'s dtype, with no gradient."""
    xp = array_namespace(x)
    return xp.astype(x >= 0, x.dtype)


_UNSET = object()  # (spiking not given)


class SurrogateFunctionBase(CompatSurrogate):
    """The base of spikingjelly's surrogate classes: ``spiking`` chooses spikes or g."""

    keywords = {"spiking": True}  # the constructor's arguments after the parameters

    def __init__(self, *args: Any, spiking: Any = _UNSET, **kwargs: Any) -> None:
        if len(args) == len(type(self).entry.params) + 1:  # spikingjelly's order: the
            *args, positional = args  # parameters, then spiking
            if spiking is not _UNSET:
                raise TypeError(f"spikingjelly.{type(self).entry.name} got spiking twice")
            spiking = positional
        super().__init__(*args, **kwargs)
        self.spiking = True if spiking is _UNSET else spiking

    @property
    def spiking(self) -> bool:
        """True: the call returns spikes; False: the primitive g (spikingjelly's switch)."""
        return not self._origin

    @spiking.setter
    def spiking(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"spiking must be True or False; got {value!r}")
        self.origin = not value

    def set_spiking_mode(self, spiking: bool) -> None:
        self.spiking = spiking

    # The parameters are attributes, as spikingjelly's, read at every call and writable (for
    # example to anneal alpha during training): a new value is validated and used from then on,
    # until the object is hashed (a jax.jit static argument, a dict key), as for origin.
    def __getattr__(self, name: str) -> Any:
        names = [n for n, _ in type(self).entry.params]
        if name in names:
            return self._param_values[names.index(name)]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        names = [n for n, _ in type(self).entry.params]
        if name not in names:
            super().__setattr__(name, value)
            return
        values = {**self.params, name: number(value, f"spikingjelly.{self.entry.name}: {name}")}
        if self._hashed and (is_traced(values[name]) or values[name] != self.params[name]):
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise self._frozen(name, f"spikingjelly.{self.entry.name}({shown})")
        object.__setattr__(self, "_canonical", self.entry.canonical_for(**values))
        object.__setattr__(self, "_param_values", tuple(values.values()))

    def extra_repr(self) -> str:
        return ", ".join([*(f"{k}={v!r}" for k, v in self.params.items()),
                          f"spiking={self.spiking}"])

    def __repr__(self) -> str:
        return f"{self.entry.name}({self.extra_repr()})"

    def replace(self, **changes: Any) -> Any:
        spiking = changes.pop("spiking", self.spiking)
        return type(self)(**{**self.params, **changes}, spiking=spiking)


def _static(cls: type[SurrogateFunctionBase]) -> dict[str, Any]:
    """spikingjelly's static methods of a class: ``spiking_function(x, *params)``,
    ``primitive_function(x, *params)`` and ``backward(grad_output, x, *params)``."""

    def spiking_function(x: Any, *params: Any) -> Any:
        return cls(*params)(x)

    def primitive_function(x: Any, *params: Any) -> Any:
        return cls(*params, spiking=False)(x)

    def backward(grad_output: Any, x: Any, *params: Any) -> Any:
        return cls(*params).vjp(x, grad_output)

    return {"spiking_function": staticmethod(spiking_function),
            "primitive_function": staticmethod(primitive_function),
            "backward": staticmethod(backward)}


# spikingjelly's lower-case autograd class (and ``<name>_backward`` helper) of each class.
_LOWER = {
    "PiecewiseQuadratic": "piecewise_quadratic", "PiecewiseExp": "piecewise_exp",
    "Sigmoid": "sigmoid", "SoftSign": "soft_sign", "SuperSpike": "super_spike", "ATan": "atan",
    "NonzeroSignLogAbs": "nonzero_sign_log_abs", "Erf": "erf",
    "PiecewiseLeakyReLU": "piecewise_leaky_relu",
    "SquarewaveFourierSeries": "squarewave_fourier_series", "S2NN": "s2nn",
    "QPseudoSpike": "q_pseudo_spike", "LeakyKReLU": "leaky_k_relu",
    "FakeNumericalGradient": "fake_numerical_gradient", "LogTailedReLU": "log_tailed_relu",
    "Rect": "rect", "DeterministicPass": "deterministic_pass",
}

for _e in ENTRIES:
    if _e.library != "spikingjelly":
        continue
    _cls = compat_class(_e, SurrogateFunctionBase)
    for _name, _fn in _static(_cls).items():
        setattr(_cls, _name, _fn)
    register(_cls, globals())
    _lower = _LOWER[_e.name]
    # The autograd class (``atan.apply(x, alpha)``) and the backward helper.
    globals()[_lower] = type(_lower, (), {"apply": _cls.spiking_function, "__module__": __name__})
    # (spikingjelly's return the gradient of x and a None for each parameter)
    globals()[f"{_lower}_backward"] = (
        lambda grad_output, x, *params, _c=_cls: (_c(*params).vjp(x, grad_output),
                                                   *(None for _ in _c.entry.params))
    )
    __all__ += [_e.name, _lower, f"{_lower}_backward"]


class PoissonPass:
    """spikingjelly's ``PoissonPass``: spikes drawn with probability x (x in [0, 1]), gradient 1.

    ``spiking=False`` returns x. The draw uses the framework's random source: PyTorch's
    generator (``torch.manual_seed``, or ``generator=``), a JAX ``key=`` or a NumPy ``rng=``.
    """

    def __init__(self, spiking: bool = True) -> None:
        self.spiking = spiking
        self._through = DeterministicPass()  # noqa: F821 - defined by the loop above

    def set_spiking_mode(self, spiking: bool) -> None:
        self.spiking = spiking

    def __call__(self, x: Any, **random: Any) -> Any:
        if not self.spiking:
            return x
        return sample_spikes(self._through, x, x, **random)

    def __repr__(self) -> str:
        return f"PoissonPass(spiking={self.spiking})"


class poisson_pass:  # noqa: N801 - spikingjelly's name for its autograd class
    """``poisson_pass.apply(x)``: :class:`PoissonPass` called on ``x``."""

    @staticmethod
    def apply(x: Any, **random: Any) -> Any:
        return PoissonPass()(x, **random)


class MultiLevelSpikeCount:
    """spikingjelly's multi-level spike count: ``round(clip(x, 0, max_spike_count))`` forward,
    gradient 1 on ``[grad_min, grad_max]`` and 0 outside (straight through a box).

    ``spiking=False`` returns ``clip(x, 0, max_spike_count)``. Not a spike of the catalogue (the
    forward has several levels): it runs on any Array-API library, with the gradient in PyTorch
    and JAX.
    """

    def __init__(self, max_spike_count: int, spiking: bool = True,
                 grad_window: tuple[float, float] | None = None) -> None:
        if isinstance(max_spike_count, bool) or not isinstance(max_spike_count, int):
            raise TypeError(
                f"max_spike_count must be a whole number (int); got {max_spike_count!r}")
        if max_spike_count < 1:
            raise ValueError(f"max_spike_count must be >= 1; got {max_spike_count}")
        grad_min, grad_max = (0.0, float(max_spike_count)) if grad_window is None else (
            float(grad_window[0]), float(grad_window[1]))
        if grad_min > grad_max:
            raise ValueError(f"grad_window must have grad_min <= grad_max; got {grad_window}")
        self.max_spike_count, self.grad_min, self.grad_max = max_spike_count, grad_min, grad_max
        self.spiking = spiking

    def set_spiking_mode(self, spiking: bool) -> None:
        self.spiking = spiking

    def __call__(self, x: Any) -> Any:
        xp = array_namespace(x)
        clipped = xp.clip(x, min=0.0, max=float(self.max_spike_count))
        if not self.spiking:
            return clipped
        return straight_through(xp.round(clipped),
                                xp.clip(x, min=self.grad_min, max=self.grad_max))

    def extra_repr(self) -> str:
        return (f"max_spike_count={self.max_spike_count}, grad_min={self.grad_min}, "
                f"grad_max={self.grad_max}, spiking={self.spiking}")

    def __repr__(self) -> str:
        return f"MultiLevelSpikeCount({self.extra_repr()})"


def check_manual_grad(primitive_function: Any, spiking_function: Any, *args: Any,
                      **kwargs: Any) -> None:
    """spikingjelly's check (PyTorch): prints the largest difference between the autograd
    derivative of ``primitive_function`` and the gradient of ``spiking_function`` on
    ``arange(-2, 2, 1/256)``."""
    import torch

    x = torch.arange(-2.0, 2.0, 32 / 8192, requires_grad=True)
    primitive_function(x, *args, **kwargs).sum().backward()
    by_autograd = x.grad.clone()
    x.grad.zero_()
    spiking_function(x, *args, **kwargs).sum().backward()
    print("max error:", (by_autograd - x.grad).abs().max().item())


def plot_surrogate_function(surrogate_function: Any) -> None:
    """spikingjelly's figure: the surrogate's g and g', saved as ``./<Class>.pdf`` and ``.svg``
    (drawn by :func:`spikegrad.tools.plotting.plot_surrogates`; needs matplotlib)."""
    from ..tools.plotting import plot_surrogates

    figure = plot_surrogates([surrogate_function.canonical()])
    for suffix in ("pdf", "svg"):
        figure.savefig(f"./{type(surrogate_function).__name__}.{suffix}")


def canonical_of(surrogate: Any) -> CompatSurrogate:
    """The spikingjelly spelling of a catalogue surrogate (``ValueError`` if it has none)."""
    return from_canonical(surrogate, "spikingjelly")
