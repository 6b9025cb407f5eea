"""The :class:`Surrogate` base class and the registry of surrogates by name."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, ClassVar

from . import _dispatch, _docs
from ._contract import Formula, Spec
from ._params import Param
from ._types import is_array_value, is_traced, torch_compiling

__all__ = ["SPEC_VERSION", "Surrogate", "available", "from_dict", "get"]

#: The version of the portable dictionaries of :meth:`Surrogate.to_dict`.
SPEC_VERSION = 1
_SPEC_KEYS = ("spikegrad", "name", "params", "forward", "origin", "gain", "trainable")
_FORWARDS = {"x >= 0": True, "x > 0": False}

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

    braintools' own style is accepted too: a subclass that overrides the methods
    ``surrogate_grad(self, x)`` (and optionally ``surrogate_fun(self, x)``), calls
    ``super().__init__()`` and keeps its parameters as plain attributes. Those methods run on
    whatever array arrives, so such a surrogate works on the frameworks its code supports (code
    written with ``jax.numpy`` works on JAX) rather than on every backend; it is compared by
    identity, and its attributes are read afresh on every call.

    Parameters
    ----------
    *params, **params
        The surrogate's parameters, by position or name (see each subclass).
    origin : bool, default False
        Return :math:`g(x)` instead of the spike.
    gain : float, default 1.0
        A constant factor on :math:`g'` and :math:`g` (``1e-4 <= gain <= 1e4``): the same shape
        at another height.
    spike_at_zero : bool, default True
        The forward convention: ``True`` spikes on ``x >= 0`` (as braintools and
        spikingjelly), ``False`` on ``x > 0`` (0 at the threshold, as snntorch and norse).
    trainable : tuple of str, default ()
        The parameters to train (opt-in; the others are constants with zero gradient). A
        trained parameter's gradient is that of the primitive: :math:`\partial L/\partial
        \alpha = \sum v\,\partial g(x;\alpha)/\partial\alpha` for the cotangent
        :math:`v` (the straight-through estimator applied to parameters), so the surrogate
        needs a ``primitive``; integer (structural) parameters cannot be trained. Its value
        may then be a ``torch.Tensor`` or a JAX array or tracer, kept as given (see
        :doc:`/guides/trainable`).

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
    _gain = 1.0
    _spike_at_zero = True
    _trainable: tuple[str, ...] = ()
    _hashed = False
    _spec: Spec | None = None

    _params: ClassVar[tuple[Param, ...]] = ()
    _param_index: ClassVar[dict[str, int]] = {}
    _method_style: ClassVar[bool] = False
    registry_name: ClassVar[str | None] = None
    #: The order ``repr`` shows the parameters in, when not their declaration order.
    repr_order: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in ("grad", "primitive"):
            fn = cls.__dict__.get(hook)
            if inspect.isfunction(fn):  # accept plain functions: the math takes no self
                setattr(cls, hook, staticmethod(fn))
        params: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Param):  # re-declared: the new Param, in its first place
                    params[attr] = value
        cls._params = tuple(params.values())
        cls._param_index = {p.name: i for i, p in enumerate(cls._params)}
        cls._method_style = _overrides_method(cls)
        _check_declaration(cls)
        if not cls._method_style:  # a braintools-style class's __init__ and docstring are its own
            # What help() and inspect.signature() show for the constructor.
            cls.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [
                    inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                      default=p.default)
                    for p in cls._params
                ]
                + [
                    inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY, default=default)
                    for option, default in _OPTIONS.items()
                ]
            )
            cls.__doc__ = _docs.render(cls)
        cls.registry_name = name  # not inherited: a subclass is registered only if it says so
        if name is not None:
            _register(name, cls)

    def __init__(
        self, *args: Any, origin: bool = False, gain: float = 1.0, spike_at_zero: bool = True,
        trainable: tuple[str, ...] = (), **kwargs: Any,
    ) -> None:
        cls = type(self)
        params = cls._params
        self._trainable = trainable = _trainable_names(cls, trainable)
        if len(args) > len(params):
            raise TypeError(
                f"{cls.__name__} takes at most {len(params)} positional parameter(s) "
                f"({', '.join(p.name for p in params) or 'none'}); got {len(args)}"
            )
        values = [p.default for p in params]
        given = set()
        def validate(param: Param, value: Any) -> Any:
            if param.name in trainable:
                return param.validate_trainable(value)
            return param.validate(value)

        for i, value in enumerate(args):
            values[i] = validate(params[i], value)
            given.add(params[i].name)
        for key, value in kwargs.items():
            index = cls._param_index.get(key)
            if index is None:
                raise TypeError(
                    f"{cls.__name__} has no parameter {key!r}; its parameters are: "
                    f"{', '.join(p.name for p in params) or 'none'} (and {_OPTIONS_TEXT})"
                )
            if key in given:
                raise TypeError(f"{cls.__name__} got parameter {key!r} twice")
            values[index] = validate(params[index], value)
        self._param_values = tuple(values)
        if is_traced(gain):
            raise TypeError(
                f"{cls.__name__}: gain is a constant of the formula and cannot be traced by JAX;"
                " pass a Python float"
            )
        self._gain = _GAIN.validate(gain, cls.__name__)
        if not isinstance(spike_at_zero, bool):
            raise TypeError(
                f"spike_at_zero must be True (spike on x >= 0) or False (x > 0); got "
                f"{spike_at_zero!r}"
            )
        self._spike_at_zero = spike_at_zero
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
        if value and not self._has_primitive():
            raise TypeError(
                f"{type(self).__name__} defines no primitive g(x), so origin=True is unavailable;"
                " define primitive(x, *params, xp) in the class"
            )
        if self._hashed and value != self._origin:
            raise self._frozen("origin", f"s.replace(origin={value!r})")
        self._origin = value

    def _frozen(self, what: str, instead: str) -> AttributeError:
        """The error for a change of ``what`` once this object is hashed (see ``__hash__``);
        ``instead``: the call that makes a new object with the change."""
        return AttributeError(
            f"{self!r} has been hashed (used as a jax.jit static argument or a dict key), so "
            f"its {what} can no longer change: a result cached under it would go stale. Set "
            f"{what} before such a use, or make a new surrogate: {instead}"
        )

    def replace(self, **changes: Any) -> Surrogate:
        """A new surrogate of the same type with some parameters (or ``origin``) changed.

        Examples
        --------
        >>> import spikegrad as sg
        >>> sg.Sigmoid(alpha=2.0).replace(origin=True)
        Sigmoid(alpha=2.0, origin=True)
        """
        current: dict[str, Any] = {**self.params, **self._options()}
        unknown = set(changes) - set(current)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no parameter {sorted(unknown)[0]!r}; its parameters "
                f"are: {', '.join(self.params) or 'none'} (and {_OPTIONS_TEXT})"
            )
        return type(self)(**{**current, **changes})

    @property
    def gain(self) -> float:
        """The constant factor on :math:`g'` and :math:`g` (1 for the formula as written)."""
        return self._gain

    @property
    def spike_at_zero(self) -> bool:
        """The forward convention: spike on ``x >= 0`` (``True``) or on ``x > 0``."""
        return self._spike_at_zero

    @property
    def trainable(self) -> tuple[str, ...]:
        """The parameters this surrogate trains, in declaration order (empty by default)."""
        return self._trainable

    def _options(self) -> dict[str, Any]:
        return {"origin": self._origin, "gain": self._gain, "spike_at_zero": self._spike_at_zero,
                "trainable": self._trainable}

    @property
    def spec(self) -> Spec:
        """The immutable description of this surrogate that backend adapters are given."""
        if self._method_style:
            return self._method_spec()
        spec = self._spec
        if spec is None:
            cls = type(self)
            if not callable(getattr(cls, "grad", None)):
                raise NotImplementedError(
                    f"{cls.__name__} defines no surrogate gradient; define "
                    "grad(x, *params, xp) in the class (g'(x) written with the array namespace "
                    "xp), or override the method surrogate_grad(self, x) (braintools' style)"
                )
            structure = tuple(
                v if p.integer else None for p, v in zip(cls._params, self._param_values)
            )
            value_names = [p.name for p in cls._params if not p.integer]
            formula = Formula(
                cls.__name__, cls.grad, cls.primitive, tuple(p.name for p in cls._params),
                structure, self._gain, self._spike_at_zero,
                trainable=tuple(value_names.index(n) for n in self._trainable),
            )
            values = tuple(v for p, v in zip(cls._params, self._param_values) if not p.integer)
            spec = self._spec = Spec(formula, values)
        return spec

    def _method_spec(self) -> Spec:
        """The spec of a braintools-style surrogate: its methods, keyed on its current state
        (a changed attribute gives a new formula, so no compiled code goes stale)."""
        cls = type(self)
        state = _state_key(self)
        spec = self._spec
        if spec is None or spec.formula.derivative_fn.state != state:
            fun = cls.surrogate_fun is not Surrogate.surrogate_fun
            formula = Formula(
                cls.__name__, _Method(self, "surrogate_grad", state),
                _Method(self, "surrogate_fun", state) if fun else None, (), (),
                self._gain, self._spike_at_zero, symbolic=False,
            )
            spec = self._spec = Spec(formula, ())
        return spec

    def to_dict(self) -> dict[str, Any]:
        """A small, versioned, JSON- and YAML-safe description of this surrogate.

        ``spikegrad.from_dict`` (or :func:`spikegrad.get`) makes the surrogate again, exactly.
        The surrogate's class must be registered (``name=...`` in its class statement).

        Examples
        --------
        >>> import json
        >>> import spikegrad as sg
        >>> d = sg.Sigmoid(alpha=2.0, spike_at_zero=False).to_dict()
        >>> d
        {'spikegrad': 1, 'name': 'sigmoid', 'params': {'alpha': 2.0}, 'forward': 'x > 0', 'origin': False, 'gain': 1.0}
        >>> sg.from_dict(json.loads(json.dumps(d)))
        Sigmoid(alpha=2.0, spike_at_zero=False)
        """
        name = type(self).registry_name
        if name is None:
            raise TypeError(
                f"{type(self).__name__} is not registered, so no dictionary can name it: give it "
                f"a name in its class statement, class {type(self).__name__}(sg.Surrogate, "
                "name='my_surrogate')"
            )
        extra = {"trainable": list(self._trainable)} if self._trainable else {}
        return self._spec_dict(name, self.params, gain=self._gain, **extra)

    def _spec_dict(self, name: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        for key, value in params.items():
            if type(value) not in (int, float, bool, str):
                raise TypeError(
                    f"{type(self).__name__}: parameter {key}={value!r} is not a plain number, so "
                    "it has no portable form (a traced or array value); use concrete values"
                )
        return {"spikegrad": SPEC_VERSION, "name": name, "params": dict(params),
                "forward": "x >= 0" if self.spike_at_zero else "x > 0",
                "origin": self._origin, **extra}

    @property
    def params(self) -> dict[str, Any]:
        """The parameter values by name, in declaration order."""
        if self._method_style:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {p.name: v for p, v in zip(self._params, self._param_values)}

    def _has_array_values(self) -> bool:
        """Whether a parameter is a tracer, array or tensor (not a Python number)."""
        return any(is_array_value(v) for v in self._param_values)

    def _key(self) -> tuple[Any, ...]:
        if self._method_style:  # plain attributes: an object is equal only to itself
            return (type(self), id(self))
        return (type(self), self._param_values, self._origin, self._gain, self._spike_at_zero,
                self._trainable)

    def __repr__(self) -> str:
        params = self.params
        order = self.repr_order or params
        parts = [f"{k}={params[k]!r}" for k in order]
        parts += [
            f"{k}={v!r}" for k, v in self._options().items() if v != _OPTIONS[k]
        ]
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Surrogate):
            return NotImplemented
        if self._has_array_values() or other._has_array_values() or self._method_style:
            return self is other
        return self._key() == other._key()

    def __hash__(self) -> int:
        if self._has_array_values():
            raise TypeError(
                f"{type(self).__name__} with traced or array parameters is not hashable; pass "
                "concrete Python numbers to use it as a static argument"
            )
        # From now on a cache may hold this object as a key: origin is frozen (see the setter).
        # Not when Dynamo hashes it (it hashes every callable it traces): torch.compile guards
        # on the attributes and traces again after a change.
        if not self._hashed and not torch_compiling():
            self._hashed = True
        return hash(self._key())

    def __getstate__(self) -> dict[str, Any]:
        # Caches are left out: a copy starts unhashed, with its own spec.
        return {k: v for k, v in vars(self).items() if k not in ("_spec", "_hashed")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "params" in state:  # spikegrad 0.1's pickles
            state = {"_param_values": state["params"], "_origin": state["origin"]}
        self.__dict__.update(state)

    # ----------------------------------------------------------------- computation

    def __call__(self, x: Any) -> Any:
        """The spike ``x >= 0`` (``x > 0`` if not :attr:`spike_at_zero`), or :math:`g(x)` when
        ``origin``; differentiable, with derivative g'(x)."""
        spec = self._spec
        if spec is None or self._method_style:  # (the property, for the first call or a
            spec = self.spec  # braintools-style surrogate, whose spec follows its state)
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
        must have ``x``'s shape (a ``ValueError`` otherwise: no silent broadcasting) and, for
        PyTorch tensors, ``x``'s device (a ``ValueError`` naming both otherwise); for float16 and
        bfloat16 the product is computed in float32 and rounded once.
        """
        if cotangent is None:
            raise TypeError("vjp needs a cotangent: an array of x's shape (e.g. ones_like(x))")
        return _dispatch.backend_for(x).vjp(self.spec, x, cotangent)

    def _require_primitive(self) -> None:
        if not self._has_primitive():
            raise NotImplementedError(
                f"{type(self).__name__} defines no primitive g(x); define "
                "primitive(x, *params, xp) in the class to use surrogate_fun"
            )


    def _has_primitive(self) -> bool:
        if self._method_style:
            return type(self).surrogate_fun is not Surrogate.surrogate_fun
        return self.primitive is not None


def _overrides_method(cls: type[Surrogate]) -> bool:
    """Whether ``cls`` is braintools-style: its nearest definition of ``surrogate_grad`` (a
    method) comes before its nearest ``grad(x, *params, xp)`` in the method resolution order."""
    for klass in cls.__mro__:
        if klass is Surrogate:
            return False
        if vars(klass).get("grad") is not None:
            return False
        if "surrogate_grad" in vars(klass):
            return True
    return False


def _check_declaration(cls: type[Surrogate]) -> None:
    """Refuse, when the class is made, what would otherwise surface later as a confusing error
    or as wrong numbers: a parameter declaration that is invalid (:meth:`Param.check`) or named
    like an attribute of every surrogate, and a ``grad`` or ``primitive`` that cannot take the
    declared parameters in their order."""
    for param in cls._params:  # (a mixin's too: Param itself checks nothing)
        param.check()
    for p in cls._params:
        if p.name in _RESERVED:
            raise TypeError(
                f"{cls.__name__}: a parameter cannot be named {p.name!r}, a name every surrogate "
                f"uses for itself (its options, methods and attributes: {', '.join(_OPTIONS)}, "
                f"surrogate_grad, replace, params, ...); rename it, e.g. {p.name.strip('_')}_value"
            )
    if cls._method_style:  # braintools' style: its own methods, no math functions
        return
    for hook in ("grad", "primitive"):
        fn = getattr(cls, hook)
        if fn is None:
            continue
        try:
            _check_math_signature(cls, hook, fn)
        except TypeError:
            # A subclass that declares a parameter more (with a grad of its own) keeps no
            # primitive that cannot take it: g is then not defined (surrogate_fun says so),
            # rather than a call that fails with Python's count of arguments. An inherited
            # grad that cannot take it is refused here (it failed at the first call).
            if hook != "primitive" or hook in vars(cls):
                raise
            cls.primitive = None


def _check_math_signature(cls: type[Surrogate], hook: str, fn: Callable[..., Any]) -> None:
    """``fn`` (``cls.grad`` or ``cls.primitive``) is called as ``fn(x, *values, xp=xp)``, the
    values in the order the parameters are declared: refuse a function that cannot take that
    call, or that names a declared parameter at another one's place (positions bind, so its
    numbers would silently be another parameter's)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a callable without a signature: nothing to compare
        return
    kind = inspect.Parameter
    arguments = list(signature.parameters.values())
    declared = [p.name for p in cls._params]
    where = f"{cls.__name__}.{hook}"
    example = f"def {hook}(x, {', '.join([*declared, '*', 'xp'])})"
    call = f"{hook}(x, {''.join(f'{d}, ' for d in declared)}xp=xp)"
    slots = [a for a in arguments if a.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)]
    xp = next((i for i, a in enumerate(slots) if a.name == "xp"), None)
    if not any(a.kind is kind.VAR_KEYWORD or (a.name == "xp" and a.kind is not kind.POSITIONAL_ONLY)
               for a in arguments):
        raise TypeError(f"{where} must take the array namespace as the keyword argument xp: "
                        f"{example}")
    if xp is not None and xp < 1 + len(declared):  # x and the values fill it by position
        raise TypeError(f"{where} takes xp in the place of {(['x', *declared])[xp]}: it is "
                        f"called as {call}; make xp keyword-only: {example}")
    required = [a.name for a in arguments if a.kind is kind.KEYWORD_ONLY and a.name != "xp"
                and a.default is kind.empty]
    if required:
        raise TypeError(f"{where} requires the keyword argument(s) {', '.join(required)}, which "
                        f"nothing passes (only xp is given): give them defaults, or declare them "
                        f"as parameters: {example}")
    positional = [a for a in slots if a.name != "xp"]
    varargs = any(a.kind is kind.VAR_POSITIONAL for a in arguments)
    if not positional and not varargs:
        raise TypeError(f"{where} takes no x: it is called as {call}: {example}")
    needed = sum(a.default is kind.empty for a in positional)
    if needed > 1 + len(declared) or (len(positional) < 1 + len(declared) and not varargs):
        taken = ", ".join(a.name for a in positional[1:]) or "none"
        raise TypeError(
            f"{where} takes {len(positional[1:])} parameter(s) after x ({taken}), "
            f"but the class declares {len(declared)} ({', '.join(declared) or 'none'}), which it "
            f"is called with, in that order: {example}"
        )
    for i, a in enumerate(positional[1:1 + len(declared)]):
        if a.name in declared and a.name != declared[i]:
            raise TypeError(
                f"{where} takes {a.name} in the place of {declared[i]}: it is "
                f"called with the parameters in the order the class declares them "
                f"({', '.join(declared)}); reorder its arguments or the declarations: {example}"
            )


