"""Figures of surrogates: the spike, the primitive g and the surrogate gradient g'.

Used by ``spikegrad plot`` and by the documentation (each surrogate's page is drawn by the
library itself at build time). Needs matplotlib (``pip install 'spikegrad[docs]'``). The curves
are computed with NumPy in float64 (the ``numpy`` backend, whatever ``SPIKEGRAD_BACKEND``
selects).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import spikegrad as sg
from spikegrad import _math

__all__ = ["plot_surrogates"]


def plot_surrogates(surrogates: Sequence[Any], x_range: tuple[float, float] = (-3.0, 3.0),
                    ax: Any = None) -> Any:
    """Plot the step, g and g' of each surrogate (overlaid when several) on one figure.

    Parameters
    ----------
    surrogates
        Surrogate objects.
    x_range
        The interval of x shown.
    ax
        Two matplotlib axes ``(left, right)`` to draw into; new ones when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    left, right = ax
    x = np.linspace(*x_range, 1201)
    left.plot(x, _math.spike(x, xp=np), color="0.3", lw=1.2, ls="--", label="spike (forward)")
    with sg.backend("numpy"):
        for s in surrogates:
            label = repr(s)
            if s.primitive is not None:
                left.plot(x, s.surrogate_fun(x), lw=1.8, label=f"g: {label}")
            right.plot(x, s.surrogate_grad(x), lw=1.8, label=f"g': {label}")
    left.set(title="forward: spike and primitive g(x)", xlabel="x")
    right.set(title="backward: surrogate gradient g'(x)", xlabel="x")
    for a in (left, right):
        a.grid(alpha=0.3)
        a.axvline(0.0, color="0.8", lw=0.8)
        a.legend(fontsize=7, loc="upper left")
    fig = left.figure
    fig.tight_layout()
    return fig
