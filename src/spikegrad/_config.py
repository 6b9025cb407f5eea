"""Every setting of spikegrad: which backend evaluates a call, and the PyTorch planned backward.

The backend, highest precedence first:

1. ``with spikegrad.backend(name):`` — local to the current thread and asyncio task;
2. ``spikegrad.set_backend(name)`` — the whole process;
3. the environment variable ``SPIKEGRAD_BACKEND``, read once when spikegrad is imported;
4. ``"auto"``: the backend is chosen from the type of each array.

The PyTorch backward of a plain backward pass is, in mode ``"auto"`` on the CPU, one loop
compiled by numba where numba is installed and can vectorize g' (compiled in the background;
until it is ready, and otherwise, the plan); else a plan of ``v * g'(x)`` traced once per
surrogate (no compiler), whose temporaries live in per-thread scratch buffers reused by every
call, large tensors evaluated in cache-sized blocks, for CPU tensors of at least
:data:`TORCH_FUSE_MIN_ELEMENTS` elements (smaller ones get new temporaries). Mode ``"plan"``
is ``"auto"`` without compiled loops, mode ``"always"`` the plan with scratch buffers at every
size, mode ``"off"`` the plain eager operations. It follows the same precedence: :func:`torch_fuse_mode`, then
:func:`set_torch_fuse`, then the environment variable ``SPIKEGRAD_TORCH_FUSE``, then ``"auto"``.

The environment is read at import, but an invalid value is not an error then: importing
spikegrad, ``help()``, ``spikegrad --help`` and ``spikegrad list`` work whatever the
environment holds. The ``ValueError`` (naming the value, the variable and the valid values) is
raised when the setting is needed: by :func:`current` (every computation in ``"auto"`` or
environment mode) and by :func:`torch_fuse` (the PyTorch adapter). A value selected in code
replaces the environment's, so its error is not raised under ``with spikegrad.backend(...)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "TORCH_FUSE_ENV_VAR",
    "TORCH_FUSE_MIN_ELEMENTS",
    "TORCH_FUSE_MODES",
    "backend",
    "check_environment",
    "current",
    "get_backend",
    "set_backend",
    "set_torch_fuse",
    "torch_fuse",
    "torch_fuse_mode",
]

BACKENDS: tuple[str, ...] = ("auto", "numpy", "array_api", "jax", "torch", "cupy")
"""Valid backend names."""

ENV_VAR = "SPIKEGRAD_BACKEND"

TORCH_FUSE_MODES: tuple[str, ...] = ("auto", "always", "plan", "off")
"""Valid modes of the PyTorch fused backward."""

TORCH_FUSE_ENV_VAR = "SPIKEGRAD_TORCH_FUSE"

TORCH_FUSE_MIN_ELEMENTS = 1 << 16
"""In mode ``"auto"``, the PyTorch backward of CPU tensors of at least this many elements uses
per-thread scratch buffers instead of new temporaries, and runs in cache-sized blocks."""


def validate(name: object, source: str) -> str:
    """``name`` if it is a backend name; otherwise a ValueError listing the valid ones."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(
            f"unknown spikegrad backend {name!r} ({source}); valid names: {', '.join(BACKENDS)}"
        )
    return name


def validate_torch_fuse(mode: object, source: str) -> str:
    """``mode`` if it is a fused-backward mode; otherwise a ValueError listing the valid ones."""
    if not isinstance(mode, str) or mode not in TORCH_FUSE_MODES:
        raise ValueError(
            f"unknown spikegrad torch fuse mode {mode!r} ({source}); valid modes: "
            f"{', '.join(TORCH_FUSE_MODES)}"
        )
    return mode


