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
* Trained parameters (``trainable=``, :attr:`Formula.trainable`) may be tensors, kept as given.
  They are inputs of a second Function, ``_TrainedSpike``, together with an *anchor*: the
  primitive ``g(x.detach(); alpha)`` computed with ordinary differentiable torch operations.
  Its backward returns ``v * g'(x; alpha)`` for ``x`` and passes ``v`` to the anchor, whose
  own graph then gives ``alpha`` the gradient ``sum(v * dg/dalpha)`` (summed over the
  broadcast by autograd, computed in float32 for 16-bit inputs by ``evaluate``): PyTorch's
  autodiff through the one definition, no nested autodiff in a backward, so ``torch.func``
  and ``torch.compile(fullgraph=True)`` need nothing special. Forward mode adds the anchor's
  tangent. These calls use the plain eager operations (no plan).
* Planned backward: eager PyTorch runs each operation of g' as its own call, allocating a new
  tensor each time (and, on large tensors, making a pass over memory each time). For plain
  backward passes the adapter replays instead a *plan* of ``v * g'(x)`` traced once per
  surrogate, dtype and device type (:mod:`spikegrad.backends._torch_plan`): the same PyTorch
  functions, the same numbers within a few ulps (fused multiply-adds where a sum cannot
  cancel round less), common sub-expressions once, results written into
  the output or into reused scratch buffers, large CPU tensors evaluated in cache-sized blocks
  (no compiler, no first-call stall). The setting ``SPIKEGRAD_TORCH_FUSE`` (see
  :mod:`spikegrad._config`) chooses: ``auto`` (default: scratch buffers from
  ``TORCH_FUSE_MIN_ELEMENTS`` elements on), ``always`` (at every size) or ``off`` (the plain
  eager operations). Double backward, ``torch.func``, ``torch.compile`` (which fuses by
  itself), tensor subclasses (fake tensors of ``torch.export`` and compilation, ...) and meta
  tensors use the plain eager operations.
* Compiled backward: in mode ``auto``, on the CPU, a surrogate whose g' numba can vectorize
  gets one compiled loop for ``v * g'(x)`` (:mod:`spikegrad.backends._torch_kernels`),
  compiled by a child process and loaded by a background thread after its first backward (the
  plan serves until it is ready: no stall), used wherever the plan would be.
* ``exp`` on CPU tensors is ``exp2(a * log2 e)`` (:func:`~spikegrad.backends._torch_plan.exp_cpu`):
  PyTorch's CPU ``exp`` kernel is 2.5-3 times slower than its ``exp2``.
