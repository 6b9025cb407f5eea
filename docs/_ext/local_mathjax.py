"""Serve MathJax from the built site itself, so that its formulas render offline.

``sphinx.ext.mathjax`` loads MathJax from a CDN by default: opened without a network, every
formula shows as raw LaTeX. This extension copies MathJax 3 (the ``tex-chtml`` component, its
TeX extensions, CommonHTML fonts, menu and accessibility modules) from the PyPI package
``django-static-mathjax`` (a plain data package: it ships MathJax's release files and needs
no Django) into ``_static/mathjax/`` and points ``mathjax_path`` at it. The docs extra of
``pyproject.toml`` installs it; without it the build stops with an error that says so, rather
than producing a site whose formulas do not render.
"""

from __future__ import annotations

import filecmp
import importlib.resources
import pathlib
import shutil
from typing import Any

__all__ = ["MATHJAX_PATH", "mathjax_files", "setup"]

#: ``mathjax_path``, relative to ``_static/``.
MATHJAX_PATH = "mathjax/tex-chtml.js"

# What tex-chtml.js loads on demand, relative to MathJax's es5/ directory (the other combined
# components and the SVG output are not needed).
_WANTED = ("tex-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors")


def mathjax_files() -> tuple[pathlib.Path, list[pathlib.Path]]:
    """MathJax's ``es5`` directory and the files of it that the site needs.

    Raises
    ------
    RuntimeError
        The package ``django-static-mathjax`` is not installed (or does not hold MathJax 3).
    """
    hint = ("MathJax is bundled from the PyPI package django-static-mathjax: "
            "pip install -e '.[docs]'")
    try:
        root = pathlib.Path(str(importlib.resources.files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError:
        raise RuntimeError(f"MathJax not found. {hint}") from None
    es5 = root / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise RuntimeError(f"{es5 / 'tex-chtml.js'} does not exist. {hint}")
    files: list[pathlib.Path] = []
    for entry in _WANTED:
        path = es5 / entry
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return es5, files


def _copy(app: Any) -> None:
    """Copy MathJax (and its licence) into ``<outdir>/_static/mathjax``, changed files only.

    Runs when the builder starts, before pages are written, so that Sphinx can stamp the
    script's URL with the file's checksum.
    """
    if app.builder.format != "html":
        return
    from sphinx.errors import ExtensionError

    try:
        es5, files = mathjax_files()
    except RuntimeError as error:
        raise ExtensionError(str(error)) from None
    target = pathlib.Path(app.outdir) / "_static" / "mathjax"
    pairs = [(f, target / f.relative_to(es5)) for f in files]
    pairs.append((es5.parent / "LICENSE", target / "LICENSE"))
    for source, destination in pairs:
        if destination.is_file() and filecmp.cmp(source, destination, shallow=False):
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def _use_local_copy(app: Any, config: Any) -> None:
    """Set ``mathjax_path`` to the local copy unless ``conf.py`` chose another local file."""
    if "://" in config.mathjax_path or config.mathjax_path.startswith("//"):
        config.mathjax_path = MATHJAX_PATH


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _use_local_copy)
    app.connect("builder-inited", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
