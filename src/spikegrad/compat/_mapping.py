"""How snntorch, spikingjelly and norse spell each surrogate, as parameterisations of the catalogue.

One table, :data:`ENTRIES`, read by the compatibility namespaces (the objects they build), the
conversions both ways, the tests and the porting guide (generated from it). Each entry names
the library's function or class, its parameters with their defaults, the canonical catalogue
class it is, and two conversions:

* ``to_canonical(**library_params)``: the canonical constructor's keyword arguments (``gain``
  included when the library's gradient is the canonical one scaled);
* ``from_canonical(canonical_params)``: the library's parameters for a canonical surrogate of
  that class (its parameters plus ``gain``), or ``None`` when that library cannot spell it.

No formula is written here: every entry evaluates through its canonical class.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from .. import surrogates as S
from .._surrogate import Surrogate
from .._types import is_traced

__all__ = ["ENTRIES", "Entry", "LIBRARIES", "VERSIONS", "entry"]

LIBRARIES = ("snntorch", "spikingjelly", "norse")
VERSIONS = {"snntorch": "1.0.0", "spikingjelly": "2.0.0", "norse": "1.1.0"}
#: The forward of each library at x == 0: spikingjelly spikes on x >= 0, the others on x > 0.
SPIKE_AT_ZERO = {"snntorch": False, "spikingjelly": True, "norse": False}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One surrogate of one library, as a parameterisation of a canonical catalogue class."""

    library: str
    name: str
    params: tuple[tuple[str, Any], ...]
    canonical: type[Surrogate]
    to_canonical: Callable[..., dict[str, Any]]
    from_canonical: Callable[[dict[str, Any]], dict[str, Any] | None]
    #: How spikegrad differs from the library's own code, if it does (for the porting guide).
    difference: str = ""
    #: Extra checks of the library's parameters: a message for a refused value, else None.
    refuse: Callable[..., str | None] = lambda **_: None

    @property
    def spike_at_zero(self) -> bool:
        return SPIKE_AT_ZERO[self.library]

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.params)

    def canonical_for(self, **params: Any) -> Surrogate:
        """The canonical surrogate equal to this entry with ``params`` (validated there)."""
        # (a traced value, known only inside jax.jit, cannot be compared: it passes the
        # library's checks, as spikegrad takes every traced parameter; the others are checked)
        message = self.refuse(**{k: _TRACED if is_traced(v) else v for k, v in params.items()})
        if message:
            raise ValueError(f"{self.library}.{self.name}: {message}")
        try:
            return self.canonical(**self.to_canonical(**params), spike_at_zero=self.spike_at_zero)
        except (TypeError, ValueError) as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            raise type(exc)(
                f"{self.library}.{self.name}({shown}) is {self.canonical.__name__} with "
                f"{exc}"
            ) from None


def _same(*names: str) -> tuple[Callable[..., dict[str, Any]], Callable[..., Any]]:
    """The conversions of an entry whose parameters are the canonical ones, by the same names."""

    def to(**p: Any) -> dict[str, Any]:
        return {n: p[n] for n in names}

    def back(c: dict[str, Any]) -> dict[str, Any] | None:
        return {n: c[n] for n in names} if c["gain"] == 1.0 else None

    return to, back


