"""PyTorch adapter: one generic ``torch.autograd.Function`` for every surrogate.

* New style: ``forward`` takes no ctx, ``setup_context`` saves only ``x``;
  ``generate_vmap_rule = True`` makes it work under ``torch.func.vmap``/``jacrev``/``jacfwd``.
* ``backward`` computes ``grad_out * g'(x)`` with ordinary torch operations, so
  ``create_graph=True`` and ``torch.func.grad`` of ``grad`` give g''(x).
* ``jvp`` gives forward mode (``torch.func.jvp``, ``torch.autograd.forward_ad``).
* Dynamo cannot trace an ``autograd.Function`` that defines ``jvp`` (a graph break, an error
  under ``fullgraph=True``), so while ``torch.compile`` traces, a twin without ``jvp`` is used.
* Parameters are Python floats (tensors given at construction are read once), passed as
  constants: their gradient is ``None``. Nothing here names a device: results follow ``x``.
* Fused backward: eager PyTorch runs each operation of g' as its own pass over memory (about
  ten for the sigmoid surrogate), so on large tensors the backward is compiled once per
  surrogate (formula and parameter values) with ``torch.compile`` into a single loop. The
  setting ``SPIKEGRAD_TORCH_FUSE`` (see :mod:`spikegrad._config`) chooses: ``auto`` (default:
  tensors of at least ``TORCH_FUSE_MIN_ELEMENTS`` elements), ``always`` or ``off``. The fused
  path is taken only for plain first-order backward passes on ordinary CPU or CUDA tensors;
  double backward, ``torch.func``, ``torch.compile`` (which fuses by itself), tensor
  subclasses (fake tensors of ``torch.export`` and compilation, ...) and meta tensors use the
  eager operations. If compilation fails (no C++ compiler, an unsupported device) spikegrad
  warns once and stays eager.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable

import numpy as np
import torch

from spikegrad import _config
from spikegrad._contract import Formula, Spec
from spikegrad._dtypes import FLOATING_DTYPES, not_floating_error
from spikegrad._evaluate import evaluate
from spikegrad._namespace import MathNamespace

_NS = MathNamespace(torch, erfc=torch.erfc, astype=lambda x, dtype: x.to(dtype))
_is_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active
_FUSABLE_DEVICES = ("cpu", "cuda")


_FLOATING = tuple(getattr(torch, name) for name in FLOATING_DTYPES)


def _as_floating(x: Any, what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            np.asarray(x)  # a ragged list: NumPy's ValueError names the inconsistent shape
            raise TypeError(
                f"spikegrad cannot make a tensor of {what}={x!r} ({exc}); pass a floating "
                "torch.Tensor, NumPy array, Python float or list of floats"
            ) from None
    if x.dtype not in _FLOATING:
        raise not_floating_error(x.dtype, f"{what}.float()")
    return x


_fused: dict[tuple[Any, ...], Callable[..., torch.Tensor] | None] = {}


def _fused_vjp(formula: Formula, values: tuple[Any, ...]) -> Callable[..., torch.Tensor] | None:
    """``(v, x) -> v * g'(x)`` compiled into one loop, or None when compilation failed.

    Each surrogate (formula and values) gets a function with its own code object, so each has
    its own compilation cache (Dynamo caches per code object and limits recompilations).
    """
    key = (formula, values)
    if key not in _fused:
        scope = {"_fn": formula.derivative, "_values": values, "_evaluate": evaluate, "_ns": _NS}
        source = "def fused_vjp(v, x):\n    return _evaluate(_fn, x, _values, _ns, v)\n"
        name = f"<spikegrad fused backward of {formula.name}{values}>"
        exec(compile(source, name, "exec"), scope)
        _fused[key] = torch.compile(scope["fused_vjp"], fullgraph=True, dynamic=True)
    return _fused[key]


def _fusable(mode: str, v: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether ``v * g'(x)`` may take the compiled path (plain tensors, plain backward)."""
    return (
        mode != "off"
        and (mode == "always" or x.numel() >= _config.TORCH_FUSE_MIN_ELEMENTS)
        # Tensor subclasses (FakeTensor under torch.export / FakeTensorMode, ...) and meta
        # tensors hold no data for compiled code to run on: the eager operations handle them.
        and type(x) is torch.Tensor
        and type(v) is torch.Tensor
        and x.device.type in _FUSABLE_DEVICES
        and not torch.is_grad_enabled()  # create_graph=True needs the differentiable ops
        and not _functorch_active()
        and not _is_compiling()
    )


