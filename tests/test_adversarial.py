"""The public API under attack (issue #10): no crash, no hang, no silent wrong number.

Every public entry point (surrogate classes, functional forms, ``sg.get``, ``surrogate_grad``,
``surrogate_fun``, ``vjp``, ``origin``, ``replace``, ``sg.nn.Spike``) meets adversarial inputs
(NaN, infinities, signed zeros, subnormals, dtype extremes, 0-d, empty, strided and broadcast
views, tensor subclasses, wrong shapes and wrong types) and parameters at and beyond the edges
of their declared ranges, on every installed backend (the ``backend`` fixture). Each check
asserts the documented outcome (``docs/guides/semantics.rst``): the right value, dtype and
shape, or a ``TypeError`` (wrong type) or ``ValueError`` (bad value or shape) that says what to
pass.

Nothing here names a surrogate or a range: the catalogue comes from the registry
(``SURROGATE_CLASSES``, drawn by hypothesis) and the ranges from each class's ``Param``
declarations, so a new surrogate or a changed range is attacked with no new test code.

The regression tests of issue #10's defects say which one they cover (``#10.n``). Every
defect this module found is fixed; a new one found later is marked ``xfail(strict=True)`` with
its reason until the fix turns the mark into a failure (XPASS).
"""

from __future__ import annotations

import importlib.util
import math
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import array_api_compat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikegrad as sg
from spikegrad import _codegen as codegen
from spikegrad.tools.verify import PLAN_ULPS, assert_product_close

from .conftest import SURROGATE_CLASSES
from .test_codegen import compile_for_cpu, run_on_cpu

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")

# Few examples each: every test draws from the whole registry, and a new (surrogate, dtype,
# shape) is a new compilation for JAX. The backend fixture holds no state between examples.
ATTACK = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

F64_MAX = float(np.finfo(np.float64).max)
EPS32 = float(np.finfo(np.float32).eps)

# ---------------------------------------------------------------------------- parameter ranges


def _lower(p: sg.Param) -> tuple[float | None, bool]:
    """``(bound, inclusive)`` of the parameter's lower bound (``(None, False)`` if none)."""
    if p.gt is not None:
        return p.gt, False
    return (p.ge, True) if p.ge is not None else (None, False)


def _upper(p: sg.Param) -> tuple[float | None, bool]:
    if p.lt is not None:
        return p.lt, False
    return (p.le, True) if p.le is not None else (None, False)


def _integer_range(p: sg.Param) -> tuple[int, int]:
    """The first and last allowed whole numbers (integer parameters have an upper bound)."""
    lo, lo_incl = _lower(p)
    hi, hi_incl = _upper(p)
    assert hi is not None, "integer parameters must declare an upper bound"
    first = -(2**53) if lo is None else (math.ceil(lo) if lo_incl else math.floor(lo) + 1)
    last = math.floor(hi) if hi_incl else math.ceil(hi) - 1
    return first, last


# Values at which float32 and float16 arithmetic changes regime: a parameter there, or a
# result scaled by it, is tiny, subnormal or overflows in the compute dtype.
_LANDMARKS = [5e-324, 2.2250738585072014e-308, 1e-300, 1.1754943508222875e-38, 1e-30,
              6.103515625e-05, 1e-08, 65504.0, 1e30, 3.4028234663852886e38, 1e300, F64_MAX]


def allowed_extremes(p: sg.Param) -> list[float]:
    """The parameter's allowed values at the edges of its range, and at float landmarks in it."""
    if p.integer:
        first, last = _integer_range(p)
        return sorted({first, last})
    lo, lo_incl = _lower(p)
    hi, hi_incl = _upper(p)
    edges = [
        -F64_MAX if lo is None else (float(lo) if lo_incl else float(np.nextafter(lo, math.inf))),
        F64_MAX if hi is None else (float(hi) if hi_incl else float(np.nextafter(hi, -math.inf))),
    ]
    landmarks = [v for m in _LANDMARKS for v in (m, -m)] + [0.0]
    return sorted({v for v in edges + landmarks if p._in_range(v)})


def beyond_edges(p: sg.Param) -> list[Any]:
    """Values just outside the parameter's range, non-finite values, and integers beyond float."""
    out: list[Any] = [math.nan, math.inf, -math.inf, 10**400, -(10**400)]
    lo, lo_incl = _lower(p)
    hi, hi_incl = _upper(p)
    if p.integer:
        first, last = _integer_range(p)
        out += [first - 1, last + 1, 10**300, float(last + 1)]
        if last > first:
            out.append(first + 0.5)  # inside the range, not a whole number
        return out
    if lo is not None:
        out.append(float(np.nextafter(lo, -math.inf)) if lo_incl else float(lo))
    if hi is not None:
        out.append(float(np.nextafter(hi, math.inf)) if hi_incl else float(hi))
    return out


def param_values(p: sg.Param) -> st.SearchStrategy[Any]:
    """Any allowed value of a parameter (hypothesis favours the edges)."""
    if p.integer:
        first, last = _integer_range(p)
        return st.integers(first, last)
    lo, lo_incl = _lower(p)
    hi, hi_incl = _upper(p)
    return st.floats(
        min_value=lo, max_value=hi,
        exclude_min=lo is not None and not lo_incl, exclude_max=hi is not None and not hi_incl,
        allow_nan=False, allow_infinity=False,
    )


def surrogates(classes=SURROGATE_CLASSES) -> st.SearchStrategy[Any]:
    """A surrogate of any registered class with parameters drawn across their whole ranges."""

    def build(cls):
        values = st.fixed_dictionaries({p.name: param_values(p) for p in cls._params})
        return values.map(lambda kw: cls(**kw))

    return st.sampled_from(classes).flatmap(build)


def range_error(cls: type, p: sg.Param) -> str:
    """The pattern of the ValueError for an invalid value of ``p``: it names both."""
    return rf"{cls.__name__}: {p.name}=.*{re.escape(p.range_text())}"


class Ranged(sg.Surrogate):
    """A user surrogate with a closed range and a bounded integer, validated like the catalogue."""

    a = sg.Param(0.5, ge=0, le=1)
    n = sg.Param(3, ge=1, le=5, integer=True)

    def grad(x, a, n, *, xp):
        return a * n * xp.exp(-xp.abs(x))


PARAM_CLASSES = [*SURROGATE_CLASSES, Ranged]


def _functional(cls):
    return getattr(sg, cls.registry_name) if cls.registry_name else None


# ------------------------------------------------------------- parameters: values and ranges


@pytest.mark.parametrize("cls", PARAM_CLASSES)
def test_values_beyond_the_range_raise_value_error_naming_it(cls):
    """#10.2: every way of building a surrogate refuses every value outside the declared range."""
    defaults = [p.default for p in cls._params]
    for i, p in enumerate(cls._params):
        for value in beyond_edges(p):
            positional = defaults[:i] + [value]
            builders = [
                lambda: cls(**{p.name: value}),
                lambda: cls(*positional),
                lambda: cls().replace(**{p.name: value}),
            ]
            if cls.registry_name:
                builders += [
                    lambda: sg.get(cls.registry_name, **{p.name: value}),
                    lambda: _functional(cls)(np.zeros(2), **{p.name: value}),
                ]
            for build in builders:
                with pytest.raises(ValueError, match=range_error(cls, p)):
                    build()


