"""Docstrings of surrogate classes, generated from their declaration.

A surrogate is declared by its summary (the first line of the class docstring, optionally
followed by notes), its :class:`~spikegrad.Param` attributes, its math functions (whose
docstrings are the formulas) and optionally ``references``. :func:`render` turns that into a
numpydoc docstring, so ``help(sg.Sigmoid)``, the documentation pages and the parameters'
ranges all come from one declaration and cannot disagree with the code.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

__all__ = ["render"]

_SECTION = re.compile(r"^(Parameters|Returns|Examples|Notes|References)\n-{3,}$", re.M)


def _formula(fn: Any) -> str | None:
    doc = inspect.getdoc(fn) if fn is not None else None
    if not doc:
        return None
    return "\n   ".join(line.strip() for line in doc.strip().splitlines())


def _parameter_lines(cls: type) -> list[str]:
    """The numpydoc ``Parameters`` entries of a surrogate class, ``origin`` included."""
    lines = []
    for p in cls._params:  # type: ignore[attr-defined]
        kind = "int" if p.integer else "float"
        text = p.doc[:1].upper() + p.doc[1:] if p.doc else "A parameter of the formula"
        lines += [f"{p.name} : {kind}, default {p.default!r}",
                  f"    {text.rstrip('.')}. Allowed: {p.range_text()}."]
    lines += ["origin : bool, default False",
              "    Return :math:`g(x)` instead of the spike (same derivative).",
              "gain : float, default 1.0",
              "    A constant factor on g' and g. Allowed: 1e-4 <= gain <= 1e4.",
              "spike_at_zero : bool, default True",
              "    Spike on ``x >= 0``; ``False``: on ``x > 0`` (snntorch's and norse's "
              "convention)."]
    return lines


def render(cls: type) -> str | None:
    """The full docstring of surrogate class ``cls`` from its declaration.

    A docstring that already has numpydoc sections is the author's own and is kept as written.
    """
    written = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    if _SECTION.search(written):
        return cls.__doc__
    summary, _, notes = written.partition("\n")
    lines = [summary or f"The {cls.__name__} surrogate.", ""]
    derivative = _formula(getattr(cls, "grad", None))
    primitive = _formula(getattr(cls, "primitive", None))
    if derivative:
        lines += [r"Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient",
                  "", f".. math:: g'(x) = {derivative}", ""]
        if primitive:
            lines += ["the derivative of the primitive (``surrogate_fun``, the forward when "
                      "``origin=True``)", "", f".. math:: g(x) = {primitive}", ""]
    lines += ["Parameters", "----------", *_parameter_lines(cls), ""]
    if notes.strip():
        lines += ["Notes", "-----", notes.strip(), ""]
    references = cls.__dict__.get("references")
    if references:
        lines += ["References", "----------", references, ""]
    return "\n".join(lines)
