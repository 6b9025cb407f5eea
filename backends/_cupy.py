"""CuPy adapter: one generated ``cupy.ElementwiseKernel`` launch per call.

Kernels come from :mod:`spikegrad._codegen`, which traces the same Array-API math as every
other backend; they are built once per surrogate type, structural parameters, kind and dtype,
and cached (CuPy caches the compiled binaries on disk too). Continuous parameters are kernel
arguments, so new values need no recompilation.

Arrays of other GPU frameworks (PyTorch, JAX, ...) are taken through DLPack without a copy
when this backend is selected; results are CuPy arrays on the input's device (convert back
with e.g. ``torch.from_dlpack``). There is no autodiff here: the backward pass is ``vjp``.
"""

from __future__ import annotations

from typing import Any

import cupy
import numpy as np

from spikegrad._codegen import generate, static_values
from spikegrad._dtypes import not_floating_error

NAME = "cupy"
ACCEPTS = "a CuPy array, or a GPU array of another framework (taken through DLPack)"

_CUDA_DEVICE_TYPES = {2, 3, 10}  # DLPack: CUDA, CUDA host, ROCm
_kernels: dict[tuple[Any, ...], cupy.ElementwiseKernel] = {}


def _is_gpu_dlpack(x: Any) -> bool:
    try:
        return hasattr(x, "__dlpack__") and x.__dlpack_device__()[0] in _CUDA_DEVICE_TYPES
    except Exception:  # noqa: BLE001 - an object that cannot describe its device: not ours
        return False


def accepts(x: Any) -> bool:
    return isinstance(x, cupy.ndarray) or _is_gpu_dlpack(x)


def _as_cupy(x: Any) -> cupy.ndarray:
    if not isinstance(x, cupy.ndarray):
        if "bfloat16" in str(getattr(x, "dtype", "")):
            raise TypeError(
                "CuPy has no bfloat16, so the cupy backend cannot take it; convert to float16 or "
                "float32 first, or use the backend of the array's framework (e.g. 'torch')"
            )
        x = cupy.from_dlpack(x)
    if x.dtype.kind != "f":
        raise not_floating_error(x.dtype, "x.astype(cupy.float32)")
    return x


def _kernel(s: Any, kind: str, dtype: np.dtype) -> cupy.ElementwiseKernel:
    static = static_values(s) if kind != "forward" else ()
    key = (type(s) if kind != "forward" else None, static, kind, dtype.name)
    kernel = _kernels.get(key)
    if kernel is None:
        k = generate(type(s), static_values(s), kind, dtype.name)
        kernel = cupy.ElementwiseKernel(
            k.cupy_in_params(), k.cupy_out_params(), k.cupy_operation(), k.name
        )
        _kernels[key] = kernel
    return kernel


def _arguments(s: Any, x: cupy.ndarray) -> list[Any]:
    compute = np.float64 if x.dtype == np.float64 else np.float32
    return [compute(v) for p, v in zip(s._params, s._param_values) if not p.integer]


def spike(s: Any, x: Any) -> cupy.ndarray:
    x = _as_cupy(x)
    return _kernel(s, "forward", x.dtype)(x)


def fun(s: Any, x: Any) -> cupy.ndarray:
    x = _as_cupy(x)
    return _kernel(s, "primitive", x.dtype)(x, *_arguments(s, x))


def grad(s: Any, x: Any) -> cupy.ndarray:
    x = _as_cupy(x)
    return _kernel(s, "grad", x.dtype)(x, *_arguments(s, x))


def vjp(s: Any, x: Any, cotangent: Any) -> cupy.ndarray:
    x = _as_cupy(x)
    ct = _as_cupy(cotangent).astype(x.dtype, copy=False)
    return _kernel(s, "vjp", x.dtype)(x, ct, *_arguments(s, x))
