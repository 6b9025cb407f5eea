"""What compiled kernels call besides arithmetic (numba): ``exp_`` (and ``exp_nonpositive_``,
for arguments known to be at most 0), ``log1p_``, ``fmod_`` and ``cos_`` (these two with range
guards and exact fallbacks), pointers at addresses, and ``fetch_add``.

Imported by the generated kernel modules of :mod:`spikegrad.backends._torch_kernels` (in the
process that compiles them and in the one that loads them); it imports numba, which nothing
else in spikegrad does at import. The functions are compiled on first use, and those that read
no constant of :mod:`spikegrad._math` are cached on disk by numba; the intrinsics are code
generators, compiled into each kernel.

``fmod_`` and ``cos_`` are exact (``fmod_``) or within 1.6 ulp (``cos_``) on a range of inputs
that their guards, ``fmod_ok`` and ``cos_ok``, say they cover, with operations LLVM vectorizes.
A kernel that calls them checks the guards of every element; if any is outside, it finds
those elements again, :data:`GUARD_CHUNK` at a time (``guard_flags``), and computes them with
``fmod_exact`` and ``cos_exact`` (the C library's, one element at a time): see
:meth:`spikegrad._codegen.Kernel.python_source`.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from spikegrad._math import COS_COEFFICIENTS, LOG2E, SIN_COEFFICIENTS

__all__ = ["as_doubles", "as_pointer", "as_words", "cos_", "cos_exact", "cos_ok", "exp2_",
           "exp2_nonpositive_", "exp2_nonpositive_python", "exp2_python", "exp_",
           "exp_nonpositive_", "exp_nonpositive_python", "exp_python", "fetch_add", "fma_",
           "fmod_", "fmod_exact", "fmod_ok", "guard_flags", "log1p_"]


def exp2_nonpositive_python(t: Any) -> Any:
    """``2**t`` for a float32 ``t`` up to 129 (or NaN), in operations LLVM vectorizes
    (compiled as :func:`exp2_nonpositive_`, what kernels call where ``t`` is known to be at
    most 0, or NaN: :meth:`spikegrad._codegen.SymbolicNamespace.exp`; :func:`exp2_python`
    for every ``t``).

    ``t = n + f`` with ``n`` the nearest whole number (ties to even) and ``|f| <= 1/2``
    (exact); ``2**f`` by a polynomial of degree 6 fitted to it (relative error 1.9e-9, a 60th
    of a float32 ulp), in Horner's scheme with fused multiply-adds; ``2**n`` as two powers of
    two built from their bits, each a normal number, so that ``2**n`` from the subnormal
    ``2**-149`` up to overflow is rounded once, by the last product. ``t`` is first clipped
    below at -151, beyond which the result is 0 anyway, by a comparison that lets NaN through:
    NaN gives NaN (through ``f``, whatever the bits built from it). Within 0.95 ulp of ``2**t``
    for normal results (tested over the whole range).

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.backends._kernel_math import exp2_nonpositive_python
    >>> float(exp2_nonpositive_python(np.float32(-3.0)))
    0.125
    >>> float(exp2_nonpositive_python(np.float32(-149.0)))
    1.401298464324817e-45
    """
    f32 = np.float32
    clipped = f32(-151.0) if t < f32(-151.0) else t
    n = np.rint(clipped)
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


# Fused multiply-adds in exp2_nonpositive_ (and so exp2_) only: LLVM inlines it into the
# kernels, whose own arithmetic rounds as written.
exp2_nonpositive_ = numba.njit(cache=True, fastmath={"contract"})(exp2_nonpositive_python)


def exp2_python(t: Any) -> Any:
    """``2**t`` for every float32 ``t`` (compiled as :func:`exp2_`): ``t`` clipped above at
    129, beyond which the result is inf anyway (NaN passes), then
    :func:`exp2_nonpositive_python`.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.backends._kernel_math import exp2_python
    >>> float(exp2_python(np.float32(3.0))), float(exp2_python(np.float32(1e30)))
    (8.0, inf)
    """
    f32 = np.float32
    return exp2_nonpositive_(f32(129.0) if t > f32(129.0) else t)


exp2_ = numba.njit(cache=True)(exp2_python)


def exp_python(a: Any) -> Any:
    """``exp(a)`` as the PyTorch adapter computes it on the CPU, ``exp2(a * log2 e)`` (the
    product rounded to float32, as PyTorch rounds it), with :func:`exp2_` (compiled as
    :func:`exp_`)."""
    return exp2_(a * np.float32(LOG2E))


# Not cached on disk (nor exp_nonpositive_, cos_): they read spikegrad._math's constants,
# which numba's cache of this file would keep after a change there (see
# spikegrad.backends._torch_kernels._kernel_math_hash).
exp_ = numba.njit(exp_python)


def exp_nonpositive_python(a: Any) -> Any:
    """:func:`exp_python` for ``a`` known to be at most 0, or NaN (compiled as
    :func:`exp_nonpositive_`): ``a * log2 e`` is too, so :func:`exp2_nonpositive_` serves."""
    return exp2_nonpositive_(a * np.float32(LOG2E))


exp_nonpositive_ = numba.njit(exp_nonpositive_python)


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


@intrinsic
def fma_(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` in float32, rounded once (LLVM's ``fma``: one instruction where the CPU has
    fused multiply-adds, a call of the C library's ``fmaf`` elsewhere)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        f = ir.FloatType()
        fma = builder.module.declare_intrinsic("llvm.fma", [f], ir.FunctionType(f, [f, f, f]))
        return builder.call(fma, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


FMOD_QUOTIENTS = float(2**22)
"""``fmod_(a, b)`` is exact while ``|a| / |b|`` (as float32 computes it) is below this."""


@numba.njit(cache=True, error_model="numpy")
def fmod_(a: Any, b: Any) -> Any:
    """C's ``fmod`` of float32 numbers (``a - b trunc(a / b)``, exactly: the result has ``a``'s
    sign) in operations LLVM vectorizes, for the ``a`` and ``b`` that :func:`fmod_ok` accepts.

    ``q = floor(|a| / |b|)`` from a product with the reciprocal (off by at most one while the
    quotient is below :data:`FMOD_QUOTIENTS`), corrected by the sign of ``|a| - q |b|`` (a fused
    multiply-add: the exact difference, rounded once), which is then exact: it is a multiple of
    the smaller operand's last place and below ``|b|``. ``|a| < |b|`` gives ``|a|`` (also for
    ``b = inf``); NaN, ``a = inf`` and ``b = 0`` give NaN, as C's ``fmod``.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.backends._kernel_math import fmod_
    >>> f32 = np.float32
    >>> float(fmod_(f32(17.5), f32(8.0))), float(fmod_(f32(-7.0), f32(2.5)))
    (1.5, -2.0)
    """
    magnitude, divisor = abs(a), abs(b)
    q = np.floor(magnitude * (np.float32(1.0) / divisor))
    r = fma_(-q, divisor, magnitude)
    q = q - np.float32(1.0) if r < np.float32(0.0) else q
    q = q + np.float32(1.0) if r >= divisor else q
    r = fma_(-q, divisor, magnitude)
    r = magnitude if magnitude < divisor else r
    return math.copysign(r, a)


@numba.njit(cache=True, error_model="numpy")
def fmod_ok(a: Any, b: Any) -> Any:
    """Whether :func:`fmod_` is ``fmod(a, b)``: false only for a finite ``|a| >= |b|`` whose
    quotient by ``b`` reaches :data:`FMOD_QUOTIENTS` (or overflows: ``b`` below ``2**-128``)."""
    magnitude, divisor = abs(a), abs(b)
    t = magnitude * (np.float32(1.0) / divisor)
    return not ((t >= np.float32(FMOD_QUOTIENTS)) & (magnitude < np.float32(np.inf))
                & (magnitude >= divisor))


def _c_function(name: str, arity: int) -> Any:
    """An intrinsic calling the C library's ``double name(double, ...)`` by its symbol: a call
    LLVM neither vectorizes nor speculates (it may set ``errno``), so that in a loop it is made
    only for the elements whose branch takes it (LLVM's own ``cos`` and ``frem``, as numba's
    ``math.cos`` and ``np.fmod`` are compiled, would be computed for every element of a
    vectorized loop and the unwanted ones masked out)."""

    def typer(typingctx: Any, *args: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, values: Any) -> Any:
            double = ir.DoubleType()
            function = builder.module.globals.get(name) or ir.Function(
                builder.module, ir.FunctionType(double, [double] * arity), name=name)
            return builder.call(function, values)

        return types.float64(*[types.float64] * arity), codegen

    return typer


@intrinsic
def _c_fmod(typingctx: Any, a: Any, b: Any) -> Any:
    return _c_function("fmod", 2)(typingctx, a, b)


@intrinsic
def _c_cos(typingctx: Any, x: Any) -> Any:
    return _c_function("cos", 1)(typingctx, x)


@numba.njit(cache=True, error_model="numpy")
def fmod_exact(a: Any, b: Any) -> Any:
    """C's ``fmod`` of float32 numbers (exact: computed in float64, which holds them), one at a
    time (a call of the C library that LLVM does not vectorize): for the elements
    :func:`fmod_ok` rejects."""
    return np.float32(_c_fmod(np.float64(a), np.float64(b)))


GUARD_CHUNK = 1024
"""The elements a kernel re-examines at a time when some are outside its guards (see
:meth:`spikegrad._codegen.Kernel.python_source`)."""


@numba.njit(cache=True, error_model="numpy")
def guard_flags() -> Any:
    """A buffer of :data:`GUARD_CHUNK` booleans: which elements of a chunk are inside the
    guards of a kernel's calls."""
    return np.empty(GUARD_CHUNK, np.bool_)


