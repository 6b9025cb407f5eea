"""PyTorch adapter: one generic ``torch.autograd.Function`` for every surrogate.

* New style: ``forward`` takes no ctx, ``setup_context`` saves only ``x``;
  ``generate_vmap_rule = True`` makes it work under ``torch.func.vmap``/``jacrev``/``jacfwd``.
* ``backward`` computes ``grad_out * g'(x)`` with ordinary torch operations, so
  ``create_graph=True`` and ``torch.func.grad`` of ``grad`` give g''(x).
* ``jvp`` gives forward mode (``torch.func.jvp``, ``torch.autograd.forward_ad``).
* Dynamo cannot trace an ``autograd.Function`` that defines ``jvp`` (a graph break, an error
  under ``fullgraph=True``), so while ``torch.compile`` traces, a twin without ``jvp`` is used.
* Parameters are Python floats (tensors given at construction are converted once), passed as
  constants: their gradient is ``None``. Nothing here names a device: results follow ``x``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from spikegrad._dtypes import needs_float32_compute, not_floating_error
from spikegrad._namespace import MathNamespace

NAME = "torch"
ACCEPTS = "a torch.Tensor (or a NumPy array, Python float or list, converted)"

_NS = MathNamespace(torch, erfc=torch.erfc)
_is_compiling = torch.compiler.is_compiling


def accepts(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray, np.generic, numbers.Real, list, tuple))


def _as_floating(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if not x.is_floating_point():
        raise not_floating_error(x.dtype, "x.float()")
    return x


def _evaluate(fn: Any, params: tuple[Any, ...], x: torch.Tensor) -> torch.Tensor:
    """``fn(x, *params)`` in x's dtype, computed in float32 for 16-bit inputs."""
    dtype = x.dtype
    if needs_float32_compute(torch.finfo(dtype).bits):
        return fn(x.float(), *params, xp=_NS).to(dtype)
    return fn(x, *params, xp=_NS)


class _SpikeNoJvp(torch.autograd.Function):
    """The spike (or g when ``origin``) with derivative g'(x); the variant Dynamo traces."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, cls: type, params: tuple[Any, ...], origin: bool) -> torch.Tensor:
        if origin:
            return _evaluate(cls.primitive, params, x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, cls, params, _ = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.surrogate = (cls, params)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, None, None, None]:
        (x,) = ctx.saved_tensors
        cls, params = ctx.surrogate
        return grad_out * _evaluate(cls.grad, params, x), None, None, None


class _Spike(_SpikeNoJvp):
    """:class:`_SpikeNoJvp` plus forward-mode AD."""

    @staticmethod
    def jvp(ctx: Any, x_dot: torch.Tensor, *_: Any) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        cls, params = ctx.surrogate
        return x_dot * _evaluate(cls.grad, params, x)


# ``Function.apply`` binds its arguments with ``inspect.signature`` on every call (tens of
# microseconds, more than the whole forward pass at 4096 elements). Outside torch.compile and
# torch.func transforms that binding does nothing for us (all arguments are positional), so
# the C implementation underneath is called directly there.
_apply_directly = super(torch.autograd.Function, _Spike).apply
_functorch_active = torch._C._are_functorch_transforms_active


def _apply(s: Any, x: Any, origin: bool) -> torch.Tensor:
    x = _as_floating(x)
    if _is_compiling():
        return _SpikeNoJvp.apply(x, type(s), s._param_values, origin)
    if _functorch_active():
        return _Spike.apply(x, type(s), s._param_values, origin)
    return _apply_directly(x, type(s), s._param_values, origin)


def spike(s: Any, x: Any) -> torch.Tensor:
    return _apply(s, x, False)


def fun(s: Any, x: Any) -> torch.Tensor:
    s._require_primitive()
    return _apply(s, x, True)


def grad(s: Any, x: Any) -> torch.Tensor:
    return _evaluate(type(s).grad, s._param_values, _as_floating(x))


def vjp(s: Any, x: Any, cotangent: Any) -> torch.Tensor:
    x = _as_floating(x)
    ct = _as_floating(cotangent)
    return (ct * _evaluate(type(s).grad, s._param_values, x)).to(x.dtype)
