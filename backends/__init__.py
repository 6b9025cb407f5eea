"""Thin per-framework adapters that attach spikegrad's math to each library.

One private module per backend, imported on first use by :mod:`spikegrad._dispatch`; each
module (or the ``ADAPTER`` object it defines) provides ``spike``, ``fun``, ``grad``, ``vjp``
(all ``(surrogate, x, ...)``),
``accepts(x)`` and ``ACCEPTS`` (what it takes, for messages). No adapter knows any particular
surrogate: a new surrogate touches none of them.
"""
