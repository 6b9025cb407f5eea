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

from ._base import CompatSurrogate, compat_class, from_canonical, register
from ._mapping import ENTRIES
from ._random import sample_spikes

__all__ = ["PoissonPass", "SurrogateFunctionBase", "canonical_of", "heaviside"]


def heaviside(x: Any) -> Any:
    """spikingjelly's ``heaviside``: ``x >= 0`` in ``x``'s dtype, with no gradient."""
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    return xp.astype(x >= 0, x.dtype)


class SurrogateFunctionBase(CompatSurrogate):
    """The base of spikingjelly's surrogate classes: ``spiking`` chooses spikes or g."""

    keywords = {"spiking": True}  # the constructor's keywords besides the parameters

    def __init__(self, *args: Any, spiking: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spiking = spiking

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
    register(_cls)
    globals()[_e.name] = _cls
    _lower = _LOWER[_e.name]
    # The autograd class (``atan.apply(x, alpha)``) and the backward helper.
    globals()[_lower] = type(_lower, (), {"apply": _cls.spiking_function, "__module__": __name__})
    globals()[f"{_lower}_backward"] = (
        lambda grad_output, x, *params, _c=_cls: (_c(*params).vjp(x, grad_output), None)
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


def canonical_of(surrogate: Any) -> CompatSurrogate:
    """The spikingjelly spelling of a catalogue surrogate (``ValueError`` if it has none)."""
    return from_canonical(surrogate, "spikingjelly")
