"""Eager PyTorch without the waste: a surrogate's ``v * g'(x)`` replayed as a planned program.

Run as written, the math of :mod:`spikegrad._math` makes eager PyTorch allocate a new tensor
for every operation and evaluate repeated sub-expressions again (``1 + e`` twice in the sigmoid
surrogate); on large tensors each operation is also a pass over memory. Here the formula is
*traced* once per surrogate (formula, parameter values) and dtype with a recording namespace,
and turned into straight-line Python calling the same PyTorch functions, with:

* common sub-expressions evaluated once;
* results written (``out=``) into temporaries that nothing uses any more, so a backward pass
  allocates one buffer per live intermediate instead of one per operation;
* for large tensors, evaluation in blocks of :data:`BLOCK` elements, so that every intermediate
  of a block stays in the CPU cache and the whole backward is one pass over memory (read ``x``
  and ``v``, write the result), with no compiler;
* 16-bit inputs converted to float32 block by block and the product rounded once (the rule of
  :mod:`spikegrad._evaluate`).

The program calls the very functions the math calls through the adapter's namespace
(``torch.abs``, ``Tensor.__rtruediv__``'s ``reciprocal() * c``, ...), so it computes the same
numbers as the plain eager evaluation, element for element. Nothing here is differentiable: the
adapter uses a plan only for plain backward passes (no ``create_graph``, no ``torch.func``, not
under ``torch.compile``, no tensor subclasses). A formula the recorder cannot follow (one that
is not written with ``xp``, uses a function listed nowhere below, or branches on array values)
gets no plan, and the adapter evaluates it eagerly.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import torch

from spikegrad._contract import Formula

__all__ = ["BLOCK", "plan_for", "times_derivative"]

BLOCK = 1 << 17
"""Elements per block of the blocked evaluation (512 KiB per float32 intermediate: the few
live ones of a block fit in a 2 MiB L2 cache)."""

_MAX_PLANS = 512  # parameter sweeps must not grow the cache without bound

_UNARY = ("abs", "exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "atan", "tanh",
          "erfc", "square", "sign", "floor", "ceil", "trunc", "round", "negative")
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
    def __rtruediv__(self, o: Any) -> _Var: return self._op("rdiv", self, o)
    def __pow__(self, o: Any) -> _Var: return self._op("pow", self, o)
    def __neg__(self) -> _Var: return self._op("neg", self)
    def __and__(self, o: Any) -> _Var: return self._op("bitwise_and", self, o, boolean=True)
    def __or__(self, o: Any) -> _Var: return self._op("bitwise_or", self, o, boolean=True)
    def __invert__(self) -> _Var: return self._op("bitwise_not", self, boolean=True)

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
        raise _Untraceable(f"xp.{name}")

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
# namespace) and, when a dead temporary of the same kind exists, the same call with out=.
def _call(name: str, args: list[str], out: str | None) -> str:
    o = f", out={out}" if out else ""
    a = args
    if name in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "atan2",
                "hypot", "logaddexp", "bitwise_and", "bitwise_or") or name in _COMPARE.values():
        return f"torch.{name}({a[0]}, {a[1]}{o})"
    if name == "rsub":  # c - t: Tensor.__rsub__
        return f"torch.rsub({a[0]}, {a[1]})"
    if name == "rdiv":  # c / t: Tensor.__rtruediv__ is reciprocal() * c
        if out:
            return f"torch.reciprocal({a[0]}{o}).mul_({a[1]})"
        return f"{a[0]}.reciprocal() * {a[1]}"
    if name == "where":
        return f"torch.where({a[0]}, {a[1]}, {a[2]}{o})"
    if name == "clamp":
        return f"torch.clip({a[0]}, min={a[1]}, max={a[2]}{o})"
    if name == "clamp_min":
        return f"torch.clip({a[0]}, min={a[1]}{o})"
    if name == "clamp_max":
        return f"torch.clip({a[0]}, max={a[1]}{o})"
    if name == "full_like":
        return f"torch.full_like({a[0]}, {a[1]})"
    if name == "to_float":
        return f"{a[0]}.to(_dtype)"
    if name in _BOOL_UNARY:
        return f"torch.{name}({a[0]})"
    return f"torch.{name}({a[0]}{o})"


_OUT_OK = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "atan2",
           "hypot", "logaddexp", "bitwise_and", "bitwise_or", "bitwise_not", "rdiv", "clamp",
           "clamp_min", "clamp_max",
           "neg", *_UNARY, *_COMPARE.values()}


def _generate(formula: Formula, values: tuple[Any, ...], dtype: torch.dtype
              ) -> Callable[..., torch.Tensor] | None:
    """The planned ``plan(x, v, out)`` for ``v * g'(x)`` in ``dtype``, or None."""
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

    names = {0: "x"}
    free: dict[bool, list[str]] = {False: [], True: []}
    counter = itertools.count()
    lines = []
    if compute != dtype:
        lines += ["    x = x.to(_dtype)", "    v = v.to(_dtype)"]
    for i, (name, args, boolean) in enumerate(ops[1:], start=1):
        arg_names = ["v" if a is None else names[a.index] if isinstance(a, _Var) else const(a)
                     for a in args]
        # Temporaries whose last use is this operation become free for its result.
        for a in {a.index for a in args if isinstance(a, _Var)}:
            if a != 0 and last_use.get(a) == i:
                free[ops[a][2]].append(names[a])
        if i == v_index:
            if compute != dtype:
                lines.append(f"    out.copy_({_call('mul', arg_names, None)})")
            else:
                lines.append(f"    {_call('mul', arg_names, 'out')}")
            break
        out = free[boolean].pop() if name in _OUT_OK and free[boolean] else None
        target = out or f"t{next(counter)}"
        names[i] = target
        if name == "where" and any(not isinstance(a, _Var) for a in args):
            out = None  # torch.where takes out= only with tensor branches
        call = _call(name, arg_names, out)
        lines.append(f"    {target} = {call}")
        if i not in last_use:  # never used (cannot happen for traced math, but be safe)
            free[boolean].append(target)
    source = "def plan(x, v, out):\n" + "\n".join(lines) + "\n    return out\n"
    scope: dict[str, Any] = {"torch": torch, "_dtype": compute}
    scope.update(const_values)
    code = compile(source, f"<spikegrad plan of {formula.name}{values} {dtype}>", "exec")
    exec(code, scope)  # noqa: S102 - our own generated source
    plan = scope["plan"]
    plan.source = source
    return plan


_plans: dict[tuple[Any, ...], Callable[..., torch.Tensor] | None] = {}


def plan_for(formula: Formula, values: tuple[Any, ...], dtype: torch.dtype
             ) -> Callable[..., torch.Tensor] | None:
    """The cached plan of ``v * g'(x)`` for one surrogate and dtype (None: evaluate eagerly)."""
    key = (formula, values, dtype)
    try:
        return _plans[key]
    except KeyError:
        pass
    except TypeError:  # unhashable values
        return None
    if not formula.symbolic:
        plan = None
    else:
        plan = _generate(formula, values, dtype)
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[key] = plan
    return plan


def times_derivative(plan: Callable[..., torch.Tensor], v: torch.Tensor, x: torch.Tensor,
                     blocked: bool) -> torch.Tensor:
    """``v * g'(x)`` by ``plan``; in blocks of :data:`BLOCK` elements when ``blocked``."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    n = x.numel()
    if not blocked or n <= BLOCK:
        return plan(x, v, out)
    xf = x.reshape(-1)
    vf = v.reshape(-1)
    of = out.view(-1)
    for i in range(0, n, BLOCK):
        j = i + BLOCK
        plan(xf[i:j], vf[i:j], of[i:j])
    return out