@pytest.mark.parametrize("cls", PARAM_CLASSES)
def test_allowed_extremes_are_accepted_as_plain_numbers(cls):
    """Values at the edges are accepted, stored as Python int/float, and round-trip."""
    for p in cls._params:
        for value in allowed_extremes(p):
            s = cls(**{p.name: value})
            stored = s.params[p.name]
            assert type(stored) is (int if p.integer else float) and stored == value
            assert cls().replace(**{p.name: value}) == s
            assert pickle.loads(pickle.dumps(s)) == s
            if cls.registry_name:
                assert sg.get(cls.registry_name, **{p.name: value}) == s
                assert eval(repr(s), vars(sg)) == s  # noqa: S307 - the repr of a value
                assert hash(eval(repr(s), vars(sg))) == hash(s)  # noqa: S307


# g' a clip of x: PyTorch's clip passes no gradient to a NaN, JAX's clamp passes it on
_G2_OF_NAN_IS_0_IN_TORCH = {"LogTailedRelu", "FakeNumericalGradient"}


@needs_torch
@needs_jax
@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_second_derivative_at_nan_is_the_same_in_jax_and_pytorch(cls):
    """g''(NaN): NaN where g' computes with x (JAX's ``grad`` of g', ``hessian`` of the spike
    and PyTorch's double backward alike), 0 where g' is piecewise constant (JAX gave 1, the
    derivative of the NaN it passes through; PyTorch 0) and, in PyTorch, where g' is a
    ``clip`` of x. PyTorch's guard against infinities (a ``clamp``) made it 0 for most
    surrogates; its ``maximum`` and ``minimum`` pass the NaN on."""
    import jax
    import jax.numpy as jnp
    import torch

    s = cls()
    x = jnp.array([np.nan], jnp.float32)
    of_g_prime = float(jax.grad(lambda v: s.surrogate_grad(v).sum())(x)[0])
    hessian = float(jax.hessian(lambda v: s(v).sum())(x)[0, 0])
    xt = torch.tensor([np.nan], requires_grad=True)
    (first,) = torch.autograd.grad(s(xt).sum(), xt, create_graph=True)
    double = float(torch.autograd.grad(first.sum(), xt)[0])
    assert math.isnan(float(first)) and math.isnan(float(s.surrogate_grad(x)[0]))
    np.testing.assert_array_equal(of_g_prime, hessian)
    if cls.__name__ in _G2_OF_NAN_IS_0_IN_TORCH:
        assert math.isnan(of_g_prime) and double == 0.0
    else:
        np.testing.assert_array_equal(double, of_g_prime)
        assert math.isnan(double) or double == 0.0


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_allowed_extremes_never_give_nan(cls):
    """An allowed parameter never turns a finite x into NaN: results may round to 0 or
    overflow to inf where the true value does, but NaN is a silent wrong number (#10.2)."""
    bad = []
    for p in cls._params:
        for value in allowed_extremes(p):
            s = cls(**{p.name: value})
            for dtype in ("float64", "float32", "float16"):
                info = np.finfo(dtype)
                x = np.asarray([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 100.0, -100.0,
                                float(info.tiny), -float(info.tiny), float(info.max),
                                -float(info.max)], dtype)
                outs = [s.surrogate_grad(x), s.surrogate_fun(x)] if s.primitive else [
                    s.surrogate_grad(x)]
                for out in outs:
                    if np.isnan(out).any():
                        bad.append(f"{p.name}={value!r} {dtype}: x={x[np.isnan(out)].tolist()}")
    assert not bad, f"{cls.__name__}: NaN at " + "; ".join(bad[:6])


def _wrong_type_params() -> list[Any]:
    values: list[Any] = ["1.0", b"1", None, object(), True, False, np.bool_(True), 1j,
                         np.complex64(1), [1.0], (1.0,), {}, {1.0}, np.ones(2), np.ones(1),
                         np.asarray(True), np.asarray(1j), np.asarray([[1.0]])]
    if HAS_TORCH:
        import torch

        values += [torch.tensor(True), torch.ones(2), torch.tensor(1j)]
    if HAS_JAX:
        import jax.numpy as jnp

        values += [jnp.asarray(True), jnp.ones(2)]
    return values


@pytest.mark.parametrize("value", _wrong_type_params(), ids=lambda v: type(v).__name__)
def test_parameters_of_the_wrong_type_raise_type_error(value):
    """Strings, bools (Python, NumPy, tensors), complex numbers, containers, non-scalar arrays."""
    for cls in PARAM_CLASSES:
        for p in cls._params:
            with pytest.raises(TypeError, match=f"{cls.__name__}: {p.name}"):
                cls(**{p.name: value})


def _numeric_forms() -> dict[str, Any]:
    """Ways to write a number: ``value -> object`` that spikegrad must read as that number."""
    forms: dict[str, Any] = {
        "int": int, "float": float, "np.float16": np.float16, "np.float32": np.float32,
        "np.float64": np.float64, "np.int64": np.int64, "0-d numpy": np.asarray,
    }
    if HAS_TORCH:
        import torch

        forms["0-d torch"] = torch.tensor
        forms["torch requires_grad"] = lambda v: torch.tensor(float(v), requires_grad=True)
    if HAS_JAX:
        import jax.numpy as jnp

        forms["0-d jax"] = jnp.asarray
    if importlib.util.find_spec("array_api_strict") is not None:
        import array_api_strict

        forms["0-d array_api_strict"] = array_api_strict.asarray
    return forms


@pytest.mark.parametrize("form", list(_numeric_forms()))
def test_numpy_scalars_and_0d_arrays_are_read_as_numbers(form):
    """#10.2: NumPy scalars and 0-d arrays of every framework give plain Python numbers."""
    make = _numeric_forms()[form]
    for cls in PARAM_CLASSES:
        for p in cls._params:
            if form in ("int", "np.int64") and not p.integer:
                continue  # a float default written as an int would be another value
            obj = make(p.default)
            expected = float(obj.detach()) if hasattr(obj, "detach") else float(obj)
            if not p._in_range(expected):
                continue  # e.g. a tiny default that float16 rounds to 0
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # float() of a tensor requiring grad warns
                s = cls(**{p.name: obj})
            stored = s.params[p.name]
            assert type(stored) is (int if p.integer else float) and stored == expected


def test_negative_zero_is_normalised():
    """#10.2: -0.0 becomes 0.0, in every numeric form: one value, one repr, one hash."""
    checked = 0
    for cls in PARAM_CLASSES:
        for p in cls._params:
            if p.integer or not p._in_range(0.0):
                continue
            zero = cls(**{p.name: 0.0})
            for form, make in _numeric_forms().items():
                if form in ("int", "np.int64"):
                    continue
                s = cls(**{p.name: make(-0.0)})
                assert math.copysign(1.0, s.params[p.name]) == 1.0, (cls, p.name, form)
                assert s == zero and hash(s) == hash(zero) and repr(s) == repr(zero)
                assert "-0.0" not in repr(s)
                checked += 1
    assert checked  # Ranged.a allows 0 whatever the catalogue's ranges become


def test_integer_parameters_must_declare_an_upper_bound():
    """#10.2: a structural parameter without an upper bound is refused at declaration."""
    for bounds in ({"ge": 1}, {}, {"gt": 0}):
        with pytest.raises(TypeError, match=r"^Terms: n is an integer .*needs an upper bound, "
                                            r"le=\.\.\. or lt=\.\.\."):
            class Terms(sg.Surrogate):
                n = sg.Param(2, integer=True, **bounds)
    for bounds in ({"ge": 1, "le": 3}, {"ge": 1, "lt": 3}):
        class Bounded(sg.Surrogate):
            n = sg.Param(2, integer=True, **bounds)
        assert Bounded.n.default == 2


