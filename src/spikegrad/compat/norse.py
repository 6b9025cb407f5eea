"""norse's threshold functions (norse 1.1: ``norse.torch.functional.threshold``,
``.superspike`` and ``.heaviside``), spelled as norse spells them, on every backend.

``threshold(x, method, alpha)`` with norse's method names (``"super"``, ``"triangle"``,
``"tanh"``, ``"circ"``, ``"heavi_erfc"``, ``"heaviside"``), ``super_fn``, ``triangle_fn``,
``heavi_erfc_fn``, ``heavi_tanh_fn``, ``heavi_circ_fn``, ``sign``, ``heaviside``, the autograd
classes (``SuperSpike.apply(x, alpha)``, ...) and the samplers ``logistic_fn`` and
``circ_dist_fn``. The forward is norse's ``x > 0`` (0 at the threshold), in the input's dtype.
``alpha`` may be a 0-d tensor, as norse's neuron parameters pass it. Each function evaluates
through a catalogue surrogate (``surrogate(name, **params)`` returns it), so it runs on NumPy,
JAX, PyTorch and CuPy with every transform.

>>> import numpy as np
>>> from spikegrad.compat import norse
>>> norse.threshold(np.array([-1.0, 0.0, 1.0]), "super", 100.0)
array([0., 0., 1.])
>>> norse.surrogate("heavi_tanh_fn", k=0.3).canonical()
Sigmoid(alpha=0.6, gain=6.666666666666667, spike_at_zero=False)
"""

from __future__ import annotations

import importlib.util
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch  # annotations only (norse's signatures): any array works at run time

from .._functional import _instance
from .._types import array_namespace
from ._base import CompatSurrogate, compat_class, from_canonical, number, register
from ._mapping import ENTRIES, NORSE_METHODS
from ._straight_through import sample_spikes

__all__ = [
    "CircDist", "HeaviCirc", "HeaviErfc", "HeaviTanh", "Logistic", "SuperSpike", "Triangle",
    "canonical_of", "circ_dist_fn", "heavi_circ_fn", "heavi_erfc_fn", "heavi_tanh_fn",
    "heaviside", "logistic_fn", "sign", "super_fn", "superspike_fn", "surrogate", "threshold",
    "triangle_fn",
]

_CLASSES: dict[str, type[CompatSurrogate]] = {}
for _e in ENTRIES:
    if _e.library == "norse":
        _CLASSES[_e.name] = register(compat_class(_e), globals())

def surrogate(name: str, **params: Any) -> CompatSurrogate:
    """The surrogate object behind norse's function ``name`` (e.g. ``"super_fn"``) with
    ``params``: a new object of the caller's own (the functions reuse theirs, cached, for
    plain-number parameters: setting ``origin`` on a shared one would change their results)."""
    if name not in _CLASSES:
        raise ValueError(f"norse has no surrogate function {name!r} here; choose one of "
                         f"{', '.join(sorted(_CLASSES))}")
    values = {k: number(v, f"norse.{name}: {k}") for k, v in params.items()}
    return _CLASSES[name](**values)


def _surrogate(name: str, params: dict[str, Any], x: Any = None) -> CompatSurrogate:
    """:func:`surrogate`, for a call on ``x`` (see :func:`spikegrad._functional._instance`)."""
    values = {k: number(v, f"norse.{name}: {k}") for k, v in params.items()}
    return _instance(_CLASSES[name], (), values, x)  # type: ignore[return-value]


def heaviside(data: torch.Tensor) -> torch.Tensor:
    """norse's ``heaviside``: ``x > 0`` in ``x``'s dtype, with no gradient (as norse's)."""
    xp = array_namespace(data)
    return xp.astype(data > 0, data.dtype)


def super_fn(x: Any, alpha: float = 100.0) -> Any:
    """SuperSpike: g' = 1/(1 + alpha|x|)^2 (norse 1.1's own code ignores alpha)."""
    return _surrogate("super_fn", {"alpha": alpha}, x)(x)


superspike_fn = super_fn


def triangle_fn(x: Any, alpha: float = 0.3) -> Any:
    """Triangle: g' = alpha max(0, 1 - |x|)."""
    return _surrogate("triangle_fn", {"alpha": alpha}, x)(x)