def _renamed(pairs: dict[str, str], **fixed: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Conversions for ``{library name: canonical name}`` with the other canonical parameters
    fixed at ``fixed`` (the entry spells only canonical surrogates with those values)."""

    def to(**p: Any) -> dict[str, Any]:
        return {**fixed, **{c: p[lib] for lib, c in pairs.items()}}

    def back(c: dict[str, Any]) -> dict[str, Any] | None:
        if c["gain"] != 1.0 or any(c[k] != v for k, v in fixed.items()):
            return None
        return {lib: c[can] for lib, can in pairs.items()}

    return to, back


def _refuse_terms(n: Any) -> str | None:
    """Why spikingjelly's ``n`` (it sums ``n - 1`` terms) is refused, or None: a whole number
    of at least 2, given as the catalogue takes whole numbers (``3``, ``3.0``, a NumPy integer,
    a 0-d array); what has no value here (a traced value) the catalogue refuses itself."""
    try:
        value = float(n)
    except (TypeError, ValueError, OverflowError):
        return None
    if isinstance(n, bool) or not value.is_integer() or value < 2:
        return (f"n must be a whole number >= 2 (spikingjelly sums n - 1 terms, so n=1 gives a "
                f"zero gradient); got {n!r}")
    return None


def _entry(library: str, name: str, params: dict[str, Any], canonical: type[Surrogate],
           conversions: tuple[Callable[..., Any], Callable[..., Any]], **kw: Any) -> Entry:
    return Entry(library, name, tuple(params.items()), canonical, *conversions, **kw)


class _Traced:
    """A traced parameter value, as the ``refuse`` checks see it: every comparison holds."""

    def _holds(self, other: Any) -> bool:
        return True

    __gt__ = __ge__ = __lt__ = __le__ = _holds

    def __repr__(self) -> str:
        return "<traced>"


_TRACED = _Traced()


def _close(a: float, b: float) -> bool:
    """Equal up to the rounding of the conversions (a gain of 2/k recomputed from 1/k)."""
    return math.isclose(a, b, rel_tol=1e-12)


def _positive(name: str, value: Any) -> str | None:
    return None if value > 0 else f"{name} must be > 0 (it divides the gain); got {value!r}"


_NAN_BELOW = (
    "snntorch's gradient is NaN for x below about -3.4 (float32, slope 25; its exp overflows); "
    "spikegrad's is finite everywhere"
)

ENTRIES: tuple[Entry, ...] = (
    # ------------------------------------------------------------------------------ snntorch
    _entry("snntorch", "atan", {"alpha": 2.0}, S.Arctan, _same("alpha")),
    _entry("snntorch", "sigmoid", {"slope": 25}, S.Sigmoid, _renamed({"slope": "alpha"}),
           difference=_NAN_BELOW),
    _entry("snntorch", "fast_sigmoid", {"slope": 25}, S.InvSquareGrad,
           _renamed({"slope": "alpha"})),
    _entry("snntorch", "straight_through_estimator", {}, S.LeakyRelu,
           _renamed({}, alpha=1.0, beta=1.0)),
    _entry(
        "snntorch", "triangular", {"threshold": 1}, S.LeakyRelu,
        (lambda threshold: {"alpha": threshold, "beta": -threshold},
         lambda c: {"threshold": c["alpha"]} if c["gain"] == 1.0 and c["beta"] == -c["alpha"]
         else None),
    ),
    _entry(
        "snntorch", "spike_rate_escape", {"beta": 1, "slope": 25}, S.EscapeRate,
        (lambda beta, slope: {"rate": beta, "center": 1.0, "gain": slope},
         lambda c: {"beta": c["rate"], "slope": c["gain"]} if c["center"] == 1.0 else None),
    ),
    _entry(
        "snntorch", "heaviside", {}, S.LeakyRelu, _renamed({}, alpha=0.0, beta=1.0),
        difference=(
            "snntorch's gradient is 0 at x == 0 exactly (its backward multiplies by the x > 0 "
            "spike); its documentation, and spikegrad, give 1 there (U >= threshold)"
        ),
    ),
    _entry("snntorch", "SFS", {"slope": 25, "B": 1}, S.SparseFastSigmoid,
           _renamed({"slope": "alpha", "B": "cutoff"})),
    _entry(
        "snntorch", "LSO", {"slope": 0.1}, S.LeakyRelu, _renamed({"slope": "alpha"}, beta=1.0),
        difference=(
            "snntorch's LSO raises TypeError (it calls the stochastic operator's class); "
            "spikegrad gives the documented leaky spike operator: 1 above the threshold, slope "
            "below"
        ),
    ),
    # -------------------------------------------------------------------------- spikingjelly
    _entry("spikingjelly", "PiecewiseQuadratic", {"alpha": 1.0}, S.PiecewiseQuadratic,
           _same("alpha")),
    _entry("spikingjelly", "PiecewiseExp", {"alpha": 1.0}, S.PiecewiseExp, _same("alpha")),
    _entry("spikingjelly", "Sigmoid", {"alpha": 4.0}, S.Sigmoid, _same("alpha")),
    _entry("spikingjelly", "SoftSign", {"alpha": 2.0}, S.SoftSign, _same("alpha")),
    _entry(
        "spikingjelly", "SuperSpike", {"alpha": 1.0}, S.InvSquareGrad,
        (lambda alpha: {"alpha": 1.0, "gain": alpha},
         lambda c: {"alpha": c["gain"]} if c["alpha"] == 1.0 else None),
        difference="spikingjelly defines no primitive (spiking=False raises); spikegrad has g",
    ),
    _entry("spikingjelly", "ATan", {"alpha": 2.0}, S.Arctan, _same("alpha")),
    _entry("spikingjelly", "NonzeroSignLogAbs", {"alpha": 1.0}, S.NonzeroSignLog,
           _same("alpha")),
    _entry("spikingjelly", "Erf", {"alpha": 2.0}, S.ERF, _same("alpha")),
    _entry(
        "spikingjelly", "PiecewiseLeakyReLU", {"w": 1.0, "c": 0.01}, S.Rect,
        (lambda w, c: {"alpha": 0.5 / w, "leak": c},
         lambda c: {"w": 0.5 / c["alpha"], "c": c["leak"]} if c["gain"] == 1.0 else None),
        refuse=lambda w, c: None if w > 0 else f"w must be > 0; got {w!r}",
    ),
    _entry(
        "spikingjelly", "SquarewaveFourierSeries", {"n": 2, "T_period": 8}, S.SquarewaveFourierSeries,
        (lambda n, T_period: {"n": n - 1, "t_period": T_period},
         lambda c: {"n": c["n"] + 1, "T_period": c["t_period"]} if c["gain"] == 1.0 else None),
        refuse=lambda n, T_period: _refuse_terms(n),
    ),
    _entry("spikingjelly", "S2NN", {"alpha": 4.0, "beta": 1.0}, S.S2NN,
           _renamed({"alpha": "alpha", "beta": "beta"}, epsilon=0.0),
           difference=(
               "spikingjelly's primitive (spiking=False) is beta log(x + 1 + 1e-5) + 1/2 for "
               "x >= 0, about 1e-5 beta / (x + 1) above spikegrad's beta log(x + 1) + 1/2, of "
               "which both libraries' gradient, beta / (x + 1), is the derivative"
           )),
    _entry(
        "spikingjelly", "QPseudoSpike", {"alpha": 2.0}, S.QPseudoSpikeUnitArea, _same("alpha"),
        difference=(
            "spikingjelly divides by zero at alpha=1 (ZeroDivisionError in the backward); "
            "spikegrad refuses alpha < 1.001 when the surrogate is made, with a ValueError"
        ),
    ),
    _entry("spikingjelly", "LeakyKReLU", {"leak": 0.0, "k": 1.0}, S.LeakyRelu,
           _renamed({"leak": "alpha", "k": "beta"})),
    _entry(
        "spikingjelly", "FakeNumericalGradient", {"alpha": 0.3}, S.FakeNumericalGradient,
        _same("alpha"),
        difference="spikingjelly's gradient is -inf at x == -0.0; spikegrad's is alpha at both zeros",
    ),
    _entry("spikingjelly", "LogTailedReLU", {"alpha": 0.0}, S.LogTailedRelu, _same("alpha")),
    _entry("spikingjelly", "Rect", {"alpha": 1.0}, S.Rect, _renamed({"alpha": "alpha"}, leak=0.0)),
    _entry("spikingjelly", "DeterministicPass", {}, S.LeakyRelu,
           _renamed({}, alpha=1.0, beta=1.0)),
    # --------------------------------------------------------------------------------- norse
    _entry(
        "norse", "super_fn", {"alpha": 100.0}, S.InvSquareGrad, _same("alpha"),
        difference=(
            "norse 1.1 ignores alpha (its gradient is 1/(1 + abs(x))**2 for every alpha); "
            "spikegrad gives the documented 1/(1 + alpha abs(x))**2"
        ),
    ),
    _entry(
        "norse", "triangle_fn", {"alpha": 0.3}, S.ReluGrad,
        (lambda alpha: {"alpha": 1.0, "width": 1.0, "gain": alpha},
         lambda c: {"alpha": c["alpha"] * c["gain"]} if c["width"] == 1.0 else None),
    ),
    _entry(
        "norse", "heavi_erfc_fn", {"k": None}, S.ERF,
        (lambda k: {"alpha": k, "gain": 2.0 / k},
         lambda c: {"k": c["alpha"]} if _close(c["gain"], 2.0 / c["alpha"]) else None),
        refuse=lambda k: _positive("k", k),
    ),
    _entry(
        "norse", "heavi_tanh_fn", {"k": None}, S.Sigmoid,
        (lambda k: {"alpha": 2.0 * k, "gain": 2.0 / k},
         lambda c: {"k": c["alpha"] / 2} if _close(c["gain"], 4.0 / c["alpha"]) else None),
        refuse=lambda k: _positive("k", k),
    ),
    _entry(
        "norse", "heavi_circ_fn", {"k": None}, S.AlgebraicSigmoid,
        (lambda k: {"alpha": 1.0 / k, "gain": 2.0 * k},
         lambda c: {"k": 1.0 / c["alpha"]} if _close(c["gain"], 2.0 / c["alpha"]) else None),
        refuse=lambda k: _positive("k", k),
        difference=(
            "norse's gradient is NaN at alpha=0 and for abs(x) beyond about 1.9e19 (float32; x**2 "
            "overflows); spikegrad refuses alpha <= 0 and is finite for every finite x"
        ),
    ),
)

# norse's threshold(x, method, alpha): the method names and the entry each one is.
NORSE_METHODS = {
    "super": "super_fn", "triangle": "triangle_fn", "tanh": "heavi_tanh_fn",
    "circ": "heavi_circ_fn", "heavi_erfc": "heavi_erfc_fn",
}

_BY_NAME = {(e.library, e.name): e for e in ENTRIES}


def entry(library: str, name: str) -> Entry:
    """The entry of ``library``'s ``name``; ``KeyError`` naming what the library has."""
    try:
        return _BY_NAME[(library, name)]
    except KeyError:
        known = ", ".join(n for (lib, n) in _BY_NAME if lib == library)
        raise KeyError(f"{library} has no surrogate {name!r} in spikegrad.compat; it has: {known}")