# The keyword options every surrogate takes besides its parameters, with their defaults.
_OPTIONS: dict[str, Any] = {"origin": False, "gain": 1.0, "spike_at_zero": True, "trainable": ()}
_OPTIONS_TEXT = ", ".join(_OPTIONS)
# The names no parameter may take: every surrogate's own attributes, options and xp.
_RESERVED = frozenset({n for n in dir(Surrogate) if not n.startswith("__")} | set(_OPTIONS)
                      | {"xp"})
_GAIN = Param(1.0, ge=1e-4, le=1e4, doc="a constant factor on g' and g")
_GAIN.__set_name__(Surrogate, "gain")
_GAIN.check()


def _trains_nothing(names: Any) -> bool:
    """Whether ``trainable=names`` asks to train nothing: ``None`` or an empty tuple or list
    (``0``, ``False`` or ``""`` are not names, and :func:`_trainable_names` refuses them)."""
    return names is None or (type(names) in (tuple, list) and not names)


def _trainable_names(cls: type[Surrogate], names: Any) -> tuple[str, ...]:
    """``trainable=`` validated: names of non-structural parameters of a surrogate with a
    primitive, as a tuple in declaration order. ``None`` and an empty tuple or list train
    nothing; any other value that is not a name or names (``0``, ``False``, ``""``) is a
    ``TypeError``, not silently nothing."""
    if _trains_nothing(names):
        return ()
    if isinstance(names, str):
        names = (names,)
    try:
        names = tuple(names)
    except TypeError:
        names = (names,)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"trainable is a tuple of parameter names, e.g. trainable=('alpha',); got "
                        f"{names!r}")
    params = {p.name: p for p in cls._params}
    for n in names:
        if n not in params:
            raise TypeError(
                f"{cls.__name__} has no parameter {n!r} to train; its parameters are: "
                f"{', '.join(params) or 'none'}"
            )
        if params[n].integer:
            raise TypeError(
                f"{cls.__name__}: {n} is an integer parameter that fixes the formula's structure; "
                "it has no derivative and cannot be trained"
            )
    if cls.primitive is None:
        raise TypeError(
            f"{cls.__name__} defines no primitive g(x), so its parameters cannot be trained: a "
            "trained parameter's gradient is sum(v * dg(x; p)/dp), the derivative of the "
            "primitive; define primitive(x, *params, xp) in the class"
        )
    return tuple(p.name for p in cls._params if p.name in names)


