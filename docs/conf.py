"""Sphinx configuration. Build: python -m sphinx -W -b html docs docs/_build/html"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import spikegrad as sg

_HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(_HERE / "_ext"))  # this site's own extensions

project = "spikegrad"
author = "The spikegrad developers"
copyright = f"2026, {author}"
release = version = sg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "local_mathjax",  # sphinx.ext.mathjax with MathJax served from _static/: renders offline
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "catalogue",  # the surrogates' pages, index table, thumbnails and sidebar order
    "porting",  # the porting guide's tables, from spikegrad.compat's mapping
]
html_theme = "furo"
html_title = "spikegrad"
exclude_patterns = ["_build", "_include"]  # _include: parts of several pages
# No autodoc_default_options["members"]: under Sphinx 8+ a default of False overrides the
# explicit ``:members:`` lists of the pages, and the methods vanish from the site.
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
nitpicky = False
# |BACKENDS| in the text: the valid names, from the code (documented in api.rst).
rst_epilog = ".. |BACKENDS| replace:: " + ", ".join(f'``"{b}"``' for b in sg.BACKENDS)
# The PyTorch layer's page can be built without PyTorch installed.
autodoc_mock_imports = [] if importlib.util.find_spec("torch") else ["torch"]
