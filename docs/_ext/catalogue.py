"""The catalogue's pages, index and thumbnails, generated from the registry at build time.

A surrogate registered with :func:`spikegrad.get` gets, with nothing to write by hand:

* a page ``surrogates/generated/<name>.rst``: a plot drawn by the library itself (the
  parameter that shapes g' most at two or three values, see
  :func:`spikegrad.tools.plotting.variants`), the class (formulas, parameters with their
  ranges, notes, references, example) and its functional form;
* a row in ``surrogates/generated/catalogue.inc``, the table of ``surrogates/index.rst``
  (thumbnail of g', names, defaults, summary), and an entry in the hidden toctree after it,
  which orders the sidebar.

One order everywhere: the catalogue's declaration order (``spikegrad.surrogates.__all__``),
then any other registered surrogate by name. Everything in ``surrogates/generated/`` is
rewritten by this module (only files whose text changed, so that Sphinx rebuilds only those).
"""

from __future__ import annotations

import inspect
import io
import pathlib
import re
from typing import Any

__all__ = ["ordered_names", "setup", "write_catalogue"]

_PAGE = """{title}
{underline}

.. currentmodule:: spikegrad

.. plot::
   :caption: {caption}

   import spikegrad as sg
   from spikegrad.tools.plotting import plot_surrogates, variants
   plot_surrogates(variants(sg.get("{name}")))

.. autoclass:: {cls}
   :members: surrogate_grad, surrogate_fun, vjp

.. autofunction:: {name}
"""

_ROW = """   * - .. image:: /surrogates/generated/thumbnails/{name}.png
          :alt: g'(x) of {cls}
          :width: 120px
          :target: generated/{name}.html
     - :doc:`{cls} </surrogates/generated/{name}>` / :func:`{name}`
     - {defaults}
     - {summary}
"""


def ordered_names() -> list[str]:
    """The registered names in the catalogue's order: declaration order, then the rest sorted."""
    import spikegrad as sg
    from spikegrad import surrogates

    registered = sg.available()
    declared = []
    for attribute in surrogates.__all__:
        obj = getattr(surrogates, attribute)
        name = getattr(obj, "registry_name", None) if inspect.isclass(obj) else None
        if name in registered and name not in declared:
            declared.append(name)
    return declared + [n for n in registered if n not in declared]


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _caption(family: list[Any]) -> str:
    """What the plot shows, e.g. ``... for alpha = 2.0, 4.0 (default) and 8.0``."""
    text = ("The spike and the primitive :math:`g` (left), the surrogate gradient :math:`g'` "
            "(right)")
    first = family[0].params
    varied = [k for k in first if len({repr(s.params[k]) for s in family}) > 1]
    if not varied:
        return text + "."
    key = varied[0]
    default = type(family[0])().params[key]
    shown = [f"{s.params[key]!r}" + (" (default)" if s.params[key] == default else "")
             for s in family]
    listed = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else shown[0]
    return f"{text}, for ``{key}`` = {listed}."


def _write(path: pathlib.Path, data: bytes) -> None:
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def _thumbnail(surrogate: Any) -> bytes:
    import matplotlib.pyplot as plt

    from spikegrad.tools.plotting import plot_thumbnail

    fig = plot_thumbnail(surrogate)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def write_catalogue(source_dir: pathlib.Path) -> list[str]:
    """Write the pages, thumbnails and index table under ``source_dir/surrogates/generated``.

    Returns
    -------
    list of str
        The surrogate names, in the order written.
    """
    import spikegrad as sg
    from spikegrad.tools.plotting import variants

    out = source_dir / "surrogates" / "generated"
    thumbnails = out / "thumbnails"
    thumbnails.mkdir(parents=True, exist_ok=True)
    names = ordered_names()
    rows = []
    for name in names:
        surrogate = sg.get(name)
        cls = type(surrogate).__name__
        page = _PAGE.format(title=cls, underline="=" * len(cls), name=name, cls=cls,
                            caption=_caption(variants(surrogate)))
        _write(out / f"{name}.rst", page.encode())
        _write(thumbnails / f"{name}.png", _thumbnail(surrogate))
        defaults = ", ".join(f"``{k}={v!r}``" for k, v in surrogate.params.items()) or "none"
        rows.append(_ROW.format(name=name, cls=cls, defaults=defaults,
                                summary=_summary(type(surrogate))))
    table = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :class: spikegrad-catalogue",
        "   :widths: 18 32 22 28",
        "",
        "   * - :math:`g'(x)`",
        "     - Class / function",
        "     - Defaults",
        "     - Summary",
        *rows,
        "",
        ".. toctree::",
        "   :hidden:",
        "",
        *(f"   /surrogates/generated/{name}" for name in names),
        "",
    ]
    _write(out / "catalogue.inc", "\n".join(table).encode())
    # Pages of surrogates no longer registered would be orphans (a warning, an error under -W).
    for stale in set(out.glob("*.rst")) - {out / f"{n}.rst" for n in names}:
        stale.unlink()
    for stale in set(thumbnails.glob("*.png")) - {thumbnails / f"{n}.png" for n in names}:
        stale.unlink()
    return names


# "E. O. Neftci, ..." at the start of a line is read by reStructuredText as an enumerated list
# (item "E", then item "O"), which drops the initials from the text: escape the first dot.
_ENUMERATOR = re.compile(r"^(\s*)([A-Za-z]|[0-9]+|[ivxlcdmIVXLCDM]+)\.(\s)")


def _keep_initials(app: Any, what: str, name: str, obj: Any, options: Any,
                   lines: list[str]) -> None:
    """In a numpydoc ``References`` section, keep lines such as ``E. O. Neftci`` as text."""
    for i in range(len(lines) - 1):
        if lines[i].strip() == "References" and set(lines[i + 1].strip()) == {"-"}:
            j = i + 2
            while j < len(lines) and lines[j].strip():
                lines[j] = _ENUMERATOR.sub(r"\1\2\\.\3", lines[j])
                j += 1


def _generate(app: Any) -> None:
    write_catalogue(pathlib.Path(app.srcdir))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    # Before numpydoc (priority 500), which reads the sections.
    app.connect("autodoc-process-docstring", _keep_initials, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
