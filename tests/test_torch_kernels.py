"""The PyTorch adapter's compiled CPU backward (backends/_torch_kernels.py, numba).

* its ``exp2`` is within an ulp of ``2**t`` over float32's whole range (subnormal results,
  overflow, NaN), its ``log1p`` of ``log1p`` everywhere; its ``fmod`` is exact and its ``cos``
  within 1.6 ulp where their guards accept, and elements beyond are computed again;
* each catalogue surrogate gets a kernel (one calling another function, the plan), and
  the kernel gives the plain PyTorch operations' numbers (within PLAN_ULPS) at drawn
  parameters, and the float64 reference's ``ct * g'(x)`` where they are float32 numbers, in
  float32 and 16-bit types, shared by PyTorch's OpenMP threads or not (several callers at
  once too; in a forked child too);
* large tensors take the faster of kernel and plan, as timed;
* a backward never waits for a compilation: the plan serves until the kernel is ready, and
  without numba, for float64 and strided tensors; parameters beyond float32 get the kernel;
* a failed compilation leaves the plan, with the error kept; a cache of another Python is not
  taken for this one's.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikegrad as sg
from spikegrad import _codegen, _config
from spikegrad.tools.verify import PLAN_ULPS

from .conftest import SURROGATE_CLASSES, assert_within_ulps
from .test_properties import surrogates

torch = pytest.importorskip("torch")
numba = pytest.importorskip("numba")

from spikegrad.backends import _torch_kernels as kernels  # noqa: E402



@pytest.fixture(scope="module")
def compiled():
    """Every catalogue kernel, compiled (in one process) and loaded."""
    for cls in SURROGATE_CLASSES:
        kernels._schedule(cls().spec.formula)
    assert kernels.wait(kernels.COMPILE_TIMEOUT), "compilation did not finish"
    return {cls: kernels._state[cls().spec.formula] for cls in SURROGATE_CLASSES}


@pytest.fixture
def fresh(monkeypatch):
    """The module's state emptied for one test (and restored after it)."""
    monkeypatch.setattr(kernels, "_state", {})
    monkeypatch.setattr(kernels, "_ready", {})
    monkeypatch.setattr(kernels, "_worker", [])
    monkeypatch.setattr(kernels, "_jobs", kernels.queue.SimpleQueue())
    monkeypatch.setattr(kernels, "_condition", threading.Condition())
    monkeypatch.setattr(kernels, "_team", [])
    monkeypatch.setattr(kernels, "_forked", False)
    return kernels


# ----------------------------------------------------------------------------------- exp2


def test_exp2_is_within_an_ulp_over_the_whole_range():
    from spikegrad.backends._kernel_math import exp2_

    @numba.njit
    def run(t, out):
        for i in range(t.shape[0]):
            out[i] = exp2_(t[i])

    rng = np.random.default_rng(0)
    special = [np.nan, np.inf, -np.inf, 128.0, 127.99999, -126.0, -149.0, -149.5, -150.0, 0.0]
    t = np.concatenate([rng.uniform(-160, 130, 400_000), np.linspace(-150, -125, 50_001),
                        np.linspace(-1, 1, 50_001), special]).astype(np.float32)
    got = np.empty_like(t)
    run(t, got)
    exact = np.exp2(t.astype(np.float64))
    with np.errstate(over="ignore"):
        rounded = exact.astype(np.float32)
    normal = np.isfinite(rounded) & (np.abs(exact) >= np.finfo(np.float32).tiny)
    ulp = np.spacing(rounded[normal]).astype(np.float64)
    assert np.max(np.abs(got[normal] - exact[normal]) / ulp) < 1.0
    subnormal = (rounded != 0) & ~normal & np.isfinite(rounded)
    assert subnormal.sum() > 1000
    assert np.max(np.abs(got[subnormal] - exact[subnormal])) <= 2.0**-149
    np.testing.assert_array_equal(got[np.isinf(rounded)], np.inf)
    np.testing.assert_array_equal(got[(rounded == 0) & ~np.isnan(t)], 0.0)
    assert np.isnan(got[np.isnan(t)]).all()
    from spikegrad.backends._kernel_math import exp2_nonpositive_

    @numba.njit
    def run_nonpositive(t, out):
        for i in range(t.shape[0]):
            out[i] = exp2_nonpositive_(t[i])

    below = t[~(t > 129)]  # (NaN too)
    nonpositive = np.empty_like(below)
    run_nonpositive(below, nonpositive)
    np.testing.assert_array_equal(nonpositive, got[~(t > 129)])


# ------------------------------------------------------------------------ log1p, fmod, cos


def test_log1p_is_within_an_ulp_everywhere():
    """``log1p_`` is within 0.83 ulp of ``log1p`` from -1 to float32's largest number (tiny and
    subnormal ``u`` included), -inf at -1, NaN below -1 and at NaN, inf at inf, and keeps the
    sign of zero."""
    from spikegrad.backends._kernel_math import log1p_

    rng = np.random.default_rng(3)
    worst = [0.41364205, -0.29290095, 0.3974123]  # of a sweep of every float32 (0.827 ulp)
    u = np.concatenate([rng.uniform(-1, 1, 500_000), 10.0 ** rng.uniform(-45, 38.5, 500_000),
                        -(10.0 ** rng.uniform(-45, 0, 500_000)), np.linspace(0, 10, 100_001),
                        [np.finfo(np.float32).max, -1 + 2**-24, 2**-149, *worst]]
                       ).astype(np.float32)
    u = u[np.isfinite(u) & (u > -1)]
    exact = np.log1p(u.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(_over(log1p_, u) - exact) / ulp) < 0.83
    special = np.float32([-1.0, -1.5, -np.inf, np.nan, np.inf, 0.0, -0.0])
    got = _over(log1p_, special)
    np.testing.assert_array_equal(got, [-np.inf, np.nan, np.nan, np.nan, np.inf, 0.0, -0.0])
    assert np.signbit(got[-1]) and not np.signbit(got[-2])


def _over(function, *arrays):
    """``function`` (a compiled scalar function of _kernel_math) over arrays, in a loop that
    LLVM vectorizes where it can."""

    @numba.njit(error_model="numpy")
    def unary(out, a):
        for i in range(out.shape[0]):
            out[i] = function(a[i])

    @numba.njit(error_model="numpy")
    def binary(out, a, b):
        for i in range(out.shape[0]):
            out[i] = function(a[i], b[i])

    out = np.empty(arrays[0].shape, np.bool_ if "ok" in function.__name__ else np.float32)
    (binary if len(arrays) == 2 else unary)(out, *arrays)
    return out


