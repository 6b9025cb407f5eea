"""Figures of surrogates: the spike, the primitive g and the surrogate gradient g'.

Used by ``spikegrad plot`` and by the documentation (each surrogate's page and the thumbnails
of the catalogue are drawn by the library itself at build time). Needs matplotlib
(``pip install 'spikegrad[docs]'``). The curves are computed with NumPy in float64 (the
``numpy`` backend, whatever ``SPIKEGRAD_BACKEND`` selects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import spikegrad as sg
from spikegrad import _math

__all__ = ["parameter_values", "plot_surrogates", "plot_thumbnail", "variants"]

# The widest x range shown when it is chosen automatically, and the "round" half-widths it
# snaps to.
_X_LIMIT = 3.0
_HALF_WIDTHS = (0.1, 0.2, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
# Text sizes (points) that stay readable when a figure is shrunk to the width of a page.
_FONT = {"font.size": 10, "axes.titlesize": 10.5, "legend.fontsize": 9.5}


def parameter_values(param: sg.Param, value: float) -> list[float]:
    """Two or three values of a parameter around ``value``, within its declared range.

    Half, the value itself and twice the value (for a value of 0: 0, 0.25 and 0.5), each moved
    into the closed bounds ``ge``/``le`` of ``param`` and dropped when still not allowed;
    sorted, without repeats.

    Parameters
    ----------
    param
        The parameter's declaration (its class attribute, e.g. ``sg.Sigmoid.alpha``).
    value
        The value to centre on (usually the default).

    Returns
    -------
    list of float or int

    Examples
    --------
    >>> import spikegrad as sg
    >>> from spikegrad.tools.plotting import parameter_values
    >>> parameter_values(sg.Sigmoid.alpha, 4.0)
    [2.0, 4.0, 8.0]
    >>> parameter_values(sg.PiecewiseLeakyRelu.c, 1e4)   # c <= 1e4
    [5000.0, 10000.0]
    >>> parameter_values(sg.SquarewaveFourierSeries.n, 2)
    [1, 2, 4]
    """
    if param.integer:
        raw: list[float] = [value // 2, value, 2 * value]
    elif value == 0:
        raw = [0.0, 0.25, 0.5]
    else:
        raw = [value / 2, value, 2 * value]
    kept: list[float] = []
    for v in raw:
        if param.ge is not None:
            v = max(v, param.ge)
        if param.le is not None:
            v = min(v, param.le)
        try:
            v = param.validate(v)
        except (TypeError, ValueError):
            continue
        if v not in kept:
            kept.append(v)
    return sorted(kept)


def variants(surrogate: sg.Surrogate, x_range: tuple[float, float] = (-_X_LIMIT, _X_LIMIT)
             ) -> list[sg.Surrogate]:
    """Copies of ``surrogate`` with the parameter that shapes g' most at 2 or 3 values.

    Each parameter in turn takes the values of :func:`parameter_values`; the one whose values
    change g' most over ``x_range`` (largest difference between the lowest and the highest
    value, relative to the peak of ``surrogate``'s g') is kept. A surrogate without parameters
    gives ``[surrogate]``.

    Parameters
    ----------
    surrogate
        The surrogate to vary (its values are the centre: usually the defaults).
    x_range
        The interval of x over which g' is compared.

    Returns
    -------
    list of Surrogate
        Sorted by the varied parameter; ``surrogate`` itself is among them (as an equal copy).

    Examples
    --------
    >>> import spikegrad as sg
    >>> from spikegrad.tools.plotting import variants
    >>> variants(sg.Sigmoid())
    [Sigmoid(alpha=2.0), Sigmoid(alpha=4.0), Sigmoid(alpha=8.0)]
    >>> [s.w for s in variants(sg.PiecewiseLeakyRelu())]   # w shows more than the slope c
    [0.5, 1.0, 2.0]
    """
    cls = type(surrogate)
    x = np.linspace(*x_range, 1201)
    best, best_effect = [surrogate], 0.0
    with sg.backend("numpy"):
        peak = float(np.max(np.abs(surrogate.surrogate_grad(x)))) or 1.0
        for name, value in surrogate.params.items():
            values = parameter_values(getattr(cls, name), value)
            if len(values) < 2:
                continue
            family = [surrogate.replace(**{name: v}) for v in values]
            low, high = family[0].surrogate_grad(x), family[-1].surrogate_grad(x)
            effect = float(np.max(np.abs(high - low))) / peak
            if effect > best_effect:
                best, best_effect = family, effect
    return best


def _auto_range(surrogates: Sequence[Any]) -> tuple[float, float]:
    """A symmetric x range, at most [-3, 3], where the tallest g' is above 1% of its peak."""
    x = np.linspace(-_X_LIMIT, _X_LIMIT, 4801)
    with sg.backend("numpy"):
        tallest = np.max([np.abs(s.surrogate_grad(x)) for s in surrogates], axis=0)
    visible = np.abs(x[tallest >= 0.01 * tallest.max()])
    needed = 1.2 * float(visible.max()) if visible.size else _X_LIMIT
    half = next((h for h in _HALF_WIDTHS if h >= needed), _X_LIMIT)
    return (-half, half)