def heavi_erfc_fn(x: Any, k: float) -> Any:
    """Gaussian: g' = (2/sqrt(pi)) exp(-(k x)^2)."""
    return _surrogate("heavi_erfc_fn", {"k": k}, x)(x)


def heavi_tanh_fn(x: Any, k: float) -> Any:
    """tanh: g' = 1 - tanh(k x)^2."""
    return _surrogate("heavi_tanh_fn", {"k": k}, x)(x)


def heavi_circ_fn(x: Any, k: float) -> Any:
    """circ: g' = k^3 / (k^2 + x^2)^(3/2)."""
    return _surrogate("heavi_circ_fn", {"k": k}, x)(x)


_METHODS = {
    "super": super_fn, "triangle": triangle_fn, "tanh": heavi_tanh_fn, "circ": heavi_circ_fn,
    "heavi_erfc": heavi_erfc_fn,
}
assert set(_METHODS) == set(NORSE_METHODS)


def threshold(x: torch.Tensor, method: str, alpha: float) -> torch.Tensor:
    """norse's ``threshold``: spikes ``x > 0`` with the surrogate gradient named by ``method``."""
    if method == "heaviside":
        return heaviside(x)
    fn = _METHODS.get(method)
    if fn is None:
        raise ValueError(
            f"Attempted to apply threshold function {method}, but no such function exist. We "
            "currently support heaviside, super, tanh, triangle, circ, and heavi_erfc."
        )
    return fn(x, alpha)


def sign(x: torch.Tensor, method: str, alpha: float) -> torch.Tensor:
    """norse's ``sign``: -1 or +1, ``2 threshold(x, method, alpha) - 1`` (gradient doubled)."""
    return 2 * threshold(x, method, alpha) - 1


def logistic_fn(x: Any, k: float, **random: Any) -> Any:
    """Spikes drawn with probability (1 + tanh(k x))/2, with ``heavi_tanh_fn``'s gradient.

    The draw uses the framework's random source: PyTorch's generator (``torch.manual_seed``,
    or ``generator=``), a JAX ``key=`` or a NumPy ``rng=``.
    """
    s = _surrogate("heavi_tanh_fn", {"k": k}, x)
    return sample_spikes(s, s.canonical().replace(gain=1.0).surrogate_fun(x), x, **random)


def circ_dist_fn(x: Any, k: float, **random: Any) -> Any:
    """Spikes drawn with probability (1 + x / sqrt(x^2 + k^2))/2, with ``heavi_circ_fn``'s
    gradient (random source as :func:`logistic_fn`)."""
    s = _surrogate("heavi_circ_fn", {"k": k}, x)
    return sample_spikes(s, s.canonical().replace(gain=1.0).surrogate_fun(x), x, **random)


# norse compiles functions that call heaviside, threshold and sign with torch.jit.script when
# it is imported: with PyTorch installed, TorchScript is told to leave them as calls to Python
# (torch.jit.ignore), as norse's own *_fn functions are.
if importlib.util.find_spec("torch") is not None:
    import torch

    for _fn in (heaviside, threshold, sign):
        # TorchScript reads the annotations as objects, not PEP 563 strings.
        _fn.__annotations__ = typing.get_type_hints(_fn, {"torch": torch})
        torch.jit.ignore(_fn)


def _autograd(name: str, fn: Any) -> type:
    return type(name, (), {"apply": staticmethod(fn), "__module__": __name__,
                           "__doc__": f"norse's ``{name}.apply(x, param)``: {fn.__doc__}"})


SuperSpike = _autograd("SuperSpike", super_fn)
Triangle = _autograd("Triangle", triangle_fn)
HeaviErfc = _autograd("HeaviErfc", heavi_erfc_fn)
HeaviTanh = _autograd("HeaviTanh", heavi_tanh_fn)
HeaviCirc = _autograd("HeaviCirc", heavi_circ_fn)
Logistic = _autograd("Logistic", logistic_fn)
CircDist = _autograd("CircDist", circ_dist_fn)


def canonical_of(surrogate_: Any) -> CompatSurrogate:
    """The norse spelling of a catalogue surrogate (``ValueError`` if norse has none)."""
    return from_canonical(surrogate_, "norse")