def test_fmod_is_exact_where_its_guard_accepts_and_the_fallback_elsewhere():
    """``fmod_`` is C's ``fmod`` bit for bit (sign and NaN included) wherever ``fmod_ok`` says,
    which is every quotient (as float32 computes it) below 2**22: here checked on the exact
    quotients below 2**21 (unless ``1 / b`` overflows), inf and NaN operands, and none from
    2**23 on; ``fmod_exact`` everywhere."""
    from spikegrad.backends._kernel_math import fmod_, fmod_exact, fmod_ok

    rng = np.random.default_rng(0)
    magnitudes = np.abs(rng.standard_normal(300_000)) * 10.0 ** rng.uniform(-45, 38, 300_000)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38, 7.0, 8.0, 8.000001]
    a = np.concatenate([magnitudes, -magnitudes, special]).astype(np.float32)
    for b in [8.0, -3.0, 0.3, 1e-30, 1e-40, 3e38, np.inf, 0.0, np.nan]:
        divisor = np.full_like(a, b)
        with np.errstate(all="ignore"):
            expected = np.fmod(a, divisor)
            quotient = np.abs(a.astype(np.float64) / np.float64(divisor[0]))
        ok = _over(fmod_ok, a, divisor)
        for got in (_over(fmod_, a, divisor)[ok], _over(fmod_exact, a, divisor)):
            want = expected[ok] if got.size < a.size else expected
            np.testing.assert_array_equal(got, want)
            number = ~np.isnan(want)
            np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]))
        served = (quotient < 2**21) | ~np.isfinite(a) | np.isnan(quotient)
        if b == 1e-40:  # 1 / b overflows float32: every finite a >= b goes to fmod_exact
            served &= (np.abs(a) < abs(np.float32(b))) | ~np.isfinite(a)
        assert ok[served].all(), b
        assert not ok[np.isfinite(a) & (quotient >= 2**23)].any(), b


