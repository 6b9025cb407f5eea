"""The checkers behind ``spikegrad check`` and the project's own property tests.

Each function here either computes something a check needs (the extremes of a dtype, the
length scales of a surrogate, the error a correct float32 computation may have) or asserts a
property and raises ``AssertionError`` saying where it fails. The test suite draws its inputs
with hypothesis and calls these functions; :func:`spikegrad.tools.check.verify` draws them
with a seeded NumPy generator and calls the same functions: one copy of every property.

Everything here runs on NumPy in float64 (the reference), except the bfloat16 evaluations,
which need PyTorch, and the compiled kernels, which need a C++ compiler (and ``nvcc`` for
the CUDA source).

* :func:`check_difference_quotients`: :math:`g'` is the derivative of :math:`g`;
* :func:`check_finite`: :math:`g` and :math:`g'` are finite at every finite input;
* :func:`check_reduced_precision` (with :func:`assert_close_to_float64`): 16-bit and float32
  results are the float64 reference rounded, up to the formula's own conditioning;
* :func:`compile_cuda`, :func:`compile_for_cpu`, :func:`check_cpu_kernels`: the generated
  kernels compile and give the reference values.

Examples
--------
>>> import numpy as np
>>> import spikegrad as sg
>>> from spikegrad.tools import verify
>>> s = sg.Sigmoid()
>>> verify.check_difference_quotients(s, np.array([-2.0, -0.5, 0.25, 3.0]))
>>> verify.check_finite(s, verify.extremes("float16"), "float16", verify.evaluate)
>>> class Wrong(sg.Surrogate):
...     def grad(x, *, xp):
...         return xp.exp(-xp.abs(x))
...     def primitive(x, *, xp):
...         return 0.5 * xp.tanh(x) + 0.5
>>> verify.check_difference_quotients(Wrong(), np.array([1.0]))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
AssertionError: g' is not the derivative of g: at x = [1.]...
"""

from __future__ import annotations

import ctypes
import pathlib
import shutil
import subprocess
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from spikegrad import _codegen as codegen

__all__ = [
    "BF16", "DTYPES", "EPS32", "PLAN_ULPS", "ULPS", "ToolMissing", "assert_close_to_float64",
    "assert_product_close", "assert_within_ulps", "check_cpu_kernels",
    "check_difference_quotients", "check_finite", "check_reduced_precision", "compile_cuda",
    "compile_for_cpu", "eps", "evaluate", "extremes", "fun", "grad", "kernels_of", "methods",
    "must_be_finite", "perturbations", "primitive_size", "random_finite", "replaced",
    "run_on_cpu", "sample_points", "scales", "sensitivity",
]

#: Every floating dtype a surrogate takes.
DTYPES = ("float16", "bfloat16", "float32", "float64")
EPS32 = float(np.finfo(np.float32).eps)
#: np.finfo does not know bfloat16: its largest value, smallest normal and epsilon.
BF16 = {"max": 3.3895313892515355e38, "tiny": 1.1754943508222875e-38, "eps": 2.0**-7}

#: Accuracy against the float64 reference, in units in the last place of the result's dtype,
#: with values below ``floor`` compared on the scale of ``floor``: ``{dtype: (ulps, floor)}``.
#: 16-bit types are computed in float32 and rounded once; float32 is computed in float32 (a
#: rounded argument like ``(alpha x)**2`` before ``exp`` costs a few dozen ulps); float64
#: differs between libms by a few ulps of O(1) terms.
ULPS = {"float16": (2, 1e-3), "bfloat16": (2, 1e-3), "float32": (64, 1.0), "float64": (4, 1.0)}


class ToolMissing(RuntimeError):
    """A program a check needs (a C++ compiler, ``nvcc``) is not installed."""


def _show(a: Any, n: int = 6) -> str:
    """The first ``n`` values of ``a`` on one line."""
    return np.array2string(np.asarray(a)[:n], max_line_width=10**6, precision=8)