@pytest.mark.parametrize("value", [10**300, 10**400, -(10**400), 2**1024, 1e300, 2**63])
def test_huge_integer_parameters_are_refused_at_construction(value):
    """#10.2: SquarewaveFourierSeries(n=10**300) used to hang; now every integer parameter
    refuses values beyond its bound at once, with a ValueError (never OverflowError)."""
    for cls in PARAM_CLASSES:
        for p in cls._params:
            if p.integer:
                with pytest.raises(ValueError, match=range_error(cls, p)):
                    cls(**{p.name: value})
    n = sg.SquarewaveFourierSeries._params[sg.SquarewaveFourierSeries._param_index["n"]]
    with pytest.raises(ValueError, match=range_error(sg.SquarewaveFourierSeries, n)):
        sg.SquarewaveFourierSeries(n=value)  # the reproducer of #10.2


@pytest.mark.parametrize("value", [1, 0, None, "True", np.True_, np.bool_(False), 1.0])
def test_origin_must_be_a_python_bool(value):
    s = sg.Sigmoid()
    for set_origin in (
        lambda: sg.Sigmoid(origin=value),
        lambda: setattr(s, "origin", value),
        lambda: s.replace(origin=value),
        lambda: sg.get("sigmoid", origin=value),
    ):
        with pytest.raises(TypeError, match="origin must be True or False"):
            set_origin()
    assert s.origin is False


@pytest.mark.parametrize("cls", PARAM_CLASSES)
def test_parameters_are_read_only(cls):
    s = cls()
    for p in cls._params:
        with pytest.raises(AttributeError, match=f"{cls.__name__}.{p.name} cannot be changed"):
            setattr(s, p.name, p.default)
    assert s == cls()


# ---------------------------------------------------------------- tensors as parameters


@needs_torch
def test_meta_tensor_parameter_raises_type_error():
    """A meta tensor has no value to read."""
    import torch

    with pytest.raises(TypeError, match="Sigmoid: alpha"):
        sg.Sigmoid(alpha=torch.tensor(2.0, device="meta"))


def _exception_chain(exc: BaseException) -> str:
    seen, texts = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


_COMPILE_PARAM_TEXT = (
    "Sigmoid: alpha is a torch.Tensor, whose value cannot be read while torch.compile traces"
)


@needs_torch
@pytest.mark.parametrize("build", ["class", "functional"])
def test_tensor_parameter_under_compile_fullgraph_says_what_to_pass(build):
    """#10.5: a tensor parameter while torch.compile traces is a TypeError at construction."""
    import torch

    alpha = torch.nn.Parameter(torch.tensor(3.0))
    fn = (lambda v: sg.Sigmoid(alpha=alpha)(v)) if build == "class" else (
        lambda v: sg.sigmoid(v, alpha))
    torch._dynamo.reset()
    with pytest.raises(Exception) as info:  # noqa: PT011 - Dynamo wraps the TypeError
        torch.compile(fn, fullgraph=True, backend="eager")(torch.randn(8))
    chain = _exception_chain(info.value)
    assert "TypeError" in chain and _COMPILE_PARAM_TEXT in chain
    assert "pass a Python float, or build the surrogate outside the compiled function" in chain
    # Outside torch.compile the same tensor is read once, as a float.
    assert sg.Sigmoid(alpha=alpha) == sg.Sigmoid(alpha=3.0)


@needs_torch
def test_tensor_parameter_under_default_compile_fails_clearly_or_works():
    """Without fullgraph, Dynamo inspects the half-built surrogate: no internal error."""
    import torch

    alpha = torch.tensor(3.0)
    torch._dynamo.reset()
    x = torch.linspace(-1, 1, 8)
    try:
        out = torch.compile(lambda v: sg.Sigmoid(alpha=alpha)(v), backend="eager")(x)
    except Exception as exc:  # noqa: BLE001 - which exception is the point
        assert _COMPILE_PARAM_TEXT in _exception_chain(exc)
    else:
        assert torch.equal(out, (x >= 0).float())


# ------------------------------------------------------------------- value semantics (#10.3)

WITH_PRIMITIVE = [c for c in SURROGATE_CLASSES if c.primitive is not None]


@pytest.mark.parametrize("cls", WITH_PRIMITIVE)
def test_origin_is_part_of_equality_and_hash(cls):
    a, b = cls(), cls(origin=True)
    assert a != b and len({a, b}) == 2
    assert a.replace(origin=True) == b and b.replace(origin=False) == a
    assert a.replace() == a and a.replace() is not a


@pytest.mark.parametrize("cls", WITH_PRIMITIVE)
def test_origin_is_frozen_once_hashed(cls):
    s = cls()
    s.origin = True  # braintools style: allowed until the object is used as a key
    s.origin = False
    cache = {s: "spike"}
    s.origin = False  # the same value: nothing changes
    with pytest.raises(AttributeError, match=r"s\.replace\(origin=True\)"):
        s.origin = True
    assert s.origin is False and cache[cls()] == "spike"
    t = s.replace(origin=True)
    assert t is not s and t.origin is True and s.origin is False and t not in cache


@needs_jax
@pytest.mark.usefixtures("jax_x64")
def test_jit_static_argument_never_returns_a_stale_result():
    """#10.3: the jit cache keyed on a surrogate sees origin; mutation after use is refused."""
    import jax
    import jax.numpy as jnp

    h = jax.jit(lambda v, s: s(v), static_argnums=1)
    values = np.linspace(-2, 2, 9)
    x = jnp.asarray(values)
    for cls in WITH_PRIMITIVE:
        s = cls()
        np.testing.assert_array_equal(np.asarray(h(x, s)), values >= 0)
        with pytest.raises(AttributeError, match=r"replace\(origin=True\)"):
            s.origin = True
        g = np.asarray(h(x, cls(origin=True)))
        np.testing.assert_allclose(g, cls().surrogate_fun(values), rtol=1e-12, atol=1e-300)
        np.testing.assert_array_equal(np.asarray(h(x, s.replace(origin=True))), g)
        np.testing.assert_array_equal(np.asarray(h(x, s)), values >= 0)


def test_replace_validates_like_the_constructor():
    s = sg.Sigmoid(alpha=2.0)
    with pytest.raises(TypeError, match="Sigmoid has no parameter 'beta'"):
        s.replace(beta=1.0)
    with pytest.raises(ValueError, match=range_error(sg.Sigmoid, sg.Sigmoid._params[0])):
        s.replace(alpha=-1.0)

    class NoPrimitive(sg.Surrogate):
        def grad(x, *, xp):
            return xp.ones_like(x)

    with pytest.raises(TypeError, match="origin=True is unavailable"):
        NoPrimitive().replace(origin=True)
    assert s.replace(alpha=3.0) == sg.Sigmoid(alpha=3.0) and s == sg.Sigmoid(alpha=2.0)


# ------------------------------------------------------------------------- adversarial inputs

_BFLOAT16 = {"max": (2 - 2**-7) * 2.0**127, "tiny": 2.0**-126, "sub": 2.0**-133, "eps": 2.0**-7}


def finfo(dtype: str) -> dict[str, float]:
    if dtype == "bfloat16":
        return _BFLOAT16
    info = np.finfo(dtype)
    return {"max": float(info.max), "tiny": float(info.tiny),
            "sub": float(info.smallest_subnormal), "eps": float(info.eps)}


def special_values(dtype: str) -> np.ndarray:
    """NaN, infinities, signed zeros, subnormals and the dtype's extremes (exact in ``dtype``)."""
    i = finfo(dtype)
    v = [0.0, i["sub"], i["tiny"], i["eps"], 0.5, 1.0, 3.0, 1e3 if dtype != "float16" else 6e4,
         i["max"], math.inf]
    return np.asarray([math.nan, *v, *(-np.asarray(v))], dtype=np.float64)


