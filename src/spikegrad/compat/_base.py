"""The object behind every compatibility name: a peer library's surrogate, spelled its way.

A :class:`CompatSurrogate` keeps the library's parameters (for its ``repr``, equality and
conversion) and evaluates through the canonical catalogue surrogate its entry maps it to, with
the library's forward convention: it is a :class:`~spikegrad.Surrogate`, so it works on every
backend and under every transform, and ``canonical()`` returns the catalogue object.
"""

from __future__ import annotations

import importlib
import inspect
import numbers
from typing import Any, ClassVar

from .._params import _as_real_number
from .._surrogate import Surrogate
from .._types import array_namespace, is_traced
from ._mapping import ENTRIES, LIBRARIES, Entry, entry

__all__ = ["CompatSurrogate", "compat_class", "from_canonical", "number"]


def number(value: Any, where: str) -> Any:
    """A library parameter as a Python number: ints stay ints (a series length, snntorch's
    ``slope=25``), 0-d arrays and tensors (norse passes ``alpha`` as one) become floats, JAX
    tracers pass through; anything else is a ``TypeError`` saying what to pass."""
    if is_traced(value):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return _as_real_number(value, where)


class CompatSurrogate(Surrogate):
    """A surrogate of snntorch, spikingjelly or norse, by that library's spelling."""

    entry: ClassVar[Entry]
    _canonical: Surrogate

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        e = self.entry
        names = [n for n, _ in e.params]
        label = f"{e.library}.{e.name}"
        if len(args) > len(names):
            raise TypeError(f"{label} takes at most {len(names)} parameter(s) "
                            f"({', '.join(names) or 'none'}); got {len(args)}")
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{label} has no parameter {key!r}; its parameters are: "
                                f"{', '.join(names) or 'none'}")
            if key in given:
                raise TypeError(f"{label} got parameter {key!r} twice")
            given[key] = value
        values = {}
        for name, default in e.params:
            if name not in given and default is None:
                raise TypeError(f"{label} needs the parameter {name!r}")
            values[name] = number(given.get(name, default), f"{label}: {name}")
        self._canonical = e.canonical_for(**values)
        self._param_values = tuple(values.values())

    @property
    def spec(self) -> Any:
        return self._canonical.spec

    @property
    def params(self) -> dict[str, Any]:
        return dict(zip((n for n, _ in self.entry.params), self._param_values))

    @property
    def gain(self) -> float:
        return self._canonical.gain

    @property
    def spike_at_zero(self) -> bool:
        return self._canonical.spike_at_zero

    def _has_primitive(self) -> bool:
        return self._canonical._has_primitive()

    def canonical(self) -> Surrogate:
        """The catalogue surrogate this is: same gradient, same forward convention.

        Examples
        --------
        >>> import spikegrad as sg
        >>> sg.compat.snntorch.atan(alpha=2.0).canonical()
        Arctan(alpha=2.0, spike_at_zero=False)
        """
        return self._canonical.replace(origin=True) if self._origin else self._canonical

    def __call__(self, x: Any) -> Any:
        """The spike in the library's convention; as in the libraries, an integer array gives
        its spikes in its own dtype, with no gradient (integers have none)."""
        if _is_integer_array(x):
            return self.spec.formula.spike(x, xp=array_namespace(x))
        return super().__call__(x)

    def to_dict(self) -> dict[str, Any]:
        """The portable dictionary (see :meth:`spikegrad.Surrogate.to_dict`), by the library's
        spelling: ``{"name": "snntorch.atan", "params": {"alpha": 2.0}, ...}``."""
        return self._spec_dict(f"{self.entry.library}.{self.entry.name}", self.params)

    def replace(self, **changes: Any) -> Surrogate:
        """The same library surrogate with some of its parameters changed."""
        return type(self)(**{**self.params, **changes})

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.entry.library}.{self.entry.name}({shown}) = {self.canonical()!r}"