def test_cos_is_within_two_ulps_where_its_guard_accepts():
    """``cos_`` is within 1.6 ulp of ``cos`` for ``|x| < 2**16``, where ``cos_ok`` accepts, and
    NaN at NaN and +-inf; ``cos_exact`` within an ulp everywhere."""
    from spikegrad.backends._kernel_math import COS_RANGE, cos_, cos_exact, cos_ok

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0, 2 * np.pi, 1_000_000), rng.uniform(-8, 8, 500_000),
                        rng.uniform(-COS_RANGE, COS_RANGE, 500_000), [0.0, -0.0, 1e-45, np.pi,
                        np.pi / 2, np.pi / 4, 2**16 - 1]]).astype(np.float32)
    exact = np.cos(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert _over(cos_ok, x).all()
    assert np.max(np.abs(_over(cos_, x) - exact) / ulp) < 1.6
    assert np.max(np.abs(_over(cos_exact, x) - exact) / ulp) <= 1.0
    beyond = np.float32([2**16, -2**16, 1e30, -3.4e38])
    assert not _over(cos_ok, beyond).any()
    np.testing.assert_allclose(_over(cos_exact, beyond), np.cos(beyond.astype(np.float64)),
                               rtol=1e-6, atol=1e-7)
    special = np.float32([np.nan, np.inf, -np.inf])
    assert _over(cos_ok, special).all() and np.isnan(_over(cos_, special)).all()


def test_elements_outside_the_guards_are_computed_again(compiled):
    """The periodic surrogate's kernel, on tensors where some elements are beyond its fast
    remainder's range (quotients from 2**22 on): those elements get the C library's exact
    remainders (the reference's numbers; a fast remainder would be off there), the others
    too, within the rounding of their phases, in one call and split between threads."""
    from spikegrad.backends._kernel_math import fmod_, fmod_ok

    f = sg.SquarewaveFourierSeries(n=3, t_period=0.375)  # float32 numbers: exact phases
    rng = np.random.default_rng(2)
    x64 = rng.uniform(-12, 12, 20_000)
    x64[::97] = rng.uniform(-1e9, 1e9, x64[::97].size)  # quotients to 4e9
    x64[::1001] = np.float32(2.0**40 + 2.0**17)
    x = torch.tensor(x64, dtype=torch.float32)
    ct = torch.linspace(-2, 2, x.numel())
    outside = ~_over(fmod_ok, np.abs(x.numpy()), np.full(x.numel(), 0.375, np.float32))
    assert outside.sum() > 150
    a = np.abs(x.numpy()[outside])
    assert (_over(fmod_, a, np.full(a.size, 0.375, np.float32)) != np.fmod(a, 0.375)).any()
    kernels.times_derivative(f.spec, ct, x, None)
    assert kernels.wait(kernels.COMPILE_TIMEOUT)
    expected = ct.double().numpy() * f.surrogate_grad(x.double().numpy())
    whole = kernels.times_derivative(f.spec, ct, x, None)
    slack = _phase_slack(f, x64, ct.double().numpy(), torch.float32, exact_remainders=True)
    assert_within_ulps(whole.double().numpy(), expected, "float32", slack=slack)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        kernels.PARALLEL_GRAIN, saved = 1024, kernels.PARALLEL_GRAIN
        parts = kernels.times_derivative(f.spec, ct, x, None)
    finally:
        kernels.PARALLEL_GRAIN = saved
        torch.set_num_threads(threads)
    torch.testing.assert_close(parts, whole, rtol=0, atol=0)
    # the C library's functions are called for those elements alone: not vectorized, which
    # would compute them for every element and keep some (LLVM's cos and frem would be)
    from spikegrad.backends import _kernel_math

    namespace = {**vars(_kernel_math), "float32": np.float32, "float64": np.float64}
    exec(kernels.kernel_source(f.spec.formula), namespace)  # noqa: S102 - our generated loop
    loop = numba.njit(error_model="numpy")(namespace[kernels._kernel(f.spec.formula).name])
    loop(x.numpy(), ct.numpy(), np.empty(x.numel(), np.float32), 0.375)
    ir = loop.inspect_llvm(loop.signatures[0])
    assert "@cos(" in ir and "@fmod(" in ir
    assert "llvm.cos.v" not in ir and "frem <" not in ir
    assert re.search(r"<(8|16) x float>", ir)  # the rest vectorized (AVX2, or AVX-512)


# -------------------------------------------------------------------------------- kernels


class TanhSquared(sg.Surrogate):
    """A surrogate of one's own whose g' calls a function no kernel vectorizes."""

    alpha = sg.Param(2.0, gt=0)

    def grad(x, alpha, *, xp):
        return alpha * (1 - xp.tanh(alpha * x) ** 2) / 2


def test_the_vectorizable_surrogates_get_kernels(compiled):
    """Every catalogue surrogate (all 24 are arithmetic, ``abs``, ``sqrt``, ``exp``, ``log1p``,
    ``fmod`` and ``cos``) gets a compiled kernel; one calling ``tanh`` gets none."""
    assert len(compiled) == 24
    for cls, kernel in compiled.items():
        assert kernel is not None, cls
        assert kernels.kernel_source(cls().spec.formula) is not None
    assert kernels.kernel_source(TanhSquared().spec.formula) is None
    assert kernels._kernel(TanhSquared().spec.formula) is None


def _phase_slack(s, x, ct, dtype, exact_remainders=False):
    """How far two computations of the periodic surrogate's ``ct * g'(x)`` in ``dtype`` may be
    apart through their phases alone (0 for the other surrogates): g' moves by up to
    ``(4/T) n**2`` per radian of phase, and two phases of ``|x|`` differ by two roundings of a
    phase below ``2 pi`` and, unless both take exact remainders, up to 2 ulps of ``|x|`` in
    units of ``2 pi / T`` (PyTorch's remainder, ``a - b floor(a / b)``, against an exact one)."""
    if not isinstance(s, sg.SquarewaveFourierSeries):
        return np.zeros_like(x)
    eps, turn = float(torch.finfo(dtype).eps), 2 * np.pi
    with np.errstate(invalid="ignore"):
        phase = (0 if exact_remainders else turn / s.t_period * 2 * eps * np.abs(x)
                 ) + 2 * turn * eps
        return np.abs(ct) * 4 / s.t_period * s.n**2 * phase


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_kernel_gives_the_reference(compiled, cls, data):
    """At drawn parameters, float32 and the 16-bit types: within PLAN_ULPS of the plain PyTorch
    operations, NaN where they are (parameters enter both as PyTorch rounds Python numbers);
    where the parameters are float32 numbers, the reference's ``ct * g'(x)`` at the inputs as
    the kernel gets them (rounded to the dtype) within the tolerance of the generated C
    kernels, inf where it overflows; the same numbers split between threads."""
    s = data.draw(surrogates(cls, integers="edges"))  # a structure is a new kernel
    if kernels.times_derivative(s.spec, torch.ones(1), torch.ones(1), None) is None:
        assert kernels.wait(kernels.COMPILE_TIMEOUT), "compilation did not finish"
    tiny = np.finfo(np.float32).tiny
    exact = all(float(np.float32(v)) == v and (v == 0 or abs(v) >= tiny) for v in s.spec.values)
    x64 = np.concatenate([np.linspace(-12, 12, 3001), [0.0, -0.0, np.inf, -np.inf, np.nan,
                                                       3e38, -3e38, 1e-40, 1e-30]])
    ct64 = np.linspace(-2, 2, x64.size)
    for dtype in ("float32", "float16", "bfloat16"):
        dt = getattr(torch, dtype)
        x, ct = torch.tensor(x64).to(dt), torch.tensor(ct64).to(dt)
        got = kernels.times_derivative(s.spec, ct, x, None)
        assert got is not None and got.dtype == dt and got.shape == x.shape
        got = got.double().numpy()
        with np.errstate(all="ignore"):
            ref = ct.double().numpy() * s.surrogate_grad(x.double().numpy())
            rounded = torch.tensor(ref).to(dt).double().numpy()
        with _config.torch_fuse_mode("off"):
            eager = (ct * s.surrogate_grad(x)).double().numpy()
        # NaN where PyTorch's own operations give NaN: also at x = +-inf where a parameter
        # rounds to 0 in float32 (alpha = 5e-324: 0 * inf), whose limit is 0 (known, all
        # float32 paths alike)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(eager))
        known = np.isnan(eager) & ~np.isnan(ref)
        assert not (known & np.isfinite(x.double().numpy())).any()
        finite = np.isfinite(eager) & np.isfinite(got)
        slack = _phase_slack(s, x.double().numpy(), ct.double().numpy(), dt)
        assert_within_ulps(got[finite], eager[finite], dtype, PLAN_ULPS, slack[finite])
        if not exact:  # a parameter met x rounded (cutoff=1e-106 is -0.0 in float32)
            continue
        beyond = ~np.isfinite(rounded) & ~np.isnan(ref)
        np.testing.assert_array_equal(got[beyond], rounded[beyond])
        moderate = np.isfinite(rounded) & (np.abs(x.double().numpy()) <= 12)
        assert_within_ulps(got[moderate], ref[moderate], dtype, slack=slack[moderate])
    x = torch.tensor(np.resize(x64, 5000), dtype=torch.float32)
    ct = torch.tensor(np.resize(ct64, 5000), dtype=torch.float32)
    whole = kernels.times_derivative(s.spec, ct, x, None)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        kernels.PARALLEL_GRAIN, saved = 1024, kernels.PARALLEL_GRAIN
        assert kernels._parts(x.numel()) == (3 if kernels._openmp() else 1)
        parts = kernels.times_derivative(s.spec, ct, x, None)
    finally:
        kernels.PARALLEL_GRAIN = saved
        torch.set_num_threads(threads)
    torch.testing.assert_close(parts, whole, rtol=0, atol=0, equal_nan=True)


def test_backward_takes_the_kernel_in_mode_auto(compiled, monkeypatch):
    """A plain backward pass of contiguous float32 tensors runs the kernel (here counted) in
    mode "auto", and the plan in mode "plan"; both give the reference."""
    f = sg.Sigmoid(alpha=3.0)
    calls = []
    call = kernels._call

    def counted(entry, x, *args, **kwargs):
        calls.append(x.numel())
        return call(entry, x, *args, **kwargs)

    monkeypatch.setattr(kernels, "_call", counted)
    x = torch.linspace(-4, 4, 1001, requires_grad=True)
    expected = f.surrogate_grad(x.detach().double().numpy())
    for mode, count in (("auto", [1001]), ("plan", [1001])):
        with _config.torch_fuse_mode(mode):
            (g,) = torch.autograd.grad(f(x).sum(), x)  # (an expanded cotangent, copied)
        assert calls == count
        assert_within_ulps(g.double().numpy(), expected, "float32")
    # A contiguous cotangent below two grains: the kernel's loop in this thread, with the loops
    # the forward pass found (here counted).
    entry = kernels._entry(f.spec, torch.float32)
    runs = []

    def counted_run(*args):
        runs.append(args[3])
        entry.compiled.run(*args)

    monkeypatch.setitem(kernels._ready, (f.spec, torch.float32),
                        entry._replace(compiled=entry.compiled._replace(run=counted_run)))
    ct = torch.linspace(-2, 2, 1001)
    out = f(x)
    monkeypatch.setitem(kernels._ready, (f.spec, torch.float32), None)  # (no lookup finds it)
    (g,) = torch.autograd.grad(out, x, ct)
    assert runs == [1001] and calls == [1001, 1001]
    assert_within_ulps(g.double().numpy(), ct.double().numpy() * expected, "float32")


@pytest.mark.parametrize("at_zero", [True, False])
def test_forward_takes_the_compiled_spike(compiled, monkeypatch, at_zero):
    """Once its kernel is loaded, the eager spike of a contiguous float32 CPU tensor is the
    compiled loop's (here counted): in this thread below two grains, shared by the OpenMP
    team from there on (here with a grain of 1024 elements and three threads), in the
    formula's convention: exactly PyTorch's comparison at +-0, NaN, +-inf, subnormal and huge
    inputs. Without a team, a call PyTorch would share takes PyTorch's comparison, unless
    PyTorch has one thread or this is a forked child (the loop, in this thread). Strided, float64 and bfloat16 tensors, and the modes other than
    "auto", take PyTorch's comparison; so does a surrogate whose kernel is not loaded."""
    f = sg.Sigmoid(alpha=2.0, spike_at_zero=at_zero)
    kernels._schedule(f.spec.formula)
    assert kernels.wait(kernels.COMPILE_TIMEOUT)
    entry = kernels._entry(f.spec, torch.float32)
    calls = []

    def counted(x, y, n):
        calls.append(("this thread", n))
        entry.compiled.spike(x, y, n)

    shared = kernels._shared

    def counted_shared(address, x, v, out, parts, n, packed):
        if address == entry.compiled.spike_address:  # (not the backward's kernel)
            calls.append((parts, n))
        shared(address, x, v, out, parts, n, packed)

    monkeypatch.setitem(kernels._ready, (f.spec, torch.float32),
                        entry._replace(compiled=entry.compiled._replace(spike=counted)))
    monkeypatch.setattr(kernels, "_shared", counted_shared)
    monkeypatch.setattr(kernels, "PARALLEL_GRAIN", 1024)
    edges = torch.tensor([-float("inf"), -3e38, -1.0, -1e-45, -0.0, 0.0, 1e-45, 1.0, 3e38,
                          float("inf"), float("nan")])

    def expected(x):
        return (x >= 0 if at_zero else x > 0).to(x.dtype)

    threads = torch.get_num_threads()
    real_team = kernels._openmp()
    try:
        torch.set_num_threads(3)
        for team in ([real_team, None] if real_team else [None]):
            monkeypatch.setattr(kernels, "_team", [team])
            for n, parts in ((11, 1), (2047, 1), (2048, 2), (5000, 3)):
                x = edges.repeat(-(-n // 11))[:n].requires_grad_()
                calls.clear()
                out = f(x)
                if parts == 1:
                    assert calls == [("this thread", n)]
                else:  # shared by the team; without one, PyTorch's comparison on its threads
                    assert calls == ([(parts, n)] if team else [])
                assert torch.equal(out, expected(x.detach())) and out.dtype == torch.float32
                (g,) = torch.autograd.grad(out, x, torch.ones(n))
                ok = x.isfinite()
                torch.testing.assert_close(g[ok], f.surrogate_grad(x.detach())[ok])
        x = edges.repeat(500).requires_grad_()
        monkeypatch.setattr(kernels, "_forked", True)  # a forked child: no team, and PyTorch's
        calls.clear()  # parallel comparison would hang
        assert torch.equal(f(x), expected(x.detach()))
        assert calls == [("this thread", 5500)]
        monkeypatch.setattr(kernels, "_forked", False)
        torch.set_num_threads(1)  # no team, and PyTorch's comparison not shared either
        calls.clear()
        assert torch.equal(f(x), expected(x.detach()))
        assert calls == [("this thread", 5500)]
    finally:
        torch.set_num_threads(threads)
    x = edges.repeat(8).requires_grad_()
    calls.clear()
    for other in (x.detach()[::2], x.detach().double(), x.detach().bfloat16()):
        torch.testing.assert_close(f(other), expected(other), rtol=0, atol=0)
    for mode in ("plan", "off"):
        with _config.torch_fuse_mode(mode):
            assert torch.equal(f(x), expected(x.detach()))
    assert calls == []
    assert torch.equal(sg.Sigmoid(alpha=1.2345)(x), (x >= 0).float())  # no kernel looked up yet


def test_negative_views_and_traces_take_pytorchs_operations(compiled):
    """The loops read memory: a negative view (``torch._neg_view``, the imaginary part of a
    conjugate), whose sign is a flag, as ``x`` or as the cotangent, takes PyTorch's comparison
    and the plan, with the numbers of the same values resolved. Under ``torch.jit.trace`` sizes
    are traced values: the forward pass records PyTorch's comparison, and the trace runs."""
    f = sg.LeakyRelu(alpha=0.1)
    base = torch.linspace(-3, 3, 64)
    x = torch.linspace(-3, 3, 64, requires_grad=True)
    torch.autograd.grad(f(x), x, torch.ones(64))  # the kernels, looked up for this spec
    assert kernels._entry(f.spec, torch.float32) is not None
    negative = torch._neg_view(base)
    assert negative.is_neg() and negative.is_contiguous()
    resolved = negative.clone()
    assert torch.equal(f(negative), (resolved >= 0).float())
    ct = torch._neg_view(torch.linspace(1, 2, 64))
    with torch.no_grad():
        got = f.vjp(negative, ct)
    torch.testing.assert_close(got, ct.clone() * f.surrogate_grad(resolved))
    (g,) = torch.autograd.grad(f(x), x, ct)
    torch.testing.assert_close(g, ct.clone() * f.surrogate_grad(x.detach()))
    traced = torch.jit.trace(lambda a: f(a), (torch.randn(64),))
    assert torch.equal(traced(base), (base >= 0).float())


def test_a_saved_x_unpacked_in_another_layout_takes_the_plan(compiled):
    """``saved_tensors_hooks`` may give the backward pass the same values as ``x`` in another
    layout (a transposed copy, a negative view): the backward checks the ``x`` it gets, not the
    one the forward pass found the loops for, and its gradient is the reference's."""
    f = sg.Sigmoid(alpha=3.0)
    kernels._schedule(f.spec.formula)
    assert kernels.wait(kernels.COMPILE_TIMEOUT)
    assert kernels._entry(f.spec, torch.float32) is not None
    x = torch.linspace(-3, 2, 64).reshape(8, 8).requires_grad_()
    ct = torch.linspace(-1, 1, 64).reshape(8, 8)
    expected = ct.double().numpy() * f.surrogate_grad(x.detach().double().numpy())
    for unpack in (lambda t: t.t().contiguous().t(), lambda t: torch._neg_view(t.neg())):
        with torch.autograd.graph.saved_tensors_hooks(lambda t: t, unpack):
            out = f(x)
        (g,) = torch.autograd.grad(out, x, ct)
        assert_within_ulps(g.double().numpy(), expected, "float32")


def test_the_plan_serves_float64_and_strided_tensors(compiled):
    """Parameters that float32 cannot hold get the kernel all the same: they are float64
    arguments, rounded where they meet x, as PyTorch rounds a Python number."""
    x = torch.linspace(-3, 3, 64)
    assert kernels.times_derivative(sg.Sigmoid().spec, x, x, None) is not None
    assert kernels.times_derivative(sg.Sigmoid().spec, x.double(), x.double(), None) is None
    strided = torch.linspace(-3, 3, 64).reshape(8, 8).t()
    assert kernels.times_derivative(sg.Sigmoid().spec, strided, strided, None) is None
    expanded = torch.ones(()).expand(64)
    got = kernels.times_derivative(sg.Sigmoid().spec, expanded, x, None)
    torch.testing.assert_close(got, kernels.times_derivative(sg.Sigmoid().spec, x * 0 + 1, x,
                                                             None))
    for f in (Narrow(a=1e-40), Wide(a=1e39)):  # subnormal in float32; beyond its range
        kernels._schedule(f.spec.formula)
        assert kernels.wait(kernels.COMPILE_TIMEOUT)
        got = kernels.times_derivative(f.spec, x, x, None)
        with _config.torch_fuse_mode("off"):
            eager = x * f.surrogate_grad(x)
        torch.testing.assert_close(got, eager, rtol=1e-6, atol=0)
        np.testing.assert_allclose(got.double().numpy(),
                                   x.double().numpy() * f.surrogate_grad(x.double().numpy()),
                                   rtol=1e-5, atol=1e-37)


class Wide(sg.Surrogate):
    """A user's surrogate whose parameter may exceed float32's range."""

    a = sg.Param(1.0, gt=0)

    @staticmethod
    def grad(x, a, *, xp):
        return xp.exp(-xp.abs(x)) * (a * 1e-30)


class Narrow(sg.Surrogate):
    """A user's surrogate whose parameter may be below float32's normal numbers (the catalogue's
    that multiply x stop at 1e-30)."""

    a = sg.Param(1.0, gt=0)

    @staticmethod
    def grad(x, a, *, xp):
        return a / (1.0 + xp.abs(a * x))


@pytest.mark.parametrize("kernel_delay, verdict", [(0.02, False), (0.0, True)])
def test_large_tensors_take_the_faster_of_kernel_and_plan(compiled, monkeypatch, kernel_delay,
                                                          verdict):
    """From TUNE_MIN_ELEMENTS on, with PyTorch threads to spare, the first passes time both
    (here a kernel slowed by 20 ms, or a plan slowed so), each giving the reference, and the
    faster serves after them."""
    monkeypatch.setattr(kernels, "TUNE_MIN_ELEMENTS", 1000)
    monkeypatch.setattr(kernels, "_verdicts", {})
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    f = sg.Sigmoid(alpha=2.5)
    assert kernels._entry(f.spec, torch.float32) is not None
    calls = {"kernel": 0, "plan": 0}
    call = kernels._call

    def slow_kernel(*args, **kwargs):
        calls["kernel"] += 1
        time.sleep(kernel_delay)
        return call(*args, **kwargs)

    def slow_plan(spec, v, x, fuse):
        calls["plan"] += 1
        time.sleep(0.02 - kernel_delay)
        return v * torch.tensor(spec.formula.derivative(x.double().numpy(), spec.values, xp=np),
                                dtype=x.dtype)

    monkeypatch.setattr(kernels, "_call", slow_kernel)
    x = torch.linspace(-3, 3, 1500)
    ct = torch.linspace(-1, 1, 1500)
    expected = ct.double().numpy() * f.surrogate_grad(x.double().numpy())
    for _ in range(2 * kernels.TUNE_SAMPLES):
        got = kernels.times_derivative(f.spec, ct, x, slow_plan)
        assert_within_ulps(got.double().numpy(), expected, "float32")
    assert calls == {"kernel": kernels.TUNE_SAMPLES, "plan": kernels.TUNE_SAMPLES}
    assert kernels._verdicts[(f.spec, torch.float32, 11)] is verdict
    got = kernels.times_derivative(f.spec, ct, x, slow_plan)
    assert (got is not None) == verdict  # None: the caller's plan serves
    small = kernels.times_derivative(f.spec, ct[:999], x[:999], slow_plan)
    assert small is not None  # below TUNE_MIN_ELEMENTS: the kernel, untimed
    assert_within_ulps(small.double().numpy(), expected[:999], "float32")
    assert calls == {"kernel": kernels.TUNE_SAMPLES + verdict + 1, "plan": kernels.TUNE_SAMPLES}


def test_threads_splitting_tensors_of_different_sizes_at_once(compiled, monkeypatch):
    """Two threads whose backward passes are shared in different numbers of parts at the same
    time (each calling thread has its own OpenMP team): each gets its own numbers."""
    monkeypatch.setattr(kernels, "PARALLEL_GRAIN", 1024)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    f = sg.LeakyRelu(alpha=0.3)
    inputs = {n: (torch.linspace(-2, 2, n), torch.linspace(-1, 1, n)) for n in (2100, 4100)}
    alone = {n: x * 0 + kernels.times_derivative(f.spec, v, x, None) for n, (x, v) in
             inputs.items()}
    errors = []

    def work(n):
        x, v = inputs[n]
        try:
            for _ in range(200):
                torch.testing.assert_close(kernels.times_derivative(f.spec, v, x, None),
                                           alone[n], rtol=0, atol=0)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in inputs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert [kernels._parts(n) for n in inputs] == ([2, 4] if kernels._openmp() else [1, 1])


def _tasks() -> set[str]:
    import os

    return set(os.listdir("/proc/self/task"))


def _settled_tasks() -> set[str]:
    """:func:`_tasks` once no thread has started or ended for 0.2 s (at most 5 s): a thread of
    an earlier test, or of the test runner (pytest-xdist's workers), may still be ending."""
    tasks = _tasks()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = _tasks()
        if now == tasks:
            break
        tasks = now
    return tasks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_parts_run_on_pytorchs_own_threads(compiled):
    """A shared call runs on PyTorch's OpenMP team: no thread is added to the process (a
    second OpenMP runtime or a pool of ours would add its own), every element is computed once,
    and an inf or NaN in one part stays in its place."""
    if kernels._openmp() is None:  # (a PyTorch whose OpenMP runtime is not in torch/lib)
        pytest.skip("no OpenMP runtime among PyTorch's libraries")
    n = 3 * kernels.PARALLEL_GRAIN * max(torch.get_num_threads(), 2) + 37
    x, v = torch.linspace(-3, 3, n), torch.linspace(2, -2, n)
    x[n // 2], x[-1], v[7] = float("nan"), float("inf"), float("inf")
    torch.sigmoid(x)  # PyTorch's team, made
    tasks = _settled_tasks()
    f = sg.Sigmoid(alpha=2.5)
    got = kernels.times_derivative(f.spec, v, x, None)
    assert _tasks() <= tasks  # none added
    if torch.get_num_threads() > 1:
        assert kernels._parts(n) > 1
    with _config.torch_fuse_mode("plan"):
        (ref,) = torch.autograd.grad(f(x.requires_grad_()), x, v)
    np.testing.assert_array_equal(got.isnan().numpy(), ref.isnan().numpy())
    assert got[7] == ref[7] == float("inf")
    ok = ref.isfinite()
    assert_within_ulps(got[ok].double().numpy(), ref[ok].double().numpy(), "float32",
                       ulps=PLAN_ULPS)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_a_call_shared_by_fewer_parts_than_threads_keeps_the_team(compiled, monkeypatch):
    """A call of fewer parts than PyTorch has threads still runs on the whole team: no thread
    of PyTorch's ends after it, none starts for PyTorch's next operation (a smaller team
    would make GNU OpenMP end the others at every call, and PyTorch start them again)."""
    if kernels._openmp() is None:
        pytest.skip("no OpenMP runtime among PyTorch's libraries")
    monkeypatch.setattr(kernels, "TUNE_MIN_ELEMENTS", 1 << 40)  # the kernel, untimed
    threads = torch.get_num_threads()
    f = sg.Sigmoid(alpha=2.5)
    n = 3 * kernels.PARALLEL_GRAIN + 5
    x, v = torch.linspace(-3, 3, n), torch.linspace(2, -2, n)
    big = torch.randn(1 << 20)
    try:
        torch.set_num_threads(6)
        assert kernels._parts(n) == 3
        torch.sigmoid(big)  # a team of 6
        before = _settled_tasks()
        for _ in range(3):
            got = kernels.times_derivative(f.spec, v, x, None)
            torch.sigmoid(big)
        assert _tasks() == before
    finally:
        torch.set_num_threads(threads)
    entry = kernels._entry(f.spec, torch.float32)
    torch.testing.assert_close(got, kernels._compute(entry, v, x, n), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_an_expanded_cotangent_is_read_in_place(compiled, monkeypatch, dtype):
    """``loss.sum()``'s cotangent, one number expanded to x's shape, is not copied to x's size:
    every piece reads one piece's length of it, with the numbers of a contiguous cotangent."""
    if kernels._openmp() is None:
        pytest.skip("no OpenMP runtime among PyTorch's libraries: calls are never shared")
    monkeypatch.setattr(kernels, "TUNE_MIN_ELEMENTS", 1 << 40)  # the kernel, untimed
    monkeypatch.setattr(kernels, "_parts", lambda n: 2)  # shared, whatever the machine
    lengths = []
    call = kernels._call

    def recorded(entry, x, v, *args, **kwargs):
        lengths.append(v.numel())
        return call(entry, x, v, *args, **kwargs)

    monkeypatch.setattr(kernels, "_call", recorded)
    dt = getattr(torch, dtype)
    f = sg.GaussianGrad(sigma=0.7)
    n = 5 * (kernels.PART_MAX // 5) * 3 + 10  # (more than three pieces)
    x = torch.linspace(-3, 3, n).to(dt).reshape(-1, 5)
    v = torch.tensor(0.375, dtype=dt).expand(x.shape)
    got = kernels.times_derivative(f.spec, v, x, None)
    assert got is not None and got.dtype == dt
    assert lengths == [kernels.PART_MAX]
    torch.testing.assert_close(got, kernels.times_derivative(f.spec, v.contiguous(), x, None),
                               rtol=0, atol=0)
    expected = 0.375 * f.surrogate_grad(x.double().numpy())
    assert_within_ulps(got.double().numpy(), torch.tensor(expected).to(dt).double().numpy(),
                       dtype)


@pytest.mark.slow
def test_dynamos_numpy_table_is_built_before_numba_is_imported(tmp_path):
    """Found in CI: importing numba (and SciPy through it) in the loading thread added names
    to NumPy's namespace while ``torch.compile`` iterated it, building Dynamo's table of NumPy
    functions on the process's first trace, which then failed ("dictionary changed size during
    iteration"). Where Dynamo is loaded, the loading thread has that table built first: it
    exists before numba is imported, and a trace after the kernel loads works."""
    code = textwrap.dedent("""
        import sys, numpy, torch, torch._dynamo, spikegrad as sg
        from torch._dynamo import trace_rules
        from spikegrad.backends import _torch_kernels as kernels
        built = []
        def prime():
            built.append("numba" in sys.modules)
            return original()
        original = trace_rules._numpy_function_ids.lazy_initializer
        trace_rules._numpy_function_ids.lazy_initializer = prime
        x = torch.randn(8, requires_grad=True)
        sg.Sigmoid()(x).sum().backward()  # asks for a kernel: the loading thread starts
        assert kernels.wait(600) and kernels._state[sg.Sigmoid().spec.formula] is not None
        y = torch.compile(lambda v: sg.sigmoid(v) * 2, fullgraph=True, backend="eager")(x)
        print(built, "numba" in sys.modules)
        """)
    env = {**os.environ, kernels.CACHE_ENV_VAR: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=900, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["[False]", "True"]


def test_a_cache_of_another_python_is_not_this_ones(tmp_path):
    """numba's cache counts only with the index files of all four entry points (the backward's
    two and the spike's two) for this Python."""
    path, name = tmp_path / "k.py", "k"
    (tmp_path / "__pycache__").mkdir()
    for entry in ("run", "part"):
        (tmp_path / "__pycache__" / f"k.{entry}-9.py399.nbi").write_text("")
    assert not kernels._cached(path, name)
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    (tmp_path / "__pycache__" / f"k.run-9.{version}.nbi").write_text("")
    assert not kernels._cached(path, name)
    (tmp_path / "__pycache__" / f"k.part-12.{version}.nbi").write_text("")
    assert not kernels._cached(path, name)
    (tmp_path / "__pycache__" / f"k.spike-10.{version}.nbi").write_text("")
    assert not kernels._cached(path, name)
    (tmp_path / "__pycache__" / f"k.spike_part-14.{version}.nbi").write_text("")
    assert kernels._cached(path, name)


# --------------------------------------------------------------------- no stall, no numba


def test_a_backward_never_waits_for_a_compilation(fresh, monkeypatch):
    """While the kernel compiles (held here until released), backward passes run the plan;
    once it is ready they run the kernel."""
    release, started = threading.Event(), threading.Event()
    compile_for_real = kernels._compile

    def held(formulas):
        started.set()
        assert release.wait(60)
        return compile_for_real(formulas)

    monkeypatch.setattr(kernels, "_compile", held)
    f = sg.SlayerGrad(alpha=2.0)
    x = torch.linspace(-3, 3, 2000, requires_grad=True)
    expected = f.surrogate_grad(x.detach().double().numpy())
    for _ in range(3):  # the first asks for the kernel; none of them waits for it
        (g,) = torch.autograd.grad(f(x).sum(), x)
        assert_within_ulps(g.double().numpy(), expected, "float32")
    assert started.wait(60)
    assert kernels._state[f.spec.formula] is kernels._PENDING
    assert not kernels.wait(0.05)
    release.set()
    assert kernels.wait(kernels.COMPILE_TIMEOUT)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    assert kernels._ready[(f.spec, torch.float32)] is not None
    assert_within_ulps(g.double().numpy(), expected, "float32")


def test_without_numba_the_plan_serves(fresh, monkeypatch):
    monkeypatch.setattr(kernels, "_numba_installed", lambda: False)
    f = sg.Arctan(alpha=2.0)
    x = torch.linspace(-3, 3, 100, requires_grad=True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    assert kernels.wait(60)
    assert kernels._state[f.spec.formula] is None
    (g,) = torch.autograd.grad(f(x).sum(), x)
    assert kernels._ready[(f.spec, torch.float32)] is None
    assert_within_ulps(g.double().numpy(), f.surrogate_grad(x.detach().double().numpy()),
                       "float32")


def test_a_failed_compilation_leaves_the_plan_and_its_error(fresh, monkeypatch, tmp_path):
    monkeypatch.setenv(kernels.CACHE_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(kernels, "_COMPILE", "import sys; sys.exit('no compiler today')")
    f = sg.GaussianGrad(sigma=0.7)
    x = torch.linspace(-3, 3, 100, requires_grad=True)
    torch.autograd.grad(f(x).sum(), x)
    assert kernels.wait(60)
    assert kernels._state[f.spec.formula] is None
    assert "no compiler today" in kernels._failures[-1]
    (g,) = torch.autograd.grad(f(x).sum(), x)
    assert_within_ulps(g.double().numpy(), f.surrogate_grad(x.detach().double().numpy()),
                       "float32")


def test_a_forked_child_compiles_anew(fresh):
    """A forked child has none of its parent's threads: what was compiling starts again, and
    kernels run in the calling thread (GNU OpenMP's team is gone)."""
    f = sg.Sigmoid().spec.formula
    kernels._state[f] = kernels._PENDING
    kernels._worker.append(object())
    kernels._after_fork()
    assert f not in kernels._state and not kernels._worker
    assert kernels._openmp() is None and kernels._parts(1 << 24) == 1


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork here")
def test_a_forked_child_runs_shared_sizes_without_hanging(compiled, monkeypatch):
    """After the parent's team ran a kernel, a forked child's large backward and spike finish
    (GNU OpenMP's threads do not survive a fork: a call on the parent's team would wait
    forever, and so would PyTorch's parallel comparison)."""
    import multiprocessing

    monkeypatch.setattr(kernels, "TUNE_MIN_ELEMENTS", 1 << 40)  # the kernel, not PyTorch's ops
    f = sg.Arctan()
    n = 4 * kernels.PARALLEL_GRAIN * torch.get_num_threads()
    x, v = torch.linspace(-3, 3, n), torch.ones(n)
    expected = kernels.times_derivative(f.spec, v, x, None)
    assert expected is not None

    spiked = (x >= 0).float()

    def child(queue):  # (no parallel PyTorch operation here: PyTorch's would hang)
        got = kernels.times_derivative(f.spec, v, x, None)
        spike, _ = kernels.spike(f.spec, x)
        queue.put(got is not None and hashlib.sha256(got.numpy().tobytes()).digest()
                  == hashlib.sha256(expected.numpy().tobytes()).digest()
                  and spike is not None and spike.numpy().tobytes() == spiked.numpy().tobytes())

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    process.join(60)
    if process.is_alive():
        process.kill()
        pytest.fail("the forked child's backward hung")
    assert process.exitcode == 0 and queue.get(timeout=5)


# --------------------------------------------------------------------------- the source


def test_module_source_compiles_the_loop_and_an_entry_by_address():
    formula = sg.LeakyRelu().spec.formula
    kernel = _codegen.generate(formula, "vjp", "float32", dialect="python")
    source = kernels.module_source(kernel, kernels._spike_kernel(formula))
    assert "def spikegrad_leaky_relu_vjp_float32(x_in, ct_in, y_out, p_alpha, p_beta):" in source
    assert "'void(int64, int64, int64, int64, float64, float64)'" in source
    assert "def run(x, ct, y, n, p_alpha, p_beta):" in source
    assert '@numba.cfunc("void(int64)"' in source and "def part(data):" in source
    assert "values = numba.carray(as_doubles(data + 56), 2)" in source
    assert "values[0], values[1])" in source and "fetch_add(data + 48, size)" in source
    assert "def spikegrad_spike_float32(x_in, y_out):" in source  # the forward pass
    assert "def spike(x, y, n):" in source and "def spike_part(data):" in source
    assert source.count("fetch_add(data + 48, size)") == 4  # both entries of the team
    assert source.count("as_words(data), 7)") == 2
    assert source.count("cache=True") == 6
    assert "LLVM options: none" in source  # plain arithmetic: LLVM's own choice


def test_kernels_with_exp_or_log1p_compile_with_the_llvm_options():
    """Their modules name the options (a change compiles them again), and the compiling process
    sets them before it compiles."""
    for cls, expected in ((sg.Sigmoid, True), (sg.QPseudoSpike, True), (sg.Arctan, False)):
        kernel = _codegen.generate(cls().spec.formula, "vjp", "float32", dialect="python")
        spike = kernels._spike_kernel(cls().spec.formula)
        header = kernels.module_source(kernel, spike).split("import math")[0]
        assert ("-force-vector-interleave=4" in header) is expected, cls
    script = kernels._COMPILE.format(options=kernels.LLVM_OPTIONS)
    assert script.index("set_option") < script.index("exec_module")
    compile(kernels._COMPILE.format(options=()), "<compile>", "exec")  # no options: valid too


def test_one_compiling_process_per_set_of_llvm_options(fresh, monkeypatch, tmp_path):
    """Kernels of both kinds asked for together: two processes, each with its modules and its
    options; a process that times out costs the others nothing."""
    monkeypatch.setenv(kernels.CACHE_ENV_VAR, str(tmp_path))
    runs = []

    def run(argv, **kwargs):
        runs.append((argv[2], argv[3:], kwargs["timeout"]))
        if len(runs) == 1:
            raise subprocess.TimeoutExpired(argv, kwargs["timeout"])
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(kernels.subprocess, "run", run)
    monkeypatch.setattr(kernels, "_cached", lambda path, name: False)
    formulas = [sg.Sigmoid().spec.formula, sg.Arctan().spec.formula, sg.GaussianGrad().spec.formula]
    assert kernels._compile(formulas) == dict.fromkeys(formulas)  # nothing in the cache
    assert len(runs) == 2
    by_options = {("force-vector-interleave=4" in script): modules for script, modules, _ in runs}
    assert [m.split("_vjp")[0] for m in by_options[True][1::2]] == [
        "spikegrad_sigmoid", "spikegrad_gaussian_grad"]
    assert [m.split("_vjp")[0] for m in by_options[False][1::2]] == ["spikegrad_arctan"]
    assert all(0 < timeout <= kernels.COMPILE_TIMEOUT for *_, timeout in runs)
    assert "took longer than the time left" in kernels._failures[-1]


def test_python_and_c_dialects_are_not_mixed():
    kernel = _codegen.generate(sg.Sigmoid().spec.formula, "grad", "float32")
    with pytest.raises(ValueError, match="dialect='python'"):
        kernel.python_source()
    with pytest.raises(ValueError, match="unknown kernel dialect 'fortran'"):
        _codegen.generate(sg.Sigmoid().spec.formula, "grad", "float32", dialect="fortran")


def test_docstring_examples():
    """(backends/ is not among the doctest paths: its CuPy module needs CuPy to import.)"""
    import doctest

    from spikegrad.backends import _kernel_math

    for module in (kernels, _kernel_math):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def _run_in_python(kernel, x, ct, params, general=False):
    """The kernel's loop run by the Python interpreter on NumPy float32 scalars, with the
    compiled math functions (each result kept a float32, as in the compiled loop); with
    ``general``, ``exp2_`` and ``exp_`` in place of their variants for nonpositive
    arguments."""
    from spikegrad.backends import _kernel_math as km

    def float32_result(function):
        return lambda *args: np.float32(function(*args))

    exp2_ = float32_result(km.exp2_)
    exp_ = float32_result(km.exp_)
    namespace = {"math": math, "float32": np.float32, "float64": np.float64,
                 "exp2_": exp2_, "exp_": exp_,
                 **{name: float32_result(getattr(km, name))
                    for name in ("log1p_", "cos_", "cos_exact", "fmod_", "fmod_exact",
                                 "exp2_nonpositive_", "exp_nonpositive_")},
                 "cos_ok": km.cos_ok, "fmod_ok": km.fmod_ok, "guard_flags": km.guard_flags}
    if general:
        namespace.update(exp2_nonpositive_=exp2_, exp_nonpositive_=exp_)
    exec(kernel.python_source(), namespace)  # noqa: S102 - the generator's own statements
    y = np.empty_like(x)
    namespace[kernel.name](x, ct, y, *params)
    return y


def _edge_inputs(span):
    """float32 inputs from -span to span, with subnormal, huge, infinite and NaN ones, and a
    cotangent for them."""
    edges = [0.0, 1e-45, 1e-40, 2.0**-126, 1e-30, 1e-20, 1e20, 1e30, 2.0**120, 1e37, 1e38, 3e38,
             np.inf]
    x = np.concatenate([np.linspace(-span, span, 301), edges, np.negative(edges),
                        [np.nan]]).astype(np.float32)
    return x, np.linspace(-2, 2, x.size).astype(np.float32)


def _scaled_exp(term):
    """A surrogate whose g' is ``term(x, alpha, xp)``."""

    class ScaledExp(sg.Surrogate):
        alpha = sg.Param(1.5, gt=0)

        @staticmethod
        def grad(x, alpha, *, xp):
            return term(x, alpha, xp)

    return ScaledExp


# Powers of two before an exp: folded where exact (where a partial product overflows, or
# underflows, the result is the same), left as written where not (a factor of 3; later factors
# below 2**-120: exp(2**-126 (2**10 x)) is inf as written at x = 2**120, about 9e6 folded).
_SCALED_EXPS = {
    "two_halves": lambda x, alpha, xp: xp.exp(-0.5 * (0.25 * (x * x))),
    "three": lambda x, alpha, xp: xp.exp(3.0 * (0.5 * x)),
    "overflowing": lambda x, alpha, xp: xp.exp(2.0**-100 * (2.0**60 * x)),
    "shrinking": lambda x, alpha, xp: xp.exp(2.0**-126 * (2.0**10 * x)),
    "negated": lambda x, alpha, xp: xp.exp(-(4.0 * (alpha * x))),
}
_UNFOLDED = ("three", "shrinking")
_FOLD_CASES = {**{name: _scaled_exp(term) for name, term in _SCALED_EXPS.items()},
               **{c.__name__: c for c in SURROGATE_CLASSES if "exp2_(" in "\n".join(
                   _codegen.generate(c().spec.formula, "vjp", "float32", dialect="python").body)}}


@pytest.mark.parametrize("name, cls", list(_FOLD_CASES.items()), ids=list(_FOLD_CASES))
def test_folded_constants_change_no_number(name, cls, monkeypatch):
    """The kernels call ``exp2`` of one product where the math calls ``exp`` of a value scaled
    by powers of two: one to three multiplications fewer per exponential, and the same numbers,
    bit for bit, as the statements as written (at subnormal, huge and infinite inputs too)."""
    formula = cls().spec.formula
    folded = _codegen.generate(formula, "vjp", "float32", dialect="python")
    monkeypatch.setattr(_codegen, "_exp2_scale", lambda factors: None)  # nothing folds
    written = _codegen.generate(formula, "vjp", "float32", dialect="python")
    assert (len(written.body) > len(folded.body)) is (name not in _UNFOLDED)
    x, ct = _edge_inputs(9.0)
    params = [float(v) for v in cls().spec.values]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_run_in_python(folded, x, ct, params),
                                      _run_in_python(written, x, ct, params))


# exp of arguments known to be at most 0: the variants that skip the clip of large arguments
# (the catalogue's), and arguments whose sign is not known or that may be positive, which keep
# exp2_ and exp_ (a wrong sign would give garbage where the clip makes inf: x = -1e38 below).
_SIGNED_EXPS = {
    "square": lambda x, alpha, xp: xp.exp(-(x * x)),
    "not_folded": lambda x, alpha, xp: xp.exp(xp.abs(alpha * x) * -3.0),
    "unknown": lambda x, alpha, xp: xp.exp(-0.5 * x),
    "positive": lambda x, alpha, xp: xp.exp(xp.abs(x) * 0.75),
}
_GENERAL = ("unknown", "positive")
_SIGN_CASES = {**{name: _scaled_exp(term) for name, term in _SIGNED_EXPS.items()},
               **{c.__name__: c for c in SURROGATE_CLASSES if "_nonpositive_(" in "\n".join(
                   _codegen.generate(c().spec.formula, "vjp", "float32", dialect="python").body)}}


@pytest.mark.parametrize("name, cls", list(_SIGN_CASES.items()), ids=list(_SIGN_CASES))
def test_exp_of_nonpositive_arguments_changes_no_number(name, cls):
    """Kernels call ``exp2_nonpositive_`` or ``exp_nonpositive_`` (no clip of large
    arguments) where the argument is known to be at most 0: the same numbers, bit for bit, as
    with ``exp2_`` and ``exp_``, at huge, subnormal, infinite and NaN inputs too; and not where
    it may be positive."""
    kernel = _codegen.generate(cls().spec.formula, "vjp", "float32", dialect="python")
    assert ("_nonpositive_(" in "\n".join(kernel.body)) is (name not in _GENERAL)
    x, ct = _edge_inputs(300.0)
    params = [float(v) for v in cls().spec.values]
    with np.errstate(all="ignore"):
        got = _run_in_python(kernel, x, ct, params)
        np.testing.assert_array_equal(got, _run_in_python(kernel, x, ct, params, general=True))
    if name == "unknown":
        assert np.isinf(got[x == -1e38]).all()
