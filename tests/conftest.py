"""Shared fixtures: one backend fixture (ids usable with -k), the registry, reference data."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import settings

import spikegrad as sg
from spikegrad import _config

# Accuracy against the float64 reference (ULPS, in units in the last place) and its assertion
# live in the package, where `spikegrad check` uses them too.
from spikegrad.tools.verify import ULPS, assert_within_ulps  # noqa: F401 - used by the tests

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A copy of ../shared/reference/braintools-0.3.0.json (braintools 0.3.0's own outputs), shipped
# with the package so that `spikegrad check` can use it too.
REFERENCE_PATH = ROOT / "src" / "spikegrad" / "data" / "braintools-0.3.0.json"
REFERENCE: dict[str, Any] = json.loads(REFERENCE_PATH.read_text())["surrogates"]
SURROGATE_CLASSES = [sg.get(name).__class__ for name in sg.available()]

# The suite draws the same examples on every run, so that a run of a clean clone is the run
# that was checked; HYPOTHESIS_PROFILE=explore draws new ones on each run (hypothesis's default).
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))

# numba (and SciPy, through it) imported before any test, where installed: importing it adds
# names to NumPy's namespace, which must not happen in the kernels' loading thread while a
# test's first torch.compile builds Dynamo's table of NumPy functions (a race found in CI; the
# adapter closes it where Dynamo is loaded first: see _torch_kernels._prime_dynamo).
if importlib.util.find_spec("numba") is not None:
    import spikegrad.backends._kernel_math  # noqa: F401


@dataclasses.dataclass
class BackendCase:
    """How tests make and read arrays of one backend."""

    name: str
    dtypes: tuple[str, ...]
    array: Callable[[Any, str], Any]  # (numpy values, dtype name) -> native array
    to_numpy: Callable[[Any], np.ndarray]
    dtype_name: Callable[[Any], str]  # native array -> dtype name


def inverse_power_reference(x: np.ndarray, alpha: float, d: float) -> tuple[np.ndarray, ...]:
    """``(1 + 2|x|/d)^-alpha`` computed in logarithms in float64, beyond ``|x| = 1e6`` without
    forming ``2|x|/d`` (which overflows near the largest number), and its logarithm
    ``log(1 + 2|x|/d)``: the reference of the q_pseudo_spike pair where their base overflows."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    near = np.minimum(a, 1e6)
    far = np.maximum(a, 1e6)
    log_base = np.where(a < 1e6, np.log1p(2 * near / d),
                        np.log(2.0) + np.log(far) - np.log(d) + np.log1p(0.5 * d / far))
    return np.exp(-alpha * log_base), log_base


def _numpy_case() -> BackendCase:
    return BackendCase(
        "numpy",
        ("float16", "float32", "float64"),
        lambda v, d: np.asarray(v, dtype=d),
        np.asarray,
        lambda a: str(a.dtype),
    )


def _strict_case() -> BackendCase:
    xp = pytest.importorskip("array_api_strict")
    return BackendCase(
        "array_api_strict",
        ("float32", "float64"),
        lambda v, d: xp.asarray(np.asarray(v, dtype=d)),
        lambda a: np.asarray(a),
        lambda a: str(a.dtype).removeprefix("array_api_strict."),
    )


def _jax_case() -> BackendCase:
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp

    return BackendCase(
        "jax",
        ("float16", "bfloat16", "float32", "float64"),
        lambda v, d: jnp.asarray(np.asarray(v), dtype=d),
        lambda a: np.asarray(jax.device_get(a)).astype("float64"),
        lambda a: str(a.dtype),
    )


def _torch_case() -> BackendCase:
    torch = pytest.importorskip("torch")
    return BackendCase(
        "torch",
        ("float16", "bfloat16", "float32", "float64"),
        lambda v, d: torch.as_tensor(np.asarray(v)).to(getattr(torch, d)),
        lambda a: a.detach().to("cpu", torch.float64).numpy(),
        lambda a: str(a.dtype).removeprefix("torch."),
    )


def _cupy_case() -> BackendCase:
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception as exc:  # noqa: BLE001 - any CUDA failure means: no usable GPU
        pytest.skip(f"CuPy is installed but no CUDA GPU is usable here ({exc})")
    return BackendCase(
        "cupy",
        ("float16", "float32", "float64"),
        lambda v, d: cupy.asarray(np.asarray(v, dtype=d)),
        lambda a: cupy.asnumpy(a).astype("float64"),
        lambda a: str(a.dtype),
    )


_CASES = {
    "numpy": _numpy_case,
    "array_api_strict": _strict_case,
    "jax": _jax_case,
    "torch": _torch_case,
    "cupy": _cupy_case,
}


@pytest.fixture(params=list(_CASES), ids=list(_CASES))
def backend(request: pytest.FixtureRequest) -> BackendCase:
    if request.param == "jax":
        request.getfixturevalue("jax_x64")
    return _CASES[request.param]()


@pytest.fixture
def jax_x64():
    """Enable float64 in JAX for one test (the library itself never changes JAX's config)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture(autouse=True)
def _reset_backend_selection():
    sg.set_backend(None)
    _config.set_torch_fuse(None)
    yield
    sg.set_backend(None)
    _config.set_torch_fuse(None)


@pytest.fixture(autouse=True, scope="session")
def _kernel_cache(tmp_path_factory):
    """The PyTorch adapter's compiled kernels go to a directory of this run, not the user's
    cache (``SPIKEGRAD_CACHE_DIR``, read whenever a kernel is made)."""
    previous = os.environ.get("SPIKEGRAD_CACHE_DIR")
    os.environ["SPIKEGRAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernel-cache"))
    yield
    if previous is None:
        del os.environ["SPIKEGRAD_CACHE_DIR"]
    else:
        os.environ["SPIKEGRAD_CACHE_DIR"] = previous


def pytest_make_parametrize_id(config, val, argname):  # noqa: ARG001 - pytest hook signature
    if isinstance(val, type) and issubclass(val, sg.Surrogate):
        return val.__name__
    return None
