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
* Fused backward: eager PyTorch runs each operation of g' as its own pass over memory (about
  ten for the sigmoid surrogate), so on large tensors the backward is compiled once per
  surrogate (type and parameters) with ``torch.compile`` into a single loop. The environment
  variable ``SPIKEGRAD_TORCH_FUSE`` chooses: ``auto`` (default: tensors of at least
  ``FUSE_MIN_ELEMENTS`` elements), ``always`` or ``off``. The fused path is used only for plain
  first-order backward passes; double backward, ``torch.func`` and ``torch.compile`` (which
  fuses by itself) use the eager operations. If compilation fails (no C++ compiler, an
  unsupported device) spikegrad warns once and stays eager.
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any, Callable

import numpy as np
import torch

from spikegrad._dtypes import needs_float32_compute, not_floating_error
from spikegrad._namespace import MathNamespace

NAME = "torch"
ACCEPTS = "a torch.Tensor (or a NumPy array, Python float or list, converted)"

_NS = MathNamespace(torch, erfc=torch.erfc)
_is_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active

FUSE_MIN_ELEMENTS = 1 << 20
_FUSE_MODES = ("auto", "always", "off")
FUSE = os.environ.get("SPIKEGRAD_TORCH_FUSE", "auto").strip() or "auto"
if FUSE not in _FUSE_MODES:
    raise ValueError(
        f"SPIKEGRAD_TORCH_FUSE={FUSE!r} is not valid; choose one of {', '.join(_FUSE_MODES)}"
    )


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


def _step(x: torch.Tensor) -> torch.Tensor:
    """``x >= 0`` in x's dtype; eagerly in one pass (the comparison writes floats directly)."""
    if _is_compiling() or _functorch_active():
        return (x >= 0).to(x.dtype)
    return torch.ge(x, 0, out=torch.empty_like(x))


_fused: dict[tuple[Any, ...], Callable[..., torch.Tensor] | None] = {}


def _fused_vjp(cls: type, params: tuple[Any, ...]) -> Callable[..., torch.Tensor] | None:
    """``(v, x) -> v * g'(x)`` compiled into one loop, or None when compilation failed.

    Each surrogate (type and parameters) gets a function with its own code object, so each has
    its own compilation cache (Dynamo caches per code object and limits recompilations).
    """
    key = (cls, params)
    if key not in _fused:
        scope = {"_grad": cls.grad, "_params": params, "_evaluate": _evaluate}
        source = "def fused_vjp(v, x):\n    return v * _evaluate(_grad, _params, x)\n"
        exec(compile(source, f"<spikegrad fused backward of {cls.__name__}{params}>", "exec"), scope)
        _fused[key] = torch.compile(scope["fused_vjp"], fullgraph=True, dynamic=True)
    return _fused[key]


def _times_gradient(cls: type, params: tuple[Any, ...], v: torch.Tensor, x: torch.Tensor
                    ) -> torch.Tensor:
    """``v * g'(x)`` (a cotangent or a tangent): fused for large plain backward passes, eager
    operations otherwise."""
    if (
        FUSE != "off"
        and (FUSE == "always" or x.numel() >= FUSE_MIN_ELEMENTS)
        and not torch.is_grad_enabled()  # create_graph=True needs the differentiable ops
        and not _functorch_active()
        and not _is_compiling()
    ):
        fused = _fused_vjp(cls, params)
        if fused is not None:
            try:
                return fused(v, x)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, once
                _fused[(cls, params)] = None
                warnings.warn(
                    f"spikegrad could not compile the fused backward of {cls.__name__} "
                    f"({type(exc).__name__}: {exc}); using eager operations. Set "
                    "SPIKEGRAD_TORCH_FUSE=off to skip the attempt.",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return v * _evaluate(cls.grad, params, x)


class _SpikeNoJvp(torch.autograd.Function):
    """The spike (or g when ``origin``) with derivative g'(x); the variant Dynamo traces."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, cls: type, params: tuple[Any, ...], origin: bool) -> torch.Tensor:
        if origin:
            return _evaluate(cls.primitive, params, x)
        return _step(x)

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
        return _times_gradient(cls, params, grad_out, x), None, None, None


class _Spike(_SpikeNoJvp):
    """:class:`_SpikeNoJvp` plus forward-mode AD."""

    @staticmethod
    def jvp(ctx: Any, x_dot: torch.Tensor, *_: Any) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        cls, params = ctx.surrogate
        return _times_gradient(cls, params, x_dot, x)


# ``Function.apply`` binds its arguments with ``inspect.signature`` on every call (tens of
# microseconds, more than the whole forward pass at 4096 elements). Outside torch.compile and
# torch.func transforms that binding does nothing for us (all arguments are positional), so
# the C implementation underneath is called directly there.
_apply_directly = super(torch.autograd.Function, _Spike).apply


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
    return _apply(s, x, True)


def grad(s: Any, x: Any) -> torch.Tensor:
    return _evaluate(type(s).grad, s._param_values, _as_floating(x))


def vjp(s: Any, x: Any, cotangent: Any) -> torch.Tensor:
    x = _as_floating(x)
    ct = _as_floating(cotangent)
    return _times_gradient(type(s), s._param_values, ct, x).to(x.dtype)
