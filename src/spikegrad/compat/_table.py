"""The mapping as text: what each library's surrogate is in the catalogue, parameters symbolic.

Read by ``spikegrad list`` and by the porting guide (generated from it at documentation build
time), so the text shown can only be what the code does.
"""

from __future__ import annotations

from typing import Any

from ._mapping import ENTRIES, VERSIONS

__all__ = ["rows"]


class _Symbol:
    """A parameter name in arithmetic: ``0.5 / _Symbol("w")`` reads ``0.5 / w``."""

    def __init__(self, text: str, atom: bool = True) -> None:
        self.text, self.atom = text, atom

    def _wrapped(self) -> str:
        return self.text if self.atom else f"({self.text})"

    def _op(self, other: Any, op: str, reflected: bool = False) -> _Symbol:
        theirs = other._wrapped() if isinstance(other, _Symbol) else repr(other)
        left, right = (theirs, self._wrapped()) if reflected else (self._wrapped(), theirs)
        return _Symbol(f"{left} {op} {right}", atom=False)

    def __add__(self, o: Any) -> _Symbol: return self._op(o, "+")  # noqa: E704
    def __radd__(self, o: Any) -> _Symbol: return self._op(o, "+", True)  # noqa: E704
    def __sub__(self, o: Any) -> _Symbol: return self._op(o, "-")  # noqa: E704
    def __rsub__(self, o: Any) -> _Symbol: return self._op(o, "-", True)  # noqa: E704
    def __mul__(self, o: Any) -> _Symbol: return self._op(o, "*")  # noqa: E704
    def __rmul__(self, o: Any) -> _Symbol: return self._op(o, "*", True)  # noqa: E704
    def __truediv__(self, o: Any) -> _Symbol: return self._op(o, "/")  # noqa: E704
    def __rtruediv__(self, o: Any) -> _Symbol: return self._op(o, "/", True)  # noqa: E704

    def __neg__(self) -> _Symbol:
        return _Symbol(f"-{self._wrapped()}", atom=False)

    def __repr__(self) -> str:
        return self.text


def rows(library: str | None = None) -> list[dict[str, str]]:
    """One row per compatibility name (of ``library``, or all), in the table's order.

    Keys: ``library``, ``version``, ``name`` (the library's call with its defaults), ``canonical``
    (the catalogue surrogate it is, its parameters written in the library's), ``forward``
    (``x >= 0`` or ``x > 0``) and ``difference`` (how spikegrad departs from the library's
    code, or ``""``).

    Examples
    --------
    >>> from spikegrad.compat._table import rows
    >>> rows("spikingjelly")[8]["name"], rows("spikingjelly")[8]["canonical"]
    ('PiecewiseLeakyReLU(w=1.0, c=0.01)', 'Rect(alpha=0.5 / w, leak=c)')
    """
    out = []
    for e in ENTRIES:
        if library not in (None, e.library):
            continue
        symbolic = e.to_canonical(**{n: _Symbol(n) for n, _ in e.params})
        order = [p.name for p in e.canonical._params] + ["gain"]
        shown = ", ".join(f"{k}={symbolic[k]!r}" for k in order if k in symbolic)
        defaults = ", ".join(n if d is None else f"{n}={d!r}" for n, d in e.params)
        out.append({
            "library": e.library,
            "version": VERSIONS[e.library],
            "name": f"{e.name}({defaults})",
            "canonical": f"{e.canonical.__name__}({shown})",
            "forward": "x >= 0" if e.spike_at_zero else "x > 0",
            "difference": e.difference,
        })
    return out
