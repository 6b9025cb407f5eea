"""Properties of every registered surrogate (a new surrogate needs no new test code)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


from .conftest import SURROGATE_CLASSES, assert_within_ulps

settings.register_profile(
    "spikegrad",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the backend fixture is stateless
)
settings.load_profile("spikegrad")

DTYPES = ("float16", "float32", "float64")


def finite_arrays(dtype: str, max_side: int = 8):
    # No subnormals: XLA on CPU flushes them to zero, so JAX sees -1e-310 as 0 (spike 1).
    return hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=max_side),
        elements=st.floats(
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=False,
            width=np.dtype(dtype).itemsize * 8,
        ),
    )


def extremes(dtype: str) -> np.ndarray:
    info = np.finfo(dtype)
    values = [info.max, info.tiny, info.smallest_subnormal, 0.0, 1.0, 0.5, info.eps, 1e3, 2.0]
    values = np.asarray(values, dtype=dtype)
    return np.concatenate([values, -values, np.nextafter(values, np.zeros((), dtype))])


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=25)  # every new shape is a new compilation for JAX
@given(data=st.data())
def test_forward_is_exactly_the_step(backend, cls, data):
    dtype = data.draw(st.sampled_from([d for d in backend.dtypes if d in DTYPES]))
    values = data.draw(finite_arrays(dtype))
    x = backend.array(values, dtype)
    spikes = cls()(x)
    assert backend.dtype_name(spikes) == dtype
    assert tuple(spikes.shape) == values.shape
    np.testing.assert_array_equal(backend.to_numpy(spikes), (values >= 0).astype("float64"))


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_step_at_threshold_nan_and_infinities(backend, cls):
    x = backend.array([0.0, -0.0, np.nan, np.inf, -np.inf], "float32")
    np.testing.assert_array_equal(backend.to_numpy(cls()(x)), [1.0, 1.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_g_and_gprime_finite_at_extreme_inputs(cls, dtype):
    x = extremes(dtype)
    s = cls()
    for out in (s.surrogate_grad(x), s.surrogate_fun(x)):
        assert out.dtype == np.dtype(dtype)
        assert np.isfinite(out).all(), (x[~np.isfinite(out)], out[~np.isfinite(out)])


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@given(x=finite_arrays("float32", max_side=16))
def test_g_and_gprime_finite_for_all_finite_inputs(cls, x):
    s = cls()
    assert np.isfinite(s.surrogate_grad(x)).all()
    assert np.isfinite(s.surrogate_fun(x)).all()


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@given(x=st.floats(-8.0, 8.0))
def test_gprime_is_the_derivative_of_g(cls, x):
    """Central finite differences of g in float64, away from kinks of g'."""
    s = cls()
    h = 1e-6
    pts = np.asarray([x - h, x, x + h])
    g = s.surrogate_fun(pts)
    gp = s.surrogate_grad(pts)
    curvature = abs(gp[2] - 2 * gp[1] + gp[0])
    if curvature > 1e-7 * (1 + abs(gp[1])) or abs(gp[2] - gp[0]) > 1e-2 * (1 + abs(gp[1])):
        return  # within h of a kink or jump of g': a difference quotient says nothing there
    fd = (g[2] - g[0]) / (2 * h)
    assert fd == pytest.approx(gp[1], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_primitive_limits(cls):
    """g rises from g(-inf) = 0 (where the integral converges) and g' integrates to g."""
    s = cls()
    x = np.linspace(-6.0, 6.0, 120001)
    gp = s.surrogate_grad(x)
    g = s.surrogate_fun(x)
    integral = np.concatenate([[0.0], np.cumsum((gp[1:] + gp[:-1]) / 2 * np.diff(x))])
    np.testing.assert_allclose(g - g[0], integral, atol=1e-4 * max(1.0, np.abs(g).max()))


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@given(data=st.data())
def test_reduced_precision_close_to_float64(cls, dtype, data):
    """float16 is the float64 reference rounded once (computed in float32); float32 is close."""
    x = data.draw(hnp.arrays(dtype, 32, elements=st.floats(-40, 40, width=np.dtype(dtype).itemsize * 8)))
    s = cls()
    for method in (s.surrogate_grad, s.surrogate_fun):
        assert_within_ulps(method(x), method(x.astype("float64")), dtype)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_dtype_and_shape_kept_for_every_operation(backend, cls):
    s = cls()
    cases = [(dtype, (2, 3)) for dtype in backend.dtypes] + [("float32", ()), ("float32", (0,))]
    for dtype, shape in cases:
        values = np.linspace(-2, 2, int(np.prod(shape))).reshape(shape)
        x = backend.array(values, dtype)
        for out in (s(x), s.surrogate_grad(x), s.surrogate_fun(x), s.vjp(x, x)):
            assert backend.dtype_name(out) == dtype
            assert tuple(out.shape) == shape


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@given(x=finite_arrays("float64"), scale=st.floats(-4, 4))
def test_vjp_is_cotangent_times_gradient(cls, x, scale):
    s = cls()
    ct = np.full_like(x, scale)
    np.testing.assert_allclose(s.vjp(x, ct), ct * s.surrogate_grad(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_origin_forward_is_the_primitive(backend, cls):
    x = backend.array([-1.5, -0.2, 0.0, 0.7, 3.0], "float64")
    s = cls(origin=True)
    np.testing.assert_allclose(
        backend.to_numpy(s(x)), backend.to_numpy(cls().surrogate_fun(x)), rtol=1e-15
    )
    assert cls(origin=True).origin and not cls().origin
