"""Eager PyTorch without the waste: a surrogate's ``v * g'(x)`` replayed as a planned program.

Run as written, the math of :mod:`spikegrad._math` makes eager PyTorch allocate a new tensor
for every operation (on a million elements or more, a fresh tensor also costs page faults),
convert every Python number operand on every call, and evaluate repeated sub-expressions again.
Here the formula is *traced* once per surrogate (formula, parameter values), dtype and device
type with a recording namespace, and turned into straight-line Python calling the same PyTorch
functions, with:

* common sub-expressions evaluated once, and identities (``t * 1``, ``t / 1``, ``t - 0``)
  not at all;
* every result written (``out=``) into the output tensor or into a scratch buffer that nothing
  uses any more; scratch buffers are per-thread tensors of :data:`BLOCK` elements reused by
  every call, and larger tensors are evaluated block by block in them, in the CPU cache;
* Python numbers given as 0-d tensors of the compute dtype (the value the operation would
  convert them to, without the conversion);
* ``(t * c) * u`` (a number ``c``) as one ``addcmul(0, t, u, value=c)``, the same two roundings;
* ``where(t < c, A, B)`` with finite number branches as a comparison into a float mask ``m``
  and ``m A + (1 - m) B`` (exact), :func:`_select_constants`, a comparison cast to floats
  as a comparison into floats, and the math's choice between two computed branches that are
  finite numbers (the namespace hook ``choose_finite``) as one ``lerp(B, A, m)`` (exact too);
* the adapter's ``nan_through(x, out)`` (NaN where ``x`` is NaN, else ``out``) as one
  ``clamp(x, min=out, max=out)``;
* a result written over an operand in place, as a method (``out.mul_(k)``: PyTorch parses
  that call faster than ``torch.mul(out, k, out=out)``);
* the final ``v * (1 / D)`` as ``v / D`` (one rounding fewer: within an ulp), and
  ``v * ((1 / D) * c)`` (``0 < |c| <= 1``, ``D >= 1`` by its form) as one
  ``addcdiv(0, v, D, value=c)``, ``(c v) / D`` (two roundings for three; ``c v`` neither
  overflows nor underflows where the result does not);
* a sum that cannot cancel, ``t * t + c`` (``c > 0``) or ``|a| * k + c`` (``k``, ``c`` of one
  sign), as one ``addcmul(c, t, t)`` or ``add(c, |a|, alpha=k)``, which PyTorch computes with a
  fused multiply-add: the sum correctly rounded (:func:`_fused_sums`);
* ``t mod c``, ``c`` a power of two from 1 on (the periodic surrogate's phase), as
  ``t - c floor(t * (1/c))``: every step exact for ``t >= 0``, the same numbers in three
  vectorized calls, where PyTorch's CPU ``remainder`` takes as long as its cosine;
* on the CPU, ``exp(a)`` as ``exp2(a * log2 e)`` (:func:`exp_cpu`, which the adapter's namespace
  uses too), and ``exp(t * c)`` or ``exp(-t)``, ``c`` a power of two, as one
  ``exp2(t * (c log2 e))``, and ``exp(c |a t|)`` (``a`` a power of two too) as
  ``exp2(|t| * (|a| c log2 e))`` (scaling by a power of two rounds nothing: the same numbers);
* 16-bit inputs converted to float32 and the product rounded once (the rule of
  :mod:`spikegrad._evaluate`).

Zeros may differ in sign from the eager evaluation's: ``addcmul(0, ...)`` and
``addcdiv(0, ...)`` add +0.0 (so a product of -0.0 becomes +0.0), and PyTorch's scalar
``clamp`` (for the last elements of a vector, and for strided tensors) returns ``x`` where it
equals ``out``, so a zero gradient at ``x = -0.0`` may be -0.0.

The program calls the functions the math calls through the adapter's namespace (``torch.abs``,
``Tensor.__rtruediv__``'s ``reciprocal() * c``, ...), so it computes the numbers of the plain
eager evaluation, up to the roundings the fused operations above save (never less accurate;
within a few ulps) and to PyTorch's computing the elements of a partial SIMD vector with its
scalar functions (evaluating in blocks can move an element from one implementation of
``exp2`` to the other). Nothing here is differentiable: the adapter uses a plan only for plain
backward passes (no ``create_graph``, no ``torch.func``, not under ``torch.compile``, no tensor
subclasses). A formula the recorder cannot follow (one that is not written with ``xp``, uses a
function listed nowhere below, or branches on array values) gets no plan, and the adapter
evaluates it eagerly.
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Callable

import torch

from spikegrad import _config
from spikegrad._contract import Formula, Spec
from spikegrad._math import LOG2E
from spikegrad._math import power_of_two as _power_of_two

__all__ = ["BLOCK", "exp_cpu", "nan_through", "number", "plan_for", "plan_of",
           "times_derivative"]

BLOCK = 1 << 19
"""Elements per block of the blocked evaluation and of each scratch buffer (2 MiB in float32:
a block's few live intermediates stay in the L2 and L3 caches). Smaller blocks make more
calls, each of which PyTorch splits between its threads: at 2**17 the sigmoid surrogate's
backward on 2**20 elements with two threads took 1.3-1.5 times as long."""

MAX_PLANS = 512
"""Plans kept: parameter sweeps must not grow the cache without bound."""

_UNARY = ("abs", "reciprocal", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan",
          "atan", "tanh", "erfc", "square", "sign", "floor", "ceil", "trunc", "round", "negative")
_BOOL_UNARY = ("isnan", "isinf", "isfinite", "signbit")
_BINARY = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
           "maximum": "maximum", "minimum": "minimum", "remainder": "remainder", "pow": "pow",
           "atan2": "atan2", "hypot": "hypot", "logaddexp": "logaddexp"}
_COMPARE = {"__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge", "__eq__": "eq",
            "__ne__": "ne"}


class _Untraceable(Exception):
    """The formula does something the recorder does not follow: evaluate it eagerly."""


class _Var:
    """A recorded array: the index of the operation that computes it."""

    __slots__ = ("rec", "index", "boolean")
    __array_priority__ = 1000

    def __init__(self, rec: _Recorder, index: int, boolean: bool) -> None:
        self.rec, self.index, self.boolean = rec, index, boolean

    def _op(self, name: str, *args: Any, boolean: bool = False) -> _Var:
        return self.rec.emit(name, args, boolean)

    def __add__(self, o: Any) -> _Var: return self._op("add", self, o)
    def __radd__(self, o: Any) -> _Var: return self._op("add", self, o)  # commutative
    def __sub__(self, o: Any) -> _Var: return self._op("sub", self, o)
    def __rsub__(self, o: Any) -> _Var: return self._op("rsub", self, o)
    def __mul__(self, o: Any) -> _Var: return self._op("mul", self, o)
    def __rmul__(self, o: Any) -> _Var: return self._op("mul", self, o)  # commutative
    def __truediv__(self, o: Any) -> _Var: return self._op("div", self, o)
    def __rtruediv__(self, o: Any) -> _Var:  # Tensor.__rtruediv__ is reciprocal() * o
        r = self._op("reciprocal", self)
        return r._op("mul", r, o)
    def __pow__(self, o: Any) -> _Var: return self._op("pow", self, o)
    def __neg__(self) -> _Var: return self._op("neg", self)
    def __and__(self, o: Any) -> _Var: return self._op("bitwise_and", self, o, boolean=True)
    def __or__(self, o: Any) -> _Var: return self._op("bitwise_or", self, o, boolean=True)
    def __invert__(self) -> _Var: return self._op("bitwise_not", self, boolean=True)

    @property
    def dtype(self) -> Any:  # the math casts comparisons with astype(c, x.dtype)
        return self.rec.dtype

    def __bool__(self) -> bool:
        raise _Untraceable("Python control flow on an array value")

    __hash__ = None  # type: ignore[assignment]


for _dunder, _torch_name in _COMPARE.items():
    setattr(_Var, _dunder, lambda self, o, _n=_torch_name: self._op(_n, self, o, boolean=True))


class _Recorder:
    """A namespace that records the operations of one formula, with common sub-expressions
    merged."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.ops: list[tuple[str, tuple[Any, ...], bool]] = []
        self._seen: dict[tuple[Any, ...], _Var] = {}
        self.dtype = dtype
        self.float16, self.float32, self.float64 = torch.float16, torch.float32, torch.float64

    def emit(self, name: str, args: tuple[Any, ...], boolean: bool = False) -> _Var:
        for a in args:
            if isinstance(a, _Var):
                if a.rec is not self:
                    raise _Untraceable("an array from another trace")
            elif isinstance(a, bool) or not isinstance(a, (int, float)):
                raise _Untraceable(f"a {type(a).__name__} operand")
        key = (name, tuple((a.index,) if isinstance(a, _Var) else (type(a), repr(a))
                           for a in args))
        var = self._seen.get(key)
        if var is None:
            self.ops.append((name, args, boolean))
            var = self._seen[key] = _Var(self, len(self.ops) - 1, boolean)
        return var

    def input(self) -> _Var:
        return self.emit("input", ())

    def __getattr__(self, name: str) -> Any:
        if name in _UNARY:
            torch_name = "neg" if name == "negative" else name
            return lambda a: self.emit(torch_name, (a,))
        if name in _BOOL_UNARY:
            return lambda a: self.emit(name, (a,), True)
        if name in _BINARY:
            return lambda a, b: self.emit(_BINARY[name], (a, b))
        # Not _Untraceable: the math asks for optional hooks with getattr(xp, name, None), and
        # keeps its portable form when the answer is None. (A formula that calls an unknown
        # function still gets no plan: _generate catches the AttributeError.)
        raise AttributeError(name)

    def where(self, condition: Any, a: Any, b: Any) -> _Var:
        return self.emit("where", (condition, a, b))

    def clip(self, x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        if min is None and max is None:
            return x
        if max is None:
            return self.emit("clamp_min", (x, min))
        if min is None:
            return self.emit("clamp_max", (x, max))
        return self.emit("clamp", (x, min, max))

    def nan_through(self, x: Any, out: Any) -> _Var:  # the adapter's hook, in one call
        return self.emit("nan_through", (x, out))

    def choose_finite(self, condition: Any, a: Any, b: Any) -> _Var:  # the math's choice between
        # finite branches (spikegrad._math._choose_finite): a mask and one exact lerp
        return self.emit("lerp", (b, a, self.astype(condition, self.dtype)))

    def full_like(self, x: Any, value: Any) -> _Var:
        return self.emit("full_like", (x, value))

    def zeros_like(self, x: Any) -> _Var:
        return self.emit("full_like", (x, 0.0))

    def ones_like(self, x: Any) -> _Var:
        return self.emit("full_like", (x, 1.0))

    def astype(self, x: Any, dtype: Any) -> Any:
        if dtype != self.dtype:
            raise _Untraceable(f"a cast to {dtype}")
        return self.emit("to_float", (x,)) if isinstance(x, _Var) and x.boolean else x

    def isdtype(self, *args: Any) -> bool:
        raise _Untraceable("xp.isdtype")


# The call each operation makes: out-of-place (the math's own call through the adapter's
# namespace) and, when a dead temporary of the same kind exists, the same call with out= (or in
# place, as a method, when that temporary is the first operand).
def _call(name: str, args: list[str], out: str | None, a_numbers: tuple[Any, ...] = ()) -> str:
    a = args
    if out and name in _COMMUTATIVE and a[1] == out:  # the same number either way round
        a = [a[1], a[0]]
    method = name[5:] if name.startswith("mask_") else name  # a comparison into floats
    if out and a and a[0] == out and hasattr(torch.Tensor, f"{method}_"):
        # In place, as a method: PyTorch parses that call faster than the out= form (1.1
        # against 1.4 microseconds for a product of 4096 numbers), and the kernel is the same.
        if name.startswith("clamp"):
            return f"{out}.clip_({_CLIP_BOUNDS[name].format(*a[1:])})"
        return f"{out}.{method}_({', '.join(a[1:])})"
    o = f", out={out}" if out else ""
    if name in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "atan2",
                "hypot", "logaddexp", "bitwise_and", "bitwise_or") or name in _COMPARE.values():
        return f"torch.{name}({a[0]}, {a[1]}{o})"
    if name == "rsub":  # c - t: Tensor.__rsub__ (c a 0-d tensor)
        return f"torch.sub({a[1]}, {a[0]}{o})"
    if name == "where":
        return f"torch.where({a[0]}, {a[1]}, {a[2]}{o})"
    if name == "clamp":
        return f"torch.clip({a[0]}, min={a[1]}, max={a[2]}{o})"
    if name == "clamp_min":
        return f"torch.clip({a[0]}, min={a[1]}{o})"
    if name == "clamp_max":
        return f"torch.clip({a[0]}, max={a[1]}{o})"
    if name == "full_like":
        return f"{out}.fill_({a[1]})" if out else f"torch.full_like({a[0]}, {a[1]})"
    if name == "to_float":  # a boolean as 0.0 / 1.0
        return f"{out}.copy_({a[0]})" if out else f"{a[0]}.to(_dtype)"
    if name == "isnan":  # NaN is the one value unequal to itself
        return f"torch.ne({a[0]}, {a[0]}{o})"
    if name in _BOOL_UNARY:
        return f"torch.{name}({a[0]}{o})"
    if name.startswith("mask_"):  # a comparison into floats: 0.0 or 1.0
        return f"torch.{name[5:]}({a[0]}, {a[1]}{o})"
    if name == "select":  # m A + (1 - m) B, m a mask (see _select_constants)
        m, ka, kb = a
        if a_numbers[1] == 0.0:
            return _call("mul", [m, ka], out) if a_numbers[2] == 0.0 else (
                f"{_call('sub', ['_one', m], out)}.mul_({kb})")
        if a_numbers[2] == 0.0:
            return _call("mul", [m, ka], out)
        # (Not lerp(B, A, m): with 0-d ends PyTorch's CPU lerp is not vectorized.)
        return (f"{_call('mul', [m, ka], out)}; {_call('sub', ['_one', m], m)}; "
                f"torch.addcmul({out}, {m}, {kb}{o})")
    if name == "lerp":  # exact for a weight of 0 or 1: PyTorch computes start + w (end -
        # start) for w < 1/2, end - (end - start) (1 - w) otherwise
        return f"torch.lerp({a[0]}, {a[1]}, {a[2]}{o})"
    if name == "nan_through":  # clamp(x, out, out): out, or NaN where x is NaN (one call; not
        # differentiable as the adapter's hook is, which the plan need not be)
        return f"torch.clamp({a[0]}, min={a[1]}, max={a[1]}{o})"
    if name in ("exp2_scaled", "exp_via_exp2"):  # exp(t * c) as exp2(t * (c log2 e)), and
        # exp(t) as exp2(t * log2 e) (see exp_cpu)
        c = a[1] if name == "exp2_scaled" else "_log2e"
        return (f"{_call('mul', [a[0], c], out)}.exp2_()" if out
                else f"torch.exp2(torch.mul({a[0]}, {c}))")
    if name == "addcmul_zero":  # (t * c) * u, the product the math writes, in one call
        return f"torch.addcmul(_zero, {a[0]}, {a[2]}, value={a[1]}{o})"
    if name == "addcdiv_zero":  # (c v) / D
        return f"torch.addcdiv(_zero, {a[0]}, {a[1]}, value={a[2]}{o})"
    if name == "addcmul_square":  # c + t * t, one rounding
        return f"torch.addcmul({a[0]}, {a[1]}, {a[1]}{o})"
    if name == "add_scaled":  # c + t * k, one rounding (c a 0-d tensor, k a number)
        return f"torch.add({a[0]}, {a[1]}, alpha={a[2]}{o})"
    if name == "remainder_floored":  # t mod c = t - c floor(t / c), c a power of two: every
        # step exact (see _rewrite); out is not t's buffer (the generator holds it)
        return f"torch.sub({a[0]}, {_call('mul', [a[0], a[1]], out)}.floor_(), alpha={a[2]}{o})"
    return f"torch.{name}({a[0]}{o})"


_COMMUTATIVE = ("add", "mul")
_MASKS = tuple(f"mask_{c}" for c in _COMPARE.values())  # comparisons written into floats
_CLIP_BOUNDS = {"clamp": "min={}, max={}", "clamp_min": "min={}", "clamp_max": "max={}"}

# Arithmetic whose Python-number operand is cast to the tensor's dtype before it is used (the
# wrapped-number rule): given as a 0-d tensor of that dtype instead, the numbers are the same.
_TENSOR_SCALAR_OPS = {"add", "sub", "rsub", "mul", "div", "exp2_scaled", "select",
                      "addcmul_square", *_COMPARE.values(), *_MASKS}

_OUT_OK = {"add", "sub", "rsub", "mul", "div", "pow", "maximum", "minimum", "remainder",
           "atan2", "hypot", "logaddexp", "bitwise_and", "bitwise_or", "bitwise_not", "clamp",
           "clamp_min", "clamp_max", "where", "full_like", "to_float", "isnan", "signbit",
           "neg", "addcmul_zero", "addcdiv_zero", "addcmul_square", "add_scaled",
           "exp_via_exp2", "exp2_scaled", "remainder_floored", "select", "nan_through", "lerp",
           *_UNARY, *_COMPARE.values(), *_MASKS}


def exp_cpu(a: Any) -> Any:
    """``exp(a)`` as PyTorch computes it fastest: ``exp2(a * log2(e))`` on CPU tensors.

    PyTorch's CPU ``exp`` kernel takes 2.5-3 times as long as its ``exp2`` (float32 and
    float64). Rounding ``a * log2(e)`` adds a relative error of about ``|a|`` ulps to the
    result: the same order as the rounding of ``a`` itself, which the result's conditioning
    already carries (``exp`` multiplies a relative change of ``a`` by ``|a|``). Other devices
    keep ``exp``. The planned backward computes the same expression.
    """
    if isinstance(a, torch.Tensor) and a.device.type == "cpu":
        return torch.exp2(a * LOG2E)
    return torch.exp(a)


def nan_through(x: Any, out: Any) -> Any:
    """``where(isnan(x), x, out)`` as ``maximum(out, clip(x, max=-inf))``: ``clip`` maps every
    number to ``-inf`` and keeps NaN, ``maximum`` propagates NaN and otherwise returns ``out``.
    Both are vectorized; PyTorch's boolean ``isnan`` and ``where`` are not (six times slower on
    the CPU). Differentiable (the adapter's namespaces use it); a plan makes it one ``clamp``."""
    return torch.maximum(out, torch.clip(x, max=-math.inf))


def _number_of(ops: list[tuple[str, tuple[Any, ...], bool]], uses: dict[int, int], a: Any
               ) -> float | None:
    """The finite number ``a`` stands for (a number, or ``full_like`` of one used only once)."""
    if isinstance(a, _Var):
        name, args, _ = ops[a.index]
        if name != "full_like" or uses.get(a.index) != 1:
            return None
        a = args[1]
    if type(a) in (int, float) and math.isfinite(a):
        return float(a)
    return None


def _select_constants(ops: list[tuple[str, tuple[Any, ...], bool]], uses: dict[int, int]
                      ) -> None:
    """``where(t < c, A, B)`` (any comparison with a number, used only there; finite numbers
    ``A`` and ``B``) as a comparison into a float mask ``m`` (0 or 1) and ``m A + (1 - m) B``.

    Both are exact: one product is 0, the other ``A`` or ``B``. PyTorch's CPU comparisons into
    booleans and its ``where`` are not vectorized (0.4-0.6 ns per element, against 0.1 for a
    comparison into floats or a product): the piecewise-constant surrogates' backward took
    twice as long."""
    for j, (name, args, _) in enumerate(ops):
        if name != "where" or not isinstance(args[0], _Var) or uses.get(args[0].index) != 1:
            continue
        c_name, c_args, _ = ops[args[0].index]
        if (c_name not in _COMPARE.values() or not isinstance(c_args[0], _Var)
                or isinstance(c_args[1], _Var)):
            continue
        a, b = _number_of(ops, uses, args[1]), _number_of(ops, uses, args[2])
        if a is None or b is None:
            continue
        for branch in args[1:]:
            if isinstance(branch, _Var):
                ops[branch.index] = ("merged", (), False)
        ops[args[0].index] = (f"mask_{c_name}", c_args, False)
        ops[j] = ("select", (args[0], a, b), False)


# t * 1, t / 1 and t - 0 are t, the same number (NaN, infinities and -0.0 too); t + 0 is not
# (-0.0 + 0.0 is 0.0).
_IDENTITIES = {"mul": 1, "div": 1, "sub": 0}  # (t - (-0.0) is not t for t = -0.0)


def _merge(ops: list[tuple[str, tuple[Any, ...], bool]]) -> None:
    """Forget operations that give an earlier result again: identities such as the math's
    ``1 / t`` (``reciprocal(t) * 1.0``), and repeats (which a rewrite can make: ``|alpha x|``
    becomes ``|x|``, computed already). Their uses read the earlier result."""
    alias: dict[int, _Var] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for j, (name, args, boolean) in enumerate(ops):
        if name in ("merged", "input"):
            continue
        if alias:
            args = tuple(alias.get(a.index, a) if isinstance(a, _Var) else a for a in args)
            ops[j] = (name, args, boolean)
        key = (name, tuple(("v",) if a is None else (a.index,) if isinstance(a, _Var)
                           else (type(a), repr(a)) for a in args))
        if (name in _IDENTITIES and isinstance(args[0], _Var) and not args[0].boolean
                and type(args[1]) in (int, float) and args[1] == _IDENTITIES[name]
                and math.copysign(1.0, args[1]) > 0):
            alias[j] = args[0]
        elif key in seen:
            alias[j] = _Var(None, seen[key], boolean)  # type: ignore[arg-type] # (no emission)
        else:
            seen[key] = j
            continue
        ops[j] = ("merged", (), False)


def _float_masks(ops: list[tuple[str, tuple[Any, ...], bool]], uses: dict[int, int]) -> None:
    """A comparison cast to floats (``astype(t < c, dtype)``, used only there) as one
    comparison into floats: the same 0.0 and 1.0, no boolean temporary, no second call."""
    for j, (name, args, _) in enumerate(ops):
        if name == "to_float" and uses.get(args[0].index) == 1:
            c_name, c_args, _ = ops[args[0].index]
            if c_name in _COMPARE.values():
                ops[j] = (f"mask_{c_name}", c_args, False)
                ops[args[0].index] = ("merged", (), False)


def _is_square(op: tuple[str, tuple[Any, ...], bool]) -> bool:
    """Whether a recorded operation is ``t * t``."""
    name, args, _ = op
    return (name == "mul" and isinstance(args[0], _Var) and isinstance(args[1], _Var)
            and args[0].index == args[1].index)


def _nonnegative(ops: list[tuple[str, tuple[Any, ...], bool]], a: Any) -> bool:
    """Whether the recorded ``a`` is ``>= 0`` (or NaN) by its form: an ``abs``, a square."""
    return isinstance(a, _Var) and (ops[a.index][0] == "abs" or _is_square(ops[a.index]))


def _at_least_one(ops: list[tuple[str, tuple[Any, ...], bool]], a: Any) -> bool:
    """Whether the recorded ``a`` is ``>= 1`` (or NaN) by its form: ``t + c`` with ``t >= 0``
    and a number ``c >= 1`` (``1 + t**2``), or the square of such a sum."""
    if not isinstance(a, _Var):
        return False
    name, args, _ = ops[a.index]
    if name == "add":
        return type(args[1]) in (int, float) and args[1] >= 1 and _nonnegative(ops, args[0])
    return _is_square(ops[a.index]) and _at_least_one(ops, args[0])


def _fused_sums(ops: list[tuple[str, tuple[Any, ...], bool]], uses: dict[int, int]) -> None:
    """A sum that cannot cancel, ``t * u + c`` with ``t * u`` used only there, in one call
    that PyTorch computes with a fused multiply-add (the sum correctly rounded, where the
    eager pair rounds twice: within an ulp of it, and never less accurate):

    * ``t * t + c``, ``c > 0`` (the ``1 + t**2`` of arctan, of the sigmoid slope and of the
      algebraic sigmoid), as ``addcmul(c, t, t)``;
    * ``|a| * k + c`` (numbers ``k`` and ``c`` of one sign; the ``1 + alpha |x|`` of
      inv_square_grad and sparse_fast_sigmoid), as ``add(c, |a|, alpha=k)`` (with a number
      factor, ``addcmul`` is not vectorized)."""
    for j, (name, args, boolean) in enumerate(ops):
        if name != "add" or not isinstance(args[0], _Var) or uses.get(args[0].index) != 1:
            continue
        c = args[1]
        product = ops[args[0].index]
        if product[0] != "mul" or type(c) not in (int, float) or not 0 < abs(c) < math.inf:
            continue
        t, u = product[1]
        if not isinstance(t, _Var):
            continue
        if _is_square(product) and c > 0:
            ops[j] = ("addcmul_square", (c, t), boolean)
        elif (ops[t.index][0] == "abs" and type(u) in (int, float) and math.isfinite(u)
                and u * c > 0):
            ops[j] = ("add_scaled", (c, t, u), boolean)
        else:
            continue
        ops[args[0].index] = ("merged", (), False)


def _rewrite(ops: list[tuple[str, tuple[Any, ...], bool]], final: int, device: str) -> None:
    """Rewrite, in place, operations that PyTorch runs in fewer calls with the same numbers
    (or fewer roundings): products with 1 dropped, comparisons cast to floats made into
    floats (:func:`_float_masks`), selects of numbers with a float mask
    (:func:`_select_constants`), the final ``v * (1 / D)`` into ``v / D`` (within an ulp) and
    ``v * ((1 / D) * c)`` into one ``addcdiv``, sums that cannot cancel into one fused
    multiply-add (:func:`_fused_sums`), ``exp`` of a product with a power of two on the CPU into one
    ``exp2`` (with the powers of two of its argument, :func:`_unscaled`), and ``(t * c) * u``
    (a number ``c``, the product ``t * c`` used only there) into one
    ``addcmul(0, t, u, value=c)``, which computes ``(c * t) * u`` with the same two
    roundings; then the repeats those rewrites made merged (:func:`_merge`). A replaced
    operation becomes ``("merged", (), False)``."""
    _merge(ops)
    uses: dict[int, int] = {}
    for _, args, _ in ops:
        for a in args:
            if isinstance(a, _Var):
                uses[a.index] = uses.get(a.index, 0) + 1
    _float_masks(ops, uses)
    _select_constants(ops, uses)
    # v * (1 / D) as v / D: one rounding fewer, so within an ulp of the eager product, and one
    # call fewer.
    _, (_, r), _ = ops[final]
    r_name, r_args, _ = ops[r.index]
    if r_name == "reciprocal" and uses[r.index] == 1:
        ops[final] = ("div", (None, r_args[0]), False)
        ops[r.index] = ("merged", (), False)
    elif r_name == "mul" and uses[r.index] == 1 and isinstance(r_args[0], _Var):
        # v * ((1 / D) * c), 0 < |c| <= 1 and D >= 1, as (c v) / D in one addcdiv: two
        # roundings instead of three, and c v can neither overflow nor underflow where the
        # result does not (|result| <= |c v|).
        d_name, d_args, _ = ops[r_args[0].index]
        c = r_args[1]
        if (d_name == "reciprocal" and uses[r_args[0].index] == 1
                and type(c) in (int, float) and 0 < abs(c) <= 1
                and _at_least_one(ops, d_args[0])):
            ops[final] = ("addcdiv_zero", (None, d_args[0], c), False)
            ops[r.index] = ops[r_args[0].index] = ("merged", (), False)
    _fused_sums(ops, uses)
    for j, (name, args, boolean) in enumerate(ops):
        if name == "remainder" and isinstance(args[0], _Var) and _power_of_two(args[1]) and (
                args[1] >= 1):
            # t mod c as t - c floor(t / c), three vectorized passes where PyTorch's CPU
            # remainder takes four times as long (1.3 ns per element, as long as cos): with c
            # a power of two from 1 on, t / c (here t * (1/c)) neither overflows nor rounds,
            # c floor(t / c) is exact, and so is their difference for t >= 0 (t's low bits,
            # or 0 where t / c is a whole number); NaN for +-inf and NaN, as remainder gives.
            ops[j] = ("remainder_floored", (args[0], 1.0 / args[1], args[1]), boolean)
            continue
        if name == "exp" and device == "cpu":
            # exp(t * c), c a power of two: exp2(t * (c log2 e)), as exact as exp_cpu's
            # exp2((t * c) * log2 e) (scaling by a power of two rounds nothing), one call less.
            i_name, i_args, _ = ops[args[0].index]
            if i_name == "neg":  # -t is t * -1
                i_name, i_args = "mul", (*i_args, -1.0)
            if (i_name == "mul" and uses.get(args[0].index) == 1 and isinstance(i_args[0], _Var)
                    and _power_of_two(i_args[1])):
                ops[args[0].index] = ("merged", (), False)
                t, c = _unscaled(ops, uses, i_args[0], i_args[1] * LOG2E)
                ops[j] = ("exp2_scaled", (t, c), boolean)
            continue
        if name != "mul" or not all(a is None or isinstance(a, _Var) for a in args):
            continue  # (the final product has v, written None, as one factor)
        for k in (0, 1):
            inner, other = args[k], args[1 - k]
            if inner is None:
                continue
            i_name, i_args, _ = ops[inner.index]
            if (i_name == "mul" and uses.get(inner.index) == 1 and inner is not other
                    and isinstance(i_args[0], _Var) and not isinstance(i_args[1], _Var)):
                ops[j] = ("addcmul_zero", (i_args[0], i_args[1], other), boolean)
                ops[inner.index] = ("merged", (), False)
                break
    _merge(ops)  # the rewrites may have made repeats


def _unscaled(ops: list[tuple[str, tuple[Any, ...], bool]], uses: dict[int, int], t: _Var,
              c: float) -> tuple[_Var, float]:
    """``t * c`` as ``u * (a c)`` where ``t`` is ``u * a`` or ``|u * a|`` (``a`` a power of two,
    the product used only there): scaling by a power of two rounds nothing, so the product is
    the same number, with one call fewer (the sigmoid surrogate's ``|alpha x|``, alpha = 4).
    """
    name, args, boolean = ops[t.index]
    if name == "abs" and uses.get(t.index) == 1:
        inner, inner_args = args[0], ops[args[0].index][1]
        if (ops[inner.index][0] == "mul" and uses.get(inner.index) == 1
                and isinstance(inner_args[0], _Var) and _power_of_two(inner_args[1])):
            ops[t.index] = ("abs", (inner_args[0],), boolean)  # |u a| = |u| |a|
            ops[inner.index] = ("merged", (), False)
            return t, c * abs(inner_args[1])
    if (name == "mul" and uses.get(t.index) == 1 and isinstance(args[0], _Var)
            and _power_of_two(args[1])):
        ops[t.index] = ("merged", (), False)
        return args[0], c * args[1]
    return t, c


def number(c: Any, dtype: torch.dtype) -> torch.Tensor:
    """``c`` as a 0-d CPU tensor of ``dtype``, an ordinary tensor even in inference mode."""
    with torch.inference_mode(False):
        return torch.tensor(c, dtype=dtype)


def _generate(formula: Formula, values: tuple[Any, ...], dtype: torch.dtype, device: str = "cpu"
              ) -> Callable[..., torch.Tensor] | None:
    """The planned ``plan(x, v, out, scratch)`` for ``v * g'(x)`` in ``dtype``, or None.

    ``out`` receives the result and doubles as the first temporary; ``scratch`` is a sequence
    of buffers of ``x``'s shape, :attr:`plan.floats` of the compute dtype then
    :attr:`plan.booleans` booleans, that the plan overwrites. Every operation with an ``out=``
    form writes into one of them, so a plan allocates only for the few calls without one.
    """
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    rec = _Recorder(compute)
    x = rec.input()
    try:
        result = formula.derivative(x, values, xp=rec)
    except _Untraceable:
        return None
    except Exception:  # noqa: BLE001 - anything else a formula does with a recorder: eager
        return None
    if not isinstance(result, _Var) or result.boolean or result is x:
        return None  # a constant (or the identity): eager evaluation broadcasts it
    ops = rec.ops
    v_index = len(ops)
    ops.append(("mul", (None, result), False))  # v * g'(x), v stands for None
    _rewrite(ops, v_index, device)
    last_use: dict[int, int] = {}
    for i, (_, args, _) in enumerate(ops):
        for a in args:
            if isinstance(a, _Var):
                last_use[a.index] = i
    consts: dict[Any, str] = {}
    const_values: dict[str, Any] = {}

    def const(c: Any) -> str:
        key = (type(c), repr(c))
        if key not in consts:
            consts[key] = f"c{len(consts)}"
            const_values[consts[key]] = c
        return consts[key]

    def const_tensor(c: Any) -> str:
        # A Python number as a 0-d CPU tensor of the compute dtype: the same number the
        # operation would convert it to, without the conversion on every call (half the cost
        # of a small operation). CPU scalars combine with tensors on any device.
        key = ("tensor", type(c), repr(c))
        if key not in consts:
            consts[key] = f"k{len(consts)}"
            const_values[consts[key]] = number(c, compute)
        return consts[key]

    names = {0: "x"}
    # Buffers free for a result, by kind (boolean or not); `out` first, if it has the compute
    # dtype. New scratch buffers are numbered per kind and placed in `scratch` afterwards.
    free: dict[bool, list[str]] = {False: ["out"] if compute == dtype else [], True: []}
    scratch: dict[bool, list[str]] = {False: [], True: []}
    counter = itertools.count()
    lines = []
    if compute != dtype:
        lines += ["    x = x.to(_dtype)", "    v = v.to(_dtype)"]
    for i, (name, args, boolean) in enumerate(ops[1:], start=1):
        if name == "merged":
            continue
        if name == "exp" and device == "cpu":
            name = "exp_via_exp2"
        scalar = const_tensor if name in _TENSOR_SCALAR_OPS or (
            name == "where" and any(isinstance(a, _Var) for a in args[1:])
        ) else const
        arg_names = ["v" if a is None else names[a.index] if isinstance(a, _Var) else scalar(a)
                     for a in args]
        if name == "add_scaled":  # a 0-d tensor added, a number factor
            arg_names[0] = const_tensor(args[0])
        if name == "remainder_floored":  # a 0-d tensor factor, a number alpha
            arg_names[1] = const_tensor(args[1])
        # Buffers whose last use is this operation become free for its result (but a select
        # of two nonzero numbers writes its result while it still reads its mask).
        held = args[0].index if (name == "select" and 0.0 not in args[1:]
                                 or name == "remainder_floored") else None
        for a in {a.index for a in args if isinstance(a, _Var)}:
            if a != 0 and a != held and last_use.get(a) == i:
                free[ops[a][2]].append(names[a])
        if i == v_index:
            if compute != dtype:  # the product in float32, rounded once into out
                target = free[False][-1] if free[False] else None
                lines.append(f"    out.copy_({_call(name, arg_names, target)})")
            else:
                lines.append(f"    {_call(name, arg_names, 'out')}")
            break
        takes_out = name in _OUT_OK and not (
            name == "where" and not any(isinstance(a, _Var) for a in args[1:])
        )  # torch.where takes out= only with tensor branches (numbers become 0-d tensors)
        if takes_out:
            if not free[boolean]:
                kind = scratch[boolean]
                kind.append(f"{'b' if boolean else 'f'}{len(kind)}")
                free[boolean].append(kind[-1])
            target = free[boolean].pop()
            lines.append(f"    {_call(name, arg_names, target, args)}")
            if held is not None and held != 0 and last_use.get(held) == i:  # never x
                free[False].append(names[held])
        else:
            target = f"t{next(counter)}"
            lines.append(f"    {target} = {_call(name, arg_names, None)}")
        names[i] = target
        if i not in last_use:  # never used (cannot happen for traced math, but be safe)
            free[boolean].append(target)
    unpack = [*scratch[False], *scratch[True]]
    head = [f"    {', '.join(unpack)}, = scratch"] if unpack else []
    source = "def plan(x, v, out, scratch):\n" + "\n".join(head + lines) + "\n    return out\n"
    scope: dict[str, Any] = {"torch": torch, "_dtype": compute, "_zero": number(0.0, compute),
                             "_log2e": number(LOG2E, compute), "_one": number(1.0, compute)}
    scope.update(const_values)
    code = compile(source, f"<spikegrad plan of {formula.name}{values} {dtype}>", "exec")
    exec(code, scope)  # noqa: S102 - our own generated source
    plan = scope["plan"]
    plan.source = source
    plan.floats, plan.booleans, plan.compute = len(scratch[False]), len(scratch[True]), compute
    plan.cpu = device == "cpu"
    return plan


_plans: dict[tuple[Spec, torch.dtype, str], Callable[..., torch.Tensor] | None] = {}
"""The plans made, by (spec, dtype, device type); the adapter reads it directly in every
backward pass (a spec keeps its hash) and calls :func:`plan_of` on a miss."""


def plan_of(spec: Spec, dtype: torch.dtype, device: str) -> Callable[..., torch.Tensor] | None:
    """The cached plan of ``v * g'(x)`` for one surrogate, dtype and device type (None:
    evaluate eagerly; devices other than CPU and CUDA always)."""
    key = (spec, dtype, device)
    try:
        return _plans[key]
    except KeyError:
        pass
    except TypeError:  # unhashable values
        return None
    if device not in ("cpu", "cuda") or not spec.formula.symbolic:
        plan = None
    else:
        plan = _generate(spec.formula, spec.values, dtype, device)
    if len(_plans) >= MAX_PLANS:
        _plans.clear()
    _plans[key] = plan
    return plan


def plan_for(formula: Formula, values: tuple[Any, ...], dtype: torch.dtype, device: str = "cpu"
             ) -> Callable[..., torch.Tensor] | None:
    """:func:`plan_of` for a formula and its parameter values."""
    return plan_of(Spec(formula, values), dtype, device)


class _Scratch(threading.local):
    """Per-thread buffers of :data:`BLOCK` elements, reused by every call: temporaries that
    stay in the CPU cache and cost no allocation (a fresh large tensor costs page faults).
    The views of them that a shape needs are kept too (slicing a tensor costs microseconds)."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[Any, ...], list[torch.Tensor]] = {}
        self.views: dict[tuple[Any, ...], list[torch.Tensor]] = {}

    def take(self, plan: Any, shape: tuple[int, ...]) -> list[torch.Tensor]:
        """``plan.floats`` CPU buffers of the compute dtype then ``plan.booleans`` boolean
        ones, as tensors of ``shape`` (at most :data:`BLOCK` elements)."""
        key = (plan.compute, plan.floats, plan.booleans, shape, BLOCK)
        views = self.views.get(key)
        if views is None:
            n = math.prod(shape)
            views = []
            for dtype, count in ((plan.compute, plan.floats), (torch.bool, plan.booleans)):
                kept = self.buffers.setdefault((dtype, BLOCK), [])
                while len(kept) < count:
                    with torch.inference_mode(False):  # made in inference mode, it could not
                        # be written outside it
                        kept.append(torch.empty(BLOCK, dtype=dtype))
                views += [b[:n].view(shape) for b in kept[:count]]
            if len(self.views) >= _MAX_VIEWS:
                self.views.clear()
            self.views[key] = views
        return views


_scratch = _Scratch()
_MAX_VIEWS = 64


def times_derivative(plan: Callable[..., torch.Tensor], v: torch.Tensor, x: torch.Tensor,
                     fuse: str = "auto") -> torch.Tensor:
    """``v * g'(x)`` by ``plan`` (``v`` of ``x``'s shape and dtype), in a tensor of ``x``'s
    layout. CPU tensors use this thread's scratch buffers, in blocks of :data:`BLOCK`
    elements beyond that size, from :data:`~spikegrad._config.TORCH_FUSE_MIN_ELEMENTS`
    elements on in mode ``fuse="auto"``, at every size in mode ``"always"``; others get new
    temporaries."""
    out = torch.empty_like(x)
    if not plan.floats and not plan.booleans:  # every temporary lives in `out`
        return plan(x, v, out, ())
    n = x.numel()
    if not plan.cpu or (fuse != "always" and n < _config.TORCH_FUSE_MIN_ELEMENTS):
        scratch = [torch.empty_like(out, dtype=plan.compute) for _ in range(plan.floats)]
        scratch += [torch.empty_like(out, dtype=torch.bool) for _ in range(plan.booleans)]
        return plan(x, v, out, scratch)
    if n <= BLOCK and x.is_contiguous() and v.is_contiguous():
        return plan(x, v, out, _scratch.take(plan, x.shape))
    if not out.is_contiguous():  # a permuted layout: blocks are slices of the flat tensor
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    xf, vf, of = x.reshape(-1), v.reshape(-1), out.view(-1)
    for i in range(0, n, BLOCK):
        j = min(i + BLOCK, n)
        plan(xf[i:j], vf[i:j], of[i:j], _scratch.take(plan, (j - i,)))
    return out
