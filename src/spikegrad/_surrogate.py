"""The :class:`Surrogate` base class and the registry of surrogates by name."""

from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar

from . import _dispatch, _docs
from ._contract import Formula, Spec
from ._params import Param, is_traced

__all__ = ["Surrogate", "available", "get"]

_REGISTRY: dict[str, type[Surrogate]] = {}


class Surrogate:
    r"""Base class of every surrogate: a hard spike forward, a smooth gradient backward.

    A surrogate is defined by two pure Array-API functions, written once and run on every
    backend (NumPy, any Array-API library, JAX, PyTorch, CuPy):

    * ``grad(x, *params, xp)``: the surrogate gradient :math:`g'(x)` (required);
    * ``primitive(x, *params, xp)``: its antiderivative :math:`g(x)` (optional; needed for
      ``surrogate_fun`` and ``origin=True``).

    Parameters are declared as :class:`~spikegrad.Param` class attributes, in the order the
    math functions take them. Passing ``name="..."`` in the class statement registers the
    surrogate for :func:`spikegrad.get`.

    Calling a surrogate object on ``x`` returns the spike :math:`H(x) = [x \ge 0]` (1 at the
    threshold) in ``x``'s dtype, whose derivative with respect to ``x`` is :math:`g'(x)`; with
    ``origin=True`` it returns :math:`g(x)` instead, with the same derivative.

    Parameters
    ----------
    *params, **params
        The surrogate's parameters, by position or name (see each subclass).
    origin : bool, default False
        Return :math:`g(x)` instead of the spike.

    Examples
    --------
    A user-defined surrogate works on every backend at once:

    >>> import numpy as np
    >>> import spikegrad as sg
    >>> class Triangle(sg.Surrogate, name="triangle"):
    ...     '''Triangle of height alpha and base 2/alpha.'''
    ...     alpha = sg.Param(1.0, gt=0)
    ...     def grad(x, alpha, *, xp):
    ...         return xp.clip(alpha - alpha * alpha * xp.abs(x), min=0.0)
    ...     def primitive(x, alpha, *, xp):
    ...         xc = xp.clip(x, min=-1 / alpha, max=1 / alpha)
    ...         return -0.5 * alpha * alpha * xp.abs(xc) * xc + alpha * xc + 0.5
    >>> f = sg.get("triangle", alpha=2.0)
    >>> x = np.array([-1.0, -0.25, 0.0, 0.25])
    >>> f(x)
    array([0., 0., 1., 1.])
    >>> f.surrogate_grad(x)
    array([0., 1., 2., 1.])
    >>> f.surrogate_fun(x)
    array([0.   , 0.125, 0.5  , 0.875])
    """

    grad: ClassVar[Callable[..., Any] | None] = None
    primitive: ClassVar[Callable[..., Any] | None] = None

    # Instance state, with class-level defaults so that a half-constructed object (a parameter
    # refused in __init__) still has a repr, equality and hash (torch.compile inspects it).
    _param_values: tuple[Any, ...] = ()
    _origin = False
    _hashed = False
    _spec: Spec | None = None

    _params: ClassVar[tuple[Param, ...]] = ()
    _param_index: ClassVar[dict[str, int]] = {}
    registry_name: ClassVar[str | None] = None

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in ("grad", "primitive"):
            fn = cls.__dict__.get(hook)
            if inspect.isfunction(fn):  # accept plain functions: the math takes no self
                setattr(cls, hook, staticmethod(fn))
        params: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Param):
                    params.pop(attr, None)
                    params[attr] = value
        cls._params = tuple(params.values())
        cls._param_index = {p.name: i for i, p in enumerate(cls._params)}
        # What help() and inspect.signature() show for the constructor.
        cls.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default)
                for p in cls._params
            ]
            + [inspect.Parameter("origin", inspect.Parameter.KEYWORD_ONLY, default=False)]
        )
        cls.__doc__ = _docs.render(cls)
        cls.registry_name = name  # not inherited: a subclass is registered only if it says so
        if name is not None:
            _register(name, cls)

    def __init__(self, *args: Any, origin: bool = False, **kwargs: Any) -> None:
        cls = type(self)
        params = cls._params
        if len(args) > len(params):
            raise TypeError(
                f"{cls.__name__} takes at most {len(params)} positional parameter(s) "
                f"({', '.join(p.name for p in params) or 'none'}); got {len(args)}"
            )
        values = [p.default for p in params]
        given = set()
        for i, value in enumerate(args):
            values[i] = params[i].validate(value)
            given.add(params[i].name)
        for key, value in kwargs.items():
            index = cls._param_index.get(key)
            if index is None:
                raise TypeError(
                    f"{cls.__name__} has no parameter {key!r}; its parameters are: "
                    f"{', '.join(p.name for p in params) or 'none'} (and origin)"
                )
            if key in given:
                raise TypeError(f"{cls.__name__} got parameter {key!r} twice")
            values[index] = params[index].validate(value)
        self._param_values = tuple(values)
        self.origin = origin

    # ----------------------------------------------------------------- value semantics

    @property
    def origin(self) -> bool:
        """Whether calling the surrogate returns :math:`g(x)` instead of the spike."""
        return self._origin

    @origin.setter
    def origin(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"origin must be True or False; got {value!r}")
        if value and self.primitive is None:
            raise TypeError(
                f"{type(self).__name__} defines no primitive g(x), so origin=True is unavailable;"
                " define primitive(x, *params, xp) in the class"
            )
        if self._hashed and value != self._origin:
            raise AttributeError(
                f"{self!r} has been hashed (used as a jax.jit static argument or a dict key), so "
                "its origin can no longer change: a result cached under it would go stale. Set "
                "origin before first use, or make a new surrogate: "
                f"s.replace(origin={value!r})"
            )
        self._origin = value

    def replace(self, **changes: Any) -> Surrogate:
        """A new surrogate of the same type with some parameters (or ``origin``) changed.

        Examples
        --------
        >>> import spikegrad as sg
        >>> sg.Sigmoid(alpha=2.0).replace(origin=True)
        Sigmoid(alpha=2.0, origin=True)
        """
        current: dict[str, Any] = {**self.params, "origin": self._origin}
        unknown = set(changes) - set(current)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no parameter {sorted(unknown)[0]!r}; its parameters "
                f"are: {', '.join(self.params) or 'none'} (and origin)"
            )
        return type(self)(**{**current, **changes})

    @property
    def spec(self) -> Spec:
        """The immutable description of this surrogate that backend adapters are given."""
        spec = self._spec
        if spec is None:
            cls = type(self)
            if not callable(getattr(cls, "grad", None)):
                raise NotImplementedError(
                    f"{cls.__name__} defines no surrogate gradient; define "
                    "grad(x, *params, xp) in the class (g'(x) written with the array namespace xp)"
                )
            structure = tuple(
                v if p.integer else None for p, v in zip(cls._params, self._param_values)
            )
            formula = Formula(
                cls.__name__, cls.grad, cls.primitive, tuple(p.name for p in cls._params),
                structure,
            )
            values = tuple(v for p, v in zip(cls._params, self._param_values) if not p.integer)
            spec = self._spec = Spec(formula, values)
        return spec

    @property
    def params(self) -> dict[str, Any]:
        """The parameter values by name, in declaration order."""
        return {p.name: v for p, v in zip(self._params, self._param_values)}

    def _is_traced(self) -> bool:
        return any(is_traced(v) for v in self._param_values)

    def _key(self) -> tuple[Any, ...]:
        return (type(self), self._param_values, self._origin)

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.params.items()]
        if self._origin:
            parts.append("origin=True")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Surrogate):
            return NotImplemented
        if self._is_traced() or other._is_traced():
            return self is other
        return self._key() == other._key()

    def __hash__(self) -> int:
        if self._is_traced():
            raise TypeError(
                f"{type(self).__name__} with traced parameters is not hashable; pass concrete "
                "values to use it as a static argument"
            )
        # From now on a cache may hold this object as a key: origin is frozen (see the setter).
        self._hashed = True
        return hash(self._key())

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self._param_values, "origin": self._origin}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._param_values = state["params"]
        self._origin = state["origin"]

    # ----------------------------------------------------------------- computation

    def __call__(self, x: Any) -> Any:
        """The spike ``x >= 0`` (or :math:`g(x)` when ``origin``), differentiable as g'(x)."""
        spec = self.spec
        adapter = _dispatch.backend_for(x)
        return adapter.fun(spec, x) if self._origin else adapter.spike(spec, x)

    def surrogate_grad(self, x: Any) -> Any:
        """The surrogate gradient :math:`g'(x)`, in ``x``'s dtype.

        Under autodiff frameworks its own derivative is :math:`g''(x)`.
        """
        return _dispatch.backend_for(x).grad(self.spec, x)

    def surrogate_fun(self, x: Any) -> Any:
        """The primitive :math:`g(x)`, in ``x``'s dtype; its derivative is :math:`g'(x)`."""
        self._require_primitive()
        return _dispatch.backend_for(x).fun(self.spec, x)

    def vjp(self, x: Any, cotangent: Any) -> Any:
        """The vector–Jacobian product ``cotangent * g'(x)`` in one call, in ``x``'s dtype.

        This is the backward pass of the spike for backends without autodiff. The cotangent
        must have ``x``'s shape (a ``ValueError`` otherwise: no silent broadcasting); for
        float16 and bfloat16 the product is computed in float32 and rounded once.
        """
        if cotangent is None:
            raise TypeError("vjp needs a cotangent: an array of x's shape (e.g. ones_like(x))")
        return _dispatch.backend_for(x).vjp(self.spec, x, cotangent)

    def _require_primitive(self) -> None:
        if self.primitive is None:
            raise NotImplementedError(
                f"{type(self).__name__} defines no primitive g(x); define "
                "primitive(x, *params, xp) in the class to use surrogate_fun"
            )