# ----------------------------------------------------------------------------- dtypes


def eps(dtype: str) -> float:
    """The machine epsilon of ``dtype`` (bfloat16 included)."""
    return BF16["eps"] if dtype == "bfloat16" else float(np.finfo(dtype).eps)


def _tiny(dtype: str) -> float:
    return BF16["tiny"] if dtype == "bfloat16" else float(np.finfo(dtype).tiny)


def _max(dtype: str) -> float:
    return BF16["max"] if dtype == "bfloat16" else float(np.finfo(dtype).max)


def rounds_to_infinity(values: np.ndarray, dtype: str) -> np.ndarray:
    """Where the float64 ``values`` round to +-inf in ``dtype``: from the largest number plus
    half its ulp on (the tie rounds to the even side, inf).

    Examples
    --------
    >>> from spikegrad.tools.verify import rounds_to_infinity
    >>> rounds_to_infinity(np.array([65504.0, 65519.0, 65520.0, -7e4]), "float16")
    array([False, False,  True,  True])
    """
    big, e = _max(dtype), eps(dtype)
    with np.errstate(over="ignore"):  # float64's own threshold is inf: nothing rounds there
        return np.abs(values) >= big + big * e / (2 * (2 - e))


def extremes(dtype: str) -> np.ndarray:
    """The dtype's extremes (largest, smallest normal and subnormal, epsilon), signed zeros, a few
    ordinary values, their negatives and their neighbours towards 0, as float64.

    Examples
    --------
    >>> from spikegrad.tools.verify import extremes
    >>> extremes("float16")[:4]
    array([6.55040000e+04, 6.10351562e-05, 5.96046448e-08, 0.00000000e+00])
    """
    if dtype == "bfloat16":
        big, tiny, e = BF16["max"], BF16["tiny"], BF16["eps"]
        values = np.asarray([big, tiny, 9.183549615799121e-41, 0.0, 1.0, 0.5, e, 1e3, 2.0])
        return np.concatenate([values, -values, values * 0.99, -values * 0.99])
    info = np.finfo(dtype)
    values = [info.max, info.tiny, info.smallest_subnormal, 0.0, 1.0, 0.5, info.eps, 1e3, 2.0]
    values = np.asarray(values, dtype=dtype)
    return np.concatenate([values, -values, np.nextafter(values, np.zeros((), dtype))]).astype(
        np.float64
    )


