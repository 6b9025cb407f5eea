"""Which backend evaluates a call: context, process setting, environment, or ``"auto"``.

Precedence, highest first:

1. ``with spikegrad.backend(name):`` — local to the current thread and asyncio task;
2. ``spikegrad.set_backend(name)`` — the whole process;
3. the environment variable ``SPIKEGRAD_BACKEND``, read once when spikegrad is imported;
4. ``"auto"``: the backend is chosen from the type of each array.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator

__all__ = ["BACKENDS", "ENV_VAR", "backend", "get_backend", "set_backend"]

BACKENDS: tuple[str, ...] = ("auto", "numpy", "array_api", "jax", "torch", "cupy")
"""Valid backend names."""

ENV_VAR = "SPIKEGRAD_BACKEND"


def validate(name: object, source: str) -> str:
    """``name`` if it is a backend name; otherwise a ValueError listing the valid ones."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(
            f"unknown spikegrad backend {name!r} ({source}); valid names: {', '.join(BACKENDS)}"
        )
    return name


_ENV_VALUE = os.environ.get(ENV_VAR, "").strip()
_env_backend: str = validate(_ENV_VALUE, f"from ${ENV_VAR}") if _ENV_VALUE else "auto"
_process_backend: str | None = None
_context_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "spikegrad_backend", default=None
)


def current() -> str:
    """The backend name in force for this thread/task (hot path: no validation)."""
    name = _context_backend.get()
    if name is not None:
        return name
    if _process_backend is not None:
        return _process_backend
    return _env_backend


# torch.compile cannot trace ContextVar.get (a graph break, an error under fullgraph=True).
# This is what torch.compiler.assume_constant_result(current) does, written without importing
# torch: Dynamo calls current() while tracing and bakes the backend name in force into the graph.
current._dynamo_marked_constant = True  # type: ignore[attr-defined]


def source() -> str:
    """Where the backend in force comes from, for error messages."""
    if _context_backend.get() is not None:
        return "selected with spikegrad.backend(...)"
    if _process_backend is not None:
        return "selected with spikegrad.set_backend(...)"
    if _env_backend != "auto":
        return f"selected by ${ENV_VAR}"
    return "auto"


def get_backend() -> str:
    """The name of the backend in force here (``"auto"`` unless one was selected).

    Examples
    --------
    >>> import spikegrad as sg
    >>> with sg.backend("numpy"):
    ...     sg.get_backend()
    'numpy'
    """
    return current()


def set_backend(name: str | None) -> None:
    """Select the backend for the whole process; ``None`` returns to ``$SPIKEGRAD_BACKEND``.

    Parameters
    ----------
    name
        One of ``"auto"``, ``"numpy"``, ``"array_api"``, ``"jax"``, ``"torch"``, ``"cupy"``,
        or ``None``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> import spikegrad as sg
    >>> sg.set_backend("numpy"); sg.get_backend()
    'numpy'
    >>> sg.set_backend(None)
    """
    global _process_backend
    _process_backend = None if name is None else validate(name, "passed to set_backend")


@contextlib.contextmanager
def backend(name: str) -> Iterator[str]:
    """Select the backend inside a ``with`` block, for this thread and asyncio task only.

    Other threads and tasks keep their own selection; blocks nest.

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> with sg.backend("numpy"):
    ...     sg.sigmoid([-1.0, 0.0, 1.0])
    array([0., 1., 1.])
    """
    token = _context_backend.set(validate(name, "passed to spikegrad.backend"))
    try:
        yield name
    finally:
        _context_backend.reset(token)