* Forward: on plain tensors outside ``torch.compile`` and ``torch.func`` the spike is one
  ``torch.ge(x, 0, out=...)`` (the namespace's ``compare_as`` hook, with a 0-d zero) instead of
  a comparison and a cast, or, for contiguous float32 CPU tensors once the surrogate's
  compiled loops are loaded (mode ``auto``), the spike's own compiled loop, shared by
  PyTorch's OpenMP team like the backward's
  (:func:`spikegrad.backends._torch_kernels.spike`: 3-7 us faster a step at 4096 to 131072
  elements, 10-20 us at 262144 and a million), whose loops its backward then takes; plain
  floating tensors outside forward mode take the shortest path through the adapter,
  ``_Spike``: the same forward and backward in an old-style Function of
  two inputs that saves nothing for a ``jvp`` (at 4096 elements, the Python around the PyTorch
  calls is a fifth of the time).
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np
import torch

from spikegrad import _config
from spikegrad._contract import Spec
from spikegrad._dtypes import FLOATING_DTYPES, not_floating_error
from spikegrad._evaluate import check_cotangent_shape, evaluate, finite_points
from spikegrad._namespace import MathNamespace

from . import _torch_kernels, _torch_plan


def _full_like(x: torch.Tensor, fill_value: Any, **kwargs: Any) -> torch.Tensor:
    """``full_like`` that takes a 0-d tensor too: a trained parameter (``torch.full_like``
    takes numbers only), kept differentiable, in ``x``'s dtype or the ``dtype`` given."""
    if isinstance(fill_value, torch.Tensor):
        dtype, device = kwargs.get("dtype") or x.dtype, kwargs.get("device") or x.device
        return fill_value.to(device=device, dtype=dtype).expand(x.shape).clone()
    return torch.full_like(x, fill_value, **kwargs)


def _lower_infinite(t: torch.Tensor) -> torch.Tensor:
    """The ``lower_infinite`` hook: ``t`` with +-inf lowered to +-the largest number of its
    dtype, as ``minimum(maximum(t, -largest), largest)``. The portable ``clip`` has the same
    values, but PyTorch's ``clamp`` passes no gradient to a NaN: g''(NaN) came out 0 where JAX
    gives NaN (NaN in, NaN out); ``maximum`` and ``minimum`` pass it on. The bounds are made
    for each call with ``t.new_full`` (about 3 us): kept ones broke on fake and meta tensors
    and under ``torch.func`` (a bound made inside one transform is that transform's), and
    became graph inputs under ``torch.compile``; ``where(isinf(t), ...)`` took 40 times the
    clamp's time on the CPU. (The planned first-order backward leaves the guard out, see
    :func:`spikegrad._math._finite`.)"""
    largest = torch.finfo(t.dtype).max
    return torch.minimum(torch.maximum(t, t.new_full((), -largest)), t.new_full((), largest))


# PyTorch's spellings and hooks, shared by both namespaces below.
_TORCH_FUNCTIONS: dict[str, Any] = {
    "erfc": torch.erfc, "astype": lambda x, dtype: x.to(dtype), "exp": _torch_plan.exp_cpu,
    "nan_through": _torch_plan.nan_through, "rsqrt": torch.rsqrt, "full_like": _full_like,
    "lower_infinite": _lower_infinite,
}
_NS = MathNamespace(torch, **_TORCH_FUNCTIONS)
_is_compiling = torch.compiler.is_compiling
_forward_ad = torch.autograd.forward_ad
_tracing = torch._C._get_tracing_state  # torch.jit.trace: sizes are traced values there
_functorch_active = torch._C._are_functorch_transforms_active
_COMPARISONS = {"greater_equal": torch.ge, "greater": torch.gt}


_modes_active = torch._C._len_torch_dispatch_stack  # FakeTensorMode, FlopCounterMode, ...
# The threshold as a 0-d CPU tensor (which combines with tensors of any device): a Python number
# operand is converted on every call, which costs as much as the comparison at 4096 elements.
# Made on first use, which is outside every dispatch mode (see _apply): made under
# FakeTensorMode, say, it would be a fake tensor.
_zero: list[torch.Tensor] = []


def _compare_as(x: torch.Tensor, comparison: str, threshold: Any) -> torch.Tensor:
    if threshold == 0:
        if not _zero:
            _zero.append(_torch_plan.number(0.0, torch.float32))
        threshold = _zero[0]
    return _COMPARISONS[comparison](x, threshold, out=torch.empty_like(x))


# The namespace of plain eager tensors: with the one-pass hooks (out= arguments, which
# torch.func transforms and Dynamo do not all take).
_NS_EAGER = MathNamespace(torch, **_TORCH_FUNCTIONS, compare_as=_compare_as)


_FLOATING = tuple(getattr(torch, name) for name in FLOATING_DTYPES)


_STRIDED = torch.strided
_SPARSE = frozenset((torch.sparse_coo, torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr,
                     torch.sparse_bsc))


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
    if x.layout in _SPARSE:
        raise TypeError(f"{what} is a {x.layout} tensor; spikegrad computes on dense tensors: "
                        f"pass {what}.to_dense()")
    return x


_grad_enabled = torch.is_grad_enabled
# The batched cotangents of torch.autograd.grad(..., is_grads_batched=True) and of
# torch.autograd.functional.jacobian(vectorize=True) (PyTorch's older vmap, which
# _functorch_active does not see) take no out= arguments.
_legacy_batched = getattr(torch._C._functorch, "is_legacy_batchedtensor", lambda t: False)


def _times_derivative(spec: Spec, v: torch.Tensor, x: torch.Tensor, fuse: str,
                      loops: Any = None) -> torch.Tensor:
    """``v * g'(x)`` for a cotangent or tangent ``v`` of ``x``'s shape (as the autograd engine
    passes them; :meth:`TorchAdapter.vjp` checks its own): for plain backward passes on plain
    tensors, a compiled kernel on the CPU where there is one
    (:func:`spikegrad.backends._torch_kernels.times_derivative`), else planned
    (:func:`spikegrad.backends._torch_plan.plan_of`); eager operations otherwise. ``fuse`` is
    ``"off"`` for a spec with trained tensor values (which only :meth:`TorchAdapter.vjp` passes
    here): kept as keys of plans and kernels, they would be kept alive. ``loops``: the
    compiled loops the eager forward pass found for ``x``
    (:func:`spikegrad.backends._torch_kernels.spike`), if it did.

    This runs in every backward pass, where each Python step costs about three times what it
    costs outside the autograd engine: the checks are the cheapest first, and the plan is found
    with one lookup of the spec (whose hash is kept) and the tensor's dtype and device type."""
    if (
        fuse != "off"
        # Tensor subclasses (FakeTensor under torch.export / FakeTensorMode, ...) and meta
        # tensors go through the plain operations, which every tensor type supports.
        and type(x) is torch.Tensor
        and type(v) is torch.Tensor
        and v.dtype is x.dtype  # (a forward-mode tangent may have another dtype)
        and not _grad_enabled()  # create_graph=True needs the differentiable ops
        and not _functorch_active()
        and not _is_compiling()
        and not _modes_active()  # the plan's constants and buffers are plain tensors
        and not _legacy_batched(v)
    ):
        if fuse == "auto" and x.is_cpu:  # one compiled loop, once numba has made it
            out = _torch_kernels.times_derivative(spec, v, x, _planned, loops)
            if out is not None:
                return out
        return _planned(spec, v, x, fuse)
    return evaluate(spec.formula.derivative, x, spec.values, _NS, v)


def _planned(spec: Spec, v: torch.Tensor, x: torch.Tensor, fuse: str) -> torch.Tensor:
    """``v * g'(x)`` by the plan of ``spec`` (:func:`_times_derivative`'s plain case), or by
    the eager operations where the formula has no plan."""
    key = (spec, x.dtype, "cpu" if x.is_cpu else x.device.type)
    try:
        plan = _torch_plan._plans[key]
    except (KeyError, TypeError):  # not made yet, or unhashable values (plan_of: None)
        plan = _torch_plan.plan_of(*key)
    if plan is not None:
        return _torch_plan.times_derivative(plan, v, x, fuse)
    return evaluate(spec.formula.derivative, x, spec.values, _NS, v)


class _SpikeNoJvp(torch.autograd.Function):
    """The spike (or g when ``origin``) with derivative g'(x); the variant Dynamo traces."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, spec: Spec, origin: bool, eager: bool) -> torch.Tensor:
        if origin:
            out = evaluate(spec.formula.primitive, x, spec.values, _NS)
            # A Function may not return its input as-is (g(x) = x: straight-through).
            return out.clone() if out is x else out
        return spec.formula.spike(x, xp=_NS_EAGER if eager else _NS)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, spec, _, _ = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.spec = spec
        # Read now, in the caller's thread: PyTorch may run the backward in another thread
        # (CUDA), where the caller's `with torch_fuse_mode(...)` selection is not in force.
        ctx.fuse = _config.torch_fuse()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, None, None, None]:
        (x,) = ctx.saved_tensors
        return _times_derivative(ctx.spec, grad_out, x, ctx.fuse), None, None, None


class _SpikeForTransforms(_SpikeNoJvp):
    """:class:`_SpikeNoJvp` plus forward-mode AD: the Function of ``torch.func`` transforms,
    tensor subclasses, dispatch modes and ``origin``."""

    @staticmethod
    def jvp(ctx: Any, x_dot: torch.Tensor, *_: Any) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return _times_derivative(ctx.spec, x_dot, x, ctx.fuse)


class _Spike(torch.autograd.Function):
    """The spike of a plain floating tensor in eager mode (no ``torch.func``, no compilation,
    no dispatch mode, no forward-mode level; ``grad_fn`` shows ``_SpikeBackward``):
    :class:`_SpikeForTransforms` with the least work around the same forward and backward,
    which at 4096 elements is a fifth of the whole forward and backward pass. Old-style
    (``ctx`` in ``forward``: no ``setup_context`` call) and with two inputs (each input costs
    the autograd engine a step both ways); no vmap rule, which only ``torch.func`` asks for,
    and it is never used there; no ``jvp``, which only a forward-mode level asks for."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, spec: Spec) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.spec = spec
        ctx.fuse = fuse = _config.torch_fuse()  # read in the caller's thread, see _SpikeNoJvp
        if fuse == "auto" and x.dtype is torch.float32 and x.is_cpu and _tracing() is None:
            out, ctx.loops = _torch_kernels.spike(spec, x)  # the compiled loop, where faster
            if out is not None:
                return out
        else:
            ctx.loops = None
        return spec.formula.spike(x, xp=_NS_EAGER)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, None]:
        (x,) = ctx.saved_tensors
        return _times_derivative(ctx.spec, grad_out, x, ctx.fuse, ctx.loops), None


