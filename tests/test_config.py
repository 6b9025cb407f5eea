"""Settings (spikegrad._config): the backend and the PyTorch fused backward; precedence,
isolation between threads and tasks, the environment, errors."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import _config


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_default_is_auto():
    assert sg.get_backend() == "auto"
    assert sg.BACKENDS == ("auto", "numpy", "array_api", "jax", "torch", "cupy")


def test_precedence_context_over_process():
    sg.set_backend("array_api")
    assert sg.get_backend() == "array_api"
    with sg.backend("numpy"):
        assert sg.get_backend() == "numpy"
        with sg.backend("auto"):
            assert sg.get_backend() == "auto"
        assert sg.get_backend() == "numpy"
    assert sg.get_backend() == "array_api"
    sg.set_backend(None)
    assert sg.get_backend() == "auto"


def test_forced_backend_is_used():
    xp = pytest.importorskip("array_api_strict")
    x = np.array([-1.0, 0.5])
    with sg.backend("array_api"):  # a NumPy array has __array_namespace__ too
        assert isinstance(sg.sigmoid(x), np.ndarray)
    with sg.backend("numpy"), pytest.raises(
        TypeError, match=r"backend 'numpy' \(selected with spikegrad.backend\(...\)\) cannot take "
        r"a array_api_strict.*Array; pass a NumPy array"
    ):
        sg.sigmoid(xp.asarray([0.0]))


def test_unknown_backend_names_list_the_valid_ones():
    with pytest.raises(
        ValueError, match="unknown spikegrad backend 'pytorch'.*valid names: auto, numpy"
    ):
        sg.set_backend("pytorch")
    with pytest.raises(ValueError, match="unknown spikegrad backend"):
        with sg.backend("gpu"):
            pass
    assert sg.get_backend() == "auto"


def test_context_is_thread_local():
    seen = {}
    ready, release = threading.Event(), threading.Event()

    def other():
        seen["before"] = sg.get_backend()
        with sg.backend("array_api"):
            ready.set()
            release.wait(10)
            seen["inside"] = sg.get_backend()

    thread = threading.Thread(target=other)
    with sg.backend("numpy"):
        thread.start()
        ready.wait(10)
        assert sg.get_backend() == "numpy"  # the other thread's block does not leak here
        release.set()
        thread.join(10)
    assert seen == {"before": "auto", "inside": "array_api"}


def test_context_is_task_local():
    async def task(name: str, delay: float) -> list[str]:
        with sg.backend(name):
            await asyncio.sleep(delay)
            return [sg.get_backend()]

    async def main() -> list[list[str]]:
        return await asyncio.gather(task("numpy", 0.02), task("array_api", 0.01))

    assert asyncio.run(main()) == [["numpy"], ["array_api"]]


def test_set_backend_is_process_wide():
    sg.set_backend("numpy")
    seen = []
    thread = threading.Thread(target=lambda: seen.append(sg.get_backend()))
    thread.start()
    thread.join()
    assert seen == ["numpy"]


@pytest.mark.slow
def test_environment_variable_selects_and_is_validated():
    ok = run_python("import spikegrad; print(spikegrad.get_backend())", SPIKEGRAD_BACKEND="numpy")
    assert ok.returncode == 0 and ok.stdout.strip() == "numpy"
    over = run_python(
        "import spikegrad as sg; sg.set_backend('array_api'); print(sg.get_backend())",
        SPIKEGRAD_BACKEND="numpy",
    )
    assert over.stdout.strip() == "array_api"
    # An invalid value does not break the import; the first computation reports it.
    bad = run_python(
        "import spikegrad as sg\n"
        "with sg.backend('numpy'): print(sg.sigmoid([1.0]))\n"  # a selection in code wins
        "sg.sigmoid([1.0])",
        SPIKEGRAD_BACKEND="tensorflow",
    )
    assert bad.returncode != 0 and bad.stdout.strip() == "[1.]", bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "ValueError: unknown spikegrad backend 'tensorflow' (from $SPIKEGRAD_BACKEND); "
        "valid names: auto, numpy, array_api, jax, torch, cupy"
    )


def test_invalid_environment_is_an_error_when_computing_not_at_import(monkeypatch):
    """What importing spikegrad with SPIKEGRAD_BACKEND=bogus leaves (a subprocess test above
    covers the import itself)."""
    message = "unknown spikegrad backend 'bogus' (from $SPIKEGRAD_BACKEND); valid names: auto"
    monkeypatch.setattr(_config, "_env_backend", "auto")
    monkeypatch.setattr(_config, "_env_backend_error", message + ", numpy")
    assert sg.available() and repr(sg.get("sigmoid")) == "Sigmoid(alpha=4.0)"  # no computing
    for compute in (lambda: sg.sigmoid(np.zeros(2)), lambda: sg.Arctan().surrogate_grad([0.0]),
                    sg.get_backend, _config.check_environment):
        with pytest.raises(ValueError, match=re.escape(message)):
            compute()
    with sg.backend("numpy"):
        assert sg.sigmoid([0.5]).tolist() == [1.0]
    sg.set_backend("auto")
    assert sg.sigmoid([0.5]).tolist() == [1.0]
    sg.set_backend(None)
    with pytest.raises(ValueError, match=re.escape(message)):  # back to the environment
        sg.sigmoid([0.5])


def test_environment_values_are_parsed(monkeypatch):
    for value, expected in (("", ("auto", None)), (" numpy ", ("numpy", None)),
                            ("jax", ("jax", None))):
        monkeypatch.setenv("SPIKEGRAD_BACKEND", value)
        assert _config._from_environment("SPIKEGRAD_BACKEND", sg.BACKENDS, "{value}") == expected
    monkeypatch.setenv("SPIKEGRAD_BACKEND", "gpu")
    assert _config._from_environment("SPIKEGRAD_BACKEND", sg.BACKENDS, "bad {value!r}") == (
        "auto", "bad 'gpu'"
    )


# ------------------------------------------------------------------- the PyTorch fused backward


@pytest.fixture
def fuse_from_environment(monkeypatch):
    """The fused-backward mode as an unset $SPIKEGRAD_TORCH_FUSE leaves it, restored after."""
    monkeypatch.setattr(_config, "_env_torch_fuse", "auto")
    monkeypatch.setattr(_config, "_env_torch_fuse_error", None)
    _config.set_torch_fuse(None)
    yield
    _config.set_torch_fuse(None)


def test_torch_fuse_default_and_constants(fuse_from_environment):
    assert _config.torch_fuse() == "auto"
    assert _config.TORCH_FUSE_MODES == ("auto", "always", "plan", "off")
    assert _config.TORCH_FUSE_MIN_ELEMENTS == 1 << 16


def test_torch_fuse_mode_selects_and_restores(fuse_from_environment):
    with _config.torch_fuse_mode("off") as mode:
        assert mode == "off" and _config.torch_fuse() == "off"
        with _config.torch_fuse_mode("always"):
            assert _config.torch_fuse() == "always"
        assert _config.torch_fuse() == "off"
    assert _config.torch_fuse() == "auto"
    with pytest.raises(RuntimeError), _config.torch_fuse_mode("always"):
        raise RuntimeError  # restored on errors too
    assert _config.torch_fuse() == "auto"


def test_torch_fuse_precedence_and_isolation(fuse_from_environment):
    _config.set_torch_fuse("off")
    assert _config.torch_fuse() == "off"
    seen = []
    with _config.torch_fuse_mode("always"):
        assert _config.torch_fuse() == "always"
        thread = threading.Thread(target=lambda: seen.append(_config.torch_fuse()))
        thread.start()
        thread.join()
    assert seen == ["off"]  # the block is local to its thread; set_torch_fuse is process-wide
    _config.set_torch_fuse(None)
    assert _config.torch_fuse() == "auto"


def test_invalid_torch_fuse_modes_are_refused(fuse_from_environment):
    with pytest.raises(ValueError, match="unknown spikegrad torch fuse mode 'on' \\(passed to "
                       "set_torch_fuse\\); valid modes: auto, always, plan, off"):
        _config.set_torch_fuse("on")
    with pytest.raises(ValueError, match="'yes' \\(passed to torch_fuse_mode\\)"):
        with _config.torch_fuse_mode("yes"):
            pass
    assert _config.torch_fuse() == "auto"


def test_invalid_torch_fuse_environment_is_an_error_when_asked(monkeypatch):
    """What SPIKEGRAD_TORCH_FUSE=yes leaves at import (the subprocess test below checks the
    import and the wording)."""
    message = "SPIKEGRAD_TORCH_FUSE='yes' is not valid; choose one of auto, always, plan, off"
    monkeypatch.setattr(_config, "_env_torch_fuse", "auto")
    monkeypatch.setattr(_config, "_env_torch_fuse_error", message)
    with pytest.raises(ValueError, match=re.escape(message)):
        _config.torch_fuse()
    with pytest.raises(ValueError, match=re.escape(message)):
        _config.check_environment()
    assert sg.get_backend() == "auto"  # the backend setting is unaffected
    with _config.torch_fuse_mode("off"):  # a selection in code wins
        assert _config.torch_fuse() == "off"


@pytest.mark.slow
def test_invalid_torch_fuse_environment_does_not_break_the_import():
    result = run_python(
        "import spikegrad as sg, numpy as np\n"
        "from spikegrad import _config\n"
        "print(sg.sigmoid(np.zeros(1)), _config.get_backend())\n"
        "_config.torch_fuse()",
        SPIKEGRAD_TORCH_FUSE="yes",
    )
    assert result.stdout.strip() == "[1.] auto", result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: the environment variable SPIKEGRAD_TORCH_FUSE='yes' is not valid; "
        "choose one of auto, always, plan, off"
    )


def test_settings_are_constant_under_torch_compile(fuse_from_environment):
    """torch.compile(fullgraph=True) reads both settings without a graph break."""
    torch = pytest.importorskip("torch")

    def f(x):
        return x + 1.0 if _config.torch_fuse() == "off" and _config.current() == "numpy" else x

    compiled = torch.compile(f, fullgraph=True, backend="eager")
    with sg.backend("numpy"), _config.torch_fuse_mode("off"):
        assert compiled(torch.zeros(2)).tolist() == [1.0, 1.0]


@pytest.mark.slow
def test_import_loads_no_framework():
    code = (
        "import sys, numpy as np, spikegrad as sg\n"
        "sg.sigmoid(np.zeros(3)); sg.Sigmoid().surrogate_grad([0.0])\n"
        "print(sorted(m for m in ('jax', 'torch', 'cupy', 'array_api_strict') if m in sys.modules))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_missing_framework_gives_install_hint():
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "import spikegrad as sg, numpy as np\n"
        "sg.set_backend('cupy')\n"
        "sg.sigmoid(np.zeros(2))"
    )
    result = run_python(code)
    assert "pip install 'spikegrad[cupy]'" in result.stderr