def _from_environment(
    variable: str, valid: tuple[str, ...], message: str
) -> tuple[str, str | None]:
    """``(value, None)`` for a valid (or unset: ``"auto"``) variable, else ``("auto", error)``.

    The error message is kept, not raised: configuration errors surface when the setting is
    used, so that importing spikegrad never fails.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        return "auto", None
    if value in valid:
        return value, None
    return "auto", message.format(value=value, variable=variable, valid=", ".join(valid))


_env_backend, _env_backend_error = _from_environment(
    ENV_VAR,
    BACKENDS,
    "unknown spikegrad backend {value!r} (from ${variable}); valid names: {valid}",
)
_process_backend: str | None = None
_context_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "spikegrad_backend", default=None
)

_env_torch_fuse, _env_torch_fuse_error = _from_environment(
    TORCH_FUSE_ENV_VAR,
    TORCH_FUSE_MODES,
    "the environment variable {variable}={value!r} is not valid; choose one of {valid}",
)
_process_torch_fuse: str | None = None
_context_torch_fuse: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "spikegrad_torch_fuse", default=None
)


def _in_force(
    context: contextvars.ContextVar[str | None], process: str | None, env: str, error: str | None
) -> str:
    """A setting's value by precedence: ``with`` block, process-wide, environment (or its
    error)."""
    value = context.get()
    if value is not None:
        return value
    if process is not None:
        return process
    if error is not None:
        raise ValueError(error)
    return env


@contextlib.contextmanager
def _selected(context: contextvars.ContextVar[str | None], value: str) -> Iterator[None]:
    """``context`` set to ``value`` inside the block (this thread and task only; blocks nest)."""
    token = context.set(value)
    try:
        yield
    finally:
        context.reset(token)


# ------------------------------------------------------------------------------ the backend


def current() -> str:
    """The backend name in force for this thread/task (hot path: no validation).

    Raises
    ------
    ValueError
        When the backend comes from ``$SPIKEGRAD_BACKEND`` and its value is not a backend name.
    """
    return _in_force(_context_backend, _process_backend, _env_backend, _env_backend_error)


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
    if _env_backend != "auto" or _env_backend_error is not None:
        return f"selected by ${ENV_VAR}"
    return "auto"


def get_backend() -> str:
    """The name of the backend in force here (``"auto"`` unless one was selected).

    Raises
    ------
    ValueError
        When ``$SPIKEGRAD_BACKEND`` holds an invalid name and nothing selected in code
        replaces it.

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
    with _selected(_context_backend, validate(name, "passed to spikegrad.backend")):
        yield name


# ------------------------------------------------------------- the PyTorch fused backward


def torch_fuse() -> str:
    """The fused-backward mode in force for this thread/task: ``"auto"``, ``"always"``,
    ``"plan"`` or ``"off"``.

    Read by the PyTorch adapter; cheap (no validation) and constant for ``torch.compile``.

    Raises
    ------
    ValueError
        When the mode comes from ``$SPIKEGRAD_TORCH_FUSE`` and its value is not a mode.

    Examples
    --------
    >>> from spikegrad import _config
    >>> with _config.torch_fuse_mode("off"):
    ...     _config.torch_fuse()
    'off'
    """
    return _in_force(
        _context_torch_fuse, _process_torch_fuse, _env_torch_fuse, _env_torch_fuse_error
    )


torch_fuse._dynamo_marked_constant = True  # type: ignore[attr-defined]  # see current()


def set_torch_fuse(mode: str | None) -> None:
    """Select the fused-backward mode for the whole process; ``None`` returns to the environment.

    Parameters
    ----------
    mode
        ``"auto"`` (compiled loops where ready, else planned, with scratch buffers from
        :data:`TORCH_FUSE_MIN_ELEMENTS` elements on), ``"plan"`` (``"auto"`` without compiled
        loops), ``"always"`` (planned, scratch buffers at every size), ``"off"`` (eager
        operations), or ``None`` (``$SPIKEGRAD_TORCH_FUSE``, else ``"auto"``).

    Raises
    ------
    ValueError
        For an unknown mode; the message lists the valid ones.
    """
    global _process_torch_fuse
    if mode is not None:
        mode = validate_torch_fuse(mode, "passed to set_torch_fuse")
    _process_torch_fuse = mode


@contextlib.contextmanager
def torch_fuse_mode(mode: str) -> Iterator[str]:
    """Select the fused-backward mode inside a ``with`` block, for this thread and task only.

    The PyTorch adapter reads the mode when the forward pass runs and keeps it for that
    pass's backward (which PyTorch may run after the block ends, or in a device thread).

    Examples
    --------
    >>> from spikegrad import _config
    >>> with _config.torch_fuse_mode("always"):
    ...     _config.torch_fuse()
    'always'
    """
    with _selected(_context_torch_fuse, validate_torch_fuse(mode, "passed to torch_fuse_mode")):
        yield mode


# ------------------------------------------------------------------------------ all settings


def check_environment() -> None:
    """Raise the ``ValueError`` of the first invalid ``SPIKEGRAD_*`` environment variable.

    For tools that should report a broken configuration before doing any work (the
    ``spikegrad`` command's computing subcommands), whether or not the setting is overridden.
    """
    for error in (_env_backend_error, _env_torch_fuse_error):
        if error is not None:
            raise ValueError(error)