# pi/2 as the sum of three float32 numbers (1e-23 from it): k * _PIO2_1 is a multiple of 2**-23,
# so x - k * _PIO2_1 is exact for |k| < 2**22; the other two parts are subtracted with one
# rounding each (fused multiply-adds).
_PIO2_1 = np.float32(1.5707963705062866)
_PIO2_2 = np.float32(-4.371138828673793e-08)
_PIO2_3 = np.float32(-1.7151245100058819e-15)

COS_RANGE = float(2**16)
"""``cos_(x)`` is within 1.6 ulp of ``cos(x)`` for ``|x|`` below this (and NaN for NaN and
+-inf)."""


@numba.njit(error_model="numpy")  # (not cached: see exp_)
def cos_(x: Any) -> Any:
    """``cos(x)`` of a float32 ``x`` in operations LLVM vectorizes, within 1.6 ulp (0.34 on
    average) for ``|x| <`` :data:`COS_RANGE`, NaN for NaN and +-inf (see :func:`cos_ok`).

    ``x = k pi/2 + r`` with ``k`` the nearest whole number to ``x 2/pi`` and ``|r| <= pi/4``
    (Cody and Waite's reduction: pi/2 in three float32 parts, with fused multiply-adds); then
    ``cos r``, ``-sin r``, ``-cos r`` or ``sin r`` by ``k mod 4``, from Cephes' float32
    polynomials for ``|r| <= pi/4``, in Horner's scheme with fused multiply-adds.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.backends._kernel_math import cos_
    >>> float(cos_(np.float32(0.0))), float(cos_(np.float32(np.pi)))
    (1.0, -1.0)
    """
    f32 = np.float32
    k = np.rint(x * f32(0.6366197466850281))
    r = fma_(-k, _PIO2_1, x)
    r = fma_(-k, _PIO2_2, r)
    r = fma_(-k, _PIO2_3, r)
    z = r * r
    c = f32(COS_COEFFICIENTS[0])
    for coefficient in COS_COEFFICIENTS[1:]:
        c = fma_(c, z, f32(coefficient))
    c = fma_(c * z, z, fma_(f32(-0.5), z, f32(1.0)))
    s = f32(SIN_COEFFICIENTS[0])
    for coefficient in SIN_COEFFICIENTS[1:]:
        s = fma_(s, z, f32(coefficient))
    s = fma_(s * z, r, r)
    quadrant = k - f32(4.0) * np.floor(k * f32(0.25))
    v = s if (quadrant == f32(1.0)) | (quadrant == f32(3.0)) else c
    return -v if (quadrant == f32(1.0)) | (quadrant == f32(2.0)) else v


