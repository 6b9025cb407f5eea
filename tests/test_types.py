"""spikegrad._types: the one classifier of array types (backend choice, parameter checks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from spikegrad import _types


class _Unknown:
    pass


def test_kinds_of_framework_free_types():
    import array_api_strict

    assert _types.kind(np.ndarray) == "numpy"
    assert _types.kind(np.float32) == "numpy"
    assert _types.kind(np.float64) == _types.kind(np.bool_) == "numpy"  # also Python numbers
    assert _types.kind(float) == _types.kind(bool) == _types.kind(list) == "python"
    assert _types.kind(type(array_api_strict.asarray(1.0))) == "array_api"
    assert _types.kind(str) is None and _types.kind(_Unknown) is None
    assert not _types.is_array_value(1.0) and not _types.is_traced(np.ones(2))


def test_kinds_of_torch_and_jax_types():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")

    assert _types.kind(torch.Tensor) == _types.kind(torch.nn.Parameter) == "torch"
    assert _types.is_array_value(torch.tensor(1.0)) and not _types.is_traced(torch.tensor(1.0))
    assert _types.kind(type(jax.numpy.ones(2))) == "jax"
    seen = []

    @jax.jit
    def f(v):
        seen.append((_types.kind(type(v)), _types.is_traced(v), _types.is_array_value(v)))
        return v

    f(1.0)
    assert seen == [("jax-tracer", True, True)]


def test_array_namespace_is_array_api_compats():
    torch = pytest.importorskip("torch")
    import array_api_compat

    for x in (torch.ones(2), np.ones(2)):
        assert _types.array_namespace(x) is array_api_compat.array_namespace(x)
    with pytest.raises(TypeError):
        _types.array_namespace("not an array")


def test_classifying_imports_no_framework():
    """Asking about a type looks only at frameworks already imported."""
    code = textwrap.dedent(
        """
        import sys
        from spikegrad import _types
        assert _types.kind(float) == "python" and _types.kind(str) is None
        loaded = {"torch", "jax", "cupy"} & set(sys.modules)
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
