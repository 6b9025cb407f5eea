"""Generic backend for any array with ``__array_namespace__`` (e.g. array-api-strict)."""

from __future__ import annotations

from typing import Any

import array_api_compat

from ._no_autodiff import NoAutodiffAdapter


def _accepts(x: Any) -> bool:
    return hasattr(x, "__array_namespace__")


ADAPTER = NoAutodiffAdapter(
    "array_api",
    accepts=_accepts,
    accepts_text="an array with __array_namespace__ (an Array-API array)",
    namespace_of=array_api_compat.array_namespace,
)
