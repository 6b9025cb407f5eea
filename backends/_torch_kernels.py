"""Compiled CPU kernels for the PyTorch backward, ``v * g'(x)`` in one pass over memory, and
for the eager forward pass's spike (:func:`spike`).

The planned backward (:mod:`spikegrad.backends._torch_plan`) calls one vectorized PyTorch
kernel per operation of g': each a pass over memory and 1.5-3 microseconds of dispatch (the
sigmoid surrogate: seven calls, 1.5-1.9 times ``torch.sigmoid``'s forward and backward at a
million elements). PyTorch's CPU build fuses nothing without a C++ compiler. numba (LLVM, a
pip package, no compiler needed) compiles the whole of ``v * g'(x)`` into one loop instead:

* the loop body is :mod:`spikegrad._codegen`'s trace of the same math in its Python dialect,
  the trace that makes the CUDA kernels (no formula is written here); parameters are kernel
  arguments, so one compilation serves every parameter value;
* LLVM vectorizes the loop when g' is made of arithmetic, comparisons, selects, ``abs``,
  ``sqrt``, ``exp``, ``log1p``, ``fmod`` and ``cos`` (:data:`VECTORIZED`: all 24 catalogue
  surrogates); ``exp`` is :func:`spikegrad.backends._kernel_math.exp_`, ``exp2(a log2 e)`` as
  the adapter computes it, with a polynomial ``exp2`` that LLVM vectorizes (within an ulp; full
  range: subnormal results, overflow to inf, NaN), and ``exp`` of a value scaled by powers of
  two ``exp2`` of one product (the same number: :func:`spikegrad._codegen._exp2_scale`), of an
  argument known to be at most 0 ``exp_nonpositive_`` (no clip of large arguments);
  ``log1p`` is within an ulp everywhere;
  ``fmod`` (exact) and ``cos`` (within 1.6 ulp) are vectorized for the arguments their guards
  accept (quotients below ``2**22``, ``|x| < 2**16``), and elements beyond are computed again
  with the C library's. Other functions (``tanh``, ``erfc``...) would be scalar calls of the C
  library, slower than the plan's vectorized ones: surrogates of one's own that call them keep
  the plan;
* computed in float32 (float32 inputs; 16-bit ones converted and the product rounded once, as
  everywhere), expressions of parameters alone in float64, rounded where they meet ``x``, as
  PyTorch computes Python numbers; float64 inputs keep the plan;
* called with the tensors' addresses, without the GIL; from twice :data:`PARALLEL_GRAIN`
  elements on shared by PyTorch's OpenMP team (``GOMP_parallel``: the threads that run
  PyTorch's operations, no pool of ours).

Compilation takes about a second of CPU time per kernel, with the GIL held, so it never runs
in the caller's process: the first backward of a surrogate asks a background thread for its
kernel and uses the plan until the kernel is ready (no first-call stall). That thread has a
child process compile the kernels into numba's cache on disk (:func:`cache_dir`), loads them
and tells the adapter; :func:`wait` waits for it (the benchmark does, before it times).
Without numba, every backward uses the plan. A kernel serves plain backward passes only,
exactly where the plan would (no ``create_graph``, no ``torch.func``, not under
``torch.compile``, no tensor subclasses), for contiguous CPU tensors with parameters that are
numbers, in mode ``SPIKEGRAD_TORCH_FUSE=auto``.

Each kernel's module also compiles the spike, :func:`spikegrad._math.spike` in the formula's
convention traced the same way, as a loop the eager forward pass calls on contiguous float32
CPU tensors, shared by the team like the kernel: PyTorch's comparison into a float tensor
costs more (see :func:`spike`).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import importlib.util
import math
import os
import pathlib
import platform
import queue
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, NamedTuple

import torch

import spikegrad
from spikegrad import _math
from spikegrad._codegen import Kernel, generate
from spikegrad._contract import Formula, Spec

__all__ = ["CACHE_ENV_VAR", "COMPILE_TIMEOUT", "PARALLEL_GRAIN", "VECTORIZED", "cache_dir",
           "kernel_source", "module_source", "spike", "times_derivative", "wait"]

VECTORIZED = frozenset({"abs", "sqrt", "exp", "log1p", "fmod", "cos"})
"""The math functions a compiled kernel may call: LLVM vectorizes loops that call only these
(``exp``, ``fmod`` and ``cos`` as :mod:`spikegrad.backends._kernel_math`'s ``exp_``, ``fmod_``
and ``cos_``; the last two with guards, see :meth:`spikegrad._codegen.Kernel.python_source`)."""

PARALLEL_GRAIN = 32768
"""PyTorch's grain size for element-wise operations. A kernel call over ``n`` elements is
shared when ``parts = min(torch.get_num_threads(), n // PARALLEL_GRAIN)`` is 2 or more, by
PyTorch's whole OpenMP team, as in PyTorch's own parallel regions (a smaller team would make
the OpenMP runtime end the other threads, and PyTorch's next operation start them again), in
pieces of about a quarter of ``n / parts``. The team's threads are PyTorch's: after a parallel
operation they wait actively for a while (OpenMP's default), so threads of our own would share
the cores with them (at a million elements on two cores, two threads of ours took longer than
one); PyTorch's take the work at once."""

TUNE_MIN_ELEMENTS = 1 << 17
"""From this many elements on, where PyTorch has more than one thread, the kernel and the plan
are timed :data:`TUNE_SAMPLES` times each, in turn, in the first backward passes of each
surrogate, dtype and size (to a power of two), and the faster serves from then on: where no
OpenMP team shares the kernel's calls (see :func:`_openmp`), the plan's operations may be
faster on many cores than the kernel on one."""

TUNE_SAMPLES = 5

_verdicts: dict[tuple[Spec, torch.dtype, int], Any] = {}  # True: kernel, False: plan, or
# the (kernel, plan) times so far

_FLOAT32_INPUTS = (torch.float32, torch.float16, torch.bfloat16)


def _kernel(formula: Formula) -> Kernel | None:
    try:
        kernel = generate(formula, "vjp", "float32", dialect="python")
    except Exception:  # noqa: BLE001 - math the generator cannot follow: the plan serves it
        return None
    return kernel if kernel.functions <= VECTORIZED else None


def kernel_source(formula: Formula) -> str | None:
    """The Python source of ``formula``'s compiled backward, ``v * g'(x)`` in float32, or None
    when g' calls a function outside :data:`VECTORIZED` (or cannot be traced).

    Examples
    --------
    >>> import spikegrad as sg
    >>> from spikegrad.backends._torch_kernels import kernel_source
    >>> print(kernel_source(sg.LeakyRelu().spec.formula))  # doctest: +ELLIPSIS
    def spikegrad_leaky_relu_vjp_float32(x_in, ct_in, y_out, p_alpha, p_beta):
        for i in range(y_out.shape[0]):
            xv = x_in[i]
            ctv = ct_in[i]
            v0 = xv < float32(0.0)
    ...
    >>> class TanhSquared(sg.Surrogate):  # a surrogate of your own
    ...     alpha = sg.Param(2.0, gt=0)
    ...     def grad(x, alpha, *, xp):
    ...         return alpha * (1 - xp.tanh(alpha * x) ** 2) / 2
    >>> kernel_source(TanhSquared().spec.formula) is None  # tanh: the plan serves it
    True
    """
    kernel = _kernel(formula)
    return None if kernel is None else kernel.python_source()


# ---------------------------------------------------------------------------- compilation

_PENDING = object()
_state: dict[Formula, Any] = {}  # compiled kernel, _PENDING, or None (no kernel)
_ready: dict[tuple[Spec, torch.dtype], Any] = {}  # _Entry or None
_MAX_READY = 512
_condition = threading.Condition()
_jobs: queue.SimpleQueue[Formula] = queue.SimpleQueue()
_worker: list[threading.Thread] = []

CACHE_ENV_VAR = "SPIKEGRAD_CACHE_DIR"
"""Where compiled kernels are kept (default: ``$XDG_CACHE_HOME/spikegrad``, else
``~/.cache/spikegrad``; a temporary directory if that cannot be written), in a directory per
spikegrad and numba version and per machine."""

COMPILE_TIMEOUT = 600.0
"""Seconds the compiling processes of one batch of kernels may take together before the rest is
given up (the plan then serves those kernels)."""

_HEADER = """# Generated by spikegrad {version} from {formula}: v * g'(x), and the spike, in
# float32 (see spikegrad.backends._torch_kernels). Compiled by numba (LLVM options: {options})
# and cached beside this file, with spikegrad.backends._kernel_math (and the constants it
# reads) of SHA-256 {math}...
import math

import numba
from numpy import float32, float64

from spikegrad.backends._kernel_math import (as_doubles, as_pointer, as_words, cos_, cos_exact,
                                             cos_ok, exp2_, exp2_nonpositive_, exp_,
                                             exp_nonpositive_, fetch_add, fmod_, fmod_exact,
                                             fmod_ok, guard_flags, log1p_)


@numba.njit(nogil=True, error_model="numpy", cache=True)
"""

# The entry points. run: the tensors' addresses, n and the parameters, for a call in this
# thread. part: a C function of one address, for OpenMP's threads: the call's words (the
# addresses of x, ct and y, n, the piece size, ct's step: 1, or 0 where every piece reads the
# same ct, and the next piece's start: see _call) and, after them, the parameters (float64).
# Every thread of the team runs it, claiming pieces until none is left.
_ENTRIES = """

@numba.njit({signature!r}, nogil=True, error_model="numpy", cache=True)
def run(x, ct, y, n, {params}):
    {name}(numba.carray(as_pointer(x), n), numba.carray(as_pointer(ct), n),
           numba.carray(as_pointer(y), n), {params})


@numba.cfunc("void(int64)", error_model="numpy", cache=True)
def part(data):
    words = numba.carray(as_words(data), {words})
    values = numba.carray(as_doubles(data + {values_at}), {count})
    x, ct, y, n, size, step = words[0], words[1], words[2], words[3], words[4], words[5]
    i = fetch_add(data + {next_at}, size)
    while i < n:
        m = min(size, n - i)
        {name}(numba.carray(as_pointer(x + 4 * i), m),
               numba.carray(as_pointer(ct + 4 * i * step), m),
               numba.carray(as_pointer(y + 4 * i), m), {values})
        i = fetch_add(data + {next_at}, size)
"""

# The forward pass, the spike in the formula's convention (:func:`spikegrad._math.spike`): spike,
# the tensors' addresses and n, for a call in this thread; spike_part, part's counterpart for
# OpenMP's threads (the same words: ct's address and step unread).
_SPIKE = """

@numba.njit(nogil=True, error_model="numpy", cache=True)
{source}

@numba.njit("void(int64, int64, int64)", nogil=True, error_model="numpy", cache=True)
def spike(x, y, n):
    {name}(numba.carray(as_pointer(x), n), numba.carray(as_pointer(y), n))


@numba.cfunc("void(int64)", error_model="numpy", cache=True)
def spike_part(data):
    words = numba.carray(as_words(data), {words})
    x, y, n, size = words[0], words[2], words[3], words[4]
    i = fetch_add(data + {next_at}, size)
    while i < n:
        m = min(size, n - i)
        {name}(numba.carray(as_pointer(x + 4 * i), m), numba.carray(as_pointer(y + 4 * i), m))
        i = fetch_add(data + {next_at}, size)
"""

NICE = 10
"""The scheduling priority (``nice``) of the thread that loads compiled kernels (importing numba
holds the GIL for up to 0.1 s at a time): the caller's threads come first. In a loop of
backward passes of a million elements keeping both cores busy, the longest pass while a kernel
loads went from 230-250 ms to 100-170 ms."""

LLVM_OPTIONS = ("-force-vector-interleave=4",)
"""Options of LLVM in the process that compiles the kernels calling ``exp_`` or ``log1p_``
(only there: they hold for everything a process's LLVM compiles). Each pass of their vectorized
loop then runs four independent vectors, where LLVM's cost model chose one and the chain of
dependent operations of one element (a polynomial, a division) set the pace: the sigmoid's
kernel, on one core of this EPYC, went from 69-83 to 53-59 us at 65,536 float32 elements and
from 0.97-1.22 to 0.78-0.88 ms at a million (the same operations in the same order: the same
numbers). Kernels of plain arithmetic, such as arctan's, keep LLVM's choice (forced, arctan's
took 8% longer at a million). Written in the generated source, so that a change compiles the
kernels again."""


def _llvm_options(kernel: Kernel) -> tuple[str, ...]:
    return LLVM_OPTIONS if kernel.functions & {"exp", "log1p"} else ()

# Run in a new process: loading each module (path, name, path, name, ...) compiles its kernel
# into numba's cache; a module numba refuses is reported and skipped. The process keeps the
# normal priority: it shares no GIL with the caller, only the CPU (at a lower one it could
# wait indefinitely for a training loop that keeps every core busy).
_COMPILE = """
import importlib.util, sys, traceback
import llvmlite.binding
for option in {options!r}:
    llvmlite.binding.set_option("spikegrad", option)
args = sys.argv[1:]
for path, name in zip(args[::2], args[1::2]):
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:
        traceback.print_exc()
"""


def cache_dir() -> pathlib.Path:
    """The directory of the generated kernel modules (see :data:`CACHE_ENV_VAR`), made if
    needed."""
    base = os.environ.get(CACHE_ENV_VAR) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spikegrad")
    # numba recompiles a cached kernel of another numba version or CPU when it loads it, which
    # would be in this process: one directory per spikegrad and numba version and per machine
    # (a home directory shared by the nodes of a cluster)
    machine = re.sub(r"[^\w.-]", "_", platform.node() or "host")
    path = (pathlib.Path(base) / f"kernels-{spikegrad.__version__}-numba{_numba_version()}"
            / machine)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:
        if not _temporary:
            _temporary.append(pathlib.Path(tempfile.mkdtemp(prefix="spikegrad-kernels-")))
        path = _temporary[0]
    return path


_temporary: list[pathlib.Path] = []


def module_source(kernel: Kernel, spike: Kernel) -> str:
    """The source of the module that compiles ``kernel`` and ``spike``, the backward and the
    forward pass of one formula (``dialect="python"``): the loop over arrays;
    ``run(x, ct, y, n, *params)``, the same over ``n`` float32 numbers at the addresses ``x``,
    ``ct`` and ``y``; ``part(data)``, a C function that runs it over the numbers at the
    addresses the words at ``data`` give, one part at a time (see :func:`_call`); and
    ``spike(x, y, n)``, the spike's loop over ``n`` float32 numbers at ``x`` into ``y``, and
    ``spike_part(data)``, its C function for OpenMP's threads (see :func:`spike`)."""
    count = len(kernel.params)
    header = _HEADER.format(version=spikegrad.__version__, formula=kernel.name,
                            options=" ".join(_llvm_options(kernel)) or "none",
                            math=_kernel_math_hash())
    entries = _ENTRIES.format(
        signature=f"void({', '.join(['int64'] * 4 + ['float64'] * count)})", name=kernel.name,
        params=", ".join(f"p_{p}" for p in kernel.params), count=count,
        words=_WORDS.size // 8, next_at=8 * _NEXT, values_at=_WORDS.size,
        values=", ".join(f"values[{i}]" for i in range(count)))
    return (header + kernel.python_source()
            + _SPIKE.format(source=spike.python_source(), name=spike.name,
                            words=_WORDS.size // 8, next_at=8 * _NEXT) + entries)


@functools.cache
def _kernel_math_hash() -> str:
    """The start of the SHA-256 of :mod:`spikegrad.backends._kernel_math`'s source and of the
    constants of :mod:`spikegrad._math` it reads, which the kernels' modules name: numba's
    cache of a module is kept while the module's own file is unchanged, so a change of the
    math the kernels inline must change their sources (a new module, compiled again), within
    one spikegrad version too. (Its functions that read those constants are not cached on
    disk themselves.)"""
    origin = importlib.util.find_spec("spikegrad.backends._kernel_math").origin  # type: ignore
    constants = repr((_math.LOG2E, _math.COS_COEFFICIENTS, _math.SIN_COEFFICIENTS)).encode()
    return hashlib.sha256(pathlib.Path(origin).read_bytes() + constants).hexdigest()[:16]


def _spike_kernel(formula: Formula) -> Kernel:
    """The forward pass of ``formula``, the spike, as a loop (see :func:`module_source`)."""
    return generate(formula, "forward", "float32", dialect="python")


def _module_file(formula: Formula, kernel: Kernel) -> tuple[pathlib.Path, str]:
    """The module of ``formula``'s kernel, written once into :func:`cache_dir` (named by a
    hash of its source: a changed formula is a new module); its path and module name."""
    source = module_source(kernel, _spike_kernel(formula))
    name = f"{kernel.name}_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(source)
        os.replace(partial, path)  # atomic: another process reads it whole or not at all
    return path, name


def _load(path: pathlib.Path, name: str) -> Any:
    """Import the kernel's module (as ``name``: numba's cache refers to it by that name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _numba_version() -> str:
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _cached(path: pathlib.Path, name: str) -> bool:
    """Whether numba's cache beside the module holds its compiled entry points for this Python
    (numba names its index files by the interpreter's version)."""
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return all(any(path.parent.glob(f"__pycache__/{name}.{entry}-*.{version}.nbi"))
               for entry in ("run", "part", "spike", "spike_part"))


def _compile(formulas: list[Formula]) -> dict[Formula, _Compiled | None]:
    """The compiled kernel of each formula, or None (no numba, no vectorizable kernel, or the
    compilation failed).

    numba compiles the modules not yet in its cache in a new process, one per set of LLVM
    options (:data:`LLVM_OPTIONS`): a second of CPU time per kernel holding that process's
    GIL, not the caller's (here its backward passes would wait for the GIL, up to a few hundred
    milliseconds each). This thread then loads the cached
    machine code (numba's import, 0.3 s, is the only GIL-bound work left here) and calls each
    kernel once, which sets up its dispatch. A later process finds the cache and compiles
    nothing.
    """
    installed = _numba_installed()
    kernels = {f: _kernel(f) if installed else None for f in formulas}
    files = {f: _module_file(f, k) for f, k in kernels.items() if k is not None}
    missing: dict[tuple[str, ...], list[str]] = {}  # by LLVM options: one process each
    for formula, (path, name) in files.items():
        if not _cached(path, name):
            options = _llvm_options(kernels[formula])  # type: ignore[arg-type]
            missing.setdefault(options, []).extend((str(path), name))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    deadline = time.monotonic() + COMPILE_TIMEOUT  # for all the processes together
    for options, modules in missing.items():
        try:
            done = subprocess.run([sys.executable, "-c", _COMPILE.format(options=options),
                                   *modules], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
                                  timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:  # what the others compiled is still loaded
            _failed(f"compiling {modules[1::2]} took longer than the time left: {exc}")
            continue
        if done.stderr:
            _failed(done.stderr.decode(errors="replace")[-4000:])
    out: dict[Formula, _Compiled | None] = dict.fromkeys(formulas)
    _prime_dynamo()
    for formula, (path, name) in files.items():
        if not _cached(path, name):  # not compiled there: loading it would compile it here
            continue
        module = _load(path, name)
        compiled = _Compiled(module.run, module.part, module.part.address, module.spike,
                             module.spike_part, module.spike_part.address)
        one = torch.ones(1)
        params = (1.0,) * len(kernels[formula].params)  # type: ignore[union-attr]
        _call(_Entry(compiled, params, b""), one, one, torch.empty(1), 1, 1)
        spiked = torch.empty(1)  # (named: alive while the loop writes to it)
        compiled.spike(one.data_ptr(), spiked.data_ptr(), 1)
        out[formula] = compiled
    return out


def _prime_dynamo() -> None:
    """Have ``torch.compile``'s table of NumPy functions built now, if Dynamo is loaded, before
    this thread imports numba. Importing numba imports SciPy, which imports NumPy's lazily
    loaded submodules (``numpy.f2py``, ``numpy.testing``...): names added to NumPy's namespace
    while Dynamo iterates it, building that table on a process's first trace in another
    thread, made the trace fail with "dictionary changed size during iteration" (found in CI).
    Importing those submodules in the caller's thread instead would cost it 0.24 s. Where
    Dynamo is loaded only later, its import (a second or more) makes an overlap with numba's
    (0.4-0.6 s, once per process) unlikely, not impossible."""
    rules = sys.modules.get("torch._dynamo.trace_rules")
    table = getattr(rules, "_numpy_function_ids", None)
    if callable(table):
        try:
            table()
        except Exception:  # noqa: BLE001 - Dynamo's internals differ: nothing to build
            pass


# The end of the compiling processes' error output (warnings included) and the errors of failed
# loads: the last ten, for debugging.
_failures: list[str] = []


def _failed(text: str) -> None:
    del _failures[:-9]
    _failures.append(text)


def _work() -> None:
    try:  # Linux: this thread only
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass
    while True:
        formulas = [_jobs.get()]  # and all the others asked for meanwhile: one process
        while True:
            try:
                formulas.append(_jobs.get_nowait())
            except queue.Empty:
                break
        try:
            kernels = _compile(formulas)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the plan serves
            _failed(repr(exc))
            kernels = dict.fromkeys(formulas)
        with _condition:
            _state.update(kernels)
            _condition.notify_all()


def _schedule(formula: Formula) -> None:
    with _condition:
        if formula in _state:
            return
        _state[formula] = _PENDING
        if not _worker:
            thread = threading.Thread(target=_work, name="spikegrad-kernels", daemon=True)
            _worker.append(thread)
            thread.start()
    _jobs.put(formula)


def wait(timeout: float | None = None) -> bool:
    """Wait until no kernel is being compiled; False if ``timeout`` seconds passed first."""
    with _condition:
        return _condition.wait_for(
            lambda: not any(k is _PENDING for k in _state.values()), timeout)


def _parameter_values(values: tuple[Any, ...]) -> tuple[float, ...] | None:
    """The parameters as kernel arguments (float64: expressions of parameters alone are
    computed in double and rounded to float32 where they meet ``x``, as PyTorch computes Python
    numbers), or None for values that are not numbers (tensors: the plan serves)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in values):
        return None
    return tuple(float(v) for v in values)


def _entry(spec: Spec, dtype: torch.dtype) -> Any:
    """The :class:`_Entry` of ``spec`` in ``dtype``, None if it has none, or _PENDING."""
    params = _parameter_values(spec.values)
    entry = None
    if dtype in _FLOAT32_INPUTS and spec.formula.symbolic and params is not None:
        if spec.formula not in _state:
            _schedule(spec.formula)
        kernel = _state[spec.formula]
        if kernel is _PENDING:
            return _PENDING  # (not kept: asked again on the next pass)
        if kernel is not None:
            entry = _Entry(kernel, params, struct.pack(f"{len(params)}d", *params))
    if len(_ready) >= _MAX_READY:
        _ready.clear()
    _ready[(spec, dtype)] = entry
    return entry


# ------------------------------------------------------------------------------ execution

class _Compiled(NamedTuple):
    """A loaded kernel's entry points (see :func:`module_source`): ``run``, a numba function,
    ``part``, a numba C function (kept here: its machine code lives as long as it does), at
    ``address``; the forward pass's ``spike``, a numba function, and ``spike_part``, a numba C
    function at ``spike_address``."""

    run: Callable[..., None]
    part: Any
    address: int
    spike: Callable[[int, int, int], None]
    spike_part: Any
    spike_address: int


class _Entry(NamedTuple):
    """A kernel with the parameters of one spec: for ``run`` and, packed as float64, for
    ``part``."""

    compiled: _Compiled
    params: tuple[float, ...]
    packed: bytes


# The words at the start of a team's call data (int64: see _ENTRIES), then the parameters (float64).
_WORDS = struct.Struct("7q")
_NEXT = 6  # the word of the next piece's start, which the threads advance (fetch_add)
PART_MAX = 1 << 16
"""The most elements a thread of a team claims at a time: also the length of the buffer of a
cotangent expanded from a single number (``loss.sum()``'s) that every piece reads."""


def _openmp() -> Any:
    """PyTorch's OpenMP runtime's ``GOMP_parallel(fn, data, threads, flags)``, which runs
    ``fn(data)`` on a team of its threads (the calling one included) and returns when all have
    returned; None where PyTorch's parallel backend is not OpenMP, or its library is not one of
    PyTorch's own already loaded (GNU libgomp on Linux; LLVM's libomp, on macOS, has the same
    entry point), or in a forked child (GNU OpenMP's threads do not survive a fork: PyTorch
    itself hangs there in a parallel operation unless given one thread)."""
    if not _team:
        function = None
        if (hasattr(os, "RTLD_NOLOAD")  # (not on Windows)
                and "parallel backend: OpenMP" in torch.__config__.parallel_info()):
            for path in sorted((pathlib.Path(torch.__file__).parent / "lib").glob("lib*omp*")):
                try:  # RTLD_NOLOAD: the runtime PyTorch loaded, never a second one
                    library = ctypes.CDLL(str(path), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
                    function = library.GOMP_parallel
                except (OSError, AttributeError):
                    continue
                function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint,
                                     ctypes.c_uint]
                function.restype = None
                break
        _team.append(function)
    return _team[0]


_team: list[Any] = []  # [GOMP_parallel or None] once looked up ([None] in a forked child)


def _parts(n: int) -> int:
    """The shares of a call over ``n`` elements (see :data:`PARALLEL_GRAIN`): up to
    ``torch.get_num_threads()``, one per :data:`PARALLEL_GRAIN` elements; 1 (the calling thread
    alone) below twice that, with one PyTorch thread, or in a forked child; 0 where there is no
    OpenMP team to share a call PyTorch's own operations would share among their threads (its
    parallel backend is not OpenMP): the kernel then runs in the calling thread, and the spike
    leaves it to PyTorch."""
    if n < 2 * PARALLEL_GRAIN:
        return 1
    threads = torch.get_num_threads()
    if threads < 2:
        return 1
    if _openmp() is None:
        return 1 if _forked else 0
    return min(threads, n // PARALLEL_GRAIN)


_forked = False  # in a forked child (see _after_fork)


def _call(entry: _Entry, x: torch.Tensor, v: torch.Tensor, out: torch.Tensor, parts: int,
          n: int) -> torch.Tensor:
    """The kernel over ``n`` elements of contiguous float32 tensors ``x``, ``v`` into ``out``;
    ``out``. ``parts`` is :func:`_parts`'s (more than one only with an OpenMP team). One part
    (or 0): ``run`` in this thread. More: ``part`` on the team (see :func:`_shared`); ``v`` may
    then be :data:`PART_MAX` long, read for every piece (an expanded cotangent, see
    :func:`_compute`)."""
    compiled, params, packed = entry
    if parts <= 1:
        compiled.run(x.data_ptr(), v.data_ptr(), out.data_ptr(), n, *params)
    else:
        _shared(compiled.address, x, v, out, parts, n, packed)
    return out


def _shared(address: int, x: torch.Tensor, v: torch.Tensor, out: torch.Tensor, parts: int,
            n: int, packed: bytes) -> None:
    """The C function at ``address`` (a module's ``part`` or ``spike_part``) on PyTorch's whole
    OpenMP team (its threads, hot after PyTorch's own operations, sharing the cores with
    nothing of ours), whose threads claim pieces of about a quarter of one of ``parts`` parts,
    at most :data:`PART_MAX` elements, until none is left; ``v`` is read for every piece if
    it has fewer than ``n`` elements. Returns when every thread has, so the tensors outlive
    every access."""
    size = min((-(-n // (4 * parts)) + 15) & ~15, PART_MAX)  # whole cache lines
    step = 1 if v.numel() == n else 0
    data = ctypes.create_string_buffer(
        _WORDS.pack(x.data_ptr(), v.data_ptr(), out.data_ptr(), n, size, step, 0) + packed)
    _team[0](address, data, 0, 0)  # GOMP_parallel (see _openmp); 0: the whole team


def times_derivative(spec: Spec, v: torch.Tensor, x: torch.Tensor,
                     planned: Callable[..., torch.Tensor], entry: Any = None
                     ) -> torch.Tensor | None:
    """``v * g'(x)`` by the compiled kernel of ``spec`` (plain CPU tensors of one dtype and
    shape, as the adapter's planned backward is given), or None when the plan is to serve: no
    kernel (yet), ``x`` not contiguous, a negative view (``torch._neg_view``, the imaginary
    part of a conjugate: a sign flag the kernel, which reads memory, would not see) as ``x`` or
    ``v``, or the plan measured faster at this size
    (:data:`TUNE_MIN_ELEMENTS`; ``planned(spec, v, x, "auto")`` is the plan, called here while
    the two are timed). A cotangent that is not contiguous is copied first, or for a large
    call expanded from one number (``loss.sum()``'s), :data:`PART_MAX` elements of it (see
    :func:`_compute`). ``entry``: :func:`spike`'s, where the forward pass found it (no
    second lookup).

    This runs in every backward pass, where each Python step costs several times what it costs
    alone: each fact of the tensors is read once and passed on. (``x`` is checked even where
    the forward pass found the loops: a ``saved_tensors_hooks`` unpack may give back the same
    values in another layout.)"""
    if entry is None:
        entry = _ready.get((spec, x.dtype), _PENDING)
        if entry is _PENDING:
            entry = _entry(spec, x.dtype)
        if entry is None or entry is _PENDING:
            return None
    if not x.is_contiguous() or x.is_neg() or v.is_neg():
        return None
    n = x.numel()
    if n >= TUNE_MIN_ELEMENTS and torch.get_num_threads() > 1:
        return _timed(entry, spec, v, x, n, planned)
    if x.dtype is not torch.float32 or not v.is_contiguous():
        return _compute(entry, v, x, n)
    # contiguous float32 tensors: _compute's call without its frame (or _parts' below two
    # grains), which costs a fraction of a microsecond between PyTorch's operations
    return _call(entry, x, v, torch.empty_like(x),
                 1 if n < 2 * PARALLEL_GRAIN else _parts(n), n)


def _timed(entry: _Entry, spec: Spec, v: torch.Tensor, x: torch.Tensor, n: int,
           planned: Callable[..., torch.Tensor]) -> torch.Tensor | None:
    """:func:`times_derivative` from :data:`TUNE_MIN_ELEMENTS` elements on: the kernel or the
    plan (None), whichever the first passes of this spec, dtype and size (to a power of two)
    measured faster, each timed in turn :data:`TUNE_SAMPLES` times until then."""
    key = (spec, x.dtype, n.bit_length())
    verdict = _verdicts.get(key)
    if verdict is None:
        if len(_verdicts) >= _MAX_READY:
            _verdicts.clear()
        verdict = _verdicts[key] = ([], [])
    if verdict is True:
        return _compute(entry, v, x, n)
    if verdict is False:
        return None
    kernel_times, plan_times = verdict  # still timing: each in turn, TUNE_SAMPLES times
    start = time.perf_counter()
    if len(kernel_times) <= len(plan_times):
        out = _compute(entry, v, x, n)
        kernel_times.append(time.perf_counter() - start)
    else:
        out = planned(spec, v, x, "auto")
        plan_times.append(time.perf_counter() - start)
        if len(plan_times) == TUNE_SAMPLES:
            _verdicts[key] = min(kernel_times) <= min(plan_times)
    return out


def _compute(entry: _Entry, v: torch.Tensor, x: torch.Tensor, n: int) -> torch.Tensor:
    """:func:`_call` for contiguous tensors ``x`` of ``n`` elements in any float32-computed
    dtype. A cotangent expanded from one number (all strides 0: ``loss.sum()``'s) becomes
    :data:`PART_MAX` copies of that number where the call is shared and longer than that;
    another cotangent that is not contiguous a contiguous copy."""
    parts = _parts(n)
    if not v.is_contiguous():
        if parts > 1 and n > PART_MAX and not any(v.stride()):
            v = v.as_strided((1,), (1,)).expand(PART_MAX).contiguous()
        else:
            v = v.contiguous()
    if x.dtype is torch.float32:
        return _call(entry, x, v, torch.empty_like(x), parts, n)
    x32, v32 = x.to(torch.float32), v.to(torch.float32)
    return _call(entry, x32, v32, torch.empty_like(x32), parts, n).to(x.dtype)


def spike(spec: Spec, x: torch.Tensor) -> tuple[torch.Tensor | None, _Entry | None]:
    """The spike of ``x`` (a plain float32 CPU tensor, as the adapter's eager forward pass is
    given) by the compiled loop of ``spec``'s kernel module, shared like the kernel's (see
    :func:`_parts`), and the loaded float32 :class:`_Entry` of ``spec`` for the backward pass
    (:func:`times_derivative`'s ``entry``). The spike is None where PyTorch's comparison is to
    serve: two grains or more, more than one PyTorch thread, and no OpenMP team to share ours
    (:func:`_parts`'s 0); both are None where no loop can read ``x``: no kernel loaded for
    ``spec`` (the first backward pass asks for it), ``x`` not contiguous, or a negative view
    (its sign is a flag the loops, which read memory, would not see).

    PyTorch's comparison into a float tensor (``torch.ge(x, 0, out=...)``) costs more: in a
    training loop on this 2-core EPYC, 3-7 us a step at 4,096 to 131,072 elements, 10-20 us at
    262,144 and a million; the same at 8M and 16M (a pass over memory either way)."""
    if not x.is_contiguous() or x.is_neg():
        return None, None
    entry = _ready.get((spec, torch.float32))
    if entry is None:
        return None, None
    n = x.numel()
    parts = 1 if n < 2 * PARALLEL_GRAIN else _parts(n)
    if parts == 0:
        return None, entry
    out = torch.empty_like(x)
    if parts > 1:
        _shared(entry.compiled.spike_address, x, x, out, parts, n, b"")
    else:
        entry.compiled.spike(x.data_ptr(), out.data_ptr(), n)
    return out, entry


def _after_fork() -> None:
    """A forked child (a DataLoader worker) has none of the parent's threads: compilations
    pending there restart, and the loops run in the calling thread at every size (see
    :func:`_openmp`; PyTorch's own parallel operations would hang there unless it has one
    thread)."""
    global _forked
    _forked = True
    _worker.clear()
    _team[:] = [None]
    global _condition, _jobs
    _condition = threading.Condition()
    _jobs = queue.SimpleQueue()
    for formula in [f for f, k in _state.items() if k is _PENDING]:
        del _state[formula]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
