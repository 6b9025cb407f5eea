"""Real CuPy tests: they run where a CUDA GPU is present and skip with the reason otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg

from .conftest import SURROGATE_CLASSES

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'spikegrad[cupy]')")
try:
    _DEVICES = cupy.cuda.runtime.getDeviceCount()
except Exception as exc:  # noqa: BLE001 - no driver, no device: the same for us
    pytest.skip(f"CuPy is installed but no CUDA GPU is usable: {exc}", allow_module_level=True)
if _DEVICES < 1:
    pytest.skip("CuPy is installed but this machine has no CUDA GPU", allow_module_level=True)

X = np.linspace(-4, 4, 1001)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_kernels_match_numpy(cls, dtype):
    s = cls()
    x = cupy.asarray(X.astype(dtype))
    ct = cupy.linspace(-1, 1, X.size, dtype=dtype)
    tol = {"float16": 2e-3, "float32": 2e-5, "float64": 1e-12}[dtype]
    for got, ref in [
        (s(x), (X >= 0).astype(dtype)),
        (s.surrogate_grad(x), s.surrogate_grad(X.astype(dtype))),
        (s.surrogate_fun(x), s.surrogate_fun(X.astype(dtype))),
        (s.vjp(x, ct), cupy.asnumpy(ct).astype("float64") * s.surrogate_grad(X.astype(dtype).astype("float64"))),
    ]:
        assert isinstance(got, cupy.ndarray) and got.dtype == x.dtype and got.device == x.device
        np.testing.assert_allclose(cupy.asnumpy(got).astype("float64"), ref, rtol=tol, atol=tol)


def test_one_kernel_launch_per_call(monkeypatch):
    from spikegrad.backends import _cupy

    launches = []
    original = cupy.ElementwiseKernel.__call__
    monkeypatch.setattr(cupy.ElementwiseKernel, "__call__",
                        lambda self, *a, **k: launches.append(self.name) or original(self, *a, **k))
    x = cupy.linspace(-1, 1, 100, dtype=cupy.float32)
    s = sg.Arctan()
    for call in (s, s.surrogate_grad, s.surrogate_fun, lambda v: s.vjp(v, v)):
        launches.clear()
        call(x)
        assert len(launches) == 1
    assert _cupy._kernels


def test_dlpack_from_torch_without_copy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch build has no CUDA")
    t = torch.linspace(-1, 1, 10, device="cuda")
    with sg.backend("cupy"):
        out = sg.Sigmoid().surrogate_grad(t)
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(torch.from_dlpack(out).cpu().numpy(), sg.Sigmoid().surrogate_grad(t.cpu().numpy()), rtol=1e-5)
