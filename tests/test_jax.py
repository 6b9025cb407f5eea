"""The JAX adapter under every transform, for the whole registry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import spikegrad as sg

from .conftest import SURROGATE_CLASSES, assert_within_ulps, inverse_power_reference

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

pytestmark = pytest.mark.usefixtures("jax_x64")

X = np.array([-2.5, -1.2, -0.3, 0.0, 0.4, 0.9, 1.7, 3.0])


def reference(cls, x=X):
    """g' and g from the NumPy backend in float64: the reference every path must agree with."""
    s = cls()
    return s.surrogate_grad(x), s.surrogate_fun(x)


def second_derivative(cls, x=X, h=1e-5):
    gp = cls().surrogate_grad
    return (gp(x + h) - gp(x - h)) / (2 * h)


def assert_close(actual, desired, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(actual, dtype="float64"), desired, rtol=rtol, atol=atol)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_reverse_and_forward_mode(cls):
    f = cls()
    x = jnp.asarray(X)
    gp, g = reference(cls)
    total = lambda v: f(v).sum()  # noqa: E731
    assert_close(jax.grad(total)(x), gp)
    value, grads = jax.value_and_grad(total)(x)
    assert value == (X >= 0).sum()
    assert_close(grads, gp)
    out, pullback = jax.vjp(f, x)
    assert_close(out, X >= 0)
    assert_close(pullback(jnp.full_like(x, 2.0))[0], 2 * gp)
    out, tangent = jax.jvp(f, (x,), (jnp.full_like(x, 3.0),))
    assert_close(tangent, 3 * gp)
    assert_close(jnp.diag(jax.jacfwd(f)(x)), gp)
    assert_close(jnp.diag(jax.jacrev(f)(x)), gp)
    out, linear = jax.linearize(f, x)
    assert_close(linear(jnp.ones_like(x)), gp)
    assert_close(jax.jit(jax.grad(total))(x), gp)
    assert_close(jax.grad(jax.checkpoint(total))(x), gp)
    assert_close(jax.vmap(jax.grad(lambda v: f(v)))(x), gp)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_second_derivative_is_g_double_prime(cls):
    f = cls()
    smooth = X[X != 0]  # g' of several surrogates has a kink at 0 (|x|): no g'' there
    x = jnp.asarray(smooth)
    expected = second_derivative(cls, smooth)
    hess = jax.vmap(jax.hessian(lambda v: f(v)))(x)
    assert_close(hess, expected, rtol=1e-5, atol=1e-5)
    assert_close(jax.grad(lambda v: f.surrogate_grad(v).sum())(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_origin_mode_differentiates_as_g(cls):
    f = cls(origin=True)
    gp, g = reference(cls)
    x = jnp.asarray(X)
    assert_close(jax.jit(f)(x), g)
    assert_close(jax.grad(lambda v: f(v).sum())(x), gp)
    assert_close(jax.grad(lambda v: cls().surrogate_fun(v).sum())(x), gp)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_scan_bptt(cls):
    """Back-propagation through time over a leaky integrate-and-fire loop."""
    f = cls()

    def loss(w, inputs):
        def step(v, current):
            v = 0.9 * v + w * current
            s = f(v - 1.0)
            return v * (1.0 - s), s

        _, spikes = jax.lax.scan(step, jnp.zeros(()), inputs)
        return spikes.sum()

    inputs = jnp.linspace(0.0, 1.0, 20)
    grad = jax.grad(loss)(0.7, inputs)
    # the same loop unrolled in NumPy with the explicit backward pass of the reference
    s_np = cls()
    v, vs, ss = 0.0, [], []
    for c in np.linspace(0.0, 1.0, 20):
        v = 0.9 * v + 0.7 * c
        vs.append(v)
        spike = float(v >= 1.0)
        ss.append(spike)
        v = v * (1.0 - spike)
    # reverse sweep: d spikes_total / d w
    dv_next, dw = 0.0, 0.0
    for t in reversed(range(20)):
        vt, st_ = vs[t], ss[t]
        # v_after = v_t * (1 - s_t); s_t = H(v_t - 1); v_t = 0.9 v_{t-1}_after + w c_t
        ds = 1.0 + dv_next * (-vt)
        dvt = dv_next * (1.0 - st_) + ds * float(s_np.surrogate_grad(np.asarray(vt - 1.0)))
        dw += dvt * np.linspace(0.0, 1.0, 20)[t]
        dv_next = dvt * 0.9
    assert_close(grad, dw, rtol=1e-10, atol=1e-12)


def _inside(p, value):
    try:
        return p.validate(value)
    except ValueError:
        return p.default


@pytest.mark.parametrize("cls", [c for c in SURROGATE_CLASSES if not any(p.integer for p in c._params)])
def test_traced_parameters(cls):
    """jit over parameters compiles once; vmap over them works; their gradient is zero."""
    defaults = [p.default for p in cls._params]
    x = jnp.asarray(X)

    @jax.jit
    def grads(x, params):
        return jax.grad(lambda v: cls(*params)(v).sum())(x)

    for scale in (1.0, 0.75, 0.5):  # where that leaves the declared range: the default
        params = [jnp.asarray(_inside(p, d * scale if d else 0.05 * scale))
                  for p, d in zip(cls._params, defaults)]
        expected = cls(*[float(p) for p in params]).surrogate_grad(X)
        assert_close(grads(x, params), expected)
    assert grads._cache_size() == 1

    first = cls._params[0]
    values = jnp.asarray([first.default or 0.1, 2 * (first.default or 0.1)])
    batched = jax.vmap(lambda a: cls(a, *defaults[1:]).surrogate_grad(x))(values)
    for row, a in zip(np.asarray(batched), np.asarray(values)):
        assert_close(row, cls(float(a), *defaults[1:]).surrogate_grad(X))

    def spikes_total(params):
        return cls(*params)(x).sum() + cls(*params, origin=True)(x).sum()

    dparams = jax.grad(spikes_total)([jnp.asarray(float(d)) for d in defaults])
    assert all(float(d) == 0.0 for d in dparams)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtypes_kept_and_accurate(cls, dtype):
    x = jnp.asarray(X, dtype=dtype)
    f = cls()
    grads = jax.grad(lambda v: f(v).sum())(x)
    outs = [f(x), grads, f.surrogate_grad(x), f.surrogate_fun(x), f.vjp(x, x)]
    assert all(o.dtype == x.dtype for o in outs)
    x64 = np.asarray(x, dtype="float64")  # the input as actually rounded to dtype
    gp, g = reference(cls, x64)
    for got, ref in ((grads, gp), (outs[3], g)):
        assert_within_ulps(got, ref, dtype)


def test_rejects_non_floating():
    with pytest.raises(TypeError, match="got dtype int32"):
        sg.sigmoid(jnp.arange(3, dtype=jnp.int32))


def test_tracers_are_detected_in_auto_mode():
    assert_close(jax.jit(sg.sigmoid)(jnp.asarray(X)), X >= 0)


def test_surrogate_is_a_static_argument():
    run = jax.jit(lambda x, f: f(x), static_argnums=1)
    assert_close(run(jnp.asarray(X), sg.Sigmoid()), X >= 0)
    assert_close(run(jnp.asarray(X), sg.Sigmoid(origin=True)), reference(sg.Sigmoid)[1])


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


@pytest.mark.slow
def test_import_and_use_leave_jax_config_alone():
    result = run_python(
        """
        import jax, jax.numpy as jnp
        before = {k: getattr(jax.config, k) for k in ("jax_enable_x64", "jax_default_matmul_precision", "jax_platforms")}
        import spikegrad as sg
        sg.Sigmoid()(jnp.zeros(3)); jax.grad(lambda x: sg.sigmoid(x).sum())(jnp.zeros(3))
        after = {k: getattr(jax.config, k) for k in before}
        assert before == after, (before, after)
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.slow
def test_sharded_arrays_on_four_devices():
    result = run_python(
        """
        import numpy as np, jax, jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import spikegrad as sg
        assert len(jax.devices()) == 4
        mesh = Mesh(np.array(jax.devices()), ("d",))
        sharding = NamedSharding(mesh, P("d"))
        x_host = np.linspace(-3, 3, 4096, dtype=np.float32)
        x = jax.device_put(x_host, sharding)
        for name in sg.available():
            f = sg.get(name)
            loss = lambda v: (f(v) * v).sum()
            g_sharded = jax.jit(jax.grad(loss))(x)
            g_plain = jax.grad(loss)(jnp.asarray(x_host))
            # Parameter values are run-time arguments, so XLA may fuse the two programs
            # differently: float32 rounding of O(1) terms (the Fourier sum cancels near 0).
            np.testing.assert_allclose(np.asarray(g_sharded), np.asarray(g_plain), rtol=1e-6, atol=4e-6)
            assert g_sharded.sharding.is_equivalent_to(sharding, x.ndim), name
            spikes = jax.jit(f)(x)
            assert spikes.sharding.is_equivalent_to(sharding, x.ndim)
            mapped = jax.shard_map(lambda v: f.surrogate_grad(v), mesh=mesh, in_specs=P("d"), out_specs=P("d"))(x)
            np.testing.assert_allclose(np.asarray(mapped), f.surrogate_grad(x_host.astype(np.float64)), rtol=2e-5, atol=1e-6)
        print("ok")
        """,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
    )
    assert result.stdout.strip() == "ok", result.stderr[-3000:]


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_second_derivative_is_a_number_at_huge_and_infinite_x(cls, dtype):
    """jax.grad of g' at 0, huge and infinite x is a number (0 at +-inf: no 0 * inf where an
    exponential or a square overflows); the square wave, without a limit at +-inf, is NaN
    there."""
    big = float(np.finfo(dtype).max) * 0.9
    x = jnp.asarray([0.0, 1e-30, big, -big, np.inf, -np.inf, 0.3], dtype=dtype)
    f = cls()
    g2 = np.asarray(jax.vmap(jax.grad(lambda v: f.surrogate_grad(v)))(x))
    periodic = isinstance(f, sg.SquarewaveFourierSeries)
    assert not np.isnan(g2[:4 if periodic else 6]).any(), g2
    if not periodic:
        assert g2[4] == 0 and g2[5] == 0
    np.testing.assert_allclose(g2[6], second_derivative(cls, np.asarray(0.3)), rtol=1e-4,
                               atol=1e-6)


# The guards that only derivatives of g' need (its value is the same without them): the clip
# of +-inf to the largest number (spikegrad._math._finite), the sigmoid slope's lowered exponent
# where exp overflows; and how often XLA's loop has that operation without them.
GUARDED = [
    *((cls, "clamp(", 0) for cls in (sg.ERF, sg.GaussianGrad, sg.MultiGaussianGrad, sg.Arctan,
                                     sg.SoftSign, sg.InvSquareGrad, sg.SparseFastSigmoid,
                                     sg.AlgebraicSigmoid)),
    (sg.Sigmoid, "select(", 0),
    (sg.S2NN, "select(", 1),  # its choice of branch
]


@pytest.mark.parametrize(("cls", "guard", "unguarded"), GUARDED)
def test_guards_are_compiled_only_where_g_prime_is_differentiated(cls, guard, unguarded):
    """The guards keep the derivatives of g' numbers (the test above); the first-order pass,
    forward and backward as training compiles it (and forward mode), goes without them; jax.grad
    of g' has them."""
    f = cls()
    x = jnp.linspace(-3.0, 3.0, 64)

    def step(v, ct):
        out, pull_back = jax.vjp(f, v)
        return out, pull_back(ct)[0]

    def count(fn, *args):
        return jax.jit(fn).lower(*args).compile().as_text().count(guard)

    assert count(step, x, jnp.ones_like(x)) == unguarded
    assert count(lambda v: jax.jvp(f, (v,), (jnp.ones_like(v),)), x) == unguarded
    assert count(jax.grad(lambda v: f.surrogate_grad(v).sum()), x) > unguarded


@pytest.mark.parametrize(("cls", "alpha"), [
    *((sg.QPseudoSpike, a) for a in (0.3, 0.5, 0.9, 0.999, 1.0, 1.5, 2.0, 8.0, 1e3)),
    *((sg.QPseudoSpikeUnitArea, a) for a in (1.02, 1.5, 1.99, 2.0, 2.5, 2.999, 3.0, 8.0)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inverse_powers_take_one_logarithm_for_every_alpha(cls, alpha, dtype):
    """(1 + 2|x|/d)^-alpha from JAX's hook (one log1p whatever d = alpha +- 1; alpha traced):
    the value computed in logarithms in float64 from the peak to the dtype's largest number
    and inf, in the three forms the hook chooses between (d/2 from 1 on, from 1/2 to 1, below
    1/2), with alpha as a constant, traced under jit and batched under vmap. Below the smallest
    normal number XLA flushes to zero."""
    info = np.finfo(dtype)
    f = cls(alpha=alpha)
    d = alpha + 1.0 if cls is sg.QPseudoSpike else alpha - 1.0
    x = np.asarray([0.0, 1e-30, 1e-6, 0.01, 0.3, 1.0, 30.0, 1e6, float(info.max) / 64,
                    float(info.max) / 3, float(info.max), np.inf], dtype=dtype)
    a = x.astype(np.float64)
    expected, log_base = inverse_power_reference(a, alpha, d)
    allowed = np.where(np.isinf(a), 0.0,
                       4 * float(info.eps) * (1 + alpha * np.minimum(log_base, 1e4)) * expected)
    allowed += float(info.tiny)
    xj = jnp.asarray(x)
    by_alpha = jax.jit(lambda v, alpha: cls(alpha=alpha).surrogate_grad(v))
    batched = jax.vmap(by_alpha, in_axes=(None, 0))(xj, jnp.asarray([alpha, alpha], dtype))
    for got in (f.surrogate_grad(xj), by_alpha(xj, alpha), batched[0], batched[1]):
        assert got.dtype == x.dtype
        error = np.abs(np.asarray(got, dtype="float64") - expected)
        assert (error <= allowed).all(), (x, np.asarray(got), expected)

    def step(v, ct, alpha):
        out, pull_back = jax.vjp(cls(alpha=alpha), v)
        return out, pull_back(ct)[0]

    compiled = jax.jit(step).lower(xj, xj, alpha).compile().as_text()
    assert compiled.count("log-plus-one(") == 1, compiled


def test_phase_cosines_are_within_two_ulps():
    """The ``phase_cos`` hook (the square wave's cosines, phases up to 199 turns) in float32:
    within 2 ulps of ``cos`` over the whole range of phases, NaN at NaN, ``jnp.cos`` itself in
    float64; its derivative (g'' of the square wave) within 1e-6 of ``-sin``; the compiled
    square wave calls no cosine of XLA's."""
    from spikegrad.backends._jax import _phase_cos

    t = np.concatenate([np.linspace(0, 2 * np.pi * 199, 2_000_001),
                        np.random.default_rng(0).uniform(0, 2 * np.pi, 500_000)])
    got = np.asarray(jax.jit(_phase_cos)(jnp.asarray(t, dtype=jnp.float32)), dtype=np.float64)
    exact = np.cos(t.astype(np.float32).astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 2.0
    assert np.isnan(_phase_cos(jnp.asarray([np.nan], dtype=jnp.float32))).all()
    wide = jnp.asarray(t[:1000], dtype=jnp.float64)
    np.testing.assert_array_equal(_phase_cos(wide), jnp.cos(wide))
    slope = jax.vmap(jax.grad(_phase_cos))(jnp.asarray(t[::1000], dtype=jnp.float32))
    np.testing.assert_allclose(slope, -np.sin(t[::1000].astype(np.float32).astype(np.float64)),
                               rtol=0, atol=1e-6)
    x = jnp.asarray(np.linspace(-9, 9, 1000), dtype=jnp.float32)
    hlo = jax.jit(sg.SquarewaveFourierSeries().surrogate_grad).lower(x).compile().as_text()
    assert "cosine(" not in hlo and "multiply(" in hlo


def test_eager_reverse_mode_keeps_x_and_computes_the_derivative_in_the_backward_pass():
    """Called eagerly, ``jax.vjp`` of a surrogate keeps the caller's ``x`` for the backward pass
    and no array of g'(x) (which the forward part would have to write), for the spike, g and a
    trained parameter alike; the gradient in ``x`` is the NumPy float64 reference's
    ``ct * g'(x)`` in float32, a trained parameter's ``sum(ct * dg/dalpha)`` (to the
    rounding of the float32 sum). The adapter asks for it only where ``x``'s value is known
    (eager autodiff), not under ``jit`` or ``vmap``."""
    from spikegrad.backends._jax import _known

    x = jnp.linspace(-3, 3, 1000, dtype=jnp.float32)
    ct = jnp.linspace(-1, 2, 1000, dtype=jnp.float32)
    cases = [(sg.Sigmoid(), (x,)), (sg.SquarewaveFourierSeries(origin=True), (x,)),
             (None, (x, jnp.float32(2.0)))]

    def trained(v, alpha):
        return sg.Arctan(alpha=alpha, trainable=("alpha",))(v)

    for f, args in cases:
        f = trained if f is None else f
        _, pull_back = jax.vjp(f, *args)
        kept = [leaf for leaf in jax.tree_util.tree_leaves(pull_back)
                if getattr(leaf, "shape", None) == x.shape]
        assert kept and all(leaf is x for leaf in kept), kept
        eager = pull_back(ct)
        reference = sg.Arctan(alpha=2.0) if f is trained else f
        with sg.backend("numpy"):
            expected = np.asarray(ct, np.float64) * reference.surrogate_grad(
                np.asarray(x, np.float64))
        assert_within_ulps(eager[0], expected, "float32")
        if f is trained:  # sum(ct * dg/dalpha): g's central difference in float64
            with sg.backend("numpy"):
                x64, h = np.asarray(x, np.float64), 1e-6
                dg = (sg.Arctan(alpha=2.0 + h).surrogate_fun(x64)
                      - sg.Arctan(alpha=2.0 - h).surrogate_fun(x64)) / (2 * h)
            terms = np.asarray(ct, np.float64) * dg
            assert abs(float(eager[1]) - terms.sum()) <= 1e-5 * np.abs(terms).sum()
    seen = []

    def probe(v):
        seen.append(_known(v))
        return sg.sigmoid(v)

    jax.grad(lambda v: probe(v).sum())(x)
    jax.jvp(probe, (x,), (ct,))
    jax.jit(jax.grad(lambda v: probe(v).sum()))(x)
    jax.vmap(probe)(x.reshape(10, 100))
    assert seen == [True, True, False, False]


def test_magnitude_remainders_are_fmod_bit_for_bit():
    """The ``magnitude_remainder`` hook (the square wave's phase) in float32 is NumPy's
    ``fmod(|x|, b)`` bit for bit: for ``x`` at, and a few float32 steps from, whole and half
    multiples of ``b`` up to the hook's largest quotient, with ``b`` at the ends and in the
    middle of binades from 2**-100 to 2**100 (its vectorized reduction); with elements beyond
    its quotients, infinite or NaN in the same array, or a divisor outside its range (C's
    ``fmod``); batched over ``b`` under ``vmap``; and its derivative in ``x`` is ``sign(x)``."""
    from spikegrad.backends._jax import REMAINDER_QUOTIENTS, _magnitude_remainder

    rng = np.random.default_rng(7)
    n = 1 << 17
    hook = jax.jit(_magnitude_remainder)

    def assert_fmod(x, b):
        x, b = np.float32(x), np.broadcast_to(np.float32(b), np.shape(x))
        got = np.asarray(hook(jnp.asarray(x), jnp.asarray(b)))
        with np.errstate(invalid="ignore"):
            want = np.fmod(np.abs(x), b)
        same = (got.view(np.int32) == want.view(np.int32)) | (np.isnan(got) & np.isnan(want))
        assert same.all(), (x[~same][:5], b[~same][:5], got[~same][:5], want[~same][:5])

    exponent = rng.integers(-100, 100, n)
    for significand in (rng.uniform(1, 2, n), 2 - rng.integers(1, 300, n) * 2.0**-23,
                        1 + rng.integers(0, 300, n) * 2.0**-23):
        b = (significand * 2.0**exponent).astype(np.float32)
        for fraction in (rng.uniform(0, 1, n), 0.5, 0.0):
            quotient = rng.integers(0, int(REMAINDER_QUOTIENTS), n) + fraction
            x = (quotient * b.astype(np.float64)).astype(np.float32)
            steps = rng.integers(-4, 5, n).astype(np.int32)
            x = np.maximum(x.view(np.int32) + steps, 0).view(np.float32)
            assert_fmod(np.where(rng.integers(0, 2, n) == 1, -x, x), b)
    x = np.float32([0.0, -1e-45, 3.0, -5000.0, 1e10, -3.4e38, np.inf, -np.inf, np.nan, 6145.5])
    for b in (3.0, 1e-30, 2.0**-120, 2.0**110, 3.4e38, np.inf):
        assert_fmod(x, b)
    assert_fmod(x[:4], 3.0)
    b = jnp.asarray([3.0, 0.1, 1e-30], dtype=jnp.float32)
    batched = jax.vmap(_magnitude_remainder, in_axes=(None, 0))(jnp.asarray(x), b)
    for row, period in zip(np.asarray(batched), np.asarray(b)):
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(row, np.fmod(np.abs(x), period))
    slope = jax.vmap(jax.grad(_magnitude_remainder), in_axes=(0, None))(
        jnp.asarray([-7.5, -0.25, 0.25, 7.5], dtype=jnp.float32), 3.0)
    np.testing.assert_array_equal(slope, [-1.0, -1.0, 1.0, 1.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("alpha", [0.5, 2.0, 100.0])
def test_scaled_exponentials_keep_the_peak_and_the_tail(alpha, dtype):
    """g' = scale * exp(-t) of the exponential surrogates, from JAX's hook (one exponential, the
    scale entering the exponent above 1), eager and under jit: the NumPy float64 value to a few
    roundings of t, at the peak and, for a large scale, where exp(-t) alone is subnormal (XLA
    flushes it to zero) but g' is a normal number."""
    smallest = float(np.finfo(dtype).tiny)
    cases = [  # surrogate, its scale, t(x), x(t)
        (sg.PiecewiseExp(alpha=alpha), alpha / 2, lambda x: alpha * abs(x), lambda t: t / alpha),
        (sg.ERF(alpha=alpha), alpha / np.sqrt(np.pi), lambda x: (alpha * x) ** 2,
         lambda t: np.sqrt(t) / alpha),
        (sg.GaussianGrad(sigma=0.5, alpha=alpha), alpha / (np.sqrt(2 * np.pi) * 0.5),
         lambda x: 2 * x * x, lambda t: np.sqrt(t / 2)),
    ]
    for f, scale, t_of, x_of in cases:
        ts = [0.0, 0.25, 3.0]
        if scale > 4:  # a normal g' where exp(-t) is subnormal
            ts.append(-np.log(smallest) + 0.5 * np.log(scale))
        x = np.asarray([x_of(t) for t in ts], dtype=dtype)
        expected = f.surrogate_grad(x.astype("float64"))
        assert (expected > smallest).all()
        allowed = 4 * float(np.finfo(dtype).eps) * (1 + t_of(x.astype("float64"))) * expected
        grad = jax.grad(lambda v, f=f: f(v).sum())
        for got in (grad(jnp.asarray(x)), jax.jit(grad)(jnp.asarray(x))):
            assert got.dtype == x.dtype
            error = np.abs(np.asarray(got, dtype="float64") - expected)
            assert (error <= allowed).all(), (type(f).__name__, x, got, expected)


NAN_THROUGH = [sg.LeakyRelu, sg.PiecewiseLeakyRelu, sg.Rect]  # g' built by _nan_through


def test_nan_through_is_a_clamp_between_equal_bounds_and_differentiates_as_the_where():
    """The JAX ``nan_through`` hook: ``out``, or NaN where ``x`` is NaN (infinities and -0 are
    numbers); its tangents in ``x`` and in ``out`` are the portable ``where``'s (0 in ``x`` at
    NaN, then 2, ``out``'s, elsewhere); ``out`` of another shape or dtype takes the ``where``."""
    from spikegrad.backends._jax import _nan_through

    from spikegrad._math import _nan_through as portable

    x = jnp.array([np.nan, np.inf, -np.inf, -0.0, 0.0, -2.0, 3.0], jnp.float32)
    out = jnp.where(x < 0, 0.1, 1.0).astype(jnp.float32)
    got = np.asarray(jax.jit(_nan_through)(x, out))
    assert np.isnan(got[0]) and got[1:].tolist() == np.asarray(out)[1:].tolist()

    def where(a, b):
        return portable(a, b, jnp)

    tangents = (jnp.arange(7.0, dtype=jnp.float32) + 1, jnp.full(7, 2.0, jnp.float32))
    _, ours = jax.jvp(_nan_through, (x, out), tangents)
    _, expected = jax.jvp(where, (x, out), tangents)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(expected))
    assert np.asarray(ours).tolist() == [0.0] + [2.0] * 6
    wide = jnp.full((2, 7), 0.5, jnp.float32)
    np.testing.assert_array_equal(np.asarray(_nan_through(x, wide)), np.asarray(where(x, wide)))
    text = jax.jit(_nan_through).lower(x, out).compile().as_text()
    assert "clamp(" in text and "direction=NE" not in text


@pytest.mark.parametrize("cls", NAN_THROUGH)
def test_piecewise_constant_derivatives_pass_nan_through_a_clamp_under_jit(cls):
    """The training step of a piecewise-constant g' compiles the hook's clamp, not a NaN test,
    and still gives NaN at NaN and g' elsewhere; jax.grad of g' is that of the portable
    ``where`` (evaluated without the hooks)."""
    from spikegrad._evaluate import evaluate
    from spikegrad._namespace import MathNamespace

    f = cls()
    x = jnp.array([np.nan, -np.inf, -2.0, -0.3, -0.0, 0.0, 0.2, 0.7, 5.0, np.inf])

    def step(v, ct):
        out, pull_back = jax.vjp(f, v)
        return out, pull_back(ct)[0]

    text = jax.jit(step).lower(x, jnp.ones_like(x)).compile().as_text()
    assert "clamp(" in text and "direction=NE" not in text
    _, grad = jax.jit(step)(x, jnp.ones_like(x))
    expected = np.asarray(cls().surrogate_grad(np.asarray(x)))
    assert np.isnan(np.asarray(grad)[0]) and np.isnan(expected[0])
    assert_close(np.asarray(grad)[1:], expected[1:])
    second = jax.grad(lambda v: f.surrogate_grad(v).sum())(x)
    portable = jax.grad(lambda v: evaluate(f.spec.formula.derivative, v, f.spec.values,
                                           MathNamespace(jnp)).sum())(x)
    np.testing.assert_array_equal(np.asarray(second), np.asarray(portable))
    assert not np.asarray(second)[1:].any()
