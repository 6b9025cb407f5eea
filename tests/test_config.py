"""Backend selection: precedence, isolation between threads and tasks, environment, errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import spikegrad as sg


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
    with pytest.raises(ValueError, match="unknown spikegrad backend 'pytorch'.*valid names: auto, numpy"):
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
    bad = run_python("import spikegrad", SPIKEGRAD_BACKEND="tensorflow")
    assert bad.returncode != 0
    assert "unknown spikegrad backend 'tensorflow' (from $SPIKEGRAD_BACKEND); valid names" in bad.stderr


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