def random_finite(dtype: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` finite values of ``dtype`` drawn as random bit patterns (every exponent equally
    likely, subnormal numbers included), as float64.

    Examples
    --------
    >>> import numpy as np
    >>> from spikegrad.tools.verify import random_finite
    >>> x = random_finite("float16", 1000, np.random.default_rng(0))
    >>> bool(np.isfinite(x).all()), bool(np.abs(x).max() > 1e4), bool(np.abs(x).min() < 1e-4)
    (True, True, True)
    """
    if dtype == "bfloat16":  # the upper half of a float32
        bits = rng.integers(0, 2**16, size, dtype=np.uint32) << 16
        x = bits.view(np.float32).astype(np.float64)
    else:
        width = np.dtype(dtype).itemsize * 8
        bits = rng.integers(0, 2**width, size, dtype=np.dtype(f"uint{width}"))
        x = bits.view(dtype).astype(np.float64)
    return np.where(np.isfinite(x), x, 1.0)


def evaluate(method: Callable[[Any, Any], Any], s: Any, values: np.ndarray, dtype: str) -> Any:
    """``method(s, x)`` for ``x`` the float64 ``values`` in ``dtype``, as a float64 array:
    NumPy for float16, float32 and float64, PyTorch for bfloat16 (NumPy has none)."""
    if dtype == "bfloat16":
        import torch

        x = torch.as_tensor(np.asarray(values, np.float64)).to(torch.bfloat16)
        return method(s, x).to(torch.float64).numpy()
    return np.asarray(method(s, np.asarray(values).astype(dtype)), dtype=np.float64)


# ------------------------------------------------------------------------- a surrogate


def grad(s: Any, x: Any) -> Any:
    """``s.surrogate_grad(x)``: g', as a function of the surrogate."""
    return s.surrogate_grad(x)


def fun(s: Any, x: Any) -> Any:
    """``s.surrogate_fun(x)``: g, as a function of the surrogate."""
    return s.surrogate_fun(x)


def methods(s: Any) -> list[Callable[[Any, Any], Any]]:
    """:func:`grad`, and :func:`fun` where the surrogate (object or class) has a primitive."""
    has = s._has_primitive() if not isinstance(s, type) else s.primitive is not None
    return [grad, fun] if has else [grad]


def scales(s: Any) -> list[float]:
    """Length scales a surrogate's shape may have: 1, and each parameter and its reciprocal.

    Examples
    --------
    >>> import spikegrad as sg
    >>> from spikegrad.tools.verify import scales
    >>> scales(sg.Sigmoid(alpha=4.0))
    [0.25, 1.0, 4.0]
    """
    out = {1.0}
    for p, v in zip(type(s)._params, s._param_values):
        if not p.integer and v != 0:
            out |= {abs(v), 1.0 / abs(v)}
    return sorted(v for v in out if 1e-300 < v < 1e300)


def sample_points(s: Any, size: int, rng: np.random.Generator, decades: float = 3.0) -> np.ndarray:
    """``size`` nonzero float64 points, each a signed scale of ``s`` times 10**u, |u| <= decades
    (what the property tests draw with hypothesis, drawn with ``rng``)."""
    sc = np.asarray(scales(s))
    index = rng.integers(0, sc.size, size)
    sign = np.where(rng.random(size) < 0.5, -1.0, 1.0)
    return sign * sc[index] * 10.0 ** rng.uniform(-decades, decades, size)


def replaced(s: Any, name: str, value: float) -> Any:
    """``s`` with one parameter changed, or None where the value is out of range."""
    try:
        return s.replace(**{name: value})
    except ValueError:
        return None


def perturbations(s: Any, delta: float) -> list[Any]:
    """``s`` with each non-integer parameter moved by a relative ``delta`` either way (in range),
    and at least by the spacing of float32's subnormal numbers (how far a tiny parameter, such
    as a cutoff near 0, moves when rounded to float32)."""
    out = []
    for p, v in zip(type(s)._params, s._param_values):
        if p.integer or v == 0:
            continue
        step = max(delta * abs(v), 2.0**-148)
        for moved in (v + step, v - step):
            other = replaced(s, p.name, moved)
            if other is not None:
                out.append(other)
    return out


def primitive_size(s: Any) -> float:
    """The largest |g| at 0 and at the scales of ``s`` times 10**k, |k| <= 3."""
    sc = np.asarray(scales(s))
    x = np.concatenate([[0.0], *(sign * sc * 10.0**k for k in range(-3, 4) for sign in (1, -1))])
    return float(np.abs(s.surrogate_fun(x)).max())


def must_be_finite(s: Any, method: Callable[..., Any], x: np.ndarray, dtype: str) -> np.ndarray:
    """Where ``method(s, x)`` must be finite: everywhere, except for g of a surrogate with
    linear tails (``linear_tails``), whose exact value exceeds the dtype's range where
    ``|slope * x|`` does (the slopes are its parameters)."""
    x = np.asarray(x, dtype=np.float64)
    if method is grad or not getattr(type(s), "linear_tails", False):
        return np.ones(x.shape, dtype=bool)
    slope = max([1.0, *(abs(v) for v in s.params.values())])
    return np.abs(x) < 0.5 * _max(dtype) / slope


# ------------------------------------------------------------------------------- checks


def check_difference_quotients(s: Any, x: np.ndarray) -> None:
    """At each x, the largest relative step (of 2**-10 ... 2**-34) over which g' is smooth
    (five samples that differ by under 1e-3 relatively: no jump, no unresolved oscillation) gives
    a central difference quotient of g that must equal g'(x).

    The tolerance is the difference quotient's own error: its truncation (estimated from the
    second difference of g') and the rounding of g divided by the step.

    Raises
    ------
    AssertionError
        Naming the points, the quotients, g' there and the tolerance.
    """
    with np.errstate(over="ignore", under="ignore"):  # tolerances may be inf or 0
        d_mid = s.surrogate_grad(x)
        size = primitive_size(s)
        checked = np.zeros(x.shape, dtype=bool)
        for r in (2.0**-10, 2.0**-16, 2.0**-22, 2.0**-28, 2.0**-34):
            h = r * np.abs(x)
            lo, half_lo, half_hi, hi = x - h, x - h / 2, x + h / 2, x + h
            d = np.stack([s.surrogate_grad(v) for v in (lo, half_lo, x, half_hi, hi)])
            smooth = (np.abs(np.diff(d, axis=0)) <= 1e-3 * np.abs(d).max(axis=0)).all(axis=0)
            use = smooth & ~checked
            if not use.any():
                continue
            step = hi - lo
            g_lo, g_hi = s.surrogate_fun(lo), s.surrogate_fun(hi)
            quotient = (g_hi - g_lo) / step
            truncation = np.abs(d[4] - 2 * d[2] + d[0]) / 3  # twice h**2 g'''(x) / 6
            # g is rounded relative to its terms, which may cancel (a tail, a sum of lobes):
            # their size is that of g over its range; NumPy's backend's erfc is good to 1e-13;
            # and the spacing of subnormal numbers.
            rounding = (1e-12 * (np.abs(g_hi) + np.abs(g_lo) + size) + 1e-320) / step
            allowed = 1e-7 * np.abs(d_mid) + truncation + rounding + 1e-300  # 1e-300: nothing
            bad = use & ~(np.abs(quotient - d_mid) <= allowed)
            assert not bad.any(), (
                f"g' is not the derivative of g: at x = {_show(x[bad], 4)}\n"
                f"(g(x+h) - g(x-h)) / 2h = {_show(quotient[bad], 4)} (h = {r} |x|)\n"
                f"but g'(x) = {_show(d_mid[bad], 4)}\n"
                f"allowed difference {_show(allowed[bad], 4)}; {s!r}"
            )
            checked |= use


def check_finite(
    s: Any,
    values: np.ndarray,
    dtype: str,
    evaluate: Callable[[Callable[..., Any], Any, np.ndarray, str], np.ndarray] = evaluate,
) -> None:
    """g and g' are finite at every one of the float64 ``values`` (each representable in
    ``dtype``), computed by ``evaluate(method, s, values, dtype)`` (default: :func:`evaluate`),
    except where the exact g exceeds the dtype's range (:func:`must_be_finite`).

    Raises
    ------
    AssertionError
        Naming the surrogate, the dtype, the function and the inputs.
    """
    values = np.asarray(values, dtype=np.float64)
    for method in methods(s):
        out = np.asarray(evaluate(method, s, values, dtype), dtype=np.float64)
        bad = ~np.isfinite(out) & must_be_finite(s, method, values, dtype)
        assert not bad.any(), (
            f"{method.__name__} is not finite in {dtype} at x = {_show(values[bad])} "
            f"(got {_show(out[bad])}); {s!r}"
        )


def assert_close_to_float64(
    got: Any,
    ref: np.ndarray,
    dtype: str,
    scale: float,
    sensitivity: np.ndarray | float = 0.0,
    what: str = "",
) -> None:
    """``got`` is within ``ULPS[dtype]`` of the float64 reference ``ref``, values below the
    function's scale (times the floor of ``ULPS``) compared on that scale, plus the dtype's
    smallest normal number, plus twice the reference's own ``sensitivity`` to a few roundings of
    x and the parameters; where the reference is beyond the dtype's largest number, an infinity
    of its sign too."""
    ulps, floor = ULPS[dtype]
    magnitude = np.maximum(np.abs(ref), floor * scale)
    # + tiny: below the smallest normal number results may lose all digits (or be flushed)
    allowed = ulps * eps(dtype) * magnitude + _tiny(dtype) + 2.0 * sensitivity
    got = np.asarray(got, dtype=np.float64)
    # beyond the dtype's largest number the reference rounds to inf (float16's 65504: a narrow
    # multi-Gaussian reaches it), and so may the result
    overflow = (np.abs(ref) >= _max(dtype)) & (got == np.copysign(np.inf, ref))
    bad = ~(np.abs(got - ref) <= allowed) & ~overflow
    assert not bad.any(), (
        f"{what} {dtype}: not within {ulps} ulps of the float64 reference\n"
        f"got {_show(got[bad])}\nexpected {_show(ref[bad])}\n"
        f"allowed difference {_show(np.broadcast_to(allowed, ref.shape)[bad])}"
    )


def assert_within_ulps(got: Any, ref: np.ndarray, dtype: str, ulps: float | None = None,
                       slack: Any = 0.0) -> None:
    """``got`` (any array convertible to float64) is within ``ULPS[dtype]`` (or ``ulps``) of
    ``ref``, values below the floor of ``ULPS`` compared on that floor, plus ``slack`` (per
    element, or one number) more."""
    default_ulps, floor = ULPS[dtype]
    allowed = (ulps or default_ulps) * eps(dtype) * np.maximum(np.abs(ref), floor) + slack
    diff = np.abs(np.asarray(got, dtype=np.float64) - ref)
    bad = ~(diff <= allowed)
    assert not bad.any(), (
        f"{dtype}: got {np.asarray(got, dtype=np.float64)[bad]}, expected {ref[bad]}"
    )


PLAN_ULPS = 16
"""How far (in ulps of float32 or float64) the planned PyTorch backward may be from the plain
operations' ``v * g'(x)``: it computes sums that cannot cancel (``1 + t**2``) with a fused
multiply-add, one rounding instead of two, which the rest of g' can amplify (a cube of
``(1 + t**2)**-1/2``); it is never less accurate (``tests/test_torch.py``). Products rounded to
16-bit types stay within 2 of their ulps."""


def assert_product_close(got: np.ndarray, expected: np.ndarray, dtype: str, what: str,
                         factor: float = 1.0, ulps: float = 2) -> None:
    """``got`` is ``expected`` (a product in float64 of the compute dtype's factors) rounded once
    to ``dtype``: within ``ulps`` (2) ulps of ``dtype``, and infinite where the product exceeds
    its range. Absolutely, it may differ by the smallest normal number times ``factor``, the
    largest magnitude of the other factor (XLA flushes subnormal numbers to zero: a subnormal
    g', or parameter, times a cotangent of 4 may be a normal number on the NumPy side and 0 on
    XLA's).
    """
    beyond = rounds_to_infinity(expected, dtype)
    np.testing.assert_array_equal(got[beyond], np.sign(expected[beyond]) * np.inf, what)
    got, expected = got[~beyond], expected[~beyond]
    allowed = ulps * eps(dtype) * np.abs(expected) + _tiny(dtype) * max(1.0, factor)
    bad = ~(np.abs(got - expected) <= allowed)
    assert not bad.any(), f"{what} {dtype}: got {got[bad]}, expected {expected[bad]}"


def sensitivity(
    method: Callable[[Any, np.ndarray], np.ndarray],
    s: Any,
    x: np.ndarray,
    eps: float,
) -> np.ndarray:
    """How much the float64 result moves when x, or one parameter at a time, moves by a relative
    eps/4, eps or 4 eps either way: the error a correct computation with roundings of that size
    may have (several sizes: where g' oscillates, one size may land on a similar value)."""
    ref = method(s, x)
    by_x, by_param = np.zeros_like(ref), np.zeros_like(ref)
    for delta in (eps / 4, eps, 4 * eps):
        for xs in (x * (1 + delta), x * (1 - delta)):
            by_x = np.maximum(by_x, np.abs(method(s, xs) - ref))
        for other in perturbations(s, delta):
            by_param = np.maximum(by_param, np.abs(method(other, x) - ref))
    return by_x + by_param * len(type(s)._params)


def check_reduced_precision(
    s: Any,
    x: np.ndarray,
    dtype: str,
    evaluate: Callable[[Callable[..., Any], Any, np.ndarray, str], np.ndarray] = evaluate,
) -> None:
    """g' and g in ``dtype`` (16-bit: computed in float32 and rounded once) are close to the
    float64 reference at the float64 values ``x`` (each representable in ``dtype``).

    Values below the function's scale are compared on that scale, and the tolerance includes
    the reference's change under a few float32 roundings of x and of each parameter (which a
    float32 computation cannot avoid: the parameters themselves are rounded to float32).

    Raises
    ------
    AssertionError
        Naming the surrogate, the function, the dtype, the values and the tolerance.
    """
    x = np.asarray(x, dtype=np.float64)
    for method in methods(s):
        with np.errstate(all="ignore"):  # (a NaN, or g of linear tails beyond the range)
            reference = method(s, x)
        # g of linear tails may exceed the range; where the reference itself is NaN, the
        # "finite" check reports it (a NaN scale would make every point fail here, blaming
        # accuracy)
        keep = must_be_finite(s, method, x, dtype) & ~np.isnan(reference)
        if not keep.any():
            continue
        ref = reference[keep]
        scale = float(np.abs(ref).max())
        dev = sensitivity(method, s, x[keep], EPS32)
        got = evaluate(method, s, x[keep], dtype)
        assert_close_to_float64(got, ref, dtype, scale, dev, f"{method.__name__} of {s!r} in")


# --------------------------------------------------------------------- generated kernels


def kernels_of(s: Any, dtypes: Iterable[str] = codegen.DTYPES) -> list[codegen.Kernel]:
    """Every generated kernel of ``s``: the spike, g', g (where defined) and the vjp, for every
    dtype CuPy has."""
    formula = s.spec.formula
    kinds = [k for k in codegen.KINDS if k != "primitive" or formula.has_primitive]
    return [codegen.generate(formula, kind, dtype) for dtype in dtypes for kind in kinds]


def compile_cuda(kernels: Iterable[codegen.Kernel], directory: pathlib.Path,
                 stem: str = "kernels") -> str:
    """Compile the kernels' CUDA source with ``nvcc -ptx`` (warnings are errors); the PTX.

    Raises
    ------
    ToolMissing
        ``nvcc`` is not on the ``PATH``.
    AssertionError
        The compiler failed (its messages) or a kernel is missing from the PTX.
    """
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise ToolMissing("no nvcc")
    kernels = list(kernels)
    source = pathlib.Path(directory) / f"{stem}.cu"
    ptx = pathlib.Path(directory) / f"{stem}.ptx"
    source.write_text("#include <cuda_fp16.h>\n\n" + "\n\n".join(k.cuda_source() for k in kernels))
    result = subprocess.run(
        [nvcc, "-ptx", "-Werror", "all-warnings", "-o", str(ptx), str(source)],
        check=False, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"nvcc failed: {result.stderr.strip()}"
    text = ptx.read_text()
    missing = [k.name for k in kernels if f".entry {k.name}(" not in text]
    assert not missing, f"kernels missing from the PTX: {missing}"
    return text


def compile_for_cpu(kernels: Iterable[codegen.Kernel], directory: pathlib.Path,
                    stem: str) -> tuple[Any, dict[str, codegen.Kernel]]:
    """The kernels' statements compiled as one C++ shared library: ``(library, kernels by name)``.

    Raises
    ------
    ToolMissing
        No C++ compiler (``g++``, ``c++`` or ``clang++``) is on the ``PATH``.
    """
    compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        raise ToolMissing("no C++ compiler (g++, c++ or clang++)")
    by_name = {k.name: k for k in kernels}
    source = pathlib.Path(directory) / f"{stem}.cpp"
    source.write_text("#include <cmath>\nusing namespace std;\n\n" +
                      "\n\n".join(k.cpp_source() for k in by_name.values()))
    library = pathlib.Path(directory) / f"{stem}.so"
    result = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-fno-fast-math", "-o", str(library), str(source)],
        check=False, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"{compiler} failed: {result.stderr.strip()}"
    return ctypes.CDLL(str(library)), by_name


def run_on_cpu(compiled: dict[str, tuple[Any, dict[str, codegen.Kernel]]], surrogate: Any,
               kind: str, dtype: str, x: np.ndarray, ct: np.ndarray | None = None) -> np.ndarray:
    """One kernel of ``surrogate`` run on the CPU (``compiled``: :func:`compile_for_cpu`'s result
    by dtype), in ``dtype``."""
    library, kernels = compiled[dtype]
    k = codegen.generate(surrogate.spec.formula, kind, dtype)
    assert kernels[k.name].body == k.body
    compute = np.float64 if k.ctype == "double" else np.float32
    ptr = np.ctypeslib.ndpointer(dtype=compute, flags="C_CONTIGUOUS")
    fn = getattr(library, k.name)
    inputs = [np.ascontiguousarray(x, dtype=compute)]
    if kind == "vjp":
        inputs.append(np.ascontiguousarray(ct, dtype=compute))
    fn.argtypes = [ptr] * (len(inputs) + 2) + [ctypes.c_long]
    out = np.empty(x.shape, compute)
    values = dict(zip(surrogate.spec.formula.value_names, surrogate.spec.values))
    params = np.asarray([values[p] for p in k.params] or [0.0], dtype=compute)
    fn(*inputs, out, params, x.size)
    return out.astype(dtype)  # float16 kernels compute in float32 and round once on store


def check_cpu_kernels(compiled: dict[str, tuple[Any, dict[str, codegen.Kernel]]], surrogate: Any,
                      dtype: str, x: np.ndarray, ct: np.ndarray) -> None:
    """The kernels of ``surrogate`` in ``dtype``, run on the CPU at ``x`` (and the cotangent
    ``ct``), give the NumPy float64 reference: finite where the reference rounded to ``dtype``
    is, within ``ULPS`` for ``|x| <= 12`` (4096 ulps for float64: the C library's ``erfc``
    against spikegrad's pure-standard one), and the exact spike."""
    x64 = x.astype(np.float64)
    reference = {"grad": surrogate.surrogate_grad(x64),
                 "vjp": ct.astype(np.float64) * surrogate.surrogate_grad(x64)}
    if surrogate.spec.formula.has_primitive:
        reference["primitive"] = surrogate.surrogate_fun(x64)
    for kind, ref in reference.items():
        got = run_on_cpu(compiled, surrogate, kind, dtype, x, ct)
        with np.errstate(over="ignore"):
            finite = np.isfinite(ref.astype(dtype))
        assert np.isfinite(got[finite]).all(), (
            f"{kind} kernel ({dtype}) not finite at x = {_show(x[finite & ~np.isfinite(got)])}")
        mask = np.abs(x64) <= 12  # beyond, tolerances in ulps of x dominate (periodic, log)
        try:
            assert_within_ulps(got[mask], ref[mask], dtype,
                               ulps=4096 if dtype == "float64" else None)
        except AssertionError as exc:
            raise AssertionError(f"{kind} kernel: {exc}") from None
    spikes = run_on_cpu(compiled, surrogate, "forward", dtype, x)
    expected = (x >= 0) if surrogate.spike_at_zero else (x > 0)
    np.testing.assert_array_equal(spikes, expected.astype(dtype), "forward kernel")
