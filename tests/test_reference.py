"""Conformance: every surrogate gives the numbers of the library it comes from on every backend:
braintools 0.3.0's for its 18, snntorch's, spikingjelly's or norse's (``peers-1.0.json``) for
the others. (Their spellings in spikegrad.compat are checked in tests/compat/.)

The reference values were produced by braintools itself (float32, default parameters); they
are not derived from spikegrad. Tolerance: relative 1e-6, plus absolute 1e-7 to absorb the
cancellation in braintools' own float32 arithmetic (e.g. its Sigmoid at x=2 is 4e-5 off in
relative terms, and its Fourier series gives -1.6e-8 where the exact value is 0).
"""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg

from .conftest import REFERENCE

RTOL, ATOL = 1e-6, 1e-7


CATALOGUE = {sg.get(n).__class__.__name__: sg.get(n).__class__ for n in sg.available()}
FROM_PEERS = sorted(set(CATALOGUE) - set(REFERENCE))


def test_reference_covers_the_whole_catalogue():
    assert set(REFERENCE) <= set(CATALOGUE) and len(REFERENCE) == 18
    for name in FROM_PEERS:  # each other entry declares the peer case it reproduces
        library, case, _ = CATALOGUE[name].example
        assert library in ("snntorch", "spikingjelly", "norse"), (name, case)


@pytest.mark.parametrize("cls_name", FROM_PEERS)
def test_matches_the_library_it_comes_from(backend, cls_name):
    from spikegrad.surrogates import published

    ref = published(CATALOGUE[cls_name])
    surrogate = CATALOGUE[cls_name](**ref["params"])
    x64 = np.asarray(ref["x"])
    x = backend.array(x64, "float64")
    np.testing.assert_allclose(backend.to_numpy(surrogate.surrogate_grad(x)), ref["grad"],
                               rtol=RTOL, atol=1e-12)
    spikes = backend.to_numpy(surrogate(x))  # the forward where the conventions agree
    np.testing.assert_array_equal(spikes[x64 != 0], np.asarray(ref["forward"])[x64 != 0])


@pytest.mark.parametrize("cls_name", sorted(REFERENCE))
def test_matches_braintools(backend, cls_name):
    ref = REFERENCE[cls_name]
    surrogate = sg.get(cls_name)
    assert surrogate.params == pytest.approx(ref["params"])
    x = backend.array(ref["x"], "float64")

    spikes = surrogate(x)
    assert backend.dtype_name(spikes) == "float64"
    np.testing.assert_array_equal(backend.to_numpy(spikes), ref["forward"])
    np.testing.assert_allclose(
        backend.to_numpy(surrogate.surrogate_grad(x)), ref["grad"], rtol=RTOL, atol=ATOL
    )
    if ref["primitive"] is not None:
        np.testing.assert_allclose(
            backend.to_numpy(surrogate.surrogate_fun(x)), ref["primitive"], rtol=RTOL, atol=ATOL
        )


@pytest.mark.parametrize("cls_name", sorted(REFERENCE))
def test_functional_form_matches_braintools(cls_name):
    ref = REFERENCE[cls_name]
    cls = sg.get(cls_name).__class__
    fn = getattr(sg, cls.registry_name)
    x = np.asarray(ref["x"])
    np.testing.assert_array_equal(fn(x, **ref["params"]), ref["forward"])
    np.testing.assert_array_equal(fn(x), ref["forward"])
