"""Thin per-framework adapters that attach spikegrad's math to each library.

One private module per backend, imported on first use by :mod:`spikegrad._dispatch`. Each
defines ``ADAPTER``, an object satisfying the written contract
:class:`spikegrad._contract.Adapter` (``name``, ``accepts_text``, ``accepts``, ``spike``,
``fun``, ``grad``, ``vjp``), and reads a surrogate only through the immutable
:class:`spikegrad._contract.Spec` it is given. No adapter knows any particular surrogate: a new
surrogate touches none of them. How to write a new backend: the docstring of
:mod:`spikegrad._contract`.

``_no_autodiff.py`` serves NumPy (``_numpy.py``) and any Array-API library
(``_array_api.py``); ``_jax.py``, ``_torch.py`` and ``_cupy.py`` attach the math to each
framework's autodiff or kernels; ``_torch_nn.py`` is the PyTorch layer, public as
:mod:`spikegrad.nn`.
"""