@dataclasses.dataclass(frozen=True)
class _Method:
    """A braintools-style method as a formula function ``fn(x, *, xp)``; equal (a cache key)
    while its object is the same one with the same state."""

    owner: Surrogate = dataclasses.field(compare=False, repr=False)
    method: str
    state: tuple[Any, ...]

    def __call__(self, x: Any, *, xp: Any) -> Any:
        return getattr(self.owner, self.method)(x)


def _state_key(obj: Surrogate) -> tuple[Any, ...]:
    """The identity and public attributes of a braintools-style surrogate, hashable."""
    items = []
    for k, v in sorted(vars(obj).items()):
        if k.startswith("_"):
            continue
        try:
            hash(v)
        except TypeError:
            v = ("<unhashable>", id(v))
        items.append((k, type(v), v))
    return (id(obj), *items)


def _register(name: str, cls: type[Surrogate]) -> None:
    """Register ``cls`` under ``name``; a class redefined in the same module under the same
    qualified name (a re-run notebook cell, a reloaded module) replaces its earlier self."""
    if not isinstance(name, str):
        raise TypeError(f"{cls.__name__}: name={name!r} cannot be registered: a name is a "
                        "string, such as 'my_surrogate'")
    if not name or "." in name:
        raise ValueError(
            f"{cls.__name__}: name={name!r} cannot be registered: get() reads a dotted name as "
            "another library's spelling ('snntorch.atan'), so it would never reach this class; "
            "pass a non-empty name without dots, such as 'my_surrogate'"
        )
    taken = _REGISTRY.get(name)
    if taken is not None and taken is not cls and (
        (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__)
    ):
        raise ValueError(
            f"surrogate name {name!r} is already taken by {taken.__module__}."
            f"{taken.__qualname__}; choose another name"
        )
    _REGISTRY[name] = cls


