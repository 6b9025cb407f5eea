"""What compiled kernels call besides arithmetic (numba): ``exp_``, pointers at addresses, and
``fetch_add``.

Imported by the generated kernel modules of :mod:`spikegrad.backends._torch_kernels` (in the
process that compiles them and in the one that loads them); it imports numba, which nothing
else in spikegrad does at import. ``exp2_`` and ``exp_`` are compiled once and cached on disk by
numba; the intrinsics are code generators, compiled into each kernel.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = ["as_doubles", "as_pointer", "as_words", "exp2_", "exp2_python", "exp_", "exp_python",
           "fetch_add"]

LOG2E = 1.4426950408889634
"""``log2(e)``: ``exp(a)`` is ``exp2(a * LOG2E)``, as the PyTorch adapter computes it."""


def exp2_python(t: Any) -> Any:
    """``2**t`` for a float32 ``t`` in operations LLVM vectorizes (compiled as :func:`exp2_`).

    ``t = n + f`` with ``n`` the nearest whole number and ``|f| <= 1/2`` (exact); ``2**f`` by
    a polynomial of degree 6 fitted to it (relative error 1.9e-9, a 60th of a float32 ulp), in
    Horner's scheme with fused multiply-adds; ``2**n`` as two powers of two built from their
    bits, each a normal number, so that ``2**n`` from the subnormal ``2**-149`` up to overflow
    is rounded once, by the last product. ``t`` is first clipped to ``[-151, 129]``, beyond
    which the result is 0 or inf anyway, by comparisons that let NaN through: NaN gives NaN
    (through ``f``, whatever the bits built from it). Within 0.94 ulp of ``2**t`` for normal
    results (tested over the whole range).

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.backends._kernel_math import exp2_python
    >>> float(exp2_python(np.float32(-3.0))), float(exp2_python(np.float32(-149.0)))
    (0.125, 1.401298464324817e-45)
    """
    f32 = np.float32
    low_clipped = f32(-151.0) if t < f32(-151.0) else t
    clipped = f32(129.0) if low_clipped > f32(129.0) else low_clipped
    n = np.floor(clipped + f32(0.5))
    f = clipped - n
    p = f32(0.00015345816791523248)
    p = p * f + f32(0.0013399932067841291)
    p = p * f + f32(0.009618489071726799)
    p = p * f + f32(0.05550328642129898)
    p = p * f + f32(0.24022646248340607)
    p = p * f + f32(0.6931471824645996)
    p = p * f + f32(1.0)
    k = np.int32(n)
    half = k >> np.int32(1)
    low = np.int32((half + np.int32(127)) << np.int32(23)).view(np.float32)
    high = np.int32((k - half + np.int32(127)) << np.int32(23)).view(np.float32)
    return (p * low) * high


# Fused multiply-adds in exp2_ only: LLVM inlines it into the kernels, whose own arithmetic
# rounds as written.
exp2_ = numba.njit(cache=True, fastmath={"contract"})(exp2_python)


def exp_python(a: Any) -> Any:
    """``exp(a)`` as the PyTorch adapter computes it on the CPU, ``exp2(a * log2 e)`` (the
    product rounded to float32, as PyTorch rounds it), with :func:`exp2_` (compiled as
    :func:`exp_`)."""
    return exp2_(a * np.float32(LOG2E))


exp_ = numba.njit(cache=True)(exp_python)


def _pointer_at(element: Any) -> Any:
    """An intrinsic ``f(address)``: the pointer to ``element`` values at an integer address."""
    pointer = types.CPointer(element)

    def typer(typingctx: Any, address: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.inttoptr(args[0], context.get_value_type(pointer))

        return pointer(address), codegen

    return typer


as_pointer = intrinsic(_pointer_at(types.float32))
"""The float32 pointer at an integer ``address`` (a tensor's ``data_ptr()``), for
``numba.carray``: a kernel called with addresses costs half a microsecond where arrays made with
``Tensor.numpy()`` cost 2.5 each."""
as_words = intrinsic(_pointer_at(types.int64))
"""The int64 pointer at an integer ``address`` (the words of a kernel's call, see ``part``)."""
as_doubles = intrinsic(_pointer_at(types.float64))
"""The float64 pointer at an integer ``address`` (the parameters of a kernel's call)."""


@intrinsic
def fetch_add(typingctx: Any, address: Any, value: Any) -> Any:
    """Add ``value`` to the int64 at ``address`` atomically; the value it had. The threads of
    one kernel call claim their parts of the tensors with it (each part goes to exactly one
    thread; the OpenMP region's end makes the results visible to the caller)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        word = builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))
        return builder.atomic_rmw("add", word, args[1], "monotonic")

    return types.int64(types.int64, types.int64), codegen
