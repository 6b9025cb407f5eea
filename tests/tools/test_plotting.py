"""The figures (spikegrad.tools.plotting): parameter families, legends off the curves."""

from __future__ import annotations

import pytest

import spikegrad as sg
from spikegrad.tools.plotting import parameter_values, plot_surrogates, plot_thumbnail, variants

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", sg.available())
def test_variants_vary_one_parameter_within_its_range(name):
    default = sg.get(name)
    family = variants(default)
    assert 2 <= len(family) <= 3, family
    assert default in family
    assert {type(s) for s in family} == {type(default)}
    varied = {k for s in family for k, v in s.params.items() if v != default.params[k]}
    assert len(varied) == 1, family
    (key,) = varied
    values = [s.params[key] for s in family]
    assert values == sorted(values) and len(set(values)) == len(values)
    param = getattr(type(default), key)
    for v in values:
        assert param.validate(v) == v  # inside the declared range


@pytest.mark.parametrize("cls", [type(sg.get(n)) for n in sg.available()], ids=sg.available())
def test_parameter_values_are_allowed_and_include_the_default(cls):
    for param in cls._params:
        values = parameter_values(param, param.default)
        assert param.default in values
        assert all(param.validate(v) == v for v in values)


def test_parameter_values_are_clipped_to_the_bounds():
    assert parameter_values(sg.PiecewiseLeakyRelu.c, 1e4) == [5e3, 1e4]  # 2e4 > le=1e4: dropped
    assert parameter_values(sg.LogTailedRelu.alpha, 0.0) == [0.0, 0.25, 0.5]
    assert parameter_values(sg.SquarewaveFourierSeries.n, 1) == [1, 2]  # 0 < ge=1 becomes 1


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_legend_is_readable_and_covers_no_curve():
    fig = plot_surrogates(variants(sg.Sigmoid()))
    fig.canvas.draw()
    (legend,) = fig.legends
    box = legend.get_window_extent()
    for ax in fig.axes:
        assert not _overlaps(box, ax.get_window_extent())
        assert ax.get_legend() is None
    assert all(t.get_fontsize() >= 9 for t in legend.get_texts())
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["spike (forward)", "alpha=2.0", "alpha=4.0 (default)", "alpha=8.0"]
    # One colour per surrogate in both panels: g on the left, g' on the right.
    left, right = fig.axes
    assert [line.get_color() for line in left.get_lines()[1:4]] == [
        line.get_color() for line in right.get_lines()[:3]
    ]


def test_legend_beside_axes_given_by_the_caller():
    fig, axes = plt.subplots(1, 2)
    assert plot_surrogates([sg.Sigmoid(), sg.Arctan()], (-3.0, 3.0), ax=axes) is fig
    fig.canvas.draw()
    legend = axes[1].get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["spike (forward)", "Sigmoid(alpha=4.0)", "Arctan(alpha=1.0)"]
    box = legend.get_window_extent()
    assert not any(_overlaps(box, ax.get_window_extent()) for ax in axes)


def test_x_range_is_chosen_where_the_curves_are():
    narrow = plot_surrogates([sg.InvSquareGrad()])  # g' has half-width 1/alpha = 0.01
    low, high = narrow.axes[1].get_xlim()
    assert low == -high and 0.05 <= high <= 0.25
    wide = plot_surrogates([sg.LeakyRelu()])  # g' never decays
    assert wide.axes[1].get_xlim() == (-3.0, 3.0)
    given = plot_surrogates([sg.InvSquareGrad()], (-1.0, 2.0))
    assert given.axes[0].get_xlim() == (-1.0, 2.0)


def test_thumbnail_has_the_curve_and_no_text():
    fig = plot_thumbnail(sg.GaussianGrad())
    (ax,) = fig.axes
    curve = ax.get_lines()[-1]
    assert max(curve.get_ydata()) == pytest.approx(sg.GaussianGrad().surrogate_grad(0.0))
    assert not ax.get_xticks().size and not ax.get_yticks().size
    assert not fig.texts and not ax.get_title()