def from_dict(spec: dict[str, Any], /) -> Surrogate:
    """The surrogate described by a dictionary of :meth:`Surrogate.to_dict`.

    Only ``spikegrad`` (the version) and ``name`` are required: without ``params`` the
    defaults, without ``forward`` the surrogate's own (``x >= 0``; another library's spelling
    spikes as that library does).

    Raises
    ------
    TypeError
        ``spec`` is not such a dictionary.
    ValueError
        An unknown version, name, key, forward or parameter, an option (``origin``, ``gain``,
        ``spike_at_zero``, ``trainable``) inside ``params``, or an option the surrogate
        cannot honour (a gain for another library's spelling, a forward or gain for a
        braintools-style surrogate); the message says what is known.
    """
    if not isinstance(spec, dict):
        raise TypeError(f"a surrogate spec is a dict from Surrogate.to_dict(); got {spec!r}")
    unknown = set(spec) - set(_SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in the surrogate spec; its keys are: "
                         f"{', '.join(_SPEC_KEYS)}")
    version = spec.get("spikegrad")
    if version != SPEC_VERSION:
        raise ValueError(f"unknown surrogate spec version {version!r}; this spikegrad reads "
                         f"version {SPEC_VERSION} ('spikegrad': {SPEC_VERSION})")
    name, params = spec.get("name"), spec.get("params", {})
    if not isinstance(params, dict):
        raise TypeError(f"the spec's params must be a dict of parameter values; got {params!r}")
    forward = spec.get("forward")  # (None: the surrogate's own)
    if forward is not None and (not isinstance(forward, str) or forward not in _FORWARDS):
        raise ValueError(f"unknown forward {forward!r} in the surrogate spec; it is one of "
                         f"{', '.join(map(repr, _FORWARDS))}")
    misplaced = sorted(set(params) & set(_OPTIONS))
    if misplaced:
        raise ValueError(f"the spec's params hold the option(s) {', '.join(misplaced)}; options "
                         "are keys of the spec itself, beside params (as in "
                         "{'name': 'sigmoid', 'params': {'alpha': 2.0}, 'origin': True})")
    options = {"origin": spec.get("origin", False)}
    trainable = spec.get("trainable", [])
    if not isinstance(trainable, (list, tuple)):
        raise TypeError(f"the spec's trainable must be a list of parameter names; got "
                        f"{trainable!r}")
    if trainable:
        options["trainable"] = tuple(trainable)
    if isinstance(name, str) and "." in name:  # another library's spelling: its own forward
        if trainable:
            raise ValueError(f"{name} trains no parameters (train its catalogue surrogate, "
                             "get(name).canonical(), instead); the spec says trainable "
                             f"{trainable!r}")
        s = get(name, **params, origin=options["origin"])
        if (forward is not None and s.spike_at_zero != _FORWARDS[forward]) or "gain" in spec:
            said = [f"forward {forward!r}"] if forward is not None else []
            raise ValueError(f"{name} spikes on {'x >= 0' if s.spike_at_zero else 'x > 0'} "
                             f"with no gain option; the spec says "
                             f"{' and '.join(said + (['a gain'] if 'gain' in spec else []))}")
        return s
    if _method_style_name(name):  # braintools' style: its own constructor, attributes
        gain = spec.get("gain", 1.0)
        said = ([f"forward {forward!r}"] if forward not in (None, "x >= 0") else []) + (
            [f"gain {gain!r}"] if gain != 1.0 else []) + (
            [f"trainable {trainable!r}"] if trainable else [])
        if said:
            raise ValueError(f"{name} is a braintools-style surrogate (its own constructor and "
                             "methods), which spikes on x >= 0 with no gain and trains nothing; "
                             f"the spec says {' and '.join(said)}")
        s = get(name, **params)
        s.origin = options["origin"]
        return s
    return get(name, **params, **options, gain=spec.get("gain", 1.0),
               spike_at_zero=_FORWARDS[forward or "x >= 0"])


