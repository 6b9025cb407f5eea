"""Tools built on spikegrad, kept apart from its framework-free core.

* :mod:`~spikegrad.tools.cli`: the ``spikegrad`` command (also ``python -m spikegrad``) and its
  one argument parser;
* :mod:`~spikegrad.tools.check`: ``spikegrad check``, every surrogate on every installed backend,
  and :func:`~spikegrad.tools.check.verify`, everything the project verifies, for any surrogate;
* :mod:`~spikegrad.tools.verify`: the property checkers shared by ``check`` and the test suite;
* :mod:`~spikegrad.tools.bench`: ``spikegrad bench``, speed against native baselines;
* :mod:`~spikegrad.tools.plotting`: figures of surrogates (``spikegrad plot``, the docs);
* :mod:`~spikegrad.tools.demo`: ``spikegrad demo``, a spiking network trained on digits.

The core never imports this package. Its modules import frameworks (JAX, PyTorch, CuPy,
matplotlib, scikit-learn) only inside functions, so importing any of them stays cheap.
"""

import os


def _check_count(name: str, value: object, what: str, default: object,
                 most: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is a whole number from 1 to ``most`` (not a bool):
    the option ``name`` counts ``what`` (the message names the value, what to pass and
    ``default``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (
            most is not None and value > most):
        allowed = "1 or more" if most is None else f"1 to {most}"
        raise ValueError(f"{name}={value!r}: pass a whole number of {what}, {allowed} "
                         f"({default} by default)")


def _check_writable(path: str, what: str, instead: str = "pass another path") -> None:
    """Raise ``ValueError`` unless a file can be written at ``path`` (its directory exists and
    may be written): checked before the work whose result ``what`` it is to hold."""
    if not path or os.path.isdir(path):
        raise ValueError(f"cannot write {what} to {path!r}: "
                         f"{'it is a directory' if path else 'no file name'} ({instead}, a file "
                         "name)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write {what} to {path!r}: {folder} is not a writable "
                         f"directory ({instead})")
