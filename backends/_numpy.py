"""NumPy backend: the default for NumPy arrays, NumPy scalars, Python floats and lists."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._no_autodiff import NoAutodiffAdapter


def _accepts(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic, numbers.Real, list, tuple))


ADAPTER = NoAutodiffAdapter(
    "numpy",
    accepts=_accepts,
    accepts_text="a NumPy array, a Python float or a list of floats",
    namespace_of=lambda x: np,
    as_array=np.asarray,
    finish=np.asarray,
)