def _times_derivative(spec: Spec, v: torch.Tensor, x: torch.Tensor, fuse: str) -> torch.Tensor:
    """``v * g'(x)`` (a cotangent or a tangent): fused for large plain backward passes (in fuse
    mode ``fuse``), eager operations otherwise."""
    if _fusable(fuse, v, x):
        fused = _fused_vjp(spec.formula, spec.values)
        if fused is not None:
            try:
                return fused(v, x)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, once
                _fused[(spec.formula, spec.values)] = None
                warnings.warn(
                    f"spikegrad could not compile the fused backward of {spec.formula.name} "
                    f"({type(exc).__name__}: {exc}); using eager operations. Set "
                    "SPIKEGRAD_TORCH_FUSE=off to skip the attempt.",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return evaluate(spec.formula.derivative, x, spec.values, _NS, v)


class _SpikeNoJvp(torch.autograd.Function):
    """The spike (or g when ``origin``) with derivative g'(x); the variant Dynamo traces."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, spec: Spec, origin: bool) -> torch.Tensor:
        if origin:
            out = evaluate(spec.formula.primitive, x, spec.values, _NS)
            # A Function may not return its input as-is (g(x) = x: straight-through).
            return out.clone() if out is x else out
        return spec.formula.spike(x, xp=_NS)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, spec, _ = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.spec = spec
        # Read now, in the caller's thread: PyTorch may run the backward in another thread
        # (CUDA), where the caller's `with torch_fuse_mode(...)` selection is not in force.
        ctx.fuse = _config.torch_fuse()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, None, None]:
        (x,) = ctx.saved_tensors
        return _times_derivative(ctx.spec, grad_out, x, ctx.fuse), None, None


class _Spike(_SpikeNoJvp):
    """:class:`_SpikeNoJvp` plus forward-mode AD."""

    @staticmethod
    def jvp(ctx: Any, x_dot: torch.Tensor, *_: Any) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return _times_derivative(ctx.spec, x_dot, x, ctx.fuse)


# ``Function.apply`` binds its arguments with ``inspect.signature`` on every call (tens of
# microseconds, more than the whole forward pass at 4096 elements). Outside torch.compile and
# torch.func transforms that binding does nothing for us (all arguments are positional), so
# the C implementation underneath is called directly there.
_apply_directly = super(torch.autograd.Function, _Spike).apply


def _apply(spec: Spec, x: Any, origin: bool) -> torch.Tensor:
    x = _as_floating(x)
    if _is_compiling():
        return _SpikeNoJvp.apply(x, spec, origin)
    if _functorch_active():
        return _Spike.apply(x, spec, origin)
    return _apply_directly(x, spec, origin)


class TorchAdapter:
    """The PyTorch backend (see the module docstring)."""

    name = "torch"
    accepts_text = "a torch.Tensor (or a NumPy array, Python float or list, converted)"

    def accepts(self, x: Any) -> bool:
        return isinstance(x, (torch.Tensor, np.ndarray, np.generic, numbers.Real, list, tuple))

    def spike(self, spec: Spec, x: Any) -> torch.Tensor:
        return _apply(spec, x, False)

    def fun(self, spec: Spec, x: Any) -> torch.Tensor:
        return _apply(spec, x, True)

    def grad(self, spec: Spec, x: Any) -> torch.Tensor:
        return evaluate(spec.formula.derivative, _as_floating(x), spec.values, _NS)

    def vjp(self, spec: Spec, x: Any, cotangent: Any) -> torch.Tensor:
        x = _as_floating(x)
        ct = _as_floating(cotangent, "cotangent")
        return _times_derivative(spec, ct, x, _config.torch_fuse())


ADAPTER = TorchAdapter()
