"""The surrogates of snntorch, spikingjelly and norse, by their own spelling, on every backend.

* :mod:`spikegrad.compat.snntorch`: ``snntorch.surrogate`` (snntorch 1.0);
* :mod:`spikegrad.compat.spikingjelly`: ``spikingjelly.activation_based.surrogate`` (2.0);
* :mod:`spikegrad.compat.norse`: norse's threshold functions (norse 1.1).

Each name there is a thin mapping (:mod:`spikegrad.compat._mapping`) onto a catalogue
surrogate, with the library's parameters, defaults and forward convention: no formula is
written twice. :func:`from_canonical` converts the other way, and :func:`get` makes any of them
by a dotted name (``"snntorch.atan"``), as :func:`spikegrad.get` does.

>>> import spikegrad as sg
>>> sg.compat.snntorch.atan(alpha=2.0).canonical()
Arctan(alpha=2.0, spike_at_zero=False)
>>> sg.compat.from_canonical(sg.Arctan(alpha=2.0), "spikingjelly")
ATan(alpha=2.0, spiking=True)
"""

from __future__ import annotations

from typing import Any

from ._base import CompatSurrogate, from_canonical, lookup
from ._mapping import ENTRIES, LIBRARIES, VERSIONS, Entry

__all__ = [
    "ENTRIES", "LIBRARIES", "VERSIONS", "CompatSurrogate", "Entry", "available", "from_canonical",
    "get", "norse", "snntorch", "spikingjelly",
]


def __getattr__(name: str) -> Any:
    # Each library's namespace loads on first use (norse's prepares TorchScript, when PyTorch is
    # installed, so it imports torch).
    if name in LIBRARIES:
        import importlib

        return importlib.import_module(f"spikegrad.compat.{name}")
    raise AttributeError(f"module 'spikegrad.compat' has no attribute {name!r}")


def available() -> list[str]:
    """Every compatibility name, ``"<library>.<name>"``, in the table's order."""
    return [f"{e.library}.{e.name}" for e in ENTRIES]


def get(name: str, /, **params: Any) -> CompatSurrogate:
    """The surrogate ``"<library>.<name>"`` with the library's ``params``.

    >>> import spikegrad as sg
    >>> sg.compat.get("spikingjelly.Sigmoid", alpha=2.0)
    Sigmoid(alpha=2.0, spiking=True)
    """
    library, _, short = name.partition(".")
    if library not in LIBRARIES:
        raise ValueError(
            f"unknown library {library!r} in {name!r}; compatibility names are "
            f"'<library>.<name>' with library one of {', '.join(LIBRARIES)}"
        )
    try:
        cls = lookup(library, short)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    return cls(**params)
