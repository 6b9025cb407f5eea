"""The dtype rules shared by every adapter (see ``docs/semantics``).

* Inputs must be real floating arrays: float16, bfloat16, float32 or float64.
* Results have the input's dtype.
* float16 and bfloat16 are computed in float32 and rounded once at the end: computed in
  bfloat16 directly, sigmoid(8) rounds to 1 and the sigmoid surrogate's gradient at x = 2
  comes out 0 instead of 0.0013.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FLOATING_DTYPES", "not_floating_error", "needs_float32_compute"]

FLOATING_DTYPES = ("float16", "bfloat16", "float32", "float64")
"""The input dtypes spikegrad computes with (8-bit floats are refused: no framework computes
the spike's comparison in them everywhere)."""


def not_floating_error(dtype: Any, convert_hint: str) -> TypeError:
    """The error for an integer, bool or complex input."""
    text = str(dtype)
    if "float8" in text or "float4" in text:
        why = "8-bit floats are storage formats here; compute in float16 or wider"
    elif text == "bfloat16":  # only refused where the library has no bfloat16 arithmetic
        why = ("this library has no bfloat16 arithmetic (NumPy's, from ml_dtypes, is a storage "
               "type); convert to float32, or pass a JAX or PyTorch bfloat16 array")
    elif "float" in text or "longdouble" in text:
        why = "extended precision is not computed here; convert to float64"
    elif "complex" in text:
        why = "surrogate gradients are defined for real inputs only"
    elif "bool" in text:
        why = "a bool array holds spikes, not membrane potentials"
    else:
        why = "the surrogate gradient needs real-valued membrane potentials"
    return TypeError(
        f"spikegrad surrogates take real floating arrays (float16, bfloat16, float32 or "
        f"float64); got dtype {text} ({why}). Convert first, e.g. {convert_hint}"
    )


def needs_float32_compute(bits: int) -> bool:
    """Whether a floating dtype of ``bits`` bits is computed in float32 (16-bit types)."""
    return bits < 32