def _register(name: str, cls: type[Surrogate]) -> None:
    """Register ``cls`` under ``name``; a class redefined in the same module under the same
    qualified name (a re-run notebook cell, a reloaded module) replaces its earlier self."""
    taken = _REGISTRY.get(name)
    if taken is not None and taken is not cls and (
        (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__)
    ):
        raise ValueError(
            f"surrogate name {name!r} is already taken by {taken.__module__}."
            f"{taken.__qualname__}; choose another name"
        )
    _REGISTRY[name] = cls


def available() -> list[str]:
    """Names of the registered surrogates, sorted (for :func:`get`).

    Examples
    --------
    >>> import spikegrad as sg
    >>> sg.available()[:3]
    ['arctan', 'erf', 'gaussian_grad']
    """
    return sorted(_REGISTRY)


def get(name: str, /, **params: Any) -> Surrogate:
    """Create a registered surrogate by name, e.g. from a configuration file.

    Parameters
    ----------
    name
        A name from :func:`available` (the snake-case name of the class, e.g.
        ``"leaky_relu"``); the class name (``"LeakyRelu"``) is accepted too.
    **params
        Parameters for the surrogate's constructor, including ``origin``.

    Examples
    --------
    >>> import spikegrad as sg
    >>> sg.get("leaky_relu", beta=0.5)
    LeakyRelu(alpha=0.1, beta=0.5)
    """
    if not isinstance(name, str):
        raise TypeError(
            f"a surrogate name is a string such as 'sigmoid'; got {name!r} "
            f"({type(name).__name__}); available: {', '.join(available())}"
        )
    cls = _REGISTRY.get(name)
    if cls is None:
        cls = next((c for c in _REGISTRY.values() if c.__name__ == name), None)
    if cls is None:
        raise ValueError(
            f"unknown surrogate {name!r}; available: {', '.join(available())}"
        )
    return cls(**params)
