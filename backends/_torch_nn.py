"""``torch.nn.Module`` form of a surrogate spike, for ``nn.Sequential`` users.

Public as :mod:`spikegrad.nn` (imported on first access; it imports PyTorch).
"""

from __future__ import annotations

from typing import Any

import torch

from spikegrad._surrogate import Surrogate, from_dict, get

__all__ = ["Spike", "safe_globals"]


class Spike(torch.nn.Module):
    """A layer that emits spikes ``x >= 0`` with a surrogate gradient.

    Parameters
    ----------
    surrogate
        A surrogate object, or a registered name (see :func:`spikegrad.available`).
    **params
        Parameters for the named surrogate.

    Examples
    --------
    >>> import torch
    >>> import spikegrad as sg
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), sg.nn.Spike("arctan", alpha=2.0))
    >>> net[1]
    Spike(Arctan(alpha=2.0))
    >>> sg.nn.Spike(sg.Sigmoid())(torch.tensor([-1.0, 0.0, 1.0]))
    tensor([0., 1., 1.])
    """

    def __init__(self, surrogate: Surrogate | str = "sigmoid", **params: Any) -> None:
        super().__init__()
        if isinstance(surrogate, str):
            surrogate = get(surrogate, **params)
        elif not isinstance(surrogate, Surrogate) or params:
            raise TypeError(
                f"Spike takes a Surrogate or a registered name (with its parameters); got "
                f"{surrogate!r}{' with ' + str(params) if params else ''}. Example: "
                "Spike(spikegrad.Sigmoid(alpha=4.0)) or Spike('sigmoid', alpha=4.0)"
            )
        self.surrogate = surrogate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.surrogate(x)

    # The surrogate travels in the state dict as its portable dictionary (Surrogate.to_dict):
    # plain numbers and strings, so torch.load(..., weights_only=True) reads it.
    def get_extra_state(self) -> dict[str, Any]:
        return self.surrogate.to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.surrogate = from_dict(state)

    def extra_repr(self) -> str:
        return repr(self.surrogate)

    def __repr__(self) -> str:
        return f"Spike({self.surrogate!r})"


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
