"""``spikegrad check``: every surrogate, every installed backend, every transform it supports;
and :func:`verify`, everything the project verifies of its own catalogue, for any surrogate.

Each backend check compares a backend's result with the NumPy float64 reference (itself checked
against the numbers of the library each catalogue entry comes from, braintools 0.3.0, snntorch
1.0, spikingjelly 2.0 or norse 1.1, shipped with the package). A user's way to trust an
installation: a failure names the backend, the check and the surrogate.

:func:`verify` adds, for one surrogate (the catalogue's, or a user's own), the properties the
project's test suite checks of every catalogue entry, with the same code
(:mod:`spikegrad.tools.verify`): g' is the derivative of g, g and g' are finite for every finite
input in every floating dtype, 16-bit and float32 results are the float64 reference rounded, and
the generated CUDA kernels compile (with ``nvcc``) and give the reference values (compiled for
the CPU). :func:`assert_verified` is its form for a test suite.

Each backend's checks run under that backend (``spikegrad.backend(name)``), the references
under ``numpy`` and :func:`verify`'s properties and kernel checks under ``auto`` (each array
to its own backend: NumPy float64, PyTorch's bfloat16), whatever ``SPIKEGRAD_BACKEND`` or
``spikegrad.set_backend`` select: the tool checks the backends it names.

Examples
--------
>>> import spikegrad as sg
>>> from spikegrad.tools.check import verify
>>> class Laplace(sg.Surrogate):
...     alpha = sg.Param(2.0, gt=0)
...     def grad(x, alpha, *, xp):
...         return 0.5 * alpha * xp.exp(-alpha * xp.abs(x))
...     def primitive(x, alpha, *, xp):
...         tail = 0.5 * xp.exp(-alpha * xp.abs(x))
...         return xp.where(x < 0, tail, 1.0 - tail)
>>> report = verify(Laplace, backends=["numpy"], compile=False)
>>> report.ok
True
>>> print(report)
spikegrad check Laplace(alpha=2.0)
group       check                          result
--------------------------------------------------------------------------
properties  g' is the derivative of g      PASS
properties  finite (float16)               PASS
properties  finite (bfloat16)              PASS
properties  finite (float32)               PASS
properties  finite (float64)               PASS
properties  accuracy (float16)             PASS
properties  accuracy (bfloat16)            PASS
properties  accuracy (float32)             PASS
numpy       published values               skipped  no published values (not a catalogue entry)
numpy       float32                        PASS
numpy       vjp                            PASS
kernels     CUDA source generated          PASS     12 kernels (float16, float32, float64)
kernels     CUDA source compiles (nvcc)    skipped  not compiled (compile=False)
kernels     C++ kernels match NumPy (CPU)  skipped  not compiled (compile=False)
all 11 checks passed (3 skipped)
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import json
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import spikegrad as sg
from spikegrad import _codegen as codegen
from spikegrad.compat import CompatSurrogate
from spikegrad.surrogates import measured, published
from spikegrad.tools import _check_count
from spikegrad.tools import verify as checkers

__all__ = [
    "CHECKS",
    "MAX_SAMPLES",
    "NotApplicable",
    "Report",
    "Result",
    "X",
    "assert_verified",
    "format_table",
    "plan",
    "published_values",
    "reference",
    "resolve",
    "run",
    "verify",
]

X = np.array([-2.5, -1.2, -0.3, 0.4, 0.9, 1.7, 3.0])  # no 0: some g' have a kink there

MAX_SAMPLES = 100_000
"""The most random inputs per property and dtype :func:`verify` takes (``--samples``): the
sigmoid's properties on NumPy take 2 s and 270 MB at this many; a billion ran out of memory,
which was reported as failures of the surrogate."""

Reference = dict[str, np.ndarray]
# A check: (surrogate, its reference) -> (actual, expected), compared with assert_allclose.
Check = Callable[[Any, Reference], tuple[Any, Any]]


class NotApplicable(Exception):
    """Raised by a check that does not apply to a surrogate (the message says why)."""


def published_values(cls: type) -> dict[str, Any] | None:
    """The published outputs of the library a catalogue entry comes from
    (:func:`spikegrad.surrogates.published`), or of the library whose spelling a class of
    :mod:`spikegrad.compat` is (its parameters as that class takes them, and ``entry``, the
    :class:`~spikegrad.compat.Entry`), or None for any other class (a user's own) or a spelling
    not measured."""
    if isinstance(cls, type) and issubclass(cls, CompatSurrogate):
        e = cls.entry
        case = measured(e.library, e.name)
        if case is None:
            return None
        names = [n for n, _ in e.params]
        params = case["params"]  # norse's are named by its functions' arguments: by position
        if not set(params) <= set(names):
            params = dict(zip(names, params.values()))
        return {**case, "params": params, "primitive": None, "entry": e,
                "source": f"{e.library} ``{e.name}``"}
    if getattr(cls, "__module__", None) != "spikegrad.surrogates":
        return None
    try:
        return published(cls)
    except KeyError:
        return None


def _no_published_values(s: Any) -> str:
    """Why :func:`published_values` has none for ``s``."""
    if isinstance(s, CompatSurrogate):
        return (f"no published values (none measured of {s.entry.library}'s {s.entry.name}; "
                "see the porting guide)")
    return "no published values (not a catalogue entry)"


def _as_numpy(a: Any) -> np.ndarray:
    """``a`` (a NumPy, JAX or PyTorch array, or a number) as a NumPy array of its own dtype."""
    return np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)


def _to_numpy(a: Any) -> np.ndarray:
    return np.asarray(_as_numpy(a), dtype=np.float64)


def reference(s: Any) -> Reference:
    """The NumPy float64 values on ``X`` that every backend must reproduce.

    ``grad`` (g'), ``fun`` (g; absent without a primitive) and ``grad2`` (g'', by central
    differences), computed with the ``numpy`` backend whatever backend is selected.

    A surrogate whose own ``surrogate_grad`` computes in float32 (a braintools-style method
    written with ``jax.numpy``, float64 off) gets g'' from Richardson's extrapolation of two
    central differences at steps of ``eps**(1/5)`` (its error of order ``eps**(4/5)``): a
    step of ``1e-5`` would leave the float32 rounding of g', divided by the step, a percent
    of error, and fail a correct surrogate.
    """
    with sg.backend("numpy"):
        grad = s.surrogate_grad(X)

        def difference(h: float) -> np.ndarray:
            above, below = s.surrogate_grad(X + h), s.surrogate_grad(X - h)
            return (_to_numpy(above) - _to_numpy(below)) / (2 * h)

        dtype = _as_numpy(grad).dtype
        if np.issubdtype(dtype, np.floating) and np.finfo(dtype).eps > np.finfo(np.float64).eps:
            h = float(np.finfo(dtype).eps) ** 0.2
            grad2 = (4.0 * difference(h / 2) - difference(h)) / 3.0
        else:
            grad2 = difference(1e-5)
        ref = {"grad": _to_numpy(grad), "grad2": grad2}
        if s._has_primitive():
            ref["fun"] = _to_numpy(s.surrogate_fun(X))
    return ref


def _fun(ref: Reference) -> np.ndarray:
    if "fun" not in ref:
        raise NotApplicable("no primitive g")
    return ref["fun"]


def _with_origin(s: Any) -> Any:
    """A copy of ``s`` returning g (a copy: the constructors of braintools-style surrogates and
    of other libraries' spellings are not spikegrad's)."""
    c = copy.copy(s)
    c.origin = True
    return c


def _numpy_checks() -> dict[str, Check]:
    def library(s: Any, ref: Reference) -> tuple[Any, Any]:
        theirs = published_values(type(s))
        if theirs is None:
            raise NotApplicable(_no_published_values(s))
        s = type(s)(**theirs["params"])
        x = np.asarray(theirs["x"])
        # The forward where the conventions agree (snntorch and norse spike on x > 0).
        got = [s(x[x != 0]), s.surrogate_grad(x)]
        want = [np.asarray(theirs["forward"])[x != 0], theirs["grad"]]
        if theirs["primitive"]:
            got.append(s.surrogate_fun(x))
            want.append(theirs["primitive"])
        got, want = np.concatenate([_to_numpy(g) for g in got]), np.concatenate(want)
        e = theirs.get("entry")
        if e is not None and e.difference and not np.allclose(got, want, rtol=2e-5, atol=1e-5):
            raise NotApplicable(f"{e.library}'s code departs from its documentation here, which "
                                f"spikegrad follows (see the porting guide): {e.difference}")
        return got, want

    return {
        "published values": library,
        "float32": lambda s, ref: (s.surrogate_grad(X.astype(np.float32)), ref["grad"]),
        "vjp": lambda s, ref: (s.vjp(X, 2 * X), 2 * X * ref["grad"]),
    }


def _array_api_checks() -> dict[str, Check]:
    import array_api_strict as xp

    x = xp.asarray(X)

    def fun(s: Any, ref: Reference) -> tuple[Any, Any]:
        expected = _fun(ref)
        return np.asarray(s.surrogate_fun(x)), expected

    return {
        "g' (array-api-strict)": lambda s, ref: (np.asarray(s.surrogate_grad(x)), ref["grad"]),
        "g (array-api-strict)": fun,
    }


def _jax_checks() -> dict[str, Check]:
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(X, jnp.float32)

    def total(s: Any) -> Callable[[Any], Any]:
        return lambda v: s(v).sum()

    def origin(s: Any, ref: Reference) -> tuple[Any, Any]:
        _fun(ref)
        return jax.grad(total(_with_origin(s)))(x), ref["grad"]

    return {
        "grad": lambda s, ref: (jax.grad(total(s))(x), ref["grad"]),
        "jit(grad)": lambda s, ref: (jax.jit(jax.grad(total(s)))(x), ref["grad"]),
        "vmap": lambda s, ref: (jax.vmap(jax.grad(s))(x), ref["grad"]),
        "jvp": lambda s, ref: (jax.jvp(s, (x,), (jnp.ones_like(x),))[1], ref["grad"]),
        "hessian (g'')": lambda s, ref: (jax.vmap(jax.hessian(s))(x), ref["grad2"]),
        "origin": origin,
    }


def _torch_checks() -> dict[str, Check]:
    import torch
    from torch.func import grad, jvp, vmap

    def x_() -> Any:
        return torch.tensor(X, dtype=torch.float32, requires_grad=True)

    def backward(s: Any) -> Any:
        x = x_()
        s(x).sum().backward()
        return x.grad

    def double(s: Any) -> Any:
        x = x_()
        (g,) = torch.autograd.grad(s(x).sum(), x, create_graph=True)
        return torch.autograd.grad(g.sum(), x)[0] if g.requires_grad else torch.zeros_like(x)

    def compiled(s: Any) -> Any:
        torch._dynamo.reset()  # one lambda, 18 surrogates: stay clear of the recompile limit
        x = x_()
        torch.compile(lambda v: s(v) * 1.0, fullgraph=True, backend="aot_eager")(x).sum().backward()
        return x.grad

    t = torch.tensor(X, dtype=torch.float32)
    return {
        "backward": lambda s, ref: (backward(s), ref["grad"]),
        "double backward (g'')": lambda s, ref: (double(s), ref["grad2"]),
        "torch.func vmap(grad)": lambda s, ref: (vmap(grad(s))(t), ref["grad"]),
        "torch.func jvp": lambda s, ref: (jvp(s, (t,), (torch.ones_like(t),))[1], ref["grad"]),
        "torch.compile": lambda s, ref: (compiled(s), ref["grad"]),
    }


def _cupy_checks() -> dict[str, Check]:
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 1:
        raise RuntimeError("no CUDA GPU")
    x = cupy.asarray(X)

    def fun(s: Any, ref: Reference) -> tuple[Any, Any]:
        expected = _fun(ref)
        return cupy.asnumpy(s.surrogate_fun(x)), expected

    return {
        "g' kernel": lambda s, ref: (cupy.asnumpy(s.surrogate_grad(x)), ref["grad"]),
        "g kernel": fun,
        "vjp kernel": lambda s, ref: (cupy.asnumpy(s.vjp(x, x)), X * ref["grad"]),
    }


CHECKS: dict[str, tuple[str | None, Callable[[], dict[str, Check]]]] = {
    "numpy": (None, _numpy_checks),
    "array_api": ("array_api_strict", _array_api_checks),
    "jax": ("jax", _jax_checks),
    "torch": ("torch", _torch_checks),
    "cupy": ("cupy", _cupy_checks),
}
"""For each backend name (run under ``spikegrad.backend(name)``): the module it needs, or None,
and a function returning its checks by name (called once, under that backend)."""


def plan(backends: Sequence[str] | None = None) -> Iterator[tuple[str, str, Check | None, str]]:
    """(backend, check, function or None, reason when skipped), for ``backends`` (default:
    every one of :data:`CHECKS`)."""
    for backend, (module, make) in CHECKS.items():
        if backends is not None and backend not in backends:
            continue
        if module is not None and importlib.util.find_spec(module) is None:
            yield backend, "-", None, f"{module} not installed"
            continue
        try:
            with sg.backend(backend):
                checks = make()
        except Exception as exc:  # noqa: BLE001 - report, do not crash the whole check
            yield backend, "-", None, f"unusable: {exc}"
            continue
        for name, fn in checks.items():
            yield backend, name, fn, ""


def _first_line(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""


def _compare(backend: str, fn: Check, s: Any, ref: Reference) -> None:
    """Run one backend check; AssertionError (or the check's own error) when it fails."""
    with sg.backend(backend):
        actual, expected = fn(s, ref)
    np.testing.assert_allclose(_to_numpy(actual), np.asarray(expected, np.float64),
                               rtol=2e-5, atol=1e-5)


def _check_backends(backends: Sequence[str] | None) -> None:
    unknown = set(backends or ()) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown backend {min(unknown)!r}; choose from "
                         f"{', '.join(CHECKS)}")


def run(progress_factory: Callable[[int], Any] | None = None,
        backends: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per (backend, check) over every registered surrogate: passed, total, the
    failing surrogates, and those the check does not apply to (``not_applicable``: published
    values of a user's registered surrogate, g of a surrogate without one).

    ``progress_factory(total)`` may return a progress bar (``update(n)``, ``close()``).
    ``backends`` limits the backends checked (default: all).
    """
    _check_backends(backends)
    surrogates = [sg.get(n) for n in sg.available()]
    references = [reference(s) for s in surrogates]
    items = list(plan(backends))
    bar = None
    if progress_factory:
        bar = progress_factory(len(surrogates) * sum(fn is not None for _, _, fn, _ in items))
    rows = []
    for backend, name, fn, reason in items:
        if fn is None:
            rows.append({"backend": backend, "check": name, "passed": 0, "total": 0,
                         "failures": [], "not_applicable": [], "skipped": reason})
            continue
        failures, not_applicable = [], []
        for s, ref in zip(surrogates, references):
            try:
                _compare(backend, fn, s, ref)
            except NotApplicable as exc:
                not_applicable.append(f"{type(s).__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - any failure is a failed check
                failures.append(f"{type(s).__name__}: {type(exc).__name__}: {_first_line(exc)}")
            if bar:
                bar.update(1)
        total = len(surrogates) - len(not_applicable)
        rows.append({"backend": backend, "check": name, "passed": total - len(failures),
                     "total": total, "failures": failures, "not_applicable": not_applicable,
                     "skipped": ""})
    if bar:
        bar.close()
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table, failures listed under their check."""
    lines = [f"{'backend':10} {'check':26} result", "-" * 52]
    for r in rows:
        if r["skipped"]:
            lines.append(f"{r['backend']:10} {'(skipped)':26} {r['skipped']}")
            continue
        status = "PASS" if not r["failures"] else "FAIL"
        na = f" ({len(r['not_applicable'])} not applicable)" if r.get("not_applicable") else ""
        lines.append(f"{r['backend']:10} {r['check']:26} {status} {r['passed']}/{r['total']}{na}")
        lines += [f"{'':10}   {f}" for f in r["failures"]]
    return "\n".join(lines)


# ---------------------------------------------------------------- one surrogate, all checks


def resolve(target: Any) -> sg.Surrogate:
    """The surrogate a ``spikegrad check`` target names.

    Parameters
    ----------
    target
        A surrogate object; a :class:`~spikegrad.Surrogate` subclass (made with its defaults);
        a registered name (``"sigmoid"``) or another library's spelling (``"snntorch.atan"``),
        as :func:`spikegrad.get` takes them; or ``"package.module:Attribute"`` (the attribute
        may be dotted), where the attribute is any of these, or a function that takes no
        arguments and returns a surrogate.

    Examples
    --------
    >>> from spikegrad.tools.check import resolve
    >>> resolve("spikegrad.surrogates:Sigmoid"), resolve("snntorch.atan")
    (Sigmoid(alpha=4.0), snntorch.atan(alpha=2.0) = Arctan(alpha=2.0, spike_at_zero=False))
    """
    if isinstance(target, sg.Surrogate):
        return target
    if isinstance(target, type) and issubclass(target, sg.Surrogate):
        try:
            return target()
        except TypeError as exc:
            raise TypeError(f"cannot make {target.__name__} with its default parameters "
                            f"({exc}); pass an object instead") from None
        except Exception as exc:  # noqa: BLE001 - the user's constructor failed: say so
            raise ValueError(f"{target.__name__}() raised {type(exc).__name__}: {exc}") from exc
    if isinstance(target, str) and ":" in target:
        module_name, _, attribute = target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            raise
        except (Exception, SystemExit) as exc:  # the user's module failed (or called
            # sys.exit, which would end the check with its status and no report): say so
            raise ValueError(f"importing {module_name} ({target}) raised {type(exc).__name__}: "
                             f"{exc}") from exc
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"{module_name} has no attribute {attribute!r} ({target})")
            obj = getattr(obj, part)
        if isinstance(obj, (sg.Surrogate, type)):
            if isinstance(obj, type) and not issubclass(obj, sg.Surrogate):
                raise TypeError(f"{target} is the class {obj.__name__}, not a spikegrad.Surrogate "
                                "subclass")
            return resolve(obj)
        if callable(obj):
            try:
                made = obj()
            except Exception as exc:  # noqa: BLE001 - the user's factory failed: say so
                raise ValueError(f"{target}() raised {type(exc).__name__}: {exc}") from exc
            if not isinstance(made, sg.Surrogate):
                raise TypeError(f"{target}() returned {type(made).__name__}, not a surrogate")
            return made
        raise TypeError(f"{target} is a {type(obj).__name__}, not a surrogate, a Surrogate "
                        "subclass or a function returning a surrogate")
    if isinstance(target, str):
        return sg.get(target)
    raise TypeError(f"cannot check {target!r}: pass a surrogate, a Surrogate subclass, a name, or "
                    "'module:Attribute'")


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of one check: ``status`` is ``"pass"``, ``"fail"``, ``"skipped"`` (a tool
    or framework is missing, or nothing to compare with) or ``"n/a"`` (the check does not apply
    to this kind of surrogate); ``detail`` says why."""

    group: str
    check: str
    status: str
    detail: str = ""


@dataclasses.dataclass
class Report:
    """Every check of one surrogate (:func:`verify`).

    ``str(report)`` is a readable table; :attr:`ok` is True when nothing failed;
    :meth:`to_json` and :meth:`to_dict` give the same for machines.
    """

    surrogate: str
    results: list[Result] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no check failed (skipped and not applicable ones do not count)."""
        return not self.failures

    @property
    def failures(self) -> list[Result]:
        """The failed checks."""
        return [r for r in self.results if r.status == "fail"]

    def counts(self) -> dict[str, int]:
        """How many checks ended with each status."""
        return {k: sum(r.status == k for r in self.results) for k in ("pass", "fail", "skipped",
                                                                        "n/a")}

    def summary(self) -> str:
        """One line: how many checks passed, failed, were skipped or did not apply."""
        c = self.counts()
        rest = ", ".join(f"{c[k]} {'not applicable' if k == 'n/a' else k}"
                         for k in ("skipped", "n/a") if c[k])
        rest = f" ({rest})" if rest else ""
        if c["fail"]:
            names = ", ".join(f"{r.group}: {r.check}" for r in self.failures)
            return f"{c['fail']} of {c['pass'] + c['fail']} checks FAILED{rest}: {names}"
        return f"all {c['pass']} checks passed{rest}"

    def to_dict(self) -> dict[str, Any]:
        """``{"surrogate", "ok", "counts", "results": [{"group", "check", "status",
        "detail"}]}``."""
        return {"surrogate": self.surrogate, "ok": self.ok, "counts": self.counts(),
                "results": [dataclasses.asdict(r) for r in self.results]}

    def to_json(self, indent: int | None = 1) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        shown = {"pass": "PASS", "fail": "FAIL", "skipped": "skipped", "n/a": "n/a"}
        lines = [f"spikegrad check {self.surrogate}",
                 f"{'group':11} {'check':30} result", "-" * 74]
        for r in self.results:
            detail = r.detail.splitlines()[0][:200] if r.detail else ""
            status = shown[r.status]
            lines.append(f"{r.group:11} {r.check:30} {status:8} {detail}".rstrip())
            if r.status == "fail":
                lines += [f"{'':12}{line}" for line in r.detail.splitlines()[1:8]]
        lines.append(self.summary())
        return "\n".join(lines)


def _outcome(group: str, check: str, fn: Callable[[], Any]) -> Result:
    """Run ``fn`` under the backend ``auto`` (a backend's own checks select theirs inside); its
    result as a :class:`Result` (pass, or why not)."""
    try:
        with sg.backend("auto"), warnings.catch_warnings(), np.errstate(all="ignore"):
            # judged on values: an overflow that gives inf fails a finiteness check
            warnings.simplefilter("ignore", RuntimeWarning)
            detail = fn()
    except NotApplicable as exc:
        return Result(group, check, "n/a", str(exc))
    except checkers.ToolMissing as exc:
        return Result(group, check, "skipped", str(exc))
    except AssertionError as exc:
        return Result(group, check, "fail", str(exc).strip() or "AssertionError")
    except Exception as exc:  # noqa: BLE001 - any error is a failed check, reported
        return Result(group, check, "fail", f"{type(exc).__name__}: {str(exc).strip()}")
    return Result(group, check, "pass", detail or "")


# How each backend makes an array of X, to probe whether a braintools-style surrogate's methods
# run on its arrays.
def _probe_array(backend: str, bfloat16: bool = False) -> Any:
    if backend == "numpy":
        return X.copy()
    if backend == "array_api":
        import array_api_strict

        return array_api_strict.asarray(X)
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(X, jnp.float32)
    if backend == "torch":
        import torch

        return torch.tensor(X, dtype=torch.bfloat16 if bfloat16 else torch.float32)
    import cupy

    return cupy.asarray(X)


def _runs_on(s: Any, backend: str, bfloat16: bool = False) -> str:
    """Why a braintools-style surrogate's methods do not run on ``backend``'s arrays ("" when
    they do: g' and g, where defined, return arrays of the same type, float64 for NumPy's)."""
    names = ["surrogate_grad"] + (["surrogate_fun"] if s._has_primitive() else [])
    where = f"{backend} arrays" if not bfloat16 else "bfloat16 tensors"
    for name in names:
        try:
            x = _probe_array(backend, bfloat16)
            with sg.backend(backend), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = getattr(s, name)(x)
        except Exception as exc:  # noqa: BLE001 - the reason is reported
            return (f"braintools-style {name} does not run on {where} "
                    f"({type(exc).__name__}: {_first_line(exc, 80)})")
        if type(out) is not type(x):
            return (f"braintools-style {name} returns {type(out).__name__} for {where} "
                    "(it computes with one framework only)")
        if backend == "numpy" and out.dtype != np.float64:
            return f"braintools-style {name} returns {out.dtype} for float64 NumPy arrays"
    return ""


def _property_checks(s: Any, rng: np.random.Generator, samples: int,
                     has_torch: bool) -> list[tuple[str, Callable[[], Any]]]:
    def derivative() -> None:
        if not s._has_primitive():
            raise NotApplicable("no primitive g")
        x = checkers.sample_points(s, samples, rng)
        checkers.check_difference_quotients(s, x)

    def finite(dtype: str) -> Callable[[], None]:
        def check() -> None:
            if dtype == "bfloat16" and not has_torch:
                raise checkers.ToolMissing("torch not installed (NumPy has no bfloat16)")
            values = np.concatenate([checkers.extremes(dtype),
                                     checkers.random_finite(dtype, 4 * samples, rng)])
            checkers.check_finite(s, values, dtype)
        return check

    def accuracy(dtype: str) -> Callable[[], None]:
        def check() -> None:
            if dtype == "bfloat16" and not has_torch:
                raise checkers.ToolMissing("torch not installed (NumPy has no bfloat16)")
            sc = checkers.scales(s)
            x = np.concatenate([rng.uniform(-40, 40, samples),
                                checkers.sample_points(s, samples, rng), [0.0, *sc],
                                [-v for v in sc]])
            x = _round(x, dtype)
            checkers.check_reduced_precision(s, x[np.isfinite(x)], dtype)
        return check

    return [("g' is the derivative of g", derivative),
            *((f"finite ({d})", finite(d)) for d in checkers.DTYPES),
            *((f"accuracy ({d})", accuracy(d)) for d in ("float16", "bfloat16", "float32"))]


def _round(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` (beyond its range: inf), as float64."""
    if dtype == "bfloat16":
        import torch

        return torch.as_tensor(x).to(torch.bfloat16).to(torch.float64).numpy()
    return x.astype(dtype).astype(np.float64)


def _kernel_checks(s: Any, rng: np.random.Generator,
                   samples: int, compile: bool) -> list[tuple[str, Callable[[], Any]]]:
    made: dict[str, Any] = {}

    def generated() -> str:
        made["kernels"] = checkers.kernels_of(s)
        return f"{len(made['kernels'])} kernels ({', '.join(codegen.DTYPES)})"

    def needs_source() -> list[codegen.Kernel]:
        if not compile:
            raise checkers.ToolMissing("not compiled (compile=False)")
        if "kernels" not in made:
            raise checkers.ToolMissing("no source to compile (its generation failed)")
        return made["kernels"]

    def nvcc() -> None:
        kernels = needs_source()
        with tempfile.TemporaryDirectory() as tmp:
            checkers.compile_cuda(kernels, tmp)

    def cpu() -> str:
        kernels = needs_source()
        with tempfile.TemporaryDirectory() as tmp:
            library = checkers.compile_for_cpu(kernels, tmp, "kernels")
        compiled = {d: library for d in codegen.DTYPES}
        for dtype in codegen.DTYPES:
            tiny, top = np.finfo(dtype).tiny, np.finfo(dtype).max
            extreme = checkers.random_finite(dtype, samples, rng)
            extreme = np.where(np.abs(extreme) >= tiny, extreme, 1.0)
            x = np.concatenate([rng.uniform(-12, 12, samples), extreme, [0.0, top, -top]])
            x = x.astype(dtype)
            ct = np.linspace(-2, 2, x.size).astype(dtype)
            checkers.check_cpu_kernels(compiled, s, dtype, x, ct)
        return "compared with NumPy float64"

    return [("CUDA source generated", generated), ("CUDA source compiles (nvcc)", nvcc),
            ("C++ kernels match NumPy (CPU)", cpu)]


def verify(surrogate: Any, backends: Sequence[str] | None = None, *, samples: int = 64,
           seed: int = 0, compile: bool = True) -> Report:
    """Check one surrogate as the project checks its own catalogue.

    * ``properties`` (NumPy, float64 reference): the published values of the library a
      catalogue entry comes from (skipped for other surrogates); g' is the derivative of g
      (central differences away from jumps of g'); g and g' finite at the extremes and at random
      finite inputs of float16, bfloat16 (with PyTorch), float32 and float64; float16, bfloat16
      and float32 results within a few ulps of the float64 reference (allowing for the
      formula's conditioning);
    * one group per installed backend (``numpy``, ``array_api``, ``jax``, ``torch``, ``cupy``):
      every autodiff path it has (grad, jit, vmap, jvp, hessian, ``origin``; backward, double
      backward, ``torch.func``, ``torch.compile(fullgraph=True)``; CuPy kernels) against the
      NumPy float64 reference;
    * ``kernels``: the CUDA source of every kernel kind and dtype is generated, compiles with
      ``nvcc -ptx`` (skipped without ``nvcc``), and, compiled as C++ for the CPU (skipped
      without a C++ compiler), gives the NumPy values.

    A braintools-style surrogate (methods ``surrogate_grad(self, x)``) has no formula to
    trace: its kernel checks, and those of the backends whose arrays its methods do not
    compute on, are reported as not applicable.

    Parameters
    ----------
    surrogate
        A surrogate object, a subclass (made with its defaults), a name or
        ``"module:Attribute"`` (see :func:`resolve`).
    backends
        The backends to check (default: every one; those not installed are skipped).
    samples
        Random inputs per property and dtype, 1 to :data:`MAX_SAMPLES` (the extremes of each
        dtype are always included).
    seed
        The seed of the random inputs (the same seed, the same inputs).
    compile
        Compile the generated kernels (``nvcc``, and C++ for the CPU).

    Returns
    -------
    Report
        Every check's outcome; ``report.ok`` when none failed.

    Examples
    --------
    >>> import spikegrad as sg
    >>> from spikegrad.tools.check import verify
    >>> class Steep(sg.Surrogate):
    ...     def grad(x, *, xp):  # 2 exp(-2|x|), but g below is the one of exp(-|x|)
    ...         return 2.0 * xp.exp(-2.0 * xp.abs(x))
    ...     def primitive(x, *, xp):
    ...         tail = 0.5 * xp.exp(-xp.abs(x))
    ...         return xp.where(x < 0, tail, 1.0 - tail)
    >>> report = verify(Steep(), backends=[], compile=False)
    >>> report.ok, [r.check for r in report.failures]
    (False, ["g' is the derivative of g"])
    """
    _check_backends(backends)
    _check_count("samples", samples, "random inputs per property and dtype", 64, MAX_SAMPLES)
    s = resolve(surrogate)
    rng = np.random.default_rng(seed)
    has_torch = importlib.util.find_spec("torch") is not None
    report = Report(repr(s))
    add = report.results.append
    # A braintools-style surrogate's properties need its methods to compute in NumPy float64
    # (and, for bfloat16, on PyTorch tensors).
    numpy_reason = _runs_on(s, "numpy") if s._method_style else ""
    torch_reason = _runs_on(s, "torch", bfloat16=True) if s._method_style and has_torch else ""

    for name, fn in _property_checks(s, rng, samples, has_torch):
        why = numpy_reason or (torch_reason if "bfloat16" in name else "")
        if why:
            add(Result("properties", name, "n/a", why))
        else:
            add(_outcome("properties", name, fn))

    try:
        ref = reference(s)
    except Exception as exc:  # noqa: BLE001 - nothing to compare the backends with
        ref = None
        no_ref = f"no NumPy reference ({type(exc).__name__}: {_first_line(exc, 80)})"
    for backend, name, fn, reason in plan(backends):
        if fn is None:
            add(Result(backend, "-", "skipped", reason))
            continue
        why = _runs_on(s, backend) if s._method_style else ""
        if ref is None and name != "published values":  # (which compares with the library's
            # values, not the reference: it says itself when it does not apply)
            add(Result(backend, name, "n/a" if s._method_style else "fail", no_ref))
        elif why:
            add(Result(backend, name, "n/a", why))
        else:
            result = _outcome(backend, name,
                              lambda b=backend, f=fn: _compare(b, f, s, ref))
            if name == "published values" and result.status == "n/a":
                result = dataclasses.replace(result, status="skipped")  # nothing to compare with
            add(result)

    if s._method_style:
        for name, _ in _kernel_checks(s, rng, samples, compile):
            add(Result("kernels", name, "n/a", "braintools-style methods run on the arrays they "
                       "get: there is no xp formula to generate CUDA from"))
    else:
        for name, fn in _kernel_checks(s, rng, samples, compile):
            add(_outcome("kernels", name, fn))
    return report


def assert_verified(surrogate: Any, backends: Sequence[str] | None = None,
                    **options: Any) -> Report:
    """:func:`verify`, raising ``AssertionError`` with the whole report when a check fails: the
    form for a test suite.

    Examples
    --------
    In a user's test suite (pytest)::

        from spikegrad.tools.check import assert_verified
        from my_package import MySurrogate

        def test_my_surrogate():
            assert_verified(MySurrogate)

    >>> import spikegrad as sg
    >>> from spikegrad.tools.check import assert_verified
    >>> class Flat(sg.Surrogate):
    ...     def grad(x, *, xp):
    ...         return 1.0 / x  # not finite at 0
    >>> assert_verified(Flat, backends=[], compile=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: ...checks FAILED...
    """
    report = verify(surrogate, backends, **options)
    if not report.ok:
        raise AssertionError(f"{report.summary()}\n\n{report}")
    return report
