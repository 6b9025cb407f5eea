"""JAX adapter: the spike as a ``jax.custom_jvp`` whose tangent rule is ``g'(x) * t``.

Why ``custom_jvp`` and not ``custom_vjp``: braintools users rely on forward mode (``jax.jvp``,
``jax.jacfwd``, ``jax.hessian``), which ``custom_vjp`` forbids. A custom JVP rule that is
linear in the tangent is transposed by JAX for reverse mode, so one rule serves ``grad``,
``vjp``, ``jvp``, ``jacfwd``, ``jacrev``, ``linearize`` and higher derivatives; the rule computes
g'(x) with ordinary ``jax.numpy`` operations, so differentiating it again gives g''(x).

Parameters: concrete values (Python floats) are static, part of the compiled function's key;
traced values (``jit`` or ``vmap`` over a parameter) are ordinary arguments, so new values need
no recompilation. Either way the spike's derivative with respect to a parameter is zero.

The math runs inside ``jax.jit``-compiled helpers, cached per surrogate type, static
parameters and mode: called eagerly, a surrogate costs one dispatch per pass, not one per
``jax.numpy`` operation. Under an outer ``jit`` they are inlined and fused by XLA.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from spikegrad._dtypes import needs_float32_compute, not_floating_error
from spikegrad._namespace import MathNamespace
from spikegrad._params import is_traced

NAME = "jax"
ACCEPTS = "a JAX array (or a NumPy array, Python float or list, converted)"

_NS = MathNamespace(jnp, erfc=jax.lax.erfc)
_DYNAMIC = object()  # placeholder for a traced parameter in the static key


def accepts(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, numbers.Real, list, tuple))


def _as_floating(x: Any) -> jax.Array:
    if not isinstance(x, jax.Array):
        x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise not_floating_error(x.dtype, "x.astype(jnp.float32)")
    return x


def _split(s: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(static key, dynamic values): concrete parameters are static, traced ones dynamic."""
    static = tuple(_DYNAMIC if is_traced(v) else v for v in s._param_values)
    dynamic = tuple(v for v in s._param_values if is_traced(v))
    return (type(s), static), dynamic


def _evaluate(fn_name: str, key: tuple[Any, ...], x: jax.Array, dynamic: tuple[Any, ...]) -> Any:
    """Evaluate ``cls.<fn_name>`` (grad or primitive) at x in x's dtype (float32 for 16-bit)."""
    cls, static = key
    values = iter(dynamic)
    params = [next(values) if v is _DYNAMIC else v for v in static]
    dtype = x.dtype
    compute = jnp.float32 if needs_float32_compute(jnp.finfo(dtype).bits) else dtype
    out = getattr(cls, fn_name)(x.astype(compute), *params, xp=_NS)
    return out.astype(dtype)


@functools.partial(jax.jit, static_argnums=(0,))
def _gradient(key: tuple[Any, ...], x: jax.Array, dynamic: tuple[Any, ...]) -> jax.Array:
    return _evaluate("grad", key, x, dynamic)


@functools.partial(jax.jit, static_argnums=(0,))
def _primitive(key: tuple[Any, ...], x: jax.Array, dynamic: tuple[Any, ...]) -> jax.Array:
    return _evaluate("primitive", key, x, dynamic)


@functools.partial(jax.jit, static_argnums=(0,))
def _cotangent_times_gradient(
    key: tuple[Any, ...], x: jax.Array, dynamic: tuple[Any, ...], ct: jax.Array
) -> jax.Array:
    return (ct * _evaluate("grad", key, x, dynamic)).astype(x.dtype)


@jax.jit
def _step(x: jax.Array) -> jax.Array:
    return (x >= 0).astype(x.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _differentiable(
    key: tuple[Any, ...], origin: bool, x: jax.Array, dynamic: tuple[Any, ...]
) -> jax.Array:
    """The spike (or g when ``origin``) at x; its derivative in x is g'(x), in parameters 0."""
    return _primitive(key, x, dynamic) if origin else _step(x)


@_differentiable.defjvp
def _differentiable_jvp(
    key: tuple[Any, ...], origin: bool, primals: tuple[Any, ...], tangents: tuple[Any, ...]
) -> tuple[jax.Array, jax.Array]:
    x, dynamic = primals
    x_dot, _ = tangents  # parameters are constants: their tangents are dropped
    out = _differentiable(key, origin, x, dynamic)
    return out, _gradient(key, x, dynamic) * x_dot


# Called eagerly, a jitted function is differentiated as one unit whose JVP and transpose JAX
# caches; the bare custom_jvp function would be re-traced rule by rule on every call.
_differentiable_jit = jax.jit(_differentiable, static_argnums=(0, 1))


def spike(s: Any, x: Any) -> jax.Array:
    key, dynamic = _split(s)
    return _differentiable_jit(key, False, _as_floating(x), dynamic)


def fun(s: Any, x: Any) -> jax.Array:
    key, dynamic = _split(s)
    return _differentiable_jit(key, True, _as_floating(x), dynamic)


def grad(s: Any, x: Any) -> jax.Array:
    key, dynamic = _split(s)
    return _gradient(key, _as_floating(x), dynamic)


def vjp(s: Any, x: Any, cotangent: Any) -> jax.Array:
    key, dynamic = _split(s)
    return _cotangent_times_gradient(key, _as_floating(x), dynamic, _as_floating(cotangent))

