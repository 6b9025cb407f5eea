"""CuPy adapter: one generated ``cupy.ElementwiseKernel`` launch per call.

Kernels come from :mod:`spikegrad._codegen`, which traces the same Array-API math as every
other backend; they are built once per formula (the math and its structural parameters),
kind and dtype, and cached (CuPy caches the compiled binaries on disk too). Parameter values
are kernel arguments, so new values need no recompilation.

Arrays of other GPU frameworks (PyTorch, JAX, ...) are taken through DLPack without a copy
when this backend is selected; results are CuPy arrays on the input's device (convert back
with e.g. ``torch.from_dlpack``). There is no autodiff here: the backward pass is ``vjp``.

A braintools-style surrogate (methods that run on the array they are given, see
:class:`spikegrad.Surrogate`) cannot be traced into a kernel: its methods are called on the
CuPy array directly.
"""

from __future__ import annotations

from typing import Any

import cupy
import numpy as np

from spikegrad._codegen import generate
from spikegrad._contract import Formula, Spec
from spikegrad._dtypes import not_floating_error
from spikegrad._evaluate import check_cotangent_shape, evaluate
from spikegrad._namespace import MathNamespace

_CUDA_DEVICE_TYPES = {2, 3, 10}  # DLPack: CUDA, CUDA host, ROCm
_kernels: dict[tuple[Any, ...], cupy.ElementwiseKernel] = {}
_NS = MathNamespace(cupy)


def _is_gpu_dlpack(x: Any) -> bool:
    try:
        return hasattr(x, "__dlpack__") and x.__dlpack_device__()[0] in _CUDA_DEVICE_TYPES
    except Exception:  # noqa: BLE001 - an object that cannot describe its device: not ours
        return False


def _as_cupy(x: Any, what: str = "x") -> cupy.ndarray:
    if not isinstance(x, cupy.ndarray):
        if "bfloat16" in str(getattr(x, "dtype", "")):
            raise TypeError(
                "CuPy has no bfloat16, so the cupy backend cannot take it; convert to float16 or "
                "float32 first, or use the backend of the array's framework (e.g. 'torch')"
            )
        x = cupy.from_dlpack(x)
    if x.dtype.kind != "f":
        raise not_floating_error(x.dtype, f"{what}.astype(cupy.float32)")
    return x


def _kernel(formula: Formula, kind: str, dtype: np.dtype) -> cupy.ElementwiseKernel:
    # The spike kernel depends only on the forward convention.
    key = (formula.spike_at_zero if kind == "forward" else formula, kind, dtype.name)
    kernel = _kernels.get(key)
    if kernel is None:
        k = generate(formula, kind, dtype.name)  # type: ignore[arg-type]
        kernel = cupy.ElementwiseKernel(
            k.cupy_in_params(), k.cupy_out_params(), k.cupy_operation(), k.name
        )
        _kernels[key] = kernel
    return kernel


def _arguments(spec: Spec, x: cupy.ndarray) -> list[Any]:
    compute = np.float64 if x.dtype == np.float64 else np.float32
    return [compute(v) for v in spec.values]


def _launch(spec: Spec, kind: str, x: cupy.ndarray, *arrays: cupy.ndarray) -> cupy.ndarray:
    """The generated kernel of ``kind`` on ``x`` (and the cotangent), or the formula's own
    functions on the arrays when it cannot be traced (a braintools-style surrogate)."""
    formula = spec.formula
    if not formula.symbolic:
        fn = formula.primitive if kind == "primitive" else formula.derivative
        return evaluate(fn, x, spec.values, _NS, *arrays)
    return _kernel(formula, kind, x.dtype)(x, *arrays, *_arguments(spec, x))


class CupyAdapter:
    """The CuPy backend (see the module docstring)."""

    name = "cupy"
    accepts_text = "a CuPy array, or a GPU array of another framework (taken through DLPack)"

    def accepts(self, x: Any) -> bool:
        return isinstance(x, cupy.ndarray) or _is_gpu_dlpack(x)

    def spike(self, spec: Spec, x: Any) -> cupy.ndarray:
        x = _as_cupy(x)
        return _kernel(spec.formula, "forward", x.dtype)(x)

    def fun(self, spec: Spec, x: Any) -> cupy.ndarray:
        return _launch(spec, "primitive", _as_cupy(x))

    def grad(self, spec: Spec, x: Any) -> cupy.ndarray:
        return _launch(spec, "grad", _as_cupy(x))

    def vjp(self, spec: Spec, x: Any, cotangent: Any) -> cupy.ndarray:
        x = _as_cupy(x)
        ct = _as_cupy(cotangent, "cotangent")
        check_cotangent_shape(x, ct)
        # The kernel loads the cotangent in its storage type and multiplies in the compute
        # type (float32 for float16): rounded once, on store.
        return _launch(spec, "vjp", x, ct.astype(x.dtype, copy=False))


ADAPTER = CupyAdapter()