def device_of(a: Any) -> Any:
    return array_api_compat.device(a)


def assert_like(out: Any, x: Any, backend) -> None:
    """``out`` has ``x``'s framework, dtype, shape and device."""
    assert type(out) is type(x) or backend.name == "jax", (type(out), type(x))
    assert backend.dtype_name(out) == backend.dtype_name(x)
    assert tuple(out.shape) == tuple(x.shape)
    assert device_of(out) == device_of(x)


def assert_spikes(got: np.ndarray, values: np.ndarray, dtype: str, backend) -> None:
    """``got`` is the spike ``values >= 0`` (NaN -> 0). XLA on the CPU may flush a subnormal
    to zero (it does in some fused loops and not in others): in JAX a negative subnormal may
    spike."""
    expected = (values >= 0).astype(np.float64)
    check = np.ones(values.shape, bool)
    if backend.name == "jax":
        check &= ~((values < 0) & (values > -finfo(dtype)["tiny"]))
        assert np.isin(got[~check], (0.0, 1.0)).all()
    np.testing.assert_array_equal(got[check], expected[check])


@ATTACK
@given(data=st.data())
def test_special_values_on_every_entry_point(backend, data):
    """#10.6 and the spike: NaN gives NaN for g, g' and vjp and 0 for the spike; results keep
    x's dtype and shape for every allowed parameter; at the default parameters every finite x
    (dtype extremes and subnormals included) gives finite g, g' and vjp."""
    s = data.draw(surrogates(), label="surrogate")
    cls = type(s)
    dtype = data.draw(st.sampled_from(backend.dtypes), label="dtype")
    values = special_values(dtype)
    x = backend.array(values, dtype)
    ct = backend.array(np.linspace(-2.0, 2.0, values.size), dtype)
    nan = np.isnan(values)

    spikes = s(x)
    assert_like(spikes, x, backend)
    assert_spikes(backend.to_numpy(spikes), values, dtype, backend)
    np.testing.assert_array_equal(
        backend.to_numpy(_functional(cls)(x, **s.params)), backend.to_numpy(spikes))

    for name, s_ in (("drawn", s), ("default", cls())):
        outs = {"grad": s_.surrogate_grad(x), "vjp": s_.vjp(x, ct)}
        if s_.primitive is not None:
            outs["fun"] = s_.surrogate_fun(x)
        for what, out in outs.items():
            assert_like(out, x, backend)
            got = backend.to_numpy(out)
            assert np.isnan(got[nan]).all(), f"{s_!r}.{what}(nan) is {got[nan]}"
            if name == "default":
                finite = np.isfinite(values)
                assert np.isfinite(got[finite]).all(), (
                    f"{s_!r}.{what} at {values[finite][~np.isfinite(got[finite])]}")


SMALLEST_POSITIVE = [(cls, p.name) for cls in SURROGATE_CLASSES for p in cls._params
                     if not p.integer and p.ge is not None and 0 < p.ge < 1e-20]


def test_positive_parameters_that_multiply_x_have_a_smallest_value():
    """The positive parameters that multiply x, which braintools bounds only by 0, have 1e-30 as
    their smallest value, with the usual error below it (where alpha times a constant of the
    formula rounds to 0 in float32, g and g' at +-inf were 0 * inf = NaN)."""
    assert {(cls.__name__, name) for cls, name in SMALLEST_POSITIVE} == {
        ("AlgebraicSigmoid", "alpha"), ("Arctan", "alpha"), ("ERF", "alpha"),
        ("FakeNumericalGradient", "alpha"), ("NonzeroSignLog", "alpha"),
        ("PiecewiseExp", "alpha"), ("PiecewiseQuadratic", "alpha"), ("QPseudoSpike", "alpha"),
        ("S2NN", "alpha"), ("S2NN", "beta"), ("Sigmoid", "alpha"), ("SoftSign", "alpha")}
    for cls, name in SMALLEST_POSITIVE:
        assert getattr(cls, name).ge == 1e-30
        with pytest.raises(ValueError, match=rf"{name}=1e-31 is out of range; allowed: 1e-30 <="):
            cls(**{name: 1e-31})


@pytest.mark.parametrize(("cls", "name"), SMALLEST_POSITIVE,
                         ids=[f"{cls.__name__}-{name}" for cls, name in SMALLEST_POSITIVE])
def test_infinite_inputs_at_the_smallest_parameter_values(backend, cls, name):
    """At the smallest allowed value of a positive parameter that multiplies x, g, g', the vjp
    and the spike's gradient at +-inf are numbers, in float32 (whose products with 1e-30 are
    normal numbers, which XLA does not flush to zero) and float64, not the NaN of 0 * inf."""
    s = cls(**{name: getattr(cls, name).ge})
    for dtype in ("float32", "float64"):
        if dtype not in backend.dtypes:
            continue
        x = backend.array(np.asarray([-math.inf, math.inf]), dtype)
        outs = {"grad": s.surrogate_grad(x), "vjp": s.vjp(x, backend.array(np.ones(2), dtype))}
        if s.primitive is not None:
            outs["fun"] = s.surrogate_fun(x)
        if backend.name == "torch":
            import torch

            xt = x.clone().requires_grad_()
            (outs["autograd"],) = torch.autograd.grad(s(xt).sum(), xt)
        elif backend.name == "jax":
            import jax

            outs["jax.grad"] = jax.grad(lambda v: s(v).sum())(x)
        for what, out in outs.items():
            got = backend.to_numpy(out)
            assert not np.isnan(got).any(), f"{s!r}.{what} at -inf, inf in {dtype}: {got}"


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_infinite_inputs_give_the_limit(cls):
    """Where g or g' settles to a value as x grows (checked from 1e6 to the largest float),
    its value at infinity is that value, not NaN. (A periodic g' has no limit: NaN there.)
    Also with each parameter that may be 0 at 0: a slope of 0 makes g flat, whose limit is
    its value (LeakyRelu(alpha=0).surrogate_fun(-inf) was 0 * -inf = NaN)."""
    zeros = [cls(**{p.name: 0.0}) for p in cls._params if not p.integer and p._in_range(0.0)]
    for s in [cls(), *zeros]:
        _assert_settled_at_infinity(s)


def test_a_nan_trained_slope_is_not_hidden():
    """The limit 0 of a flat tail is taken at infinite x only: a diverged (NaN) trained slope
    gives NaN at every finite x, as it should, not 0."""
    torch = pytest.importorskip("torch")
    x = torch.tensor([-2.0, -1.0, 1.0, 2.0], dtype=torch.float64)
    for cls, name in ((sg.LeakyRelu, "alpha"), (sg.LogTailedRelu, "alpha"),
                      (sg.PiecewiseLeakyRelu, "c")):
        s = cls(**{name: torch.tensor(math.nan, dtype=torch.float64)}, trainable=(name,))
        g = s.surrogate_fun(x)
        assert torch.isnan(g[0]), (cls, g)  # x = -2 lies in every left tail


