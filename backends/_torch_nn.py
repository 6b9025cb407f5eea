"""``torch.nn.Module`` form of a surrogate spike, for ``nn.Sequential`` users.

Public as :mod:`spikegrad.nn` (imported on first access; it imports PyTorch).
"""

from __future__ import annotations

from typing import Any

import torch

from spikegrad._surrogate import Surrogate, get

__all__ = ["Spike"]


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

    def extra_repr(self) -> str:
        return repr(self.surrogate)

    def __repr__(self) -> str:
        return f"Spike({self.surrogate!r})"


Spike.__module__ = "spikegrad.nn"  # its one public path (pickles refer to it)
