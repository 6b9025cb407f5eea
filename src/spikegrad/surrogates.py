"""The surrogate catalogue: a short declaration per surrogate.

The first 18 entries are ``braintools.surrogate``'s, with its names, parameters and defaults;
the others are the distinct maths of snntorch, spikingjelly and norse that braintools lacks
(those libraries' own spellings live in :mod:`spikegrad.compat`). A catalogue entry is

* its two math functions in :mod:`spikegrad._math`, ``<name>_derivative`` (g') and
  ``<name>_primitive`` (g), whose docstrings are the formulas, and
* a declaration here: the class with its summary (and notes), its :class:`~spikegrad.Param`
  attributes (default, allowed range, meaning) and ``cite``, the keys of its references.

Everything else is generated from that: the numpydoc docstring (formulas, parameters with
their ranges, notes, references, and an example whose values are braintools 0.3.0's own, or
those of the library the maths comes from, so that the example checks conformance when the
doctests run), the functional form
(``sigmoid(x, alpha)``), the registry entry for :func:`spikegrad.get`, ``__all__`` and the
documentation page.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from . import _math
from ._functional import functional
from ._params import Param
from ._surrogate import Surrogate

# braintools 0.3.0's own outputs at its default parameters, and those of snntorch,
# spikingjelly and norse (shipped for `spikegrad check` and the compatibility tests).
_DATA = pathlib.Path(__file__).parent / "data"
_BRAINTOOLS = json.loads((_DATA / "braintools-0.3.0.json").read_text())["surrogates"]
_PEERS = json.loads((_DATA / "peers-1.0.json").read_text())
_EXAMPLE_X = (-1.0, 0.0, 0.5, 2.0)

# The smallest value of the positive parameters that multiply x (braintools bounds them only by
# 0). Below about 1e-37, alpha times a constant of the formula rounds to 0 in float32 (a
# subnormal float32, which XLA flushes to zero, or less than the smallest one), and alpha * x at
# x = +-inf is then 0 * inf: g and g' would be NaN there instead of their limits. 1e-30 leaves
# room for the formulas' constants. (Scales and widths, which do not multiply x, keep gt=0.)
_SMALLEST = 1e-30

# The publications the catalogue cites, by key (each declaration's ``cite``).
_REFERENCES = {
    "braintools": "The braintools catalogue.",
    "cai2017": (
        "Z. Cai et al., *Deep learning with low precision by half-wave Gaussian quantization*, "
        "CVPR (2017)."
    ),
    "catalogues": "The SpikingJelly and braintools catalogues (no separate publication).",
    "esser2016": (
        "S. K. Esser et al., *Convolutional networks for fast, energy-efficient neuromorphic "
        "computing*, PNAS 113 (2016)."
    ),
    "bellec2018": (
        "G. Bellec et al., *Long short-term memory and learning-to-learn in networks of spiking "
        "neurons*, NeurIPS (2018)."
    ),
    "gerstner2002": (
        "W. Gerstner, W. M. Kistler, *Spiking neuron models: single neurons, populations, "
        "plasticity*, Cambridge University Press (2002)."
    ),
    "norse": "The threshold functions of the norse library (no separate publication).",
    "perez2021": (
        "N. Perez-Nieves, D. F. M. Goodman, *Sparse spiking gradient descent*, NeurIPS (2021)."
    ),
    "spikingjelly": "The SpikingJelly catalogue (no separate publication).",
    "fang2021": (
        "W. Fang et al., *Incorporating learnable membrane time constant to enhance learning of"
        " spiking neural networks*, ICCV (2021)."
    ),
    "herranz2022": (
        "L. Herranz-Celotti, J. Rouat, *Stabilizing spiking neuron training*, arXiv:2202.00282 "
        "(2022)."
    ),
    "neftci2019": (
        "E. O. Neftci, H. Mostafa, F. Zenke, *Surrogate gradient learning in spiking neural "
        "networks*, IEEE Signal Processing Magazine 36 (2019)."
    ),
    "shrestha2018": (
        "S. B. Shrestha, G. Orchard, *SLAYER: spike layer error reassignment in time*, NeurIPS "
        "(2018)."
    ),
    "suetake2023": (
        "K. Suetake et al., *S3NN: Time step reduction of spiking surrogate gradients for "
        "training energy efficient single-step spiking neural networks*, Neural Networks 159 "
        "(2023)."
    ),
    "wu2018": (
        "Y. Wu et al., *Spatio-temporal backpropagation for training high-performance spiking "
        "neural networks*, Frontiers in Neuroscience 12 (2018)."
    ),
    "yin2021": (
        "B. Yin, F. Corradi, S. M. Bohté, *Accurate and efficient time-domain classification "
        "with adaptive spiking recurrent neural networks*, Nature Machine Intelligence 3 "
        "(2021)."
    ),
    "zenke2018": (
        "F. Zenke, S. Ganguli, *SuperSpike: supervised learning in multilayer spiking neural "
        "networks*, Neural Computation 30 (2018)."
    ),
}




def published(cls: type[Surrogate]) -> dict[str, Any]:
    """The outputs of the library a catalogue entry comes from, measured by running it.

    braintools 0.3.0's at its defaults for braintools' entries; for the others, those of the
    library named by the declaration ``example = (library, name, parameters)``, where the
    entry with ``parameters`` is that library's ``name`` (its forward convention aside).
    Keys: ``source``, ``params``, ``x``, ``forward``, ``grad`` and ``primitive`` (or None).
    """
    reference = _BRAINTOOLS.get(cls.__name__)
    if reference is not None:
        return {**reference, "source": "braintools 0.3.0", "params": {}}
    library, name, params = cls.__dict__["example"]
    case = measured(library, name)
    assert case is not None, (library, name)  # (an example names a measured case)
    return {**case, "primitive": None, "source": f"{library} ``{name}``", "params": params}


def measured(library: str, name: str) -> dict[str, Any] | None:
    """The outputs of ``library``'s surrogate ``name`` measured by running it (snntorch 1.0,
    spikingjelly 2.0, norse 1.1: ``peers-1.0.json``), or None where none were. Keys: ``lib``,
    ``name``, ``params`` (as the library names them), ``x``, ``forward`` and ``grad``."""
    return next((c for c in _PEERS["cases"]
                 if (c["lib"], c["name"]) == (library, name) and "error" not in c), None)


def _example(cls: type[Surrogate]) -> list[str]:
    """The Examples section: the class, its g' and g, and the functional form on four points.

    The printed gradients are those of the library the entry comes from (:func:`published`,
    rounded to 4 decimals).
    """
    reference = published(cls)
    source = reference["source"]
    arguments = ", ".join(f"{k}={v!r}" for k, v in reference["params"].items())
    at = [reference["x"].index(v) for v in _EXAMPLE_X]

    def shown(values: list[float]) -> str:  # in plain Python: importing spikegrad loads no NumPy
        return repr([round(values[i], 4) for i in at])

    spikes = "array([" + ", ".join("1." if v >= 0 else "0." for v in _EXAMPLE_X) + "])"

    lines = [
        "Examples", "--------",
        f"The gradients printed are {source}'s own outputs at the same points.", "",
        ">>> import numpy as np", ">>> import spikegrad as sg",
        f">>> x = np.array({list(_EXAMPLE_X)})", f">>> f = sg.{cls.__name__}({arguments})",
        ">>> f(x)", spikes,
        ">>> f.surrogate_grad(x).round(4).tolist()", shown(reference["grad"]),
    ]
    if reference["primitive"]:
        lines += [">>> f.surrogate_fun(x).round(4).tolist()", shown(reference["primitive"])]
    lines += [f">>> sg.{cls.registry_name}(x{', ' if arguments else ''}{arguments})"
              "  # the functional form", spikes]
    return lines


class _Catalogue(Surrogate):
    """Base of the catalogue's classes: g' and g are ``_math.<name>_derivative``/``_primitive``."""

    #: g grows linearly without bound (constant slopes in the tails): like the exact value, it
    #: overflows to +-inf where slope * x exceeds the dtype's range. g' is always finite.
    linear_tails: bool = False

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        if _Catalogue not in cls.__bases__:  # a user's subclass of a catalogue class
            super().__init_subclass__(name=name, **kwargs)
            return
        cls.grad = staticmethod(getattr(_math, f"{name}_derivative"))
        cls.primitive = staticmethod(getattr(_math, f"{name}_primitive"))
        cls.references = "; ".join(_REFERENCES[key] for key in cls.__dict__["cite"])
        super().__init_subclass__(name=name, **kwargs)
        cls.__doc__ = "\n".join([cls.__doc__ or "", *_example(cls)])


class Sigmoid(_Catalogue, name="sigmoid"):
    r"""Logistic (sigmoid) surrogate.

    Computed as :math:`\alpha e / (1+e)^2` with :math:`e = e^{-\alpha|x|}`, which neither
    overflows nor cancels in the tails.
    """

    alpha = Param(4.0, ge=_SMALLEST, le=1e4, doc="steepness; the peak of g' is alpha/4")
    cite = ("neftci2019",)


class PiecewiseQuadratic(_Catalogue, name="piecewise_quadratic"):
    r"""Piecewise quadratic surrogate (a triangular gradient)."""

    alpha = Param(1.0, ge=_SMALLEST, le=1e4, doc="peak height; the support is abs(x) <= 1/alpha")
    cite = ("esser2016", "wu2018",)


class PiecewiseExp(_Catalogue, name="piecewise_exp"):
    r"""Piecewise exponential (Laplace) surrogate."""

    alpha = Param(1.0, ge=_SMALLEST, le=1e4, doc="decay rate of the exponential tails")
    cite = ("neftci2019",)


class SoftSign(_Catalogue, name="soft_sign"):
    r"""Soft-sign surrogate (the fast sigmoid of SuperSpike, scaled to unit area)."""

    alpha = Param(1.0, ge=_SMALLEST, le=1e4, doc="steepness")
    cite = ("zenke2018",)


class Arctan(_Catalogue, name="arctan"):
    r"""Arctangent surrogate.

    braintools' default is alpha=1; spikingjelly's and snntorch's ``ATan``/``atan`` default to
    2.
    """

    alpha = Param(1.0, ge=_SMALLEST, le=1e4, doc="steepness")
    cite = ("fang2021",)


class NonzeroSignLog(_Catalogue, name="nonzero_sign_log"):
    r"""Sign-log surrogate with a nonzero sign function.

    Unlike the other primitives, g is unbounded (it grows like log|x|).
    """

    alpha = Param(1.0, ge=_SMALLEST, le=1e4, doc="steepness; g'(0) = alpha")
    cite = ("catalogues",)


class ERF(_Catalogue, name="erf"):
    r"""Gauss error function surrogate (a Gaussian gradient of unit area).

    spikingjelly's ``Erf`` defaults to alpha=2; braintools' to 1.
    """

    alpha = Param(
        1.0, ge=_SMALLEST, le=1e4,
        doc="steepness; g' is a normal density with standard deviation 1/(alpha*sqrt(2))",
    )
    cite = ("wu2018",)


class PiecewiseLeakyRelu(_Catalogue, name="piecewise_leaky_relu"):
    r"""Piecewise leaky ReLU surrogate: a box of height 1/(2w) with leaky tails.

    The box is closed at ``|x| == w`` (as braintools; spikingjelly's is open).
    """

    c = Param(0.01, ge=0, le=1e4, doc="slope outside the box")
    w = Param(1.0, ge=1e-4, le=1e6, doc="half-width of the box")
    cite = ("wu2018",)
    linear_tails = True


class SquarewaveFourierSeries(_Catalogue, name="squarewave_fourier_series"):
    r"""Square-wave Fourier series surrogate.

    Sums n terms, as braintools (spikingjelly sums n - 1). ``n`` is a static integer: it cannot
    be traced under ``jax.jit``. g and g' are periodic with period T.
    """

    n = Param(2, ge=1, le=100, integer=True, doc="number of Fourier terms (static)")
    t_period = Param(8.0, ge=1e-2, le=1e6, doc="period T of the square wave")
    cite = ("catalogues",)


class S2NN(_Catalogue, name="s2nn"):
    r"""S2NN surrogate: sigmoid below the threshold, logarithmic above.

    braintools' gradient omits epsilon (beta / (x + 1)); spikegrad keeps it so that g' is
    exactly the derivative of g (a relative difference of at most epsilon).
    """

    alpha = Param(4.0, ge=_SMALLEST, le=1e4, doc="steepness of the sigmoid branch (x < 0)")
    beta = Param(1.0, ge=_SMALLEST, le=1e3, doc="scale of the logarithmic branch (x >= 0)")
    epsilon = Param(1e-08, ge=0, le=1e6, doc="offset inside the logarithm")
    cite = ("suetake2023",)


class QPseudoSpike(_Catalogue, name="q_pseudo_spike"):
    r"""q-PseudoSpike surrogate with tunable tail fatness.

    Uses braintools' ``alpha + 1`` form (the paper and spikingjelly use ``alpha - 1``). Well
    defined at alpha = 1, where spikingjelly divides by zero.
    """

    alpha = Param(2.0, ge=_SMALLEST, le=1e4, doc="tail fatness: smaller alpha, heavier tails")
    cite = ("herranz2022",)


class LeakyRelu(_Catalogue, name="leaky_relu"):
    r"""Leaky ReLU surrogate: two constant slopes."""

    alpha = Param(0.1, ge=-1e4, le=1e4, doc="slope for x < 0")
    beta = Param(1.0, ge=-1e4, le=1e4, doc="slope for x >= 0")
    cite = ("braintools",)
    linear_tails = True


class LogTailedRelu(_Catalogue, name="log_tailed_relu"):
    r"""Log-tailed ReLU surrogate.

    The tail is ``1 + log(x)`` (continuous at 1), as braintools' code; older docs say
    ``log(x)``.
    """

    alpha = Param(0.0, ge=-1e4, le=1e4, doc="slope for x <= 0")
    cite = ("cai2017",)
    linear_tails = True


class ReluGrad(_Catalogue, name="relu_grad"):
    r"""ReLU-shaped (triangular) surrogate gradient.

    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    alpha*w**2).
    """

    alpha = Param(0.3, gt=0, le=100, doc="slope of the triangle's sides")
    width = Param(1.0, gt=0, le=20, doc="half-width of the triangle")
    cite = ("neftci2019",)


class GaussianGrad(_Catalogue, name="gaussian_grad"):
    r"""Gaussian surrogate gradient.

    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    alpha).
    """

    sigma = Param(0.5, ge=1e-3, le=1e6, doc="standard deviation")
    alpha = Param(0.5, gt=0, le=100, doc="scale (the area under g')")
    cite = ("yin2021",)
    repr_order = ("alpha", "sigma")  # as braintools prints it


class MultiGaussianGrad(_Catalogue, name="multi_gaussian_grad"):
    r"""Multi-Gaussian surrogate gradient: a central Gaussian with two negative side lobes.

    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    scale*(1-h)). :math:`\mathcal N(x;\mu,\sigma)` is the normal density and :math:`\Phi`
    the standard normal distribution function.
    """

    h = Param(0.15, ge=0, le=5, doc="weight of the two negative side lobes")
    s = Param(6.0, ge=0.1, le=1e6, doc="width of the side lobes relative to sigma")
    sigma = Param(0.5, ge=1e-3, le=1e6, doc="standard deviation of the central lobe")
    scale = Param(0.5, gt=0, le=10, doc="overall scale")
    cite = ("yin2021",)


class InvSquareGrad(_Catalogue, name="inv_square_grad"):
    r"""Inverse-square surrogate gradient (the fast sigmoid).

    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    2/alpha).
    """

    alpha = Param(100.0, ge=1e-4, le=1e4, doc="steepness")
    cite = ("zenke2018",)


class SlayerGrad(_Catalogue, name="slayer_grad"):
    r"""SLAYER surrogate gradient (an exponential spike escape rate).

    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    2/alpha).
    """

    alpha = Param(1.0, ge=1e-4, le=1e4, doc="decay rate")
    cite = ("shrestha2018",)


class Rect(_Catalogue, name="rect"):
    r"""Rectangular (boxcar) surrogate, open at its edges, with optional leaky tails.

    spikingjelly's ``Rect`` (leak 0) and ``PiecewiseLeakyReLU(w, c)`` (alpha = 1/(2w), leak c).
    At ``|x| == 1/(2 alpha)`` g' is the leak, as spikingjelly computes it; braintools'
    :class:`PiecewiseLeakyRelu` is the same box closed at its edges.
    """

    alpha = Param(1.0, ge=1e-4, le=1e4, doc="height of the box; its half-width is 1/(2 alpha)")
    leak = Param(0.0, ge=0, le=1e4, doc="slope outside the box")
    cite = ("wu2018", "spikingjelly")
    linear_tails = True
    example = ("spikingjelly", "Rect", {})


class FakeNumericalGradient(_Catalogue, name="fake_numerical_gradient"):
    r"""Fake numerical gradient: the secant slope of the step from 0, capped at alpha.

    The slope of the step's secant through the threshold, :math:`1/|x|`, capped at ``alpha``
    (spikingjelly's ``FakeNumericalGradient``, which gives -inf at ``x = -0.0``; here g' is alpha
    at both zeros). g grows logarithmically.
    """

    alpha = Param(0.3, ge=_SMALLEST, le=1e4, doc="the cap of g' (its value for abs(x) <= 1/alpha)")
    cite = ("spikingjelly",)
    example = ("spikingjelly", "FakeNumericalGradient", {})


class EscapeRate(_Catalogue, name="escape_rate"):
    r"""Escape-rate surrogate: a Laplace (two-sided exponential) peak away from the threshold.

    snntorch's ``spike_rate_escape(beta, slope)`` is ``EscapeRate(rate=beta, gain=slope)``,
    with its peak at ``x = 1`` (the default ``center``). Centred at 0 it is :class:`SlayerGrad`.
    """

    rate = Param(1.0, ge=1e-4, le=1e4, doc="decay rate of the exponential tails")
    center = Param(1.0, ge=-100, le=100, doc="where g' peaks (at 1)")
    cite = ("gerstner2002",)
    example = ("snntorch", "spike_rate_escape", {"gain": 25.0})


class SparseFastSigmoid(_Catalogue, name="sparse_fast_sigmoid"):
    r"""Sparse fast sigmoid: the fast sigmoid's gradient, zero up to a cutoff.

    snntorch's ``SFS(slope, B)``; with the default cutoff 1 the gradient is zero at the
    threshold and below, which keeps the backward pass sparse.
    """

    alpha = Param(25.0, ge=1e-4, le=1e4, doc="steepness")
    cutoff = Param(1.0, ge=-100, le=100, doc="g' is zero for x <= cutoff")
    cite = ("perez2021",)
    example = ("snntorch", "SFS", {})


class AlgebraicSigmoid(_Catalogue, name="algebraic_sigmoid"):
    r"""Algebraic sigmoid surrogate, :math:`x/\sqrt{1+x^2}` rescaled to a unit step.

    norse's ``heavi_circ_fn(x, alpha)`` and ``threshold(x, "circ", alpha)`` give
    ``AlgebraicSigmoid(alpha=1/alpha, gain=2*alpha)`` (a peak of 1).
    """

    alpha = Param(1.0, ge=_SMALLEST, le=1e4, doc="steepness; the peak of g' is alpha/2")
    cite = ("norse",)
    example = ("norse", "heavi_circ_fn", {"alpha": 1 / 0.3, "gain": 0.6})


class QPseudoSpikeUnitArea(_Catalogue, name="q_pseudo_spike_unit_area"):
    r"""q-PseudoSpike surrogate in the paper's form (spikingjelly's): g' has unit area.

    The tail scale is ``alpha - 1`` (braintools' :class:`QPseudoSpike` uses ``alpha + 1``), so
    g rises from 0 to 1. alpha must exceed 1 (spikingjelly divides by zero at 1).
    """

    alpha = Param(2.0, ge=1.001, le=1e4, doc="tail fatness: smaller alpha, heavier tails")
    cite = ("herranz2022",)
    example = ("spikingjelly", "QPseudoSpike", {})


_CATALOGUE = tuple(c for c in _Catalogue.__subclasses__() if _Catalogue in c.__bases__)
for _cls in _CATALOGUE:
    globals()[_cls.registry_name] = functional(_cls)  # type: ignore[index]

__all__ = [name for cls in _CATALOGUE for name in (cls.__name__, cls.registry_name)]