def _assert_settled_at_infinity(s: sg.Surrogate) -> None:
    # Far points off every period (x >= 2**56 is a multiple of 8), then the largest floats.
    far = np.asarray([1e6 + 0.3, 1e7 + 0.7, 1e100, 1e200, F64_MAX])
    for sign in (1.0, -1.0):
        for method in (s.surrogate_grad, s.surrogate_fun) if s.primitive else (s.surrogate_grad,):
            tail = method(sign * far)
            at_inf = float(method(np.asarray([sign * math.inf]))[0])
            limit = float(tail[-1])
            if np.all(tail == limit) or (
                math.isfinite(limit) and np.allclose(tail, limit, rtol=1e-6, atol=1e-6)
            ):  # settled (a periodic or growing g has not)
                assert at_inf == limit or np.isclose(at_inf, limit, rtol=1e-6, atol=1e-6), (
                    f"{s!r}.{method.__name__}({sign * math.inf}) = {at_inf}, limit {limit}")


@pytest.mark.parametrize("layout", ["0-d", "empty", "empty-3d", "strided", "transposed",
                                    "broadcast"])
@settings(ATTACK, max_examples=8)
@given(data=st.data())
def test_shapes_and_layouts(backend, layout, data):
    """0-d, empty, strided, transposed and broadcast (stride 0) inputs: results of x's shape,
    equal to the results on a contiguous copy."""
    s = data.draw(surrogates(), label="surrogate")
    dtype = "float32"
    base = backend.array(np.linspace(-3, 3, 48).reshape(8, 6), dtype)
    xp = array_api_compat.array_namespace(base)
    x = {
        "0-d": backend.array(np.asarray(0.25), dtype),
        "empty": backend.array(np.zeros(0), dtype),
        "empty-3d": backend.array(np.zeros((2, 0, 3)), dtype),
        "strided": base[::2, ::3],
        "transposed": base.T,
        "broadcast": xp.broadcast_to(base[:1, :], (5, 6)),
    }[layout]
    values = backend.to_numpy(x)
    contiguous = backend.array(np.array(values, order="C", copy=True), dtype)
    ct = backend.array(np.ones_like(values) * 0.75, dtype)
    calls = [s.__call__, s.surrogate_grad, lambda v: s.vjp(v, ct)]
    if s.primitive is not None:
        calls.append(s.surrogate_fun)
    for call in calls:
        out = call(x)
        assert tuple(out.shape) == values.shape and backend.dtype_name(out) == dtype
        # (PyTorch vectorises contiguous loops only: its exp may differ there by an ulp)
        np.testing.assert_allclose(backend.to_numpy(out), backend.to_numpy(call(contiguous)),
                                   rtol=4 * EPS32, atol=0)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool", "complex64"])
def test_non_floating_arrays_raise_type_error_everywhere(backend, dtype):
    """x and the cotangent, through every entry point: TypeError saying what to pass."""
    try:
        bad = backend.array(np.asarray([0, 1, 1]).astype(dtype), dtype)
    except (TypeError, ValueError, AttributeError):
        pytest.skip(f"{backend.name} has no {dtype}")
    good = backend.array(np.zeros(3), "float32")
    pattern = f"real floating arrays.*got dtype .*{dtype}.*Convert first"
    for cls in SURROGATE_CLASSES:
        s = cls()
        calls = [s, s.surrogate_grad, lambda v: s.vjp(v, good), lambda v: s.vjp(good, v),
                 _functional(cls)]
        if s.primitive is not None:
            calls.append(s.surrogate_fun)
        for call in calls:
            with pytest.raises(TypeError, match=pattern):
                call(bad)


_NOT_ARRAYS = {
    "None": None, "str": "0.5", "bytes": b"0", "object": object(), "dict": {}, "set": {1.0},
    "int": 1, "bool": True, "complex": 1j, "int list": [1, 2], "bool list": [True],
    "complex list": [1j], "None list": [None], "str list": ["a"], "object list": [object()],
}


@pytest.mark.filterwarnings("ignore:Data type alias:DeprecationWarning")  # JAX reads 'a'
@pytest.mark.parametrize("what", list(_NOT_ARRAYS))
@pytest.mark.parametrize("forced", ["auto", "numpy", "array_api", "jax", "torch"])
def test_non_arrays_raise_type_error(forced, what):
    """Non-arrays and lists of non-numbers, with the backend chosen from the type or forced
    (the PyTorch and JAX adapters convert lists themselves)."""
    if forced in ("jax", "torch") and importlib.util.find_spec(forced) is None:
        pytest.skip(f"{forced} is not installed")
    value = _NOT_ARRAYS[what]
    s = sg.Sigmoid()
    with sg.backend(forced):
        for call in (s, s.surrogate_grad, s.surrogate_fun, lambda v: s.vjp(v, v), sg.sigmoid):
            with pytest.raises(TypeError):
                call(value)


