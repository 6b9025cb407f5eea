"""The contract between the core and the backend adapters: what an adapter is given and provides.

The core hands an adapter a :class:`Spec`, an immutable record of one surrogate: its
:class:`Formula` (the math functions for :math:`g'` and :math:`g`, with the structural
parameters that fix their shape) and the values of its other parameters. An adapter reads
nothing else of a surrogate object: no private attribute, no class. Every backend module in
:mod:`spikegrad.backends` defines ``ADAPTER``, an object that satisfies :class:`Adapter`.

Writing a new backend
---------------------

Create ``backends/_<name>.py`` that imports its framework at top level (it is imported only on
first use), add ``<name>`` to ``spikegrad._config.BACKENDS`` and to the detection in
``spikegrad._dispatch``, and define ``ADAPTER`` with the five operations below. The usual body
of each operation is one line:

* wrap the framework's array namespace once in
  :class:`~spikegrad._namespace.MathNamespace` (which supplies ``erfc``, the one function the
  Array API standard lacks; pass the framework's own ``erfc`` when it has one);
* ``spike``: ``spec.formula.spike(x, xp=ns)`` made differentiable with derivative
  ``spec.formula.derivative`` if the framework has autodiff, plain otherwise;
* ``grad``/``fun``/``vjp``: :func:`spikegrad._evaluate.evaluate` with
  ``spec.formula.derivative`` or ``spec.formula.primitive`` — it applies the dtype rules
  (16-bit types computed in float32 and rounded once, results in ``x``'s dtype and shape) and,
  for ``vjp``, checks the cotangent's shape.

Then run the test suite with the new name added to the backend fixture in ``tests/conftest.py``:
the whole catalogue is checked on it with no further test code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol, runtime_checkable

from . import _math

__all__ = ["Adapter", "Formula", "Spec"]


@dataclasses.dataclass(frozen=True)
class Formula:
    r"""The math of one surrogate, with its structural parameters fixed; hashable.

    Two surrogates with equal formulas differ at most in their parameter *values*, so a
    compiled kernel or traced function keyed on the formula serves both (the values are its
    run-time arguments).

    Attributes
    ----------
    name
        The surrogate's class name, for messages and generated kernel names.
    derivative_fn, primitive_fn
        The math functions ``g'(x, *params, xp)`` and ``g(x, *params, xp)`` (``None`` when
        the surrogate has no primitive), taking every parameter positionally in declaration
        order.
    parameters
        Every parameter name, in declaration order.
    structure
        For each parameter, its value if it is structural (a whole number fixing the formula's
        shape, such as a number of series terms: compiled into kernels, never traced), else
        ``None`` (a value: a Python float, or a traced value under JAX transforms).
    gain
        A constant factor on :math:`g'` and :math:`g` (1 for the formula as written): how one
        surrogate is another's with a different height (norse's ``tanh`` is a scaled sigmoid).
    spike_at_zero
        The forward convention: ``True`` spikes on ``x >= 0`` (1 at the threshold, as
        braintools and spikingjelly), ``False`` on ``x > 0`` (as snntorch and norse).
    symbolic
        ``True`` when the functions are written with the array namespace ``xp`` (they may then
        be traced into kernels); ``False`` for a braintools-style surrogate whose methods run
        on the array they are given and ignore ``xp``.
    trainable
        The indices, into :attr:`Spec.values`, of the values the surrogate trains
        (``trainable=`` of :class:`~spikegrad.Surrogate`; empty by default). For them an
        autodiff adapter adds the straight-through parameter gradient: the derivative of
        :math:`g` (:meth:`primitive`, differentiated by the framework's own autodiff) with
        respect to the value, so that :math:`\partial L/\partial\alpha = \sum v\,
        \partial g(x; \alpha)/\partial\alpha` for a cotangent :math:`v`. Other values are
        constants (zero gradient).
    """

    name: str
    derivative_fn: Callable[..., Any]
    primitive_fn: Callable[..., Any] | None
    parameters: tuple[str, ...]
    structure: tuple[int | None, ...]
    gain: float = 1.0
    spike_at_zero: bool = True
    symbolic: bool = True
    trainable: tuple[int, ...] = ()

    @property
    def value_names(self) -> tuple[str, ...]:
        """The names of the non-structural parameters: the order of :attr:`Spec.values`."""
        return tuple(n for n, s in zip(self.parameters, self.structure) if s is None)

    def _arguments(self, values: tuple[Any, ...]) -> list[Any]:
        given = iter(values)
        return [next(given) if s is None else s for s in self.structure]

    def derivative(self, x: Any, values: tuple[Any, ...], *, xp: Any) -> Any:
        """:math:`g'(x)` with the parameter values ``values`` (see :attr:`value_names`)."""
        return self._gained(self.derivative_fn, x, values, xp)

    def primitive(self, x: Any, values: tuple[Any, ...], *, xp: Any) -> Any:
        """:math:`g(x)`; the caller checks :attr:`has_primitive` first."""
        assert self.primitive_fn is not None, "checked by Surrogate before dispatch"
        return self._gained(self.primitive_fn, x, values, xp)

    def _gained(self, fn: Callable[..., Any], x: Any, values: tuple[Any, ...], xp: Any) -> Any:
        out = fn(x, *self._arguments(values), xp=xp)
        if out is None:  # (NumPy's full_like(x, None) would make it NaN, silently)
            raise TypeError(f"{getattr(fn, '__qualname__', fn)} returned None; a surrogate's "
                            "formula returns an array or a number (is a return missing?)")
        return out if self.gain == 1.0 else out * self.gain

    def spike(self, x: Any, *, xp: Any) -> Any:
        """The forward pass in this formula's convention (:func:`spikegrad._math.spike`)."""
        return _math.spike(x, xp=xp, at_zero=self.spike_at_zero)

    @property
    def has_primitive(self) -> bool:
        return self.primitive_fn is not None


@dataclasses.dataclass(frozen=True)
class Spec:
    """Everything an adapter may know about one surrogate.

    Attributes
    ----------
    formula
        The math and the structural parameters (hashable: a cache key for compiled code).
    values
        The non-structural parameter values, in the order of ``formula.value_names``: Python
        floats, or values traced by a framework (JAX tracers) that adapters pass as run-time
        arguments. Their derivative is zero (parameters are constants of the spike), except
        for the values :attr:`Formula.trainable` lists, which may also be framework arrays
        (``torch.Tensor``, JAX arrays) and get the straight-through parameter gradient.
    """

    formula: Formula
    values: tuple[Any, ...]

    def __hash__(self) -> int:
        # Kept once computed: the PyTorch adapter looks its plans up by spec in every backward
        # pass. (Values traced by JAX are unhashable: the TypeError propagates, as before.)
        try:
            return self.__dict__["_hash"]
        except KeyError:
            h = self.__dict__["_hash"] = hash((self.formula, self.values))
            return h

    def __getstate__(self) -> dict[str, Any]:
        # The hash of functions differs between processes: a copy computes its own.
        return {"formula": self.formula, "values": self.values}


@runtime_checkable
class Adapter(Protocol):
    """What every backend provides. ``x`` and ``cotangent`` are arrays the adapter accepts.

    Every operation returns an array of ``x``'s framework, device, shape and floating dtype,
    and raises ``TypeError`` for a non-floating ``x`` (integer, bool, complex), saying what to
    pass (:func:`spikegrad._dtypes.not_floating_error`).
    """

    name: str
    """The backend name, as in ``spikegrad.BACKENDS``."""
    accepts_text: str
    """What :meth:`accepts` takes, for error messages ("a torch.Tensor (or ...)")."""

    def accepts(self, x: Any) -> bool:
        """Whether this adapter can evaluate on ``x`` (asked when the backend is forced)."""
        ...

    def spike(self, spec: Spec, x: Any) -> Any:
        """The spike (:meth:`Formula.spike`: ``x >= 0``, or ``x > 0``); under autodiff its
        derivative with respect to ``x`` is :math:`g'(x)` and with respect to parameters 0."""
        ...

    def fun(self, spec: Spec, x: Any) -> Any:
        """:math:`g(x)`; under autodiff its derivative is :math:`g'(x)` (not differentiated
        through :math:`g`'s own formula), and with respect to parameters as for :meth:`spike`."""
        ...

    def grad(self, spec: Spec, x: Any) -> Any:
        """:math:`g'(x)`; under autodiff an ordinary expression, so its derivative is g''."""
        ...

    def vjp(self, spec: Spec, x: Any, cotangent: Any) -> Any:
        """``cotangent * g'(x)``, computed in float32 for 16-bit inputs and rounded once;
        ``ValueError`` naming both shapes when the cotangent's shape differs from ``x``'s."""
        ...
