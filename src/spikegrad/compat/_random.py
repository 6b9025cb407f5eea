"""Spikes sampled at random, with a surrogate gradient: norse's ``logistic_fn`` and
``circ_dist_fn`` and spikingjelly's ``PoissonPass``.

The forward is a Bernoulli draw with probability ``p(x)``; the backward is a surrogate's
:math:`g'(x)`. The draw comes from the array's own framework, seeded by the caller:

* PyTorch: ``torch.bernoulli`` with the default generator (``torch.manual_seed``) or the
  ``generator`` given, exactly as norse and spikingjelly draw;
* JAX: ``jax.random.bernoulli`` with the ``key`` given (required: JAX has no global state);
* NumPy, CuPy and other Array-API libraries: a uniform draw from the ``rng`` given (a
  ``numpy.random.Generator``, required; its values are moved to the array's library).

The gradient is attached as ``sample + (s(x) - stop_gradient(s(x)))``, where ``s`` is the
surrogate's differentiable spike: the value is the sample exactly (0 or 1), the derivative
:math:`g'(x)`.
"""

from __future__ import annotations

from typing import Any


from .._surrogate import Surrogate

__all__ = ["sample_spikes"]


def sample_spikes(surrogate: Surrogate, p: Any, x: Any, *, generator: Any = None,
                  key: Any = None, rng: Any = None) -> Any:
    """Bernoulli(``p``) spikes in ``x``'s dtype whose derivative in ``x`` is ``surrogate``'s g'."""
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        import torch

        with torch.no_grad():
            sample = torch.bernoulli(p.detach(), generator=generator).to(x.dtype)
        spikes = surrogate(x)
        return sample + (spikes - spikes.detach())
    if module in ("jax", "jaxlib"):
        import jax

        if key is None:
            raise TypeError("sampling spikes in JAX needs a random key: pass key=jax.random.key(0)")
        sample = jax.random.bernoulli(key, jax.lax.stop_gradient(p)).astype(x.dtype)
        spikes = surrogate(x)
        return sample + (spikes - jax.lax.stop_gradient(spikes))
    if rng is None:
        raise TypeError(
            f"sampling spikes for a {type(x).__name__} needs a random generator: pass "
            "rng=numpy.random.default_rng(seed)"
        )
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    uniform = xp.asarray(rng.random(tuple(x.shape)), dtype=x.dtype)
    return xp.astype(uniform < p, x.dtype)  # no autodiff here: the value is all there is
