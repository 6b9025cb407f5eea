"""Generated kernels, verified without a GPU.

* the CUDA source of every kernel (whole registry, every kind and dtype) compiles with nvcc;
* the same generated statements, compiled as C++ for the CPU, give the NumPy float64
  reference values on hypothesis-drawn inputs, extremes included, within dtype tolerance.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spikegrad as sg
from spikegrad import _codegen as codegen
from spikegrad.tools import verify
from spikegrad.tools.verify import check_cpu_kernels, run_on_cpu

from .conftest import SURROGATE_CLASSES, assert_within_ulps

KINDS = ("grad", "primitive", "vjp")


def all_kernels(dtype):
    yield codegen.generate(sg.Sigmoid().spec.formula, "forward", dtype)
    for cls in SURROGATE_CLASSES:
        s = cls()
        for kind in KINDS:
            yield codegen.generate(s.spec.formula, kind, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", codegen.DTYPES)
def test_cuda_sources_compile_with_nvcc(dtype, tmp_path):
    kernels = list(all_kernels(dtype))
    try:
        verify.compile_cuda(kernels, tmp_path, f"kernels_{dtype}")  # every .entry in the PTX
    except verify.ToolMissing:
        pytest.skip("no CUDA compiler (nvcc) on this machine")
    assert len(kernels) == 1 + 3 * len(SURROGATE_CLASSES)


def compile_for_cpu(kernels, directory, stem):
    """The kernels' statements compiled as one C++ shared library: ``(library, kernels by name)``
    (spikegrad.tools.verify's, which `spikegrad check` uses)."""
    try:
        return verify.compile_for_cpu(kernels, directory, stem)
    except verify.ToolMissing:
        pytest.skip("no C++ compiler to evaluate the generated kernels on the CPU")


@pytest.fixture(scope="module")
def cpu_kernels(tmp_path_factory):
    """Every kernel's statements compiled for the CPU, by dtype."""
    tmp = tmp_path_factory.mktemp("cpu_kernels")
    return {d: compile_for_cpu(all_kernels(d), tmp, f"k_{d}") for d in codegen.DTYPES}


def any_finite(dtype, size):
    """Arrays of any finite normal values of ``dtype``, drawn as bit patterns (no filtering)."""
    bits = np.dtype(f"uint{np.dtype(dtype).itemsize * 8}")

    def to_floats(raw: np.ndarray) -> np.ndarray:
        x = raw.view(dtype)
        keep = np.isfinite(x) & (np.abs(x) >= np.finfo(dtype).tiny)
        return np.where(keep, x, np.asarray(1.0, dtype))

    return hnp.arrays(bits, size).map(to_floats)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", codegen.DTYPES)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_generated_kernels_match_numpy_reference(cpu_kernels, cls, dtype, data):
    surrogate = cls()
    moderate = data.draw(hnp.arrays(dtype, 24, elements=st.floats(-12, 12, width=np.dtype(dtype).itemsize * 8)))
    extreme = data.draw(any_finite(dtype, 8))
    x = np.concatenate([moderate, extreme, np.asarray([0.0, np.finfo(dtype).max, -np.finfo(dtype).max], dtype)])
    ct = np.linspace(-2, 2, x.size).astype(dtype)
    check_cpu_kernels(cpu_kernels, surrogate, dtype, x, ct)


def test_maximum_and_minimum_propagate_nan_like_numpy(tmp_path):
    class Clamped(sg.Surrogate):
        def grad(x, *, xp):
            return xp.maximum(xp.minimum(x, 1.0), -1.0)

    kernel = codegen.generate(Clamped().spec.formula, "grad", "float64")
    library, _ = compile_for_cpu([kernel], tmp_path, "clamped")
    x = np.asarray([np.nan, -3.0, 0.5, 3.0])
    out = np.empty_like(x)
    fn = getattr(library, kernel.name)
    ptr = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    fn.argtypes = [ptr, ptr, ptr, ctypes.c_long]
    fn(x, out, np.zeros(1), x.size)
    np.testing.assert_array_equal(out, np.maximum(np.minimum(x, 1.0), -1.0))  # [nan, -1, .5, 1]


def test_spike_kernel_nan_gives_zero(cpu_kernels):
    x = np.asarray([np.nan, -0.0, 0.0, -1.0], np.float32)
    out = run_on_cpu(cpu_kernels, sg.Sigmoid(), "forward", "float32", x)
    np.testing.assert_array_equal(out, [0.0, 1.0, 1.0, 0.0])


def test_new_parameter_values_reuse_the_kernel():
    a = codegen.generate(sg.Sigmoid(alpha=2.0).spec.formula, "grad", "float32")
    assert a == codegen.generate(sg.Sigmoid(alpha=3.0).spec.formula, "grad", "float32")
    assert a.params == ("alpha",) and "p_alpha" in "\n".join(a.body)
    b = codegen.generate(sg.SquarewaveFourierSeries(n=3).spec.formula, "grad", "float32")
    c = codegen.generate(sg.SquarewaveFourierSeries(n=2).spec.formula, "grad", "float32")
    assert b.name != c.name and b.params == ("t_period",)


def test_bfloat16_and_unknown_kinds_are_refused():
    with pytest.raises(TypeError, match="no bfloat16"):
        codegen.generate(sg.Sigmoid().spec.formula, "grad", "bfloat16")
    with pytest.raises(ValueError, match="unknown kernel kind 'backward'"):
        codegen.generate(sg.Sigmoid().spec.formula, "backward", "float32")


def test_value_dependent_control_flow_is_reported():
    class Bad(sg.Surrogate):
        def grad(x, *, xp):
            return x if x > 0 else -x

    with pytest.raises(TypeError, match="Python control flow"):
        codegen.generate(Bad().spec.formula, "grad", "float32")


def test_unsupported_function_is_reported():
    class Odd(sg.Surrogate):
        def grad(x, *, xp):
            return xp.cbrt(x)

    with pytest.raises(AttributeError, match="does not support xp.cbrt"):
        codegen.generate(Odd().spec.formula, "grad", "float32")


def test_public_cuda_source():
    text = sg.cuda_source(sg.LeakyRelu(), "vjp", "float16")
    assert text.startswith('extern "C" __global__ void spikegrad_leaky_relu_vjp_float16(')
    assert "__half2float(ct_in[i])" in text and "p_alpha" in text and "p_beta" in text


def test_kernels_of_the_compatibility_names_match_numpy(tmp_path):
    """Every snntorch, spikingjelly and norse spelling (gains, the x > 0 forward) compiles into
    kernels whose values are the NumPy float64 reference's (the numbers of
    tests/compat/test_reference.py, which checks those against the libraries)."""
    from spikegrad import compat

    surrogates = [compat.get(n, **{p: (0.5 if d is None else d) for p, d in
                                   compat._mapping.entry(*n.split(".")).params})
                  for n in compat.available()]
    kernels = [codegen.generate(s.spec.formula, kind, "float64")
               for s in surrogates for kind in ("forward", "grad", "vjp")]
    compiled = {"float64": compile_for_cpu(kernels, tmp_path, "compat")}
    x = np.concatenate([np.linspace(-3.0, 3.0, 121), [0.0, -0.0, 1e300, -1e300]])
    ct = np.linspace(-2.0, 2.0, x.size)
    for s in surrogates:
        want = s.surrogate_grad(x)
        assert_within_ulps(run_on_cpu(compiled, s, "grad", "float64", x), want, "float64",
                           ulps=4096)
        assert_within_ulps(run_on_cpu(compiled, s, "vjp", "float64", x, ct), ct * want,
                           "float64", ulps=4096)
        expected = (x >= 0) if s.spike_at_zero else (x > 0)
        np.testing.assert_array_equal(run_on_cpu(compiled, s, "forward", "float64", x),
                                      expected.astype(np.float64))


def test_exp_of_arguments_known_nonpositive_skips_the_clip_of_large_ones():
    """In the numba dialect, float32, ``exp`` of a value known to be at most 0 (or NaN) calls
    the ``nonpositive`` variants: of ``abs``, squares, and products and negations of values of
    known sign; not of values whose sign is not known (``x``, a parameter, their products), of
    positive ones, nor in the C dialect or in float64."""
    def last(build, ctype="float", dialect="python"):
        program = codegen._Program(ctype, dialect)
        ns = codegen.SymbolicNamespace(program)
        x = codegen.Symbol(program, "xv")
        alpha = codegen.Symbol(program, "p_alpha", varying=False)
        out = build(x, alpha, ns)
        return program.live(out.name)[-1]

    nonpositive = {
        "folded": lambda x, a, ns: ns.exp(-0.5 * ns.abs(a * x)),
        "square": lambda x, a, ns: ns.exp(-(x * x)),
        "not folded": lambda x, a, ns: ns.exp(ns.abs(x) * -3.0),
        "product": lambda x, a, ns: ns.exp(-ns.abs(x) * ns.sqrt(ns.abs(x))),
        "negated abs": lambda x, a, ns: ns.exp(-abs(x)),
    }
    for name, build in nonpositive.items():
        assert "_nonpositive_(" in last(build), name
    unknown = {
        "x": lambda x, a, ns: ns.exp(-0.5 * x),
        "parameter": lambda x, a, ns: ns.exp(a * ns.abs(x)),
        "positive": lambda x, a, ns: ns.exp(2.0 * ns.abs(x)),
        "unknown product": lambda x, a, ns: ns.exp(-ns.abs(x) * x),
        "difference": lambda x, a, ns: ns.exp(-(x * x) + 1.0),
    }
    for name, build in unknown.items():
        line = last(build)
        assert "exp" in line and "_nonpositive_(" not in line, (name, line)
    for ctype, dialect in (("float", "c"), ("double", "python")):
        assert "nonpositive" not in last(nonpositive["square"], ctype, dialect)


def test_powers_of_two_fold_into_exp2_only_where_exact():
    """In the numba dialect, float32, ``exp`` of a value scaled by powers of two is ``exp2`` of
    one product (the products' statements left out); not where the factors are not all powers
    of two, nor where a partial product's overflow or underflow could change the result, nor
    in the C dialect (whose ``exp`` is the C library's) or in float64."""
    program = codegen._Program("float", "python")
    ns = codegen.SymbolicNamespace(program)
    x = codegen.Symbol(program, "xv")
    square = x * x
    density = ns.exp(-0.5 * (0.5 * square))
    assert program.live(density.name) == (
        "v0 = xv * xv", "v3 = exp2_nonpositive_(v0 * float32(-0.36067376022224085))")
    assert float(np.float32(-0.36067376022224085)) == -0.25 * float(np.float32(codegen.LOG2E))
    mixed = ns.exp(3.0 * (0.5 * x))  # 3 is no power of two
    assert program.live(mixed.name)[-1].endswith("= exp_(v5)")
    for factors in ((2.0**10, 2.0**-126), (2.0**101, 1.0), (2.0**-110, 2.0**-20)):
        assert codegen._exp2_scale(factors) is None, factors
    assert codegen._exp2_scale((2.0**60, 2.0**-100)) == 2.0**-40 * codegen.LOG2E
    assert codegen._exp2_scale((-1.0,)) == -codegen.LOG2E
    for ctype, dialect in (("float", "c"), ("double", "python")):
        program = codegen._Program(ctype, dialect)
        y = codegen.Symbol(program, "xv")
        e = codegen.SymbolicNamespace(program).exp(-0.5 * (0.5 * y))
        assert len(program.live(e.name)) == 3, (ctype, dialect)


class _Operators(sg.Surrogate):
    """The Array API's operators and ``pow``: ``**`` (a square as NumPy computes it, x * x),
    reflected ``**``, ``abs()``; and a constant g' (its kernels read no x)."""

    alpha = sg.Param(1.5, gt=0)

    def grad(x, alpha, *, xp):
        return (1.0 / (1.0 + alpha * abs(x)) ** 2 + 0.5 * (1.0 + xp.abs(x)) ** 1.5
                + 0.25 * 2.0 ** (-abs(x)) + 0.1 * xp.pow(1.0 + xp.abs(x), -alpha))


class _Constant(sg.Surrogate):
    def grad(x, *, xp):
        return 1.0


def test_operators_and_a_constant_gradient_generate_kernels(tmp_path):
    """User surrogates written with ``**``, ``abs()`` and ``xp.pow`` compile (they raised a bare
    TypeError from the tracer) and give NumPy's values; a constant g' compiles with nvcc's
    warnings as errors (it declared an x it never read, which ``spikegrad check`` failed)."""
    kernels = [codegen.generate(_Operators().spec.formula, "forward", "float32")] + [
        codegen.generate(cls().spec.formula, kind, "float32")
        for cls in (_Operators, _Constant) for kind in ("grad", "vjp")]
    assert all("xv" not in k.cuda_source() for k in kernels[3:])  # _Constant's
    compiled = {"float32": compile_for_cpu(kernels, tmp_path, "operators")}
    x = np.concatenate([np.linspace(-12, 12, 97), [0.0, -0.0]]).astype(np.float32)
    ct = np.linspace(-2, 2, x.size).astype(np.float32)
    for cls in (_Operators, _Constant):
        check_cpu_kernels(compiled, cls(), "float32", x, ct)
    try:
        verify.compile_cuda(kernels, tmp_path, "operators_cuda")
    except verify.ToolMissing:
        pass  # (no nvcc: the C++ build above is the check)
