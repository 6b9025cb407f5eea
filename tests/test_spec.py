"""The portable spec: every surrogate (catalogue, other libraries' spellings, registered user
surrogates) to a small versioned dictionary and back, exactly, through JSON and YAML; errors
that say what is known; PyTorch modules saved and loaded with weights_only=True."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikegrad as sg

from .conftest import SURROGATE_CLASSES


def values(p: sg.Param) -> st.SearchStrategy:
    lo = p.ge if p.ge is not None else math.nextafter(p.gt, math.inf)
    hi = p.le if p.le is not None else math.nextafter(p.lt, -math.inf)
    if p.integer:
        return st.integers(int(math.ceil(lo)), int(hi))
    return st.one_of(st.sampled_from([lo, hi, p.default]), st.floats(lo, hi))


def drawn(cls: type[sg.Surrogate]) -> st.SearchStrategy[sg.Surrogate]:
    params = st.fixed_dictionaries({p.name: values(p) for p in cls._params})
    options = st.fixed_dictionaries({
        "origin": st.booleans(), "spike_at_zero": st.booleans(),
        "gain": st.one_of(st.just(1.0), st.floats(1e-4, 1e4)),
    })
    return st.builds(lambda p, o: cls(**p, **o), params, options)


def through_text(d: dict) -> list[dict]:
    out = [json.loads(json.dumps(d))]
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        return out
    return [*out, yaml.safe_load(yaml.safe_dump(d))]


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_catalogue_surrogate_round_trips_exactly(cls, data):
    s = data.draw(drawn(cls))
    for d in through_text(s.to_dict()):
        back = sg.from_dict(d)
        assert back == s and repr(back) == repr(s)
        assert sg.get(d) == s


@pytest.mark.parametrize("name", sg.compat.available())
def test_every_compat_name_round_trips(name):
    e = sg.compat._mapping.entry(*name.split("."))
    s = sg.compat.get(name, **{p: (0.7 if d is None else d) for p, d in e.params})
    for d in through_text(s.to_dict()):
        assert d["name"] == name
        back = sg.from_dict(d)
        assert back == s and back.canonical() == s.canonical()
        # a spec written by hand, without forward: the library's own (snntorch's x > 0 was
        # refused as if the spec said x >= 0)
        assert sg.from_dict({k: v for k, v in d.items() if k != "forward"}) == s


def test_registered_user_surrogate_round_trips_and_an_unregistered_one_says_how():
    class Tri(sg.Surrogate, name="test_spec_tri"):
        alpha = sg.Param(1.0, gt=0, le=10)

        def grad(x, alpha, *, xp):
            return xp.clip(alpha - alpha * alpha * xp.abs(x), min=0.0)

    try:
        assert sg.from_dict(Tri(alpha=2.0).to_dict()) == Tri(alpha=2.0)
    finally:
        from spikegrad import _surrogate

        _surrogate._REGISTRY.pop("test_spec_tri", None)  # leave the catalogue as it was

    class Unnamed(sg.Surrogate):
        def grad(x, *, xp):
            return 1.0

    with pytest.raises(TypeError, match="not registered.*name='my_surrogate'"):
        Unnamed().to_dict()


def test_traced_parameters_have_no_portable_form():
    jax = pytest.importorskip("jax")
    with pytest.raises(TypeError, match="not a plain number"):
        jax.jit(lambda a: sg.Sigmoid(alpha=a).to_dict()["gain"])(2.0)


@pytest.mark.parametrize(("spec", "error", "message"), [
    ({"spikegrad": 2, "name": "sigmoid"}, ValueError, r"unknown surrogate spec version 2"),
    ({"spikegrad": 1, "name": "sigmiod"}, ValueError, r"unknown surrogate 'sigmiod'; available"),
    ({"spikegrad": 1, "name": "sigmoid", "params": {"beta": 1}}, TypeError,
     r"Sigmoid has no parameter 'beta'; its parameters are: alpha"),
    ({"spikegrad": 1, "name": "sigmoid", "colour": "red"}, ValueError, r"unknown key\(s\) "
                                                                        r"\['colour'\]"),
    ({"spikegrad": 1, "name": "sigmoid", "forward": "x => 0"}, ValueError, r"unknown forward"),
    ({"spikegrad": 1, "name": "snntorch.atan", "forward": "x >= 0"}, ValueError,
     r"snntorch.atan spikes on x > 0"),
    ("sigmoid:4", TypeError, r"a surrogate spec is a dict"),
    # options inside params used to be "get() got multiple values for keyword argument"
    ({"spikegrad": 1, "name": "sigmoid", "params": {"origin": True}}, ValueError,
     r"^the spec's params hold the option\(s\) origin; options are keys of the spec itself"),
    ({"spikegrad": 1, "name": "sigmoid", "params": {"gain": 2.0, "spike_at_zero": False}},
     ValueError, r"params hold the option\(s\) gain, spike_at_zero; options are"),
    ({"spikegrad": 1, "name": "sigmoid", "forward": ["x >= 0"]}, ValueError,
     r"unknown forward \['x >= 0'\]"),  # was "unhashable type: 'list'"
])
def test_bad_specs_say_what_is_known(spec, error, message):
    with pytest.raises(error, match=message):
        sg.from_dict(spec)


def test_torch_modules_save_and_load_with_weights_only():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 3),
                              sg.nn.Spike(sg.compat.snntorch.fast_sigmoid(slope=10)))
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    other = torch.nn.Sequential(torch.nn.Linear(3, 3), sg.nn.Spike("sigmoid"))
    other.load_state_dict(torch.load(buffer, weights_only=True))
    assert other[1].surrogate == net[1].surrogate
    buffer = io.BytesIO()
    torch.save(net, buffer)
    buffer.seek(0)
    allowed = [torch.nn.Sequential, torch.nn.Linear, *sg.nn.safe_globals()]
    with torch.serialization.safe_globals(allowed):
        loaded = torch.load(buffer, weights_only=True)
    x = torch.linspace(-1, 1, 6).reshape(2, 3)
    assert torch.equal(loaded(x), net(x)) and loaded[1].surrogate == net[1].surrogate
    np.testing.assert_array_equal(loaded[1](torch.zeros(1)).numpy(), [0.0])  # x > 0 forward


def test_registered_braintools_style_surrogate_round_trips():
    class Flat(sg.Surrogate, name="test_spec_flat"):
        def __init__(self, alpha=1.0):
            super().__init__()
            self.alpha = alpha

        def surrogate_grad(self, x):
            return x * 0 + self.alpha

    try:
        back = sg.from_dict(json.loads(json.dumps(Flat(alpha=2.5).to_dict())))
        assert type(back) is Flat and back.alpha == 2.5
        np.testing.assert_array_equal(back.surrogate_grad(np.zeros(2)), [2.5, 2.5])
        # what its own constructor and methods cannot honour is refused (it was ignored)
        spec = {"spikegrad": 1, "name": "test_spec_flat", "params": {"alpha": 2.0}}
        for extra, said in (({"forward": "x > 0"}, "forward 'x > 0'"), ({"gain": 5.0}, "gain 5.0"),
                            ({"trainable": ["alpha"]}, "trainable \\['alpha'\\]")):
            with pytest.raises(ValueError, match=rf"test_spec_flat is a braintools-style "
                                                 rf"surrogate .*; the spec says {said}$"):
                sg.from_dict({**spec, **extra})
    finally:
        from spikegrad import _surrogate

        _surrogate._REGISTRY.pop("test_spec_flat", None)
