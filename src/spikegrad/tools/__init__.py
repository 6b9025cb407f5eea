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
