"""The porting guide's tables, generated at build time from the mapping the code uses
(:func:`spikegrad.compat._table.rows`): one table per library, so that what the guide says is
what ``spikegrad.compat`` does."""

from __future__ import annotations

import pathlib
from typing import Any

__all__ = ["setup", "write_tables"]


def _table(library: str) -> str:
    from spikegrad.compat._table import rows

    lines = [
        ".. list-table::", "   :header-rows: 1", "   :widths: 30 40 30", "",
        f"   * - ``spikegrad.compat.{library}``", "     - is the catalogue's",
        "     - difference from the library's code",
    ]
    for r in rows(library):
        lines += [f"   * - ``{r['name']}``", f"     - ``{r['canonical']}``",
                  f"     - {r['difference'] or '-'}"]
    return "\n".join(lines) + "\n"


def write_tables(source_dir: pathlib.Path) -> None:
    from spikegrad.compat import LIBRARIES

    out = source_dir / "guides" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    for library in LIBRARIES:
        path = out / f"porting_{library}.inc"
        text = _table(library)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _generate(app: Any) -> None:
    write_tables(pathlib.Path(app.srcdir))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