def _method_style_name(name: Any) -> bool:
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    return cls is not None and cls._method_style


def available() -> list[str]:
    """Names of the registered surrogates, sorted (for :func:`get`).

    Examples
    --------
    >>> import spikegrad as sg
    >>> sg.available()[:3]
    ['algebraic_sigmoid', 'arctan', 'erf']
    """
    return sorted(_REGISTRY)


def get(name: str | dict[str, Any], /, **params: Any) -> Surrogate:
    """Create a registered surrogate by name, e.g. from a configuration file.

    Parameters
    ----------
    name
        A name from :func:`available` (the snake-case name of the class, e.g.
        ``"leaky_relu"``); the class name (``"LeakyRelu"``) is accepted too, and so is another
        library's spelling, ``"<library>.<name>"`` (:func:`spikegrad.compat.available`, e.g.
        ``"snntorch.atan"``), with that library's parameters.
    **params
        Parameters for the surrogate's constructor, including ``origin``. (Or ``name`` is a
        dictionary of :meth:`Surrogate.to_dict`, and no ``params``.)

    Examples
    --------
    >>> import spikegrad as sg
    >>> sg.get("leaky_relu", beta=0.5)
    LeakyRelu(alpha=0.1, beta=0.5)
    """
    if isinstance(name, dict) and not params:
        return from_dict(name)
    if not isinstance(name, str):
        raise TypeError(
            f"a surrogate name is a string such as 'sigmoid' (or a dict of "
            f"Surrogate.to_dict()); got {name!r} "
            f"({type(name).__name__}); available: {', '.join(available())}"
        )
    if "." in name:  # another library's spelling, "snntorch.atan"
        from . import compat

        origin = params.pop("origin", False)
        s = compat.get(name, **params)
        s.origin = origin
        return s
    cls = _REGISTRY.get(name)
    if cls is None:
        cls = next((c for c in _REGISTRY.values() if c.__name__ == name), None)
    if cls is None:
        raise ValueError(
            f"unknown surrogate {name!r}; available: {', '.join(available())}"
        )
    return cls(**params)