def _labels(surrogates: Sequence[Any]) -> tuple[list[str], str | None]:
    """Legend labels (and a legend title): only the parameters that differ, for one type."""
    types = {type(s) for s in surrogates}
    if len(surrogates) < 2 or len(types) != 1:
        return [repr(s) for s in surrogates], None
    cls = types.pop()
    first = surrogates[0].params
    varying = [k for k in first if len({repr(s.params[k]) for s in surrogates}) > 1]
    if not varying:
        return [repr(s) for s in surrogates], None
    defaults = cls().params
    labels = []
    for s in surrogates:
        text = ", ".join(f"{k}={s.params[k]!r}" for k in varying)
        if all(s.params[k] == defaults[k] for k in varying):
            text += " (default)"
        labels.append(text)
    return labels, cls.__name__


def plot_surrogates(surrogates: Sequence[Any], x_range: tuple[float, float] | None = None,
                    ax: Any = None) -> Any:
    """Plot the step, g and g' of each surrogate (overlaid when several) on one figure.

    The left panel shows the spike (the forward pass) and each primitive g, the right panel
    each g'. A surrogate has one colour in both panels; the legend sits below the panels (or,
    in axes given by the caller whose figure has no constrained layout, to the right of them),
    never over the curves. Several surrogates of one class are labelled by the parameters in
    which they differ (see :func:`variants`).

    Parameters
    ----------
    surrogates
        Surrogate objects.
    x_range
        The interval of x shown; ``None`` chooses a symmetric one, at most [-3, 3], where the
        tallest g' is above 1% of its peak.
    ax
        Two matplotlib axes ``(left, right)`` to draw into; new ones when ``None``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import spikegrad as sg
    >>> from spikegrad.tools.plotting import plot_surrogates, variants
    >>> fig = plot_surrogates(variants(sg.Sigmoid()))
    >>> [t.get_text() for t in fig.legends[0].get_texts()]
    ['spike (forward)', 'alpha=2.0', 'alpha=4.0 (default)', 'alpha=8.0']
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    surrogates = list(surrogates)
    if x_range is None:
        x_range = _auto_range(surrogates)
    labels, legend_title = _labels(surrogates)
    with plt.rc_context(_FONT):
        if ax is None:
            fig, ax = plt.subplots(1, 2, figsize=(8.0, 3.4), layout="constrained")
        left, right = ax
        fig = left.figure
        x = np.linspace(*x_range, 1201)
        handles = left.plot(x, _math.spike(x, xp=np), color="0.35", lw=1.2, ls="--",
                            label="spike (forward)")
        with sg.backend("numpy"):
            for i, (s, label) in enumerate(zip(surrogates, labels)):
                color = f"C{i % 10}"
                if s.primitive is not None:
                    left.plot(x, s.surrogate_fun(x), lw=1.8, color=color)
                handles += right.plot(x, s.surrogate_grad(x), lw=1.8, color=color, label=label)
        left.set(title="forward: spike and primitive g(x)", xlabel="x")
        right.set(title="backward: surrogate gradient g'(x)", xlabel="x")
        for a in (left, right):
            a.grid(alpha=0.3)
            a.axvline(0.0, color="0.8", lw=0.8, zorder=0)
            a.set_xlim(*x_range)
        texts = [h.get_label() for h in handles]
        columns = min(len(handles), 4)
        engine = fig.get_layout_engine()
        if engine is not None and type(engine).__name__ == "ConstrainedLayoutEngine":
            fig.legend(handles, texts, loc="outside lower center", ncols=columns,
                       frameon=False, title=legend_title)
        else:
            right.legend(handles, texts, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                         borderaxespad=0.0, frameon=False, title=legend_title)
    return fig


def plot_thumbnail(surrogate: Any, ax: Any = None) -> Any:
    """A small picture of g' alone (no text), for the catalogue's index.

    Parameters
    ----------
    surrogate
        A surrogate object.
    ax
        A matplotlib axes to draw into; a new 2 x 1.2 inch figure when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(2.0, 1.2), layout="constrained")
    x_range = _auto_range([surrogate])
    x = np.linspace(*x_range, 601)
    with sg.backend("numpy"):
        g = surrogate.surrogate_grad(x)
    ax.axhline(0.0, color="0.75", lw=0.8)
    ax.axvline(0.0, color="0.75", lw=0.8)
    ax.plot(x, g, color="C0", lw=2.0)
    ax.set_xlim(*x_range)
    low, high = float(min(g.min(), 0.0)), float(g.max())
    pad = 0.08 * (high - low or 1.0)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    return ax.figure