def _tensor_slots(spec: Spec) -> tuple[int, ...]:
    """The indices of the trained values that are tensors (autograd inputs)."""
    if not spec.formula.trainable:
        return ()
    return tuple(i for i in spec.formula.trainable if isinstance(spec.values[i], torch.Tensor))


def _merged(spec: Spec, trained: Any) -> tuple[Any, ...]:
    """``spec.values`` with the ``None`` slots filled, in order, from ``trained``."""
    given = iter(trained)
    return tuple(next(given) if v is None else v for v in spec.values)


class _TrainedSpikeNoJvp(torch.autograd.Function):
    """The spike (or g when ``origin``) with trained parameters, for Dynamo (no ``jvp``).

    Inputs: ``x``; the anchor ``g(x.detach(); values)`` (or ``None`` when no gradient can be
    asked); the spec with ``None`` in the slots of the tensor values; ``origin``; those tensors.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, anchor: Any, spec: Spec, origin: bool, *trained: Any
                ) -> torch.Tensor:
        if origin:
            out = evaluate(spec.formula.primitive, x, _merged(spec, trained), _NS)
            return out.clone() if out is x else out
        return spec.formula.spike(x, xp=_NS)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, _, spec, _, *trained = inputs
        ctx.save_for_backward(x, *trained)
        ctx.save_for_forward(x, *trained)
        ctx.spec = spec

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        x, *trained = ctx.saved_tensors
        spec = ctx.spec
        dx = None
        if ctx.needs_input_grad[0]:
            dx = evaluate(spec.formula.derivative, x, _merged(spec, trained), _NS, grad_out)
        danchor = grad_out if ctx.needs_input_grad[1] else None
        return (dx, danchor, None, None, *(None for _ in trained))


class _TrainedSpike(_TrainedSpikeNoJvp):
    """:class:`_TrainedSpikeNoJvp` plus forward-mode AD."""

    @staticmethod
    def jvp(ctx: Any, x_dot: Any, anchor_dot: Any, *_: Any) -> torch.Tensor:
        x, *trained = ctx.saved_tensors
        out = None
        if x_dot is not None:
            out = evaluate(ctx.spec.formula.derivative, x, _merged(ctx.spec, trained), _NS, x_dot)
        if anchor_dot is not None:
            out = anchor_dot if out is None else out + anchor_dot
        return torch.zeros_like(x) if out is None else out


def _anchor_needed() -> bool:
    """Whether a gradient or tangent of the output may be asked for (else no anchor)."""
    return (
        torch.is_grad_enabled()
        or _functorch_active()
        or _is_compiling()
        or torch.autograd.forward_ad._current_level >= 0
    )


def _floats_read_in_root_graph(spec: Spec, x: torch.Tensor, origin: bool) -> None:
    """Under ``torch.compile``, have Dynamo read the Python floats of ``spec``'s formulas (its
    parameter values, constants such as ``math.pi``) in the graph being compiled before a
    ``Function`` does.

    With dynamic shapes (``dynamic=True``, or after a float argument has changed) Dynamo makes
    such floats symbolic inputs. One read first inside a ``Function``'s forward or backward
    (traced as a subgraph) and again in a second call's, as every network that calls a
    surrogate twice does, stops the compilation (``AssertionError: lift_tracked_freevar_to_input
    should not be called on root SubgraphTracer``, PyTorch 2.13; pytorch/pytorch#111031 is the
    same failure for sizes). Read first here, they are inputs of the graph being compiled,
    which each subgraph takes as its own. The reads evaluate the formulas on an empty tensor:
    results nothing uses, which the compiler drops."""
    empty = x.detach().reshape(-1)[:0]
    evaluate(spec.formula.derivative, empty, spec.values, _NS)
    if origin:
        evaluate(spec.formula.primitive, empty, spec.values, _NS)
    else:
        spec.formula.spike(empty, xp=_NS)


def _apply_trained(spec: Spec, x: torch.Tensor, origin: bool, slots: tuple[int, ...]
                   ) -> torch.Tensor:
    trained = tuple(spec.values[i] for i in slots)
    anchor = None
    if _anchor_needed():
        # taken at finite points: dg/dalpha at +-inf is its limit, not 0 * inf
        anchor = evaluate(spec.formula.primitive, finite_points(x.detach(), _NS), spec.values,
                          _NS)
    static = Spec(spec.formula, tuple(None if i in slots else v
                                      for i, v in enumerate(spec.values)))
    if _is_compiling():
        _floats_read_in_root_graph(spec, x, origin)
        return _TrainedSpikeNoJvp.apply(x, anchor, static, origin, *trained)
    return _TrainedSpike.apply(x, anchor, static, origin, *trained)


# ``Function.apply`` binds its arguments with ``inspect.signature`` on every call (tens of
# microseconds, more than the whole forward pass at 4096 elements). Outside torch.compile and
# torch.func transforms that binding does nothing for us (all arguments are positional), so
# the C implementation underneath is called directly there.
_apply_directly = super(torch.autograd.Function, _SpikeForTransforms).apply
_apply_eager = super(torch.autograd.Function, _Spike).apply


def _apply(origin: bool, spec: Spec, x: Any) -> torch.Tensor:
    if (
        type(x) is torch.Tensor
        and x.dtype in _FLOATING
        and x.layout is _STRIDED
        and not spec.formula.trainable
        and not _is_compiling()
        and not _functorch_active()
        and not _modes_active()
        and _forward_ad._current_level < 0
    ):  # the common case, first: a plain floating tensor in eager mode
        return _apply_directly(x, spec, origin, True) if origin else _apply_eager(x, spec)
    x = _as_floating(x)
    slots = _tensor_slots(spec)
    if slots:
        return _apply_trained(spec, x, origin, slots)
    if _is_compiling():
        _floats_read_in_root_graph(spec, x, origin)
        return _SpikeNoJvp.apply(x, spec, origin, False)
    if _functorch_active():
        return _SpikeForTransforms.apply(x, spec, origin, False)
    return _apply_directly(x, spec, origin, type(x) is torch.Tensor and not _modes_active())


class TorchAdapter:
    """The PyTorch backend (see the module docstring)."""

    name = "torch"
    accepts_text = "a torch.Tensor (or a NumPy array, Python float or list, converted)"

    def accepts(self, x: Any) -> bool:
        return isinstance(x, (torch.Tensor, np.ndarray, np.generic, numbers.Real, list, tuple))

    # _apply itself, called without a method's frame of its own (the spike runs at every step);
    # static: Python 3.14 binds a partial found on a class as a method; positional: a keyword
    # argument in a partial costs about a microsecond a spike in a training loop
    spike = staticmethod(functools.partial(_apply, False))
    fun = staticmethod(functools.partial(_apply, True))

    def grad(self, spec: Spec, x: Any) -> torch.Tensor:
        return evaluate(spec.formula.derivative, _as_floating(x), spec.values, _NS)

    def vjp(self, spec: Spec, x: Any, cotangent: Any) -> torch.Tensor:
        x = _as_floating(x)
        ct = _as_floating(cotangent, "cotangent")
        if ct.shape != x.shape:
            check_cotangent_shape(x, ct)
        if ct.device != x.device:  # (the compiled loop would read it as CPU memory)
            raise ValueError(f"the cotangent is on {ct.device} and x on {x.device}; pass a "
                             f"cotangent on x's device (cotangent.to(x.device))")
        fuse = "off" if _tensor_slots(spec) else _config.torch_fuse()
        return _times_derivative(spec, ct, x, fuse)


ADAPTER = TorchAdapter()
