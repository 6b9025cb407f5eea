"""PyTorch layers: :class:`Spike`, a surrogate spike as a ``torch.nn.Module``.

Importing this module imports PyTorch (``import spikegrad`` does not; ``spikegrad.nn`` is
imported on first access).
"""

from __future__ import annotations

from .backends._torch_nn import Spike, safe_globals

__all__ = ["Spike", "safe_globals"]
