"""Outputs that are not a spike of the catalogue but carry a surrogate gradient: spikes sampled
at random (norse's ``logistic_fn`` and ``circ_dist_fn``, spikingjelly's ``PoissonPass``) and
spikingjelly's multi-level spike count.

The gradient is attached straight through: ``value + (d - stop_gradient(d))`` has the value of
``value`` exactly and the derivative of ``d``, in PyTorch and JAX (NumPy, CuPy and other
Array-API libraries have no autodiff: the value is all there is).

Random draws come from the array's own framework, seeded by the caller:

* PyTorch: ``torch.bernoulli`` with the default generator (``torch.manual_seed``) or the
  ``generator`` given, exactly as norse and spikingjelly draw;
* JAX: ``jax.random.bernoulli`` with the ``key`` given (required: JAX has no global state);
* NumPy and other Array-API libraries: a uniform draw from the ``rng`` given (a
  ``numpy.random.Generator``, required; its values are moved to the array's library).
"""

from __future__ import annotations

from typing import Any

from .._surrogate import Surrogate
from .._types import array_namespace

__all__ = ["sample_spikes", "straight_through"]


def _framework(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def straight_through(value: Any, differentiable: Any) -> Any:
    """``value``, with the derivative of ``differentiable`` (an array of the same shape)."""
    framework = _framework(differentiable)
    if framework == "torch":
        return value + (differentiable - differentiable.detach())
    if framework in ("jax", "jaxlib"):
        import jax

        return value + (differentiable - jax.lax.stop_gradient(differentiable))
    return value


def sample_spikes(surrogate: Surrogate, p: Any, x: Any, *, generator: Any = None,
                  key: Any = None, rng: Any = None) -> Any:
    """Bernoulli(``p``) spikes in ``x``'s dtype whose derivative in ``x`` is ``surrogate``'s g'."""
    framework = _framework(x)
    if framework == "torch":
        import torch

        with torch.no_grad():
            sample = torch.bernoulli(p.detach(), generator=generator).to(x.dtype)
    elif framework in ("jax", "jaxlib"):
        import jax

        if key is None:
            raise TypeError("sampling spikes in JAX needs a random key: pass key=jax.random.key(0)")
        sample = jax.random.bernoulli(key, jax.lax.stop_gradient(p)).astype(x.dtype)
    else:
        if rng is None:
            raise TypeError(
                f"sampling spikes for a {type(x).__name__} needs a random generator: pass "
                "rng=numpy.random.default_rng(seed)"
            )
        xp = array_namespace(x)
        sample = xp.astype(xp.asarray(rng.random(tuple(x.shape)), dtype=x.dtype) < p, x.dtype)
    return straight_through(sample, surrogate(x))
