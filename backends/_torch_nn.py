"""``torch.nn.Module`` form of a surrogate spike, for ``nn.Sequential`` users.

Public as :mod:`spikegrad.nn` (imported on first access; it imports PyTorch).
"""

from __future__ import annotations

from typing import Any

import torch

from spikegrad._contract import Spec
from spikegrad._surrogate import Surrogate, _trainable_names, _trains_nothing, from_dict, get
from spikegrad._types import is_array_value

from . import _torch

__all__ = ["Spike", "safe_globals"]


class Spike(torch.nn.Module):
    """A layer that emits spikes ``x >= 0`` with a surrogate gradient.

    Parameters
    ----------
    surrogate
        A surrogate object, or a registered name (see :func:`spikegrad.available`).
    trainable
        Surrogate parameters to train with the network, e.g. ``("alpha",)`` (default: none;
        the surrogate's own ``trainable`` counts too). Each becomes a ``torch.nn.Parameter``
        in its unconstrained space (:attr:`spikegrad.Param.space`): ``log_<name>`` holding
        ``log(value)`` for a positive parameter, ``<name>`` holding the value otherwise; the
        value used is :meth:`spikegrad.Param.from_raw` of it (clamped into the declared range),
        so no optimiser step can make it invalid. Its gradient is the straight-through one,
        ``sum(v * dg(x; alpha)/dalpha)`` (see :doc:`/guides/trainable`).
    **params
        Parameters for the named surrogate.

    Attributes
    ----------
    surrogate
        The surrogate with its current (learned) values as Python floats. Assigning one sets
        the parameters' values in place (the optimiser keeps them).

    Examples
    --------
    >>> import torch
    >>> import spikegrad as sg
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), sg.nn.Spike("arctan", alpha=2.0))
    >>> net[1]
    Spike(Arctan(alpha=2.0))
    >>> sg.nn.Spike(sg.Sigmoid())(torch.tensor([-1.0, 0.0, 1.0]))
    tensor([0., 1., 1.])

    Training the surrogate's steepness with the weights:

    >>> layer = sg.nn.Spike("sigmoid", alpha=2.0, trainable=("alpha",))
    >>> [name for name, _ in layer.named_parameters()]
    ['log_alpha']
    >>> layer(torch.tensor([-0.5, 0.5])).sum().backward()
    >>> round(layer.log_alpha.grad.item(), 6)  # d/dlog(alpha) of g(-0.5) + g(0.5) = 1
    0.0
    """

    def __init__(self, surrogate: Surrogate | str = "sigmoid", *,
                 trainable: tuple[str, ...] = (), **params: Any) -> None:
        super().__init__()
        if isinstance(surrogate, str):
            surrogate = get(surrogate, **params)
        elif not isinstance(surrogate, Surrogate) or params:
            raise TypeError(
                f"Spike takes a Surrogate or a registered name (with its parameters); got "
                f"{surrogate!r}{' with ' + str(params) if params else ''}. Example: "
                "Spike(spikegrad.Sigmoid(alpha=4.0)) or Spike('sigmoid', alpha=4.0)"
            )
        if not _trains_nothing(trainable):
            if hasattr(surrogate, "canonical"):  # a peer library's spelling
                raise TypeError(
                    f"{surrogate!r} trains no parameters; train its catalogue surrogate: "
                    f"Spike(s.canonical(), trainable={trainable!r})"
                )
            wanted = _trainable_names(type(surrogate), trainable)  # a clear TypeError if not
            surrogate = surrogate.replace(trainable=(*surrogate.trainable, *wanted))
        self._raw: dict[str, str] = {}  # trained parameter -> the attribute holding its raw value
        self.surrogate = surrogate

    @property
    def surrogate(self) -> Surrogate:
        base = self._base
        if not base.trainable:
            return base
        return base.replace(**{n: float(v.detach()) for n, v in self._values().items()})

    @surrogate.setter
    def surrogate(self, surrogate: Surrogate) -> None:
        if not isinstance(surrogate, Surrogate):
            raise TypeError(f"Spike.surrogate is a spikegrad Surrogate; got {surrogate!r}")
        concrete = {n: float(v.detach()) for n, v in surrogate.params.items()
                    if is_array_value(v)}  # tensors given for trained parameters
        base = surrogate.replace(**concrete) if concrete else surrogate
        params = {p.name: p for p in type(base)._params}
        for name in [n for n in self._raw if n not in base.trainable]:
            delattr(self, self._raw.pop(name))
        for name in base.trainable:
            param = params[name]
            raw = param.to_raw(base.params[name])
            attr = f"log_{name}" if param.space == "log" else name
            if self._raw.get(name) == attr:
                with torch.no_grad():
                    getattr(self, attr).fill_(raw)
            else:
                if name in self._raw:
                    delattr(self, self._raw.pop(name))
                self.register_parameter(attr, torch.nn.Parameter(torch.tensor(raw)))
                self._raw[name] = attr
        self._base = base

    def _values(self) -> dict[str, torch.Tensor]:
        """The trained parameters' current values, differentiable with respect to the raw
        ``nn.Parameter``s."""
        params = {p.name: p for p in type(self._base)._params}
        return {n: params[n].from_raw(getattr(self, attr), xp=torch)
                for n, attr in self._raw.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self._base
        if not base.trainable:
            return base(x)
        spec = base.spec
        trained = self._values()
        names = spec.formula.value_names
        values = tuple(trained.get(n, v) for n, v in zip(names, spec.values))
        spec = Spec(spec.formula, values)
        adapter = _torch.ADAPTER
        return adapter.fun(spec, x) if base.origin else adapter.spike(spec, x)

    # The surrogate travels in the state dict as its portable dictionary (Surrogate.to_dict):
    # plain numbers and strings, so torch.load(..., weights_only=True) reads it. Trained values
    # appear there as floats for reading; their raw nn.Parameters, loaded before the extra
    # state, are what the layer computes with. A layer whose learned values cannot be read as
    # valid numbers (a raw parameter that went NaN in a diverged run; a layer on the meta
    # device) still prints and saves, so that it can be inspected: its surrogate as built, and
    # the raw values as they are.
    def get_extra_state(self) -> dict[str, Any]:
        current = self._current()
        return (self._base if current is None else current).to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        loaded = from_dict(state)
        if loaded.trainable != self._base.trainable:
            raise ValueError(
                f"the state is that of a Spike training {loaded.trainable or 'no parameters'}, "
                f"but this layer trains {self._base.trainable or 'none'}; build the layer with "
                f"trainable={loaded.trainable!r} to load it"
            )
        if loaded.trainable and type(loaded) is not type(self._base):
            # (checked before anything changes: PyTorch sets the extra state before it reports
            # the raw parameters' names, which differ between surrogates)
            raise ValueError(
                f"the state is that of Spike({loaded!r}), but this layer is "
                f"Spike({self._base!r}), whose trained parameters are stored differently; "
                f"build the layer with a {type(loaded).__name__} (trainable="
                f"{loaded.trainable!r}) to load it"
            )
        self._base = loaded

    def _current(self) -> Surrogate | None:
        """:attr:`surrogate`, or None where the learned values are not valid numbers."""
        try:
            return self.surrogate
        except (ValueError, RuntimeError):  # out of range (NaN); a meta tensor has no value
            return None

    def extra_repr(self) -> str:
        current = self._current()
        if current is not None:
            return repr(current)
        raw = ", ".join(f"{attr}={getattr(self, attr).detach()!r}" for attr in self._raw.values())
        return f"{self._base!r} as built; learned values not valid numbers: {raw}"

    def __repr__(self) -> str:
        return f"Spike({self.extra_repr()})"


Spike.__module__ = "spikegrad.nn"  # its one public path (pickles refer to it)


def safe_globals() -> list[type]:
    """The classes a pickled model holding spikegrad surrogates refers to, for
    ``torch.serialization.safe_globals`` so that ``torch.load(..., weights_only=True)`` reads a
    whole saved model (the state dict needs nothing: it holds the surrogate as plain data).

    Examples
    --------
    >>> import io, torch
    >>> import spikegrad as sg
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), sg.nn.Spike("arctan", alpha=2.0))
    >>> buffer = io.BytesIO(); torch.save(net, buffer); _ = buffer.seek(0)
    >>> allowed = [torch.nn.Sequential, torch.nn.Linear, *sg.nn.safe_globals()]
    >>> with torch.serialization.safe_globals(allowed):
    ...     torch.load(buffer, weights_only=True)[1]
    Spike(Arctan(alpha=2.0))
    """
    from spikegrad import compat
    from spikegrad._surrogate import _REGISTRY

    classes = {Spike, *_REGISTRY.values()}
    for name in compat.available():
        classes.add(type(compat.get(name, **{p: (1.0 if d is None else d) for p, d in
                                             compat._mapping.entry(*name.split(".")).params})))
    return sorted(classes, key=lambda c: (c.__module__, c.__qualname__))
