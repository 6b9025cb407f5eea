"""Generate C/CUDA elementwise kernels from the single Array-API definition of a surrogate.

The math functions of :mod:`spikegrad._math` are *called* with a symbolic namespace: every
operation appends one C statement (``const float v3 = v1 * v2;``) to a program and returns a
symbol. The same program is wrapped three ways:

* the ``operation`` of a ``cupy.ElementwiseKernel`` (the CuPy adapter);
* a standalone CUDA ``__global__`` kernel, compiled by ``nvcc`` in the tests (no GPU needed);
* a C++ loop, compiled for the CPU in the tests and checked against the NumPy reference.

The same trace in the Python dialect (``dialect="python"``: ``v3 = v1 * v2``, constants as
``float32(...)``) is the loop body of a numba kernel (:meth:`Kernel.python_source`), the
PyTorch adapter's compiled CPU backward (:mod:`spikegrad.backends._torch_kernels`). There,
parameters are float64 and expressions of parameters alone are computed in float64, rounded
to the compute type where they meet ``x``: as PyTorch computes with Python numbers.

No formula is written twice. Surrogate parameters are kernel arguments (new values need no
recompilation); integer parameters fixing the structure (the number of Fourier terms) are
unrolled into the code. float16 is loaded into float32, computed, and rounded once on store.

Examples
--------
>>> import spikegrad as sg
>>> print(sg.cuda_source(sg.Sigmoid(), "grad", "float32"))  # doctest: +ELLIPSIS
extern "C" __global__ void spikegrad_sigmoid_grad_float32(
    const float* __restrict__ x_in, float* __restrict__ y_out, const float p_alpha, const long long n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float xv = x_in[i];
    const float v0 = p_alpha * xv;
    const float v1 = fabs(v0);
...
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

from ._contract import Formula
from ._math import LOG2E, inverse_power_by_halves, power_of_two

__all__ = ["KINDS", "DTYPES", "Kernel", "generate", "cuda_source"]

KINDS = ("forward", "grad", "primitive", "vjp")
DTYPES = ("float16", "float32", "float64")
_COMPUTE = {"float16": "float", "float32": "float", "float64": "double"}
_CUPY_SCALAR = {"float": "float32", "double": "float64"}
_CUDA_STORAGE = {"float16": "__half", "float32": "float", "float64": "double"}
_CUPY_STORAGE = {"float16": "float16", "float32": "float", "float64": "double"}  # C names
_NAME = re.compile(r"\bv\d+\b")  # a traced value's variable


def _exp2_scale(factors: tuple[float, ...]) -> float | None:
    """The constant ``K`` for which ``exp(((u * a1) * a2) ... * an)``, the ``a`` powers of two
    (or their negatives) and the ``exp`` the numba dialect's ``exp2(t * float32(log2 e))``, is
    ``exp2(u * float32(K))`` in float32 bit for bit; None where it may not be.

    ``K = a1 ... an log2 e``, rounded to float32, is ``a1 ... an float32(log2 e)`` exactly (a
    normal number). Where no partial product ``u a1 ... aj`` overflows or is subnormal, every
    step as written is exact and both sides round the same real number once. Where one
    overflows, the written argument is +-inf and ``exp2`` gives 0 or inf; so does ``exp2`` of
    the folded one, at least ``2**128 |an ... aj+1| log2 e >= 151`` in size (``exp2`` is 0 or
    inf beyond 151) if ``|aj+1 ... an| >= 2**-120``. Where one is subnormal, both arguments are
    below ``2**-126 |aj+1 ... an| 1.45 + 2**-149 |aj+1 ... an|`` in size, where ``exp2`` is
    exactly 1 if ``|aj+1 ... an| <= 2**100``. So every later product of factors must lie
    within ``[2**-120, 2**100]``."""
    partial, later = 1.0, []
    for a in reversed(factors):
        partial *= a
        later.append(abs(partial))
    scale = partial * LOG2E
    if not (2.0**-120 <= min(later) and max(later) <= 2.0**100
            and 2.0**-126 <= abs(scale) < 2.0**127):
        return None
    return scale


@dataclasses.dataclass(frozen=True)
class _Dialect:
    """How statements are spelled: templates filled by :class:`_Program`."""

    literal: dict[str, str]  # by compute type: the format of a constant
    statement: str  # of ctype, name, expression
    ternary: str  # of condition, a, b
    negation: str  # of a
    AND: str
    OR: str
    functions: dict[str, str]  # the namespace's name -> the dialect's
    # Python (numba): expressions of parameters alone are computed in float64 (calling these
    # functions) and rounded to the compute type where they meet x, as PyTorch computes Python
    # numbers; None (C): everything in the compute type
    parameter_functions: dict[str, str] | None = None
    # functions that serve a range of their arguments: the namespace's name -> the guard that
    # says whether a call is in that range and the function that serves every argument
    guarded: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    # the dialect's exp2, where its float32 exp is ``exp2(a * float32(log2 e))``: powers of
    # two scaling the argument fold into that one multiplication (SymbolicNamespace.exp)
    exp2: str | None = None
    # the dialect's exp and exp2 of arguments known to be at most 0 (or NaN), which skip the
    # clip of large arguments (SymbolicNamespace.exp)
    nonpositive: dict[str, str] = dataclasses.field(default_factory=dict)


_C_FUNCTIONS = {
    "abs": "fabs", "exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p",
    "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "atan": "atan",
    "tanh": "tanh", "erfc": "erfc", "fmod": "fmod", "isinf": "isinf", "pow": "pow",
}

_MATH_FUNCTIONS = {**{k: f"math.{k}" for k in _C_FUNCTIONS}, "abs": "abs"}

_DIALECTS = {
    # CUDA, CuPy and the C++ of the tests
    "c": _Dialect({"float": "{}f", "double": "{}"}, "const {ctype} {name} = {expression};",
                  "{condition} ? {a} : {b}", "!{a}", "&&", "||", _C_FUNCTIONS),
    # numba: ``exp``, ``log1p``, ``fmod`` and ``cos`` are functions the compiling module
    # supplies (spikegrad.backends._kernel_math: ones that LLVM vectorizes; fmod_ and cos_ for
    # a range of arguments, with guards and fallbacks), the others are ``math``'s
    "python": _Dialect({"float": "float32({})", "double": "float64({})"},
                       "{name} = {expression}", "({a} if {condition} else {b})", "(not {a})",
                       "&", "|", {**_MATH_FUNCTIONS, "exp": "exp_", "log1p": "log1p_",
                                  "fmod": "fmod_", "cos": "cos_"}, _MATH_FUNCTIONS,
                       {"fmod": ("fmod_ok", "fmod_exact"), "cos": ("cos_ok", "cos_exact")},
                       "exp2_", {"exp_": "exp_nonpositive_", "exp2_": "exp2_nonpositive_"}),
}


# the fast function of each guarded function -> the one that serves every argument
_FALLBACK = {_DIALECTS["python"].functions[f]: exact
             for f, (_, exact) in _DIALECTS["python"].guarded.items()}


class _Program:
    """The statements traced so far, in order, and the math functions they call on values that
    vary with ``x`` (a call on parameters alone is made once per kernel call, not per element)."""

    def __init__(self, ctype: str, dialect: str = "c") -> None:
        self.ctype = ctype
        self.dialect = _DIALECTS[dialect]
        self.lines: list[str] = []
        self.expressions: list[str] = []  # of each line
        self.functions: set[str] = set()
        self.guards: list[str] = []

    def call(self, function: str, *args: str, varying: bool = True) -> str:
        """A call of the namespace's ``function`` in this dialect (of parameters alone: in
        float64, where the dialect computes them so); a guarded function's guard, of the same
        arguments, joins :attr:`guards`."""
        table = self.dialect.parameter_functions
        if varying or table is None:
            self.functions.add(function)
            table = self.dialect.functions
            if function in self.dialect.guarded:
                self.guards.append(f"{self.dialect.guarded[function][0]}({', '.join(args)})")
        return f"{table[function]}({', '.join(args)})"

    def operands(self, *values: Any) -> tuple[list[str], bool]:
        """The operands of one operation, as written, and whether its result varies with
        ``x``: where it does, parameter expressions computed in float64 and constants are
        rounded to the compute type first."""
        varying = any(isinstance(v, Symbol) and v.varying for v in values)
        return [self.render(v, varying) for v in values], varying

    def render(self, value: Any, varying: bool = True) -> str:
        """``value`` (a symbol or a number) as an operand of an expression that varies with
        ``x`` or, if not ``varying``, of parameters alone."""
        double = self.dialect.parameter_functions is not None
        if isinstance(value, Symbol):
            if double and varying and not value.varying and not value.boolean:
                return self.dialect.literal[self.ctype].format(value.name)
            return value.name
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"the kernel generator cannot embed {value!r} ({type(value).__name__}); surrogate "
                "math may combine arrays with Python numbers only"
            )
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"the kernel generator cannot embed the non-finite constant {value}")
        ctype = self.ctype if varying or not double else "double"
        return self.dialect.literal[ctype].format(repr(value))

    def emit(self, expression: str, boolean: bool = False, varying: bool = True) -> Symbol:
        name = f"v{len(self.lines)}"
        ctype = "bool" if boolean else self.ctype
        self.lines.append(self.dialect.statement.format(ctype=ctype, name=name,
                                                        expression=expression))
        self.expressions.append(expression)
        return Symbol(self, name, boolean, varying)

    def live(self, *roots: str) -> tuple[str, ...]:
        """The statements that the expressions ``roots`` need, in order: the others (products
        folded into an ``exp``, see :meth:`SymbolicNamespace.exp`) are left out."""
        needed = set(_NAME.findall(" ".join(roots)))
        keep = []
        for i in range(len(self.lines) - 1, -1, -1):
            if f"v{i}" in needed:
                keep.append(self.lines[i])
                needed.update(_NAME.findall(self.expressions[i]))
        return tuple(reversed(keep))


class Symbol:
    """A traced value: the name of a variable holding it, and whether it varies with ``x``
    (else it is an expression of parameters alone)."""

    __array_priority__ = 1000  # make NumPy scalars defer to our reflected operators
    dtype = "compute"  # a kernel computes in one floating type (see SymbolicNamespace.astype)

    def __init__(self, program: _Program, name: str, boolean: bool = False,
                 varying: bool = True) -> None:
        self.program = program
        self.name = name
        self.boolean = boolean
        self.varying = varying
        # (u, (a1, ..., an)): this value is ((u * a1) * a2) ... * an as written, the a powers
        # of two or their negatives (see SymbolicNamespace.exp)
        self.scaled: tuple[Symbol, tuple[float, ...]] | None = None
        # 1: known to be at least 0 (or NaN), -1: at most 0 (or NaN), 0: not known; from
        # abs(), squares, and products and negations of values of known sign
        self.sign = 0

    def _binary(self, other: Any, op: str, reverse: bool = False, boolean: bool = False) -> Symbol:
        (a, b), varying = self.program.operands(self, other)
        if reverse:
            a, b = b, a
        return self.program.emit(f"{a} {op} {b}", boolean, varying)

    def __add__(self, o: Any) -> Symbol: return self._binary(o, "+")
    def __radd__(self, o: Any) -> Symbol: return self._binary(o, "+", True)
    def __sub__(self, o: Any) -> Symbol: return self._binary(o, "-")
    def __rsub__(self, o: Any) -> Symbol: return self._binary(o, "-", True)
    def __mul__(self, o: Any) -> Symbol:
        return self._scaled(self._binary(o, "*"), o)

    def __rmul__(self, o: Any) -> Symbol:
        return self._scaled(self._binary(o, "*", True), o)

    def _scaled(self, product: Symbol, c: Any) -> Symbol:
        """``product``, ``self * c``, noting its factors (:attr:`scaled`) where it varies with
        ``x`` and ``c`` is a power of two (or its negative), and its :attr:`sign`."""
        if self.varying and not self.boolean and power_of_two(c):
            base, factors = self.scaled or (self, ())
            product.scaled = (base, (*factors, float(c)))
        if c is self:
            product.sign = 1
        elif isinstance(c, Symbol):
            product.sign = self.sign * c.sign
        elif type(c) in (int, float):
            product.sign = self.sign * ((c > 0) - (c < 0)) if c else 1
        return product

    def __pow__(self, o: Any) -> Symbol:
        if type(o) in (int, float) and o == 2:  # as NumPy computes a square: x * x
            return self * self
        (a, b), varying = self.program.operands(self, o)
        return self.program.emit(self.program.call("pow", a, b, varying=varying), varying=varying)

    def __rpow__(self, o: Any) -> Symbol:
        (a, b), varying = self.program.operands(o, self)
        return self.program.emit(self.program.call("pow", a, b, varying=varying), varying=varying)

    def __abs__(self) -> Symbol:
        return SymbolicNamespace(self.program).abs(self)

    def __truediv__(self, o: Any) -> Symbol: return self._binary(o, "/")
    def __rtruediv__(self, o: Any) -> Symbol: return self._binary(o, "/", True)
    def __lt__(self, o: Any) -> Symbol: return self._binary(o, "<", boolean=True)
    def __le__(self, o: Any) -> Symbol: return self._binary(o, "<=", boolean=True)
    def __gt__(self, o: Any) -> Symbol: return self._binary(o, ">", boolean=True)
    def __ge__(self, o: Any) -> Symbol: return self._binary(o, ">=", boolean=True)
    def __eq__(self, o: Any) -> Symbol: return self._binary(o, "==", boolean=True)  # type: ignore[override]
    def __ne__(self, o: Any) -> Symbol: return self._binary(o, "!=", boolean=True)  # type: ignore[override]
    def __and__(self, o: Any) -> Symbol:
        return self._binary(o, self.program.dialect.AND, boolean=True)

    def __or__(self, o: Any) -> Symbol:
        return self._binary(o, self.program.dialect.OR, boolean=True)

    def __neg__(self) -> Symbol:
        return self._scaled(self.program.emit(f"-{self.name}", varying=self.varying), -1.0)

    def __invert__(self) -> Symbol:
        return self.program.emit(self.program.dialect.negation.format(a=self.name), True,
                                 self.varying)
    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        raise TypeError(
            "surrogate math used a traced value in Python control flow (if/while/and/or); "
            "write it with xp.where so that it runs elementwise on every backend"
        )


class SymbolicNamespace:
    """The subset of the Array API the surrogate math uses, emitting statements (C, or Python
    for numba) instead of computing."""

    _UNARY = ("abs", "exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "atan", "tanh",
              "erfc")

    def __init__(self, program: _Program) -> None:
        self._p = program

    def __getattr__(self, name: str) -> Callable[..., Symbol]:
        if name in self._UNARY:
            return lambda x: self._unary(name, x)
        raise AttributeError(
            f"the CUDA kernel generator does not support xp.{name}; supported: "
            f"{', '.join(sorted([*self._UNARY, *_METHODS]))}"
        )

    def _unary(self, name: str, x: Any) -> Symbol:
        (arg,), varying = self._p.operands(x)
        out = self._p.emit(self._p.call(name, arg, varying=varying), varying=varying)
        if name in ("abs", "sqrt", "exp"):
            out.sign = 1
        return out

    def exp(self, x: Any) -> Symbol:
        """``exp(x)``. In float32 in a dialect whose ``exp(a)`` is ``exp2(a * float32(log2 e))``
        (numba's ``exp_``), ``exp(((u * a1) ... ) * an)`` with powers of two ``a`` is
        ``exp2(u * float32(a1 ... an log2 e))``, the same number (see :func:`_exp2_scale`) with
        one multiplication in all: the sigmoid's ``exp(-0.5 |alpha x|)`` and the normal
        density's ``exp(-0.5 (0.5 z**2))`` lose one and three; the statements of the products
        are left out (:meth:`_Program.live`). Where the argument is known to be at most 0 (or
        NaN: :attr:`Symbol.sign`), as in those two, the dialect's ``nonpositive`` functions
        serve: the same numbers, without the clip of large arguments."""
        p = self._p
        if not (p.dialect.exp2 is not None and p.ctype == "float" and isinstance(x, Symbol)
                and x.varying):
            return self._unary("exp", x)
        p.functions.add("exp")
        scale = _exp2_scale(x.scaled[1]) if x.scaled is not None else None
        if scale is None:
            function, argument, sign = p.dialect.functions["exp"], x.name, x.sign
        else:
            base = x.scaled[0]
            function, argument = p.dialect.exp2, f"{base.name} * {p.render(scale)}"
            sign = base.sign * (1 if scale > 0 else -1)
        if sign < 0:
            function = p.dialect.nonpositive[function]
        out = p.emit(f"{function}({argument})")
        out.sign = 1
        return out

    def pow(self, x: Any, y: Any) -> Any:
        return y.__rpow__(x) if isinstance(y, Symbol) and not isinstance(x, Symbol) else x ** y

    def where(self, condition: Symbol, a: Any, b: Any) -> Symbol:
        (c, a, b), varying = self._p.operands(condition, a, b)
        return self._p.emit(self._p.dialect.ternary.format(condition=c, a=a, b=b),
                            varying=varying)

    def clip(self, x: Any, min: Any = None, max: Any = None) -> Symbol:  # noqa: A002
        # Comparisons rather than fmin/fmax: NaN passes through, as in NumPy.
        out = x
        if min is not None:
            out = self.where(out < min, min, out)
        if max is not None:
            out = self.where(out > max, max, out)
        return out

    def maximum(self, a: Any, b: Any) -> Symbol:
        return self._extremum(a, b, ">")

    def minimum(self, a: Any, b: Any) -> Symbol:
        return self._extremum(a, b, "<")

    def _extremum(self, a: Any, b: Any, op: str) -> Symbol:
        # NaN propagates, as in the standard (C's fmax/fmin would return the other argument).
        (a, b), varying = self._p.operands(a, b)
        d = self._p.dialect
        return self._p.emit(d.ternary.format(condition=f"(({a} != {a}) {d.OR} ({a} {op} {b}))",
                                             a=a, b=b), varying=varying)

    def remainder(self, x: Any, y: Any) -> Symbol:
        """Python's floored modulo (the result has the divisor's sign), as ``xp.remainder``."""
        (x_, y_), varying = self._p.operands(x, y)
        r = self._p.emit(self._p.call("fmod", x_, y_, varying=varying), varying=varying)
        fix = self._p.emit(f"({r.name} != 0) {self._p.dialect.AND} "
                           f"(({r.name} < 0) != ({y_} < 0))", True, varying)
        return self.where(fix, r + y, r)

    def magnitude_remainder(self, x: Any, y: Any) -> Symbol:
        """``|x| mod y`` for ``y > 0``: C's ``fmod``, exact, without the sign fix-ups of
        :meth:`remainder` (the namespace hook of :mod:`spikegrad._namespace`)."""
        (x_, y_), varying = self._p.operands(self._unary("abs", x), y)
        return self._p.emit(self._p.call("fmod", x_, y_, varying=varying), varying=varying)

    def inverse_power(self, a: Any, d: Any, alpha: Any) -> Symbol:
        """``(1 + 2 a / d)**-alpha`` for ``a >= 0``: one ``log1p`` per element, with scalars
        of the parameters chosen once per call (the namespace hook; see
        :func:`spikegrad._math.inverse_power_by_halves`), where the portable math takes two
        for an ``alpha`` that is not a number."""
        return inverse_power_by_halves(a, 0.5 * d, alpha, self)

    def isnan(self, x: Any) -> Symbol:
        (name,), varying = self._p.operands(x)
        return self._p.emit(f"{name} != {name}", True, varying)

    def isinf(self, x: Any) -> Symbol:
        (name,), varying = self._p.operands(x)
        return self._p.emit(self._p.call("isinf", name, varying=varying), True, varying)

    def astype(self, x: Symbol, dtype: Any) -> Symbol:
        """A boolean to the compute type (1 or 0); the kernel has one floating type only."""
        if dtype != Symbol.dtype:
            raise TypeError(f"the kernel generator computes in one floating type; got {dtype!r}")
        return self.where(x, 1.0, 0.0) if x.boolean else x

    def full_like(self, x: Any, value: Any) -> Symbol:
        return self._p.emit(self._p.render(value))  # an array: varies (in the compute type)

    def zeros_like(self, x: Any) -> Symbol:
        return self.full_like(x, 0.0)

    def ones_like(self, x: Any) -> Symbol:
        return self.full_like(x, 1.0)


_METHODS = (
    "pow", "where", "clip", "remainder", "magnitude_remainder", "inverse_power", "full_like",
    "zeros_like", "ones_like", "maximum", "minimum", "isnan", "isinf", "astype",
)


@dataclasses.dataclass(frozen=True)
class Kernel:
    """One generated elementwise kernel: its statements and how to wrap them."""

    name: str
    kind: str
    dtype: str
    ctype: str
    params: tuple[str, ...]  # dynamic parameter names, as kernel arguments p_<name>
    body: tuple[str, ...]
    result: str
    dialect: str = "c"
    functions: frozenset[str] = frozenset()  # the namespace's math functions it calls
    guards: tuple[str, ...] = ()  # the range guards of its calls of guarded functions

    @property
    def inputs(self) -> tuple[str, ...]:
        return ("x", "ct") if self.kind == "vjp" else ("x",)

    @property
    def loaded(self) -> tuple[str, ...]:
        """The inputs the statements read (a constant g' reads no ``x``: an unused variable,
        which nvcc's ``-Werror all-warnings`` refuses)."""
        text = " ".join([*self.body, self.result, *self.guards])
        return tuple(i for i in self.inputs if re.search(rf"\b{i}v\b", text))

    # -- CuPy -------------------------------------------------------------------------------
    def cupy_in_params(self) -> str:
        scalar = _CUPY_SCALAR[self.ctype]
        return ", ".join([f"{self.dtype} {i}" for i in self.inputs] +
                         [f"{scalar} p_{p}" for p in self.params])

    def cupy_out_params(self) -> str:
        return f"{self.dtype} y"

    def cupy_operation(self) -> str:
        loads = [f"const {self.ctype} {i}v = ({self.ctype}){i};" for i in self.loaded]
        store = f"y = ({_CUPY_STORAGE[self.dtype]})({self.result});"
        return "\n".join([*loads, *self.body, store])

    # -- standalone CUDA (nvcc) --------------------------------------------------------------
    def cuda_source(self) -> str:
        storage = _CUDA_STORAGE[self.dtype]
        half = self.dtype == "float16"
        args = [f"const {storage}* __restrict__ {i}_in" for i in self.inputs]
        args += [f"{storage}* __restrict__ y_out"]
        args += [f"const {self.ctype} p_{p}" for p in self.params] + ["const long long n"]
        loads = [
            f"const {self.ctype} {i}v = " + (f"__half2float({i}_in[i]);" if half else f"{i}_in[i];")
            for i in self.loaded
        ]
        store = (f"y_out[i] = __float2half({self.result});" if half
                 else f"y_out[i] = {self.result};")
        lines = [
            f'extern "C" __global__ void {self.name}(',
            f"    {', '.join(args)})",
            "{",
            "    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;",
            "    if (i >= n) return;",
            *(f"    {line}" for line in [*loads, *self.body, store]),
            "}",
        ]
        return "\n".join(lines)

    # -- C++ for the CPU (tests) -------------------------------------------------------------
    def cpp_source(self) -> str:
        """A loop over compute-type arrays: ``name(x[, ct], y, params, n)``."""
        t = self.ctype
        args = [f"const {t}* {i}_in" for i in self.inputs] + [f"{t}* y_out",
                                                               f"const {t}* params", "long n"]
        loads = [f"const {t} {i}v = {i}_in[i];" for i in self.loaded]
        unpack = [f"const {t} p_{p} = params[{k}];" for k, p in enumerate(self.params)]
        lines = [
            f'extern "C" void {self.name}({", ".join(args)}) {{',
            *(f"    {line}" for line in unpack),
            "    for (long i = 0; i < n; ++i) {",
            *(f"        {line}" for line in [*loads, *self.body, f"y_out[i] = {self.result};"]),
            "    }",
            "}",
        ]
        return "\n".join(lines)

    # -- Python for numba (the PyTorch adapter's compiled CPU backward) ------------------------
    def python_source(self) -> str:
        """A Python function of the ``dialect="python"`` statements for numba: a loop over
        one-dimensional arrays, ``name(x[, ct], y, *params)``, computing in the compute type
        (float32 for float16 kernels: the caller converts). The executing namespace supplies
        ``math``, ``float32``/``float64`` and the functions of the dialect (``exp_``...).

        A kernel that calls guarded functions (``fmod_``, ``cos_``: fast for a range of
        arguments) checks their guards at every element; an element outside keeps its
        cotangent in ``y``. If there is one, the elements are examined again, a chunk at a
        time (``guard_flags()``, a buffer the namespace supplies): one loop, vectorized,
        notes which are outside, and another computes only those with the functions that
        serve every argument (``fmod_exact``..., calls LLVM neither vectorizes nor makes for
        the other elements). It reads the cotangent, which is where it was even if ``y`` is
        ``ct``'s memory (``x``'s must not be)."""
        if self.dialect != "python":
            raise ValueError(f"{self.name} was generated in the {self.dialect!r} dialect; "
                             "generate(..., dialect='python') makes Python statements")
        args = [f"{i}_in" for i in self.inputs] + ["y_out"] + [f"p_{p}" for p in self.params]
        loads = [f"{i}v = {i}_in[i]" for i in self.inputs]
        head = [f"def {self.name}({', '.join(args)}):"]
        loop = "for i in range(y_out.shape[0]):"
        if not self.guards:
            lines = [*head, f"    {loop}",
                     *(f"        {line}" for line in [*loads, *self.body,
                                                      f"y_out[i] = {self.result}"])]
            return "\n".join(lines) + "\n"
        kept = self.inputs[-1] + "v"  # what y keeps where a guard fails: ct (or x)
        functions = _DIALECTS["python"].functions
        exact = [re.sub(r"\b(" + "|".join(re.escape(functions[f]) for f in
                                          _DIALECTS["python"].guarded) + r")\(",
                        lambda m: f"{_FALLBACK[m.group(1)]}(", line) for line in self.body]
        guard = " & ".join(self.guards)
        lines = [
            *head, "    outside = False", f"    {loop}",
            *(f"        {line}" for line in [
                *loads, *self.body, f"inside = {guard}", "outside = outside | (not inside)",
                f"y_out[i] = ({self.result} if inside else {kept})"]),
            "    if outside:",
            "        flags = guard_flags()",
            "        for start in range(0, y_out.shape[0], flags.shape[0]):",
            "            stop = min(start + flags.shape[0], y_out.shape[0])",
            "            for i in range(start, stop):",
            *(f"                {line}" for line in [*loads, *self.body,
                                                    f"flags[i - start] = {guard}"]),
            "            for i in range(start, stop):",
            "                if not flags[i - start]:",
            *(f"                    {line}" for line in [*loads, *exact,
                                                        f"y_out[i] = {self.result}"]),
        ]
        return "\n".join(lines) + "\n"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def generate(formula: Formula, kind: str, dtype: str, dialect: str = "c") -> Kernel:
    """Trace one kernel of a surrogate's formula.

    Parameters
    ----------
    formula
        The surrogate's :class:`~spikegrad._contract.Formula` (``surrogate.spec.formula``):
        structural parameters are unrolled into the code, the others become kernel arguments
        ``p_<name>``.
    kind
        ``"forward"`` (the spike), ``"grad"`` (g'), ``"primitive"`` (g) or ``"vjp"``
        (``ct * g'``).
    dtype
        ``"float16"``, ``"float32"`` or ``"float64"``.
    dialect
        ``"c"`` (CUDA, CuPy, C++) or ``"python"`` (numba: :meth:`Kernel.python_source`).
    """
    if dialect not in _DIALECTS:
        raise ValueError(f"unknown kernel dialect {dialect!r}; choose one of "
                         f"{', '.join(_DIALECTS)}")
    if kind not in KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}; choose one of {', '.join(KINDS)}")
    if dtype not in DTYPES:
        raise TypeError(
            f"no CUDA kernels for dtype {dtype!r}: CuPy supports {', '.join(DTYPES)} "
            "(it has no bfloat16); convert the array first, e.g. x.astype(cupy.float32)"
        )
    ctype = _COMPUTE[dtype]
    program = _Program(ctype, dialect)
    ns = SymbolicNamespace(program)
    x = Symbol(program, "xv")
    if kind == "forward":
        result = formula.spike(x, xp=ns)
        name = f"spikegrad_spike{'' if formula.spike_at_zero else '_gt'}_{dtype}"
        return Kernel(name, kind, dtype, ctype, (), program.live(result.name), result.name,
                      dialect, frozenset(program.functions))
    if kind == "primitive" and not formula.has_primitive:
        raise NotImplementedError(f"{formula.name} defines no primitive to generate a kernel for")
    dynamic = formula.value_names
    values = tuple(Symbol(program, f"p_{n}", varying=False) for n in dynamic)
    fn = formula.primitive if kind == "primitive" else formula.derivative
    result = fn(x, values, xp=ns)
    if not isinstance(result, Symbol):  # a constant g' or g
        result = ns.full_like(x, result)
    if kind == "vjp":
        result = Symbol(program, "ctv") * result
    structure = "".join(
        f"_{n}{v}" for n, v in zip(formula.parameters, formula.structure) if v is not None
    )
    if formula.gain != 1.0:  # a constant of the code: kernels of other gains differ
        structure += "_gain" + re.sub(r"\W", "_", repr(formula.gain))
    name = f"spikegrad_{_snake(formula.name)}{structure}_{kind}_{dtype}"
    return Kernel(name, kind, dtype, ctype, dynamic, program.live(result.name, *program.guards),
                  result.name, dialect, frozenset(program.functions), tuple(program.guards))


def cuda_source(surrogate: Any, kind: str = "grad", dtype: str = "float32") -> str:
    """The CUDA source of one of a surrogate's kernels, as compiled by the CuPy backend.

    Parameters
    ----------
    surrogate
        A surrogate object (its structural parameters select the kernel).
    kind
        ``"forward"``, ``"grad"``, ``"primitive"`` or ``"vjp"``.
    dtype
        ``"float16"``, ``"float32"`` or ``"float64"``.
    """
    return generate(surrogate.spec.formula, kind, dtype).cuda_source()