def _is_integer_array(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        return False
    try:
        return bool(array_namespace(x).isdtype(dtype, "integral"))
    except TypeError:  # not an array of a known library
        return False


def compat_class(e: Entry, base: type[CompatSurrogate] = CompatSurrogate,
                 **namespace: Any) -> type[CompatSurrogate]:
    """The class of one entry (named as the library names it), derived from ``base``."""
    cls = type(e.name, (base,), {"entry": e, "__module__": f"spikegrad.compat.{e.library}",
                                 **namespace})
    # Where a module's attribute of this name is a function (snntorch's factories, norse's
    # functions), the class is the module's ``_<name>`` (where pickle finds it).
    cls.__qualname__ = e.name if base is not CompatSurrogate else f"_{e.name}"
    cls.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=inspect.Parameter.empty if d is None else d)
        for n, d in e.params
    ] + [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
         for n, d in getattr(base, "keywords", {}).items()])
    cls.__doc__ = (
        f"{e.library}'s ``{e.name}``: :class:`~spikegrad.{e.canonical.__name__}` "
        f"({'x >= 0' if e.spike_at_zero else 'x > 0'} forward).\n\n"
        + (f"Difference from {e.library}: {e.difference}.\n" if e.difference else "")
    )
    return cls


def from_canonical(surrogate: Surrogate, library: str) -> CompatSurrogate:
    """The ``library`` spelling of a catalogue surrogate (its parameters converted).

    The result has the library's forward convention (snntorch and norse spike on ``x > 0``).

    Raises
    ------
    TypeError
        ``surrogate`` is not a surrogate object, or it trains parameters (the spellings of
        other libraries train none).
    ValueError
        ``library`` is not one of :data:`LIBRARIES`, or has no spelling of that surrogate
        with those parameters; the message lists the library's surrogates of the same class.

    Examples
    --------
    >>> import spikegrad as sg
    >>> sg.compat.from_canonical(sg.Sigmoid(alpha=8.0), "snntorch")
    snntorch.sigmoid(slope=8.0) = Sigmoid(alpha=8.0, spike_at_zero=False)
    """
    if library not in LIBRARIES:
        raise ValueError(f"unknown library {library!r}; spikegrad spells the surrogates of "
                         f"{', '.join(LIBRARIES)}")
    if not isinstance(surrogate, Surrogate):
        raise TypeError(f"from_canonical takes a surrogate object, such as sg.get({surrogate!r})"
                        f"; got {type(surrogate).__name__}")
    if isinstance(surrogate, CompatSurrogate):
        surrogate = surrogate.canonical()
    if surrogate.trainable:
        raise TypeError(f"{library}'s spellings train no parameters; {surrogate!r} trains "
                        f"{', '.join(surrogate.trainable)} (train the catalogue object itself, or "
                        "convert surrogate.replace(trainable=()))")
    canonical = {**surrogate.params, "gain": surrogate.gain}
    candidates = [e for e in ENTRIES if e.library == library and type(surrogate) is e.canonical]
    for e in candidates:
        params = e.from_canonical(canonical)
        if params is not None:
            made = lookup(library, e.name)(**params)
            return _with_origin(made) if surrogate.origin else made
    names = ", ".join(e.name for e in candidates) or "none"
    raise ValueError(
        f"{library} has no spelling of {surrogate!r} (its surrogates of class "
        f"{type(surrogate).__name__}: {names}); use the canonical object itself on every backend"
    )


def _with_origin(s: CompatSurrogate) -> CompatSurrogate:
    s.origin = True
    return s


# Filled by each library's module: (library, name) -> its class.
_CLASSES: dict[tuple[str, str], type[CompatSurrogate]] = {}


def register(cls: type[CompatSurrogate], module_globals: dict[str, Any]) -> type[CompatSurrogate]:
    """Record ``cls`` for :func:`lookup` and make it its module's attribute ``cls.__qualname__``."""
    _CLASSES[(cls.entry.library, cls.entry.name)] = cls
    module_globals[cls.__qualname__] = cls
    return cls


def lookup(library: str, name: str) -> type[CompatSurrogate]:
    entry(library, name)  # a KeyError that lists the library's names
    importlib.import_module(f"spikegrad.compat.{library}")  # defines the library's classes
    return _CLASSES[(library, name)]
