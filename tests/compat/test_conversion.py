"""Conversion both ways between the catalogue and each library's spelling, as round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikegrad as sg
from spikegrad import compat
from spikegrad.compat import _mapping

ENTRIES = _mapping.ENTRIES
IDS = [f"{e.library}.{e.name}" for e in ENTRIES]
X = np.linspace(-3.0, 3.0, 61)


def library_params(e: _mapping.Entry) -> st.SearchStrategy[dict]:
    """The entry's parameters around their defaults (positive where a default is positive)."""
    fields = {}
    for name, default in e.params:
        if name == "n":
            fields[name] = st.integers(2, 12)
        elif default is None or default > 0:
            base = 1.0 if default is None else float(default)
            fields[name] = st.floats(0.6, 3.0).map(lambda f, b=base: b * f)
        else:
            fields[name] = st.floats(0.0, 0.9)
    return st.fixed_dictionaries(fields)


def close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        math.isclose(a[k], b[k], rel_tol=1e-12) for k in a)


@pytest.mark.parametrize("e", ENTRIES, ids=IDS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_library_to_canonical_and_back(e, data):
    params = data.draw(library_params(e))
    s = compat.get(f"{e.library}.{e.name}", **params)
    c = s.canonical()
    assert type(c) is e.canonical and c.spike_at_zero == e.spike_at_zero
    back = compat.from_canonical(c, e.library)
    assert type(back).entry.canonical is e.canonical
    if back.entry is e:
        assert close(back.params, params)
    else:  # an earlier entry spells the same surrogate (snntorch's LSO(slope=1) is its STE)
        assert close(back.canonical().params, c.params)
    np.testing.assert_allclose(back.surrogate_grad(X), s.surrogate_grad(X), rtol=1e-12)
    np.testing.assert_array_equal(back(X), s(X))


@pytest.mark.parametrize("e", ENTRIES, ids=IDS)
def test_canonical_to_library_and_back(e):
    c = compat.get(f"{e.library}.{e.name}", **{n: (1.5 if v is None else v) for n, v in e.params})
    c = c.canonical()
    spelled = compat.from_canonical(c, e.library)
    again = spelled.canonical()
    assert type(again) is type(c) and close({**again.params, "gain": again.gain},
                                            {**c.params, "gain": c.gain})


def test_examples_of_the_issue():
    assert compat.snntorch.atan(alpha=2).canonical() == sg.Arctan(alpha=2.0, spike_at_zero=False)
    assert compat.spikingjelly.SuperSpike(alpha=3.0).canonical() == sg.InvSquareGrad(
        alpha=1.0, gain=3.0)
    assert compat.spikingjelly.SquarewaveFourierSeries(n=3).canonical() == (
        sg.SquarewaveFourierSeries(n=2, t_period=8.0))
    assert repr(compat.from_canonical(sg.Sigmoid(alpha=8.0), "snntorch")) == (
        "snntorch.sigmoid(slope=8.0) = Sigmoid(alpha=8.0, spike_at_zero=False)")


def test_no_spelling_is_a_clear_error():
    with pytest.raises(ValueError, match=r"snntorch has no spelling of GaussianGrad.*none"):
        compat.from_canonical(sg.GaussianGrad(), "snntorch")
    with pytest.raises(ValueError, match=r"spikingjelly has no spelling of Arctan\(alpha=2.0, "
                                         r"gain=3.0\).*ATan"):
        compat.from_canonical(sg.Arctan(alpha=2.0, gain=3.0), "spikingjelly")


@pytest.mark.parametrize(("args", "error", "message"), [
    ((sg.Sigmoid(), "lava"), ValueError,
     r"^unknown library 'lava'; spikegrad spells the surrogates of snntorch, spikingjelly, norse$"),
    (("sigmoid", "snntorch"), TypeError,  # was AttributeError: 'str' object has no attribute
     r"^from_canonical takes a surrogate object, such as sg.get\('sigmoid'\); got str$"),
    ((sg.Sigmoid(trainable=("alpha",)), "snntorch"), TypeError,  # trainable was dropped
     r"^snntorch's spellings train no parameters; .* trains alpha"),
])
def test_bad_conversions_say_what_is_wrong(args, error, message):
    with pytest.raises(error, match=message):
        compat.from_canonical(*args)


def test_origin_is_carried_both_ways():
    s = compat.spikingjelly.Sigmoid(spiking=False)
    assert s.canonical() == sg.Sigmoid(origin=True)
    assert compat.from_canonical(sg.Sigmoid(origin=True), "spikingjelly").spiking is False