@pytest.mark.parametrize("forced", ["auto", "numpy", "jax", "torch"])
def test_nested_lists_work_and_ragged_ones_raise_value_error(forced):
    if forced in ("jax", "torch") and importlib.util.find_spec(forced) is None:
        pytest.skip(f"{forced} is not installed")
    with sg.backend(forced):
        out = sg.sigmoid([[0.0, -1.0], [2.0, math.nan]])
        with pytest.raises(ValueError):  # a bad shape, as NumPy, JAX and PyTorch say
            sg.Sigmoid().surrogate_grad([[0.0], [1.0, 2.0]])
    assert tuple(out.shape) == (2, 2)
    np.testing.assert_array_equal(np.asarray(out, dtype=np.float64), [[1.0, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize(
    "x_shape, ct_shape",
    [((4,), (4, 1)), ((4,), (1,)), ((4,), ()), ((), (1,)), ((2, 3), (3, 2)), ((2, 3), (3,)),
     ((0,), (1,)), ((1,), (0,))],
)
def test_vjp_cotangent_of_another_shape_raises_value_error(backend, x_shape, ct_shape):
    """#10.8: no silent broadcasting; the message names both shapes."""
    x = backend.array(np.zeros(x_shape), "float32")
    ct = backend.array(np.ones(ct_shape), "float32")
    pattern = rf"cotangent has shape {re.escape(str(ct_shape))} but x has shape " \
              rf"{re.escape(str(x_shape))}"
    for cls in SURROGATE_CLASSES:
        with pytest.raises(ValueError, match=pattern):
            cls().vjp(x, ct)


@pytest.mark.parametrize("what", ["None", "object", "str", "None list"])
def test_vjp_cotangent_of_the_wrong_type_raises_type_error(backend, what):
    """None is not 'no cotangent' (it used to return g'(x) on NumPy)."""
    value = {"None": None, "object": object(), "str": "1.0", "None list": [None] * 3}[what]
    x = backend.array(np.zeros(3), "float32")
    with pytest.raises(TypeError):
        sg.Sigmoid().vjp(x, value)


def test_vjp_cotangent_of_another_dtype_gives_x_dtype(backend):
    for x_dtype in backend.dtypes:
        for ct_dtype in backend.dtypes:
            x = backend.array(np.linspace(-1, 1, 5), x_dtype)
            ct = backend.array(np.full(5, 0.5), ct_dtype)
            out = sg.Arctan().vjp(x, ct)
            assert_like(out, x, backend)


def _other_float_dtypes() -> list[Any]:
    """Arrays of floating dtypes outside the four spikegrad computes with."""
    cases: list[Any] = []
    if importlib.util.find_spec("ml_dtypes") is not None:  # NumPy's bfloat16 and float8
        import ml_dtypes

        cases += [pytest.param(lambda: np.zeros(3, ml_dtypes.bfloat16), id="numpy bfloat16"),
                  pytest.param(lambda: np.zeros(3, ml_dtypes.float8_e4m3fn), id="numpy float8")]
    if np.finfo(np.longdouble).bits > 64:  # (on some platforms long double is float64)
        cases.append(pytest.param(lambda: np.zeros(3, np.longdouble), id="numpy longdouble"))
    if HAS_TORCH:
        import torch

        cases += [pytest.param(lambda d=d: torch.zeros(3, dtype=d), id=f"torch {d}")
                  for d in (torch.float8_e4m3fn, torch.float8_e5m2)]
    if HAS_JAX:
        import jax.numpy as jnp

        cases.append(pytest.param(lambda: jnp.zeros(3, jnp.float8_e4m3fn), id="jax float8"))
    return cases


@pytest.mark.parametrize("make", _other_float_dtypes())
def test_other_floating_dtypes_raise_type_error(make):
    """8-bit floats, NumPy's bfloat16 (ml_dtypes) and long double: TypeError everywhere (the
    PyTorch spike of float8 used to be PyTorch's NotImplementedError, g' a float8 result)."""
    x = make()
    s = sg.Sigmoid()
    for call in (s, s.surrogate_grad, s.surrogate_fun, lambda v: s.vjp(v, v), sg.sigmoid):
        # spikegrad's message (NumPy's bfloat16 was NumPy's "dtype argument must be a NumPy dtype")
        with pytest.raises(TypeError, match="take real floating arrays .* Convert first"):
            call(x)


# ------------------------------------------------------------------------- tensor subclasses


@needs_torch
@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_torch_tensor_subclasses_and_parameters_as_inputs(cls):
    import torch

    class Tagged(torch.Tensor):
        pass

    values = np.linspace(-3, 3, 13)
    s = cls()
    gp = s.surrogate_grad(values)
    ct = torch.linspace(-1, 1, 13, dtype=torch.float64)
    for x in (torch.tensor(values).as_subclass(Tagged).requires_grad_(),
              torch.nn.Parameter(torch.tensor(values))):
        out = s(x)
        assert out.shape == x.shape and out.dtype == x.dtype
        np.testing.assert_array_equal(out.detach().numpy(), values >= 0)
        (dx,) = torch.autograd.grad(out, x, ct)
        np.testing.assert_allclose(dx.detach().numpy(), ct.numpy() * gp, rtol=1e-12, atol=0)
        np.testing.assert_allclose(s.surrogate_grad(x).detach().numpy(), gp, rtol=1e-12, atol=0)


def test_numpy_subclass_inputs():
    class Tagged(np.ndarray):
        pass

    values = np.linspace(-3, 3, 13)
    x = values.view(Tagged)
    for cls in SURROGATE_CLASSES:
        s = cls()
        np.testing.assert_array_equal(s(x), values >= 0)
        np.testing.assert_array_equal(s.surrogate_grad(x), s.surrogate_grad(values))
        np.testing.assert_array_equal(s.vjp(x, x), s.vjp(values, values))


@needs_torch
@pytest.mark.slow
def test_fake_and_meta_tensors_take_the_eager_path_in_a_subprocess():
    """#10.1: the fused backward used to segfault on fake tensors (FakeTensorMode, what
    torch.export and compilation use). In a subprocess, so that a regression cannot kill pytest."""
    code = textwrap.dedent(
        """
        import torch, spikegrad as sg
        from spikegrad import _config
        from torch._subclasses.fake_tensor import FakeTensorMode

        def check(make, what):
            for name in sg.available():
                x = make()
                s = sg.get(name)
                y = s(x)
                y.backward(torch.ones_like(x))
                for out in (y, x.grad, s.surrogate_grad(x.detach()),
                            s.vjp(x.detach(), torch.ones_like(x))):
                    assert type(out) is type(x), (what, name, type(out))
                    assert out.shape == x.shape and out.dtype == x.dtype, (what, name)
                    assert out.device == x.device, (what, name, out.device)

        with FakeTensorMode():
            check(lambda: torch.randn(1 << 20, requires_grad=True), "fake, 2**20")
            with _config.torch_fuse_mode("always"):
                check(lambda: torch.randn(8, requires_grad=True), "fake, fuse always")
        meta = lambda n: torch.empty(n, device="meta", requires_grad=True)
        check(lambda: meta(1 << 20), "meta, 2**20")
        with _config.torch_fuse_mode("always"):
            check(lambda: meta(8), "meta, fuse always")
        with FakeTensorMode():  # the reproducer of issue #10.1
            x = torch.randn(1 << 20, requires_grad=True)
            sg.Sigmoid(alpha=2.5)(x).backward(torch.ones_like(x))
            assert x.grad.shape == x.shape
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0 and result.stdout.strip() == "ok", (
        f"exit {result.returncode}: {result.stderr[-3000:]}")


# ----------------------------------------------------------------------- sg.get, sg.nn.Spike


def test_get_refuses_unknown_names_with_the_list():
    for name in ("sigmiod", "SIGMOID", " sigmoid", "", "Surrogate", "_Catalogue"):
        with pytest.raises(ValueError, match=r"unknown surrogate .*; available: algebraic_sigmoid, "
                                             r"arctan"):
            sg.get(name)
    for cls in SURROGATE_CLASSES:
        assert sg.get(cls.registry_name) == sg.get(cls.__name__) == cls()


@pytest.mark.parametrize(
    "name",
    [pytest.param(v, id=type(v).__name__)
     for v in (None, 1, 1.5, b"sigmoid", sg.Sigmoid, sg.Sigmoid(), [])],
)
def test_get_with_a_non_string_name_raises_type_error(name):
    with pytest.raises(TypeError):
        sg.get(name)


@needs_torch
def test_spike_layer_attacks():
    import torch

    Spike = sg.nn.Spike
    for bad in (None, 3.0, sg.Sigmoid, object()):
        with pytest.raises(TypeError, match="a Surrogate or a registered name"):
            Spike(bad)
    with pytest.raises(TypeError, match="a Surrogate or a registered name"):
        Spike(sg.Sigmoid(), alpha=2.0)
    with pytest.raises(ValueError, match="unknown surrogate 'nope'"):
        Spike("nope")
    for cls in SURROGATE_CLASSES:
        for p in cls._params:
            with pytest.raises(ValueError, match=range_error(cls, p)):
                Spike(cls.registry_name, **{p.name: beyond_edges(p)[-1]})
    layer = Spike("arctan", alpha=2.0)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        layer(torch.arange(3))
    x = torch.tensor([math.nan, -1.0, 0.0, 1.0], requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(out.detach().numpy(), [0.0, 0.0, 1.0, 1.0])
    out.sum().backward()
    assert math.isnan(x.grad[0]) and torch.isfinite(x.grad[1:]).all()


# ------------------------------------------------------------ autodiff through special values


@needs_torch
@ATTACK
@given(s=surrogates())
def test_torch_autodiff_of_special_values_is_the_vjp(s):
    """NaN in, NaN gradient out; backward and forward mode agree with vjp everywhere (to
    ``PLAN_ULPS``: vjp and the backward run the plan, forward mode the plain operations)."""
    import torch
    from torch.func import jvp

    values = special_values("float64")
    x = torch.tensor(values, requires_grad=True)
    ct = torch.linspace(-2, 2, values.size, dtype=torch.float64)
    (dx,) = torch.autograd.grad(s(x), x, ct)
    expected = s.vjp(x.detach(), ct).numpy()
    nan = np.isnan(expected)
    for got in (dx.numpy(), jvp(s, (x.detach(),), (ct,))[1].numpy()):
        np.testing.assert_array_equal(np.isnan(got), nan)
        assert_product_close(got[~nan], expected[~nan], "float64", f"{s!r}", ulps=PLAN_ULPS)
    assert np.isnan(dx.numpy()[np.isnan(values)]).all()


@needs_jax
@pytest.mark.usefixtures("jax_x64")
@settings(ATTACK, max_examples=12)  # each example compiles three programs
@given(s=surrogates())
def test_jax_autodiff_of_special_values_is_the_vjp(s):
    import jax
    import jax.numpy as jnp

    values = special_values("float64")
    x = jnp.asarray(values)
    ct = jnp.linspace(-2, 2, values.size)
    expected = np.asarray(s.vjp(x, ct))
    # XLA flushes subnormal inputs to zero: compare where the input is normal or zero.
    normal = ~((np.abs(values) < 2.0**-1022) & (values != 0))
    finite = expected[normal & np.isfinite(expected)]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    for got in (jax.vjp(s, x)[1](ct)[0], jax.jvp(s, (x,), (ct,))[1],
                jax.jit(jax.grad(lambda v: (s(v) * ct).sum()))(x)):
        # XLA fuses the programs differently: a few ulps apart in the far tails, and a few ulps
        # of the terms where a sum cancels to near 0 (a Fourier series between its lobes)
        np.testing.assert_allclose(np.asarray(got)[normal], expected[normal], rtol=1e-12,
                                   atol=1e-14 * scale)
    assert np.isnan(expected[np.isnan(values)]).all()


# ----------------------------------------------------------------- generated kernels (#10.6)


class STE(sg.Surrogate):
    """Straight-through estimator: g' is the Python number 1.0 (#10.7)."""

    def grad(x, *, xp):
        return 1.0

    def primitive(x, *, xp):
        return x + 0.0


class ZeroDimSlope(sg.Surrogate):
    """g' is a 0-d array that broadcasts against x."""

    scale = sg.Param(2.0, gt=0, le=10)

    def grad(x, scale, *, xp):
        return xp.asarray(scale)


class RowSlope(sg.Surrogate):
    """g' is an array of shape ``x.shape[:-1] + (1,)`` that broadcasts against x."""

    def grad(x, *, xp):
        return 0.5 * xp.ones_like(x[..., :1])


SLOPE = {STE: 1.0, ZeroDimSlope: 2.0, RowSlope: 0.5}
KINDS = ("grad", "primitive", "vjp")


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """The registry's and STE's kernels at default parameters, compiled for the CPU."""
    tmp = tmp_path_factory.mktemp("adversarial_kernels")
    built = {}
    for dtype in codegen.DTYPES:
        ks = [codegen.generate(sg.Sigmoid().spec.formula, "forward", dtype)]
        ks += [codegen.generate(cls().spec.formula, kind, dtype)
               for cls in [*SURROGATE_CLASSES, STE] for kind in KINDS]
        built[dtype] = compile_for_cpu(ks, tmp, f"adversarial_{dtype}")
    return built


@pytest.mark.parametrize("dtype", codegen.DTYPES)
def test_generated_kernels_propagate_nan(kernels, dtype):
    """#10.6: the kernels agree with the array backends: NaN gives NaN for g, g' and ct * g'
    (and NaN appears exactly where the NumPy backend has it, at +-inf too); 0 for the spike."""
    values = special_values(dtype)
    x = values.astype(dtype)
    ct = np.linspace(-2, 2, x.size).astype(dtype)
    nan = np.isnan(values)
    for cls in SURROGATE_CLASSES:
        s = cls()
        for kind in KINDS:
            got = run_on_cpu(kernels, s, kind, dtype, x, ct)
            assert got.dtype == np.dtype(dtype) and np.isnan(got[nan]).all(), (cls, kind)
            reference = {"grad": s.surrogate_grad, "primitive": s.surrogate_fun,
                         "vjp": lambda v: s.vjp(v, ct)}[kind](x)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(reference), err_msg=kind)
    spikes = run_on_cpu(kernels, sg.Sigmoid(), "forward", dtype, x)
    np.testing.assert_array_equal(spikes, (values >= 0).astype(dtype))


# ------------------------------------------------------------- constant derivatives (#10.7)


@pytest.mark.parametrize("cls", [STE, ZeroDimSlope, RowSlope])
def test_constant_derivative_on_every_backend(backend, cls):
    """A g' that returns a Python number or a broadcasting array gives x's shape and dtype."""
    s = cls()
    shapes = [(3, 4), (0, 4)] + ([()] if cls is not RowSlope else [])
    for dtype in backend.dtypes:
        for shape in shapes:
            values = np.linspace(-1, 1, int(np.prod(shape))).reshape(shape)
            x = backend.array(values, dtype)
            ct = backend.array(np.full(shape, 0.5), dtype)
            expected = {
                "grad": (s.surrogate_grad(x), np.full(shape, SLOPE[cls])),
                "vjp": (s.vjp(x, ct), np.full(shape, 0.5 * SLOPE[cls])),
                "spike": (s(x), values >= 0),
            }
            if s.primitive is not None:
                expected["fun"] = (s.surrogate_fun(x), backend.to_numpy(x))
            for what, (out, want) in expected.items():
                assert_like(out, x, backend)
                np.testing.assert_array_equal(backend.to_numpy(out), want, err_msg=what)


def _other_device_arrays():
    """Arrays on a device that is not the library's default (no GPU needed)."""
    cases = []
    if importlib.util.find_spec("array_api_strict") is not None:
        import array_api_strict as xps

        cases.append(("array_api_strict device1",
                      lambda: xps.asarray([-1.0, 0.0, 1.0], device=xps.Device("device1"))))
    if HAS_TORCH:
        import torch

        cases.append(("torch meta", lambda: torch.empty(3, device="meta")))
    return cases


@pytest.mark.parametrize("where, make", [pytest.param(*case, id=case[0])
                                         for case in _other_device_arrays()])
@pytest.mark.parametrize("cls", [
    STE, RowSlope, ZeroDimSlope, sg.Sigmoid,
])
def test_results_stay_on_x_device(where, make, cls):
    x = make()
    s = cls()
    outs = [s(x), s.surrogate_grad(x), s.vjp(x, x)]
    if s.primitive is not None:
        outs.append(s.surrogate_fun(x))
    for out in outs:
        assert device_of(out) == device_of(x) and tuple(out.shape) == tuple(x.shape)
    if where == "torch meta":
        import torch

        xr = torch.empty(3, device="meta", requires_grad=True)
        (dx,) = torch.autograd.grad(s(xr).sum(), xr)
        assert dx.device == xr.device


@needs_torch
@pytest.mark.parametrize("cls", [STE, ZeroDimSlope, RowSlope])
def test_constant_derivative_under_torch_autodiff(cls):
    import torch
    from torch.func import grad, jacrev, jvp, vmap

    s = cls()
    slope = SLOPE[cls]
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = torch.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4)
        ct = torch.full_like(x, 0.5)
        xr = x.clone().requires_grad_()
        (first,) = torch.autograd.grad(s(xr), xr, ct, create_graph=True)
        results = {
            "backward": (first, 0.5 * slope),
            "vmap(grad)": (vmap(grad(lambda v: s(v).sum()))(x), slope),
            "jvp": (jvp(s, (x,), (ct,))[1], 0.5 * slope),
            "jacrev": (torch.diagonal(jacrev(s)(x[0])), slope),
            "vjp": (s.vjp(x, ct), 0.5 * slope),
        }
        if first.requires_grad:  # double backward: g'' = 0
            (second,) = torch.autograd.grad(first.sum(), xr, allow_unused=True)
            assert second is None or not second.any()
        for what, (out, want) in results.items():
            assert out.dtype == dtype and out.shape[-1] == x.shape[-1], what
            assert torch.equal(out, torch.full_like(out, want)), (what, out)
    torch._dynamo.reset()
    x = torch.linspace(-1, 1, 12).reshape(3, 4).requires_grad_()
    out = torch.compile(lambda v: s(v) * 3.0, fullgraph=True, backend="aot_eager")(x)
    (dx,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(dx, torch.full_like(x, 3.0 * slope))


@needs_jax
@pytest.mark.usefixtures("jax_x64")
@pytest.mark.parametrize("cls", [STE, ZeroDimSlope, RowSlope])
def test_constant_derivative_under_jax_transforms(cls):
    import jax
    import jax.numpy as jnp

    s = cls()
    slope = SLOPE[cls]
    for dtype in (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64):
        x = jnp.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4)
        ct = jnp.full_like(x, 0.5)
        total = lambda v: s(v).sum()  # noqa: E731
        results = {
            "grad": (jax.grad(total)(x), slope),
            "jit(grad)": (jax.jit(jax.grad(total))(x), slope),
            "vmap(grad)": (jax.vmap(jax.grad(total))(x), slope),
            "jvp": (jax.jvp(s, (x,), (ct,))[1], 0.5 * slope),
            "vjp": (jax.vjp(s, x)[1](ct)[0], 0.5 * slope),
            "hessian": (jax.hessian(total)(x[0]), 0.0),
        }
        for what, (out, want) in results.items():
            assert out.dtype == x.dtype, what
            np.testing.assert_array_equal(np.asarray(out, np.float64), want, err_msg=what)
        assert jax.hessian(total)(x[0]).shape == (4, 4)


class Identity(sg.Surrogate):
    """g(x) = x returned as the input itself (the straight-through estimator's primitive)."""

    def grad(x, *, xp):
        return 1.0

    def primitive(x, *, xp):
        return x


def test_primitive_returning_x_itself(backend):
    """PyTorch refuses a Function that returns its input as-is (it used to raise there)."""
    values = np.linspace(-1, 1, 5)
    x = backend.array(values, "float32")
    s = Identity(origin=True)
    for out in (s(x), s.surrogate_fun(x)):
        assert_like(out, x, backend)
        np.testing.assert_array_equal(backend.to_numpy(out), backend.to_numpy(x))
    if backend.name == "torch":
        import torch

        xr = x.clone().requires_grad_()
        (dx,) = torch.autograd.grad(s(xr), xr, torch.full_like(xr, 0.5))
        assert torch.equal(dx, torch.full_like(xr, 0.5))


@pytest.mark.parametrize("dtype", codegen.DTYPES)
def test_constant_derivative_in_generated_kernels(kernels, dtype):
    x = np.linspace(-2, 2, 9).astype(dtype)
    ct = np.full(9, 0.5, dtype)
    np.testing.assert_array_equal(run_on_cpu(kernels, STE(), "grad", dtype, x), np.ones(9))
    np.testing.assert_array_equal(run_on_cpu(kernels, STE(), "vjp", dtype, x, ct), ct)
    np.testing.assert_array_equal(run_on_cpu(kernels, STE(), "primitive", dtype, x), x)


# -------------------------------------------------------------- 16-bit: rounded once (#10.9)


def round_once(v: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values correctly rounded (to nearest even) to ``dtype``, back in float64."""
    if dtype == "float16":
        return v.astype(np.float16).astype(np.float64)
    mantissa, exponent = np.frexp(v)  # bfloat16: 8 significant bits, float32's exponents
    return np.ldexp(np.round(mantissa * 256.0), exponent - 8)


def assert_rounded_once(got: Any, s: Any, x64: np.ndarray, ct64: np.ndarray, dtype: str) -> None:
    """``got`` is ``ct * g'(x)`` computed in float32 and rounded once to ``dtype``.

    Rounded once, a result can differ from the correctly rounded float64 reference only where
    that reference lies within float32's own error of a rounding boundary: ``got`` must be the
    rounding of a value within that error (bounded by NumPy's float32 evaluation of g', four
    times over, plus a few float32 ulps), and 99% of results must equal the reference exactly.
    Rounded twice (g' to 16 bits, then the product), a quarter of them differ.
    """
    got = np.asarray(got, dtype=np.float64)
    g64 = s.surrogate_grad(x64)
    g32 = s.surrogate_grad(x64.astype(np.float32)).astype(np.float64)
    reference = ct64 * g64
    slack = (np.abs(ct64) * (4 * np.abs(g32 - g64) + 8 * EPS32 * np.abs(g64))
             + 2 * EPS32 * np.abs(reference))
    low, high = round_once(reference - slack, dtype), round_once(reference + slack, dtype)
    outside = ~((low <= got) & (got <= high))
    assert not outside.any(), (
        f"{s!r} {dtype}: x={x64[outside][:5]} got {got[outside][:5]}, "
        f"reference {reference[outside][:5]}")
    assert np.mean(got != round_once(reference, dtype)) <= 0.01


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_16bit_products_are_rounded_once(cls):
    """#10.9: ``cotangent * g'(x)`` in float16/bfloat16 on a grid over [-3, 3] with cotangent
    0.3: torch vjp, backward and jvp; jax.vjp, .vjp and jax.jvp; NumPy (float16)."""
    s = cls()
    grid = np.linspace(-3, 3, 2001)
    for dtype in ("float16", "bfloat16"):
        x64 = round_once(grid, dtype)
        ct64 = round_once(np.full_like(grid, 0.3), dtype)
        paths = {}
        if dtype == "float16":
            paths["numpy vjp"] = s.vjp(x64.astype(np.float16), ct64.astype(np.float16))
        if HAS_TORCH:
            import torch
            from torch.func import jvp

            tdtype = getattr(torch, dtype)
            x, ct = torch.tensor(x64).to(tdtype), torch.tensor(ct64).to(tdtype)
            xr = x.clone().requires_grad_()
            s(xr).backward(ct)
            paths["torch vjp"] = s.vjp(x, ct)
            paths["torch backward"] = xr.grad
            paths["torch jvp"] = jvp(s, (x,), (ct,))[1]
        if HAS_JAX:
            import jax
            import jax.numpy as jnp

            x, ct = jnp.asarray(x64, dtype=dtype), jnp.asarray(ct64, dtype=dtype)
            paths["jax.vjp"] = jax.vjp(s, x)[1](ct)[0]
            paths[".vjp (jax)"] = s.vjp(x, ct)
            paths["jax.jvp"] = jax.jvp(s, (x,), (ct,))[1]
        for path, got in paths.items():
            assert str(got.dtype).endswith(dtype), path
            if hasattr(got, "detach"):
                got = got.detach().double().numpy()
            assert_rounded_once(got, s, x64, ct64, dtype)


def test_relu_grad_primitive_is_zero_left_of_its_support_at_subnormal_scales():
    """g = 0 for x <= -width exactly, also where alpha width^2 is subnormal (a hypothesis case
    of CI: the polynomial summed as written cancelled to alpha times one subnormal rounding);
    g(width) is the whole area alpha width^2."""
    for width in (1.2254088054640357e-156, 1e-3, 1.0, 20.0):
        s = sg.ReluGrad(alpha=100.0, width=width)
        x = np.asarray([-np.inf, -1e300, -2 * width, -width, width, np.inf])
        g = s.surrogate_fun(x)
        assert (g[:4] == 0).all(), (width, g)
        if width * width > np.finfo(np.float64).tiny:  # (a subnormal area keeps few digits)
            np.testing.assert_allclose(g[4:], 100.0 * width * width, rtol=1e-15)