@numba.njit(cache=True, error_model="numpy")
def cos_ok(x: Any) -> Any:
    """Whether :func:`cos_` serves ``x``: false for a finite ``|x| >=`` :data:`COS_RANGE`."""
    magnitude = abs(x)
    return not ((magnitude >= np.float32(COS_RANGE)) & (magnitude < np.float32(np.inf)))


@numba.njit(cache=True, error_model="numpy")
def cos_exact(x: Any) -> Any:
    """``cos(x)`` of a float32 ``x``, one at a time (the C library's, in float64, rounded once,
    a call that LLVM does not vectorize): for the elements :func:`cos_ok` rejects."""
    return np.float32(_c_cos(np.float64(x)))


@numba.njit(cache=True, error_model="numpy")
def log1p_(u: Any) -> Any:
    """``log(1 + u)`` of a float32 ``u`` in operations LLVM vectorizes, within 0.83 ulp (0.18
    on average) for every ``u``: -inf at -1, NaN below and at NaN, inf at inf, and ``u`` itself
    at zeros (signed) and tiny ``u``.

    ``w = 1 + u`` rounded, and what that rounding lost, ``(u - (w - 1)) / w`` (exact to first
    order; Goldberg's correction), added to ``log w``: ``w = 2**e m`` from its bits, ``m`` in
    ``[sqrt(2)/2, sqrt(2))``, ``log m`` by Cephes' float32 polynomial in ``f = m - 1`` (exact)
    in fused multiply-adds, ``e log 2`` in two parts. No branch: the special values are
    selected.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.backends._kernel_math import log1p_
    >>> float(log1p_(np.float32(1e-10))), float(log1p_(np.float32(np.e - 1)))
    (1.000000013351432e-10, 1.0)
    """
    f32, i32 = np.float32, np.int32
    w = f32(1.0) + u
    lost = (u - (w - f32(1.0))) / w
    bits = np.float32(w).view(np.int32)
    e = (bits >> i32(23)) - i32(127)
    m = np.int32((bits & i32(0x7FFFFF)) | i32(0x3F800000)).view(np.float32)
    high = m > f32(1.4142135)
    m = m * f32(0.5) if high else m
    e = e + i32(1) if high else e
    f = m - f32(1.0)
    z = f * f
    p = f32(7.0376836292e-2)
    for coefficient in (-1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                        -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1):
        p = fma_(p, f, f32(coefficient))
    scale = f32(e)
    y = fma_(p * f, z, fma_(scale, f32(-2.12194440e-4), lost))
    y = fma_(f32(-0.5), z, y)
    y = fma_(scale, f32(0.693359375), f + y)
    y = f32(-np.inf) if w == f32(0.0) else y
    y = w if w == f32(np.inf) else y
    y = u if u == f32(0.0) else y
    return f32(np.nan) if (w < f32(0.0)) | (w != w) else y
